/**
 * A stand-in for the service's actor system, for the inspection tests: a root `pipeline` machine
 * invoking four children with the real systemIds and the state names the outside relies on
 * (connection `...streaming`, writer `influxUp`/`influxDown`, drainer `idle`/`draining`/`paused`,
 * and the real notifier machine), routing events between them as pipeline.ts does.
 *
 * The inspection tests only use `InspectedSystem`, so they can be pointed at the real service
 * (with VictoriaMetrics stopped and restarted for `setWriterDown`) by writing another
 * `startInspectedSystem` with the same shape.
 *
 * The connection stand-in deliberately carries a secret, a one-time redirect code and a
 * 2000-key subscription, so the tests can prove none of it leaves the process unsanitised.
 */
import { assign, createActor, fromPromise, sendParent, sendTo, setup, type AnyActorRef } from 'xstate';
import { notifierMachine, type Landed } from '../../../machines/notifier.js';
import { InspectionHub } from '../../../src/inspector/hub.js';

export const PLANTED_SECRET = 'sekrit-7f3a9c';
export const PLANTED_CODE = 'onetime-code-5521';

export interface InspectedSystem {
  hub: InspectionHub;
  /** Makes the writer go `influxDown` (true) or back to `influxUp` (false). */
  setWriterDown(down: boolean): void;
  /** Points landed in InfluxDB (drives the notifier). */
  land(points: number): void;
  stop(): void;
}

const connectionStandIn = setup({
  types: { context: {} as { reason: string; accessToken: string; subscribed: string[]; connects: number } },
  actors: {
    authorize: fromPromise(async () => ({ authorizedRedirectUri: `ws://127.0.0.1:1/feed?code=${PLANTED_CODE}` })),
    fetchToken: fromPromise(async () => PLANTED_SECRET),
  },
}).createMachine({
  id: 'connection',
  context: {
    reason: 'starting',
    accessToken: PLANTED_SECRET,
    subscribed: Array.from({ length: 2000 }, (_, i) => `NSE_EQ|INE${String(i).padStart(6, '0')}`),
    connects: 0,
  },
  initial: 'fetchingToken',
  states: {
    fetchingToken: { invoke: { src: 'fetchToken', onDone: 'authorizing' } },
    authorizing: {
      entry: assign({ reason: 'authorizing the feed' }),
      invoke: { src: 'authorize', onDone: 'connected' },
    },
    connected: {
      initial: 'subscribing',
      entry: assign({ connects: ({ context }) => context.connects + 1 }),
      states: {
        subscribing: { always: 'streaming' },
        streaming: {
          entry: [assign({ reason: 'ticks are flowing' }), sendParent({ type: 'FEED_UP' })],
          on: { STALE: 'stale' },
        },
        stale: { on: { FRAME: 'streaming' } },
      },
      on: { DROPPED: { target: 'backoff', actions: assign({ reason: 'socket closed' }) } },
    },
    backoff: { after: { 1000: 'fetchingToken' } },
  },
});

const writerStandIn = setup({
  types: {
    context: {} as { reason: string; lastError: { code: string; message: string } | null; downSince: number | null; failures: number },
    events: {} as { type: 'INFLUX_FAIL' } | { type: 'INFLUX_OK' } | { type: 'FEED_UP' } | { type: 'FEED_DOWN' },
  },
}).createMachine({
  id: 'writer',
  context: { reason: 'InfluxDB answered', lastError: null, downSince: null, failures: 0 },
  initial: 'influxUp',
  states: {
    influxUp: {
      initial: 'writing',
      states: { writing: {}, flushing: {} },
      on: {
        INFLUX_FAIL: {
          target: 'influxDown',
          actions: [
            assign({
              reason: 'InfluxDB unreachable: connect ECONNREFUSED',
              lastError: { code: 'INFLUX_UNAVAILABLE', message: 'connect ECONNREFUSED 127.0.0.1:8428' },
              downSince: () => Date.now(),
              failures: ({ context }) => context.failures + 1,
            }),
            sendParent({ type: 'INFLUX_DOWN', reason: 'connect ECONNREFUSED', code: 'INFLUX_UNAVAILABLE' }),
          ],
        },
      },
    },
    influxDown: {
      initial: 'spooling',
      states: { spooling: { after: { 200: 'probing' } }, probing: {} },
      on: {
        INFLUX_OK: {
          target: 'influxUp',
          actions: [assign({ reason: 'InfluxDB answered the probe', downSince: null }), sendParent({ type: 'INFLUX_UP' })],
        },
      },
    },
  },
});

const drainerStandIn = setup({
  types: { context: {} as { reason: string; drained: number } },
}).createMachine({
  id: 'drainer',
  context: { reason: 'spool empty', drained: 0 },
  initial: 'idle',
  states: {
    idle: { on: { INFLUX_DOWN: 'paused' } },
    paused: { entry: assign({ reason: 'InfluxDB is down' }), on: { INFLUX_UP: 'draining' } },
    draining: {
      entry: assign({ reason: 'replaying the spool' }),
      after: { 300: { target: 'idle', actions: assign({ drained: ({ context }) => context.drained + 1, reason: 'spool empty' }) } },
      on: { INFLUX_DOWN: 'paused' },
    },
  },
});

const pipelineStandIn = setup({
  actors: {
    connection: connectionStandIn,
    writer: writerStandIn,
    drainer: drainerStandIn,
    notifier: notifierMachine.provide({ actors: { notify: fromPromise<void, Landed>(async () => {}) } }),
  },
}).createMachine({
  id: 'pipeline',
  initial: 'running',
  states: {
    running: {
      invoke: [
        { id: 'connection', systemId: 'connection', src: 'connection' },
        { id: 'writer', systemId: 'writer', src: 'writer' },
        { id: 'drainer', systemId: 'drainer', src: 'drainer' },
        { id: 'notifier', systemId: 'notifier', src: 'notifier', input: { enabled: true, intervalMs: 60_000, retryMs: 50_000 } },
      ],
      on: {
        FEED_UP: { actions: sendTo('writer', { type: 'FEED_UP' }) },
        INFLUX_DOWN: { actions: sendTo('drainer', ({ event }) => event) },
        INFLUX_UP: { actions: sendTo('drainer', ({ event }) => event) },
        LANDED: { actions: sendTo('notifier', ({ event }) => event) },
      },
    },
  },
});

export function startInspectedSystem(options: { hub?: InspectionHub } = {}): InspectedSystem {
  const hub = options.hub ?? new InspectionHub();
  const root = createActor(pipelineStandIn, { inspect: hub.inspect });
  root.start();
  const child = (id: string): AnyActorRef => {
    const ref = root.system.get(id) as AnyActorRef | undefined;
    if (!ref) throw new Error(`no actor with systemId ${id}`);
    return ref;
  };
  return {
    hub,
    setWriterDown: (down) => child('writer').send({ type: down ? 'INFLUX_FAIL' : 'INFLUX_OK' }),
    land: (points) => root.send({ type: 'LANDED', points, firstTs: 1, lastTs: 2, keys: ['NSE_EQ|INE002A01018'] }),
    stop: () => root.stop(),
  };
}
