/**
 * The data plane of storage: frames → line protocol batches → the spool (write-ahead) → InfluxDB.
 * The writer machine opens and closes the route (influxUp/influxDown); the drainer machine replays
 * a backlog through `drainChunk`. Outcomes go back to the machines as events, aggregated to at
 * most one WRITE_OK per second.
 *
 * Requests go out in lanes (src/storage/lane.ts), one request at a time per lane; each lane owns a
 * shard of the series (by instrument key), so a series' writes are always in order. Why not any
 * request in any order: with several in flight, batch k could fail while k+1 lands, and replaying
 * k later would overwrite k+1's newer candle values; within a lane that cannot happen, and two
 * lanes never hold the same series. INFLUX_WRITE_LANES=1 is one lane for everything.
 * Why write-ahead: a batch is durable the moment it is flushed, so SIGKILL loses at most what was
 * still being batched (one flush interval). Why live data waits behind a backlog: replay is
 * strictly in `seq` order per lane, so a spooled older value can never overwrite a newer one.
 *
 * When the spool cannot be written (full disk, lock, read-only), batches wait in memory, in order,
 * up to `memoryMaxPoints` (src/storage/memory-queue.ts, shared out among the lanes); they are
 * spooled again as soon as the spool takes writes, or sent straight from memory when nothing older
 * of their lane waits in the spool.
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
import { DropLog } from './drop-log.js';
import { Lane, type LaneHost } from './lane.js';

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
  /**
   * Requests in flight at once, one per shard of series (INFLUX_WRITE_LANES; default 1). A spool
   * holding rows written with another count is replayed with one lane until it is empty.
   */
  lanes?: number;
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
  /** The batches being built, one per lane. */
  private batches: PointBatch[];
  /** Points in `batches`. */
  private building = 0;
  private flushTimer: NodeJS.Timeout | undefined;
  /** The writer is influxUp: requests may be sent. */
  private routeOpen = false;
  /** The drainer is replaying a backlog: live flushes leave the sending to it. */
  private draining = false;
  private readonly lanes: Lane[];
  private readonly reportTimer: NodeJS.Timeout;
  private lastSpooledReport = 0;
  private closed = false;
  /** Why the spool cannot be written, while it cannot (shown in /state and /ready). */
  spoolError: string | null = null;
  private spoolRetry: NodeJS.Timeout | undefined;
  private readonly drops: DropLog;

  constructor(private readonly o: WritePathOptions) {
    this.builder = new LineProtocolBuilder(o.extraTags, o.symbolOf);
    this.reportTimer = setInterval(() => this.reportLanded(), 1000);
    this.reportTimer.unref();
    this.drops = new DropLog(o.logger);
    const n = o.spool.adoptLanes(Math.max(1, Math.trunc(o.lanes ?? 1)));
    // The route opens when the writer first finds InfluxDB up (setRoute).
    o.spool.holdRecent(false);
    const host: LaneHost = {
      options: { ...o, drops: this.drops },
      routeOpen: () => this.routeOpen,
      draining: () => this.draining,
      backlogPoints: () => this.backlogPoints(),
      tellDrainer: (force) => this.tellDrainer(force),
      spoolFailed: (err) => this.spoolFailed(err),
      spoolMemory: () => this.spoolMemory(),
      afterRetire: () => {
        if (this.spoolError !== null) this.spoolMemory();
      },
    };
    const memoryMax = Math.max(1, Math.ceil((o.memoryMaxPoints ?? 500_000) / n));
    this.lanes = Array.from({ length: n }, (_, i) => new Lane(host, n === 1 ? undefined : i, memoryMax));
    this.batches = this.lanes.map(() => new PointBatch());
  }

  /** The instrument master changed: tag prefixes are rebuilt with the new symbols. */
  symbolsChanged(): void {
    this.builder.symbolsChanged();
  }

  /** Where new points go: the one batch, or one per lane (a key's points always to the same). */
  private into(): PointBatch | PointBatch[] {
    return this.batches.length === 1 ? this.batches[0] : this.batches;
  }

  private built(added: number): void {
    const merged = this.builder.merged;
    if (merged > 0) {
      this.o.stats.candleUpdatesMerged += merged;
      this.builder.merged = 0;
    }
    this.building += added;
    this.o.stats.pointsBuilt += added;
    this.o.stats.pointsBuffered += added;
  }

  /**
   * Hot path: called synchronously for every decoded frame. `receivedAt` (default: now, which is
   * the receive time when called from the socket handler) stamps points of a frame without currentTs.
   */
  pushFrame(frame: DecodedFrame, receivedAt = Date.now()): void {
    if (this.closed) return;
    this.built(this.builder.appendFrame(frame, this.into(), receivedAt));
    if (this.building >= this.o.batchMaxPoints) this.flush();
    else if (this.flushTimer === undefined && this.building > 0) {
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
    const added = this.builder.appendCandles(key, segment, candles, this.into());
    this.built(added);
    return added;
  }

  /** Lines built elsewhere (feed_gap records): the first lane's batch. */
  pushLines(lines: ReadonlyArray<{ line: string; ts: number }>): void {
    if (this.closed) return;
    for (const l of lines) this.batches[0].add(l.line, l.ts);
    this.built(lines.length);
  }

  /** Moves the batches being built into the spool (or memory, behind older ones) and, when nothing older waits, sends them. */
  flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.building === 0) return;
    this.building = 0;
    const { spool } = this.o;
    for (let i = 0; i < this.lanes.length; i++) {
      const batch = this.batches[i];
      batch.seal();
      if (batch.points === 0) continue;
      // Sized like the last one: a steady feed fills batches of about the same size, so they rarely grow.
      this.batches[i] = new PointBatch(batch.bytes + (batch.bytes >> 3));
      const lane = this.lanes[i];
      lane.push(spool.takeSeq(), batch, !this.routeOpen || this.draining || lane.hasWork());
    }
    // While the spool fails, only the retry timer tries it (each try may block up to the busy timeout).
    if (this.spoolError === null) this.spoolMemory();
    this.kick();
  }

  /** Appends what waits in memory to the spool, lane by lane, until one append fails; the spool has recovered once nothing waits. */
  private spoolMemory(): void {
    let done = true;
    for (const lane of this.lanes) {
      const r = lane.spoolMemory();
      if (r === 'failed') return;
      if (r === 'inFlight') done = false;
    }
    if (done) this.spoolRecovered();
  }

  private spoolFailed(err: unknown): void {
    const message = describeError(err);
    if (this.spoolError === null) {
      this.o.logger.error(
        { err, waitingInMemory: this.memoryPoints() },
        `the spool cannot be written (${message}); batches wait in memory (at most ${this.o.memoryMaxPoints ?? 500_000} points, then the oldest are dropped and counted) and it is tried again every ${SPOOL_RETRY_MS / 1000} s`,
      );
      this.o.report({ type: 'SPOOL_FAILED', message });
    }
    this.spoolError = message;
    if (this.closed) return; // shutdown retries by itself
    this.spoolRetry ??= setInterval(() => {
      for (const lane of this.lanes) if (!lane.busy) lane.delivery.retireDelivered();
      this.spoolMemory();
      this.kick();
    }, SPOOL_RETRY_MS);
    this.spoolRetry.unref();
  }

  private spoolRecovered(): void {
    if (this.spoolError === null || this.lanes.some((l) => l.delivery.hasDelivered())) return;
    this.o.logger.info(`the spool takes writes again (was: ${this.spoolError})`);
    this.spoolError = null;
    clearInterval(this.spoolRetry);
    this.spoolRetry = undefined;
    this.o.report({ type: 'SPOOL_OK' });
  }

  /** Spooled points of every lane not yet delivered. */
  private backlogPoints(): number {
    let n = 0;
    for (const lane of this.lanes) n += lane.pending();
    return n;
  }

  /** Starts sending what waits, or tells the drainer, as the route allows. */
  private kick(): void {
    if (!this.routeOpen || this.draining || this.closed) return;
    if (this.backlogPoints() > this.o.batchMaxPoints * 3) {
      this.tellDrainer();
      return;
    }
    for (const lane of this.lanes) lane.kick();
  }

  /** The writer's route: open while influxUp. Opening resumes sending what waits. */
  setRoute(open: boolean): void {
    this.routeOpen = open && this.o.client !== null;
    // A batch spooled while the route is closed waits: keeping its bytes in memory would not pay.
    this.o.spool.holdRecent(this.routeOpen);
    if (this.routeOpen && this.backlogPoints() > this.o.batchMaxPoints * 3 && !this.draining) this.tellDrainer(true);
    else this.kick();
  }

  setDraining(on: boolean): void {
    this.draining = on;
    if (!on) this.kick();
  }

  /**
   * The drainer's work: every lane replays oldest-first for up to `maxMs`, side by side, then
   * progress is reported (so the drainer actor hears of it about once a second, not per chunk).
   * Rejects when a write of any lane fails (once every lane has stopped).
   */
  async drainChunk(maxMs = 1000): Promise<DrainProgress> {
    const start = Date.now();
    const results = await Promise.allSettled(this.lanes.map((lane) => lane.drainFor(maxMs)));
    let drained = 0;
    for (const r of results) {
      if (r.status === 'rejected') throw r.reason;
      drained += r.value;
    }
    const elapsed = Math.max(1, Date.now() - start);
    return {
      drained,
      // What still has to be sent: delivered rows only wait to be deleted.
      pending: this.backlogPoints() + this.memoryPoints(),
      oldestAt: this.o.spool.oldestCreatedAt(),
      ratePerS: Math.round((drained * 1000) / elapsed),
    };
  }

  private tellDrainer(force = false): void {
    const now = Date.now();
    if (!force && now - this.lastSpooledReport < 1000) return;
    this.lastSpooledReport = now;
    this.o.report({ type: 'SPOOLED', pending: this.o.spool.pendingPoints() });
  }

  /** One WRITE_OK for what every lane landed since the last. */
  private reportLanded(): void {
    let merged: { points: number; firstTs: number; lastTs: number; keys: string[] } | null = null;
    for (const lane of this.lanes) {
      const l = lane.delivery.takeLanded();
      if (l === null) continue;
      if (merged === null) merged = l;
      else
        merged = {
          points: merged.points + l.points,
          firstTs: Math.min(merged.firstTs, l.firstTs),
          lastTs: Math.max(merged.lastTs, l.lastTs),
          keys: [...new Set([...merged.keys, ...l.keys])].sort(),
        };
    }
    if (merged) this.o.report({ type: 'WRITE_OK', ...merged });
  }

  /** Points waiting in memory because the spool cannot be written (not counting the batches being built). */
  memoryPoints(): number {
    let n = 0;
    for (const lane of this.lanes) n += lane.memory.points;
    return n;
  }

  /** Requests that may be in flight at once (INFLUX_WRITE_LANES, or 1 while an older spool drains). */
  laneCount(): number {
    return this.lanes.length;
  }

  /** Probe used by the writer machine while influxDown. */
  async probe(): Promise<void> {
    if (!this.o.client) throw new TickpipeError('INFLUX_UNAVAILABLE', 'INFLUX_URL is not set');
    await this.o.client.probe();
  }

  /**
   * Stops at once, as a crash would: no flush, nothing more sent, timers cleared; the batches being
   * built are lost (they were never durable) and the spool is left as it is. For tests and a worker
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
   * Shutdown: what is being batched goes to the spool (durable at once), then the lanes get up to
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
    const busy = this.lanes.filter((l) => l.delivery.nextRows(1).length > 0 || l.memory.size > 0);
    if (this.routeOpen && busy.length > 0) {
      const work = Promise.all(busy.map((l) => l.closeWork(deadline).catch(() => undefined)));
      await Promise.race([work, timeLeft()]);
    }
    await Promise.race([Promise.all(this.lanes.map((l) => l.idle())), timeLeft()]);
    this.routeOpen = false;
    clearInterval(this.reportTimer);
    clearInterval(this.spoolRetry);
    this.spoolMemory();
    for (const lane of this.lanes) lane.memory.dropAll('Shutdown');
    this.drops.flush();
    this.reportLanded();
  }
}
