/**
 * Segment status from the market clock, for SimulatorOptions.followTradingHours: NSE/BSE equity,
 * F&O and indices trade 09:15-15:30 IST, currency segments 09:00-17:00, MCX 09:00-23:30, Monday
 * to Friday (no holidays). Only NORMAL_OPEN and NORMAL_CLOSE are used: enough for a client to
 * tell an open market from a closed one, which is what the gap ledger's tests need.
 */
import { KNOWN_SEGMENTS, type MarketStatusBook } from './market-status.js';

const DAY_MS = 86_400_000;
const IST_OFFSET_MS = 19_800_000;
const hm = (h: number, m: number): number => (h * 60 + m) * 60_000;

const SESSIONS: Record<string, [number, number]> = {
  MCX_FO: [hm(9, 0), hm(23, 30)],
  MCX_INDEX: [hm(9, 0), hm(23, 30)],
  BCD_FO: [hm(9, 0), hm(17, 0)],
  NCD_FO: [hm(9, 0), hm(17, 0)],
  NSE_COM: [hm(9, 0), hm(23, 30)],
};
const EQUITY_SESSION: [number, number] = [hm(9, 15), hm(15, 30)];

export function scheduledStatus(segment: string, now: number): 'NORMAL_OPEN' | 'NORMAL_CLOSE' {
  const ist = now + IST_OFFSET_MS;
  const weekday = new Date(ist).getUTCDay();
  if (weekday === 0 || weekday === 6) return 'NORMAL_CLOSE';
  const t = ((ist % DAY_MS) + DAY_MS) % DAY_MS;
  const [open, close] = SESSIONS[segment] ?? EQUITY_SESSION;
  return t >= open && t < close ? 'NORMAL_OPEN' : 'NORMAL_CLOSE';
}

/**
 * Applies scheduled transitions only: a status set by hand (setMarketStatus) stays until the
 * schedule itself next changes for that segment.
 */
export class TradingHours {
  private readonly last = new Map<string, string>();

  /** The changes due at `now` (all segments on the first call), already applied to `book`. */
  apply(book: MarketStatusBook, now: number): Record<string, string> {
    const changes: Record<string, string> = {};
    for (const segment of new Set([...KNOWN_SEGMENTS, ...book.status.keys()])) {
      const status = scheduledStatus(segment, now);
      if (this.last.get(segment) === status) continue;
      this.last.set(segment, status);
      changes[segment] = status;
    }
    if (Object.keys(changes).length > 0) book.update(changes);
    return changes;
  }
}
