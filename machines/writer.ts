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
import { assign, fromPromise, setup } from 'xstate';
import type { LandedEvent } from './events.js';

export interface WriterInput {
  /** INFLUX_URL is set. */
  configured: boolean;
  probeBaseMs: number;
  probeMaxMs: number;
}

export type WriterEvent =
  | { type: 'WRITE_OK'; points: number; firstTs: number; lastTs: number; keys: string[] }
  | { type: 'WRITE_FAILED'; outcome: string; code: string; message: string; retryAfterS?: number }
  | { type: 'FEED_UP' }
  | { type: 'FEED_DOWN'; reason: string }
  // issue 11: the spool cannot be written (points wait in memory), and when it can again.
  | { type: 'SPOOL_FAILED'; message: string }
  | { type: 'SPOOL_OK' };

interface WriterContext extends WriterInput {
  reason: string;
  code: string | null;
  since: number;
  probeAttempt: number;
  retryAfterMs: number | null;
  pointsLanded: number;
  lastLandedAt: number | null;
  lastFailure: { code: string; message: string; at: number } | null;
  /** Why the spool cannot be written, while it cannot (issue 11). */
  spoolError: string | null;
}

/** Equal jitter: half the capped exponential delay plus a random half (never a hot loop). */
function probeDelay(attempt: number, base: number, max: number, random: number): number {
  const ceiling = Math.min(max, base * 2 ** Math.min(attempt, 30));
  return Math.floor(ceiling / 2 + (random * ceiling) / 2);
}

// badRequest (issue 11): a 400 about the request itself (no org, bad bucket id); only a person can fix it.
const AUTH_OUTCOMES = new Set(['unauthorized', 'forbidden', 'bucketNotFound', 'badRequest']);

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
      context.retryAfterMs ?? probeDelay(context.probeAttempt, context.probeBaseMs, context.probeMaxMs, Math.random()),
    refusedDelay: ({ context }) => Math.max(context.probeMaxMs, 15_000),
  },
  guards: {
    isAuthProblem: ({ event }) => event.type === 'WRITE_FAILED' && AUTH_OUTCOMES.has(event.outcome),
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
      const landed: LandedEvent = { type: 'LANDED', points: event.points, firstTs: event.firstTs, lastTs: event.lastTs, keys: event.keys };
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
    since: Date.now(),
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
        assign({ pointsLanded: ({ context, event }) => context.pointsLanded + event.points, lastLandedAt: () => Date.now() }),
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
        assign({ reason: 'InfluxDB accepts writes', code: null, since: () => Date.now(), probeAttempt: 0, retryAfterMs: null }),
        'openRoute',
        'announceUp',
      ],
      on: {
        WRITE_FAILED: [
          {
            guard: 'isAuthProblem',
            target: 'influxDown.refused',
            actions: [
              assign({
                reason: ({ event }) => event.message,
                code: ({ event }) => event.code,
                lastFailure: ({ event }) => ({ code: event.code, message: event.message, at: Date.now() }),
              }),
              { type: 'alert', params: ({ event }) => ({ message: event.message }) },
            ],
          },
          {
            target: 'influxDown.waiting',
            actions: assign({
              reason: ({ event }) => event.message,
              code: ({ event }) => event.code,
              lastFailure: ({ event }) => ({ code: event.code, message: event.message, at: Date.now() }),
              retryAfterMs: ({ event }) => (event.retryAfterS !== undefined ? event.retryAfterS * 1000 : null),
            }),
          },
        ],
      },
    },
    influxDown: {
      entry: ['closeRoute', assign({ since: () => Date.now() }), 'announceDown'],
      initial: 'probing',
      states: {
        probing: {
          always: { guard: ({ context }) => !context.configured, target: 'unconfigured' },
          invoke: {
            src: 'probe',
            onDone: { target: '#writer.influxUp' },
            onError: {
              target: 'waiting',
              actions: assign({
                probeAttempt: ({ context }) => context.probeAttempt + 1,
                reason: ({ context, event }) =>
                  `${context.lastFailure ? `${context.lastFailure.message}; ` : ''}health probe failed: ${(event.error as Error)?.message ?? String(event.error)}`,
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
