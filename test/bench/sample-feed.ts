/**
 * One full-mode instrument as the V3 `Feed` message the benchmarks encode: LTPC, `levels` of
 * depth, a daily and a minute candle, atp/vtt/oi/iv/tbq/tsq; `i` varies the price and ltt.
 */
export function fullFeed(i: number, levels: number) {
  return {
    fullFeed: {
      marketFF: {
        ltpc: { ltp: 2500 + i / 100, ltt: 1_732_000_000_000 + i, ltq: 25, cp: 2490.5 },
        marketLevel: {
          bidAskQuote: Array.from({ length: levels }, (_, l) => ({
            bidQ: 100 + l,
            bidP: 2500 - l * 0.05,
            askQ: 90 + l,
            askP: 2500.05 + l * 0.05,
          })),
        },
        marketOHLC: {
          ohlc: [
            { interval: '1d', open: 2480, high: 2510, low: 2475, close: 2500, vol: 1_234_567, ts: 1_731_954_600_000 },
            { interval: 'I1', open: 2499, high: 2501, low: 2498.5, close: 2500, vol: 12_345, ts: 1_732_000_000_000 },
          ],
        },
        atp: 2495.3,
        vtt: 9_876_543,
        oi: 0,
        iv: 0,
        tbq: 123_456,
        tsq: 234_567,
      },
    },
    requestMode: 1,
  };
}
