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

export async function sendSplitting(client: WriteClient, lines: string[], opts: SendOptions): Promise<SendResult> {
  const res: SendResult = { failure: null, rejected: [], requests: 0 };
  // 5xx isolation: a leaf that still fails is only a candidate until InfluxDB proves it takes other
  // writes (a success in this send, or a passing health probe).
  const candidates: Rejected[] = [];
  let successes = 0;
  let failuresInARow = 0;
  const maxFailuresInARow = 2 * Math.ceil(Math.log2(Math.max(2, lines.length))) + 4;

  const go = async (part: string[]): Promise<Failure | null> => {
    const started = performance.now();
    const outcome = await client.write(part.join('\n'));
    res.requests++;
    opts.observe?.((performance.now() - started) / 1000, outcome.kind);
    if (outcome.kind === 'ok') {
      successes++;
      failuresInARow = 0;
      return null;
    }
    if (opts.split5xx && is5xx(outcome)) {
      if (++failuresInARow > maxFailuresInARow) return outcome;
      if (part.length === 1) {
        candidates.push({
          lines: part,
          status: outcome.status,
          message: outcome.message,
          why: `${outcome.message} (every attempt; InfluxDB takes other writes)`,
        });
        return null;
      }
    } else if (outcome.kind !== 'rejected' && outcome.kind !== 'tooLarge') {
      return outcome as Failure;
    } else if (part.length === 1) {
      res.rejected.push({
        lines: part,
        status: outcome.status,
        message: outcome.message,
        why: `InfluxDB ${outcome.status}: ${outcome.message}`,
      });
      return null;
    }
    const mid = Math.ceil(part.length / 2);
    return (await go(part.slice(0, mid))) ?? (await go(part.slice(mid)));
  };

  res.failure = await go(lines);
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
