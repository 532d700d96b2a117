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
 */
import type { DrainProgress, StorageReport, WriteFailure } from '../../machines/events.js';
import type { InfluxWriteClient, WriteOutcome } from '../influx/write-client.js';
import { LineProtocolBuilder, PointBatch } from '../influx/line-protocol.js';
import { type ErrorCode, TickpipeError, describeError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Spool, SpoolRow } from '../spool/spool.js';
import type { Stats } from '../stats.js';
import type { DecodedFrame } from '../upstox/feed-types.js';

export interface WritePathOptions {
  spool: Spool;
  client: InfluxWriteClient | null;
  stats: Stats;
  logger: Logger;
  batchMaxPoints: number;
  flushIntervalMs: number;
  drainChunkPoints: number;
  extraTags: Readonly<Record<string, string>>;
  /** Trading symbol of a key (instrument master), for the `symbol` tag. */
  symbolOf?: (key: string) => string | undefined;
  /** Delivers outcomes to the actors (the composition root sends them to the root machine). */
  report(event: StorageReport): void;
  observeWriteLatency?: (seconds: number, outcome: string) => void;
}

type Failure = Extract<WriteOutcome, { kind: WriteFailure }>;

/**
 * A split of a batch with bad lines (400/422) stops after this many requests; the rest is
 * dead-lettered whole. A 413 split is not bounded by it: every half is smaller, and dead-lettering
 * points only because a chunk was too large would keep valid points from InfluxDB.
 */
const MAX_SPLIT_REQUESTS = 64;

interface SplitBudget {
  requests: number;
  /**
   * Lines InfluxDB rejected in this send (not written, so neither counted nor reported as
   * landed), with the server's answer: dead-lettered only once the whole send is through. If
   * InfluxDB becomes unavailable half-way, the batch stays spooled whole and is judged again when
   * replayed, so a rejected line is never dead-lettered twice.
   */
  rejected: Array<{ lines: string[]; why: string; status: number; message: string }>;
}

const newBudget = (): SplitBudget => ({ requests: 0, rejected: [] });

const CODES: Record<WriteFailure, ErrorCode> = {
  unavailable: 'INFLUX_UNAVAILABLE',
  unauthorized: 'INFLUX_UNAUTHORIZED',
  forbidden: 'INFLUX_FORBIDDEN',
  bucketNotFound: 'INFLUX_BUCKET_NOT_FOUND',
};

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
  spoolError: string | null = null;
  /** Batches (by seq) already counted in stats.pointsSpooled, so a batch that waits and then fails a live write counts once. */
  private readonly spooledCounted = new Set<number>();

  constructor(private readonly o: WritePathOptions) {
    this.builder = new LineProtocolBuilder(o.extraTags, o.symbolOf);
    this.reportTimer = setInterval(() => this.reportLanded(), 1000);
    this.reportTimer.unref();
  }

  /** The instrument master changed: tag prefixes are rebuilt with the new symbols. */
  symbolsChanged(): void {
    this.builder.symbolsChanged();
  }

  /** Hot path: called synchronously for every decoded frame. */
  pushFrame(frame: DecodedFrame): void {
    if (this.closed) return;
    const batch = this.batch;
    if (batch.lines.length === 0) batch.startedAt = Date.now();
    this.builder.appendFrame(frame, batch);
    if (batch.lines.length >= this.o.batchMaxPoints) this.flush();
    else if (this.flushTimer === undefined && batch.lines.length > 0) {
      this.flushTimer = setTimeout(() => this.flush(), this.o.flushIntervalMs);
    }
  }

  /** Moves the batch being built into the spool and, when nothing older waits, sends it. */
  flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const batch = this.batch;
    if (batch.lines.length === 0) return;
    this.batch = new PointBatch();
    const { spool } = this.o;
    const willWaitBehind = !this.routeOpen || this.draining || spool.pendingBatches() > 0;
    let seq: number;
    try {
      seq = spool.takeSeq();
      if (!spool.append(seq, batch.lines, batch.firstTs, batch.lastTs, batch.keys)) return;
      this.spoolError = null;
    } catch (err) {
      // Disk full or unwritable: the points can only be saved by writing them now.
      this.spoolError = describeError(err);
      this.o.logger.error({ err }, `spool write failed: ${this.spoolError}; writing the batch directly`);
      this.enqueue(() => this.writeUnspooled(batch));
      return;
    }
    if (willWaitBehind) this.countSpooled(seq, batch.lines.length);
    if (!this.routeOpen) return;
    if (this.draining) return;
    if (spool.pendingPoints() > this.o.batchMaxPoints * 3) {
      this.tellDrainer();
      return;
    }
    if (!this.laneBusy) this.enqueue(() => this.pumpLive());
  }

  /** The writer's route: open while influxUp. Opening resumes sending what waits. */
  setRoute(open: boolean): void {
    this.routeOpen = open && this.o.client !== null;
    if (this.routeOpen && !this.draining && this.o.spool.pendingPoints() > 0) {
      if (this.o.spool.pendingPoints() > this.o.batchMaxPoints * 3) this.tellDrainer(true);
      else if (!this.laneBusy) this.enqueue(() => this.pumpLive());
    }
  }

  setDraining(on: boolean): void {
    this.draining = on;
  }

  /** Live writes: the few newest batches, while no backlog needs the drainer. */
  private async pumpLive(): Promise<void> {
    const { spool } = this.o;
    while (this.routeOpen && !this.draining && spool.pendingBatches() > 0) {
      if (spool.pendingPoints() > this.o.batchMaxPoints * 3) {
        this.tellDrainer(true);
        return;
      }
      const rows = spool.oldest(this.o.batchMaxPoints * 2);
      if (!(await this.writeRows(rows, false))) return;
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
      while (this.routeOpen && spool.pendingBatches() > 0 && Date.now() - start < maxMs) {
        const rows = spool.oldest(this.o.drainChunkPoints);
        const points = rows.reduce((n, r) => n + r.points, 0);
        if (!(await this.writeRows(rows, true)))
          throw new TickpipeError('INFLUX_UNAVAILABLE', 'a replayed chunk did not land; it stays spooled');
        drained += points;
      }
      const elapsed = Math.max(1, Date.now() - start);
      return {
        drained,
        pending: spool.pendingPoints(),
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

  /** Writes spooled rows; deletes them on success. False when InfluxDB is unavailable. */
  private async writeRows(rows: SpoolRow[], drained: boolean): Promise<boolean> {
    if (rows.length === 0) return true;
    const lines = rows.length === 1 ? rows[0].lines.split('\n') : rows.flatMap((r) => r.lines.split('\n'));
    const budget = newBudget();
    const failure = await this.send(lines, budget);
    if (failure) {
      if (!drained) for (const r of rows) this.countSpooled(r.seq, r.points);
      this.fail(failure);
      return false;
    }
    const dead = this.deadLetter(budget);
    this.o.spool.remove(rows);
    for (const r of rows) this.spooledCounted.delete(r.seq);
    let points = 0;
    for (const r of rows) {
      points += r.points;
      this.noteLanded(r.points, r.firstTs, r.lastTs, r.keys);
    }
    points -= dead;
    this.landed.points -= dead;
    this.o.stats.pointsWritten += points;
    if (drained) this.o.stats.pointsDrained += points;
    return true;
  }

  /** Used only when the spool cannot be written: a last chance for the batch. */
  private async writeUnspooled(batch: PointBatch): Promise<void> {
    if (!this.routeOpen) {
      this.o.logger.error({ points: batch.lines.length }, 'InfluxDB is down and the spool cannot be written: these points are lost');
      return;
    }
    const budget = newBudget();
    const failure = await this.send(batch.lines, budget);
    // This batch has no spool row to come back to: keep what was rejected, whatever happens next.
    const dead = this.deadLetter(budget);
    if (failure) {
      this.o.logger.error(
        { points: batch.lines.length, reason: failure.message },
        'the spool cannot be written and InfluxDB refused the batch: these points are lost',
      );
      this.fail(failure);
      return;
    }
    this.o.stats.pointsWritten += batch.lines.length - dead;
    this.noteLanded(batch.lines.length - dead, batch.firstTs, batch.lastTs, [...batch.keys]);
  }

  /**
   * Sends lines; on 400/422 (bad points) or 413 (too large) splits in halves until the bad lines
   * are isolated and dead-lettered with the server's message. Returns the failure that stopped it,
   * or null when every line either landed or was dead-lettered.
   */
  private async send(lines: string[], budget: SplitBudget): Promise<Failure | null> {
    const client = this.o.client!;
    const started = performance.now();
    const outcome = await client.write(lines.join('\n'));
    budget.requests++;
    this.o.observeWriteLatency?.((performance.now() - started) / 1000, outcome.kind);
    if (outcome.kind === 'ok') return null;
    if (outcome.kind !== 'rejected' && outcome.kind !== 'tooLarge') return outcome as Failure;
    if (lines.length === 1 || (outcome.kind === 'rejected' && budget.requests >= MAX_SPLIT_REQUESTS)) {
      const why = `InfluxDB ${outcome.status}: ${outcome.message}${lines.length > 1 ? ` (split budget spent; ${lines.length} lines kept together)` : ''}`;
      budget.rejected.push({ lines, why, status: outcome.status, message: outcome.message });
      return null;
    }
    const mid = Math.ceil(lines.length / 2);
    return (await this.send(lines.slice(0, mid), budget)) ?? (await this.send(lines.slice(mid), budget));
  }

  /** Stores what a send had rejected; returns how many lines that was. */
  private deadLetter(budget: SplitBudget): number {
    let n = 0;
    for (const r of budget.rejected) {
      this.o.spool.deadLetter(r.lines, r.why);
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
      code: CODES[outcome.kind],
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

  /** Probe used by the writer machine while influxDown. */
  async probe(): Promise<void> {
    if (!this.o.client) throw new TickpipeError('INFLUX_UNAVAILABLE', 'INFLUX_URL is not set');
    await this.o.client.probe();
  }

  /**
   * Shutdown: what is being batched goes to the spool (durable at once), then the lane gets up to
   * `timeoutMs` to write what waits; whatever is left stays spooled for the next start.
   */
  async flushAndClose(timeoutMs: number): Promise<void> {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    const deadline = Date.now() + timeoutMs;
    if (this.routeOpen && this.o.spool.pendingBatches() > 0) {
      const work = this.enqueue(async () => {
        while (this.routeOpen && this.o.spool.pendingBatches() > 0 && Date.now() < deadline) {
          if (!(await this.writeRows(this.o.spool.oldest(this.o.drainChunkPoints), true))) break;
        }
      });
      await Promise.race([work.catch(() => undefined), new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())).unref())]);
    }
    await Promise.race([this.lane, new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())).unref())]);
    this.routeOpen = false;
    clearInterval(this.reportTimer);
    this.reportLanded();
  }
}
