/**
 * Upstox's time as tickpipe last heard it: the newest frame's `currentTs` plus the local time
 * elapsed since it arrived. Gap bounds and candle minutes are in Upstox's time (candles are
 * stamped by the exchange's clock), so a local clock that drifts, or a simulator whose market runs
 * faster than real time, still yields the right minutes. Before the first frame: the local clock.
 */
export class ServerClock {
  private ts = 0;
  private at = 0;
  constructor(private readonly local: () => number = Date.now) {}

  /** Per frame: two assignments. */
  noteFrame(currentTs: number): void {
    if (!(currentTs > 0)) return;
    this.ts = currentTs;
    this.at = this.local();
  }

  /** The newest frame's time (0 before any). */
  lastFrameAt(): number {
    return this.ts;
  }

  now(): number {
    return this.ts > 0 ? this.ts + (this.local() - this.at) : this.local();
  }
}
