/**
 * The candle API's request log: what a test reads to check that a client kept to Upstox's rate
 * limits (about 50 requests/s and 500/min per user) and backed off after 429s.
 */
import type { CandleRequestRecord } from './types.js';

const MAX_RECORDS = 10_000;

export class CandleLog {
  private readonly records: CandleRequestRecord[] = [];
  count = 0;

  record(r: CandleRequestRecord): void {
    this.count++;
    this.records.push(r);
    if (this.records.length > MAX_RECORDS + 1000) this.records.splice(0, this.records.length - MAX_RECORDS);
  }

  list(): CandleRequestRecord[] {
    return this.records.map((r) => ({ ...r }));
  }
}
