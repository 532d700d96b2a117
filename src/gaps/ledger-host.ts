/**
 * The gap ledger on the storage worker's thread. Main's requests (src/gaps/ledger-protocol.ts)
 * are applied in the order they arrive. When another process holds a lock on gaps.db (a backup
 * tool, an open `sqlite3` transaction), a write waits at most `busyTimeoutMs` on this thread and
 * then stays at the head of the queue, retried every `retryMs`, with everything behind it: a gap
 * is never lost and never recorded out of order, and the lock costs /ticks nothing (it is not
 * this thread's event loop that serves them). The spell is said once, with its code, and its end.
 * Reads for GET /gaps do not queue: in WAL mode a writer's lock does not stop them; when the
 * file cannot be read either, they answer GAP_LEDGER_BUSY at once (the route answers 503).
 */
import { describeError } from '../../machines/rules/error-info.js';
import { TickpipeError } from '../errors.js';
import type { Logger } from '../logger.js';
import { GapLedger, type GapRow } from './ledger.js';
import type { BeginResult, LedgerOp, LedgerReplyValue, LedgerSummary, WriteResult } from './ledger-protocol.js';

type LedgerFailure = { ok: false; code: string; message: string };
export type LedgerReply = { ok: true; value: LedgerReplyValue } | LedgerFailure;

export interface LedgerHostOptions {
  /** A statement waits this long for another connection's lock (it holds this thread meanwhile). */
  busyTimeoutMs: number;
  /** A write that met a lock is tried again this often. */
  retryMs: number;
}

/** SQLITE_BUSY (and its extended codes), SQLITE_LOCKED: another connection holds the file. */
export function isLockError(err: unknown): boolean {
  for (let e = err; e; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'))) return true;
  }
  return false;
}

interface Queued {
  op: LedgerOp;
  reply: (r: LedgerReply) => void;
}

export class LedgerHost {
  private ledger: GapLedger | undefined;
  private path = '';
  private readonly queue: Queued[] = [];
  private retry: NodeJS.Timeout | undefined;
  /** When the current lock spell began (null: none). */
  private lockedSince: number | null = null;
  private closed = false;

  constructor(
    private readonly logger: Logger,
    private readonly opts: LedgerHostOptions,
  ) {}

  handle(op: LedgerOp, reply: (r: LedgerReply) => void): void {
    if (this.closed) return reply(failure(new TickpipeError('GAP_LEDGER_FAILED', 'the gap ledger is closed (the service is stopping)')));
    if (op.m === 'list') return reply(this.read(() => this.open().list(op)));
    this.queue.push({ op, reply });
    this.pump();
  }

  /** Shutdown: what waits gets one more try, then the file is closed; what still cannot be written is said and answered. */
  close(): void {
    if (this.closed) return;
    clearTimeout(this.retry);
    this.retry = undefined;
    this.pump();
    this.closed = true;
    clearTimeout(this.retry);
    const left = this.queue.splice(0);
    if (left.length > 0) {
      const err = new TickpipeError(
        'GAP_LEDGER_BUSY',
        `the gap ledger ${this.path} is still locked by another process at shutdown: ${left.length} update(s) not written (${left.map((q) => q.op.m).join(', ')}); pending gaps are found again at the next start`,
      );
      this.logger.error({ code: err.code, path: this.path }, err.message);
      for (const q of left) q.reply(failure(err));
    }
    try {
      this.ledger?.close();
    } catch (err) {
      this.logger.warn({ err }, `closing the gap ledger failed: ${describeError(err)}`);
    }
    this.ledger = undefined;
  }

  private pump(): void {
    while (this.queue.length > 0 && this.retry === undefined) {
      const head = this.queue[0];
      let value: LedgerReplyValue;
      try {
        value = this.apply(head.op);
      } catch (err) {
        if (isLockError(err)) {
          this.locked(err);
          this.retry = setTimeout(() => ((this.retry = undefined), this.pump()), this.opts.retryMs);
          return;
        }
        this.queue.shift();
        const f = failure(err);
        this.logger.error({ code: f.code, op: head.op.m }, `gap ledger ${head.op.m} failed: ${f.message}`);
        head.reply(f);
        continue;
      }
      this.queue.shift();
      this.unlocked();
      head.reply({ ok: true, value });
    }
  }

  private apply(op: LedgerOp): LedgerReplyValue {
    switch (op.m) {
      case 'begin': {
        this.path = op.path;
        const ledger = this.open();
        const outage = ledger.begin();
        return { outage, pending: ledger.pending(), summary: summary(ledger) } satisfies BeginResult;
      }
      case 'record':
        this.open().record(op.gap, op.backfill, op.detail);
        return this.written();
      case 'settle':
        this.open().settle(op.id, op.backfill, op.detail, op.candles);
        return this.written();
      case 'get':
        return this.open().get(op.id) satisfies GapRow | undefined;
      case 'list':
        return this.open().list(op);
      case 'startOutageClosed':
        this.open().startOutageClosed();
        return this.written();
      case 'cleanStop': {
        const ledger = this.open();
        ledger.noteKeys(op.keys);
        if (op.lastFrameMs !== null) ledger.noteFrame(op.lastFrameMs);
        ledger.cleanStop();
        return this.written();
      }
    }
  }

  private written(): WriteResult {
    return { summary: summary(this.open()) };
  }

  /** The connection, opened at the first request (`begin`); a failed open (locked) is tried again with the request. */
  private open(): GapLedger {
    if (!this.ledger) {
      if (!this.path) throw new TickpipeError('GAP_LEDGER_FAILED', 'the gap ledger was used before it was opened (begin)');
      this.ledger = new GapLedger({ path: this.path, busyTimeoutMs: this.opts.busyTimeoutMs });
    }
    return this.ledger;
  }

  private read(f: () => LedgerReplyValue): LedgerReply {
    try {
      return { ok: true, value: f() };
    } catch (err) {
      if (isLockError(err)) {
        this.locked(err);
        return failure(
          new TickpipeError('GAP_LEDGER_BUSY', `the gap ledger ${this.path} is locked by another process; try again once it is released`),
        );
      }
      return failure(err);
    }
  }

  private locked(err: unknown): void {
    if (this.lockedSince !== null) return;
    this.lockedSince = Date.now();
    this.logger.error(
      { code: 'GAP_LEDGER_BUSY', path: this.path, err: describeError(err) },
      `the gap ledger ${this.path} is locked by another process (a backup tool, an open sqlite3?): gap records wait, in order, and are retried every ${this.opts.retryMs} ms; /ticks and storage go on`,
    );
  }

  private unlocked(): void {
    if (this.lockedSince === null) return;
    this.logger.info(
      { path: this.path, lockedMs: Date.now() - this.lockedSince },
      `the gap ledger ${this.path} is writable again; the gap records that waited are written`,
    );
    this.lockedSince = null;
  }
}

function summary(ledger: GapLedger): LedgerSummary {
  return { totals: ledger.totals(), counts: ledger.countsByState() };
}

/** The reply for an error: its code when it has one of ours, else GAP_LEDGER_BUSY or GAP_LEDGER_FAILED. */
function failure(err: unknown): LedgerFailure {
  const code = err instanceof TickpipeError ? err.code : isLockError(err) ? 'GAP_LEDGER_BUSY' : 'GAP_LEDGER_FAILED';
  return { ok: false, code, message: describeError(err) };
}
