import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SimulatedClock, createActor, fromPromise, waitFor } from 'xstate';
import type { LandedSummary as Landed } from '../../machines/events.js';
import { notifierMachine } from '../../machines/notifier.js';

const landed = (points: number, firstTs: number, lastTs: number, keys: string[]) =>
  ({ type: 'LANDED', points, firstTs, lastTs, keys }) as const;

/** A notify fake whose calls the test answers one by one. */
function fakeEndpoint() {
  const calls: Landed[] = [];
  const answers: Array<(outcome: 'ok' | 'transient' | 'permanent') => void> = [];
  const logic = fromPromise<void, Landed>(
    ({ input }) =>
      new Promise<void>((resolve, reject) => {
        calls.push(input);
        answers.push((outcome) =>
          outcome === 'ok' ? resolve() : reject(Object.assign(new Error(`answered ${outcome}`), { kind: outcome })),
        );
      }),
  );
  return { calls, logic, answer: (o: 'ok' | 'transient' | 'permanent') => answers[calls.length - 1](o) };
}

function start(enabled = true) {
  const clock = new SimulatedClock();
  const endpoint = fakeEndpoint();
  const errors: string[] = [];
  const actor = createActor(
    notifierMachine.provide({
      actors: { notify: endpoint.logic },
      actions: { reportPermanentFailure: (_, p) => errors.push(p.error.message) },
    }),
    { clock, input: { enabled, intervalMs: 60_000, retryMs: 50_000, now: Date.now } },
  );
  actor.start();
  return { clock, endpoint, actor, errors };
}

describe('notifier machine', () => {
  it('stays disabled without NOTIFY_URL and never calls out', () => {
    const { actor, endpoint } = start(false);
    actor.send(landed(10, 1, 2, ['A']));
    assert.equal(actor.getSnapshot().value, 'disabled');
    assert.equal(endpoint.calls.length, 0);
  });

  it('notifies what landed, then at most once per interval with everything since', async () => {
    const { actor, endpoint, clock } = start();
    assert.equal(actor.getSnapshot().value, 'idle');
    actor.send(landed(10, 100, 200, ['B', 'A']));
    assert.equal(actor.getSnapshot().value, 'sending');
    assert.deepEqual(endpoint.calls[0], { points: 10, firstTs: 100, lastTs: 200, keys: ['A', 'B'] });
    endpoint.answer('ok');
    await waitFor(actor, (s) => s.matches('cooldown'));
    actor.send(landed(5, 300, 400, ['C']));
    actor.send(landed(7, 250, 500, ['A']));
    clock.increment(59_999);
    assert.equal(endpoint.calls.length, 1, 'not before the interval');
    clock.increment(1);
    assert.equal(endpoint.calls.length, 2);
    assert.deepEqual(endpoint.calls[1], { points: 12, firstTs: 250, lastTs: 500, keys: ['A', 'C'] });
  });

  it('says nothing while nothing new lands', async () => {
    const { actor, endpoint, clock } = start();
    actor.send(landed(1, 1, 1, ['A']));
    endpoint.answer('ok');
    await waitFor(actor, (s) => s.matches('cooldown'));
    clock.increment(60_000);
    assert.equal(actor.getSnapshot().value, 'idle');
    clock.increment(10 * 60_000);
    assert.equal(endpoint.calls.length, 1);
  });

  it('retries a failed notification after the retry time with the accumulated counts', async () => {
    const { actor, endpoint, clock } = start();
    actor.send(landed(10, 100, 200, ['A']));
    endpoint.answer('transient');
    await waitFor(actor, (s) => s.matches('retrying'));
    assert.match(actor.getSnapshot().context.reason, /failed/);
    actor.send(landed(4, 50, 600, ['B']));
    clock.increment(49_999);
    assert.equal(endpoint.calls.length, 1);
    clock.increment(1);
    assert.equal(endpoint.calls.length, 2);
    assert.deepEqual(endpoint.calls[1], { points: 14, firstTs: 50, lastTs: 600, keys: ['A', 'B'] });
    endpoint.answer('ok');
    await waitFor(actor, (s) => s.matches('cooldown'));
    assert.equal(actor.getSnapshot().context.inFlight, null);
    assert.equal(actor.getSnapshot().context.failures, 0);
  });

  it('keeps what lands while a notification is in flight for the next one', async () => {
    const { actor, endpoint, clock } = start();
    actor.send(landed(10, 100, 200, ['A']));
    actor.send(landed(3, 300, 300, ['B']));
    endpoint.answer('ok');
    await waitFor(actor, (s) => s.matches('cooldown'));
    clock.increment(60_000);
    assert.deepEqual(endpoint.calls[1], { points: 3, firstTs: 300, lastTs: 300, keys: ['B'] });
  });

  it('logs a permanent 4xx as an error and does not retry it', async () => {
    const { actor, endpoint, clock, errors } = start();
    actor.send(landed(10, 100, 200, ['A']));
    endpoint.answer('permanent');
    await waitFor(actor, (s) => s.matches('cooldown'));
    assert.equal(errors.length, 1);
    clock.increment(60_000);
    assert.equal(actor.getSnapshot().value, 'idle', 'the rejected notification is not retried');
    assert.equal(endpoint.calls.length, 1);
    actor.send(landed(2, 700, 800, ['C']));
    assert.deepEqual(endpoint.calls[1], { points: 2, firstTs: 700, lastTs: 800, keys: ['C'] }, 'new data is notified afresh');
  });
});
