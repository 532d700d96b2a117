/**
 * Segment status as market_info reports it, and which statuses let live data flow.
 */
import { statusCode } from './frames.js';

/** The segments the real feed lists in market_info. */
export const KNOWN_SEGMENTS = [
  'NSE_EQ',
  'NSE_FO',
  'NSE_INDEX',
  'NSE_COM',
  'BSE_EQ',
  'BSE_FO',
  'BSE_INDEX',
  'BCD_FO',
  'NCD_FO',
  'MCX_FO',
  'MCX_INDEX',
] as const;

/**
 * Trades (and so live_feed updates) happen in the pre-open order collection, the normal session
 * and the closing session; PRE_OPEN_END, NORMAL_CLOSE and CLOSING_END are quiet.
 */
const LIVE_STATUSES: ReadonlySet<string> = new Set(['PRE_OPEN_START', 'NORMAL_OPEN', 'CLOSING_START']);

export class MarketStatusBook {
  readonly status = new Map<string, string>();

  constructor(initial: Record<string, string> | undefined, instruments: readonly string[]) {
    for (const segment of KNOWN_SEGMENTS) this.status.set(segment, 'NORMAL_OPEN');
    for (const key of instruments) {
      const bar = key.indexOf('|');
      if (bar > 0 && !this.status.has(key.slice(0, bar))) this.status.set(key.slice(0, bar), 'NORMAL_OPEN');
    }
    if (initial) this.update(initial);
  }

  /** Merges `changes` after checking every name, so a typo changes nothing. */
  update(changes: Record<string, string>): void {
    for (const [segment, name] of Object.entries(changes)) statusCode(segment, name);
    for (const [segment, name] of Object.entries(changes)) this.status.set(segment, name);
  }

  /** Segments never mentioned are open: any syntactically valid key gets data. */
  isLive(segment: string): boolean {
    const s = this.status.get(segment);
    return s === undefined || LIVE_STATUSES.has(s);
  }
}
