/**
 * From an outage to the gaps worth recording and backfilling. An outage runs from the last frame
 * before the interruption to the first frame after it; only the keys subscribed at both ends count
 * (a subscription change is not a gap). Each key's segment clips the outage to its trading
 * sessions (trading-hours.ts). When `market_info` said the same thing at both ends of a same-day
 * outage, it decides instead (while connected, the status decides): closed at both ends
 * is no gap (a holiday the table does not know), open at both ends is a gap whole (a special
 * session the table does not know). Otherwise, and for time the service was not running, the
 * table decides.
 * Keys whose clipped ranges coincide share one gap.
 */
import { segmentOf } from './instrument-key.js';
import { type TradingCalendar, istDate, tradingIntervals } from './trading-hours.js';

export type GapReason =
  | 'socket dropped'
  | 'dead socket'
  | 'token rejected'
  | 'authorize failing'
  | 'service stopped'
  | 'service crashed'
  | 'feed stopped'
  /** HA: the previous leader's lease expired (SIGKILL, crash, partition) and this instance took over. */
  | 'leader failover'
  /** HA: the previous leader stepped down (graceful stop, fenced) and this instance took over. */
  | 'leader handover'
  /** The feed streamed (to /ticks) but the storage worker's queue was full: its ticks are not in InfluxDB. */
  | 'storage overloaded';

export type BackfillState = 'pending' | 'done' | 'failed' | 'none';

export interface Outage {
  /** Last frame before the interruption (ms). */
  from: number;
  /** First frame after it (ms). */
  to: number;
  reason: GapReason;
  keysAtDown: readonly string[];
  keysAtUp: readonly string[];
  /** Segment → open per the last `market_info` before the drop (absent: unknown). */
  openAtDown?: Readonly<Record<string, boolean>>;
  /** The same from the first `market_info` after it. */
  openAtUp?: Readonly<Record<string, boolean>>;
}

export interface Gap {
  /** Stable identity: `from-to` (ms), unique because keys with the same range share one gap. */
  id: string;
  from: number;
  to: number;
  keys: string[];
  reason: GapReason;
}

function gapId(from: number, to: number): string {
  return `${from}-${to}`;
}

/** The gaps an outage leaves, oldest first. */
export function gapsFromOutage(o: Outage, cal: TradingCalendar): Gap[] {
  if (!(o.to > o.from)) return [];
  const up = new Set(o.keysAtUp);
  const bySegment = new Map<string, string[]>();
  for (const key of new Set(o.keysAtDown)) {
    if (!up.has(key)) continue;
    const seg = segmentOf(key);
    const list = bySegment.get(seg);
    if (list) list.push(key);
    else bySegment.set(seg, [key]);
  }
  const sameDay = istDate(o.from) === istDate(o.to);
  const byRange = new Map<string, Gap>();
  for (const [segment, keys] of bySegment) {
    const down = o.openAtDown?.[segment];
    const up = o.openAtUp?.[segment];
    // Connected at both ends of a same-day outage: market_info decides, closed or open.
    if (sameDay && down === false && up === false) continue;
    const ranges: Array<[number, number]> =
      sameDay && down === true && up === true ? [[o.from, o.to]] : tradingIntervals(cal, segment, o.from, o.to);
    for (const [from, to] of ranges) {
      const id = gapId(from, to);
      const gap = byRange.get(id);
      if (gap) gap.keys.push(...keys);
      else byRange.set(id, { id, from, to, keys: [...keys], reason: o.reason });
    }
  }
  return [...byRange.values()].map((g) => ({ ...g, keys: g.keys.sort() })).sort((a, b) => a.from - b.from);
}

/** Start of the minute holding `ms`. */
export function minuteStart(ms: number): number {
  return Math.floor(ms / 60_000) * 60_000;
}

/** When every minute touching the gap has closed (plus `graceMs` for Upstox to settle the candle). */
export function readyAt(gap: Pick<Gap, 'to'>, graceMs: number): number {
  return minuteStart(gap.to) + 60_000 + graceMs;
}

/** Minute starts of every candle touching [from, to]: the partial minutes at both ends included. */
export function minutesTouching(from: number, to: number): { first: number; last: number; count: number } {
  const first = minuteStart(from);
  const last = minuteStart(to);
  return { first, last, count: (last - first) / 60_000 + 1 };
}
