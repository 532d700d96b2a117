/**
 * Two updates of one key in one millisecond stay two points. Timestamps are written in
 * microseconds: the frame's ms × 1000 plus an in-millisecond sequence per series; candles keep
 * ts × 1000 (their updates replace each other on purpose); a frame without currentTs is stamped
 * with its receive time.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LineProtocolBuilder, PointBatch } from '../../src/influx/line-protocol.js';
import { FrameType } from '../../src/upstox/feed-types.js';
import { tickFrame } from '../helpers/storage-fixture.js';

const tsOf = (line: string) => Number(line.slice(line.lastIndexOf(' ') + 1));

describe('line protocol timestamps (microseconds, in-millisecond sequence)', () => {
  it('same key, same ms: distinct, in order; read at ms precision both are currentTs', () => {
    const b = new LineProtocolBuilder();
    const batch = new PointBatch();
    const T = 1_737_000_000_123;
    b.appendFrame(tickFrame(T, { 'NSE_EQ|A': 1, 'NSE_EQ|B': 1 }), batch);
    b.appendFrame(tickFrame(T, { 'NSE_EQ|A': 2 }), batch);
    b.appendFrame(tickFrame(T + 1, { 'NSE_EQ|A': 3 }), batch);
    const a = batch
      .toLines()
      .filter((l) => l.includes('NSE_EQ|A'))
      .map(tsOf);
    assert.deepEqual(a, [T * 1000, T * 1000 + 1, (T + 1) * 1000]);
    assert.deepEqual(
      a.map((us) => Math.floor(us / 1000)),
      [T, T, T + 1],
    );
    // Another series has its own sequence.
    assert.equal(tsOf(batch.toLines().find((l) => l.includes('NSE_EQ|B'))!), T * 1000);
    assert.equal(batch.firstTs, T);
    assert.equal(batch.lastTs, T + 1);
  });

  it('a candle keeps its ts × 1000: its updates are the same point (merged in a batch, the same point in the next)', () => {
    const b = new LineProtocolBuilder();
    const T = 1_737_000_060_000;
    const candles = (batch: PointBatch) =>
      batch
        .toLines()
        .filter((l) => l.startsWith('candle,'))
        .map(tsOf);
    const first = new PointBatch();
    for (let i = 0; i < 3; i++)
      b.appendFrame(tickFrame(T + 5, { 'NSE_EQ|C': 1 }, { key: 'NSE_EQ|C', interval: 'I1', ts: T, close: 10 + i }), first);
    const second = new PointBatch();
    b.appendFrame(tickFrame(T + 6, { 'NSE_EQ|C': 1 }, { key: 'NSE_EQ|C', interval: 'I1', ts: T, close: 20 }), second);
    assert.deepEqual(candles(first), [T * 1000]);
    assert.deepEqual(candles(second), [T * 1000]);
  });

  it('1000 updates in one ms stay distinct; more share the last slot (still within the ms)', () => {
    const b = new LineProtocolBuilder();
    const batch = new PointBatch();
    const T = 1_737_000_000_500;
    for (let i = 0; i < 1002; i++) b.appendFrame(tickFrame(T, { 'NSE_EQ|D': i }), batch);
    const ts = batch.toLines().map(tsOf);
    assert.equal(new Set(ts).size, 1000);
    assert.ok(ts.every((us) => Math.floor(us / 1000) === T));
  });

  it('a frame without currentTs is stamped with its receive time', () => {
    const b = new LineProtocolBuilder();
    const batch = new PointBatch();
    const received = 1_737_000_000_999;
    b.appendFrame({ ...tickFrame(0, { 'NSE_EQ|E': 1 }), ts: 0, type: FrameType.live_feed }, batch, received);
    assert.equal(tsOf(batch.toLines()[0]), received * 1000);
  });
});
