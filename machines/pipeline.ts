/**
 * The root of the actor system: starts the four actors with stable systemIds and routes the
 * events between them (see events.ts for the catalogue). The storage side (writer, drainer,
 * notifier) runs from the start; the feed starts on START_FEED, once the local server listens,
 * and stops on STOP_FEED, first thing in a shutdown, so that no tick arrives with nowhere to go.
 *
 *   connection ──FEED_UP/FEED_DOWN──▶ writer
 *   writer ─────INFLUX_UP/INFLUX_DOWN─▶ drainer
 *   writer ─────LANDED────────────────▶ notifier
 */
import { type AnyActorLogic, fromPromise, sendTo, setup } from 'xstate';
import type { PipelineEvent } from './events.js';

export interface PipelineInput {
  connection: unknown;
  writer: unknown;
  drainer: unknown;
  notifier: unknown;
}

type RootEvent = PipelineEvent | { type: 'START_FEED' } | { type: 'STOP_FEED' };

/** Stand-ins: the composition root (src/service.ts) provides the real machines. */
const notProvided = (name: string): AnyActorLogic =>
  fromPromise(async () => {
    throw new Error(`actor ${name} was not provided`);
  });

export const pipelineMachine = setup({
  types: {
    context: {} as PipelineInput,
    input: {} as PipelineInput,
    events: {} as RootEvent,
  },
  actors: {
    connection: notProvided('connection'),
    writer: notProvided('writer'),
    drainer: notProvided('drainer'),
    notifier: notProvided('notifier'),
  },
}).createMachine({
  id: 'pipeline',
  context: ({ input }) => input,
  // Started in this order: writer, drainer, notifier; the connection only once the feed starts.
  invoke: [
    { id: 'writer', systemId: 'writer', src: 'writer', input: ({ context }: { context: PipelineInput }) => context.writer },
    { id: 'drainer', systemId: 'drainer', src: 'drainer', input: ({ context }: { context: PipelineInput }) => context.drainer },
    { id: 'notifier', systemId: 'notifier', src: 'notifier', input: ({ context }: { context: PipelineInput }) => context.notifier },
  ],
  initial: 'feedStopped',
  states: {
    feedStopped: {
      on: { START_FEED: 'feeding' },
    },
    feeding: {
      invoke: {
        id: 'connection',
        systemId: 'connection',
        src: 'connection',
        input: ({ context }: { context: PipelineInput }) => context.connection,
      },
      on: {
        // Leaving the state stops the connection actor, which closes the socket.
        STOP_FEED: 'feedStopped',
      },
    },
  },
  on: {
    FEED_UP: { actions: sendTo('writer', ({ event }) => event) },
    FEED_DOWN: { actions: sendTo('writer', ({ event }) => event) },
    INFLUX_UP: { actions: sendTo('drainer', ({ event }) => event) },
    INFLUX_DOWN: { actions: sendTo('drainer', ({ event }) => event) },
    LANDED: { actions: sendTo('notifier', ({ event }) => event) },
  },
});
