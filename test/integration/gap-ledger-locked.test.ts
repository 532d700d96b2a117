/**
 * The event loop that decodes frames and feeds /ticks does no disk I/O: with gaps.db locked by
 * another connection (`BEGIN EXCLUSIVE`, as a backup tool or an open `sqlite3` would hold it)
 * while a gap is being recorded, ticks keep flowing and the main event loop never stalls (the
 * ledger's SQLite runs on the storage worker's thread; on main, better-sqlite3's 5 s busy timeout
 * would stall it per call). Once the lock is released the gap is recorded; the clean stop is
 * still written at shutdown.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterEach, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import WebSocket from 'ws';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { startService } from '../../src/service.js';
import { startSimulator } from '../../src/sim/index.js';
import { observeFor, until } from '../helpers/poll.js';
import { freePort } from '../helpers/ports.js';
import { EQ, INDEX } from '../helpers/sim-fixtures.js';

/** Far below the 5 s a blocked better-sqlite3 call would hold the loop, far above a busy machine's jitter. */
const MAX_STALL_MS = 1500;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

interface Line {
  level: number;
  msg: string;
}

describe('a locked gaps.db does not stall /ticks', () => {
  it('ticks flow while a gap waits for the lock; it is recorded once released; the clean stop is written', async (t) => {
    const sim = await startSimulator({ updatesPerSecond: 200, frameIntervalMs: 20, pingIntervalMs: 500, seed: 13 });
    cleanups.push(() => sim.close());
    const dir = mkdtempSync(join(tmpdir(), 'tickpipe-ledger-locked-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const config = loadConfig({
      UPSTOX_API_URL: sim.apiUrl,
      INSTRUMENT_MASTER_URL: sim.instrumentFileUrl,
      UPSTOX_ACCESS_TOKEN: sim.token,
      INSTRUMENTS: [EQ, INDEX].join(','),
      SPOOL_PATH: join(dir, 'spool.db'),
      HTTP_PORT: String(await freePort()),
      MARKET_HOURS: '*=Mon-Sun 00:00-24:00',
      BACKFILL: 'off',
    });
    const logs: Line[] = [];
    const logger = createLogger('info', { write: (s: string) => void logs.push(JSON.parse(s) as Line) });
    const svc = await startService(config, { logger });
    let stopped = false;
    cleanups.push(() => (stopped ? undefined : svc.stop()));
    await until('streaming', () => JSON.stringify(svc.state().actors.connection.value).includes('streaming'), { timeoutMs: 20_000 });

    const ticks: number[] = [];
    const ws = new WebSocket(`${svc.url.replace('http', 'ws')}/ticks?keys=*`);
    cleanups.push(() => ws.terminate());
    ws.on('message', (data: Buffer) => {
      if ((JSON.parse(data.toString()) as { type: string }).type === 'tick') ticks.push(performance.now());
    });
    await until('ticks on /ticks', () => ticks.length > 10);

    // Another process's lock on the ledger, held across the gap's record.
    const other = new Database(join(dir, 'gaps.db'));
    cleanups.push(() => void other.close());
    other.exec('BEGIN EXCLUSIVE');
    sim.dropConnections();
    // The record is posted to the storage worker when the feed is back (the worker logs the lock,
    // once, with GAP_LEDGER_BUSY on its own stdout: test/unit/gap-ledger-host.test.ts asserts that).
    await until('the gap recorded by the backfill actor', () => logs.some((l) => l.msg.startsWith('gap recorded:')), { timeoutMs: 20_000 });

    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const from = ticks.length;
    const t0 = performance.now();
    // Absence of a stall over several retries of the waiting record (one per second on the worker).
    await observeFor(3000);
    const gaps = await fetch(`${svc.url}/gaps`);
    const metrics = await (await fetch(`${svc.url}/metrics`)).text();
    delay.disable();
    const during = [t0, ...ticks.slice(from), performance.now()];
    let worst = 0;
    for (let i = 1; i < during.length; i++) worst = Math.max(worst, during[i] - during[i - 1]);
    t.diagnostic(
      `while locked: ${ticks.length - from} ticks, longest wait between ticks ${Math.round(worst)} ms, event-loop delay max ${Math.round(delay.max / 1e6)} ms`,
    );
    assert.ok(ticks.length - from > 20, `ticks kept arriving while gaps.db was locked (${ticks.length - from})`);
    assert.ok(worst < MAX_STALL_MS, `longest wait between ticks while locked: ${Math.round(worst)} ms`);
    assert.ok(delay.max / 1e6 < MAX_STALL_MS, `main event-loop delay max while locked: ${Math.round(delay.max / 1e6)} ms`);
    // Reads go on (WAL): /gaps answers what is on disk, /metrics the last summary.
    assert.equal(gaps.status, 200);
    assert.deepEqual(((await gaps.json()) as { gaps: unknown[] }).gaps, [], 'the waiting record is not on disk yet');
    assert.match(metrics, /tickpipe_gaps\{backfill="none"\} 0/);

    other.exec('COMMIT');
    const recorded = await until(
      'the gap recorded once the lock is released',
      async () => ((await (await fetch(`${svc.url}/gaps`)).json()) as { gaps: Array<{ reason: string; backfill: string }> }).gaps[0],
      { timeoutMs: 10_000 },
    );
    assert.equal(recorded.reason, 'socket dropped');
    assert.equal(recorded.backfill, 'none');
    await until('the metrics follow', async () =>
      /tickpipe_gaps\{backfill="none"\} 1/.test(await (await fetch(`${svc.url}/metrics`)).text()),
    );

    ws.terminate();
    stopped = true;
    await svc.stop();
    const run = other.prepare('SELECT clean_stop, last_frame_ms FROM run WHERE id = 1').get() as {
      clean_stop: number;
      last_frame_ms: number;
    };
    assert.equal(run.clean_stop, 1, 'the clean stop is recorded before the service has stopped');
    assert.ok(run.last_frame_ms > 0);
  });
});
