import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Fanout, type TickBus } from '../../src/fanout/fanout.js';
import { marketStatusJson, tickJson } from '../../src/fanout/tick-json.js';
import { createLogger } from '../../src/logger.js';
import { Stats } from '../../src/stats.js';
import { type DecodedFrame, FrameType, TickUpdate } from '../../src/upstox/feed-types.js';

function update(key: string, ts: number, ltp: number): TickUpdate {
  const u = new TickUpdate();
  u.key = key;
  u.segment = key.split('|')[0]!;
  u.ts = ts;
  u.ltp = ltp;
  u.ltt = ts;
  u.ltq = 1;
  u.cp = 99;
  return u;
}

function recordingBus() {
  const got: Array<{ kind: string; key?: string; ts: number; json: string }> = [];
  const bus: TickBus = {
    tick: (key, ts, payload) => void got.push({ kind: 'tick', key, ts, json: payload.toString('utf8') }),
    marketStatus: (ts, payload) => void got.push({ kind: 'status', ts, json: payload.toString('utf8') }),
  };
  return { bus, got };
}

describe('fan-out bus (what NATS publishes)', () => {
  it('gets every update of every frame as the /ticks JSON, with no /ticks client connected', () => {
    const fanout = new Fanout({ stats: new Stats(), logger: createLogger('silent'), maxBufferedBytes: 1 << 20, feedKeys: () => new Set() });
    const { bus, got } = recordingBus();
    fanout.attachBus(bus);
    const status: DecodedFrame = { type: FrameType.market_info, ts: 5, updates: [], marketStatus: { NSE_EQ: 'NORMAL_OPEN' } };
    const a = update('NSE_EQ|A', 10, 1.5);
    const b = update('NSE_INDEX|Nifty Bank', 10, 2.5);
    const c = update('NSE_EQ|A', 11, 1.75);
    fanout.publish(status);
    fanout.publish({ type: FrameType.live_feed, ts: 10, updates: [a, b], marketStatus: null });
    fanout.publish({ type: FrameType.live_feed, ts: 11, updates: [c], marketStatus: null });
    assert.deepEqual(got, [
      { kind: 'status', ts: 5, json: marketStatusJson({ NSE_EQ: 'NORMAL_OPEN' }, 5) },
      { kind: 'tick', key: 'NSE_EQ|A', ts: 10, json: tickJson(a) },
      { kind: 'tick', key: 'NSE_INDEX|Nifty Bank', ts: 10, json: tickJson(b) },
      { kind: 'tick', key: 'NSE_EQ|A', ts: 11, json: tickJson(c) },
    ]);
    assert.deepEqual(JSON.parse(got[1].json), { type: 'tick', key: 'NSE_EQ|A', ts: 10, ltp: 1.5, ltt: 10, ltq: 1, cp: 99 });
  });

  it('without a bus nothing is built for keys no client wants (the old cost)', () => {
    const fanout = new Fanout({ stats: new Stats(), logger: createLogger('silent'), maxBufferedBytes: 1 << 20, feedKeys: () => new Set() });
    const u = update('NSE_EQ|A', 10, 1);
    let reads = 0;
    Object.defineProperty(u, 'ltp', { get: () => (reads++, 1) });
    fanout.publish({ type: FrameType.live_feed, ts: 10, updates: [u], marketStatus: null });
    assert.equal(reads, 0);
  });
});
