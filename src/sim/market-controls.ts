/**
 * The market half of the Simulator API beyond faults: market time, candles as the candle API
 * serves them, the instrument file, and moving a price.
 */
import type { SimContext } from './context.js';
import type { Simulator } from './types.js';

export type MarketControls = Pick<Simulator, 'now' | 'candles' | 'candleRequests' | 'instrumentFile' | 'setPrice'>;

export function marketControls(ctx: SimContext): MarketControls {
  return {
    now: () => ctx.now(),
    candles: (key) =>
      ctx.market
        .get(key)
        .history.map((c) => ({ ts: c.ts, open: c.open, high: c.high, low: c.low, close: c.close, volume: c.vol, oi: c.oi })),
    candleRequests: () => ctx.candleLog.list(),
    instrumentFile: () => ctx.instrumentBook.list(ctx.now()),
    setPrice: (key, price) => {
      ctx.market.get(key).setLevel(price);
      ctx.log.info({ key, price }, 'price set');
    },
  };
}
