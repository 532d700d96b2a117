import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tickJson } from '../../src/fanout/tick-json.js';
import { LineProtocolBuilder, PointBatch } from '../../src/influx/line-protocol.js';
import { FeedKind, FrameType, TickUpdate } from '../../src/upstox/feed-types.js';

function update(key: string, ltp: number): TickUpdate {
  const u = new TickUpdate();
  u.key = key;
  u.segment = key.slice(0, key.indexOf('|'));
  u.kind = FeedKind.Ltpc;
  u.ltp = ltp;
  u.ts = 1_764_000_000_000;
  return u;
}

describe('the symbol tag and field', () => {
  const symbols = new Map([
    ['NSE_EQ|INE002A01018', 'RELIANCE'],
    ['NSE_FO|1', 'NIFTY 24000 CE 01 DEC 26'],
  ]);

  it('tick and candle points of known instruments carry symbol (escaped); unknown ones do not', () => {
    const b = new LineProtocolBuilder({ source: 'test' }, (k) => symbols.get(k));
    const batch = new PointBatch();
    const fo = update('NSE_FO|1', 101.5);
    fo.candles = [{ interval: 'I1', open: 1, high: 2, low: 0.5, close: 1.5, volume: 10, ts: 1_764_000_000_000 }];
    b.appendFrame(
      {
        type: FrameType.live_feed,
        ts: 1_764_000_000_000,
        updates: [update('NSE_EQ|INE002A01018', 1300), fo, update('NSE_EQ|X', 5)],
        marketStatus: null,
      },
      batch,
    );
    assert.deepEqual(
      batch.toLines().map((l) => l.slice(0, l.indexOf(' ', l.indexOf('source=')))),
      [
        'tick,instrument_key=NSE_EQ|INE002A01018,segment=NSE_EQ,symbol=RELIANCE,source=test',
        'tick,instrument_key=NSE_FO|1,segment=NSE_FO,symbol=NIFTY\\ 24000\\ CE\\ 01\\ DEC\\ 26,source=test',
        'tick,instrument_key=NSE_EQ|X,segment=NSE_EQ,source=test',
        // Candles are held until the batch is sealed (each written once per batch), so they come last.
        'candle,instrument_key=NSE_FO|1,interval=I1,segment=NSE_FO,symbol=NIFTY\\ 24000\\ CE\\ 01\\ DEC\\ 26,source=test',
      ],
    );
  });

  it('a master that learns a key later tags it once told the symbols changed', () => {
    const known = new Map<string, string>();
    const b = new LineProtocolBuilder({}, (k) => known.get(k));
    const frame = { type: FrameType.live_feed, ts: 1, updates: [update('NSE_EQ|X', 5)], marketStatus: null };
    const first = new PointBatch();
    b.appendFrame(frame, first);
    assert.ok(!first.toLines()[0].includes('symbol='));
    known.set('NSE_EQ|X', 'XCORP');
    b.symbolsChanged();
    const second = new PointBatch();
    b.appendFrame(frame, second);
    assert.match(second.toLines()[0], /^tick,instrument_key=NSE_EQ\|X,segment=NSE_EQ,symbol=XCORP /);
    // Same series, same millisecond: still one microsecond after the point before the change.
    const ts = (line: string) => Number(line.slice(line.lastIndexOf(' ') + 1));
    assert.equal(ts(second.toLines()[0]), ts(first.toLines()[0]) + 1);
  });

  it('tick messages carry "symbol" right after "key" when given', () => {
    const u = update('NSE_EQ|INE002A01018', 1300);
    const m = JSON.parse(tickJson(u, false, ',"symbol":"RELIANCE"')) as Record<string, unknown>;
    assert.equal(m.symbol, 'RELIANCE');
    assert.equal(m.key, 'NSE_EQ|INE002A01018');
    assert.equal((JSON.parse(tickJson(u)) as Record<string, unknown>).symbol, undefined);
  });
});
