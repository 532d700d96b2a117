/** Pure timing rules of the connection: the daily IST refresh time and market hours. */
import { segmentOf } from './instrument-key.js';

const IST_OFFSET_MS = 5.5 * 3600 * 1000;
const DAY_MS = 86_400_000;

/** Milliseconds from `nowMs` until the next `HH:MM` in India Standard Time (UTC+05:30, no DST). */
export function msUntilIst(hhmm: string, nowMs: number): number {
  const [h, m] = hhmm.split(':').map(Number) as [number, number];
  const target = (h * 60 + m) * 60_000;
  const istNow = (nowMs + IST_OFFSET_MS) % DAY_MS;
  const wait = (target - istNow + DAY_MS) % DAY_MS;
  return wait === 0 ? DAY_MS : wait;
}

/**
 * Segment statuses during which no data is expected. Pre-open (09:00-09:15 IST) and the closing
 * session still trade, so only the closed states count. A segment with no status is open.
 */
const CLOSED = new Set(['NORMAL_CLOSE', 'CLOSING_END']);

export function isClosedStatus(status: string | undefined): boolean {
  return status !== undefined && CLOSED.has(status);
}

/** True when every segment of the subscription is closed (so silence is expected). */
export function allSubscribedClosed(subscription: Record<string, unknown>, marketStatus: Record<string, string>): boolean {
  const keys = Object.keys(subscription);
  if (keys.length === 0) return false;
  for (const key of keys) {
    if (!isClosedStatus(marketStatus[segmentOf(key)])) return false;
  }
  return true;
}
