/**
 * The real service (`node dist/src/main.js`) against the simulator: SIGTERM while a
 * `/ticks` client does not read, with a long FLUSH_INTERVAL_MS and InfluxDB unreachable. The
 * batch being built must reach the spool, the stalled client must be cut after a short grace, and
 * the process must exit 0 well within 10 s. A second instance on the same SPOOL_PATH is refused.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import WebSocket from 'ws';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { type InfluxGate, startInfluxGate } from '../helpers/influx-gate.js';
import { freePort } from '../helpers/ports.js';
import { type ServiceProcess, startServiceProcess } from '../helpers/service-process.js';
import { assertStateConserved } from '../helpers/storage-fixture.js';

describe('shutdown with a stalled /ticks client and a batch being built', { timeout: 60_000 }, () => {
  let sim: Simulator | undefined;
  let gate: InfluxGate | undefined;
  let dir = '';
  const procs: ServiceProcess[] = [];
  before(async () => {
    sim = await startSimulator({ updatesPerSecond: 300, frameIntervalMs: 50, pingIntervalMs: 500, seed: 11 });
    // Nothing answers behind the gate: every point must end in the spool.
    gate = await startInfluxGate('http://127.0.0.1:9');
    gate.set('down');
    dir = mkdtempSync(join(tmpdir(), 'tickpipe-shutdown-'));
  });
  after(async () => {
    for (const p of procs) await p.stop('SIGKILL');
    await gate?.close();
    await sim?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('SIGTERM: batch spooled first, the stalled client cut, exit 0 within 10 s; a second instance is refused', async (t) => {
    const spoolPath = join(dir, 'spool.db');
    const env = (port: number) => ({
      UPSTOX_API_URL: sim!.apiUrl,
      INSTRUMENT_MASTER_URL: sim!.instrumentFileUrl,
      UPSTOX_TOKEN_URL: sim!.tokenUrl,
      INSTRUMENTS: 'NSE_EQ|INE002A01018,NSE_INDEX|Nifty Bank',
      INFLUX_URL: gate!.url,
      INFLUX_TOKEN: 't',
      INFLUX_ORG: 'o',
      INFLUX_BUCKET: 'b',
      SPOOL_PATH: spoolPath,
      SPOOL_LOCK_TIMEOUT_S: '1',
      HTTP_PORT: String(port),
      // A batch that only its timer or a shutdown would flush.
      FLUSH_INTERVAL_MS: '60000',
      BATCH_MAX_POINTS: '1000000',
      INFLUX_PROBE_BASE_MS: '100',
      INFLUX_PROBE_MAX_MS: '500',
    });
    const svc = startServiceProcess(env(await freePort()));
    procs.push(svc);
    await svc.waitForState(
      'streaming with a batch being built',
      (s) => s.actors.connection.value === 'streaming' && s.stats.pointsBuffered > 200,
      30_000,
    );

    // A second tickpipe on the same spool: refused at start, naming the spool.
    const second = startServiceProcess(env(await freePort()));
    procs.push(second);
    const secondExit = await second.exited;
    assert.notEqual(secondExit.code, 0);
    assert.match(second.output(), /another tickpipe already uses the spool/);
    assert.ok(second.output().includes(spoolPath));

    // A /ticks client that stops reading: it will never answer the close handshake.
    const ws = new WebSocket(`${svc.baseUrl.replace('http', 'ws')}/ticks?keys=*`);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.pause();
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    ws.on('error', () => {});
    const before = (await svc.state()) as { stats: Record<string, number>; spool: { pendingPoints: number } };
    assert.ok(before.spool.pendingPoints < before.stats['pointsBuilt'], 'points still being batched, not yet spooled');
    // The conservation law, as the contract states it, from /state alone.
    assertStateConserved(before, 'before SIGTERM');
    const metrics = await (await fetch(`${svc.baseUrl}/metrics`)).text();
    for (const name of [
      'tickpipe_points_built_total',
      'tickpipe_points_landed_total',
      'tickpipe_points_buffered',
      'tickpipe_spool_pending_points',
      'tickpipe_points_dead_lettered_total',
      'tickpipe_points_dropped_spool_full_total',
      'tickpipe_points_dropped_disk_full_total',
      'tickpipe_points_dropped_shutdown_total',
    ])
      assert.match(metrics, new RegExp(`^${name}`, 'm'), name);

    const t0 = Date.now();
    const exit = await svc.stop('SIGTERM', 15_000);
    const took = Date.now() - t0;
    assert.deepEqual(exit, { code: 0, signal: null }, svc.output().slice(-2000));
    assert.ok(took < 10_000, `exited in ${took} ms`);
    t.diagnostic(`SIGTERM to exit: ${took} ms`);
    ws.resume();
    await closed;

    // Everything built before the signal is in the spool (InfluxDB never took anything).
    const db = new Database(spoolPath, { readonly: true });
    try {
      const { n } = db.prepare('SELECT COALESCE(SUM(points), 0) AS n FROM batches').get() as { n: number };
      assert.ok(n >= before.stats['pointsBuilt'], `spooled ${n} of the ${before.stats['pointsBuilt']} built before SIGTERM`);
    } finally {
      db.close();
    }
    const out = svc.output();
    assert.match(out, /batch flushed to the spool; feed stopped/);
    assert.match(out, /storage closed: \d+ point\(s\) stay spooled/);
    assert.match(out, /shutdown complete/);
  });
});
