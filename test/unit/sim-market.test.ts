import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildFeed } from '../../src/sim/feed-builder.js';
import {
  encodeFrame,
  encodeStampedFrame,
  FrameClock,
  malformedFrame,
  marketInfoFrame,
  TYPE_INITIAL_FEED,
  TYPE_LIVE_FEED,
} from '../../src/sim/frames.js';
import { classify, istDayStart, Market, minuteStart } from '../../src/sim/market.js';
import { decodeFrame } from '../../src/upstox/codec.js';
import { FeedKind } from '../../src/upstox/feed-types.js';
import { feedSchema } from '../../src/upstox/proto-schema.js';
import { FrameDecodeError } from '../../src/errors.js';

/** A hand-driven clock: 09:15:00 IST on 2024-11-19 plus whatever the test adds. */
function clock(start = Date.UTC(2024, 10, 19, 3, 45)) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

function path(seed: number, key: string, steps: number, interleave?: string): number[] {
  const c = clock();
  const market = new Market(seed, c.now);
  const out: number[] = [];
  for (let i = 0; i < steps; i++) {
    c.advance(250);
    if (interleave) market.trade(interleave);
    out.push(market.trade(key).ltp);
  }
  return out;
}

const isOnGrid = (price: number, tick: number): boolean => Math.abs(price / tick - Math.round(price / tick)) < 1e-6;

describe('simulator market', () => {
  it('repeats a price path for the same seed, whatever else trades, and differs across seeds', () => {
    const a = path(7, 'NSE_EQ|INE002A01018', 500);
    assert.deepEqual(path(7, 'NSE_EQ|INE002A01018', 500, 'NSE_EQ|OTHER'), a);
    assert.notDeepEqual(path(8, 'NSE_EQ|INE002A01018', 500), a);
    assert.ok(new Set(a).size > 20, 'the price moves');
  });

  it('trades on the tick grid near the previous close, with growing volume', () => {
    const c = clock();
    const market = new Market(3, c.now);
    for (const key of ['NSE_EQ|INE467B01029', 'NSE_FO|54452', 'MCX_FO|457534', 'NSE_INDEX|Nifty 50', 'BSE_EQ|X1']) {
      let vtt = market.get(key).vtt;
      for (let i = 0; i < 2000; i++) {
        c.advance(50);
        const s = market.trade(key);
        assert.ok(isOnGrid(s.ltp, s.tick), `${key} ${s.ltp} on ${s.tick}`);
        assert.ok(Math.abs(s.ltp / s.cp - 1) < (s.cls === 'option' ? 0.6 : 0.1), `${key} ${s.ltp} vs close ${s.cp}`);
        assert.equal(s.ltt, c.now());
        if (s.cls === 'index') assert.equal(s.ltq, 0, key);
        else assert.ok(s.ltq > 0 && s.ltq % s.lot === 0, `${key} ltq ${s.ltq}`);
        assert.equal(s.vtt, vtt + s.ltq);
        vtt = s.vtt;
        assert.ok(s.day.low <= s.ltp && s.ltp <= s.day.high && s.day.close === s.ltp);
      }
    }
    assert.equal(market.get('NSE_EQ|INE467B01029').cp, 3410.55, 'known instruments keep their familiar prices');
  });

  it('keeps day candles from IST midnight and minute candles that restart each minute', () => {
    const c = clock();
    const market = new Market(1, c.now);
    const key = 'NSE_EQ|INE002A01018';
    const s = market.get(key);
    assert.equal(s.day.ts, Date.UTC(2024, 10, 18, 18, 30), 'midnight IST is 18:30 UTC the day before');
    assert.equal(istDayStart(Date.UTC(2024, 10, 18, 18, 29)), Date.UTC(2024, 10, 17, 18, 30));
    let lastMinuteVol = s.minute.vol;
    for (let i = 0; i < 300; i++) {
      const minuteBefore = s.minute.ts;
      c.advance(1000);
      market.trade(key);
      assert.equal(s.minute.ts, minuteStart(c.now()));
      if (s.minute.ts === minuteBefore) assert.ok(s.minute.vol > lastMinuteVol, 'minute volume grows within the minute');
      else assert.equal(s.minute.vol, s.ltq, 'a new minute starts from this trade');
      lastMinuteVol = s.minute.vol;
      assert.ok(s.minute.low <= s.minute.open && s.minute.open <= s.minute.high);
    }
    const closeOfDay = s.ltp;
    c.advance(24 * 3600_000);
    market.trade(key);
    assert.equal(s.cp, closeOfDay, 'the previous day closes at its last price');
    assert.equal(s.vtt, s.ltq, 'day volume restarts');
  });

  it('classifies instruments by segment', () => {
    assert.equal(classify('NSE_INDEX|Nifty 50'), 'index');
    assert.equal(classify('BSE_INDEX|SENSEX'), 'index');
    assert.equal(classify('NSE_FO|54452'), 'option');
    assert.equal(classify('BSE_FO|1'), 'option');
    assert.equal(classify('MCX_FO|457534'), 'future');
    assert.equal(classify('NSE_EQ|INE002A01018'), 'equity');
  });
});

describe('simulator frames', () => {
  const market = new Market(1);
  const feeds = (mode: 'ltpc' | 'full' | 'full_d30' | 'option_greeks', keys: string[]) =>
    Object.fromEntries(keys.map((k) => [k, buildFeed(market.trade(k), mode)]));

  it('encodes each mode as the codec expects it', () => {
    const keys = ['NSE_EQ|A', 'NSE_FO|B', 'NSE_INDEX|C', 'MCX_FO|D'];
    const cases = [
      [
        'ltpc',
        0,
        {
          'NSE_EQ|A': [FeedKind.Ltpc, 0],
          'NSE_FO|B': [FeedKind.Ltpc, 0],
          'NSE_INDEX|C': [FeedKind.Ltpc, 0],
          'MCX_FO|D': [FeedKind.Ltpc, 0],
        },
      ],
      [
        'full',
        1,
        {
          'NSE_EQ|A': [FeedKind.MarketFull, 5],
          'NSE_FO|B': [FeedKind.MarketFull, 5],
          'NSE_INDEX|C': [FeedKind.IndexFull, 0],
          'MCX_FO|D': [FeedKind.MarketFull, 5],
        },
      ],
      [
        'full_d30',
        3,
        {
          'NSE_EQ|A': [FeedKind.MarketFull, 30],
          'NSE_FO|B': [FeedKind.MarketFull, 30],
          'NSE_INDEX|C': [FeedKind.IndexFull, 0],
          'MCX_FO|D': [FeedKind.MarketFull, 30],
        },
      ],
      [
        'option_greeks',
        2,
        {
          'NSE_EQ|A': [FeedKind.FirstLevelGreeks, 1],
          'NSE_FO|B': [FeedKind.FirstLevelGreeks, 1],
          'NSE_INDEX|C': [FeedKind.FirstLevelGreeks, 0],
          'MCX_FO|D': [FeedKind.FirstLevelGreeks, 1],
        },
      ],
    ] as const;
    for (const [mode, requestMode, want] of cases) {
      const frame = decodeFrame(encodeFrame(TYPE_LIVE_FEED, 42, feeds(mode, keys)));
      assert.equal(frame.type, 1);
      assert.equal(frame.ts, 42);
      for (const u of frame.updates) {
        assert.deepEqual([u.kind, u.depth.length / 4], want[u.key as keyof typeof want], `${mode} ${u.key}`);
        assert.equal(u.requestMode, requestMode, `${mode} ${u.key}`);
        assert.equal(u.greeks !== null, u.key === 'NSE_FO|B' && mode !== 'ltpc', `${mode} ${u.key} greeks`);
      }
    }
  });

  it('a frame stamped after its feeds are encoded has exactly the bytes of one encoded whole', () => {
    for (const type of [TYPE_INITIAL_FEED, TYPE_LIVE_FEED]) {
      const f = feeds('full', ['NSE_EQ|A', 'NSE_FO|B', 'NSE_INDEX|C']);
      let calls = 0;
      const clock = new FrameClock(() => {
        calls++;
        return 1_764_000_000_123;
      });
      const { frame, ts } = encodeStampedFrame(type, f, clock);
      assert.equal(calls, 1);
      assert.equal(ts, 1_764_000_000_123);
      assert.deepEqual(frame, encodeFrame(type, ts, f), `type ${type}`);
    }
  });

  it('leaves proto3 defaults off the wire: initial_feed type, an index ltq, ltpc requestMode', () => {
    const bytes = encodeFrame(TYPE_INITIAL_FEED, 5, {
      ...feeds('ltpc', ['NSE_INDEX|Nifty 50']),
      ...feeds('full', ['NSE_INDEX|Nifty Bank']),
    });
    const { FeedResponse } = feedSchema();
    const o = FeedResponse.toObject(FeedResponse.decode(bytes), { longs: Number }) as any;
    assert.equal('type' in o, false);
    assert.equal(bytes[0], 0x12, 'the first field on the wire is feeds (2), not type (1)');
    const ltpc = o.feeds['NSE_INDEX|Nifty 50'];
    assert.equal('requestMode' in ltpc, false);
    assert.equal('ltq' in ltpc.ltpc, false);
    assert.ok(ltpc.ltpc.ltp > 0 && ltpc.ltpc.cp > 0 && ltpc.ltpc.ltt > 0);
    const full = o.feeds['NSE_INDEX|Nifty Bank'].fullFeed.indexFF;
    assert.equal('ltq' in full.ltpc, false);
    assert.deepEqual(
      full.marketOHLC.ohlc.map((c: any) => [c.interval, 'vol' in c]),
      [
        ['1d', false],
        ['I1', false],
      ],
    );
  });

  it('encodes market_info status names as the V3 enum', () => {
    const frame = decodeFrame(
      marketInfoFrame(
        9,
        new Map([
          ['NSE_EQ', 'NORMAL_OPEN'],
          ['MCX_FO', 'PRE_OPEN_START'],
          ['BSE_EQ', 'CLOSING_END'],
        ]),
      ),
    );
    assert.equal(frame.type, 2);
    assert.deepEqual(frame.marketStatus, { NSE_EQ: 'NORMAL_OPEN', MCX_FO: 'PRE_OPEN_START', BSE_EQ: 'CLOSING_END' });
    assert.throws(
      () => marketInfoFrame(9, new Map([['NSE_EQ', 'open']])),
      /unknown market status "open" for NSE_EQ; use one of PRE_OPEN_START/,
    );
  });

  it('makes malformed frames that the codec rejects', () => {
    for (let i = 0; i < 300; i++) assert.throws(() => decodeFrame(malformedFrame(i)), FrameDecodeError);
  });

  it('never repeats or reverses currentTs, even within one millisecond', () => {
    let t = 1000;
    const frameClock = new FrameClock(() => t);
    const seen: number[] = [];
    for (let i = 0; i < 50; i++) seen.push(frameClock.next());
    t = 1010; // the wall clock catches up and passes
    seen.push(frameClock.next());
    t = 2000;
    seen.push(frameClock.next());
    t = 1500; // and steps back (NTP)
    seen.push(frameClock.next());
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i] > seen[i - 1], `${seen[i]} after ${seen[i - 1]}`);
    assert.deepEqual(seen.slice(-3), [1050, 2000, 2001]);
  });
});
