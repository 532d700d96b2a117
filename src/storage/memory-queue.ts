/**
 * Batches waiting in memory because the spool cannot be written, oldest first. Bounded by points:
 * past the bound the oldest waiting batches are dropped and counted (stats.pointsDroppedDiskFull),
 * never a newer one ahead of an older one, and never the one being sent.
 */
import type { PointBatch } from '../influx/line-protocol.js';
import type { Stats } from '../stats.js';
import type { DropLog } from './drop-log.js';

export interface Unspooled {
  seq: number;
  batch: PointBatch;
  /** It waited behind older points when flushed (counted in stats.pointsSpooled once spooled). */
  waits: boolean;
  /** Being sent straight to InfluxDB right now. */
  inFlight?: boolean;
}

export class MemoryQueue {
  private readonly q: Unspooled[] = [];
  points = 0;

  constructor(
    readonly maxPoints: number,
    private readonly stats: Stats,
    private readonly drops: DropLog,
  ) {}

  get size(): number {
    return this.q.length;
  }

  head(): Unspooled | undefined {
    return this.q[0];
  }

  push(e: Unspooled): void {
    this.q.push(e);
    this.points += e.batch.points;
    // The newest batch is kept: it holds the latest values. The oldest waiting ones make room.
    while (this.points > this.maxPoints && this.q.length > 1) {
      const i = this.q[0].inFlight ? 1 : 0;
      if (i >= this.q.length - 1) break;
      this.dropAt(i, 'DiskFull');
    }
  }

  shift(): Unspooled | undefined {
    const e = this.q.shift();
    if (e) this.points -= e.batch.points;
    return e;
  }

  remove(e: Unspooled): void {
    const i = this.q.indexOf(e);
    if (i < 0) return;
    this.q.splice(i, 1);
    this.points -= e.batch.points;
  }

  /** Drops everything still waiting (shutdown), counted under `reason`. */
  dropAll(reason: 'Shutdown'): void {
    while (this.q.length > 0) this.dropAt(0, reason);
  }

  private dropAt(i: number, reason: 'DiskFull' | 'Shutdown'): void {
    const [e] = this.q.splice(i, 1);
    const n = e.batch.points;
    this.points -= n;
    this.stats.pointsBuffered -= n;
    if (reason === 'DiskFull') this.stats.pointsDroppedDiskFull += n;
    else this.stats.pointsDroppedShutdown += n;
    this.drops.drop(reason, n, e.batch.firstTs, e.batch.lastTs, e.batch.keys);
  }
}
