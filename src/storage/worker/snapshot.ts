/**
 * The storage worker's state as main shows it (/state, /metrics): taken on the worker's thread at
 * one instant, so that every term of the conservation law (the counters, the spool's pending
 * points) comes from the same moment.
 */
import { readFileSync } from 'node:fs';
import type { Stats } from '../../stats.js';
import type { Storage } from '../open-storage.js';
import { STORAGE_COUNTERS, type StorageCounter, type StorageSnapshot } from './protocol.js';

/** Linux reports a thread's CPU time in clock ticks of USER_HZ, which is 100 on every architecture. */
const USER_HZ = 100;

/**
 * CPU seconds (user + system) of the calling thread: fields 14 and 15 of /proc/thread-self/stat
 * (after the command name, which may hold spaces, in parentheses). Null where /proc is absent.
 */
export function threadCpuSeconds(): number | null {
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    return (Number(fields[11]) + Number(fields[12])) / USER_HZ;
  } catch {
    return null;
  }
}

export class SnapshotTaker {
  private lastKey = '';
  private oldest: { rows: number; points: number; at: number | null } | undefined;
  private cpuAvailable = true;

  constructor(
    private readonly storage: Storage,
    private readonly stats: Stats,
    /** Filled by the write path's latency observer; emptied into each snapshot. */
    private readonly latencies: { latencySeconds: number[]; latencyOutcomes: string[] },
  ) {}

  /** True when what /state shows moved since the previous call (the counters, the spool, an error). */
  changed(): boolean {
    const { spool, writePath } = this.storage;
    let key = `${spool.pendingPoints()},${spool.pendingBatches()},${spool.deadLetterCount()},${writePath.memoryPoints()},${writePath.spoolError}`;
    for (const c of STORAGE_COUNTERS) key += `,${this.stats[c]}`;
    if (this.latencies.latencySeconds.length > 0) key += ',latency';
    if (key === this.lastKey) return false;
    this.lastKey = key;
    return true;
  }

  take(): StorageSnapshot {
    const { spool, writePath } = this.storage;
    const counters = {} as Record<StorageCounter, number>;
    for (const c of STORAGE_COUNTERS) counters[c] = this.stats[c];
    const rows = spool.pendingBatches();
    const points = spool.pendingPoints();
    // A query: asked again only when the spool's rows changed.
    if (!this.oldest || this.oldest.rows !== rows || this.oldest.points !== points) {
      let at = this.oldest?.at ?? null;
      try {
        at = spool.oldestCreatedAt();
      } catch {
        // The spool is closed (the final snapshot at shutdown): the last value read stands.
      }
      this.oldest = { rows, points, at };
    }
    const { latencySeconds, latencyOutcomes } = this.latencies;
    const snapshot: StorageSnapshot = {
      at: Date.now(),
      counters,
      pendingPoints: points,
      pendingBatches: rows,
      bytes: spool.pendingBytes(),
      oldestCreatedAt: this.oldest.at,
      deadLetters: spool.deadLetterCount(),
      spoolError: writePath.spoolError,
      memoryPoints: writePath.memoryPoints(),
      latencySeconds: latencySeconds.splice(0),
      latencyOutcomes: latencyOutcomes.splice(0),
      cpuSeconds: this.cpuAvailable ? threadCpuSeconds() : null,
    };
    if (snapshot.cpuSeconds === null) this.cpuAvailable = false;
    return snapshot;
  }
}
