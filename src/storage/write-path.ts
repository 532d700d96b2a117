/**
 * The data plane of storage: frames → line protocol batches → the spool (write-ahead) → InfluxDB,
 * one request at a time. The writer machine opens and closes the route (influxUp/influxDown);
 * the drainer machine replays a backlog through `drainChunk`. Outcomes go back to the machines
 * as events, aggregated to at most one WRITE_OK per second.
 *
 * Why one request in flight: with several, batch k could fail while k+1 lands, and replaying k
 * later would overwrite k+1's newer candle values. Why write-ahead: a batch is durable the moment
 * it is flushed, so SIGKILL loses at most what was still being batched (one flush interval).
 * Why live data waits behind a backlog: replay is strictly in `seq` order, so a spooled older
 * value can never overwrite a newer one.
 *
 * When the spool cannot be written (full disk, lock, read-only), batches wait in memory, in order,
 * up to `memoryMaxPoints` (src/storage/memory-queue.ts); they are spooled again as soon as the
 * spool takes writes, or sent straight from memory when nothing older waits in the spool.
 *
 * Conservation (CONTRACT.md): a point is counted in stats.pointsBuilt when built, sits in
 * stats.pointsBuffered (memory) or the spool, and leaves them exactly once: landed, dead-lettered
 * (both when its spool row is retired, in one transaction) or a named drop.
 */
import { LineProtocolBuilder, PointBatch } from '../influx/line-protocol.js';
import type { WriteClient } from '../influx/write-client.js';
import { TickpipeError, describeError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Spool, SpoolRow } from '../spool/spool.js';
import type { Stats } from '../stats.js';
import type { DecodedFrame } from '../upstox/feed-types.js';
import { DropLog } from './drop-log.js';
import { MemoryQueue } from './memory-queue.js';
import { type Failure, type Rejected, sendSplitting } from './split-send.js';

/** Events for the writer and drainer actors. */
export type StorageReport =
  | { type: 'WRITE_OK'; points: number; firstTs: number; lastTs: number; keys: string[] }
  | {
      type: 'WRITE_FAILED';
      outcome: Failure['kind'];
      code: string;
      message: string;
      retryAfterS?: number;
    }
  | { type: 'SPOOLED'; pending: number }
  /** The spool cannot be written (logged once per change); points wait in memory. */
  | { type: 'SPOOL_FAILED'; message: string }
  | { type: 'SPOOL_OK' };

export interface DrainProgress {
  drained: number;
  pending: number;
  oldestAt: number | null;
  ratePerS: number;
}

export interface WritePathOptions {
  spool: Spool;
  client: WriteClient | null;
  stats: Stats;
  logger: Logger;
  batchMaxPoints: number;
  flushIntervalMs: number;
  drainChunkPoints: number;
  extraTags: Readonly<Record<string, string>>;
  /** Points kept in memory while the spool cannot be written; past it the oldest are dropped, counted. */
  memoryMaxPoints?: number;
  /** A batch failing with 5xx this many times while InfluxDB's health is fine is split to isolate what it cannot take. */
  split5xxAfter?: number;
  report(event: StorageReport): void;
  observeWriteLatency?: (seconds: number, outcome: string) => void;
}

const CODES: Record<string, string> = {
  unavailable: 'INFLUX_UNAVAILABLE',
  unauthorized: 'INFLUX_UNAUTHORIZED',
  forbidden: 'INFLUX_FORBIDDEN',
  bucketNotFound: 'INFLUX_BUCKET_NOT_FOUND',
  badRequest: 'INFLUX_BAD_REQUEST',
};

/** How often a spool that failed is tried again while batches wait in memory. */
const SPOOL_RETRY_MS = 1000;

export class WritePath {
  private readonly builder: LineProtocolBuilder;
  private batch = new PointBatch();
  private flushTimer: NodeJS.Timeout | undefined;
  /** The writer is influxUp: requests may be sent. */
  private routeOpen = false;
  /** The drainer is replaying a backlog: live flushes leave the sending to it. */
  private draining = false;
  /** The one request lane: a promise chain. */
  private lane: Promise<unknown> = Promise.resolve();
  private laneBusy = false;
  private landed = { points: 0, firstTs: Infinity, lastTs: -Infinity, keys: new Set<string>() };
  private readonly reportTimer: NodeJS.Timeout;
  private lastSpooledReport = 0;
  private closed = false;
  /** Why the spool cannot be written, while it cannot (shown in /state and /ready). */
  spoolError: string | null = null;
  private spoolRetry: NodeJS.Timeout | undefined;
  private readonly memory: MemoryQueue;
  private readonly drops: DropLog;
  /**
   * Rows InfluxDB acknowledged that the spool could not delete yet (a full disk fails deletes
   * too): retired, with their dead letters, once it can. Meanwhile sending goes on after them, so
   * a full disk does not stop delivery, and order holds (they were sent first). Counted as
   * pending until retired; a restart sends them again, which is harmless.
   */
  private readonly delivered: Array<{ rows: SpoolRow[]; rejected: Rejected[]; drained: boolean }> = [];
  /** The head batch that keeps failing with 5xx, and how often it did. */
  private failing5xx = { seq: -1, attempts: 0 };
  /** Batches (by seq) already counted in stats.pointsSpooled, so a batch that waits and then fails a live write counts once. */
  private readonly spooledCounted = new Set<number>();

  constructor(private readonly o: WritePathOptions) {
    this.builder = new LineProtocolBuilder(o.extraTags);
    this.reportTimer = setInterval(() => this.reportLanded(), 1000);
    this.reportTimer.unref();
    this.drops = new DropLog(o.logger);
    this.memory = new MemoryQueue(o.memoryMaxPoints ?? 500_000, o.stats, this.drops);
  }

  /**
   * Hot path: called synchronously for every decoded frame. `receivedAt` (default: now, which is
   * the receive time when called from the socket handler) stamps points of a frame without currentTs.
   */
  pushFrame(frame: DecodedFrame, receivedAt = Date.now()): void {
    if (this.closed) return;
    const batch = this.batch;
    if (batch.lines.length === 0) batch.startedAt = receivedAt;
    const added = this.builder.appendFrame(frame, batch, receivedAt);
    this.o.stats.pointsBuilt += added;
    this.o.stats.pointsBuffered += added;
    if (batch.lines.length >= this.o.batchMaxPoints) this.flush();
    else if (this.flushTimer === undefined && batch.lines.length > 0) {
      this.flushTimer = setTimeout(() => this.flush(), this.o.flushIntervalMs);
    }
  }

  /** Moves the batch being built into the spool (or memory, behind older ones) and, when nothing older waits, sends it. */
  flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const batch = this.batch;
    if (batch.lines.length === 0) return;
    this.batch = new PointBatch();
    const { spool } = this.o;
    const willWaitBehind = !this.routeOpen || this.draining || spool.pendingBatches() > 0 || this.memory.size > 0;
    this.memory.push({ seq: spool.takeSeq(), batch, waits: willWaitBehind });
    // While the spool fails, only the retry timer tries it (each try may block up to the busy timeout).
    if (this.spoolError === null) this.spoolMemory();
    this.kick();
  }

  /** Appends what waits in memory to the spool, oldest first, until one append fails. */
  private spoolMemory(): void {
    const { spool, stats } = this.o;
    for (let e = this.memory.head(); e !== undefined; e = this.memory.head()) {
      if (e.inFlight) return;
      const { seq, batch } = e;
      let kept: boolean;
      try {
        kept = spool.append(seq, batch.lines, batch.firstTs, batch.lastTs, batch.keys);
      } catch (err) {
        this.spoolFailed(err);
        return;
      }
      this.memory.shift();
      stats.pointsBuffered -= batch.lines.length;
      if (kept && e.waits) this.countSpooled(seq, batch.lines.length);
    }
    this.spoolRecovered();
  }

  private spoolFailed(err: unknown): void {
    const message = describeError(err);
    if (this.spoolError === null) {
      this.o.logger.error(
        { err, waitingInMemory: this.memory.points },
        `the spool cannot be written (${message}); batches wait in memory (at most ${this.memory.maxPoints} points, then the oldest are dropped and counted) and it is tried again every ${SPOOL_RETRY_MS / 1000} s`,
      );
      this.o.report({ type: 'SPOOL_FAILED', message });
    }
    this.spoolError = message;
    if (this.closed) return; // shutdown retries by itself
    this.spoolRetry ??= setInterval(() => {
      if (!this.laneBusy) this.retireDelivered();
      this.spoolMemory();
      this.kick();
    }, SPOOL_RETRY_MS);
    this.spoolRetry.unref();
  }

  private spoolRecovered(): void {
    if (this.spoolError === null || this.delivered.length > 0) return;
    this.o.logger.info(`the spool takes writes again (was: ${this.spoolError})`);
    this.spoolError = null;
    clearInterval(this.spoolRetry);
    this.spoolRetry = undefined;
    this.o.report({ type: 'SPOOL_OK' });
  }

  /** Starts sending what waits, or tells the drainer, as the route allows. */
  private kick(): void {
    if (!this.routeOpen || this.draining || this.closed) return;
    if (this.o.spool.pendingPoints() - this.deliveredPoints() > this.o.batchMaxPoints * 3) {
      this.tellDrainer();
      return;
    }
    if (!this.laneBusy && (this.o.spool.pendingBatches() > 0 || this.memory.size > 0)) {
      this.enqueue(() => this.pumpLive()).catch((err: unknown) => {
        // Reading the spool failed: logged here, tried again at the next flush or route change.
        this.o.logger.error({ err }, `live write stopped: ${describeError(err)}`);
      });
    }
  }

  /** The writer's route: open while influxUp. Opening resumes sending what waits. */
  setRoute(open: boolean): void {
    this.routeOpen = open && this.o.client !== null;
    if (this.routeOpen && this.o.spool.pendingPoints() - this.deliveredPoints() > this.o.batchMaxPoints * 3 && !this.draining)
      this.tellDrainer(true);
    else this.kick();
  }

  setDraining(on: boolean): void {
    this.draining = on;
    if (!on) this.kick();
  }

  /** Live writes: the few newest batches, while no backlog needs the drainer; then memory, when nothing older waits. */
  private async pumpLive(): Promise<void> {
    const { spool } = this.o;
    while (this.routeOpen && !this.draining) {
      this.retireDelivered();
      const rows = this.nextRows(this.o.batchMaxPoints * 2);
      if (rows.length > 0) {
        if (spool.pendingPoints() - this.deliveredPoints() > this.o.batchMaxPoints * 3) {
          this.tellDrainer(true);
          return;
        }
        if (!(await this.writeRows(rows, false))) return;
      } else if (this.memory.size > 0) {
        // Nothing older waits unsent: the oldest memory batch may go straight to InfluxDB.
        if (!(await this.writeFromMemory())) return;
      } else return;
    }
  }

  /** The oldest spooled rows not yet sent (after those delivered but not yet deleted). */
  private nextRows(maxPoints: number): SpoolRow[] {
    if (this.o.spool.pendingBatches() === 0) return [];
    const last = this.delivered.at(-1)?.rows.at(-1);
    return this.o.spool.oldest(maxPoints, last ? { seq: last.seq, id: last.id } : undefined);
  }

  private deliveredPoints(): number {
    let n = 0;
    for (const g of this.delivered) for (const r of g.rows) n += r.points;
    return n;
  }

  /** Retires delivered rows the spool could not delete before; false while it still cannot. */
  private retireDelivered(): boolean {
    while (this.delivered.length > 0) {
      const g = this.delivered[0];
      try {
        this.o.spool.retire(g.rows, g.rejected);
      } catch (err) {
        this.spoolFailed(err);
        return false;
      }
      this.delivered.shift();
      this.retired(g.rows, g.rejected, g.drained);
    }
    if (this.spoolError !== null) this.spoolMemory();
    return true;
  }

  /**
   * The drainer's work: replay oldest-first for up to `maxMs`, then report progress (so the drainer
   * actor hears of it about once a second, not per chunk). Rejects when a write fails.
   */
  drainChunk(maxMs = 1000): Promise<DrainProgress> {
    return this.enqueue(async () => {
      const { spool } = this.o;
      const start = Date.now();
      let drained = 0;
      while (this.routeOpen && Date.now() - start < maxMs) {
        this.retireDelivered();
        const rows = this.nextRows(this.o.drainChunkPoints);
        // Progress is what InfluxDB acknowledged, whether or not a full disk let the rows be deleted yet.
        if (rows.length > 0) {
          if (!(await this.writeRows(rows, true)))
            throw new TickpipeError('INFLUX_UNAVAILABLE', 'a replayed chunk did not land; it stays spooled');
          for (const r of rows) drained += r.points;
        } else if (this.memory.size > 0) {
          const points = this.memory.head()!.batch.lines.length;
          if (!(await this.writeFromMemory()))
            throw new TickpipeError('INFLUX_UNAVAILABLE', 'a batch waiting in memory did not land; it keeps waiting');
          drained += points;
        } else break;
      }
      const elapsed = Math.max(1, Date.now() - start);
      return {
        drained,
        // What still has to be sent: delivered rows only wait to be deleted.
        pending: spool.pendingPoints() - this.deliveredPoints() + this.memory.points,
        oldestAt: spool.oldestCreatedAt(),
        ratePerS: Math.round((drained * 1000) / elapsed),
      };
    });
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = async () => {
      this.laneBusy = true;
      try {
        return await task();
      } finally {
        this.laneBusy = false;
      }
    };
    const p = this.lane.then(run, run);
    this.lane = p.catch(() => undefined);
    return p;
  }

  /** Sends lines, splitting as needed; a head batch that keeps failing with 5xx is split to isolate what InfluxDB cannot take. */
  private async sendLines(lines: string[], headSeq: number): Promise<{ failure: Failure | null; rejected: Rejected[] }> {
    const split5xx = this.failing5xx.seq === headSeq && this.failing5xx.attempts >= (this.o.split5xxAfter ?? 3);
    const res = await sendSplitting(this.o.client!, lines, {
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

  /** Writes spooled rows; retires them on success. False when they must be tried again later. */
  private async writeRows(rows: SpoolRow[], drained: boolean): Promise<boolean> {
    if (rows.length === 0) return true;
    const lines = rows.length === 1 ? rows[0].lines.split('\n') : rows.flatMap((r) => r.lines.split('\n'));
    const { failure, rejected } = await this.sendLines(lines, rows[0].seq);
    if (failure) {
      if (!drained) for (const r of rows) this.countSpooled(r.seq, r.points);
      this.fail(failure);
      return false;
    }
    try {
      this.o.spool.retire(rows, rejected);
    } catch (err) {
      // Landed but not deletable (a full disk): remembered, retired later; sending goes on after them.
      this.spoolFailed(err);
      this.delivered.push({ rows, rejected, drained });
      return true;
    }
    this.retired(rows, rejected, drained);
    return true;
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

  /** Sends the oldest memory batch (the spool cannot be written and holds nothing older). */
  private async writeFromMemory(): Promise<boolean> {
    const e = this.memory.head()!;
    e.inFlight = true;
    let result: { failure: Failure | null; rejected: Rejected[] };
    try {
      result = await this.sendLines(e.batch.lines, e.seq);
    } finally {
      e.inFlight = false;
    }
    if (result.failure) {
      this.fail(result.failure);
      return false;
    }
    this.memory.remove(e);
    const { stats } = this.o;
    stats.pointsBuffered -= e.batch.lines.length;
    let rejected = 0;
    for (const r of result.rejected) {
      rejected += r.lines.length;
      try {
        this.o.spool.deadLetter(r.lines, r.why);
      } catch {
        // No disk for dead letters either: these lines are lost, and said so.
        stats.pointsDroppedDiskFull += r.lines.length;
        this.drops.drop('DiskFull', r.lines.length, e.batch.firstTs, e.batch.lastTs, []);
      }
    }
    this.logRejected(result.rejected);
    const dead = rejected;
    this.countLanded(e.batch.lines.length - dead, false);
    this.noteLanded(e.batch.lines.length - dead, e.batch.firstTs, e.batch.lastTs, e.batch.keys);
    return true;
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

  private countSpooled(seq: number, points: number): void {
    if (this.spooledCounted.has(seq)) return;
    this.spooledCounted.add(seq);
    this.o.stats.pointsSpooled += points;
    // Bounded: entries leave when their batch lands; batches a full spool dropped are the rare rest.
    if (this.spooledCounted.size > 100_000) this.spooledCounted.clear();
  }

  private tellDrainer(force = false): void {
    const now = Date.now();
    if (!force && now - this.lastSpooledReport < 1000) return;
    this.lastSpooledReport = now;
    this.o.report({ type: 'SPOOLED', pending: this.o.spool.pendingPoints() });
  }

  private noteLanded(points: number, firstTs: number, lastTs: number, keys: Iterable<string>): void {
    const l = this.landed;
    l.points += points;
    if (firstTs < l.firstTs) l.firstTs = firstTs;
    if (lastTs > l.lastTs) l.lastTs = lastTs;
    for (const k of keys) l.keys.add(k);
  }

  private reportLanded(): void {
    const l = this.landed;
    if (l.points === 0) return;
    this.landed = { points: 0, firstTs: Infinity, lastTs: -Infinity, keys: new Set() };
    this.o.report({ type: 'WRITE_OK', points: l.points, firstTs: l.firstTs, lastTs: l.lastTs, keys: [...l.keys].sort() });
  }

  /** Points waiting in memory because the spool cannot be written (not counting the batch being built). */
  memoryPoints(): number {
    return this.memory.points;
  }

  /** Probe used by the writer machine while influxDown. */
  async probe(): Promise<void> {
    if (!this.o.client) throw new TickpipeError('INFLUX_UNAVAILABLE', 'INFLUX_URL is not set');
    await this.o.client.probe();
  }

  /**
   * Stops at once, as a crash would: no flush, nothing more sent, timers cleared; the batch being
   * built is lost (it was never durable) and the spool is left as it is. For tests and a worker
   * being terminated.
   */
  abort(): void {
    this.closed = true;
    this.routeOpen = false;
    clearTimeout(this.flushTimer);
    clearInterval(this.reportTimer);
    clearInterval(this.spoolRetry);
  }

  /**
   * Shutdown: what is being batched goes to the spool (durable at once), then the lane gets up to
   * `timeoutMs` to write what waits; whatever is left stays spooled for the next start. What only
   * memory held (the spool unwritable) and could not be written is counted as dropped and said.
   */
  async flushAndClose(timeoutMs: number): Promise<void> {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    const deadline = Date.now() + timeoutMs;
    const timeLeft = () =>
      new Promise((r) => {
        setTimeout(r, Math.max(0, deadline - Date.now())).unref();
      });
    if (this.routeOpen && (this.nextRows(1).length > 0 || this.memory.size > 0)) {
      const work = this.enqueue(async () => {
        while (this.routeOpen && Date.now() < deadline) {
          this.retireDelivered();
          this.spoolMemory();
          const rows = this.nextRows(this.o.drainChunkPoints);
          if (rows.length > 0) {
            if (!(await this.writeRows(rows, true))) break;
          } else if (this.memory.size > 0) {
            if (!(await this.writeFromMemory())) break;
          } else break;
        }
      });
      await Promise.race([work.catch(() => undefined), timeLeft()]);
    }
    await Promise.race([this.lane, timeLeft()]);
    this.routeOpen = false;
    clearInterval(this.reportTimer);
    clearInterval(this.spoolRetry);
    this.spoolMemory();
    this.memory.dropAll('Shutdown');
    this.drops.flush();
    this.reportLanded();
  }
}
