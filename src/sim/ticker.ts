/**
 * The simulator's two clocks: live frames every frameIntervalMs, pings every pingIntervalMs.
 * One timer each for all sessions; a stall simply skips the beat (the background market does not).
 */
import { segmentOf } from '../upstox/codec.js';
import type { SimContext } from './context.js';

/**
 * Real ms between trades of undelivered keys: at a 60x clock still several trades per market
 * minute, and cheap with thousands of keys.
 */
const BACKGROUND_INTERVAL_MS = 50;

export class Ticker {
  private lastBackground = 0;
  private frameTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ctx: SimContext,
    private readonly pingIntervalMs: number,
  ) {}

  start(): void {
    this.followTradingHours();
    this.frameTimer = setInterval(() => this.frame(), this.ctx.frameIntervalMs);
    this.pingTimer = setInterval(() => this.ping(), this.pingIntervalMs);
  }

  stop(): void {
    clearInterval(this.frameTimer);
    clearInterval(this.pingTimer);
  }

  private frame(): void {
    const now = performance.now();
    if (!this.ctx.faults.stalled) for (const session of this.ctx.sessions) session.live(now);
    if (now - this.lastBackground >= BACKGROUND_INTERVAL_MS) {
      this.lastBackground = now;
      this.followTradingHours();
      this.background();
    }
  }

  /**
   * The market does not wait for a client: every key the market knows that no socket is
   * delivering (nobody connected, a stall, a dead or garbage socket, unsubscribed) trades once
   * per BACKGROUND_INTERVAL_MS while its segment is live, so minute candles keep accumulating
   * for the candle API. Delivered keys trade only as their socket streams them, so every trade
   * of theirs is seen.
   */
  private background(): void {
    const delivering = [...this.ctx.sessions].filter((s) => s.delivering);
    for (const key of [...this.ctx.market.keys()]) {
      if (delivering.some((s) => s.subscription.has(key))) continue;
      if (this.ctx.marketStatus.isLive(segmentOf(key))) this.ctx.market.trade(key);
    }
  }

  /** With followTradingHours, scheduled open/close transitions go out as market_info frames. */
  private followTradingHours(): void {
    if (!this.ctx.tradingHours) return;
    const changes = this.ctx.tradingHours.apply(this.ctx.marketStatus, this.ctx.now());
    if (Object.keys(changes).length === 0) return;
    this.ctx.log.info({ changes }, 'market status follows the clock');
    for (const session of this.ctx.sessions) if (session.isOpen) session.sendMarketInfo();
  }

  private ping(): void {
    if (this.ctx.faults.stalled) return;
    for (const session of this.ctx.sessions) session.ping();
  }
}
