/**
 * The README's example /ticks clients, run as a user runs them (`node ticks-client.mjs`,
 * `python3 ticks_client.py`) against a real server: they print the snapshot of each key, then
 * live ticks. The README embeds the same files, checked here line for line.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { until } from '../helpers/poll.js';
import { EQ, IDX, type ServerFixture, liveFrame, startServerFixture } from '../helpers/server-fixture.js';
import { REPO_ROOT } from '../helpers/stately-relay.js';

const EXAMPLES = join(REPO_ROOT, 'test', 'examples');
/** A Python with `websockets`: the one on PATH, else Debian's (python3-websockets). */
const python = ['python3', '/usr/bin/python3'].find((p) => spawnSync(p, ['-c', 'import websockets'], { stdio: 'ignore' }).status === 0);

describe('example /ticks clients', { timeout: 60_000 }, () => {
  let fx: ServerFixture;
  let publisher: NodeJS.Timeout;
  const children: ChildProcess[] = [];

  before(async () => {
    fx = await startServerFixture({ apiToken: 'example-token' });
    fx.fanout.publish(liveFrame({ [EQ]: 2500, [IDX]: 51000 }));
    let n = 0;
    publisher = setInterval(() => fx.fanout.publish(liveFrame({ [EQ]: 2500 + ++n, [IDX]: 51000 + n })), 50);
  });
  after(async () => {
    clearInterval(publisher);
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await fx.close();
  });

  async function runExample(command: string, file: string): Promise<string> {
    const child = spawn(command, [join(EXAMPLES, file)], {
      cwd: EXAMPLES,
      env: { PATH: process.env['PATH'] ?? '', TICKPIPE_URL: `${fx.wsUrl}/ticks`, API_TOKEN: 'example-token' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await until(
        `${file} to print snapshots and live ticks of both keys`,
        () => {
          if (child.exitCode !== null) throw new Error(`${file} exited ${child.exitCode}: ${out}`);
          return [`snapshot ${EQ} `, `snapshot ${IDX} `, `live ${EQ} `, `live ${IDX} `].every((s) => out.includes(s));
        },
        { timeoutMs: 20_000 },
      );
    } finally {
      child.kill('SIGTERM');
    }
    return out;
  }

  it('the Node client (ws) prints a snapshot of each key first, then live ticks', async () => {
    const out = await runExample(process.execPath, 'ticks-client.mjs');
    const lines = out.trim().split('\n');
    assert.match(lines[0], /^snapshot /);
    assert.ok(
      lines.some((l) => l.startsWith('subscribed') && l.includes('"requestId":"start"')),
      out,
    );
    assert.match(out, new RegExp(`live ${EQ.replace('|', '\\|')} \\d+ \\d+`));
  });

  it(
    'the Python client (websockets) prints a snapshot of each key first, then live ticks',
    { skip: !python && 'python3-websockets is not installed (apt-get install python3-websockets)' },
    async () => {
      const out = await runExample(python!, 'ticks_client.py');
      assert.match(out.trim().split('\n')[0], /^snapshot /);
    },
  );

  it('the README shows both clients as they are, each under 20 lines', () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    for (const file of ['ticks-client.mjs', 'ticks_client.py']) {
      const text = readFileSync(join(EXAMPLES, file), 'utf8');
      assert.ok(text.trim().split('\n').length < 20, `${file} has 20 lines or more`);
      assert.ok(readme.includes(text.trim()), `README.md does not hold test/examples/${file} as it is`);
    }
  });
});
