/**
 * TickFrames (src/fanout/tick-frames.ts) writes the live /ticks messages as bytes; tickJson
 * (tick-json.ts, which snapshots use) builds them as strings. For any update, the bytes must be
 * tickJson's text, framed as `ws` frames a text message, or a '*' client and a client of one key
 * would be sent different ticks. Its number writer must write exactly what `String(n)` writes.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { TickFrames, tickHead } from '../../src/fanout/tick-frames.js';
import { tickJson } from '../../src/fanout/tick-json.js';
import { FeedKind, TickUpdate } from '../../src/upstox/feed-types.js';

/** ws's framing (exported by its CommonJS entry, not in its type definitions). */
const { Sender } = createRequire(import.meta.url)('ws') as {
  Sender: { frame(data: Buffer, options: Record<string, boolean | number>): Buffer[] };
};

/** What ws.send puts on the wire for a text message: FIN, opcode 1, unmasked. */
function wsFrame(json: string): Buffer {
  const parts = Sender.frame(Buffer.from(json), { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false });
  return Buffer.concat(parts);
}

const anyNumber = fc.oneof(
  fc.double(),
  fc.integer({ min: -(1e15 - 1), max: 1e15 - 1 }).map((c) => c / 100),
  fc.integer({ min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
  fc.constantFrom(0, -0, Number.NaN, Infinity, -Infinity, 2 ** 53, 2 ** 53 + 2, 1e21, 2500.05, 1_732_000_000_000),
  // Where the digit writer changes method: 4 digits a store, 8, 12, past int32, past 1e13.
  fc
    .constantFrom(9, 10, 99, 100, 9999, 10_000, 99_999_999, 1e8, 2 ** 31 - 1, 2 ** 31, 1e12, 1e13 - 1, 1e13, 1e15 - 1)
    .chain((n) => fc.constantFrom(n, -n, n + 0.01, n + 0.1, n - 0.99, n + 0.5, (n * 100 + 1) / 100)),
);
const candle = fc.record({
  interval: fc.oneof(fc.constantFrom('I1', '1d', 'I30'), fc.string({ maxLength: 8 })),
  open: anyNumber,
  high: anyNumber,
  low: anyNumber,
  close: anyNumber,
  volume: anyNumber,
  ts: anyNumber,
});
const update = fc
  .record({
    key: fc.oneof(fc.constantFrom('NSE_EQ|INE002A01018', 'NSE_INDEX|Nifty Bank'), fc.string({ maxLength: 40 })),
    symbol: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
    kind: fc.constantFrom(...Object.values(FeedKind)),
    nums: fc.array(anyNumber, { minLength: 11, maxLength: 11 }),
    depth: fc.array(anyNumber, { maxLength: 124 }),
    greeks: fc.option(fc.array(anyNumber, { minLength: 5, maxLength: 5 }), { nil: null }),
    candles: fc.option(fc.array(candle, { maxLength: 3 }), { nil: null }),
  })
  .map((r) => {
    const u = new TickUpdate();
    u.key = r.key;
    u.kind = r.kind;
    [u.ts, u.ltp, u.ltt, u.ltq, u.cp, u.atp, u.vtt, u.oi, u.iv, u.tbq, u.tsq] = r.nums;
    u.depth = r.depth;
    u.greeks = r.greeks && { delta: r.greeks[0], theta: r.greeks[1], gamma: r.greeks[2], vega: r.greeks[3], rho: r.greeks[4] };
    u.candles = r.candles;
    return { u, symbolField: r.symbol === undefined ? '' : ',"symbol":' + JSON.stringify(r.symbol) };
  });

/** Writes `updates` as one frame's messages and checks every one against tickJson and ws. */
function check(frames: TickFrames, updates: Array<{ u: TickUpdate; symbolField: string }>): void {
  frames.begin(updates.length);
  for (const { u, symbolField } of updates) frames.add(u, tickHead(u.key, symbolField));
  frames.end();
  const expected = updates.map(({ u, symbolField }) => wsFrame(tickJson(u, false, symbolField)));
  assert.equal(frames.count, updates.length);
  for (let i = 0; i < updates.length; i++) {
    assert.deepEqual(frames.wire(i), expected[i], `message ${i}`);
    assert.equal(frames.payload(i).toString('utf8'), tickJson(updates[i].u, false, updates[i].symbolField));
    // Back to back: the '*' clients are sent runs of the frame's Buffer.
    assert.equal(frames.start(i), i === 0 ? 0 : frames.endOf(i - 1));
  }
  assert.deepEqual(frames.buf.subarray(0, frames.bytes), Buffer.concat(expected));
}

describe('TickFrames: the live /ticks messages as bytes', () => {
  it("writes tickJson's text framed as ws frames it, for any update (numbers, strings, feed kinds, depth, candles)", () => {
    const frames = new TickFrames();
    fc.assert(
      fc.property(fc.array(update, { maxLength: 20 }), (updates) => check(frames, updates)),
      { numRuns: 2000 },
    );
  });

  it('frames short (< 126 bytes), long (>= 126) and very long (>= 65,536 bytes) messages alike, in one frame', () => {
    const short = new TickUpdate();
    short.key = 'A';
    const long = new TickUpdate();
    long.key = 'NSE_EQ|INE002A01018';
    long.kind = FeedKind.MarketFull;
    long.depth = Array.from({ length: 120 }, (_, i) => i * 1.01);
    const huge = new TickUpdate();
    huge.key = 'NSE_FO|X';
    huge.depth = Array.from({ length: 4000 }, (_, i) => i + 0.1 * Math.PI);
    const frames = new TickFrames();
    const updates = [short, long, huge, short, long].map((u) => ({ u, symbolField: '' }));
    check(frames, updates);
    assert.ok(frames.wire(0).length < 128 && frames.wire(1)[1] === 126 && frames.wire(2)[1] === 127);
  });

  it('a frame grows past its first guess, and the next frame leaves the earlier Buffer (queued on sockets) as it was', () => {
    const frames = new TickFrames();
    const u = new TickUpdate();
    u.key = 'NSE_EQ|INE002A01018';
    u.kind = FeedKind.MarketFull;
    u.depth = Array.from({ length: 20 }, (_, i) => 1000.05 + i);
    const many = Array.from({ length: 500 }, () => ({ u, symbolField: ',"symbol":"RELIANCE"' }));
    check(frames, many.slice(0, 2));
    const first = frames.buf;
    const firstBytes = Buffer.from(first.subarray(0, frames.bytes));
    check(frames, many);
    assert.notEqual(frames.buf, first);
    assert.deepEqual(first.subarray(0, firstBytes.length), firstBytes);
  });

  it('frames carved one after another from shared slabs never overwrite an earlier frame (its views may be queued)', () => {
    fc.assert(
      fc.property(fc.array(fc.array(update, { maxLength: 40 }), { minLength: 1, maxLength: 60 }), (frameList) => {
        const frames = new TickFrames();
        const kept: Array<{ view: Buffer; copy: Buffer }> = [];
        for (const updates of frameList) {
          check(frames, updates);
          const view = frames.buf.subarray(0, frames.bytes);
          kept.push({ view, copy: Buffer.from(view) });
        }
        for (const [i, k] of kept.entries()) assert.deepEqual(k.view, k.copy, `frame ${i} was overwritten`);
      }),
      { numRuns: 100 },
    );
  });

  it('writes every number as String does (null where JSON has none)', () => {
    const frames = new TickFrames();
    const u = new TickUpdate();
    u.key = 'K';
    fc.assert(
      fc.property(anyNumber, (n) => {
        u.ltp = n;
        frames.begin(1);
        frames.add(u, tickHead(u.key, ''));
        const m = JSON.parse(frames.payload(0).toString('utf8')) as { ltp: number | null };
        const text = /"ltp":([^,]*),/.exec(frames.payload(0).toString('utf8'))![1];
        assert.equal(text, Number.isFinite(n) ? String(n) : 'null');
        assert.equal(m.ltp, Number.isFinite(n) ? n + 0 : null);
      }),
      { numRuns: 20_000 },
    );
  });
});
