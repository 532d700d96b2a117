/**
 * The simulator keeps its configured rate when its frame timer fires late (a busy machine): the
 * updates a late beat owes go out as a second frame when the rate fits one frame per interval,
 * and a rate above what the keys can carry (each key once per frame) stays capped as before.
 * Driven with explicit timer times (FeedSession.live(now)) and a socket that records frames.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import type { WebSocket } from 'ws';
import { buildContext } from '../../src/sim/context.js';
import { FeedSession } from '../../src/sim/session.js';
import { decodeFrame } from '../../src/upstox/codec.js';
import { FrameType } from '../../src/upstox/feed-types.js';

class RecordingSocket extends EventEmitter {
  readyState = 1;
  bufferedAmount = 0;
  readonly frames: Buffer[] = [];
  send(frame: Buffer, _opts: unknown, cb?: (err?: Error) => void): void {
    this.frames.push(frame);
    cb?.();
  }
  pong(): void {}
}

/** Live updates per frame after `beats` timer beats `everyMs` apart. */
function run(opts: { rate: number; keys: number; intervalMs: number; everyMs: number; beats: number }): number[] {
  const ctx = buildContext({ updatesPerSecond: opts.rate, frameIntervalMs: opts.intervalMs });
  const ws = new RecordingSocket();
  const session = new FeedSession(1, ws as unknown as WebSocket, ctx);
  const keys = Array.from({ length: opts.keys }, (_, i) => `NSE_EQ|R${i}`);
  ws.emit('message', Buffer.from(JSON.stringify({ guid: 'g', method: 'sub', data: { mode: 'ltpc', instrumentKeys: keys } })), false);
  // A first beat settles the time since the session started; the beats counted start there.
  const start = performance.now();
  session.live(start);
  const before = ws.frames.length;
  for (let i = 1; i <= opts.beats; i++) session.live(start + i * opts.everyMs);
  return ws.frames
    .slice(before)
    .map((f) => decodeFrame(f))
    .filter((f) => f.type === FrameType.live_feed)
    .map((f) => f.updates.length);
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

describe('simulator rate under a late frame timer', () => {
  it('20,000 updates/s over 200 keys every 10 ms holds its rate when the timer beats every 15 ms', () => {
    const perFrame = run({ rate: 20_000, keys: 200, intervalMs: 10, everyMs: 15, beats: 100 });
    // 1.5 s at 20,000/s; the budget carries fractions, so within one update of 30,000.
    assert.ok(Math.abs(sum(perFrame) - 30_000) <= 1, `sent ${sum(perFrame)}`);
    assert.ok(
      perFrame.every((n) => n <= 200),
      'each key at most once per frame',
    );
    assert.equal(perFrame.length, 200, 'two frames per late beat');
  });

  it('on time, one frame per beat with every key', () => {
    const perFrame = run({ rate: 20_000, keys: 200, intervalMs: 10, everyMs: 10, beats: 50 });
    assert.equal(perFrame.length, 50);
    assert.ok(perFrame.every((n) => n === 200));
  });

  it('a rate the keys cannot carry stays capped at each key once per beat', () => {
    const perFrame = run({ rate: 20_000, keys: 50, intervalMs: 10, everyMs: 15, beats: 40 });
    assert.equal(perFrame.length, 40, 'one frame per beat');
    assert.ok(perFrame.every((n) => n === 50));
  });
});
