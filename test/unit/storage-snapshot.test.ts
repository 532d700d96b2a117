/**
 * SnapshotTaker: what the storage worker tells main about the spool, on a real spool file. A
 * snapshot's counters and spool figures agree (the conservation law holds within one), `changed`
 * says whether anything /state shows moved, and the final snapshot, taken after the spool closed,
 * still answers (with the last oldest-row time read).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Config } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { Stats } from '../../src/stats.js';
import { openStorage } from '../../src/storage/open-storage.js';
import { SnapshotTaker, threadCpuSeconds } from '../../src/storage/worker/snapshot.js';

const dir = mkdtempSync(join(tmpdir(), 'tickpipe-snapshot-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function open() {
  const stats = new Stats();
  const config: Pick<Config, 'influx' | 'spool'> = {
    // No InfluxDB: every point stays in the spool.
    influx: {
      url: undefined,
      token: undefined,
      org: 'o',
      bucket: 'b',
      batchMaxPoints: 1000,
      flushIntervalMs: 60_000,
      writeTimeoutMs: 1000,
      probeBaseMs: 100,
      probeMaxMs: 100,
      extraTags: {},
      split5xxAfter: 3,
      writeLanes: 1,
    },
    spool: {
      path: join(dir, 'spool.db'),
      maxBytes: 1 << 26,
      fullPolicy: 'drop-oldest',
      drainChunkPoints: 100,
      memoryMaxPoints: 1000,
      lockTimeoutMs: 1000,
      deadLetterMax: 100,
      workerNice: 0,
      workerQueueMaxBytes: 512 * 1024 * 1024,
    },
  };
  const storage = openStorage({ config, stats, logger: createLogger('silent'), report: () => {} });
  const latencies = { latencySeconds: [] as number[], latencyOutcomes: [] as string[] };
  return { storage, stats, latencies, taker: new SnapshotTaker(storage, stats, latencies) };
}

const conserved = (s: ReturnType<SnapshotTaker['take']>) => {
  const c = s.counters;
  const dropped = c.pointsDroppedSpoolFull + c.pointsDroppedDiskFull + c.pointsDroppedShutdown;
  return c.pointsBuilt === c.pointsLanded + c.pointsBuffered + s.pendingPoints + c.pointsDeadLettered + dropped;
};

describe('storage worker snapshots', () => {
  it('agree with the spool, say when something moved, and survive the close', async () => {
    const { storage, latencies, taker } = open();
    assert.equal(taker.changed(), true, 'the first call: nothing was shown yet');
    assert.equal(taker.changed(), false);

    const t0 = Date.now();
    storage.writePath.pushLines([
      { line: 'm v=1 1', ts: 1 },
      { line: 'm v=2 2', ts: 2 },
    ]);
    assert.equal(taker.changed(), true, 'points built and buffered');
    let s = taker.take();
    assert.deepEqual([s.counters.pointsBuilt, s.counters.pointsBuffered, s.pendingPoints], [2, 2, 0]);
    assert.ok(conserved(s));

    storage.writePath.flush();
    assert.equal(taker.changed(), true, 'spooled');
    s = taker.take();
    assert.deepEqual([s.counters.pointsBuffered, s.pendingPoints, s.pendingBatches], [0, 2, 1]);
    assert.ok(s.oldestCreatedAt !== null && s.oldestCreatedAt >= t0 - 1000, 'the oldest row is read from the spool');
    assert.ok(conserved(s));

    latencies.latencySeconds.push(0.01);
    latencies.latencyOutcomes.push('ok');
    assert.equal(taker.changed(), true, 'a latency to hand over');
    s = taker.take();
    assert.deepEqual([s.latencySeconds, s.latencyOutcomes], [[0.01], ['ok']]);
    assert.deepEqual(taker.take().latencySeconds, [], 'each observation is handed over once');

    await storage.close(0);
    const last = taker.take();
    assert.equal(last.pendingPoints, 2, 'the points stay spooled for the next start');
    assert.equal(last.oldestCreatedAt, s.oldestCreatedAt, 'the closed spool is not read again');
    assert.ok(conserved(last));
  });

  it("reads the calling thread's CPU time where /proc is there", () => {
    const cpu = threadCpuSeconds();
    if (cpu === null) return; // no /proc (not Linux): the field is null, and that is what /state shows
    const proc0 = process.cpuUsage();
    // Burn CPU on this thread until its figure moves (a clock tick is 10 ms), within a generous deadline.
    let later = cpu;
    for (const deadline = Date.now() + 10_000; later === cpu && Date.now() < deadline;) later = threadCpuSeconds()!;
    const proc = process.cpuUsage(proc0);
    assert.ok(later > cpu, `this thread's CPU time moved while it ran (${cpu} s)`);
    // One thread's share of the process's CPU (a tick of rounding allowed).
    assert.ok(later - cpu <= (proc.user + proc.system) / 1e6 + 0.011, `${later - cpu} s of ${(proc.user + proc.system) / 1e6} s`);
  });
});
