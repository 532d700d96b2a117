/**
 * The gap ledger's requests, from main (src/gaps/ledger-client.ts) to the storage worker's thread
 * (src/gaps/ledger-host.ts), over the worker's one ordered port: a gap record posted after frames
 * and candles is applied after them. Each request gets one reply with the same id.
 */
import type { BackfillState, Gap } from '../../machines/rules/gaps.js';
import type { GapRow, StartOutage } from './ledger.js';

export type LedgerOp =
  /** Opens gaps.db (at `path`) and starts the run: the previous run's outage and the gaps still pending. */
  | { m: 'begin'; path: string }
  | { m: 'record'; gap: Gap; backfill: BackfillState; detail: string }
  | { m: 'settle'; id: string; backfill: BackfillState; detail: string; candles: number }
  | { m: 'get'; id: string }
  | { m: 'list'; since?: number; limit?: number }
  | { m: 'startOutageClosed' }
  /** Shutdown: the last-frame mark (main keeps it) and the clean-stop record, in that order. */
  | { m: 'cleanStop'; lastFrameMs: number | null; keys: string[] };

/** What /metrics shows of the ledger; sent back with every write, so main answers a scrape from memory. */
export interface LedgerSummary {
  totals: { byReason: Array<{ reason: string; gaps: number; seconds: number }>; candles: number };
  counts: Record<BackfillState, number>;
}

export interface BeginResult {
  outage: StartOutage | null;
  pending: Gap[];
  summary: LedgerSummary;
}

/** A write's reply (record, settle, startOutageClosed, cleanStop). */
export interface WriteResult {
  summary: LedgerSummary;
}

export type LedgerReplyValue = BeginResult | WriteResult | GapRow | GapRow[] | undefined;
