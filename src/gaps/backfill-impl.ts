/**
 * The backfill actor's I/O: candle requests through the paced CandleClient, candles handed to the
 * write path (spool first, like live points), and the ledger. Fetched candles wait here, keyed by
 * gap, between `fetching` and `writing`: the machine only ever sees counts.
 *
 * The ledger is asynchronous (its SQLite runs on the storage worker's thread): `recordGap` and
 * `settleGap` post their update and return; the updates are applied in the order posted, and
 * the `feed_gap` point is written once the row is. A ledger error is logged with its code here
 * and never reaches the machine (a lock on gaps.db is said once, by the worker, and waited out).
 */
import { fromPromise } from 'xstate';
import { type FetchInput, type FetchOutput, type SettleParams, type WriteOutput, backfillMachine } from '../../machines/backfill.js';
import type { Gap } from '../../machines/rules/gaps.js';
import type { Logger } from '../logger.js';
import { type Candle, CandleApiError } from '../upstox/candles.js';
import type { GapRow } from './ledger.js';
import type { AsyncLedger } from './ledger-client.js';
import { describeError, errorCode } from '../../machines/rules/error-info.js';

export interface KeyCandles {
  key: string;
  candles: Candle[];
}

/** Where backfilled candles and gap records go (the write path, in the service). */
export interface BackfillSink {
  /** Resolves once the candles are as safe as live points (written or spooled). */
  writeCandles(batch: readonly KeyCandles[]): Promise<void>;
  /** The gap as a `feed_gap` point (written again, same series and time, when its state changes). */
  writeGap(row: GapRow): void;
}

export interface BackfillDeps {
  ledger: AsyncLedger;
  client: { minuteCandles(key: string, from: number, to: number): Promise<Candle[]> };
  sink: BackfillSink;
  logger: Logger;
  now: () => number;
}

const describe = (gap: Gap) =>
  `${new Date(gap.from).toISOString()} to ${new Date(gap.to).toISOString()} (${gap.keys.length} key${gap.keys.length === 1 ? '' : 's'}, ${gap.reason})`;

export function provideBackfill({ ledger, client, sink, logger, now }: BackfillDeps) {
  const fetched = new Map<string, KeyCandles[]>();
  /** After a ledger update: the row as a feed_gap point; a failed update is said (the gap stays as the ledger had it). */
  const show = (update: Promise<void>, id: string, what: string) => {
    update
      .then(() => ledger.get(id))
      .then(
        (row) => {
          if (row) sink.writeGap(row);
        },
        (err: unknown) => {
          const code = errorCode(err, 'GAP_LEDGER_FAILED');
          logger.error({ code, gap: id }, `the gap ledger did not take the ${what} of gap ${id}: ${describeError(err)}`);
        },
      );
  };
  return backfillMachine.provide({
    actors: {
      fetchCandles: fromPromise<FetchOutput, FetchInput>(async ({ input }) => {
        const batch: KeyCandles[] = [];
        const keyErrors: FetchOutput['keyErrors'] = [];
        let candles = 0;
        for (const key of input.keys) {
          try {
            const c = await client.minuteCandles(key, input.gap.from, input.gap.to);
            batch.push({ key, candles: c });
            candles += c.length;
          } catch (err) {
            // A key the API refuses, or a day beyond its range, fails that key alone.
            if (err instanceof CandleApiError && (err.kind === 'key' || err.kind === 'range')) {
              keyErrors.push({ key, message: err.message });
            } else throw err;
          }
        }
        fetched.set(input.gap.id, batch);
        return { candles, keyErrors, at: now() };
      }),
      writeCandles: fromPromise<WriteOutput, { gap: Gap }>(async ({ input }) => {
        const batch = fetched.get(input.gap.id) ?? [];
        fetched.delete(input.gap.id);
        await sink.writeCandles(batch);
        let written = 0;
        for (const b of batch) written += b.candles.length;
        return { written, at: now() };
      }),
    },
    actions: {
      recordGap: (_, { gap, backfill }: { gap: Gap; backfill: 'pending' | 'none' }) => {
        const recorded = ledger.record(
          gap,
          backfill,
          backfill === 'none' ? 'backfill is off (BACKFILL=off)' : 'waiting for its last minute to close',
        );
        logger.warn(
          { gap },
          `gap recorded: ${describe(gap)}; ticks in it stay missing, 1-minute candles ${backfill === 'none' ? 'are not backfilled' : 'will be backfilled'}`,
        );
        show(recorded, gap.id, 'record');
      },
      settleGap: (_, p: SettleParams) => {
        const settled = ledger.settle(p.gap.id, p.state, p.detail, p.candles);
        if (p.logError) logger.error({ gap: p.gap, detail: p.detail }, `backfill of gap ${describe(p.gap)} failed: ${p.detail}`);
        else if (p.state === 'done') logger.info({ gap: p.gap, candles: p.candles }, `gap ${describe(p.gap)} backfilled: ${p.detail}`);
        else logger.warn({ gap: p.gap, detail: p.detail }, `backfill of gap ${describe(p.gap)}: ${p.detail}`);
        show(settled, p.gap.id, 'settlement');
      },
    },
  });
}
