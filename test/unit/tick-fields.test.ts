/**
 * The tick field list is written twice, for speed: once in the /ticks JSON (src/fanout/tick-json.ts)
 * and once in the InfluxDB line protocol (src/influx/line-protocol.ts). This test is what keeps
 * the two in agreement: for any update of any feed kind, both carry the same fields with the same
 * values (the line protocol truncates its integer fields and skips non-finite values).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { tickJson } from '../../src/fanout/tick-json.js';
import { LineProtocolBuilder, PointBatch, tickFields } from '../../src/influx/line-protocol.js';
import { FeedKind, FrameType, TickUpdate } from '../../src/upstox/feed-types.js';

const finite = fc.double({ min: -1e9, max: 1e9, noNaN: true, noDefaultInfinity: true });
const candle = fc.record({
  interval: fc.constantFrom('I1', '1d', 'I30'),
  open: finite,
  high: finite,
  low: finite,
  close: finite,
  volume: fc.integer({ min: 0, max: 1e9 }),
  ts: fc.integer({ min: 1, max: 2e12 }),
});
const update = fc
  .record({
    kind: fc.constantFrom(...Object.values(FeedKind)),
    nums: fc.array(finite, { minLength: 10, maxLength: 10 }),
    levels: fc.integer({ min: 0, max: 30 }),
    depth: fc.array(finite, { minLength: 120, maxLength: 120 }),
    greeks: fc.option(fc.array(finite, { minLength: 5, maxLength: 5 }), { nil: null }),
    candles: fc.option(fc.array(candle, { maxLength: 3 }), { nil: null }),
  })
  .map((r) => {
    const u = new TickUpdate();
    u.key = 'NSE_EQ|INE002A01018';
    u.segment = 'NSE_EQ';
    u.ts = 1_732_000_000_000;
    u.kind = r.kind;
    [u.ltp, u.ltt, u.ltq, u.cp, u.atp, u.vtt, u.oi, u.iv, u.tbq, u.tsq] = r.nums;
    u.depth = r.depth.slice(0, r.levels * 4);
    u.greeks = r.greeks && { delta: r.greeks[0], theta: r.greeks[1], gamma: r.greeks[2], vega: r.greeks[3], rho: r.greeks[4] };
    u.candles = r.candles;
    return u;
  });

/** `name=value` pairs of a line-protocol field set (values are numbers here, `i` for integers). */
function lineFields(fields: string): Map<string, number> {
  const out = new Map<string, number>();
  if (fields === '') return out;
  for (const pair of fields.split(',')) {
    const [name, value] = pair.split('=') as [string, string];
    out.set(name, Number(value.endsWith('i') ? value.slice(0, -1) : value));
  }
  return out;
}

const NOT_FIELDS = new Set(['type', 'snapshot', 'key', 'ts', 'candles']);
const INTEGER_FIELD = /^(ltt|ltq|vtt|volume|bid_qty_\d+|ask_qty_\d+)$/;

describe('tick field list: /ticks JSON and line protocol agree', () => {
  it('carry the same tick fields with the same values, for every feed kind', () => {
    fc.assert(
      fc.property(update, (u) => {
        const json = JSON.parse(tickJson(u)) as Record<string, unknown>;
        const jsonFields = new Map<string, number>();
        for (const [k, v] of Object.entries(json)) if (!NOT_FIELDS.has(k)) jsonFields.set(k, v as number);
        const lp = lineFields(tickFields(u));
        assert.deepEqual([...lp.keys()].sort(), [...jsonFields.keys()].sort());
        for (const [name, v] of jsonFields) {
          // `+ 0` folds -0 into 0: the line protocol writes both as 0.
          assert.equal(lp.get(name)! + 0, (INTEGER_FIELD.test(name) ? Math.trunc(v) : v) + 0, name);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('carry the same candles', () => {
    fc.assert(
      fc.property(update, (u) => {
        const json = JSON.parse(tickJson(u)) as { candles?: Array<Record<string, unknown>> };
        const batch = new PointBatch();
        new LineProtocolBuilder().appendFrame({ type: FrameType.live_feed, ts: u.ts, updates: [u], marketStatus: null }, batch);
        const candleLines = batch.toLines().filter((l) => l.startsWith('candle,'));
        const jsonCandles = json.candles ?? [];
        assert.equal(candleLines.length, jsonCandles.length);
        candleLines.forEach((line, i) => {
          const [tags, fields, ts] = line.split(' ') as [string, string, string];
          const c = jsonCandles[i];
          assert.ok(tags.includes(`interval=${String(c.interval)}`));
          // Line protocol carries microseconds: a candle's ts × 1000.
          assert.equal(Number(ts), (c.ts as number) * 1000);
          const f = lineFields(fields);
          assert.deepEqual([...f.keys()], ['open', 'high', 'low', 'close', 'volume']);
          for (const [name, v] of f) assert.equal(v + 0, (c[name] as number) + 0);
        });
      }),
      { numRuns: 200 },
    );
  });
});
