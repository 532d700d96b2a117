/**
 * Points dropped, said at error level at a bounded rate: the first drop of a reason at once, then
 * at most one line per reason every 10 s summing what was lost meanwhile (points, time range,
 * keys). A long outage on a full disk would otherwise write a line per flush.
 */
import type { Logger } from '../logger.js';

const EVERY_MS = 10_000;

interface Pending {
  points: number;
  firstTs: number;
  lastTs: number;
  keys: Set<string>;
  lastLog: number;
}

const HOW_TO_FIX: Record<string, string> = {
  DiskFull: 'free space on the disk holding SPOOL_PATH (or raise SPOOL_MEMORY_MAX_POINTS)',
  Shutdown: 'the spool could not be written at shutdown; free space on the disk holding SPOOL_PATH',
};

export class DropLog {
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  drop(reason: string, points: number, firstTs: number, lastTs: number, keys: Iterable<string>): void {
    let p = this.pending.get(reason);
    if (!p) {
      p = { points: 0, firstTs: Infinity, lastTs: -Infinity, keys: new Set(), lastLog: -Infinity };
      this.pending.set(reason, p);
    }
    p.points += points;
    if (firstTs < p.firstTs) p.firstTs = firstTs;
    if (lastTs > p.lastTs) p.lastTs = lastTs;
    for (const k of keys) if (p.keys.size < 50) p.keys.add(k);
    if (this.now() - p.lastLog >= EVERY_MS) this.say(reason, p);
  }

  /** Says what is still unsaid (at shutdown). */
  flush(): void {
    for (const [reason, p] of this.pending) if (p.points > 0) this.say(reason, p);
  }

  private say(reason: string, p: Pending): void {
    const range =
      p.firstTs <= p.lastTs ? ` with timestamps ${new Date(p.firstTs).toISOString()} to ${new Date(p.lastTs).toISOString()}` : '';
    this.logger.error(
      { reason, points: p.points, firstTs: p.firstTs, lastTs: p.lastTs, keys: [...p.keys] },
      `lost ${p.points} point(s)${range} (pointsDropped${reason}): ${HOW_TO_FIX[reason] ?? reason}`,
    );
    p.points = 0;
    p.firstTs = Infinity;
    p.lastTs = -Infinity;
    p.keys.clear();
    p.lastLog = this.now();
  }
}
