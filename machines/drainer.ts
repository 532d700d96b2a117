/**
 * The drainer: replays the spool's backlog into InfluxDB, oldest first, while the writer is
 * influxUp; pauses while it is influxDown. The replay itself is the data plane's `drainChunk`
 * (about a second of chunked writes per call, rows deleted only after 2xx), so this actor hears
 * about progress at most once a second.
 *
 *   paused ──INFLUX_UP──▶ draining ──(backlog empty)──▶ idle ──SPOOLED──▶ draining
 *      ▲                      │ INFLUX_DOWN / a chunk failed / a chunk made no progress
 *      └──────────────────────┘
 */
import { assign, fromPromise, setup } from 'xstate';
import type { DrainerEvent, DrainProgress } from './events.js';
import { errorMessage } from './rules/error-info.js';

export interface DrainerInput {
  /** After a failed chunk with the writer still up, try again after this long. */
  retryMs: number;
  /** The wall clock (ms), injected so tests are reproducible. */
  now: () => number;
}

interface DrainerContext extends DrainerInput {
  writerUp: boolean;
  pending: number;
  oldestAt: number | null;
  drainedTotal: number;
  ratePerS: number;
  reason: string;
  since: number;
  lastError: string | null;
}

export const drainerMachine = setup({
  types: {
    context: {} as DrainerContext,
    events: {} as DrainerEvent,
    input: {} as DrainerInput,
  },
  actors: {
    drainChunk: fromPromise<DrainProgress>(async () => {
      throw new Error('drainChunk not provided');
    }),
  },
  actions: {
    /** Data plane: live flushes leave the sending to the drainer while it replays (provided). */
    beginDrain: () => {},
    endDrain: () => {},
  },
  delays: {
    retry: ({ context }) => context.retryMs,
  },
  guards: {
    isWriterUp: ({ context }) => context.writerUp,
    morePending: (_, params: DrainProgress) => params.pending > 0,
    noProgress: (_, params: DrainProgress) => params.drained === 0 && params.pending > 0,
  },
}).createMachine({
  id: 'drainer',
  context: ({ input }) => ({
    ...input,
    writerUp: false,
    pending: 0,
    oldestAt: null,
    drainedTotal: 0,
    ratePerS: 0,
    reason: 'waiting for InfluxDB',
    since: input.now(),
    lastError: null,
  }),
  initial: 'paused',
  on: {
    INFLUX_DOWN: {
      target: '.paused',
      actions: assign({ writerUp: false, reason: ({ event }) => `InfluxDB is down (${event.reason})` }),
    },
    SPOOLED: { actions: assign({ pending: ({ event }) => event.pending }) },
  },
  states: {
    paused: {
      entry: assign({ since: ({ context }) => context.now(), ratePerS: 0 }),
      on: {
        INFLUX_UP: { target: 'draining', actions: assign({ writerUp: true }) },
      },
      after: {
        retry: { guard: 'isWriterUp', target: 'draining' },
      },
    },
    idle: {
      entry: assign({ reason: 'nothing waits in the spool', since: ({ context }) => context.now(), ratePerS: 0 }),
      on: {
        SPOOLED: { target: 'draining', actions: assign({ pending: ({ event }) => event.pending }) },
        INFLUX_UP: { target: 'draining', actions: assign({ writerUp: true }) },
      },
    },
    draining: {
      entry: [
        'beginDrain',
        assign({
          reason: ({ context }) => `replaying the spool (${context.pending} points waiting)`,
          since: ({ context }) => context.now(),
        }),
      ],
      exit: 'endDrain',
      invoke: {
        src: 'drainChunk',
        onDone: [
          {
            // A chunk that landed nothing yet reports a backlog (the route closed under it, e.g. at
            // shutdown) must not re-enter at once: promise-only re-entry would starve the event loop.
            guard: { type: 'noProgress', params: ({ event }) => event.output },
            target: 'paused',
            actions: assign(({ context, event }) => ({
              ...progress(context, event.output),
              reason: `replay made no progress (${event.output.pending} points waiting); retrying`,
            })),
          },
          {
            guard: { type: 'morePending', params: ({ event }) => event.output },
            target: 'draining',
            reenter: true,
            actions: assign(({ context, event }) => progress(context, event.output)),
          },
          { target: 'idle', actions: assign(({ context, event }) => progress(context, event.output)) },
        ],
        onError: {
          target: 'paused',
          actions: assign({
            lastError: ({ event }) => errorMessage(event.error),
            reason: ({ event }) => `replay stopped: ${errorMessage(event.error)}`,
          }),
        },
      },
    },
  },
});

function progress(context: DrainerContext, p: DrainProgress): Partial<DrainerContext> {
  return {
    pending: p.pending,
    oldestAt: p.oldestAt,
    drainedTotal: context.drainedTotal + p.drained,
    ratePerS: p.ratePerS,
    lastError: null,
  };
}
