/**
 * The data plane's view of an Upstox frame: one plain update per instrument, with the field
 * names of the contract's InfluxDB schema. These objects are built once per frame by the codec
 * and shared, read-only, by the writer and the fan-out; nothing downstream may mutate them.
 */

/** Which V3 message carried the instrument: it decides which fields are meaningful. */
export const FeedKind = {
  /** `Feed.ltpc`: ltp, ltt, ltq, cp only. */
  Ltpc: 0,
  /** `FullFeed.marketFF`: LTPC plus depth, atp/vtt/oi/iv/tbq/tsq, greeks (options), candles. */
  MarketFull: 1,
  /** `FullFeed.indexFF`: LTPC and candles; an index has no depth and no volume. */
  IndexFull: 2,
  /** `Feed.firstLevelWithGreeks` (option_greeks mode): LTPC, best bid/ask, greeks, vtt/oi/iv. */
  FirstLevelGreeks: 3,
} as const;
export type FeedKind = (typeof FeedKind)[keyof typeof FeedKind];

export const FrameType = { initial_feed: 0, live_feed: 1, market_info: 2 } as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** `MarketStatus` of the proto, by wire number. */
export const MARKET_STATUS_NAMES = [
  'PRE_OPEN_START',
  'PRE_OPEN_END',
  'NORMAL_OPEN',
  'NORMAL_CLOSE',
  'CLOSING_START',
  'CLOSING_END',
] as const;

export interface Candle {
  interval: string;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  ts: number;
}

export interface Greeks {
  delta: number;
  theta: number;
  gamma: number;
  vega: number;
  rho: number;
}

/**
 * One instrument in one frame. A class (not an object literal) so every update shares one
 * hidden class and the per-frame loops downstream stay monomorphic.
 */
export class TickUpdate {
  key = '';
  /** The key's part before `|`, e.g. `NSE_EQ`. */
  segment = '';
  /** The frame's `currentTs` (ms since the epoch). */
  ts = 0;
  kind: FeedKind = FeedKind.Ltpc;
  /** `Feed.requestMode` wire number (the proto's RequestMode: 0 ltpc, 1 full_d5, 2 option_greeks, 3 full_d30). */
  requestMode = 0;
  ltp = 0;
  ltt = 0;
  ltq = 0;
  cp = 0;
  /** Meaningful for MarketFull (all six) and FirstLevelGreeks (vtt, oi, iv). */
  atp = 0;
  vtt = 0;
  oi = 0;
  iv = 0;
  tbq = 0;
  tsq = 0;
  /** Depth as flat quads `[bidQ, bidP, askQ, askP, ...]`, level 1 first; empty when absent. */
  depth: number[] = NO_DEPTH;
  greeks: Greeks | null = null;
  candles: Candle[] | null = null;
}

const NO_DEPTH: number[] = [];
Object.freeze(NO_DEPTH);

/** What the codec makes of one websocket frame. */
export interface DecodedFrame {
  type: FrameType;
  /** `currentTs`, ms since the epoch (0 when the frame has none). */
  ts: number;
  updates: TickUpdate[];
  /** `segment -> status name` from a `market_info` frame (or any frame carrying marketInfo). */
  marketStatus: Record<string, string> | null;
}
