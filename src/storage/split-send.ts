/**
 * Sending lines so that only what InfluxDB rejects is kept back. A 400/422 about lines, or a 413,
 * splits the request in halves until each rejected line stands alone; halves that land are never
 * split again, so the cost is about (bad lines × log2(lines)) requests, not a fixed budget that
 * would dead-letter valid points. With `split5xx` (a batch that failed with 5xx on several
 * attempts while InfluxDB's health was fine), a 5xx splits the same way, to isolate lines InfluxDB
 * cannot take (InfluxDB 2.0 answers 500 to a field-type conflict); a run of 5xx with no success
 * in between is an outage, not a poisoned line, and stops the split with nothing dead-lettered.
 */
import type { WriteFailure } from '../../machines/events.js';
import type { WriteClient, WriteOutcome } from '../influx/write-client.js';

/** A write outcome that stops writing (machines/events.ts WriteFailure); bad lines are dead-lettered instead. */
export type Failure = Extract<WriteOutcome, { kind: WriteFailure }>;

export interface Rejected {
  lines: string[];
  status: number;
  message: string;
  why: string;
}

export interface SendResult {
  /** What stopped the send (InfluxDB unavailable, or refusing the request itself), or null. */
  failure: Failure | null;
  /** Lines InfluxDB rejected; dead-lettered by the caller only when `failure` is null. */
  rejected: Rejected[];
  requests: number;
}

export interface SendOptions {
  split5xx: boolean;
  observe?: (seconds: number, outcome: string) => void;
}

const is5xx = (o: WriteOutcome): o is Failure & { status: number } => o.kind === 'unavailable' && o.status !== undefined && o.status >= 500;

/**
 * Sends `body` (lines separated by `\n`; `points` of them) as it is. Only when InfluxDB rejects it
 * are the line boundaries found, once; the halves are views of the same bytes (no copies, no
 * strings), and only a line that ends up rejected on its own is turned into text (dead letters).
 */
export async function sendSplitting(client: WriteClient, body: Buffer, points: number, opts: SendOptions): Promise<SendResult> {
  const res: SendResult = { failure: null, rejected: [], requests: 0 };
  // 5xx isolation: a leaf that still fails is only a candidate until InfluxDB proves it takes other
  // writes (a success in this send, or a passing health probe).
  const candidates: Rejected[] = [];
  let successes = 0;
  let failuresInARow = 0;
  const maxFailuresInARow = 2 * Math.ceil(Math.log2(Math.max(2, points))) + 4;
  /** Where each line starts; found at the first split. */
  let starts: number[] | null = null;
  const lineStarts = (): number[] => {
    const found = [0];
    for (let i = body.indexOf(0x0a); i !== -1; i = body.indexOf(0x0a, i + 1)) found.push(i + 1);
    return found;
  };
  /** Lines [lo, hi) as a view of the body. */
  const piece = (s: number[], lo: number, hi: number): Buffer => body.subarray(s[lo], hi < s.length ? s[hi] - 1 : body.length);
  const text = (s: number[], i: number): string => piece(s, i, i + 1).toString('utf8');

  /** Sends lines [lo, hi); the first call (no line starts known yet) sends the whole body. */
  const go = async (lo: number, hi: number): Promise<Failure | null> => {
    const started = performance.now();
    const outcome = await client.write(starts === null ? body : piece(starts, lo, hi));
    res.requests++;
    opts.observe?.((performance.now() - started) / 1000, outcome.kind);
    if (outcome.kind === 'ok') {
      successes++;
      failuresInARow = 0;
      return null;
    }
    const splits5xx = opts.split5xx && is5xx(outcome);
    if (!splits5xx && outcome.kind !== 'rejected' && outcome.kind !== 'tooLarge') return outcome as Failure;
    if (splits5xx && ++failuresInARow > maxFailuresInARow) return outcome;
    if (starts === null) {
      starts = lineStarts();
      hi = starts.length;
    }
    const s = starts;
    if (hi - lo === 1) {
      const status = (outcome as { status: number }).status;
      const line = { lines: [text(s, lo)], status, message: outcome.message };
      if (splits5xx) candidates.push({ ...line, why: `${outcome.message} (every attempt; InfluxDB takes other writes)` });
      else res.rejected.push({ ...line, why: `InfluxDB ${status}: ${outcome.message}` });
      return null;
    }
    const mid = lo + Math.ceil((hi - lo) / 2);
    return (await go(lo, mid)) ?? (await go(mid, hi));
  };

  res.failure = await go(0, 0);
  if (res.failure === null && candidates.length > 0) {
    // Asked once more, alone: a valid line that met a passing 5xx lands now and is kept out of
    // the dead letters.
    for (let i = candidates.length - 1; i >= 0 && res.failure === null; i--) {
      const again = await client.write(candidates[i].lines[0]);
      res.requests++;
      if (again.kind === 'ok') {
        successes++;
        candidates.splice(i, 1);
      } else if (!is5xx(again) && again.kind !== 'rejected' && again.kind !== 'tooLarge') res.failure = again as Failure;
    }
  }
  if (res.failure === null && candidates.length > 0) {
    let proven = successes > 0;
    if (!proven) {
      try {
        await client.probe();
        proven = true;
      } catch {
        proven = false;
      }
    }
    if (proven) res.rejected.push(...candidates);
    else res.failure = { kind: 'unavailable', status: candidates[0].status, message: candidates[0].message };
  }
  return res;
}
