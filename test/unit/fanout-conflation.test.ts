/**
 * A conflated /ticks client keeps the latest message per key. Live messages are views into one
 * Buffer per frame (src/fanout/tick-frames.ts): the kept ones must be copies, or a slow client of
 * many keys would hold a whole frame's Buffer per key until it is dropped. So must be what a
 * client of some keys is sent: its queue may hold hundreds of messages.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { WebSocket } from 'ws';
import { Fanout } from '../../src/fanout/fanout.js';
import { tickJson } from '../../src/fanout/tick-json.js';
import { createLogger } from '../../src/logger.js';
import { Stats } from '../../src/stats.js';
import { type DecodedFrame, FeedKind, FrameType, TickUpdate } from '../../src/upstox/feed-types.js';

/** A websocket whose queue is as long as the test says, and a TCP socket that takes every write. */
function fakeSocket() {
  const written: Buffer[] = [];
  const socket = {
    readyState: 1,
    OPEN: 1,
    bufferedAmount: 0,
    extensions: '',
    on() {},
    send() {},
    _socket: { cork() {}, uncork() {}, write: (b: Buffer) => written.push(b) > 0 },
  };
  return { socket, ws: socket as unknown as WebSocket, written };
}

function frame(ts: number, keys: string[]): DecodedFrame {
  const updates = keys.map((key) => {
    const u = new TickUpdate();
    u.key = key;
    u.ts = ts;
    u.kind = FeedKind.MarketFull;
    u.ltp = 100 + Number(key.slice('NSE_EQ|K'.length)) / 100;
    u.depth = Array.from({ length: 20 }, (_, d) => d + 0.05);
    return u;
  });
  return { type: FrameType.live_feed, ts, updates, marketStatus: null };
}

describe('fan-out conflation', () => {
  it("keeps copies of a slow client's latest messages, not views of the frames' Buffers", () => {
    const keys = Array.from({ length: 200 }, (_, i) => `NSE_EQ|K${i}`);
    const fanout = new Fanout({
      stats: new Stats(),
      logger: createLogger('silent'),
      maxBufferedBytes: 1 << 30,
      feedKeys: () => new Set(keys),
    });
    const all = fakeSocket();
    const some = fakeSocket();
    const a = fanout.add(all.ws);
    const s = fanout.add(some.ws);
    fanout.subscribe(a, ['*']);
    fanout.subscribe(s, keys.slice(0, 50));
    fanout.publish(frame(1, keys));
    assert.ok(all.written.length > 0 && some.written.length === 50);
    // A client of some keys is sent copies too: its queue must not hold frames either.
    for (const b of some.written) assert.ok(b.buffer.byteLength <= 8192, `sent from a ${b.buffer.byteLength}-byte buffer`);
    // Both clients fall behind; each later frame carries a different part of the keys.
    all.socket.bufferedAmount = some.socket.bufferedAmount = 1 << 20;
    for (let f = 0; f < 10; f++) fanout.publish(frame(2 + f, keys.slice(f * 20, f * 20 + 20)));
    for (const c of [a, s]) {
      assert.ok(c.pending !== null && c.pending.size > 0);
      for (const [key, payload] of c.pending) {
        assert.ok(Buffer.isBuffer(payload));
        // A copy sits in Node's small-buffer pool (8 KiB) or its own; a frame's Buffer is ~20x larger.
        assert.ok(payload.buffer.byteLength <= 8192, `${key}: kept in a ${payload.buffer.byteLength}-byte buffer`);
        const u = frame(0, keys).updates.find((x) => x.key === key)!;
        u.ts = JSON.parse(payload.toString()).ts as number;
        assert.equal(payload.toString(), tickJson(u));
      }
    }
    assert.equal(a.pending!.size, 200);
    assert.equal(s.pending!.size, 50);
  });
});
