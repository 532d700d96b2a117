import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type AnyActorRef, createActor, fromPromise } from 'xstate';
import { drainerMachine } from '../../machines/drainer.js';
import type { PipelineEvent } from '../../machines/events.js';
import { pipelineMachine } from '../../machines/pipeline.js';
import { writerMachine } from '../../machines/writer.js';
import { pipelineTestInput, quietConnection, recordingNotifier } from '../helpers/pipeline-fakes.js';

/** The real root and children, with I/O that never answers; records which child received what. */
function start() {
  const log: Array<[string, string]> = [];
  const never = <T>() => fromPromise(() => new Promise<T>(() => {}));
  // The root's own sends to its children (routing), told apart from a child's sends by the source.
  let root: AnyActorRef | undefined = undefined;
  const actor = createActor(
    pipelineMachine.provide({
      actors: {
        connection: quietConnection,
        writer: writerMachine.provide({ actors: { probe: never<void>() } }),
        drainer: drainerMachine.provide({ actors: { drainChunk: never() } }),
        notifier: recordingNotifier(),
      },
    }),
    {
      input: pipelineTestInput(),
      inspect: (ev) => {
        if (ev.type === '@xstate.event' && ev.sourceRef !== undefined && ev.sourceRef === root && ev.actorRef !== root) {
          log.push([(ev.actorRef as AnyActorRef).id, ev.event.type]);
        }
      },
    },
  );
  root = actor;
  actor.start();
  return { actor, log, children: () => actor.getSnapshot().children };
}

describe('pipeline root machine', () => {
  it('starts storage first and the feed only on START_FEED, with stable systemIds', () => {
    const { actor, children } = start();
    assert.ok(children().writer && children().drainer && children().notifier && children().backfill);
    assert.equal(actor.system.get('writer'), children().writer, 'systemId matches the child id');
    assert.equal(children().connection, undefined);
    actor.send({ type: 'START_FEED' });
    assert.ok(children().connection);
    assert.ok(actor.system.get('connection'));
    actor.send({ type: 'STOP_FEED' });
    assert.equal(children().connection, undefined, 'stopping the feed stops the connection actor');
    actor.stop();
  });

  it('routes every event of the catalogue to its receiver', () => {
    const { actor, log } = start();
    actor.send({ type: 'START_FEED' });
    const events: PipelineEvent[] = [
      { type: 'FEED_UP', at: 2, keys: [] },
      { type: 'FEED_DOWN', reason: 'socket closed', at: 1, keys: [], gapReason: 'socket dropped' },
      { type: 'INFLUX_DOWN', reason: 'x', code: 'INFLUX_UNAVAILABLE' },
      { type: 'INFLUX_UP' },
      { type: 'LANDED', points: 3, firstTs: 1, lastTs: 2, keys: ['A'] },
      { type: 'WRITE_OK', points: 3, firstTs: 1, lastTs: 2, keys: ['A'] },
      { type: 'WRITE_FAILED', outcome: 'unavailable', code: 'INFLUX_UNAVAILABLE', message: 'down' },
      { type: 'SPOOLED', pending: 10 },
      { type: 'SET_SUBSCRIPTION', subscription: { 'NSE_EQ|INE002A01018': 'full' } },
      { type: 'OUTAGE_FOUND', at: 1, keys: [], gapReason: 'service stopped' },
      { type: 'GAPS_PENDING', at: 1, gaps: [] },
      { type: 'UPSTOX_CLOCK', at: 1 },
      { type: 'STORAGE_GAP', at: 3, from: 1, to: 2, keys: [] },
    ];
    log.length = 0; // the unconfigured writer's INFLUX_DOWN at start
    for (const e of events) actor.send(e);
    const routed = log.filter(([, type]) => events.some((e) => e.type === type));
    assert.deepEqual(routed, [
      ['writer', 'FEED_UP'],
      ['backfill', 'FEED_UP'],
      ['writer', 'FEED_DOWN'],
      ['backfill', 'FEED_DOWN'],
      ['drainer', 'INFLUX_DOWN'],
      ['drainer', 'INFLUX_UP'],
      ['notifier', 'LANDED'],
      ['writer', 'WRITE_OK'],
      // The writer's own LANDED (from WRITE_OK) goes back through the root to the notifier.
      ['notifier', 'LANDED'],
      ['writer', 'WRITE_FAILED'],
      ['drainer', 'SPOOLED'],
      ['connection', 'SET_SUBSCRIPTION'],
      ['backfill', 'OUTAGE_FOUND'],
      ['backfill', 'GAPS_PENDING'],
      ['backfill', 'UPSTOX_CLOCK'],
      ['backfill', 'STORAGE_GAP'],
    ]);
    actor.stop();
  });
});
