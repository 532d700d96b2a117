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
 * Conservation: a point is counted in stats.pointsBuilt when built, sits in
 * stats.pointsBuffered (memory) or the spool, and leaves them exactly once: landed, dead-lettered
 * (both when its spool row is retired, in one transaction) or a named drop.
 */
import type { DrainProgress, StorageReport } from '../../machines/events.js';
import { LineProtocolBuilder, PointBatch } from '../influx/line-protocol.js';
import type { WriteClient } from '../influx/write-client.js';
import { TickpipeError, describeError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Spool } from '../spool/spool.js';
import type { Stats } from '../stats.js';
import type { Candle, DecodedFrame } from '../upstox/feed-types.js';
import { Delivery } from './delivery.js';
import { DropLog } from './drop-log.js';
import { MemoryQueue } from './memory-queue.js';

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
  /** Trading symbol of a key (instrument master), for the `symbol` tag. */
  symbolOf?: (key: string) => string | undefined;
  /** Delivers outcomes to the actors (the composition root sends them to the root machine). */
  report(event: StorageReport): void;
  observeWriteLatency?: (seconds: number, outcome: string) => void;
}

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
  private readonly reportTimer: NodeJS.Timeout;
  private lastSpooledReport = 0;
  private closed = false;
  /** Why the spool cannot be written, while it cannot (shown in /state and /ready). */
  spoolError: string | null = null;
  private spoolRetry: NodeJS.Timeout | undefined;
  private readonly memory: MemoryQueue;
  private readonly drops: DropLog;
  private readonly delivery: Delivery;

  constructor(private readonly o: WritePathOptions) {
    this.builder = new LineProtocolBuilder(o.extraTags, o.symbolOf);
    this.reportTimer = setInterval(() => this.reportLanded(), 1000);
    this.reportTimer.unref();
    this.drops = new DropLog(o.logger);
    this.memory = new MemoryQueue(o.memoryMaxPoints ?? 500_000, o.stats, this.drops);
    this.delivery = new Delivery({
      ...o,
      memory: this.memory,
      drops: this.drops,
      spoolFailed: (err) => this.spoolFailed(err),
      afterRetire: () => {
        if (this.spoolError !== null) this.spoolMemory();
      },
    });
  }

  /** The instrument master changed: tag prefixes are rebuilt with the new symbols. */
  symbolsChanged(): void {
    this.builder.symbolsChanged();
  }

  /**
   * Hot path: called synchronously for every decoded frame. `receivedAt` (default: now, which is
   * the receive time when called from the socket handler) stamps points of a frame without currentTs.
   */
  pushFrame(frame: DecodedFrame, receivedAt = Date.now()): void {
    if (this.closed) return;
    const batch = this.batch;
    if (batch.points === 0) batch.startedAt = receivedAt;
    const added = this.builder.appendFrame(frame, batch, receivedAt);
    this.o.stats.pointsBuilt += added;
    this.o.stats.pointsBuffered += added;
    if (batch.points >= this.o.batchMaxPoints) this.flush();
    else if (this.flushTimer === undefined && batch.points > 0) {
      this.flushTimer = setTimeout(() => this.flush(), this.o.flushIntervalMs);
    }
  }

  /**
   * Points built off the feed (backfilled candles, `feed_gap` records) join the batch being built,
   * behind the live points already in it, counted like them (pointsBuilt, pointsBuffered). The
   * caller then calls `flush()`: once it returns they are as safe as live points (spooled, or
   * held in memory in order while the spool fails).
   */
  pushCandles(key: string, segment: string, candles: readonly Candle[]): number {
    if (this.closed) return 0;
    if (this.batch.points === 0) this.batch.startedAt = Date.now();
    const added = this.builder.appendCandles(key, segment, candles, this.batch);
    this.o.stats.pointsBuilt += added;
    this.o.stats.pointsBuffered += added;
    return added;
  }

  pushLines(lines: ReadonlyArray<{ line: string; ts: number }>): void {
    if (this.closed) return;
    if (this.batch.points === 0) this.batch.startedAt = Date.now();
    for (const l of lines) this.batch.add(l.line, l.ts);
    this.o.stats.pointsBuilt += lines.length;
    this.o.stats.pointsBuffered += lines.length;
  }

  /** Moves the batch being built into the spool (or memory, behind older ones) and, when nothing older waits, sends it. */
  flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const batch = this.batch;
    if (batch.points === 0) return;
    // Sized like the last one: a steady feed fills batches of about the same size, so they rarely grow.
    this.batch = new PointBatch(batch.bytes + (batch.bytes >> 3));
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
        kept = spool.append(seq, batch);
      } catch (err) {
        this.spoolFailed(err);
        return;
      }
      this.memory.shift();
      stats.pointsBuffered -= batch.points;
      if (kept && e.waits) this.delivery.countSpooled(seq, batch.points);
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
      if (!this.laneBusy) this.delivery.retireDelivered();
      this.spoolMemory();
      this.kick();
    }, SPOOL_RETRY_MS);
    this.spoolRetry.unref();
  }

  private spoolRecovered(): void {
    if (this.spoolError === null || this.delivery.hasDelivered()) return;
    this.o.logger.info(`the spool takes writes again (was: ${this.spoolError})`);
    this.spoolError = null;
    clearInterval(this.spoolRetry);
    this.spoolRetry = undefined;
    this.o.report({ type: 'SPOOL_OK' });
  }

  /** Starts sending what waits, or tells the drainer, as the route allows. */
  private kick(): void {
    if (!this.routeOpen || this.draining || this.closed) return;
    if (this.o.spool.pendingPoints() - this.delivery.deliveredPoints() > this.o.batchMaxPoints * 3) {
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
    if (this.routeOpen && this.o.spool.pendingPoints() - this.delivery.deliveredPoints() > this.o.batchMaxPoints * 3 && !this.draining)
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
      this.delivery.retireDelivered();
      const rows = this.delivery.nextRows(this.o.batchMaxPoints * 2);
      if (rows.length > 0) {
        if (spool.pendingPoints() - this.delivery.deliveredPoints() > this.o.batchMaxPoints * 3) {
          this.tellDrainer(true);
          return;
        }
        if ((await this.delivery.writeRows(rows, false)) === false) return;
      } else if (this.memory.size > 0) {
        // Nothing older waits unsent: the oldest memory batch may go straight to InfluxDB.
        if ((await this.delivery.writeFromMemory()) === false) return;
      } else return;
    }
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
        this.delivery.retireDelivered();
        const rows = this.delivery.nextRows(this.o.drainChunkPoints);
        // Progress is what InfluxDB took (not what it rejected), whether or not a full disk let the
        // rows be deleted yet.
        let took: number | false;
        if (rows.length > 0) {
          took = await this.delivery.writeRows(rows, true);
          if (took === false) throw new TickpipeError('INFLUX_UNAVAILABLE', 'a replayed chunk did not land; it stays spooled');
        } else if (this.memory.size > 0) {
          took = await this.delivery.writeFromMemory();
          if (took === false) throw new TickpipeError('INFLUX_UNAVAILABLE', 'a batch waiting in memory did not land; it keeps waiting');
        } else break;
        drained += took;
      }
      const elapsed = Math.max(1, Date.now() - start);
      return {
        drained,
        // What still has to be sent: delivered rows only wait to be deleted.
        pending: spool.pendingPoints() - this.delivery.deliveredPoints() + this.memory.points,
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

  private tellDrainer(force = false): void {
    const now = Date.now();
    if (!force && now - this.lastSpooledReport < 1000) return;
    this.lastSpooledReport = now;
    this.o.report({ type: 'SPOOLED', pending: this.o.spool.pendingPoints() });
  }

  private reportLanded(): void {
    const l = this.delivery.takeLanded();
    if (l) this.o.report({ type: 'WRITE_OK', ...l });
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
    if (this.routeOpen && (this.delivery.nextRows(1).length > 0 || this.memory.size > 0)) {
      const work = this.enqueue(async () => {
        while (this.routeOpen && Date.now() < deadline) {
          this.delivery.retireDelivered();
          this.spoolMemory();
          const rows = this.delivery.nextRows(this.o.drainChunkPoints);
          if (rows.length > 0) {
            if ((await this.delivery.writeRows(rows, true)) === false) break;
          } else if (this.memory.size > 0) {
            if ((await this.delivery.writeFromMemory()) === false) break;
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
