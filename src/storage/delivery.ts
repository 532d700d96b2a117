/**
 * Delivery of spooled rows and memory batches to InfluxDB, and the bookkeeping of what landed:
 * the part of the write path that talks to the client and retires what it acknowledged. It runs
 * inside the write path's single request lane (src/storage/write-path.ts), which decides what is
 * sent when.
 *
 * A row is retired (deleted, with the lines InfluxDB rejected moved to the dead letters, in one
 * transaction) only after InfluxDB answered for it; only then does it count as landed. A full disk
 * can fail that delete: the row is then remembered as delivered, retired later, and sending goes
 * on after it, so order holds and a full disk does not stop delivery. A restart sends such rows
 * again, which is harmless (same points).
 */
import type { WriteClient } from '../influx/write-client.js';
import type { Logger } from '../logger.js';
import { type Spool, type SpoolRow, joinBodies } from '../spool/spool.js';
import type { Stats } from '../stats.js';
import type { DropLog } from './drop-log.js';
import type { MemoryQueue } from './memory-queue.js';
import { type Failure, type Rejected, sendSplitting } from './split-send.js';
import type { StorageReport } from '../../machines/events.js';
import type { ErrorCode } from '../errors.js';

export interface DeliveryOptions {
  spool: Spool;
  client: WriteClient | null;
  stats: Stats;
  logger: Logger;
  memory: MemoryQueue;
  drops: DropLog;
  split5xxAfter?: number;
  /** The spool shard this delivery replays (one write lane); every row when absent. */
  shard?: number;
  report(event: StorageReport): void;
  observeWriteLatency?: (seconds: number, outcome: string) => void;
  /** The spool refused a write or delete. */
  spoolFailed(err: unknown): void;
  /** Every delivered row is retired now: a good moment to spool what waits in memory. */
  afterRetire(): void;
}

const CODES: Record<Failure['kind'], ErrorCode> = {
  unavailable: 'INFLUX_UNAVAILABLE',
  unauthorized: 'INFLUX_UNAUTHORIZED',
  forbidden: 'INFLUX_FORBIDDEN',
  bucketNotFound: 'INFLUX_BUCKET_NOT_FOUND',
  badRequest: 'INFLUX_BAD_REQUEST',
};

/** Points of `rows` InfluxDB took: all but the rejected lines. */
function took(rows: readonly SpoolRow[], rejected: readonly Rejected[]): number {
  let n = 0;
  for (const r of rows) n += r.points;
  for (const r of rejected) n -= r.lines.length;
  return n;
}

export class Delivery {
  /** Rows InfluxDB acknowledged that the spool could not delete yet, oldest first. */
  private readonly delivered: Array<{ rows: SpoolRow[]; rejected: Rejected[]; drained: boolean }> = [];
  /** The head batch that keeps failing with 5xx, and how often it did. */
  private failing5xx = { seq: -1, attempts: 0 };
  /** Batches (by seq) already counted in stats.pointsSpooled, so a batch that waits and then fails a live write counts once. */
  private readonly spooledCounted = new Set<number>();
  /** What landed since the last WRITE_OK report. */
  private landed = { points: 0, firstTs: Infinity, lastTs: -Infinity, keys: new Set<string>() };

  constructor(private readonly o: DeliveryOptions) {}

  hasDelivered(): boolean {
    return this.delivered.length > 0;
  }

  /** What landed since the last call (for WRITE_OK), or null. */
  takeLanded(): { points: number; firstTs: number; lastTs: number; keys: string[] } | null {
    const l = this.landed;
    if (l.points === 0) return null;
    this.landed = { points: 0, firstTs: Infinity, lastTs: -Infinity, keys: new Set() };
    return { points: l.points, firstTs: l.firstTs, lastTs: l.lastTs, keys: [...l.keys].sort() };
  }

  /** The oldest spooled rows not yet sent (after those delivered but not yet deleted). */
  nextRows(maxPoints: number): SpoolRow[] {
    if (this.o.spool.pendingBatches(this.o.shard) === 0) return [];
    const last = this.delivered.at(-1)?.rows.at(-1);
    return this.o.spool.oldest(maxPoints, last ? { seq: last.seq, id: last.id } : undefined, this.o.shard);
  }

  deliveredPoints(): number {
    let n = 0;
    for (const g of this.delivered) for (const r of g.rows) n += r.points;
    return n;
  }

  /** Retires delivered rows the spool could not delete before; false while it still cannot. */
  retireDelivered(): boolean {
    if (this.delivered.length === 0) return true;
    while (this.delivered.length > 0) {
      const g = this.delivered[0];
      try {
        this.o.spool.retire(g.rows, g.rejected);
      } catch (err) {
        this.o.spoolFailed(err);
        return false;
      }
      this.delivered.shift();
      this.retired(g.rows, g.rejected, g.drained);
    }
    this.o.afterRetire();
    return true;
  }

  /** Sends line protocol, splitting as needed; a head batch that keeps failing with 5xx is split to isolate what InfluxDB cannot take. */
  private async sendLines(body: Buffer, points: number, headSeq: number): Promise<{ failure: Failure | null; rejected: Rejected[] }> {
    const split5xx = this.failing5xx.seq === headSeq && this.failing5xx.attempts >= (this.o.split5xxAfter ?? 3);
    const res = await sendSplitting(this.o.client!, body, points, {
      split5xx,
      ...(this.o.observeWriteLatency ? { observe: this.o.observeWriteLatency } : {}),
    });
    const f = res.failure;
    if (f && f.kind === 'unavailable' && f.status !== undefined && f.status >= 500) {
      this.failing5xx =
        this.failing5xx.seq === headSeq ? { seq: headSeq, attempts: this.failing5xx.attempts + 1 } : { seq: headSeq, attempts: 1 };
    } else if (!f) this.failing5xx = { seq: -1, attempts: 0 };
    return res;
  }

  /** Writes spooled rows; retires them on success. Returns the points InfluxDB took, or false when they must be tried again later. */
  async writeRows(rows: SpoolRow[], drained: boolean): Promise<number | false> {
    if (rows.length === 0) return 0;
    // The stored bytes as they are: no split into lines unless InfluxDB rejects some.
    let points = 0;
    for (const r of rows) points += r.points;
    const { failure, rejected } = await this.sendLines(joinBodies(rows), points, rows[0].seq);
    if (failure) {
      if (!drained) for (const r of rows) this.countSpooled(r.seq, r.points);
      this.fail(failure);
      return false;
    }
    try {
      this.o.spool.retire(rows, rejected);
    } catch (err) {
      // Landed but not deletable (a full disk): remembered, retired later; sending goes on after them.
      this.o.spoolFailed(err);
      this.delivered.push({ rows, rejected, drained });
      return took(rows, rejected);
    }
    this.retired(rows, rejected, drained);
    return took(rows, rejected);
  }

  /** Counts rows InfluxDB took (less what it rejected) once they have left the spool. */
  private retired(rows: readonly SpoolRow[], rejected: readonly Rejected[], drained: boolean): void {
    const dead = this.logRejected(rejected);
    let points = 0;
    for (const r of rows) {
      points += r.points;
      this.spooledCounted.delete(r.seq);
      this.noteLanded(r.points, r.firstTs, r.lastTs, r.keys);
    }
    this.landed.points -= dead;
    this.countLanded(points - dead, drained);
  }

  /** Sends the oldest memory batch (nothing older waits unsent). Returns the points InfluxDB took, or false. */
  async writeFromMemory(): Promise<number | false> {
    const e = this.o.memory.head()!;
    e.inFlight = true;
    let result: { failure: Failure | null; rejected: Rejected[] };
    try {
      result = await this.sendLines(e.batch.body(), e.batch.points, e.seq);
    } finally {
      e.inFlight = false;
    }
    if (result.failure) {
      this.fail(result.failure);
      return false;
    }
    this.o.memory.remove(e);
    const { stats } = this.o;
    stats.pointsBuffered -= e.batch.points;
    let rejected = 0;
    for (const r of result.rejected) {
      rejected += r.lines.length;
      try {
        this.o.spool.deadLetter(r.lines, r.why);
      } catch {
        // No disk for dead letters either: these lines are lost, and said so.
        stats.pointsDroppedDiskFull += r.lines.length;
        this.o.drops.drop('DiskFull', r.lines.length, e.batch.firstTs, e.batch.lastTs, []);
      }
    }
    this.logRejected(result.rejected);
    const dead = rejected;
    this.countLanded(e.batch.points - dead, false);
    this.noteLanded(e.batch.points - dead, e.batch.firstTs, e.batch.lastTs, e.batch.keys);
    return e.batch.points - dead;
  }

  private countLanded(points: number, drained: boolean): void {
    const { stats } = this.o;
    stats.pointsWritten += points;
    stats.pointsLanded += points;
    if (drained) stats.pointsDrained += points;
  }

  /** Logs what InfluxDB rejected; returns how many lines that was. */
  private logRejected(rejected: readonly Rejected[]): number {
    let n = 0;
    for (const r of rejected) {
      this.o.logger.error(
        { points: r.lines.length, status: r.status },
        `dead-lettered ${r.lines.length} point(s) InfluxDB rejected: ${r.message}`,
      );
      n += r.lines.length;
    }
    return n;
  }

  private fail(outcome: Failure): void {
    this.o.report({
      type: 'WRITE_FAILED',
      outcome: outcome.kind,
      code: CODES[outcome.kind] ?? 'INFLUX_UNAVAILABLE',
      message: outcome.message,
      ...(outcome.kind === 'unavailable' && outcome.retryAfterS !== undefined ? { retryAfterS: outcome.retryAfterS } : {}),
    });
  }

  countSpooled(seq: number, points: number): void {
    if (this.spooledCounted.has(seq)) return;
    this.spooledCounted.add(seq);
    this.o.stats.pointsSpooled += points;
    // Bounded: entries leave when their batch lands; batches a full spool dropped are the rare rest.
    if (this.spooledCounted.size > 100_000) this.spooledCounted.clear();
  }

  private noteLanded(points: number, firstTs: number, lastTs: number, keys: Iterable<string>): void {
    const l = this.landed;
    l.points += points;
    if (firstTs < l.firstTs) l.firstTs = firstTs;
    if (lastTs > l.lastTs) l.lastTs = lastTs;
    for (const k of keys) l.keys.add(k);
  }
}
