/**
 * The underlyings' last prices, taken from the data plane for the chains actor. Per update it
 * costs one Set lookup (only watched keys are stored); the actor hears a PRICE event at most once
 * per `intervalMs` per chain, and only when the price changed: ticks never become events.
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
  private readonly prices = new Map<string, number>();

  /** Data plane: called for every frame (cheap when nothing is watched). */
  observe(frame: DecodedFrame): void {
    if (this.watched.size === 0) return;
    const updates = frame.updates;
    for (let i = 0; i < updates.length; i++) {
      const u = updates[i];
      if (this.watched.has(u.key) && Number.isFinite(u.ltp) && u.ltp > 0) this.prices.set(u.key, u.ltp);
    }
  }

  get(key: string): number | undefined {
    return this.prices.get(key);
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
        if (p === undefined || p === last) return;
        last = p;
        sendBack({ type: 'PRICE', ltp: p, at: timers.now() });
      };
      tick();
      const h = timers.setInterval(tick, intervalMs);
      return () => timers.clearInterval(h);
    });
  }
}
