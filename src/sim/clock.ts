/**
 * The simulator's market clock. Everything market-side (frame currentTs, trade times, minute and
 * day candles, candle history, option expiries in the instrument file) reads time from one
 * `now()`, so a test can run simulated minutes in real seconds or set time outright. Socket-level
 * timing (frame and ping intervals, redirect-code lifetime, fault durations) stays on real time:
 * those are about the client's real timers, not about the market.
 */

/** What the simulator reads market time from; epoch milliseconds. */
export interface SimClock {
  now(): number;
}

export interface ClockOptions {
  clock?: SimClock;
  startAt?: number;
  timeScale?: number;
}

/**
 * `startAt` (epoch ms, default now) and `timeScale` (simulated ms per real ms, default 1): the
 * clock starts at startAt and runs timeScale times faster than the wall clock.
 */
export function scaledClock(startAt: number = Date.now(), timeScale = 1, realNow: () => number = Date.now): SimClock {
  if (!Number.isFinite(startAt)) throw new TypeError(`simulator option startAt must be epoch milliseconds, got ${String(startAt)}`);
  if (!Number.isFinite(timeScale) || timeScale <= 0)
    throw new TypeError(`simulator option timeScale must be a positive number, got ${String(timeScale)}`);
  const realStart = realNow();
  return { now: () => startAt + Math.floor((realNow() - realStart) * timeScale) };
}

/** A clock a test moves by hand: `set(ms)` or `advance(ms)`. Time never moves on its own. */
export class ManualClock implements SimClock {
  constructor(private t: number = Date.now()) {}
  now(): number {
    return this.t;
  }
  set(ms: number): void {
    this.t = ms;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

/** The clock SimulatorOptions asks for: an injected one, a scaled one, or the wall clock. */
export function clockFrom(opts: ClockOptions): () => number {
  if (opts.clock) {
    if (opts.startAt !== undefined || opts.timeScale !== undefined)
      throw new TypeError('simulator options clock and startAt/timeScale exclude each other: pass one or the other');
    const clock = opts.clock;
    return () => clock.now();
  }
  if (opts.startAt === undefined && opts.timeScale === undefined) return Date.now;
  const clock = scaledClock(opts.startAt, opts.timeScale);
  return () => clock.now();
}
