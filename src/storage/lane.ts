/**
 * One write lane: the batches of one shard of series (src/influx/line-protocol.ts shardHash), sent
 * one request at a time in (seq, id) order: its spooled rows first, then what waits in memory.
 * Several lanes run side by side (INFLUX_WRITE_LANES): a series belongs to exactly one lane, so
 * its writes stay in order while requests of different series overlap. The write path
 * (src/storage/write-path.ts) owns the route, the drainer and the spool's health; a lane owns its
 * memory queue, its delivery bookkeeping and its promise chain.
 */
import { TickpipeError, describeError } from '../errors.js';
import type { PointBatch } from '../influx/line-protocol.js';
import { Delivery, type DeliveryOptions } from './delivery.js';
import { MemoryQueue } from './memory-queue.js';

/** What a lane needs of the write path that runs it. */
export interface LaneHost {
  readonly options: Omit<DeliveryOptions, 'memory' | 'spoolFailed' | 'afterRetire' | 'shard'> & {
    batchMaxPoints: number;
    drainChunkPoints: number;
  };
  routeOpen(): boolean;
  draining(): boolean;
  /** Points of every lane still to send: past 3 batches the drainer takes over. */
  backlogPoints(): number;
  tellDrainer(force?: boolean): void;
  spoolFailed(err: unknown): void;
  /** Spools what waits in memory (every lane), as far as the spool takes it. */
  spoolMemory(): void;
  afterRetire(): void;
}

export class Lane {
  readonly memory: MemoryQueue;
  readonly delivery: Delivery;
  private chain: Promise<unknown> = Promise.resolve();
  busy = false;

  /** `shard`: the spool rows this lane replays; undefined when it is the only lane (it replays every row). */
  constructor(
    private readonly host: LaneHost,
    readonly shard: number | undefined,
    memoryMaxPoints: number,
  ) {
    const o = host.options;
    this.memory = new MemoryQueue(memoryMaxPoints, o.stats, o.drops);
    this.delivery = new Delivery({
      ...o,
      ...(shard !== undefined ? { shard } : {}),
      memory: this.memory,
      spoolFailed: (err) => host.spoolFailed(err),
      afterRetire: () => host.afterRetire(),
    });
  }

  /** Points of this lane in the spool not yet delivered. */
  pending(): number {
    return this.host.options.spool.pendingPoints(this.shard) - this.delivery.deliveredPoints();
  }

  /** Spooled rows or memory batches wait to be sent. */
  hasWork(): boolean {
    return this.host.options.spool.pendingBatches(this.shard) > 0 || this.memory.size > 0;
  }

  /** A flushed batch of this lane: it waits in memory until spooled. */
  push(seq: number, batch: PointBatch, waits: boolean): void {
    this.memory.push({ seq, batch, waits });
  }

  /**
   * Appends what waits in memory to the spool, oldest first: 'done' when nothing waits any more,
   * 'inFlight' when the oldest is being sent straight from memory (the rest waits behind it),
   * 'failed' when an append failed (reported).
   */
  spoolMemory(): 'done' | 'inFlight' | 'failed' {
    const { spool, stats } = this.host.options;
    for (let e = this.memory.head(); e !== undefined; e = this.memory.head()) {
      if (e.inFlight) return 'inFlight';
      const { seq, batch } = e;
      let kept: boolean;
      try {
        kept = spool.append(seq, batch, this.shard ?? 0);
      } catch (err) {
        this.host.spoolFailed(err);
        return 'failed';
      }
      this.memory.shift();
      stats.pointsBuffered -= batch.points;
      if (kept && e.waits) this.delivery.countSpooled(seq, batch.points);
      // Its bytes are in the spool now; nothing else holds the batch (it was not in flight).
      batch.recycle();
    }
    return 'done';
  }

  /** Starts sending what waits, when the route allows and the lane is idle. */
  kick(): void {
    if (this.busy || !this.hasWork()) return;
    this.enqueue(() => this.pumpLive()).catch((err: unknown) => {
      // Reading the spool failed: logged here, tried again at the next flush or route change.
      this.host.options.logger.error({ err }, `live write stopped: ${describeError(err)}`);
    });
  }

  /** Live writes: the few newest batches, while no backlog needs the drainer; then memory, when nothing older waits. */
  private async pumpLive(): Promise<void> {
    const h = this.host;
    const max = h.options.batchMaxPoints;
    while (h.routeOpen() && !h.draining()) {
      this.delivery.retireDelivered();
      const rows = this.delivery.nextRows(max * 2);
      if (rows.length > 0) {
        if (h.backlogPoints() > max * 3) {
          h.tellDrainer(true);
          return;
        }
        if ((await this.delivery.writeRows(rows, false)) === false) return;
      } else if (this.memory.size > 0) {
        // Nothing older of this lane waits unsent: the oldest memory batch may go straight to InfluxDB.
        if ((await this.delivery.writeFromMemory()) === false) return;
      } else return;
    }
  }

  /** The drainer's work in this lane: replay oldest-first for up to `maxMs`. Resolves to what InfluxDB took; rejects when a write fails. */
  drainFor(maxMs: number): Promise<number> {
    return this.enqueue(async () => {
      const start = Date.now();
      let drained = 0;
      while (this.host.routeOpen() && Date.now() - start < maxMs) {
        this.delivery.retireDelivered();
        const rows = this.delivery.nextRows(this.host.options.drainChunkPoints);
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
      return drained;
    });
  }

  /** Shutdown: sends what waits until `deadline` or the first failure. */
  closeWork(deadline: number): Promise<void> {
    return this.enqueue(async () => {
      while (this.host.routeOpen() && Date.now() < deadline) {
        this.delivery.retireDelivered();
        this.host.spoolMemory();
        const rows = this.delivery.nextRows(this.host.options.drainChunkPoints);
        if (rows.length > 0) {
          if ((await this.delivery.writeRows(rows, true)) === false) break;
        } else if (this.memory.size > 0) {
          if ((await this.delivery.writeFromMemory()) === false) break;
        } else break;
      }
    });
  }

  /** Settles when the lane's current and queued work has. */
  idle(): Promise<unknown> {
    return this.chain;
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = async () => {
      this.busy = true;
      try {
        return await task();
      } finally {
        this.busy = false;
      }
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }
}
