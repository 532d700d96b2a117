/**
 * The real root machine with fake I/O, for tests: every child is the real machine, provided with
 * stand-in actors (`pipelineMachine.provide(...)`), so tests exercise the production routing
 * table and states. Inputs are valid and reproducible: a fixed `random` and an injectable `now`.
 */
import { fromCallback, fromPromise } from 'xstate';
import { connectionMachine, type ConnectionInput } from '../../machines/connection.js';
import type { LandedSummary } from '../../machines/events.js';
import { notifierMachine, type NotifierInput } from '../../machines/notifier.js';
import type { PipelineInput } from '../../machines/pipeline.js';
import type { BackfillInput } from '../../machines/backfill.js';
import { DEFAULT_CALENDAR } from '../../machines/rules/trading-hours.js';
import type { SubscriptionLimits } from '../../machines/rules/subscriptions.js';

export const TEST_LIMITS: SubscriptionLimits = {
  ltpc: { alone: 5000, combined: 2000 },
  option_greeks: { alone: 3000, combined: 2000 },
  full: { alone: 2000, combined: 1500 },
  full_d30: { alone: 50, combined: 50 },
};

/** A connection input for tests; `random` is pinned to the middle of every jitter range. */
export function connectionTestInput(over: Partial<ConnectionInput> = {}): ConnectionInput {
  return {
    instruments: [],
    mode: 'full',
    limits: TEST_LIMITS,
    hasAccessToken: true,
    hasTokenUrl: false,
    reconnectBaseMs: 100,
    reconnectMaxMs: 1000,
    stableAfterMs: 5000,
    staleFeedMs: 3000,
    staleFeedClosedMs: 60_000,
    pingIntervalMs: 5000,
    pongTimeoutMs: 5000,
    tokenRefreshIst: '03:35',
    connectTimeoutMs: 2000,
    tokenRejectedRetryMs: 30_000,
    now: Date.now,
    random: () => 0.5,
    ...over,
  };
}

export function notifierTestInput(over: Partial<NotifierInput> = {}): NotifierInput {
  return { enabled: false, intervalMs: 60_000, retryMs: 5000, now: Date.now, ...over };
}

/** Backfill off: tests of the other actors record no gaps unless they ask. */
export function backfillTestInput(over: Partial<BackfillInput> = {}): BackfillInput {
  return {
    calendar: DEFAULT_CALENDAR,
    enabled: false,
    graceMs: 0,
    batchKeys: 10,
    maxAttempts: 3,
    retryMs: 1000,
    retryMaxMs: 8000,
    rateLimitMs: 1000,
    rateLimitMaxMs: 8000,
    ...over,
  };
}

/** Valid inputs for every child of the root. */
export function pipelineTestInput(over: Partial<PipelineInput> = {}): PipelineInput {
  return {
    connection: connectionTestInput(),
    writer: { configured: false, probeBaseMs: 50, probeMaxMs: 200, now: Date.now, random: () => 0.5 },
    drainer: { retryMs: 1000, now: Date.now },
    notifier: notifierTestInput(),
    backfill: backfillTestInput(),
    leadership: null,
    chains: { chains: [], retryMs: 600_000 },
    ...over,
  };
}

/** The real connection machine whose I/O never answers: it stays authorizing, opens no socket. */
export const quietConnection = connectionMachine.provide({
  actors: {
    loadInstruments: fromPromise(() => new Promise<string[]>(() => {})),
    fetchToken: fromPromise(() => new Promise<void>(() => {})),
    authorize: fromPromise(() => new Promise<string>(() => {})),
    feedSocket: fromCallback(() => () => {}),
  },
});

/** The real notifier machine whose POST succeeds at once, calling `onNotify` with each body. */
export function recordingNotifier(onNotify: (landed: LandedSummary) => void = () => {}) {
  return notifierMachine.provide({
    actors: {
      notify: fromPromise<void, LandedSummary>(async ({ input }) => onNotify(input)),
    },
  });
}
