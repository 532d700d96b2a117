/**
 * The storage data plane on its worker thread, with the whole service in process against the
 * simulator and a real VictoriaMetrics: the event loop that serves /ticks keeps delivering while
 * the worker's thread is blocked (as a long SQLite checkpoint would block it); an open failure in
 * the worker stops the start with its code; a worker that dies is said once and stops the
 * service; the conservation law holds from the worker's snapshots, during a run and after it;
 * /metrics times every frame on the tick path.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import WebSocket from 'ws';
import { loadConfig } from '../../src/config.js';
import { TickpipeError } from '../../src/errors.js';
import { createLogger } from '../../src/logger.js';
import { type Service, startService } from '../../src/service.js';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { until } from '../helpers/poll.js';
import { freePort } from '../helpers/ports.js';
import { EQ, EQ2, INDEX } from '../helpers/sim-fixtures.js';
import { assertStateConserved } from '../helpers/storage-fixture.js';
import { type TestStore, startTestStore } from '../helpers/test-store.js';

type Log = { level: number; msg: string; [k: string]: unknown };

describe('the storage worker', { timeout: 120_000 }, () => {
  let sim: Simulator;
  let vm: TestStore;
  let dir = '';
  const cleanups: Array<() => Promise<void> | void> = [];
  before(async () => {
    [sim, vm] = await Promise.all([
      startSimulator({ updatesPerSecond: 300, frameIntervalMs: 20, pingIntervalMs: 500, seed: 13 }),
      startTestStore(),
    ]);
    dir = mkdtempSync(join(tmpdir(), 'tickpipe-worker-'));
  });
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!();
  });
  after(async () => {
    await Promise.all([sim.close(), vm.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(spool: string, opts: { onStorageFailure?: (err: TickpipeError) => void; influx?: boolean } = {}) {
    const { influx = true, ...serviceOpts } = opts;
    const config = loadConfig({
      UPSTOX_API_URL: sim.apiUrl,
      INSTRUMENT_MASTER_URL: sim.instrumentFileUrl,
      UPSTOX_ACCESS_TOKEN: sim.token,
      INSTRUMENTS: [EQ, EQ2, INDEX].join(','),
      ...(influx ? vm.influxEnv : {}),
      SPOOL_PATH: join(dir, spool),
      SPOOL_LOCK_TIMEOUT_S: '1',
      FLUSH_INTERVAL_MS: '200',
      INFLUX_PROBE_BASE_MS: '100',
      INFLUX_PROBE_MAX_MS: '500',
      HTTP_PORT: String(await freePort()),
    });
    const logs: Log[] = [];
    const logger = createLogger('info', { write: (s: string) => void logs.push(JSON.parse(s) as Log) });
    const svc = await startService(config, { logger, ...serviceOpts });
    cleanups.push(() => svc.stop());
    await until(
      'streaming with InfluxDB up',
      () => {
        const a = svc.state().actors;
        return a.connection.value === 'streaming' && (!influx || a.writer.value === 'influxUp');
      },
      { timeoutMs: 20_000 },
    );
    return { svc, logs };
  }

  /** A /ticks client counting what it receives. */
  async function ticksClient(svc: Service) {
    const ws = new WebSocket(`${svc.url.replace('http', 'ws')}/ticks?keys=*`);
    cleanups.push(() => ws.terminate());
    const client = { received: 0 };
    ws.on('message', () => client.received++);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return client;
  }

  it('/ticks keeps delivering while the worker thread is blocked; what queued meanwhile is applied after, nothing lost', async () => {
    const { svc } = await start('stall.db');
    const client = await ticksClient(svc);
    await until('ticks reaching the client', () => client.received > 10);
    const before = client.received;
    let stalled = true;
    const stall = svc.storage.stall(2000).then(() => (stalled = false));
    // While the worker's thread sleeps, main decodes, fans out and queues frames for it.
    await until(
      'ticks delivered and frames queued while the worker is blocked',
      () => {
        assert.ok(stalled, `the stall ended before ticks were seen (${client.received - before} received meanwhile)`);
        return client.received - before >= 5 && svc.storage.queue().frames >= 3;
      },
      { timeoutMs: 10_000, intervalMs: 20 },
    );
    const res = await fetch(`${svc.url}/state`);
    const state = (await res.json()) as { storageWorker: { state: string; queueFrames: number } };
    if (stalled) assert.ok(state.storageWorker.queueFrames > 0, '/state shows the queue while the worker is blocked');
    assert.equal(state.storageWorker.state, 'running');
    await stall;
    await until('the queue applied once the worker runs again', () => svc.storage.queue().frames === 0, { timeoutMs: 10_000 });
    await svc.storage.sync();
    assertStateConserved(svc.state(), 'after the stall');
    const metrics = await (await fetch(`${svc.url}/metrics`)).text();
    for (const name of [
      'tickpipe_storage_worker_up 1',
      'tickpipe_storage_worker_queue_frames',
      'tickpipe_storage_worker_queue_bytes',
      'tickpipe_storage_worker_event_loop_utilisation',
    ])
      assert.match(metrics, new RegExp(`^${name}`, 'm'), name);
  });

  it('/metrics times every frame: its Upstox time to its arrival, and its arrival to the /ticks sockets', async () => {
    const { svc } = await start('timing.db');
    await until('frames received', () => svc.stats.framesReceived > 20, { timeoutMs: 20_000 });
    const framesBefore = svc.stats.framesReceived;
    const text = await (await fetch(`${svc.url}/metrics`)).text();
    const framesAfter = svc.stats.framesReceived;
    const value = (series: string) => {
      const m = text.match(new RegExp(`^${series.replace(/[{}"+.]/g, '\\$&')} (\\S+)$`, 'm'));
      assert.ok(m, `${series} in /metrics`);
      return Number(m[1]);
    };
    // One observation per decoded frame, made before the next frame is handled (the simulator's
    // frames all decode, and all carry currentTs).
    for (const name of ['tickpipe_frame_handling_seconds', 'tickpipe_feed_delay_seconds']) {
      const count = value(`${name}_count`);
      assert.ok(count >= framesBefore && count <= framesAfter, `${name}: ${count} frames timed, ${framesBefore}..${framesAfter} received`);
      assert.equal(value(`${name}_bucket{le="+Inf"}`), count);
    }
    // The simulator in this process stamps each frame just before sending it: seconds of average
    // delay would mean a wrong clock or unit (ms read as seconds), not a slow machine.
    const feedMean = value('tickpipe_feed_delay_seconds_sum') / value('tickpipe_feed_delay_seconds_count');
    assert.ok(feedMean >= 0 && feedMean < 1, `mean feed delay ${feedMean} s`);
    const handlingMean = value('tickpipe_frame_handling_seconds_sum') / value('tickpipe_frame_handling_seconds_count');
    assert.ok(handlingMean > 0 && handlingMean < 1, `mean handling ${handlingMean} s`);
  });

  it('conservation from the worker snapshots during a run and after the stop; every update decoded on main became points in the worker', async () => {
    const { svc } = await start('conserve.db');
    await until('points landed', () => svc.stats.pointsLanded > 300, { timeoutMs: 20_000 });
    for (let i = 0; i < 5; i++) {
      // /state as a client reads it: the counters and the spool's figures from one snapshot.
      const state = (await (await fetch(`${svc.url}/state`)).json()) as Parameters<typeof assertStateConserved>[0];
      assertStateConserved(state, `/state read ${i}`);
    }
    await svc.stop();
    // The final snapshot (after the worker's flush and close) is in main's Stats.
    const s = svc.stats;
    const pending = svc.storage.snapshot.pendingPoints;
    assert.equal(
      s.unaccounted(pending),
      0,
      `built ${s.pointsBuilt}, landed ${s.pointsLanded}, pending ${pending}, buffered ${s.pointsBuffered}`,
    );
    assert.equal(s.pointsBuffered, 0, 'nothing left in memory after the close');
    assert.ok(
      s.pointsBuilt - s.pointsRecoveredAtStart >= s.updatesReceived,
      `${s.updatesReceived} updates decoded, ${s.pointsBuilt} points built`,
    );
    assert.equal(svc.storage.health().state, 'closed');
  });

  it('the worker thread runs at STORAGE_WORKER_NICE (10) and the main thread stays at 0: contended cores go to the tick path first', async () => {
    await start('nice.db');
    // Linux keeps a nice value per thread: field 19 of /proc/self/task/<tid>/stat.
    const niceOf = (tid: string) => Number(readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').split(') ')[1].split(' ')[16]);
    const nices = readdirSync('/proc/self/task').map((tid) => ({ tid, nice: niceOf(tid) }));
    assert.equal(niceOf(String(process.pid)), 0, 'the main thread keeps nice 0');
    // This test process may hold workers of earlier tests; at least the service's runs at 10.
    assert.ok(
      nices.some((t) => t.nice === 10),
      `a thread at nice 10 among ${JSON.stringify(nices)}`,
    );
  });

  it('flushed() resolves once what was pushed before it is in the spool file (what a backfill waits for before its gap counts as filled)', async () => {
    const { svc } = await start('flushed.db', { influx: false });
    await until('frames reaching the worker', () => svc.stats.pointsBuilt > 0);
    const close = 12345.678;
    svc.storage.pushCandles(EQ, 'NSE_EQ', [
      { interval: 'I1', open: 1, high: 2, low: 0.5, close, volume: 7, ts: Date.UTC(2026, 0, 5, 4, 0) },
    ]);
    await svc.storage.flushed();
    const db = new Database(join(dir, 'flushed.db'), { readonly: true });
    try {
      const row = db.prepare('SELECT COUNT(*) AS n FROM batches WHERE CAST(lines AS TEXT) LIKE ?').get(`%close=${close}%`) as { n: number };
      assert.equal(row.n, 1, 'the candle is in the spool when flushed() resolves');
    } finally {
      db.close();
    }
  });

  it('an open failure in the worker stops the start with its code and message (a second instance on the spool)', async () => {
    await start('shared.db');
    await assert.rejects(start('shared.db'), (err: unknown) => {
      assert.ok(err instanceof TickpipeError);
      assert.equal(err.code, 'SPOOL_LOCKED');
      assert.match(err.message, /another tickpipe already uses the spool .*shared\.db/);
      return true;
    });
  });

  it('a worker that dies is said once at fatal level, stops the service (onStorageFailure), and /ready and /state say so', async () => {
    const failures: TickpipeError[] = [];
    const { svc, logs } = await start('crash.db', { onStorageFailure: (err) => failures.push(err) });
    svc.storage.crash('simulated bug in the storage thread');
    await until('the failure reported', () => failures.length === 1);
    assert.equal(failures[0].code, 'STORAGE_WORKER_FAILED');
    const fatal = logs.filter((l) => l.level === 60);
    assert.equal(fatal.length, 1, JSON.stringify(fatal));
    assert.match(fatal[0].msg, /the storage worker failed: simulated bug in the storage thread; the service stops/);
    const ready = await fetch(`${svc.url}/ready`);
    assert.equal(ready.status, 503);
    assert.match(JSON.stringify(await ready.json()), /storage worker failed/);
    assert.equal(svc.state().storageWorker?.state, 'failed');
    // Calls the actors make now fail at once instead of hanging.
    await assert.rejects(svc.storage.probe(), /storage worker failed/);
    const metrics = await (await fetch(`${svc.url}/metrics`)).text();
    assert.match(metrics, /^tickpipe_storage_worker_up 0/m);
    // Frames still arriving (/ticks gets them) are counted as not stored, never lost uncounted.
    await until('frames after the failure counted', () => (svc.state().stats['updatesDroppedStorageQueue'] ?? 0) > 0);
    // The stop still completes (nothing to close on the storage side).
    await svc.stop();
  });
});
