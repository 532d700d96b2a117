/**
 * The root of the actor system: invokes the real child machines with stable systemIds and routes
 * every event of the catalogue (events.ts) to its receivers. The storage side (writer, drainer,
 * notifier) runs from the start; the feed starts on START_FEED, once the local server listens,
 * and stops on STOP_FEED, first thing in a shutdown, so that no tick arrives with nowhere to go.
 *
 * The children are named in `setup({ actors })`, so each child's `input` is checked by the
 * compiler and `snapshot.children.<id>` is typed. The composition root (src/service.ts) hands
 * in the children with their I/O through `pipelineMachine.provide({ actors })`; tests hand in
 * fakes the same way.
 *
 * To add an actor: import its machine, add it to `actors`, `children` and `PipelineInput`,
 * invoke it below, and add its events' rows to the routing table.
 */
import { assign, forwardTo, setup } from 'xstate';
import { type BackfillInput, backfillMachine } from './backfill.js';
import { type ChainsInput, chainsMachine } from './chains.js';
import { type ConnectionInput, connectionMachine } from './connection.js';
import { type DrainerInput, drainerMachine } from './drainer.js';
import type { PipelineEvent } from './events.js';
import { type LeadershipInput, leadershipMachine } from './leadership.js';
import { type NotifierInput, notifierMachine } from './notifier.js';
import { type WriterInput, writerMachine } from './writer.js';

/** Each child's input, by child id. */
export interface PipelineInput {
  connection: ConnectionInput;
  writer: WriterInput;
  drainer: DrainerInput;
  notifier: NotifierInput;
  backfill: BackfillInput;
  /** HA_GROUP: the leadership actor's input; null without it (this instance always ingests). */
  leadership: LeadershipInput | null;
  chains: ChainsInput;
}

interface PipelineContext extends PipelineInput {
  /** START_FEED came (the server listens) and no STOP_FEED since. */
  started: boolean;
  /** This instance may ingest: it leads its HA group, or there is no group. */
  leading: boolean;
}

const pipelineSetup = setup({
  types: {
    context: {} as PipelineContext,
    input: {} as PipelineInput,
    events: {} as PipelineEvent,
    /** Child id → actor name in `actors`: what types `snapshot.children`. */
    children: {} as {
      connection: 'connection';
      writer: 'writer';
      drainer: 'drainer';
      notifier: 'notifier';
      backfill: 'backfill';
      leadership: 'leadership';
      chains: 'chains';
    },
  },
  actors: {
    connection: connectionMachine,
    writer: writerMachine,
    drainer: drainerMachine,
    notifier: notifierMachine,
    backfill: backfillMachine,
    leadership: leadershipMachine,
    chains: chainsMachine,
  },
  guards: {
    started: ({ context }) => context.started,
    leading: ({ context }) => context.leading,
  },
});

export const pipelineMachine = pipelineSetup.createMachine({
  id: 'pipeline',
  context: ({ input }) => ({ ...input, started: false, leading: input.leadership === null }),
  // The fifth actor only with HA_GROUP: spawned, so that without it there is no leadership at all.
  entry: pipelineSetup.enqueueActions(({ context, enqueue }) => {
    if (context.leadership !== null) {
      enqueue.spawnChild('leadership', { id: 'leadership', systemId: 'leadership', input: context.leadership });
    }
  }),
  // Started in this order: writer, drainer, notifier, backfill; the connection only once the feed starts.
  invoke: [
    { id: 'writer', systemId: 'writer', src: 'writer', input: ({ context }) => context.writer },
    { id: 'drainer', systemId: 'drainer', src: 'drainer', input: ({ context }) => context.drainer },
    { id: 'notifier', systemId: 'notifier', src: 'notifier', input: ({ context }) => context.notifier },
    { id: 'backfill', systemId: 'backfill', src: 'backfill', input: ({ context }) => context.backfill },
  ],
  initial: 'feedStopped',
  states: {
    // The feed runs only while both hold: the server listens (START_FEED) and this instance
    // leads (LEAD; always, without HA_GROUP).
    feedStopped: {
      on: {
        START_FEED: [{ guard: 'leading', target: 'feeding', actions: assign({ started: true }) }, { actions: assign({ started: true }) }],
        LEAD: [{ guard: 'started', target: 'feeding', actions: assign({ leading: true }) }, { actions: assign({ leading: true }) }],
        STEP_DOWN: { actions: assign({ leading: false }) },
      },
    },
    feeding: {
      // The chains steer the connection's subscription (SET_SUBSCRIPTION through this root), so
      // they run while it runs, started after it.
      invoke: [
        { id: 'connection', systemId: 'connection', src: 'connection', input: ({ context }) => context.connection },
        { id: 'chains', systemId: 'chains', src: 'chains', input: ({ context }) => context.chains },
      ],
      on: {
        // Leaving the state stops the connection actor, which closes the socket.
        STOP_FEED: { target: 'feedStopped', actions: assign({ started: false }) },
        // Fenced or stopping: no ingest from here on (the lease may soon be someone else's).
        STEP_DOWN: { target: 'feedStopped', actions: assign({ leading: false }) },
        // The connection exists only here; src/service.ts refuses a change while the feed is stopped.
        SET_SUBSCRIPTION: { actions: forwardTo('connection') },
      },
    },
  },
  // The routing table: event → receiver(s). One row per event of the catalogue.
  on: {
    // from the connection
    FEED_UP: { actions: [forwardTo('writer'), forwardTo('backfill')] },
    FEED_DOWN: { actions: [forwardTo('writer'), forwardTo('backfill')] },
    // from the writer
    INFLUX_UP: { actions: forwardTo('drainer') },
    INFLUX_DOWN: { actions: forwardTo('drainer') },
    LANDED: { actions: forwardTo('notifier') },
    // from the leadership (HA_GROUP); handled per state above: LEAD, STEP_DOWN
    HANDOVER_FOUND: { actions: forwardTo('backfill') },
    // from the data plane (the write path)
    WRITE_OK: { actions: forwardTo('writer') },
    WRITE_FAILED: { actions: forwardTo('writer') },
    SPOOLED: { actions: forwardTo('drainer') },
    SPOOL_FAILED: { actions: forwardTo('writer') },
    SPOOL_OK: { actions: forwardTo('writer') },
    // from the service (the gap ledger and Upstox's clock)
    OUTAGE_FOUND: { actions: forwardTo('backfill') },
    GAPS_PENDING: { actions: forwardTo('backfill') },
    STORAGE_GAP: { actions: forwardTo('backfill') },
    UPSTOX_CLOCK: { actions: forwardTo('backfill') },
  },
});
