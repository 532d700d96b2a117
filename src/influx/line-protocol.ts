/**
 * Decoded frames → InfluxDB line protocol (README "The InfluxDB schema", precision ms).
 * Hot path: plain loops and string concatenation; the per-key tag prefix is cached because keys
 * repeat every frame. Non-finite numbers are skipped (InfluxDB rejects NaN/Infinity), integers
 * carry the `i` suffix, floats never do.
 */
import { FeedKind, type DecodedFrame, type TickUpdate } from '../upstox/feed-types.js';

/** Escapes a tag key or value: comma, equals sign and space (backslash-escaped). */
export function escapeTag(s: string): string {
  return /[,= \\\n]/.test(s)
    ? s
        .replace(/\\/g, '\\\\')
        .replace(/([,= ])/g, '\\$1')
        .replace(/\n/g, '\\n')
    : s;
}

/** Escapes a string field value: double quote and backslash. */
export function escapeStringField(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
}

/** What one batch of lines carries, for the notifier and the spool. */
export class PointBatch {
  lines: string[] = [];
  firstTs = Number.POSITIVE_INFINITY;
  lastTs = Number.NEGATIVE_INFINITY;
  readonly keys = new Set<string>();
  /** Monotonic time the first point entered (the flush timer runs from it). */
  startedAt = 0;

  get points(): number {
    return this.lines.length;
  }

  add(line: string, ts: number): void {
    this.lines.push(line);
    if (ts < this.firstTs) this.firstTs = ts;
    if (ts > this.lastTs) this.lastTs = ts;
  }
}

export class LineProtocolBuilder {
  private readonly tickPrefix = new Map<string, string>();
  private readonly candlePrefix = new Map<string, string>();
  private readonly extra: string;

  /**
   * `symbolOf`: the trading symbol of a key from the instrument master; points of known
   * instruments carry it as the `symbol` tag (part of the cached prefix, so it costs nothing per point).
   */
  constructor(
    extraTags: Readonly<Record<string, string>> = {},
    private readonly symbolOf: (key: string) => string | undefined = () => undefined,
  ) {
    // Tags sorted by key: InfluxDB's recommendation for write performance.
    this.extra = Object.keys(extraTags)
      .sort()
      .map((k) => `,${escapeTag(k)}=${escapeTag(extraTags[k])}`)
      .join('');
  }

  /** The instrument master changed: prefixes are rebuilt with the new symbols. */
  symbolsChanged(): void {
    this.tickPrefix.clear();
    this.candlePrefix.clear();
  }

  private symbolTag(key: string): string {
    const symbol = this.symbolOf(key);
    return symbol === undefined ? '' : `,symbol=${escapeTag(symbol)}`;
  }

  /** Appends every point of `frame` to `batch`; returns how many were added. */
  appendFrame(frame: DecodedFrame, batch: PointBatch, now = Date.now()): number {
    const ts = frame.ts > 0 ? frame.ts : now;
    const before = batch.lines.length;
    if (frame.marketStatus) {
      for (const segment in frame.marketStatus) {
        batch.add(
          `market_status,segment=${escapeTag(segment)}${this.extra} status="${escapeStringField(frame.marketStatus[segment])}" ${ts}`,
          ts,
        );
      }
    }
    const updates = frame.updates;
    for (let i = 0; i < updates.length; i++) {
      const u = updates[i];
      const fields = tickFields(u);
      if (fields !== '') batch.add(`${this.tickTags(u)} ${fields} ${ts}`, ts);
      batch.keys.add(u.key);
      const candles = u.candles;
      if (candles !== null) {
        for (let c = 0; c < candles.length; c++) {
          const k = candles[c];
          let f = '';
          if (Number.isFinite(k.open)) f += `open=${k.open}`;
          if (Number.isFinite(k.high)) f += `${f ? ',' : ''}high=${k.high}`;
          if (Number.isFinite(k.low)) f += `${f ? ',' : ''}low=${k.low}`;
          if (Number.isFinite(k.close)) f += `${f ? ',' : ''}close=${k.close}`;
          if (Number.isFinite(k.volume)) f += `${f ? ',' : ''}volume=${Math.trunc(k.volume)}i`;
          if (f === '' || !(k.ts > 0)) continue;
          batch.add(`${this.candleTags(u, k.interval)} ${f} ${k.ts}`, k.ts);
        }
      }
    }
    return batch.lines.length - before;
  }

  private tickTags(u: TickUpdate): string {
    let p = this.tickPrefix.get(u.key);
    if (p === undefined) {
      p = `tick,instrument_key=${escapeTag(u.key)},segment=${escapeTag(u.segment)}${this.symbolTag(u.key)}${this.extra}`;
      if (this.tickPrefix.size < 100_000) this.tickPrefix.set(u.key, p);
    }
    return p;
  }

  private candleTags(u: TickUpdate, interval: string): string {
    const id = `${u.key}\u0000${interval}`;
    let p = this.candlePrefix.get(id);
    if (p === undefined) {
      p = `candle,instrument_key=${escapeTag(u.key)},interval=${escapeTag(interval || 'unknown')},segment=${escapeTag(u.segment)}${this.symbolTag(u.key)}${this.extra}`;
      if (this.candlePrefix.size < 100_000) this.candlePrefix.set(id, p);
    }
    return p;
  }
}

function float(name: string, v: number, sep: boolean): string {
  return Number.isFinite(v) ? `${sep ? ',' : ''}${name}=${v}` : '';
}

function int(name: string, v: number, sep: boolean): string {
  return Number.isFinite(v) ? `${sep ? ',' : ''}${name}=${Math.trunc(v)}i` : '';
}

/** The `tick` fields of one update, by feed kind (README "The InfluxDB schema"). */
export function tickFields(u: TickUpdate): string {
  let f = float('ltp', u.ltp, false);
  f += int('ltt', u.ltt, f !== '');
  f += int('ltq', u.ltq, f !== '');
  f += float('cp', u.cp, f !== '');
  const kind = u.kind;
  if (kind === FeedKind.MarketFull) {
    f += float('atp', u.atp, f !== '');
    f += int('vtt', u.vtt, f !== '');
    f += float('oi', u.oi, f !== '');
    f += float('iv', u.iv, f !== '');
    f += float('tbq', u.tbq, f !== '');
    f += float('tsq', u.tsq, f !== '');
  } else if (kind === FeedKind.FirstLevelGreeks) {
    f += int('vtt', u.vtt, f !== '');
    f += float('oi', u.oi, f !== '');
    f += float('iv', u.iv, f !== '');
  }
  const d = u.depth;
  for (let i = 0, n = 1; i + 3 < d.length; i += 4, n++) {
    f += int(`bid_qty_${n}`, d[i], f !== '');
    f += float(`bid_price_${n}`, d[i + 1], f !== '');
    f += int(`ask_qty_${n}`, d[i + 2], f !== '');
    f += float(`ask_price_${n}`, d[i + 3], f !== '');
  }
  const g = u.greeks;
  if (g !== null) {
    f += float('delta', g.delta, f !== '');
    f += float('theta', g.theta, f !== '');
    f += float('gamma', g.gamma, f !== '');
    f += float('vega', g.vega, f !== '');
    f += float('rho', g.rho, f !== '');
  }
  return f;
}
