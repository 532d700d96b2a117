/**
 * The contract's commands as a user types them: the README's quick-start demo command, run
 * exactly as the README writes it, reaches `streaming` with points flowing; `npm start` with a
 * bad configuration stops at once, naming the setting.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { until } from '../helpers/poll.js';
import { freePort } from '../helpers/ports.js';
import { REPO_ROOT } from '../helpers/stately-relay.js';

/** The first command of the README's first code block that runs the demo. */
function readmeDemoCommand(): string {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const block = /```(?:sh|bash)?\n([\s\S]*?)```/.exec(readme);
  assert.ok(block, 'README.md has no code block');
  const line = block[1].split('\n').find((l) => /demo/.test(l));
  assert.ok(line, `the README's first code block names no demo command:\n${block[1]}`);
  return line.trim();
}

/** A shell command in its own process group, so the group (npm and node) can be signalled by pid. */
function runCommand(
  command: string,
  env: Record<string, string>,
): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn('sh', ['-c', command], {
    cwd: REPO_ROOT,
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/root', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('the contract commands', { timeout: 120_000 }, () => {
  const dirs: string[] = [];
  const groups: number[] = [];
  after(() => {
    for (const pid of groups) if (groupAlive(pid)) process.kill(-pid, 'SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it("runs the README's quick-start demo: streaming with points flowing within 20 s, stopped cleanly by SIGTERM", async () => {
    const command = readmeDemoCommand();
    assert.equal(command, 'npm run demo');
    const dir = mkdtempSync(join(tmpdir(), 'tickpipe-demo-'));
    dirs.push(dir);
    const port = await freePort();
    const demo = runCommand(command, { HTTP_PORT: String(port), DEMO_SPOOL_PATH: join(dir, 'spool.db') });
    groups.push(demo.child.pid!);
    // The build step is part of the command; the 20 s are the user's wait once the demo runs.
    await until('the demo to print its URLs', () => demo.child.exitCode === null && /tickpipe demo:/.test(demo.output()), {
      timeoutMs: 90_000,
      intervalMs: 100,
    }).catch((err) => {
      throw new Error(`${(err as Error).message}\n${demo.output().slice(-3000)}`);
    });
    assert.match(demo.output(), new RegExp(`http://127\\.0\\.0\\.1:${port}/state`));
    assert.match(demo.output(), new RegExp(`ws://127\\.0\\.0\\.1:${port}/ticks`));
    assert.match(demo.output(), new RegExp(`http://127\\.0\\.0\\.1:${port}/inspector`));

    type StateDoc = {
      actors: { connection: { value: unknown }; writer: { value: unknown } };
      stats: Record<string, number>;
      spool: { pendingPoints: number };
    };
    const state: StateDoc = await until(
      'the demo to stream with points waiting in the spool',
      async () => {
        const res = await fetch(`http://127.0.0.1:${port}/state`, { signal: AbortSignal.timeout(2000) });
        const s = (await res.json()) as StateDoc;
        return JSON.stringify(s.actors.connection.value).includes('streaming') &&
          s.stats['updatesReceived'] > 0 &&
          s.spool.pendingPoints > 0
          ? s
          : null;
      },
      { timeoutMs: 20_000, intervalMs: 200 },
    ).catch((err) => {
      throw new Error(`${(err as Error).message}\n${demo.output().slice(-3000)}`);
    });
    // No InfluxDB configured: the writer says so, and every point is kept.
    assert.deepEqual(state.actors.writer.value, { influxDown: 'unconfigured' });
    await until('a per-second summary line', () => /\[demo\] connection=streaming/.test(demo.output()), { timeoutMs: 5000 });

    process.kill(-demo.child.pid!, 'SIGTERM');
    await demo.exited;
    await until('every process of the demo to exit', () => !groupAlive(demo.child.pid!), { timeoutMs: 15_000 });
    assert.doesNotMatch(demo.output(), / (ERROR|FATAL) /, 'the demo logged an error');
  });

  it('npm start with a bad configuration exits at once, naming each bad setting and the fix, never a secret', async () => {
    const run = runCommand('npm start --silent', {
      UPSTOX_ACCESS_TOKEN: 'secret-token-do-not-print',
      FEED_MODE: 'fastest',
      HTTP_PORT: 'eighty',
    });
    groups.push(run.child.pid!);
    const code = await run.exited;
    assert.notEqual(code, 0);
    const out = run.output();
    assert.match(out, /INSTRUMENTS/);
    assert.match(out, /FEED_MODE/);
    assert.match(out, /fastest/);
    assert.match(out, /HTTP_PORT/);
    assert.doesNotMatch(out, /secret-token-do-not-print/);
  });
});
