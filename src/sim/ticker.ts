/**
 * The simulator's two clocks: live frames every frameIntervalMs, pings every pingIntervalMs.
 * One timer each for all sessions; a stall simply skips the beat.
 */
import type { SimContext } from './context.js';

export class Ticker {
  private frameTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ctx: SimContext,
    private readonly pingIntervalMs: number,
  ) {}

  start(): void {
    this.frameTimer = setInterval(() => this.frame(), this.ctx.frameIntervalMs);
    this.pingTimer = setInterval(() => this.ping(), this.pingIntervalMs);
  }

  stop(): void {
    clearInterval(this.frameTimer);
    clearInterval(this.pingTimer);
  }

  private frame(): void {
    if (this.ctx.faults.stalled) return;
    const now = performance.now();
    for (const session of this.ctx.sessions) session.live(now);
  }

  private ping(): void {
    if (this.ctx.faults.stalled) return;
    for (const session of this.ctx.sessions) session.ping();
  }
}
