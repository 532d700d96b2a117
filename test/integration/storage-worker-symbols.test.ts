/**
 * The `symbol` tag through the storage worker (a real worker thread and spool, no InfluxDB): the
 * worker learns each key's symbol from main before that key's first frame, and a master swap
 * changes the symbol from the next frame on, never before, even when a key's first frame and the
 * swap come in the same turn of main's event loop.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { Stats } from '../../src/stats.js';
import { StorageWorker } from '../../src/storage/worker/storage-worker.js';
import { decodeFrame } from '../../src/upstox/codec.js';
import { encodeFeedResponse } from '../../src/upstox/proto-schema.js';

const dir = mkdtempSync(join(tmpdir(), 'tickpipe-worker-symbols-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let ts = 1_767_000_000_000;
/** One ltpc update for `key`, as bytes on the wire and as main decodes them. */
function frame(key: string, ltp: number) {
  const raw = encodeFeedResponse({ type: 1, feeds: { [key]: { ltpc: { ltp, ltt: ts, ltq: 1, cp: 1 } } }, currentTs: ++ts });
  return { raw, decoded: decodeFrame(raw) };
}

describe('the symbol tag through the storage worker', () => {
  it('tags each point with the symbol main knew when its frame arrived, across a master swap', async () => {
    const symbols = new Map([
      ['NSE_EQ|A', 'ALPHA'],
      ['NSE_EQ|B', 'BETA'],
    ]);
    const config = loadConfig({ UPSTOX_ACCESS_TOKEN: 'unused', INSTRUMENTS: 'NSE_EQ|A', SPOOL_PATH: join(dir, 'spool.db') });
    const storage = await StorageWorker.open({
      config,
      secrets: [],
      logger: createLogger('silent'),
      stats: new Stats(),
      report: () => {},
      symbolOf: (key) => symbols.get(key),
      onFailure: (err) => assert.fail(err),
    });
    try {
      const push = (key: string, ltp: number) => {
        const f = frame(key, ltp);
        storage.pushFrame(f.decoded, f.raw);
      };
      push('NSE_EQ|A', 1);
      await storage.flushed();
      // B's first frame and a swap in one turn: B's point keeps the symbol of its time.
      push('NSE_EQ|B', 2);
      symbols.set('NSE_EQ|A', 'ALPHA2');
      symbols.set('NSE_EQ|B', 'BETA2');
      storage.symbolsChanged();
      push('NSE_EQ|A', 3);
      push('NSE_EQ|B', 4);
      await storage.flushed();
    } finally {
      await storage.close(0);
    }
    const db = new Database(join(dir, 'spool.db'), { readonly: true });
    try {
      const text = (db.prepare('SELECT CAST(lines AS TEXT) AS t FROM batches ORDER BY seq, id').all() as Array<{ t: string }>)
        .map((r) => r.t)
        .join('\n');
      const tickTags = text
        .split('\n')
        .filter((l) => l.startsWith('tick,'))
        .map((l) => /instrument_key=([^,]+),segment=\w+(?:,symbol=(\w+))?/.exec(l)?.slice(1, 3).join(' '));
      // Per series, in order (with INFLUX_WRITE_LANES > 1, A and B may sit in different lanes' rows).
      const of = (key: string) => tickTags.filter((t) => t?.startsWith(`${key} `));
      assert.deepEqual(of('NSE_EQ|A'), ['NSE_EQ|A ALPHA', 'NSE_EQ|A ALPHA2']);
      assert.deepEqual(of('NSE_EQ|B'), ['NSE_EQ|B BETA', 'NSE_EQ|B BETA2']);
    } finally {
      db.close();
    }
  });
});
