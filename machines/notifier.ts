/**
 * The notifier: tells NOTIFY_URL that data has landed in InfluxDB (TradeDataFeed's behaviour,
 * with its gaps fixed). It accumulates LANDED events; sends at most once per interval and only
 * when something new landed since the last successful notification; after a transient failure
 * it retries after NOTIFY_RETRY_S with everything accumulated meanwhile; a permanent 4xx is
 * logged as an error and that notification is dropped, not retried forever.
 *
 *   idle ──LANDED──▶ sending ──ok──▶ cooldown ──after interval──▶ idle | sending
 *                      │  └─permanent 4xx (dropped)─▶ cooldown
 *                      └─transient──▶ retrying ──after retry──▶ sending
 */
import { assign, fromPromise, not, setup } from 'xstate';
import type { LandedSummary, NotifierEvent } from './events.js';
import { errorMessage } from './rules/error-info.js';

export interface NotifierInput {
  /** NOTIFY_URL is set; otherwise the actor stays `disabled`. */
  enabled: boolean;
  intervalMs: number;
  retryMs: number;
  /** The wall clock (ms), injected so tests are reproducible. */
  now: () => number;
}

export interface NotifyFailure {
  /** `permanent` for a 4xx that will not change by retrying (bad URL path, auth...). */
  kind: 'transient' | 'permanent';
  message: string;
}

const EMPTY: LandedSummary = { points: 0, firstTs: 0, lastTs: 0, keys: [] };

export function mergeLanded(a: LandedSummary, b: LandedSummary): LandedSummary {
  if (a.points === 0 && b.points === 0) return EMPTY;
  if (a.points === 0 || b.points === 0) {
    const only = a.points === 0 ? b : a;
    return { points: only.points, firstTs: only.firstTs, lastTs: only.lastTs, keys: [...new Set(only.keys)].sort() };
  }
  const keys = new Set(a.keys);
  for (const k of b.keys) keys.add(k);
  return {
    points: a.points + b.points,
    firstTs: Math.min(a.firstTs, b.firstTs),
    lastTs: Math.max(a.lastTs, b.lastTs),
    keys: [...keys].sort(),
  };
}

interface NotifierContext extends NotifierInput {
  /** LandedSummary since the last notification was started. */
  pending: LandedSummary;
  /** What the notification in flight (or being retried) reports. */
  inFlight: LandedSummary | null;
  sent: number;
  failures: number;
  lastSentAt: number | null;
  lastError: NotifyFailure | null;
  reason: string;
}

export const notifierMachine = setup({
  types: {
    context: {} as NotifierContext,
    events: {} as NotifierEvent,
    input: {} as NotifierInput,
  },
  actors: {
    /** POSTs the notification; rejects with a NotifyFailure-shaped error. Provided by src/notify. */
    notify: fromPromise<void, LandedSummary>(async () => {
      throw new Error('notify not provided');
    }),
  },
  actions: {
    /** Logs a permanent failure at error level (provided; a no-op in tests). */
    reportPermanentFailure: (_, _params: { error: NotifyFailure }) => {},
  },
  guards: {
    isEnabled: ({ context }) => context.enabled,
    hasPending: ({ context }) => context.pending.points > 0,
    isPermanentFailure: (_, params: { error: unknown }) => toFailure(params.error).kind === 'permanent',
  },
  delays: {
    notifyInterval: ({ context }) => context.intervalMs,
    notifyRetry: ({ context }) => context.retryMs,
  },
}).createMachine({
  id: 'notifier',
  context: ({ input }) => ({
    ...input,
    pending: EMPTY,
    inFlight: null,
    sent: 0,
    failures: 0,
    lastSentAt: null,
    lastError: null,
    reason: input.enabled ? 'waiting for data to land' : 'NOTIFY_URL is not set',
  }),
  initial: 'checking',
  on: {
    LANDED: {
      actions: assign({ pending: ({ context, event }) => mergeLanded(context.pending, event) }),
    },
    STOP: '.stopped',
  },
  states: {
    checking: {
      always: [{ guard: not('isEnabled'), target: 'disabled' }, { target: 'idle' }],
    },
    disabled: {
      // Nothing to tell anyone: do not even accumulate.
      on: { LANDED: {} },
    },
    idle: {
      entry: assign({ reason: 'nothing new has landed since the last notification' }),
      always: { guard: 'hasPending', target: 'sending' },
      on: {
        LANDED: {
          target: 'sending',
          actions: assign({ pending: ({ context, event }) => mergeLanded(context.pending, event) }),
        },
      },
    },
    sending: {
      entry: assign({
        inFlight: ({ context }) => (context.inFlight ? mergeLanded(context.inFlight, context.pending) : context.pending),
        pending: EMPTY,
        reason: 'posting a notification',
      }),
      invoke: {
        src: 'notify',
        input: ({ context }) => context.inFlight ?? EMPTY,
        onDone: {
          target: 'cooldown',
          actions: assign({
            inFlight: null,
            sent: ({ context }) => context.sent + 1,
            lastSentAt: ({ context }) => context.now(),
            lastError: null,
            failures: 0,
          }),
        },
        onError: [
          {
            guard: { type: 'isPermanentFailure', params: ({ event }) => ({ error: event.error }) },
            target: 'cooldown',
            actions: [
              assign({
                lastError: ({ event }) => toFailure(event.error),
                inFlight: null,
                failures: ({ context }) => context.failures + 1,
              }),
              { type: 'reportPermanentFailure', params: ({ event }) => ({ error: toFailure(event.error) }) },
            ],
          },
          {
            target: 'retrying',
            actions: assign({
              lastError: ({ event }) => toFailure(event.error),
              failures: ({ context }) => context.failures + 1,
            }),
          },
        ],
      },
    },
    cooldown: {
      entry: assign({
        reason: ({ context }) =>
          context.lastError ? `last notification rejected: ${context.lastError.message}` : 'notified; waiting for the interval',
      }),
      after: {
        notifyInterval: [{ guard: 'hasPending', target: 'sending' }, { target: 'idle' }],
      },
    },
    retrying: {
      entry: assign({ reason: ({ context }) => `notification failed (${context.lastError?.message ?? 'unknown'}); retrying` }),
      after: { notifyRetry: 'sending' },
    },
    stopped: { type: 'final' },
  },
});

function toFailure(error: unknown): NotifyFailure {
  const kind = (error as Partial<NotifyFailure> | null | undefined)?.kind;
  return { kind: kind === 'permanent' ? 'permanent' : 'transient', message: errorMessage(error) };
}
