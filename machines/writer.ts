/**
 * The writer: is InfluxDB taking our points? Top-level states `influxUp` and `influxDown`
 * (contract). The data plane (src/storage/write-path.ts) does the writing and reports outcomes,
 * aggregated; this machine decides where points go: the route is open (send) while influxUp and
 * closed (everything waits in the spool) while influxDown.
 *
 *   influxDown.probing ──probe ok──▶ influxUp ──WRITE_FAILED──▶ influxDown.waiting ──after──▶ probing
 *                      └─probe fails─▶ waiting                └─401/403/404─▶ influxDown.refused ──after──▶ influxUp (a real write proves it)
 *   influxDown.unconfigured: no INFLUX_URL; every point waits in the spool.
 */
import { assign, fromPromise, not, setup } from 'xstate';
import type { LandedEvent, WriteFailure, WriterEvent } from './events.js';
import { equalJitterDelay } from './rules/backoff.js';
import type { ErrorCode } from './rules/error-codes.js';
import { errorMessage } from './rules/error-info.js';

export interface WriterInput {
  /** INFLUX_URL is set. */
  configured: boolean;
  probeBaseMs: number;
  probeMaxMs: number;
  /** The wall clock (ms) and a random number in [0, 1): injected so tests are reproducible. */
  now: () => number;
  random: () => number;
}

interface WriterContext extends WriterInput {
  reason: string;
  code: ErrorCode | null;
  since: number;
  probeAttempt: number;
  retryAfterMs: number | null;
  pointsLanded: number;
  lastLandedAt: number | null;
  lastFailure: { code: ErrorCode; message: string; at: number } | null;
  /** Why the spool cannot be written, while it cannot. */
  spoolError: string | null;
}

/**
 * Failures no probe can clear: the token, a permission or the bucket is wrong, or
 * (badRequest) InfluxDB refuses the request itself (a 400 about no line, e.g. no org).
 */
const AUTH_OUTCOMES: ReadonlySet<WriteFailure> = new Set(['unauthorized', 'forbidden', 'bucketNotFound', 'badRequest']);

const base = setup({
  types: {
    context: {} as WriterContext,
    events: {} as WriterEvent,
    input: {} as WriterInput,
  },
  actors: {
    /** GET /health (or /ping): resolves when InfluxDB answers. Provided by src/storage. */
    probe: fromPromise<void>(async () => {
      throw new Error('probe not provided');
    }),
  },
  actions: {
    /** Data plane: send points (provided). */
    openRoute: () => {},
    /** Data plane: keep everything in the spool (provided). */
    closeRoute: () => {},
    /** Data plane: flush the batch being built now (provided). */
    flushNow: () => {},
    /** An InfluxDB problem a person must fix (token, permission, bucket), at error level (provided). */
    alert: (_, _params: { message: string }) => {},
  },
  delays: {
    probeDelay: ({ context }) =>
      context.retryAfterMs ?? equalJitterDelay(context.probeAttempt, context.probeBaseMs, context.probeMaxMs, context.random()),
    refusedDelay: ({ context }) => Math.max(context.probeMaxMs, 15_000),
  },
  guards: {
    isConfigured: ({ context }) => context.configured,
    isAuthProblem: (_, params: { outcome: WriteFailure }) => AUTH_OUTCOMES.has(params.outcome),
  },
});

/** Messages to the parent (routed to the drainer and the notifier by machines/pipeline.ts). */
const writerSetup = base.extend({
  actions: {
    announceUp: base.enqueueActions(({ enqueue }) => enqueue.sendParent({ type: 'INFLUX_UP' })),
    announceDown: base.enqueueActions(({ context, enqueue }) =>
      enqueue.sendParent({ type: 'INFLUX_DOWN', reason: context.reason, code: context.code ?? 'INFLUX_UNAVAILABLE' }),
    ),
    forwardLanded: base.enqueueActions(({ event, enqueue }) => {
      if (event.type !== 'WRITE_OK') return;
      const landed: LandedEvent = { ...event, type: 'LANDED' };
      enqueue.sendParent(landed);
    }),
  },
});

export const writerMachine = writerSetup.createMachine({
  id: 'writer',
  context: ({ input }) => ({
    ...input,
    reason: input.configured ? 'checking InfluxDB' : 'INFLUX_URL is not set; points wait in the spool',
    code: input.configured ? null : 'INFLUX_NOT_CONFIGURED',
    since: input.now(),
    probeAttempt: 0,
    retryAfterMs: null,
    pointsLanded: 0,
    lastLandedAt: null,
    lastFailure: null,
    spoolError: null,
  }),
  initial: 'influxDown',
  on: {
    // Landings can be reported in any state (a write that was in flight when we went down).
    WRITE_OK: {
      actions: [
        assign({ pointsLanded: ({ context, event }) => context.pointsLanded + event.points, lastLandedAt: ({ context }) => context.now() }),
        'forwardLanded',
      ],
    },
    FEED_DOWN: { actions: 'flushNow' },
    SPOOL_FAILED: { actions: assign({ spoolError: ({ event }) => event.message }) },
    SPOOL_OK: { actions: assign({ spoolError: null }) },
  },
  states: {
    influxUp: {
      entry: [
        assign({
          reason: 'InfluxDB accepts writes',
          code: null,
          since: ({ context }) => context.now(),
          probeAttempt: 0,
          retryAfterMs: null,
        }),
        'openRoute',
        'announceUp',
      ],
      on: {
        WRITE_FAILED: [
          {
            guard: { type: 'isAuthProblem', params: ({ event }) => ({ outcome: event.outcome }) },
            target: 'influxDown.refused',
            actions: [
              assign({
                reason: ({ event }) => event.message,
                code: ({ event }) => event.code,
                lastFailure: ({ context, event }) => ({ code: event.code, message: event.message, at: context.now() }),
              }),
              { type: 'alert', params: ({ event }) => ({ message: event.message }) },
            ],
          },
          {
            target: 'influxDown.waiting',
            actions: assign({
              reason: ({ event }) => event.message,
              code: ({ event }) => event.code,
              lastFailure: ({ context, event }) => ({ code: event.code, message: event.message, at: context.now() }),
              retryAfterMs: ({ event }) => (event.retryAfterS !== undefined ? event.retryAfterS * 1000 : null),
            }),
          },
        ],
      },
    },
    influxDown: {
      entry: ['closeRoute', assign({ since: ({ context }) => context.now() }), 'announceDown'],
      initial: 'probing',
      states: {
        probing: {
          always: { guard: not('isConfigured'), target: 'unconfigured' },
          invoke: {
            src: 'probe',
            onDone: { target: '#writer.influxUp' },
            onError: {
              target: 'waiting',
              actions: assign({
                probeAttempt: ({ context }) => context.probeAttempt + 1,
                reason: ({ context, event }) =>
                  `${context.lastFailure ? `${context.lastFailure.message}; ` : ''}health probe failed: ${errorMessage(event.error)}`,
                code: ({ context }) => context.code ?? 'INFLUX_UNAVAILABLE',
              }),
            },
          },
        },
        waiting: {
          after: { probeDelay: { target: 'probing', actions: assign({ retryAfterMs: null }) } },
        },
        refused: {
          // /health passes while the token or bucket is wrong: only a real write can prove a fix,
          // so after a while the route reopens and the next write decides.
          after: { refusedDelay: '#writer.influxUp' },
        },
        unconfigured: { type: 'final' },
      },
    },
  },
});
