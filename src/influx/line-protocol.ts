/**
 * Decoded frames → InfluxDB line protocol (README "The InfluxDB schema").
 *
 * Timestamps are written in microseconds (the write client asks for precision=us): the frame's
 * `currentTs` in ms × 1000, plus an in-millisecond sequence per series. Two updates of one key
 * in the same millisecond are then two points (at ts·1000 and ts·1000+1) instead of the second
 * silently replacing the first, and read at ms precision both show the frame's `currentTs`. A
 * candle keeps ts·1000 exactly: its updates are meant to replace each other. The sequence is in
 * the line text, which the spool stores, so a replay writes the same points again (idempotent).
 * Hot path: plain loops and string concatenation; the per-key tag prefix is cached because keys
 * repeat every frame. Non-finite numbers are skipped (InfluxDB rejects NaN/Infinity), integers
 * carry the `i` suffix, floats never do.
 */
import { type Candle, FeedKind, type DecodedFrame, type TickUpdate } from '../upstox/feed-types.js';

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

/** Up to 1000 points of one series per millisecond stay distinct; beyond that they share the last slot. */
const PER_MS = 1000;

interface Series {
  prefix: string;
  /** The last timestamp written for the series, in microseconds (-1: none yet). */
  lastUs: number;
}

/**
 * The microsecond timestamp of the next point of `series` at `ms`: ms·1000, or one more than the
 * series' previous point if that was in the same millisecond.
 */
function nextUs(series: Series, ms: number): number {
  const base = ms * 1000;
  const last = series.lastUs;
  const us = last >= base && last < base + PER_MS ? Math.min(last + 1, base + PER_MS - 1) : base;
  series.lastUs = us;
  return us;
}

export class LineProtocolBuilder {
  /** Per instrument key: its tick tag prefix and the last microsecond timestamp written (one lookup per point). */
  private readonly tickSeries = new Map<string, Series>();
  /** The same per market_status segment prefix. */
  private readonly statusSeries = new Map<string, Series>();
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

  /**
   * The instrument master changed: tick prefixes are rebuilt with the new symbols, keeping each
   * series' last timestamp (points within one millisecond stay distinct across the change).
   */
  symbolsChanged(): void {
    for (const [key, series] of this.tickSeries) series.prefix = this.tickPrefix(key, key.slice(0, Math.max(0, key.indexOf('|'))));
    this.candlePrefix.clear();
  }

  private symbolTag(key: string): string {
    const symbol = this.symbolOf(key);
    return symbol === undefined ? '' : `,symbol=${escapeTag(symbol)}`;
  }

  private tickPrefix(key: string, segment: string): string {
    return `tick,instrument_key=${escapeTag(key)},segment=${escapeTag(segment)}${this.symbolTag(key)}${this.extra}`;
  }

  /**
   * Appends every point of `frame` to `batch`; returns how many were added. `receivedAt` (the
   * frame's receive time) stands in for a missing `currentTs`.
   */
  appendFrame(frame: DecodedFrame, batch: PointBatch, receivedAt = Date.now()): number {
    const ts = frame.ts > 0 ? frame.ts : receivedAt;
    const before = batch.lines.length;
    if (frame.marketStatus) {
      for (const segment in frame.marketStatus) {
        let st = this.statusSeries.get(segment);
        if (st === undefined) {
          st = { prefix: `market_status,segment=${escapeTag(segment)}${this.extra}`, lastUs: -1 };
          if (this.statusSeries.size < 1000) this.statusSeries.set(segment, st);
        }
        batch.add(`${st.prefix} status="${escapeStringField(frame.marketStatus[segment])}" ${nextUs(st, ts)}`, ts);
      }
    }
    const updates = frame.updates;
    for (let i = 0; i < updates.length; i++) {
      const u = updates[i];
      const fields = tickFields(u);
      if (fields !== '') {
        const series = this.tickTags(u);
        batch.add(`${series.prefix} ${fields} ${nextUs(series, ts)}`, ts);
      }
      batch.keys.add(u.key);
      const candles = u.candles;
      if (candles !== null) {
        for (let c = 0; c < candles.length; c++) {
          const k = candles[c];
          const f = candleFields(k);
          if (f === '' || !(k.ts > 0)) continue;
          batch.add(`${this.candleTags(u.key, u.segment, k.interval)} ${f} ${k.ts * 1000}`, k.ts);
        }
      }
    }
    return batch.lines.length - before;
  }

  private tickTags(u: TickUpdate): Series {
    let p = this.tickSeries.get(u.key);
    if (p === undefined) {
      p = { prefix: this.tickPrefix(u.key, u.segment), lastUs: -1 };
      if (this.tickSeries.size < 100_000) this.tickSeries.set(u.key, p);
    }
    return p;
  }

  /**
   * Candles from elsewhere (the backfill's 1-minute candles from the candle API), with exactly the
   * tags of the live candles of the same key and interval: the same series. Returns how many.
   */
  appendCandles(key: string, segment: string, candles: readonly Candle[], batch: PointBatch): number {
    const before = batch.lines.length;
    for (const k of candles) {
      const f = candleFields(k);
      if (f === '' || !(k.ts > 0)) continue;
      // Microseconds, exactly ts·1000 like the live candle, so the backfilled one replaces it.
      batch.add(`${this.candleTags(key, segment, k.interval)} ${f} ${k.ts * 1000}`, k.ts);
    }
    if (batch.lines.length > before) batch.keys.add(key);
    return batch.lines.length - before;
  }

  private candleTags(key: string, segment: string, interval: string): string {
    const id = `${key}\u0000${interval}`;
    let p = this.candlePrefix.get(id);
    if (p === undefined) {
      p = `candle,instrument_key=${escapeTag(key)},interval=${escapeTag(interval || 'unknown')},segment=${escapeTag(segment)}${this.symbolTag(key)}${this.extra}`;
      if (this.candlePrefix.size < 100_000) this.candlePrefix.set(id, p);
    }
    return p;
  }
}

/** `open=..,high=..,low=..,close=..,volume=..i`, skipping what is not a finite number. */
function candleFields(k: Candle): string {
  let f = '';
  if (Number.isFinite(k.open)) f += `open=${k.open}`;
  if (Number.isFinite(k.high)) f += `${f ? ',' : ''}high=${k.high}`;
  if (Number.isFinite(k.low)) f += `${f ? ',' : ''}low=${k.low}`;
  if (Number.isFinite(k.close)) f += `${f ? ',' : ''}close=${k.close}`;
  if (Number.isFinite(k.volume)) f += `${f ? ',' : ''}volume=${Math.trunc(k.volume)}i`;
  return f;
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
