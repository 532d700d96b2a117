import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type AnyEventObject, assign, createActor, sendParent, setup } from 'xstate';
import { pipelineMachine } from '../../machines/pipeline.js';

/** A stand-in child that records what it receives and sends to its parent what it is told to. */
function standIn(log: Array<[string, string]>, name: string) {
  return setup({ types: {} }).createMachine({
    context: { n: 0 },
    on: {
      EMIT: { actions: sendParent(({ event }) => event['payload'] as AnyEventObject) },
      '*': { actions: [assign({ n: ({ context }) => context.n + 1 }), ({ event }) => log.push([name, event.type])] },
    },
  });
}

function start() {
  const log: Array<[string, string]> = [];
  const actor = createActor(
    pipelineMachine.provide({
      actors: {
        connection: standIn(log, 'connection'),
        writer: standIn(log, 'writer'),
        drainer: standIn(log, 'drainer'),
        notifier: standIn(log, 'notifier'),
      },
    }),
    { input: { connection: {}, writer: {}, drainer: {}, notifier: {} } },
  );
  actor.start();
  return { actor, log, get: (id: string) => actor.system.get(id) };
}

describe('pipeline root machine', () => {
  it('starts storage first and the feed only on START_FEED, with stable systemIds', () => {
    const { actor, get } = start();
    assert.ok(get('writer') && get('drainer') && get('notifier'));
    assert.equal(get('connection'), undefined);
    actor.send({ type: 'START_FEED' });
    assert.ok(get('connection'));
    actor.send({ type: 'STOP_FEED' });
    assert.equal(get('connection'), undefined, 'stopping the feed stops the connection actor');
  });

  it('routes every event to its receiver', () => {
    const { actor, log, get } = start();
    actor.send({ type: 'START_FEED' });
    const emit = (from: string, payload: AnyEventObject) => get(from).send({ type: 'EMIT', payload });
    emit('connection', { type: 'FEED_UP' });
    emit('connection', { type: 'FEED_DOWN', reason: 'socket closed' });
    emit('writer', { type: 'INFLUX_DOWN', reason: 'x', code: 'INFLUX_UNAVAILABLE' });
    emit('writer', { type: 'INFLUX_UP' });
    emit('writer', { type: 'LANDED', points: 3, firstTs: 1, lastTs: 2, keys: ['A'] });
    const received = log.filter(([, type]) => type !== 'EMIT');
    assert.deepEqual(received, [
      ['writer', 'FEED_UP'],
      ['writer', 'FEED_DOWN'],
      ['drainer', 'INFLUX_DOWN'],
      ['drainer', 'INFLUX_UP'],
      ['notifier', 'LANDED'],
    ]);
    actor.stop();
  });
});
