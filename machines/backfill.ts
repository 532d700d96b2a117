/**
 * The backfiller: turns outages into recorded gaps and fills each gap's 1-minute candles back in.
 * The connection says when streaming stopped and resumed (FEED_DOWN{at}/FEED_UP{at}, with the
 * subscribed keys); the composition root adds the outage found at start (OUTAGE_FOUND: service
 * stopped or crashed, from the durable "last frame seen" mark) and the gaps the ledger still holds
 * as pending (GAPS_PENDING: a restart in the middle of a backfill).
 *
 *   idle ──gap queued──▶ waiting ──(its last minute closed)──▶ fetching ──▶ writing ──▶ fetching (next keys) | idle
 *                                    429 ─▶ rateLimited ──(backoff)──▶ fetching
 *                      other error ─▶ failed ──(retry delay, bounded)──▶ fetching
 *
 * Pure: the candle requests (`fetchCandles`), the write through the spool (`writeCandles`) and the
 * ledger (`recordGap`, `settleGap`) are provided by src/. Candles never enter the machine: the
 * fetch hands them to the write path's side, the machine only sees counts. Time comes from the
 * events and outputs (`at`, and UPSTOX_CLOCK while waiting), so delays are exact under a SimulatedClock.
 */
import { assign, fromPromise, setup } from 'xstate';
import type { BackfillEvent, FeedDownEvent, HandoverFoundEvent, OutageFoundEvent } from './events.js';
import { PERMANENT, type QueuedGap, describeKeyErrors, enqueue, errorOf } from './rules/backfill-queue.js';
import { type BackfillState, type Gap, type GapReason, gapsFromOutage } from './rules/gaps.js';
import type { TradingCalendar } from './rules/trading-hours.js';

export interface BackfillInput {
  calendar: TradingCalendar;
  /** false: gaps are recorded with backfill `none` and never fetched. */
  enabled: boolean;
  /** Wait this long after a gap's last minute closed before asking for its candles. */
  graceMs: number;
  /** Keys per fetch (one request per key; the candle client paces them). */
  batchKeys: number;
  /** Failed fetches or writes of one gap before it is given up as `failed`. */
  maxAttempts: number;
  /** First retry after a failure; doubles each attempt up to retryMaxMs. */
  retryMs: number;
  retryMaxMs: number;
  /** First wait after a 429; doubles with each 429 in a row up to rateLimitMaxMs. */
  rateLimitMs: number;
  rateLimitMaxMs: number;
}

/** What one fetch brought: candles handed to the write side, and keys the API refused. */
export interface FetchOutput {
  candles: number;
  keyErrors: Array<{ key: string; message: string }>;
  at: number;
}
export interface FetchInput {
  gap: Gap;
  keys: string[];
}
export interface WriteOutput {
  written: number;
  at: number;
}

interface BackfillContext extends BackfillInput {
  now: number;
  /** The outage in progress: from FEED_DOWN, or found at start (OUTAGE_FOUND). */
  down: Pick<FeedDownEvent, 'at' | 'keys' | 'gapReason' | 'open'> | null;
  queue: QueuedGap[];
  /** Index of the next key of queue[0] to fetch; the batch in flight. */
  cursor: number;
  batch: string[];
  /** Candles written for queue[0] so far; whether it has been marked failed (and logged) already. */
  gapCandles: number;
  gapFailed: boolean;
  keyErrors: Array<{ key: string; message: string }>;
  attempts: number;
  rateLimits: number;
  lastError: string | null;
  /** The feed has streamed in this run: Upstox is reachable and a token works (needed before fetching). */
  feedSeen: boolean;
  totals: { gaps: number; done: number; failed: number; candles: number };
}

export interface SettleParams {
  gap: Gap;
  state: Exclude<BackfillState, 'none'>;
  detail: string;
  /** Candles written for this gap so far. */
  candles: number;
  /** True exactly once per gap: the first time it is marked failed (logged at error level). */
  logError: boolean;
}

/** Reasons that say why the whole outage happened, whatever the first connection then met. */
const STICKY_REASONS: readonly GapReason[] = ['service stopped', 'service crashed', 'leader failover', 'leader handover'];

/** Per-gap progress, reset when the next gap starts. */
const FRESH_GAP = { cursor: 0, batch: [] as string[], gapCandles: 0, keyErrors: [], attempts: 0, rateLimits: 0, gapFailed: false };

const base = setup({
  types: {
    context: {} as BackfillContext,
    events: {} as BackfillEvent,
    input: {} as BackfillInput,
  },
  actors: {
    fetchCandles: fromPromise<FetchOutput, FetchInput>(async () => {
      throw new Error('fetchCandles not provided');
    }),
    writeCandles: fromPromise<WriteOutput, { gap: Gap }>(async () => {
      throw new Error('writeCandles not provided');
    }),
  },
  actions: {
    /** Durable record of a new gap (ledger, feed_gap point, metrics): provided. */
    recordGap: (_, _params: { gap: Gap; backfill: 'pending' | 'none' }) => {},
    /** A gap's backfill progress or outcome (ledger, feed_gap point, metrics, the one error log): provided. */
    settleGap: (_, _params: SettleParams) => {},
  },
  delays: {
    untilReady: ({ context }) => Math.max(0, (context.queue[0]?.readyAt ?? context.now) - context.now),
    rateLimitBackoff: ({ context }) => Math.min(context.rateLimitMaxMs, context.rateLimitMs * 2 ** Math.max(0, context.rateLimits - 1)),
    retryBackoff: ({ context }) => Math.min(context.retryMaxMs, context.retryMs * 2 ** Math.max(0, context.attempts - 1)),
  },
  guards: {
    hasQueue: ({ context }) => context.queue.length > 0,
    headReady: ({ context }) => context.feedSeen && context.queue.length > 0 && context.queue[0].readyAt <= context.now,
    feedSeen: ({ context }) => context.feedSeen,
    rateLimited: ({ event }) => errorOf((event as { error?: unknown }).error).kind === 'rateLimited',
    moreKeysAfterBatch: ({ context }) => context.cursor + context.batch.length < (context.queue[0]?.keys.length ?? 0),
    exhausted: ({ context }) => context.attempts >= context.maxAttempts,
    noOutageOpen: ({ context }) => context.down === null,
    /**
     * A handover opens the outage unless one is open that began later. The outage this instance's
     * own last run left (found at start) began earlier, but the group streamed since: the
     * previous leader's mark is where the group's stream stopped, so it replaces it.
     */
    handoverOpens: ({ context, event }) => {
      const down = context.down;
      if (down === null) return true;
      const e = event as HandoverFoundEvent;
      return (down.gapReason === 'service stopped' || down.gapReason === 'service crashed') && down.at < e.at;
    },
  },
});

const backfillSetup = base.extend({
  actions: {
    openOutage: base.assign(({ event }) => {
      const e = event as FeedDownEvent | OutageFoundEvent | HandoverFoundEvent;
      return { down: { at: e.at, keys: e.keys, gapReason: e.gapReason, ...('open' in e && e.open ? { open: e.open } : {}) }, now: e.at };
    }),
    queuePending: base.assign(({ context, event }) => {
      if (event.type !== 'GAPS_PENDING') return {};
      return { now: event.at, queue: context.enabled ? enqueue(context.queue, event.gaps, context.graceMs) : context.queue };
    }),
    countWritten: base.assign(({ context, event }) => {
      const out = (event as unknown as { output: WriteOutput }).output;
      return {
        now: out.at,
        cursor: context.cursor + context.batch.length,
        gapCandles: context.gapCandles + out.written,
        totals: { ...context.totals, candles: context.totals.candles + out.written },
      };
    }),
    /** A fetch or write failed: count the attempt; a token/key/range error marks the gap failed at once. */
    noteFailure: base.enqueueActions(({ context, event, enqueue: q }) => {
      const err = errorOf((event as { error?: unknown }).error);
      const message = err.message ?? 'unknown error';
      const attempts = context.attempts + 1;
      const gap = context.queue[0];
      const permanent = PERMANENT.includes(err.kind);
      const retrying = attempts < context.maxAttempts ? `; retry ${attempts} of ${context.maxAttempts - 1}` : '';
      q.assign({ attempts, lastError: message, gapFailed: context.gapFailed || permanent });
      if (!gap || (!permanent && attempts >= context.maxAttempts)) return; // giveUpGap reports it
      q({
        type: 'settleGap',
        params: {
          gap,
          state: permanent || context.gapFailed ? 'failed' : 'pending',
          detail: `${message}${retrying}`,
          candles: context.gapCandles,
          logError: permanent && !context.gapFailed,
        },
      });
    }),
    /** Every batch of the head gap is written: done, or failed for the keys the API refused. */
    finishGap: base.enqueueActions(({ context, enqueue: q }) => {
      const gap = context.queue[0];
      if (!gap) return;
      const failed = context.keyErrors.length > 0;
      const candles = context.gapCandles;
      q({
        type: 'settleGap',
        params: {
          gap,
          state: failed ? 'failed' : 'done',
          detail: failed
            ? `${describeKeyErrors(context.keyErrors)}; ${candles} candles written for the other keys`
            : `${candles} candles written for ${gap.keys.length} key${gap.keys.length === 1 ? '' : 's'}`,
          candles,
          logError: failed && !context.gapFailed,
        },
      });
      q.assign({
        ...FRESH_GAP,
        queue: context.queue.slice(1),
        totals: { ...context.totals, done: context.totals.done + (failed ? 0 : 1), failed: context.totals.failed + (failed ? 1 : 0) },
      });
    }),
    /** Retries are used up: the gap stays failed with the last error. */
    giveUpGap: base.enqueueActions(({ context, enqueue: q }) => {
      const gap = context.queue[0];
      if (!gap) return;
      q({
        type: 'settleGap',
        params: {
          gap,
          state: 'failed',
          detail: `gave up after ${context.attempts} attempts: ${context.lastError ?? 'unknown error'}`,
          candles: context.gapCandles,
          logError: !context.gapFailed,
        },
      });
      q.assign({ ...FRESH_GAP, queue: context.queue.slice(1), totals: { ...context.totals, failed: context.totals.failed + 1 } });
    }),
    /** The outage that just ended, as gaps: recorded, and queued for backfill. */
    /** Frames storage did not take: recorded and queued like an outage's gaps (trading hours applied). */
    recordStorageGap: base.enqueueActions(({ context, event, enqueue: q }) => {
      if (event.type !== 'STORAGE_GAP') return;
      const gaps = gapsFromOutage(
        { from: event.from, to: event.to, reason: 'storage overloaded', keysAtDown: event.keys, keysAtUp: event.keys },
        context.calendar,
      );
      q.assign({ now: Math.max(context.now, event.at) });
      for (const gap of gaps) q({ type: 'recordGap', params: { gap, backfill: context.enabled ? 'pending' : 'none' } });
      q.assign({
        totals: { ...context.totals, gaps: context.totals.gaps + gaps.length },
        queue: context.enabled ? enqueue(context.queue, gaps, context.graceMs) : context.queue,
      });
    }),
    closeOutage: base.enqueueActions(({ context, event, enqueue: q }) => {
      if (event.type !== 'FEED_UP') return;
      const down = context.down;
      q.assign({ down: null, now: event.at, feedSeen: true });
      if (!down) return;
      const gaps = gapsFromOutage(
        {
          from: down.at,
          to: event.at,
          // A stop, crash or leader change stays the reason; a drop may be explained by what kept the feed down.
          reason: STICKY_REASONS.includes(down.gapReason) ? down.gapReason : (event.gapReason ?? down.gapReason),
          keysAtDown: down.keys,
          keysAtUp: event.keys,
          ...(down.open ? { openAtDown: down.open } : {}),
          ...(event.open ? { openAtUp: event.open } : {}),
        },
        context.calendar,
      );
      for (const gap of gaps) q({ type: 'recordGap', params: { gap, backfill: context.enabled ? 'pending' : 'none' } });
      q.assign({
        totals: { ...context.totals, gaps: context.totals.gaps + gaps.length },
        queue: context.enabled ? enqueue(context.queue, gaps, context.graceMs) : context.queue,
      });
    }),
  },
});

export const backfillMachine = backfillSetup.createMachine({
  id: 'backfill',
  context: ({ input }) => ({
    ...input,
    ...FRESH_GAP,
    now: 0,
    down: null,
    queue: [],
    lastError: null,
    feedSeen: false,
    totals: { gaps: 0, done: 0, failed: 0, candles: 0 },
  }),
  initial: 'idle',
  on: {
    // The earliest interruption wins: a reconnect failing for another reason is the same gap.
    FEED_DOWN: { guard: 'noOutageOpen', actions: 'openOutage' },
    OUTAGE_FOUND: { guard: 'noOutageOpen', actions: 'openOutage' },
    HANDOVER_FOUND: { guard: 'handoverOpens', actions: 'openOutage' },
    FEED_UP: { actions: 'closeOutage' },
    UPSTOX_CLOCK: { actions: assign({ now: ({ context, event }) => Math.max(context.now, event.at) }) },
    GAPS_PENDING: { actions: 'queuePending' },
    STORAGE_GAP: { actions: 'recordStorageGap' },
  },
  states: {
    idle: {
      always: { guard: 'hasQueue', target: 'waiting' },
    },
    waiting: {
      // An event that moved the clock (or put an older gap first) means the delay is recomputed.
      on: {
        FEED_UP: { target: 'waiting', reenter: true, actions: 'closeOutage' },
        GAPS_PENDING: { target: 'waiting', reenter: true, actions: 'queuePending' },
      },
      always: { guard: 'headReady', target: 'fetching' },
      // Gaps restored at start wait for the feed's first FEED_UP: before it there may be no token yet.
      after: { untilReady: { guard: 'feedSeen', target: 'fetching' } },
    },
    fetching: {
      entry: assign({
        batch: ({ context }) => context.queue[0].keys.slice(context.cursor, context.cursor + context.batchKeys),
      }),
      invoke: {
        src: 'fetchCandles',
        input: ({ context }) => ({ gap: context.queue[0], keys: context.batch }),
        onDone: {
          target: 'writing',
          actions: assign({
            now: ({ event }) => event.output.at,
            keyErrors: ({ context, event }) => [...context.keyErrors, ...event.output.keyErrors],
            rateLimits: 0,
          }),
        },
        onError: [
          {
            guard: 'rateLimited',
            target: 'rateLimited',
            actions: assign({
              rateLimits: ({ context }) => context.rateLimits + 1,
              lastError: ({ event }) => errorOf(event.error).message ?? 'rate limited',
            }),
          },
          { target: 'failed', actions: 'noteFailure' },
        ],
      },
    },
    writing: {
      invoke: {
        src: 'writeCandles',
        input: ({ context }) => ({ gap: context.queue[0] }),
        onDone: [
          { guard: 'moreKeysAfterBatch', target: 'fetching', actions: 'countWritten' },
          { target: 'idle', actions: ['countWritten', 'finishGap'] },
        ],
        onError: { target: 'failed', actions: 'noteFailure' },
      },
    },
    rateLimited: {
      after: { rateLimitBackoff: 'fetching' },
    },
    failed: {
      always: { guard: 'exhausted', target: 'idle', actions: 'giveUpGap' },
      after: { retryBackoff: 'fetching' },
    },
  },
});
