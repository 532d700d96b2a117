/**
 * The gap ledger seen from the main thread: every SQLite call runs on the storage worker's thread
 * (src/gaps/ledger-host.ts), so the event loop that decodes frames and feeds /ticks never waits
 * on gaps.db, even while another process holds a lock on it. Requests go through the worker's
 * one ordered port, behind the frames and candles posted before them; each returns a Promise.
 *
 * Per frame main only remembers the time (`noteFrame`); the periodic last-frame mark is posted to
 * the worker every `markIntervalMs`. /metrics reads `totals()` and `countsByState()` from memory:
 * every write's reply carries the ledger's summary.
 */
import type { BackfillState, Gap } from '../../machines/rules/gaps.js';
import type { GapRow, StartOutage } from './ledger.js';
import type { BeginResult, LedgerOp, LedgerSummary, WriteResult } from './ledger-protocol.js';

/** The storage worker's side of it (src/storage/worker/storage-worker.ts). */
export interface LedgerPort {
  /** One request; resolves with the host's reply value, rejects with a TickpipeError (GAP_LEDGER_BUSY, GAP_LEDGER_FAILED...). */
  ledger(op: LedgerOp): Promise<unknown>;
  /** The periodic mark, written by the worker through its own connection (src/storage/worker/mark-writer.ts). */
  writeMark(path: string, lastFrameMs: number, keysJson: string): void;
}

export interface LedgerClientOptions {
  path: string;
  /** The mark is posted at most this often (0: only at the clean stop). */
  markIntervalMs: number;
}

/** The ledger's writes and reads the backfill actor makes (src/gaps/backfill-impl.ts). */
export interface AsyncLedger {
  record(gap: Gap, backfill: BackfillState, detail: string): Promise<void>;
  settle(id: string, backfill: BackfillState, detail: string, candles: number): Promise<void>;
  get(id: string): Promise<GapRow | undefined>;
}

export class LedgerClient implements AsyncLedger {
  private lastFrameAt: number | null = null;
  private keys: string[] = [];
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;
  private summary: LedgerSummary = { totals: { byReason: [], candles: 0 }, counts: { pending: 0, done: 0, failed: 0, none: 0 } };

  constructor(
    private readonly port: LedgerPort,
    private readonly opts: LedgerClientOptions,
  ) {}

  /** Opens the ledger on the worker and starts the run: the previous run's outage, the gaps still pending. */
  async begin(): Promise<{ outage: StartOutage | null; pending: Gap[] }> {
    const r = (await this.port.ledger({ m: 'begin', path: this.opts.path })) as BeginResult;
    this.summary = r.summary;
    // The mark of the previous run stays until a frame of this one.
    if (r.outage) {
      this.lastFrameAt = r.outage.at;
      this.keys = r.outage.keys;
    }
    if (this.opts.markIntervalMs > 0 && this.opts.path !== ':memory:') {
      this.timer = setInterval(() => this.flushMark(), this.opts.markIntervalMs);
      this.timer.unref();
    }
    return { outage: r.outage, pending: r.pending };
  }

  /** Per frame: only remembers the time. */
  noteFrame(at: number): void {
    this.lastFrameAt = at;
    this.dirty = true;
  }

  /** The keys being streamed (on subscription changes); written with the next mark. */
  noteKeys(keys: readonly string[]): void {
    this.keys = [...keys];
  }

  async startOutageClosed(): Promise<void> {
    await this.write({ m: 'startOutageClosed' });
  }

  async record(gap: Gap, backfill: BackfillState, detail: string): Promise<void> {
    await this.write({ m: 'record', gap, backfill, detail });
  }

  async settle(id: string, backfill: BackfillState, detail: string, candles: number): Promise<void> {
    await this.write({ m: 'settle', id, backfill, detail, candles });
  }

  async get(id: string): Promise<GapRow | undefined> {
    return (await this.port.ledger({ m: 'get', id })) as GapRow | undefined;
  }

  /** Newest first; `since` keeps gaps that end at or after it (GET /gaps). */
  async list(opts: { since?: number; limit?: number } = {}): Promise<GapRow[]> {
    return (await this.port.ledger({ m: 'list', ...opts })) as GapRow[];
  }

  /** For /metrics, from memory: as of the last write this process made (or the start). */
  totals(): LedgerSummary['totals'] {
    return this.summary.totals;
  }

  countsByState(): Record<BackfillState, number> {
    return this.summary.counts;
  }

  /**
   * Shutdown: the last mark and the clean-stop record, posted before the storage worker's close
   * (which comes behind them on the port and waits for them, bounded).
   */
  cleanStop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.dirty = false;
    return this.write({ m: 'cleanStop', lastFrameMs: this.lastFrameAt, keys: this.keys });
  }

  private flushMark(): void {
    if (!this.dirty || this.lastFrameAt === null) return;
    this.port.writeMark(this.opts.path, this.lastFrameAt, JSON.stringify(this.keys));
    this.dirty = false;
  }

  private async write(op: LedgerOp): Promise<void> {
    const r = (await this.port.ledger(op)) as WriteResult;
    this.summary = r.summary;
  }
}
