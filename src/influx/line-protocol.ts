/**
 * Decoded frames → InfluxDB line protocol (README "The InfluxDB schema"), written straight into
 * the batch's Buffer (src/influx/point-batch.ts).
 *
 * Timestamps are written in microseconds (the write client asks for precision=us): the frame's
 * `currentTs` in ms × 1000, plus an in-millisecond sequence per series. Two updates of one key
 * in the same millisecond are then two points (at ts·1000 and ts·1000+1) instead of the second
 * silently replacing the first, and read at ms precision both show the frame's `currentTs`. A
 * candle keeps ts·1000 exactly: its updates are meant to replace each other, and within one batch
 * they are merged into one point before they are written (HeldCandle, point-batch.ts). The sequence is in
 * the line text, which the spool stores, so a replay writes the same points again (idempotent).
 * Hot path: per key, one Map lookup gives the tick tag prefix (bytes, with the symbol and extra
 * tags) and the candle prefixes of each interval; field names are constant words; numbers are
 * written as digits straight into the buffer where that pays (point-batch.ts, ascii-bytes.ts).
 * Non-finite numbers are skipped (InfluxDB rejects NaN/Infinity), integers carry the `i` suffix,
 * floats never do.
 */
import { type Text, text } from '../ascii-bytes.js';
import { type Candle, FeedKind, type DecodedFrame, type TickUpdate } from '../upstox/feed-types.js';
import {
  FIELD_MAX,
  type HeldCandle,
  PointBatch,
  beginPoint,
  endPoint,
  floatField,
  hasField,
  intField,
  writeAscii,
  writeByte,
  writeBytes,
  writeNumberText,
  writeUtf8,
} from './point-batch.js';

export { PointBatch } from './point-batch.js';
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

/** Up to 1000 points of one series per millisecond stay distinct; beyond that they share the last slot. */
const PER_MS = 1000;

interface Series {
  /** `measurement,tags` bytes of the series' points. */
  prefix: Buffer;
  /** The last timestamp written for the series, in microseconds (-1: none yet). */
  lastUs: number;
}

/** Everything about one instrument key the builder writes again and again. */
interface KeyEntry extends Series {
  key: string;
  segment: string;
  /** Stable hash of the key: its points go to batch `hash % batches` (one write lane per shard of series). */
  hash: number;
  /** Candle series by interval (a handful per key: a short list beats a string key per candle). */
  candles: CandleSeries[];
}

/** One candle interval of a key: its tag prefix and its newest held candles (what a later copy merges into). */
interface CandleSeries {
  interval: string;
  prefix: Buffer;
  recent: HeldCandle[];
}

/**
 * Held candles remembered per series: the feed sends the current candle of each interval and, for
 * a moment after it closes, sometimes the previous one; two cover both without a map lookup.
 */
const RECENT_CANDLES = 2;

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

/** FNV-1a of a key: stable across runs and versions, so a series keeps its shard while rows wait in the spool. */
export function shardHash(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

const SPACE = 0x20;
const QUOTE = 0x22;

/** Field names of depth level n (1-based), built once per level. */
const DEPTH_NAMES: Array<{ bq: Text; bp: Text; aq: Text; ap: Text }> = [];
function depthNames(n: number): { bq: Text; bp: Text; aq: Text; ap: Text } {
  let d = DEPTH_NAMES[n];
  if (d === undefined) {
    d = { bq: text(`bid_qty_${n}=`), bp: text(`bid_price_${n}=`), aq: text(`ask_qty_${n}=`), ap: text(`ask_price_${n}=`) };
    DEPTH_NAMES[n] = d;
  }
  return d;
}

export class LineProtocolBuilder {
  /** Per instrument key: tag prefixes and the last microsecond timestamp of its ticks (one lookup per update). */
  private readonly keys = new Map<string, KeyEntry>();
  /** The same per market_status segment. */
  private readonly statusSeries = new Map<string, Series>();
  private readonly extra: string;
  /** Points written by the current append call. */
  private added = 0;
  /** Candle copies merged into a held candle since the caller last reset it (stats.candleUpdatesMerged). */
  merged = 0;

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
    for (const e of this.keys.values()) {
      e.prefix = this.tickPrefix(e.key, e.key.slice(0, Math.max(0, e.key.indexOf('|'))));
      e.candles = [];
    }
  }

  private symbolTag(key: string): string {
    const symbol = this.symbolOf(key);
    return symbol === undefined ? '' : `,symbol=${escapeTag(symbol)}`;
  }

  private tickPrefix(key: string, segment: string): Buffer {
    return Buffer.from(`tick,instrument_key=${escapeTag(key)},segment=${escapeTag(segment)}${this.symbolTag(key)}${this.extra}`);
  }

  private entry(key: string, segment: string): KeyEntry {
    let e = this.keys.get(key);
    if (e === undefined) {
      e = { key, segment, hash: shardHash(key), prefix: this.tickPrefix(key, segment), lastUs: -1, candles: [] };
      if (this.keys.size < 100_000) this.keys.set(key, e);
    }
    return e;
  }

  /**
   * Appends every point of `frame` to `into`; returns how many were added. `receivedAt` (the
   * frame's receive time) stands in for a missing `currentTs`. With several batches (one per
   * write lane), a key's points (ticks and candles) always go to the same one, `shardOf(key)`;
   * market_status points to the first.
   */
  appendFrame(frame: DecodedFrame, into: PointBatch | readonly PointBatch[], receivedAt = Date.now()): number {
    const ts = frame.ts > 0 ? frame.ts : receivedAt;
    const list = into instanceof PointBatch ? null : into;
    const first = list === null ? (into as PointBatch) : list[0];
    this.added = 0;
    if (frame.marketStatus) {
      const batch = first;
      for (const segment in frame.marketStatus) {
        let st = this.statusSeries.get(segment);
        if (st === undefined) {
          st = { prefix: Buffer.from(`market_status,segment=${escapeTag(segment)}${this.extra}`), lastUs: -1 };
          if (this.statusSeries.size < 1000) this.statusSeries.set(segment, st);
        }
        const value = escapeStringField(frame.marketStatus[segment]);
        beginPoint(batch, st.prefix.length + value.length * 3 + 40);
        writeBytes(st.prefix);
        writeAscii(' status="');
        writeUtf8(value);
        writeByte(QUOTE);
        writeByte(SPACE);
        writeNumberText(nextUs(st, ts));
        endPoint(batch, ts);
        this.added++;
      }
    }
    const updates = frame.updates;
    for (let i = 0; i < updates.length; i++) {
      const u = updates[i];
      const e = this.entry(u.key, u.segment);
      const batch = list === null ? first : list[e.hash % list.length];
      beginPoint(batch, e.prefix.length + 24 + (16 + u.depth.length) * FIELD_MAX);
      writeBytes(e.prefix);
      writeByte(SPACE);
      writeTickFields(u);
      if (hasField()) {
        writeByte(SPACE);
        writeNumberText(nextUs(e, ts));
        endPoint(batch, ts);
        this.added++;
      }
      batch.keys.add(u.key);
      const candles = u.candles;
      if (candles !== null) for (let c = 0; c < candles.length; c++) this.candle(batch, e, candles[c]);
    }
    return this.added;
  }

  /**
   * One candle point (skipped without a positive ts or any finite field), held in the batch until
   * it is sealed: a later copy of the same candle (series and ts) in the same batch updates it in
   * place, each finite field replacing the held one, as InfluxDB would merge the two writes.
   */
  private candle(batch: PointBatch, e: KeyEntry, k: Candle): void {
    const ts = k.ts;
    if (!(ts > 0)) return;
    const open = k.open;
    const high = k.high;
    const low = k.low;
    const close = k.close;
    const volume = k.volume;
    if (!(Number.isFinite(open) || Number.isFinite(high) || Number.isFinite(low) || Number.isFinite(close) || Number.isFinite(volume)))
      return;
    const c = this.candleSeries(e, k.interval);
    const recent = c.recent;
    for (let i = 0; i < recent.length; i++) {
      const h = recent[i];
      if (h.ts !== ts || h.batch !== batch) continue;
      if (Number.isFinite(open)) h.open = open;
      if (Number.isFinite(high)) h.high = high;
      if (Number.isFinite(low)) h.low = low;
      if (Number.isFinite(close)) h.close = close;
      if (Number.isFinite(volume)) h.volume = volume;
      this.merged++;
      return;
    }
    const h: HeldCandle = { batch, prefix: c.prefix, ts, open, high, low, close, volume };
    batch.held.push(h);
    // The series' newest candles: the current one and, while the feed still sends it, the previous.
    if (recent.length < RECENT_CANDLES) recent.push(h);
    else {
      let slot = recent.findIndex((r) => r.batch !== batch);
      if (slot < 0) slot = 0;
      recent[slot] = h;
    }
    this.added++;
  }

  /**
   * Candles from elsewhere (the backfill's 1-minute candles from the candle API), with exactly the
   * tags of the live candles of the same key and interval: the same series. Returns how many.
   */
  appendCandles(key: string, segment: string, candles: readonly Candle[], into: PointBatch | readonly PointBatch[]): number {
    const e = this.entry(key, segment);
    const batch = into instanceof PointBatch ? into : into[e.hash % into.length];
    this.added = 0;
    for (const k of candles) this.candle(batch, e, k);
    if (this.added > 0) batch.keys.add(key);
    return this.added;
  }

  private candleSeries(e: KeyEntry, interval: string): CandleSeries {
    const list = e.candles;
    for (let i = 0; i < list.length; i++) if (list[i].interval === interval) return list[i];
    const prefix = Buffer.from(
      `candle,instrument_key=${escapeTag(e.key)},interval=${escapeTag(interval || 'unknown')},segment=${escapeTag(e.segment)}${this.symbolTag(e.key)}${this.extra}`,
    );
    const c: CandleSeries = { interval, prefix, recent: [] };
    if (list.length < 16) list.push(c);
    return c;
  }
}

/** `tick` field names (with their `=`) as words for ascii-bytes.ts put(). */
const F_ATP = text('atp=');
const F_CP = text('cp=');
const F_DELTA = text('delta=');
const F_GAMMA = text('gamma=');
const F_IV = text('iv=');
const F_LTP = text('ltp=');
const F_LTQ = text('ltq=');
const F_LTT = text('ltt=');
const F_OI = text('oi=');
const F_RHO = text('rho=');
const F_TBQ = text('tbq=');
const F_THETA = text('theta=');
const F_TSQ = text('tsq=');
const F_VEGA = text('vega=');
const F_VTT = text('vtt=');

/** The `tick` fields of one update, by feed kind (README "The InfluxDB schema"). */
function writeTickFields(u: TickUpdate): void {
  floatField(F_LTP, u.ltp);
  intField(F_LTT, u.ltt);
  intField(F_LTQ, u.ltq);
  floatField(F_CP, u.cp);
  const kind = u.kind;
  if (kind === FeedKind.MarketFull) {
    floatField(F_ATP, u.atp);
    intField(F_VTT, u.vtt);
    floatField(F_OI, u.oi);
    floatField(F_IV, u.iv);
    floatField(F_TBQ, u.tbq);
    floatField(F_TSQ, u.tsq);
  } else if (kind === FeedKind.FirstLevelGreeks) {
    intField(F_VTT, u.vtt);
    floatField(F_OI, u.oi);
    floatField(F_IV, u.iv);
  }
  const d = u.depth;
  for (let i = 0, n = 1; i + 3 < d.length; i += 4, n++) {
    const names = depthNames(n);
    intField(names.bq, d[i]);
    floatField(names.bp, d[i + 1]);
    intField(names.aq, d[i + 2]);
    floatField(names.ap, d[i + 3]);
  }
  const g = u.greeks;
  if (g !== null) {
    floatField(F_DELTA, g.delta);
    floatField(F_THETA, g.theta);
    floatField(F_GAMMA, g.gamma);
    floatField(F_VEGA, g.vega);
    floatField(F_RHO, g.rho);
  }
}

const scratch = new PointBatch(4096);

/**
 * The `tick` fields of one update as text, written by the same code as the batches (the test
 * that holds the /ticks JSON field list equal to this one reads it).
 */
export function tickFields(u: TickUpdate): string {
  scratch.bytes = 0;
  scratch.points = 0;
  beginPoint(scratch, (16 + u.depth.length) * FIELD_MAX);
  writeTickFields(u);
  if (!hasField()) return '';
  endPoint(scratch, 0);
  return scratch.body().toString('latin1');
}
