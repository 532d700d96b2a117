/**
 * The spool hands back the bytes of rows it just appended from memory (Spool.recent) instead of
 * reading them from SQLite. Such a body is a view of the batch's Buffer, so the guarantees are:
 * the bytes replayed are the bytes appended, whatever batches are built afterwards (a kept Buffer
 * is never handed to another batch); a row read from the file equals one held in memory; and a
 * deleted row is neither held nor replayed; a held body's memory goes back to new batches only once
 * InfluxDB took its row and the delete committed. And while InfluxDB is down nothing is held: the rows
 * wait out the outage, and their bodies would only hold memory.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { WriteClient, WriteOutcome } from '../../src/influx/write-client.js';
import { PointBatch } from '../../src/influx/point-batch.js';
import { createLogger } from '../../src/logger.js';
import { Spool } from '../../src/spool/spool.js';
import { Stats } from '../../src/stats.js';
import { WritePath } from '../../src/storage/write-path.js';
import { tickFrame } from '../helpers/storage-fixture.js';

const dir = mkdtempSync(join(tmpdir(), 'tickpipe-spool-recent-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function openSpool(name: string, maxBytes = 1 << 30): Spool {
  const logger = createLogger('silent');
  return new Spool({ path: join(dir, name), maxBytes, fullPolicy: 'drop-oldest', stats: new Stats(), logger, lockTimeoutMs: 0 });
}

/** ~800 KB of lines: its Buffer (1 MiB) is bigger than any other this file builds. */
function bigBatch(tag: string): PointBatch {
  return batchOf(tag, 3000);
}

/** The memory a new batch of bigBatch's size is built in (taken from the given-back Buffers when one fits). */
function nextBatchMemory(): ArrayBufferLike {
  return new PointBatch(900 * 1024).buf.buffer;
}

/** A batch of `points` lines whose text says which batch it is; big enough (≥ 64 KiB) for its Buffer to be recyclable. */
function batchOf(tag: string, points: number): PointBatch {
  const b = new PointBatch(64 * 1024);
  for (let i = 0; i < points; i++)
    b.add(`tick,instrument_key=NSE_EQ|${tag} ltp=${i}.5,pad="${'x'.repeat(200)}" ${1_735_000_000_000_000 + i}`, 1_735_000_000_000 + i);
  b.keys.add(`NSE_EQ|${tag}`);
  return b;
}

describe('spool: bodies of just-appended rows', () => {
  it('replays the bytes appended, even after the batch is recycled and new batches are built', () => {
    const spool = openSpool('recycle.db');
    const expected: string[] = [];
    for (let n = 0; n < 3; n++) {
      const b = batchOf(`B${n}`, 400);
      expected.push(b.body().toString('latin1'));
      spool.append(spool.takeSeq(), b);
      // What the write lane does once a batch is spooled; then the next batches are built, and
      // would land in this very Buffer if it were handed on.
      b.recycle();
      for (let k = 0; k < 5; k++) batchOf(`OVERWRITE${k}`, 400).body();
    }
    const rows = spool.oldest(10_000);
    assert.deepEqual(
      rows.map((r) => r.body.toString('latin1')),
      expected,
    );
    spool.close();
  });

  it('a row read from the file equals the same row held in memory, and deleted rows are gone', () => {
    const spool = openSpool('file.db');
    const batches = Array.from({ length: 8 }, (_, n) => batchOf(`F${n}`, 100));
    const texts = batches.map((b) => b.body().toString('latin1'));
    // Eight rows in one shard: the first ones are held, the rest (behind a backlog) are not.
    for (const b of batches) spool.append(spool.takeSeq(), b);
    const held = spool.oldest(100_000);
    assert.equal(held.length, 8);
    assert.deepEqual(
      held.map((r) => r.body.toString('latin1')),
      texts,
    );
    assert.deepEqual(
      held.map((r) => r.bytes),
      held.map((r) => r.body.length),
    );
    spool.close();
    // Reopened: nothing is held, every body comes from the file.
    const again = openSpool('file.db');
    const fromFile = again.oldest(100_000);
    assert.deepEqual(
      fromFile.map((r) => r.body.toString('latin1')),
      texts,
    );
    again.remove(fromFile.slice(0, 5));
    const b = batchOf('AFTER', 10);
    again.append(again.takeSeq(), b);
    assert.deepEqual(
      again.oldest(100_000).map((r) => r.body.toString('latin1')),
      [...texts.slice(5), b.body().toString('latin1')],
    );
    again.close();
  });

  it('after a delete, the rows left replay from where they are', () => {
    const spool = openSpool('delete.db');
    const batches = Array.from({ length: 3 }, (_, n) => batchOf(`D${n}`, 50));
    for (const b of batches) spool.append(spool.takeSeq(), b);
    const [first, ...rest] = spool.oldest(100_000);
    spool.retire([first], []);
    assert.deepEqual(
      spool.oldest(100_000).map((r) => r.id),
      rest.map((r) => r.id),
    );
    assert.deepEqual(
      spool.oldest(100_000, { seq: rest[0].seq, id: rest[0].id }).map((r) => r.body.toString('latin1')),
      [batches[2].body().toString('latin1')],
    );
    spool.close();
  });

  it('holds nothing while told not to, and lets go of what it held', () => {
    const spool = openSpool('hold.db');
    const a = batchOf('H0', 100);
    spool.append(spool.takeSeq(), a);
    assert.equal(spool.heldBytes, a.body().length);
    spool.holdRecent(false);
    assert.equal(spool.heldBytes, 0);
    const b = batchOf('H1', 100);
    spool.append(spool.takeSeq(), b);
    assert.equal(spool.heldBytes, 0);
    // Both come back from the file, byte for byte.
    assert.deepEqual(
      spool.oldest(100_000).map((r) => r.body.toString('latin1')),
      [a.body().toString('latin1'), b.body().toString('latin1')],
    );
    spool.holdRecent(true);
    const c = batchOf('H2', 100);
    spool.append(spool.takeSeq(), c);
    assert.equal(spool.heldBytes, c.body().length);
    spool.close();
  });

  it('the write path holds bodies only while the route to InfluxDB is open', async () => {
    const spool = openSpool('route.db');
    const stats = new Stats();
    /** Answers nothing until told: the batch stays in flight. */
    const answers: Array<(o: WriteOutcome) => void> = [];
    const client: WriteClient = {
      write: () => new Promise<WriteOutcome>((resolve) => answers.push(resolve)),
      probe: () => Promise.resolve(),
      close: () => {},
    };
    const wp = new WritePath({
      spool,
      client,
      stats,
      logger: createLogger('silent'),
      batchMaxPoints: 1000,
      flushIntervalMs: 1_000_000,
      drainChunkPoints: 1000,
      extraTags: {},
      report: () => {},
    });
    const T = 1_750_000_000_000;
    // Closed at start (the writer has not found InfluxDB yet): spooled, not held.
    wp.pushFrame(tickFrame(T, { 'NSE_EQ|R1': 1 }));
    wp.flush();
    assert.equal(spool.heldBytes, 0);
    wp.setRoute(true);
    wp.pushFrame(tickFrame(T + 1, { 'NSE_EQ|R1': 2 }));
    wp.flush();
    assert.ok(spool.heldBytes > 0, 'a batch spooled while the route is open is held');
    // InfluxDB went down: what was held is let go, and the rows are all still there.
    wp.setRoute(false);
    assert.equal(spool.heldBytes, 0);
    assert.equal(spool.pendingPoints(), 2);
    for (const answer of answers) answer({ kind: 'unavailable', status: 503, message: 'down' });
    wp.abort();
    spool.close();
  });

  it("gives a row's memory to new batches once InfluxDB took it, not before", () => {
    const spool = openSpool('give-back.db');
    const a = bigBatch('G0');
    const memory = a.buf.buffer;
    const text = a.body().toString('latin1');
    spool.append(spool.takeSeq(), a);
    a.recycle();
    assert.notEqual(nextBatchMemory(), memory, 'held, so not handed on');
    const rows = spool.oldest(100_000);
    assert.equal(rows[0].body.toString('latin1'), text);
    spool.retire(rows, []);
    assert.equal(nextBatchMemory(), memory, 'given back once the delete committed');
    spool.close();
  });

  it("keeps a dropped row's memory away from new batches (it may still be in flight)", () => {
    const spool = openSpool('give-back-drop.db', 1_200_000);
    const a = bigBatch('D0');
    const memoryA = a.buf.buffer;
    spool.append(spool.takeSeq(), a);
    const inFlight = spool.oldest(100_000);
    // drop-oldest makes room for the next batch by deleting the first.
    const b = bigBatch('D1');
    const memoryB = b.buf.buffer;
    spool.append(spool.takeSeq(), b);
    assert.deepEqual(
      spool.oldest(100_000).map((r) => r.id),
      [inFlight[0].id + 1],
    );
    assert.notEqual(nextBatchMemory(), memoryA);
    // Nor when holding stops (InfluxDB went down while b was in flight).
    spool.holdRecent(false);
    assert.notEqual(nextBatchMemory(), memoryB);
    assert.equal(inFlight[0].body.toString('latin1').slice(0, 40), a.body().toString('latin1').slice(0, 40));
    spool.close();
  });
});
