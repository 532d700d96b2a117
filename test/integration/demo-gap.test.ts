/**
 * `npm run demo` shows a gap recorded and backfilled when its feed is interrupted: the `g` key
 * (here a piped `g` line), with the simulator's market at 30x so the gap's minutes close quickly.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { until } from '../helpers/poll.js';
import { freePort } from '../helpers/ports.js';
import { REPO_ROOT } from '../helpers/stately-relay.js';

describe('the demo', { timeout: 90_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'tickpipe-demo-gap-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('records a gap when `g` interrupts the feed, and backfills it', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ['dist/src/demo.js'], {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env['PATH'] ?? '',
        HTTP_PORT: String(port),
        DEMO_SPOOL_PATH: join(dir, 'spool.db'),
        DEMO_GAP_S: '2',
        DEMO_TIME_SCALE: '30',
        BACKFILL_GRACE_MS: '500',
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await until('the demo streaming', () => /\[demo\] connection=streaming/.test(out), { timeoutMs: 30_000 });
      child.stdin.write('g\n');
      type Gap = { reason: string; backfill: string; candles: number };
      const gap = await until(
        'the gap backfilled',
        async () => {
          const res = await fetch(`http://127.0.0.1:${port}/gaps`, { signal: AbortSignal.timeout(2000) });
          return ((await res.json()) as { gaps: Gap[] }).gaps.find((g) => g.backfill === 'done');
        },
        { timeoutMs: 40_000, intervalMs: 250 },
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n${out.slice(-3000)}`);
      });
      assert.equal(gap.reason, 'socket dropped');
      assert.ok(gap.candles > 0);
      assert.match(out, /gap recorded/);
      assert.match(out, /backfilled/);
      await until('the summary line counting it', () => /gaps=1 recorded\/1 backfilled\/0 failed/.test(out), { timeoutMs: 5000 });
    } finally {
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    }
  });
});
