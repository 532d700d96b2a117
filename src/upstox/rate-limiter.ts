/**
 * Paces requests under several sliding windows at once (Upstox's candle API: about 50 per second
 * and 500 per minute per user). `reserve()` books the earliest slot every window allows and says
 * how long to wait for it, so callers that share a limiter queue up in order without polling.
 * A 429 despite the pacing (another client of the same user) is answered by `pauseUntil`.
 */
export interface RateWindow {
  max: number;
  windowMs: number;
}

export const UPSTOX_CANDLE_LIMITS: readonly RateWindow[] = [
  { max: 50, windowMs: 1000 },
  { max: 500, windowMs: 60_000 },
];

export class RateLimiter {
  /** Booked slot times, ascending; pruned to the longest window. */
  private readonly slots: number[] = [];
  private pausedUntil = 0;
  private readonly longest: number;

  constructor(
    private readonly windows: readonly RateWindow[],
    private readonly now: () => number = Date.now,
  ) {
    this.longest = Math.max(0, ...windows.map((w) => w.windowMs));
  }

  /** Books the next slot; resolves to the milliseconds to wait before using it (0: go now). */
  reserve(): number {
    const now = this.now();
    let t = Math.max(now, this.pausedUntil, this.slots[this.slots.length - 1] ?? 0);
    // Each window may push t later, which can matter to another window: repeat until stable.
    for (let changed = true; changed;) {
      changed = false;
      for (const w of this.windows) {
        const inWindow = this.countSince(t - w.windowMs);
        if (inWindow >= w.max) {
          const next = this.slots[this.slots.length - w.max] + w.windowMs;
          if (next > t) {
            t = next;
            changed = true;
          }
        }
      }
    }
    this.slots.push(t);
    while (this.slots.length > 0 && this.slots[0] <= now - this.longest) this.slots.shift();
    return t - now;
  }

  /** No slot before `at` (after a 429). */
  pauseUntil(at: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, at);
  }

  /** Booked slots strictly after `since`. */
  private countSince(since: number): number {
    let n = 0;
    for (let i = this.slots.length - 1; i >= 0 && this.slots[i] > since; i--) n++;
    return n;
  }
}
