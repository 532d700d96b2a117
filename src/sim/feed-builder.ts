/**
 * Instrument state → a V3 `Feed` message as a plain object (proto field names, enums as numbers)
 * ready for `FeedResponse.encode`. Fields at their proto3 default are left out, because
 * protobufjs would otherwise write an explicit zero and the real server does not (the contract
 * pins "absent on the wire", e.g. the ltq of an index).
 */
import type { FeedMode } from '../config.js';
import type { Candle, InstrumentState } from './market.js';
import { randInt } from './prng.js';

type Msg = Record<string, unknown>;

/** `RequestMode` wire numbers of the subscription modes. */
export const REQUEST_MODE: Record<FeedMode, number> = { ltpc: 0, full: 1, option_greeks: 2, full_d30: 3 };
export const DEPTH_LEVELS: Record<FeedMode, number> = { ltpc: 0, full: 5, option_greeks: 1, full_d30: 30 };

function put(msg: Msg, field: string, value: number): void {
  if (value !== 0) msg[field] = value;
}

function ltpcMsg(s: InstrumentState): Msg {
  const m: Msg = {};
  put(m, 'ltp', s.ltp);
  put(m, 'ltt', s.ltt);
  put(m, 'ltq', s.ltq);
  put(m, 'cp', s.cp);
  return m;
}

function candleMsg(interval: string, c: Candle): Msg {
  const m: Msg = { interval };
  put(m, 'open', c.open);
  put(m, 'high', c.high);
  put(m, 'low', c.low);
  put(m, 'close', c.close);
  put(m, 'vol', c.vol);
  put(m, 'ts', c.ts);
  return m;
}

function ohlcMsg(s: InstrumentState): Msg {
  return { ohlc: [candleMsg('1d', s.day), candleMsg('I1', s.minute)] };
}

/** Best `levels` bids and asks around the last price; sizes are noise in whole lots. */
function quotes(s: InstrumentState, levels: number): Msg[] {
  const out = new Array<Msg>(levels);
  for (let i = 0; i < levels; i++) {
    out[i] = {
      bidQ: randInt(s.noise, 1, 200) * s.lot,
      bidP: s.roundToTick(s.ltp - s.tick * (i + 1)),
      askQ: randInt(s.noise, 1, 200) * s.lot,
      askP: s.roundToTick(s.ltp + s.tick * (i + 1)),
    };
  }
  return out;
}

const round4 = (x: number): number => Math.round(x * 10_000) / 10_000;

/** Plausible greeks: delta follows the premium's move from the previous close; calls and puts by key. */
function greeksMsg(s: InstrumentState): Msg {
  const moneyness = s.ltp / s.cp - 1;
  const callDelta = Math.min(0.98, Math.max(0.02, 0.5 + moneyness * 0.5));
  const isCall = (s.key.charCodeAt(s.key.length - 1) & 1) === 0;
  const delta = isCall ? callDelta : callDelta - 1;
  const m: Msg = {};
  put(m, 'delta', round4(delta));
  put(m, 'theta', round4(-s.ltp * 0.03));
  put(m, 'gamma', round4(0.0004 + (1 - Math.abs(delta)) * 0.001));
  put(m, 'vega', round4(s.ltp * 0.08));
  put(m, 'rho', round4(delta * 0.12));
  return m;
}

function marketFullMsg(s: InstrumentState, levels: number): Msg {
  const m: Msg = {
    ltpc: ltpcMsg(s),
    marketLevel: { bidAskQuote: quotes(s, levels) },
    marketOHLC: ohlcMsg(s),
  };
  if (s.cls === 'option') m.optionGreeks = greeksMsg(s);
  put(m, 'atp', s.atp);
  put(m, 'vtt', s.vtt);
  put(m, 'oi', s.oi);
  put(m, 'iv', round4(s.iv));
  put(m, 'tbq', s.tbq);
  put(m, 'tsq', s.tsq);
  return m;
}

function firstLevelMsg(s: InstrumentState): Msg {
  const m: Msg = { ltpc: ltpcMsg(s) };
  if (s.cls === 'index') return m;
  m.firstDepth = quotes(s, 1)[0];
  if (s.cls === 'option') m.optionGreeks = greeksMsg(s);
  put(m, 'vtt', s.vtt);
  put(m, 'oi', s.oi);
  put(m, 'iv', round4(s.iv));
  return m;
}

/** The `Feed` for one instrument in `mode`. */
export function buildFeed(s: InstrumentState, mode: FeedMode): Msg {
  const feed: Msg = {};
  switch (mode) {
    case 'ltpc':
      feed.ltpc = ltpcMsg(s);
      break;
    case 'option_greeks':
      feed.firstLevelWithGreeks = firstLevelMsg(s);
      break;
    case 'full':
    case 'full_d30':
      feed.fullFeed =
        s.cls === 'index' ? { indexFF: { ltpc: ltpcMsg(s), marketOHLC: ohlcMsg(s) } } : { marketFF: marketFullMsg(s, DEPTH_LEVELS[mode]) };
      break;
  }
  put(feed, 'requestMode', REQUEST_MODE[mode]);
  return feed;
}
