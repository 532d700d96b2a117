/**
 * The underlyings' last prices, taken from the data plane for the chains actor. Per update it
 * costs one Set lookup (only watched keys are stored); the actor hears a PRICE event at most once
 * per `intervalMs` per chain, and only when the price changed: ticks never become events.
 * A PRICE carries the frame's `currentTs` (the exchange's time) as `at`, so expiry and roll
 * decisions follow market time; the local clock only when a frame has none.
 */
import { fromCallback } from 'xstate';
import type { ChainEvent } from '../../machines/events.js';
import type { DecodedFrame } from '../upstox/feed-types.js';

export interface Timers {
  now: () => number;
  setInterval: (fn: () => void, ms: number) => unknown;
  clearInterval: (handle: unknown) => void;
}

const realTimers: Timers = {
  now: () => Date.now(),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (h) => clearInterval(h as NodeJS.Timeout),
};

export class LastPrices {
  private readonly watched = new Set<string>();
  private readonly prices = new Map<string, { ltp: number; at: number }>();

  /** Data plane: called for every frame (cheap when nothing is watched). */
  observe(frame: DecodedFrame, now: () => number = Date.now): void {
    if (this.watched.size === 0) return;
    const updates = frame.updates;
    for (let i = 0; i < updates.length; i++) {
      const u = updates[i];
      if (this.watched.has(u.key) && Number.isFinite(u.ltp) && u.ltp > 0) {
        this.prices.set(u.key, { ltp: u.ltp, at: frame.ts > 0 ? frame.ts : now() });
      }
    }
  }

  get(key: string): number | undefined {
    return this.prices.get(key)?.ltp;
  }

  watch(key: string): void {
    this.watched.add(key);
  }

  /** The chain machine's `watchPrice` actor: samples the key's price and sends PRICE on change. */
  actor(intervalMs: number, timers: Timers = realTimers) {
    return fromCallback<ChainEvent, { key: string }>(({ sendBack, input }) => {
      this.watch(input.key);
      let last: number | undefined;
      const tick = () => {
        const p = this.prices.get(input.key);
        if (p === undefined || p.ltp === last) return;
        last = p.ltp;
        sendBack({ type: 'PRICE', ltp: p.ltp, at: p.at });
      };
      tick();
      const h = timers.setInterval(tick, intervalMs);
      return () => timers.clearInterval(h);
    });
  }
}
