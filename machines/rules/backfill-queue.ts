/**
 * The backfill actor's bookkeeping, as plain functions: the queue of gaps waiting for their
 * candles (the one in flight first, the rest oldest first), how a fetch error is classified, and
 * how refused keys are described.
 */
import { type Gap, readyAt } from './gaps.js';

export interface QueuedGap extends Gap {
  /** When every minute touching the gap has closed (plus the grace), in Upstox's time. */
  readyAt: number;
}

/** Errors from fetchCandles carry a kind; `rateLimited` goes to backoff, the rest to `failed`. */
export interface KindedError {
  kind?: 'rateLimited' | 'token' | 'key' | 'range' | 'transient';
  message?: string;
}

export const errorOf = (e: unknown): KindedError => (e && typeof e === 'object' ? e : { message: String(e) });

/** Kinds that retrying soon will not fix: the gap is marked failed (and logged) at once. */
export const PERMANENT: ReadonlyArray<KindedError['kind']> = ['token', 'key', 'range'];

/** `gaps` added to `queue` (a gap already queued is not added twice). */
export function enqueue(queue: QueuedGap[], gaps: Gap[], graceMs: number): QueuedGap[] {
  const have = new Set(queue.map((g) => g.id));
  const added = gaps.filter((g) => !have.has(g.id)).map((g) => ({ ...g, readyAt: readyAt(g, graceMs) }));
  const [head, ...rest] = queue;
  return head ? [head, ...[...rest, ...added].sort((a, b) => a.from - b.from)] : added.sort((a, b) => a.from - b.from);
}

export function describeKeyErrors(errors: Array<{ key: string; message: string }>): string {
  const shown = errors.slice(0, 3).map((e) => `${e.key}: ${e.message}`);
  return `no candles for ${errors.length} key${errors.length === 1 ? '' : 's'} (${shown.join('; ')}${errors.length > 3 ? '; ...' : ''})`;
}
