/**
 * The gap ledger: a small SQLite file beside the spool (`gaps.db`) that survives restarts and
 * crashes. It holds
 *   - every gap (from, to, keys, reason) with its backfill state and detail, for GET /gaps and for
 *     resuming a backfill after a restart;
 *   - the run record: the "last frame seen" mark and the keys streamed then, written by
 *     `flushMark` (never per frame: `noteFrame` only sets a number; main keeps the mark and posts
 *     it every few seconds, src/gaps/ledger-client.ts), and whether the last run stopped cleanly.
 *     At the next start, `begin()` turns the mark into the outage the service's own absence
 *     caused: `service stopped` after a clean stop, `service crashed` otherwise.
 * In the service this class runs on the storage worker's thread (src/gaps/ledger-host.ts), never on
 * the event loop that feeds /ticks: better-sqlite3 is synchronous, and a lock held on gaps.db by
 * another process (a backup tool, an open `sqlite3`) would block its caller for the busy timeout.
 * Main talks to it through src/gaps/ledger-client.ts.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import type { BackfillState, Gap, GapReason } from '../../machines/rules/gaps.js';
import { TickpipeError } from '../errors.js';

export interface GapRow extends Gap {
  backfill: BackfillState;
  detail: string;
  candles: number;
  updatedAt: number;
}

/** The outage found at start: from the last frame of the previous run to whenever streaming resumes. */
export interface StartOutage {
  at: number;
  keys: string[];
  reason: Extract<GapReason, 'service stopped' | 'service crashed'>;
}

export interface LedgerOptions {
  path: string;
  now?: () => number;
  /** How long a statement waits for another connection's lock before SQLITE_BUSY (better-sqlite3's default: 5000). */
  busyTimeoutMs?: number;
}

/** `gaps.db` in the spool's directory (`:memory:` beside an in-memory spool). */
export function ledgerPathBeside(spoolPath: string): string {
  return spoolPath === ':memory:' ? ':memory:' : join(dirname(spoolPath), 'gaps.db');
}

interface RawGap {
  id: string;
  from_ms: number;
  to_ms: number;
  keys: string;
  reason: GapReason;
  backfill: BackfillState;
  detail: string;
  candles: number;
  updated_ms: number;
}

const toRow = (r: RawGap): GapRow => ({
  id: r.id,
  from: r.from_ms,
  to: r.to_ms,
  keys: JSON.parse(r.keys) as string[],
  reason: r.reason,
  backfill: r.backfill,
  detail: r.detail,
  candles: r.candles,
  updatedAt: r.updated_ms,
});

export class GapLedger {
  private readonly db: Database.Database;
  private readonly now: () => number;
  private lastFrameAt: number | null = null;
  private keys: string[] = [];
  private dirty = false;

  constructor(opts: LedgerOptions) {
    this.now = opts.now ?? Date.now;
    let db: Database.Database | undefined;
    try {
      if (opts.path !== ':memory:') mkdirSync(dirname(opts.path), { recursive: true });
      db = new Database(opts.path, opts.busyTimeoutMs === undefined ? {} : { timeout: opts.busyTimeoutMs });
      this.db = db;
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.exec(`
        CREATE TABLE IF NOT EXISTS gaps (
          id TEXT PRIMARY KEY,
          from_ms INTEGER NOT NULL,
          to_ms INTEGER NOT NULL,
          keys TEXT NOT NULL,
          reason TEXT NOT NULL,
          backfill TEXT NOT NULL,
          detail TEXT NOT NULL DEFAULT '',
          candles INTEGER NOT NULL DEFAULT 0,
          created_ms INTEGER NOT NULL,
          updated_ms INTEGER NOT NULL
        );
        CREATE INDEX IF NOT EXISTS gaps_from ON gaps (from_ms);
        CREATE TABLE IF NOT EXISTS run (
          id INTEGER PRIMARY KEY CHECK (id = 1),
          last_frame_ms INTEGER,
          keys TEXT NOT NULL DEFAULT '[]',
          clean_stop INTEGER NOT NULL DEFAULT 0,
          open_reason TEXT,
          open_from_ms INTEGER
        );
        INSERT OR IGNORE INTO run (id) VALUES (1);
      `);
    } catch (err) {
      // A failed open (gaps.db locked by another process) is retried with a new connection.
      db?.close();
      throw new TickpipeError(
        'GAP_LEDGER_FAILED',
        `cannot open the gap ledger ${opts.path}: ${(err as Error).message}; check that the spool directory is writable`,
        { cause: err },
      );
    }
  }

  /**
   * Starts a run: reports the outage the previous run's end left (null on a first start), and
   * marks this run as not cleanly stopped until `cleanStop()`. An outage found at an earlier start
   * that no frame has closed yet is reported again with its first reason.
   */
  begin(): StartOutage | null {
    const run = this.db.prepare('SELECT * FROM run WHERE id = 1').get() as {
      last_frame_ms: number | null;
      keys: string;
      clean_stop: number;
      open_reason: StartOutage['reason'] | null;
      open_from_ms: number | null;
    };
    this.keys = JSON.parse(run.keys) as string[];
    this.lastFrameAt = run.last_frame_ms;
    let found: StartOutage | null = null;
    // No frame since that outage was found: the previous run never streamed, so it is the same outage.
    if (run.open_reason && run.open_from_ms !== null && run.open_from_ms === run.last_frame_ms) {
      found = { at: run.open_from_ms, keys: this.keys, reason: run.open_reason };
    } else if (run.last_frame_ms !== null) {
      found = { at: run.last_frame_ms, keys: this.keys, reason: run.clean_stop ? 'service stopped' : 'service crashed' };
    }
    this.db
      .prepare('UPDATE run SET clean_stop = 0, open_reason = ?, open_from_ms = ? WHERE id = 1')
      .run(found?.reason ?? null, found?.at ?? null);
    return found;
  }

  /** Per frame: only remembers the time. */
  noteFrame(at: number): void {
    this.lastFrameAt = at;
    this.dirty = true;
  }

  /** The keys being streamed (on subscription changes); written with the next frame's mark. */
  noteKeys(keys: readonly string[]): void {
    this.keys = [...keys];
  }

  /** The outage found at start has been closed by the first frame: it is a gap now, not a mark. */
  startOutageClosed(): void {
    this.db.prepare('UPDATE run SET open_reason = NULL, open_from_ms = NULL WHERE id = 1').run();
  }

  /** Writes the mark if a frame came since the last write (until then the previous run's mark stays). */
  flushMark(): void {
    if (!this.dirty || this.lastFrameAt === null) return;
    this.writeMarkHere();
    this.dirty = false;
  }

  private writeMarkHere(): void {
    if (this.lastFrameAt === null) return;
    this.db.prepare('UPDATE run SET last_frame_ms = ?, keys = ? WHERE id = 1').run(this.lastFrameAt, JSON.stringify(this.keys));
  }

  /** Records a new gap (a gap already recorded, e.g. found again after a restart, keeps its state). */
  record(gap: Gap, backfill: BackfillState, detail = ''): void {
    const now = this.now();
    this.db
      .prepare(
        `INSERT INTO gaps (id, from_ms, to_ms, keys, reason, backfill, detail, created_ms, updated_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING`,
      )
      .run(gap.id, gap.from, gap.to, JSON.stringify(gap.keys), gap.reason, backfill, detail, now, now);
  }

  settle(id: string, backfill: BackfillState, detail: string, candles: number): void {
    this.db
      .prepare('UPDATE gaps SET backfill = ?, detail = ?, candles = ?, updated_ms = ? WHERE id = ?')
      .run(backfill, detail, candles, this.now(), id);
  }

  get(id: string): GapRow | undefined {
    const r = this.db.prepare('SELECT * FROM gaps WHERE id = ?').get(id) as RawGap | undefined;
    return r ? toRow(r) : undefined;
  }

  /** Newest first; `since` keeps gaps that end at or after it. */
  list(opts: { since?: number; limit?: number } = {}): GapRow[] {
    const rows = this.db
      .prepare('SELECT * FROM gaps WHERE to_ms >= ? ORDER BY from_ms DESC, to_ms DESC LIMIT ?')
      .all(opts.since ?? Number.MIN_SAFE_INTEGER, opts.limit ?? 1000) as RawGap[];
    return rows.map(toRow);
  }

  /** Gaps whose backfill has not finished (to resume after a restart), oldest first. */
  pending(): Gap[] {
    const rows = this.db.prepare("SELECT * FROM gaps WHERE backfill = 'pending' ORDER BY from_ms").all() as RawGap[];
    return rows.map((r) => {
      const { id, from, to, keys, reason } = toRow(r);
      return { id, from, to, keys, reason };
    });
  }

  /** For /metrics: gaps and seconds by reason, candles backfilled. */
  totals(): { byReason: Array<{ reason: string; gaps: number; seconds: number }>; candles: number } {
    const byReason = this.db
      .prepare('SELECT reason, COUNT(*) AS gaps, COALESCE(SUM(to_ms - from_ms), 0) / 1000.0 AS seconds FROM gaps GROUP BY reason')
      .all() as Array<{ reason: string; gaps: number; seconds: number }>;
    const { candles } = this.db.prepare('SELECT COALESCE(SUM(candles), 0) AS candles FROM gaps').get() as { candles: number };
    return { byReason, candles };
  }

  /** Gaps per backfill state. */
  countsByState(): Record<BackfillState, number> {
    const counts: Record<BackfillState, number> = { pending: 0, done: 0, failed: 0, none: 0 };
    const rows = this.db.prepare('SELECT backfill, COUNT(*) AS n FROM gaps GROUP BY backfill').all() as Array<{
      backfill: BackfillState;
      n: number;
    }>;
    for (const r of rows) counts[r.backfill] = r.n;
    return counts;
  }

  /** Flushes the mark and records that this run ended cleanly. */
  cleanStop(): void {
    // The mark must be on disk before the clean stop is.
    this.writeMarkHere();
    this.dirty = false;
    this.db.prepare('UPDATE run SET clean_stop = 1 WHERE id = 1').run();
  }

  close(): void {
    this.db.close();
  }
}
