import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeFrame, segmentOf } from '../../src/upstox/codec.js';
import { FeedKind, TickUpdate } from '../../src/upstox/feed-types.js';
import { encodeFeedResponse, feedSchema } from '../../src/upstox/proto-schema.js';
import { FrameDecodeError } from '../../src/errors.js';

/** Deterministic PRNG so a failure reproduces. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function quote(rand: () => number) {
  return {
    bidQ: Math.floor(rand() * 1e6),
    bidP: Math.round(rand() * 1e6) / 100,
    askQ: Math.floor(rand() * 1e6),
    askP: Math.round(rand() * 1e6) / 100,
  };
}
const greeks = (rand: () => number) => ({ delta: rand(), theta: -rand(), gamma: rand() / 10, vega: rand() * 5, rho: rand() / 3 });
const ltpc = (rand: () => number) => ({
  ltp: Math.round(rand() * 1e7) / 100,
  ltt: 1_732_000_000_000 + Math.floor(rand() * 1e8),
  ltq: Math.floor(rand() * 1000),
  cp: Math.round(rand() * 1e7) / 100,
});
const ohlc = (rand: () => number, interval: string) => ({
  interval,
  open: rand() * 100,
  high: rand() * 100,
  low: rand() * 100,
  close: rand() * 100,
  vol: Math.floor(rand() * 1e9),
  ts: 1_732_000_000_000 + Math.floor(rand() * 1e6) * 60_000,
});

function randomFeed(rand: () => number, kind: number, levels: number) {
  if (kind === 0) return { ltpc: ltpc(rand), requestMode: 0 };
  if (kind === 1) {
    return {
      fullFeed: {
        marketFF: {
          ltpc: ltpc(rand),
          marketLevel: { bidAskQuote: Array.from({ length: levels }, () => quote(rand)) },
          ...(rand() < 0.5 ? { optionGreeks: greeks(rand) } : {}),
          marketOHLC: { ohlc: [ohlc(rand, '1d'), ohlc(rand, 'I1')] },
          atp: rand() * 100,
          vtt: Math.floor(rand() * 1e12),
          oi: Math.floor(rand() * 1e6),
          iv: rand(),
          tbq: Math.floor(rand() * 1e6),
          tsq: Math.floor(rand() * 1e6),
        },
      },
      requestMode: levels === 30 ? 3 : 1,
    };
  }
  if (kind === 2) {
    // An index: ltq is at its proto3 default and so absent on the wire.
    return { fullFeed: { indexFF: { ltpc: { ...ltpc(rand), ltq: 0 }, marketOHLC: { ohlc: [ohlc(rand, '1d')] } } }, requestMode: 1 };
  }
  return {
    firstLevelWithGreeks: {
      ltpc: ltpc(rand),
      firstDepth: quote(rand),
      optionGreeks: greeks(rand),
      vtt: Math.floor(rand() * 1e9),
      oi: rand() * 1e5,
      iv: rand(),
    },
    requestMode: 2,
  };
}

/** The reference: protobufjs reflection decode, flattened the slow, obvious way. */
function reference(bytes: Uint8Array) {
  const { FeedResponse } = feedSchema();
  const o = FeedResponse.toObject(FeedResponse.decode(bytes), { longs: Number, defaults: false }) as any;
  return Object.entries(o.feeds ?? {}).map(([key, feed]: [string, any]) => {
    const full = feed.fullFeed?.marketFF ?? feed.fullFeed?.indexFF ?? feed.firstLevelWithGreeks;
    const l = feed.ltpc ?? full?.ltpc ?? {};
    const quotes: any[] = full?.marketLevel?.bidAskQuote ?? (full?.firstDepth ? [full.firstDepth] : []);
    return {
      key,
      ts: o.currentTs ?? 0,
      ltp: l.ltp ?? 0,
      ltt: l.ltt ?? 0,
      ltq: l.ltq ?? 0,
      cp: l.cp ?? 0,
      vtt: full?.vtt ?? 0,
      oi: full?.oi ?? 0,
      depth: quotes.flatMap((q) => [q.bidQ ?? 0, q.bidP ?? 0, q.askQ ?? 0, q.askP ?? 0]),
      greeks: full?.optionGreeks ?? null,
      candles: (full?.marketOHLC?.ohlc ?? []).map((c: any) => ({ ...c, volume: c.vol, vol: undefined })),
    };
  });
}

describe('codec', () => {
  it('decodes every kind of feed exactly as protobufjs reflection does', () => {
    const rand = rng(42);
    for (let round = 0; round < 200; round++) {
      const feeds: Record<string, unknown> = {};
      const kinds: number[] = [];
      for (let i = 0; i < 1 + Math.floor(rand() * 20); i++) {
        const kind = Math.floor(rand() * 4);
        kinds.push(kind);
        feeds[`${kind === 2 ? 'NSE_INDEX|Idx ' : 'NSE_FO|'}${round}-${i}`] = randomFeed(rand, kind, rand() < 0.2 ? 30 : 5);
      }
      const bytes = encodeFeedResponse({ type: round % 2, feeds, currentTs: 1_732_000_000_000 + round });
      const frame = decodeFrame(bytes);
      assert.equal(frame.type, round % 2);
      assert.equal(frame.ts, 1_732_000_000_000 + round);
      const ref = reference(bytes);
      assert.equal(frame.updates.length, ref.length);
      for (const expected of ref) {
        const u = frame.updates.find((x) => x.key === expected.key)!;
        assert.ok(u, expected.key);
        assert.equal(u.ts, expected.ts);
        for (const f of ['ltp', 'ltt', 'ltq', 'cp', 'vtt', 'oi'] as const) assert.equal(u[f], expected[f], `${expected.key} ${f}`);
        assert.deepEqual(u.depth, expected.depth);
        if (expected.greeks) assert.deepEqual({ ...u.greeks }, { delta: 0, theta: 0, gamma: 0, vega: 0, rho: 0, ...expected.greeks });
        else assert.equal(u.greeks, null);
        assert.equal(u.candles?.length ?? 0, expected.candles.length);
        for (let c = 0; c < expected.candles.length; c++) {
          const want = expected.candles[c];
          const got = u.candles![c];
          assert.deepEqual(
            [got.interval, got.open, got.high, got.low, got.close, got.volume, got.ts],
            [want.interval, want.open, want.high, want.low, want.close, want.volume, want.ts],
          );
        }
      }
    }
  });

  it('tells the four kinds apart and keeps 30-level depth', () => {
    const rand = rng(7);
    const bytes = encodeFeedResponse({
      type: 1,
      currentTs: 1_700_000_000_123,
      feeds: {
        'NSE_EQ|A': randomFeed(rand, 0, 0),
        'NSE_EQ|B': randomFeed(rand, 1, 30),
        'NSE_INDEX|Nifty Bank': randomFeed(rand, 2, 0),
        'NSE_FO|C': randomFeed(rand, 3, 0),
      },
    });
    const byKey = new Map(decodeFrame(bytes).updates.map((u) => [u.key, u]));
    assert.equal(byKey.get('NSE_EQ|A')!.kind, FeedKind.Ltpc);
    assert.equal(byKey.get('NSE_EQ|B')!.kind, FeedKind.MarketFull);
    assert.equal(byKey.get('NSE_EQ|B')!.depth.length, 30 * 4);
    assert.equal(byKey.get('NSE_EQ|B')!.requestMode, 3);
    const index = byKey.get('NSE_INDEX|Nifty Bank')!;
    assert.equal(index.kind, FeedKind.IndexFull);
    assert.equal(index.segment, 'NSE_INDEX');
    assert.equal(index.ltq, 0);
    assert.equal(index.depth.length, 0);
    assert.equal(byKey.get('NSE_FO|C')!.kind, FeedKind.FirstLevelGreeks);
    assert.equal(byKey.get('NSE_FO|C')!.depth.length, 4);
    assert.ok(byKey.get('NSE_FO|C')!.greeks);
  });

  it('reads an initial_feed frame, whose type is absent on the wire', () => {
    const bytes = encodeFeedResponse({ type: 0, currentTs: 5, feeds: { 'NSE_EQ|A': { ltpc: { ltp: 1.5 } } } });
    const frame = decodeFrame(bytes);
    assert.equal(frame.type, 0);
    assert.equal(frame.updates[0].ltp, 1.5);
  });

  it('reads market_info segment status by name', () => {
    const bytes = encodeFeedResponse({
      type: 2,
      currentTs: 1_700_000_000_000,
      marketInfo: { segmentStatus: { NSE_EQ: 2, NSE_FO: 0, MCX_FO: 3 } },
    });
    const frame = decodeFrame(bytes);
    assert.equal(frame.type, 2);
    assert.deepEqual(frame.marketStatus, { NSE_EQ: 'NORMAL_OPEN', NSE_FO: 'PRE_OPEN_START', MCX_FO: 'NORMAL_CLOSE' });
    assert.equal(frame.updates.length, 0);
  });

  it('rejects malformed bytes with FrameDecodeError only', () => {
    const rand = rng(99);
    const good = encodeFeedResponse({ type: 1, currentTs: 1, feeds: { 'NSE_EQ|B': randomFeed(rand, 1, 5) } });
    let rejected = 0;
    for (let cut = 1; cut < good.length; cut++) {
      try {
        decodeFrame(good.subarray(0, cut));
      } catch (err) {
        assert.ok(err instanceof FrameDecodeError, `cut at ${cut}: ${String(err)}`);
        rejected++;
      }
    }
    assert.ok(rejected > good.length / 2, 'most truncations are detected');
    for (let i = 0; i < 2000; i++) {
      const junk = Uint8Array.from({ length: 1 + Math.floor(rand() * 64) }, () => Math.floor(rand() * 256));
      try {
        decodeFrame(junk);
      } catch (err) {
        assert.ok(err instanceof FrameDecodeError, String(err));
      }
    }
    assert.throws(() => decodeFrame(Buffer.from('{"not":"protobuf"}')), FrameDecodeError);
  });

  it('derives the segment from the key', () => {
    assert.equal(segmentOf('NSE_INDEX|Nifty Bank'), 'NSE_INDEX');
    assert.equal(segmentOf('NOBAR'), 'NOBAR');
    assert.ok(new TickUpdate().depth.length === 0);
  });

  it('reads the right keys whatever their order from frame to frame (a key is reused only when its bytes match)', () => {
    const rand = rng(7);
    // One buffer for every frame, as a socket's: the codec must keep copies of key bytes, not views.
    const socketBuffer = Buffer.alloc(4096);
    // Same-length keys that differ in one byte, non-ASCII keys, keys that come and go.
    const pool = ['NSE_EQ|INE002A01018', 'NSE_EQ|INE002A01019', 'NSE_EQ|INE002A0101X', 'BSE_EQ|Reliance ₹', 'NSE_INDEX|Nifty 50', 'X'];
    for (let f = 0; f < 300; f++) {
      const keys = pool.filter(() => rand() < 0.7).sort(() => rand() - 0.5);
      const feeds: Record<string, unknown> = {};
      for (const k of keys) feeds[k] = { ltpc: ltpc(rand) };
      const encoded = encodeFeedResponse({ type: 1, feeds, currentTs: 1 });
      socketBuffer.set(encoded);
      assert.deepEqual(
        decodeFrame(socketBuffer.subarray(0, encoded.length)).updates.map((u) => u.key),
        keys,
      );
    }
  });

  it('reads the right keys when there are more than it remembers (20,000 keys, shuffled, then again)', () => {
    const rand = rng(11);
    const all = Array.from({ length: 20_000 }, (_, i) => `NSE_FO|${100_000 + i}`);
    for (let round = 0; round < 3; round++) {
      const keys = [...all].sort(() => rand() - 0.5).slice(0, round === 2 ? 500 : all.length);
      const feeds: Record<string, unknown> = {};
      for (const k of keys) feeds[k] = { ltpc: ltpc(rand) };
      const decoded = decodeFrame(encodeFeedResponse({ type: 1, feeds, currentTs: 1 }));
      assert.deepEqual(
        decoded.updates.map((u) => u.key),
        keys,
      );
    }
  });
});
