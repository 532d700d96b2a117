/**
 * TickUpdate → the JSON text of a /ticks message (README "/ticks for strategy scripts"), built by string
 * concatenation in one pass: it runs once per update and the result goes to every client.
 * Field names are those of the InfluxDB schema; which fields appear depends on the feed kind.
 */
import { FeedKind, type TickUpdate } from '../upstox/feed-types.js';
// JSON number: non-finite values (never sent by Upstox, but never trust a wire) become null.
import { jsonNumber as num } from './json-number.js';

/** `symbolField`: `,"symbol":"RELIANCE"` for instruments the master knows (built once per key by the caller), else ''. */
export function tickJson(u: TickUpdate, snapshot = false, symbolField = ''): string {
  let s = '{"type":"tick"';
  if (snapshot) s += ',"snapshot":true';
  s += ',"key":' + JSON.stringify(u.key) + symbolField + ',"ts":' + num(u.ts);
  s += ',"ltp":' + num(u.ltp) + ',"ltt":' + num(u.ltt) + ',"ltq":' + num(u.ltq) + ',"cp":' + num(u.cp);
  const kind = u.kind;
  if (kind === FeedKind.MarketFull) {
    s += ',"atp":' + num(u.atp) + ',"vtt":' + num(u.vtt) + ',"oi":' + num(u.oi) + ',"iv":' + num(u.iv);
    s += ',"tbq":' + num(u.tbq) + ',"tsq":' + num(u.tsq);
  } else if (kind === FeedKind.FirstLevelGreeks) {
    s += ',"vtt":' + num(u.vtt) + ',"oi":' + num(u.oi) + ',"iv":' + num(u.iv);
  }
  const d = u.depth;
  for (let i = 0, level = 1; i + 3 < d.length; i += 4, level++) {
    s += ',"bid_qty_' + level + '":' + num(d[i]) + ',"bid_price_' + level + '":' + num(d[i + 1]);
    s += ',"ask_qty_' + level + '":' + num(d[i + 2]) + ',"ask_price_' + level + '":' + num(d[i + 3]);
  }
  const g = u.greeks;
  if (g) {
    s += ',"delta":' + num(g.delta) + ',"theta":' + num(g.theta) + ',"gamma":' + num(g.gamma);
    s += ',"vega":' + num(g.vega) + ',"rho":' + num(g.rho);
  }
  const c = u.candles;
  if (c && c.length > 0) {
    s += ',"candles":[';
    for (let i = 0; i < c.length; i++) {
      const k = c[i];
      if (i > 0) s += ',';
      s += '{"interval":' + JSON.stringify(k.interval) + ',"open":' + num(k.open) + ',"high":' + num(k.high);
      s += ',"low":' + num(k.low) + ',"close":' + num(k.close) + ',"volume":' + num(k.volume) + ',"ts":' + num(k.ts) + '}';
    }
    s += ']';
  }
  return s + '}';
}

export function marketStatusJson(segments: Record<string, string>, ts: number): string {
  return JSON.stringify({ type: 'market_status', segments, ts });
}
