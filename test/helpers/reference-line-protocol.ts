/**
 * The line protocol of the previous version, built string by string (template strings per field,
 * one string per line): the oracle the byte writer is held equal to
 * (test/unit/line-protocol-bytes.test.ts).
 */
import { escapeStringField, escapeTag } from '../../src/influx/line-protocol.js';
import { type Candle, type DecodedFrame, FeedKind, type TickUpdate } from '../../src/upstox/feed-types.js';

function refFloat(name: string, v: number, sep: boolean): string {
  return Number.isFinite(v) ? `${sep ? ',' : ''}${name}=${v}` : '';
}
function refInt(name: string, v: number, sep: boolean): string {
  return Number.isFinite(v) ? `${sep ? ',' : ''}${name}=${Math.trunc(v)}i` : '';
}
function refTickFields(u: TickUpdate): string {
  let f = refFloat('ltp', u.ltp, false);
  f += refInt('ltt', u.ltt, f !== '');
  f += refInt('ltq', u.ltq, f !== '');
  f += refFloat('cp', u.cp, f !== '');
  if (u.kind === FeedKind.MarketFull) {
    f += refFloat('atp', u.atp, f !== '');
    f += refInt('vtt', u.vtt, f !== '');
    f += refFloat('oi', u.oi, f !== '');
    f += refFloat('iv', u.iv, f !== '');
    f += refFloat('tbq', u.tbq, f !== '');
    f += refFloat('tsq', u.tsq, f !== '');
  } else if (u.kind === FeedKind.FirstLevelGreeks) {
    f += refInt('vtt', u.vtt, f !== '');
    f += refFloat('oi', u.oi, f !== '');
    f += refFloat('iv', u.iv, f !== '');
  }
  const d = u.depth;
  for (let i = 0, n = 1; i + 3 < d.length; i += 4, n++) {
    f += refInt(`bid_qty_${n}`, d[i], f !== '');
    f += refFloat(`bid_price_${n}`, d[i + 1], f !== '');
    f += refInt(`ask_qty_${n}`, d[i + 2], f !== '');
    f += refFloat(`ask_price_${n}`, d[i + 3], f !== '');
  }
  const g = u.greeks;
  if (g !== null) for (const k of ['delta', 'theta', 'gamma', 'vega', 'rho'] as const) f += refFloat(k, g[k], f !== '');
  return f;
}
function refCandleFields(k: Candle): string {
  let f = refFloat('open', k.open, false);
  f += refFloat('high', k.high, f !== '');
  f += refFloat('low', k.low, f !== '');
  f += refFloat('close', k.close, f !== '');
  return f + refInt('volume', k.volume, f !== '');
}

/** The previous builder, string by string (one series' in-millisecond sequence per key). */
export function referenceLines(frames: DecodedFrame[], extra: string, symbol: (k: string) => string | undefined): string[] {
  const last = new Map<string, number>();
  const next = (series: string, ms: number) => {
    const base = ms * 1000;
    const l = last.get(series) ?? -1;
    const us = l >= base && l < base + 1000 ? Math.min(l + 1, base + 999) : base;
    last.set(series, us);
    return us;
  };
  const sym = (k: string) => (symbol(k) === undefined ? '' : `,symbol=${escapeTag(symbol(k)!)}`);
  const segOf = new Map<string, string>();
  const out: string[] = [];
  for (const f of frames) {
    for (const seg in f.marketStatus ?? {})
      out.push(
        `market_status,segment=${escapeTag(seg)}${extra} status="${escapeStringField(f.marketStatus![seg])}" ${next(`s:${seg}`, f.ts)}`,
      );
    for (const u of f.updates) {
      if (!segOf.has(u.key)) segOf.set(u.key, u.segment);
      const fields = refTickFields(u);
      if (fields !== '')
        out.push(
          `tick,instrument_key=${escapeTag(u.key)},segment=${escapeTag(segOf.get(u.key)!)}${sym(u.key)}${extra} ${fields} ${next(u.key, f.ts)}`,
        );
      for (const k of u.candles ?? []) {
        const cf = refCandleFields(k);
        if (cf === '' || !(k.ts > 0)) continue;
        out.push(
          `candle,instrument_key=${escapeTag(u.key)},interval=${escapeTag(k.interval || 'unknown')},segment=${escapeTag(segOf.get(u.key)!)}${sym(u.key)}${extra} ${cf} ${k.ts * 1000}`,
        );
      }
    }
  }
  return out;
}
