/**
 * The service's actor system for the inspection tests: the real root (`pipelineMachine`) and the
 * real four machines, with fake I/O in place of Upstox, InfluxDB and the notification endpoint.
 * The state names, events and routing the inspector shows are therefore the production ones.
 *
 * The inspection tests only use `InspectedSystem`, so they can be pointed at the real service
 * (with VictoriaMetrics stopped and restarted for `setWriterDown`) by writing another
 * `startInspectedSystem` with the same shape.
 *
 * The fakes deliberately leak: the token fetch resolves with a secret (a careless implementation),
 * the authorize step returns a redirect URI with a one-time code, and the subscription holds 2000
 * keys, so the tests can prove none of it leaves the process unsanitised.
 */
import { createActor, fromCallback, fromPromise } from 'xstate';
import { connectionMachine } from '../../../machines/connection.js';
import { drainerMachine } from '../../../machines/drainer.js';
import type { DrainProgress, FeedSocketInput, SocketCommand, SocketEvent } from '../../../machines/events.js';
import { pipelineMachine } from '../../../machines/pipeline.js';
import { writerMachine } from '../../../machines/writer.js';
import { TickpipeError } from '../../../src/errors.js';
import { InspectionHub } from '../../../src/inspector/hub.js';
import { connectionTestInput, notifierTestInput, pipelineTestInput, recordingNotifier } from '../pipeline-fakes.js';

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

const KEYS = Array.from({ length: 2000 }, (_, i) => `NSE_EQ|INE${String(i).padStart(6, '0')}`);

export function startInspectedSystem(options: { hub?: InspectionHub } = {}): InspectedSystem {
  const hub = options.hub ?? new InspectionHub();
  let influxUp = true;
  const connection = connectionMachine.provide({
    actors: {
      loadInstruments: fromPromise(async () => KEYS),
      // A careless token source would resolve with the token: the inspector must not show it.
      fetchToken: fromPromise(async () => PLANTED_SECRET as unknown as void),
      authorize: fromPromise(async () => `ws://127.0.0.1:1/feed?code=${PLANTED_CODE}`),
      // A socket that opens and streams at once, answers pings, and stays quiet (the stale limit is an hour).
      feedSocket: fromCallback<SocketCommand, FeedSocketInput>(({ sendBack, receive }) => {
        const send = (e: SocketEvent) => sendBack(e);
        receive((c) => {
          if (c.type === 'PING') send({ type: 'FEED_PONG' });
        });
        const t = setTimeout(() => {
          send({ type: 'SOCKET_OPEN' });
          send({ type: 'FEED_ALIVE' });
        }, 0);
        return () => clearTimeout(t);
      }),
    },
  });
  const writer = writerMachine.provide({
    actors: {
      probe: fromPromise(async () => {
        if (!influxUp) throw new TickpipeError('INFLUX_UNAVAILABLE', 'cannot reach InfluxDB: connect ECONNREFUSED 127.0.0.1:8428');
      }),
    },
  });
  const drainer = drainerMachine.provide({
    actors: { drainChunk: fromPromise<DrainProgress>(async () => ({ drained: 0, pending: 0, oldestAt: null, ratePerS: 0 })) },
  });
  const root = createActor(pipelineMachine.provide({ actors: { connection, writer, drainer, notifier: recordingNotifier() } }), {
    input: pipelineTestInput({
      connection: connectionTestInput({
        instruments: KEYS,
        hasAccessToken: false,
        hasTokenUrl: true,
        staleFeedMs: 3_600_000,
        staleFeedClosedMs: 3_600_000,
      }),
      writer: { configured: true, probeBaseMs: 100, probeMaxMs: 200, now: Date.now, random: () => 0.5 },
      notifier: notifierTestInput({ enabled: true, intervalMs: 60_000, retryMs: 50_000 }),
    }),
    inspect: hub.inspect,
  });
  root.start();
  root.send({ type: 'START_FEED' });
  return {
    hub,
    setWriterDown: (down) => {
      influxUp = !down;
      // As the write path reports a failed write; recovery comes from the writer's own probe.
      if (down) {
        root.send({
          type: 'WRITE_FAILED',
          outcome: 'unavailable',
          code: 'INFLUX_UNAVAILABLE',
          message: 'cannot reach InfluxDB: connect ECONNREFUSED 127.0.0.1:8428',
        });
      }
    },
    land: (points) => root.send({ type: 'LANDED', points, firstTs: 1, lastTs: 2, keys: ['NSE_EQ|INE002A01018'] }),
    stop: () => root.stop(),
  };
}
