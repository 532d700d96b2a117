/**
 * The bound on the storage worker's queue (STORAGE_QUEUE_MAX_MB), with a real worker thread and
 * spool: while the worker is stalled (as a hung disk would stall it), frames past the bound are
 * not handed over but counted and said, memory stays bounded, and once the worker has caught up
 * frames are handed over again. Every update is either built into points or counted as dropped.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { Stats } from '../../src/stats.js';
import { StorageWorker } from '../../src/storage/worker/storage-worker.js';
import { decodeFrame } from '../../src/upstox/codec.js';
import { encodeFeedResponse } from '../../src/upstox/proto-schema.js';

const dir = mkdtempSync(join(tmpdir(), 'tickpipe-worker-queue-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const KEYS = Array.from({ length: 2000 }, (_, i) => `NSE_EQ|K${String(i).padStart(5, '0')}`);
let ts = 1_767_000_000_000;
/** One frame with an ltpc update (one point) for each of KEYS: about 60 KB on the wire. */
function frame() {
  const feeds = Object.fromEntries(KEYS.map((k, i) => [k, { ltpc: { ltp: 100 + i, ltt: ts, ltq: 1, cp: 1 } }]));
  const raw = encodeFeedResponse({ type: 1, feeds, currentTs: ++ts });
  return { raw, decoded: decodeFrame(raw) };
}

describe('the storage worker queue bound', () => {
  it('past STORAGE_QUEUE_MAX_MB frames are counted and said, not queued; handing over resumes once the worker caught up', async () => {
    const config = loadConfig({
      UPSTOX_ACCESS_TOKEN: 'unused',
      INSTRUMENTS: 'NSE_EQ|A',
      SPOOL_PATH: join(dir, 'spool.db'),
      STORAGE_QUEUE_MAX_MB: '1',
    });
    const lines: Array<{ level: number; msg: string }> = [];
    const logger = createLogger('info', { write: (s: string) => void lines.push(JSON.parse(s) as { level: number; msg: string }) });
    const stats = new Stats();
    const notStored: Array<{ from: number; to: number; keys: string[] }> = [];
    const storage = await StorageWorker.open({
      config,
      secrets: [],
      logger,
      stats,
      report: () => {},
      symbolOf: () => undefined,
      onFailure: (err) => assert.fail(err),
      onNotStored: (r) => notStored.push(r),
    });
    try {
      const stalled = storage.stall(2000);
      const pushes = 40; // ~2.4 MB against a 1 MB bound
      const frames = Array.from({ length: pushes + 1 }, () => frame());
      for (let i = 0; i < pushes; i++) storage.pushFrame(frames[i].decoded, frames[i].raw);
      const f = frames[pushes];
      const health = storage.health();
      assert.equal(health.overloaded, true);
      assert.ok(health.queueBytes <= 1024 * 1024, `queue ${health.queueBytes} bytes stays within the bound`);
      const dropped = stats.updatesDroppedStorageQueue;
      assert.ok(dropped > 0 && dropped % KEYS.length === 0, `whole frames dropped: ${dropped}`);
      assert.equal(lines.filter((l) => l.level === 50 && l.msg.includes('not keeping up')).length, 1, 'said once');
      assert.deepEqual(notStored, [], 'the range is reported once the worker caught up');

      await stalled;
      await storage.flushed();
      assert.equal(storage.queue().bytes, 0);
      storage.pushFrame(f.decoded, f.raw); // handed over again: the queue is under half the bound
      assert.equal(storage.health().overloaded, false);
      assert.equal(stats.updatesDroppedStorageQueue, dropped);
      assert.ok(lines.some((l) => l.msg.includes('caught up')));
      // The frames not handed over were the last ones pushed: their currentTs range and keys, once.
      const firstDropped = pushes - dropped / KEYS.length;
      assert.deepEqual(notStored, [{ from: frames[firstDropped].decoded.ts, to: frames[pushes - 1].decoded.ts, keys: [...KEYS].sort() }]);
      await storage.flushed();
      const snap = await storage.sync();
      // Every update pushed is a point built (one per ltpc update) or counted as not handed over.
      assert.equal(snap.counters.pointsBuilt + stats.updatesDroppedStorageQueue, (pushes + 1) * KEYS.length);
      assert.equal(snap.pendingPoints, snap.counters.pointsBuilt);
    } finally {
      await storage.close(0);
    }
  });
});
