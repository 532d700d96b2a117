/**
 * Line protocol written straight into bytes (src/influx/point-batch.ts) says exactly what the
 * string-built version said: numbers as `String(v)` writes them (the digit-by-digit and whole-paise
 * paths included), and, for any frames, the same lines as a plain string reference of the schema
 * (README "The InfluxDB schema"), which is the previous implementation kept here as the oracle.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { LineProtocolBuilder } from '../../src/influx/line-protocol.js';
import { PointBatch, beginPoint, endPoint, writeNumberText } from '../../src/influx/point-batch.js';
import { FeedKind, FrameType, TickUpdate } from '../../src/upstox/feed-types.js';
import { influxState, parseLine } from '../helpers/influx-state.js';
import { referenceLines } from '../helpers/reference-line-protocol.js';

/** What the writers put in the buffer for one number. */
function written(write: (v: number) => void, v: number): string {
  const b = new PointBatch(64);
  beginPoint(b, 64);
  write(v);
  endPoint(b, 0);
  return b.body().toString('latin1');
}

const anyDouble = fc.double();
const paise = fc.integer({ min: -1e15, max: 1e15 }).map((n) => n / 100);
const safeInt = fc.maxSafeInteger();

describe('numbers written into the batch', () => {
  it('a float is written as String(v) writes it: any double, whole paise, integers', () => {
    fc.assert(
      fc.property(fc.oneof(anyDouble, paise, safeInt, fc.constantFrom(0, -0, 0.05, -0.05, 1e-7, 123.1, 99.99, 1e13, -1e13 + 0.01)), (v) => {
        assert.equal(written(writeNumberText, v), String(v));
      }),
      { numRuns: 5000 },
    );
  });

  it('an integer is written as String(v) writes it, safe or not', () => {
    fc.assert(
      fc.property(
        fc.oneof(safeInt, fc.integer(), fc.double().map(Math.trunc), fc.constantFrom(0, -0, 9, 10, 99, 100, 2 ** 53, 1e21, -1e22)),
        (v) => {
          assert.equal(written(writeNumberText, v), String(v));
        },
      ),
      { numRuns: 5000 },
    );
  });
});

const num = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: -1e9, max: 1e9 }).map((n) => n / 100) },
  { weight: 2, arbitrary: fc.double({ noNaN: false }) },
  { weight: 1, arbitrary: fc.constantFrom(Number.NaN, Infinity, -Infinity, 0, -0) },
);
const candleArb = fc.record({
  interval: fc.constantFrom('I1', '1d', 'I30', '', 'a b'),
  open: num,
  high: num,
  low: num,
  close: num,
  volume: num,
  ts: fc.oneof(fc.integer({ min: 1, max: 2e12 }), fc.constant(0)),
});
const keyArb = fc.constantFrom('NSE_EQ|INE002A01018', 'NSE_FO|4321', 'BSE_EQ|a,b=c d', 'MCX_FO|ü€');
const updateArb = fc
  .record({
    key: keyArb,
    kind: fc.constantFrom(...Object.values(FeedKind)),
    nums: fc.array(num, { minLength: 10, maxLength: 10 }),
    depth: fc.array(num, { maxLength: 22 }),
    greeks: fc.option(fc.array(num, { minLength: 5, maxLength: 5 }), { nil: null }),
    candles: fc.option(fc.array(candleArb, { maxLength: 3 }), { nil: null }),
  })
  .map((r) => {
    const u = new TickUpdate();
    u.key = r.key;
    u.segment = r.key.split('|')[0]!;
    u.kind = r.kind;
    [u.ltp, u.ltt, u.ltq, u.cp, u.atp, u.vtt, u.oi, u.iv, u.tbq, u.tsq] = r.nums;
    u.depth = r.depth;
    u.greeks = r.greeks && { delta: r.greeks[0], theta: r.greeks[1], gamma: r.greeks[2], vega: r.greeks[3], rho: r.greeks[4] };
    u.candles = r.candles;
    return u;
  });
const frameArb = fc.record({
  ts: fc.integer({ min: 1_700_000_000_000, max: 1_700_000_000_003 }),
  updates: fc.array(updateArb, { maxLength: 6 }),
  marketStatus: fc.option(fc.dictionary(fc.constantFrom('NSE_EQ', 'NSE_FO'), fc.constantFrom('NORMAL_OPEN', 'CLOSE "x" \\')), {
    nil: null,
  }),
});

describe('line protocol bytes equal the string-built reference', () => {
  it('for any frames, extra tags and symbols: the same ticks in order, each candle once, the same data in InfluxDB', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { minLength: 1, maxLength: 8 }), fc.boolean(), (frames, withSymbols) => {
        const symbol = (k: string) => (withSymbols && k.startsWith('NSE') ? `SYM ${k.length}` : undefined);
        const builder = new LineProtocolBuilder({ run: 'p,q', host: 'h' }, symbol);
        // A small first capacity: the batch grows many times on the way.
        const batch = new PointBatch(16);
        let added = 0;
        for (const f of frames) added += builder.appendFrame({ type: FrameType.live_feed, ...f }, batch);
        const expected = referenceLines(
          frames.map((f) => ({ type: FrameType.live_feed, ...f })),
          ',host=h,run=p\\,q',
          symbol,
        );
        const lines = batch.toLines();
        const isCandle = (l: string) => l.startsWith('candle,');
        // Ticks and market status: byte for byte the reference's lines, in its order.
        assert.deepEqual(
          lines.filter((l) => !isCandle(l)),
          expected.filter((l) => !isCandle(l)),
        );
        // Candles: each (series, ts) once per batch, its copies merged as InfluxDB merges them.
        const candles = lines.filter(isCandle).map(parseLine);
        assert.equal(new Set(candles.map((c) => `${c.series} ${c.ts}`)).size, candles.length, 'a candle twice in one batch');
        assert.deepEqual(influxState(lines), influxState(expected));
        assert.equal(batch.points, lines.length);
        assert.equal(added, lines.length);
        assert.equal(batch.body().toString('utf8'), lines.join('\n'), 'lines separated by \\n, none trailing');
      }),
      { numRuns: 400 },
    );
  });

  it('a candle held in one batch is written again in the next: each batch is complete on its own', () => {
    const builder = new LineProtocolBuilder();
    const frame = (close: number) => {
      const u = new TickUpdate();
      u.key = 'NSE_EQ|X';
      u.segment = 'NSE_EQ';
      u.ltp = close;
      u.candles = [{ interval: 'I1', open: 1, high: 9, low: 0.5, close, volume: close * 10, ts: 60_000 }];
      return { type: FrameType.live_feed, ts: 60_500 + close, updates: [u], marketStatus: null };
    };
    const first = new PointBatch();
    for (const close of [1, 2, 3]) builder.appendFrame(frame(close), first);
    const second = new PointBatch();
    for (const close of [4, 5]) builder.appendFrame(frame(close), second);
    const candleOf = (b: PointBatch) => b.toLines().filter((l) => l.startsWith('candle,'));
    assert.deepEqual(candleOf(first), [
      'candle,instrument_key=NSE_EQ|X,interval=I1,segment=NSE_EQ open=1,high=9,low=0.5,close=3,volume=30i 60000000',
    ]);
    assert.deepEqual(candleOf(second), [
      'candle,instrument_key=NSE_EQ|X,interval=I1,segment=NSE_EQ open=1,high=9,low=0.5,close=5,volume=50i 60000000',
    ]);
    assert.equal(first.points, 4);
    assert.equal(second.points, 3);
    assert.equal(builder.merged, 3, 'copies merged into a held candle: two in the first batch, one in the second');
  });

  it('backfilled candles join a batch after live points, with the live candles’ tags', () => {
    const builder = new LineProtocolBuilder();
    const batch = new PointBatch();
    batch.add('feed_gap,reason=x from=1i 1000', 1);
    const n = builder.appendCandles(
      'NSE_EQ|X',
      'NSE_EQ',
      [{ interval: 'I1', open: 1, high: 2.5, low: 0.05, close: 1.1, volume: 7, ts: 60_000 }],
      batch,
    );
    assert.equal(n, 1);
    assert.deepEqual(batch.toLines(), [
      'feed_gap,reason=x from=1i 1000',
      'candle,instrument_key=NSE_EQ|X,interval=I1,segment=NSE_EQ open=1,high=2.5,low=0.05,close=1.1,volume=7i 60000000',
    ]);
    assert.deepEqual([...batch.keys], ['NSE_EQ|X']);
  });
});
