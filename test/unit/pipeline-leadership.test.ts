import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createActor, fromPromise, waitFor } from 'xstate';
import { drainerMachine } from '../../machines/drainer.js';
import { type LeaseAcquire, type LeaseWrite, leadershipMachine, leaseTiming } from '../../machines/leadership.js';
import { pipelineMachine } from '../../machines/pipeline.js';
import { writerMachine } from '../../machines/writer.js';
import { pipelineTestInput, quietConnection, recordingNotifier } from '../helpers/pipeline-fakes.js';

/** The real root with the real leadership machine; the test decides when the lease is won. */
function start(withGroup: boolean) {
  const never = <T>() => fromPromise(() => new Promise<T>(() => {}));
  let win: (r: LeaseAcquire) => void = () => {};
  const flushes: number[] = [];
  const leadership = leadershipMachine.provide({
    actors: {
      acquire: fromPromise<LeaseAcquire>(() => new Promise((resolve) => (win = resolve))),
      renew: fromPromise<LeaseWrite, { revision: number }>(() => new Promise(() => {})),
      release: fromPromise<void, { revision: number }>(async () => {}),
      flush: fromPromise<void>(async () => void flushes.push(Date.now())),
    },
  });
  const actor = createActor(
    pipelineMachine.provide({
      actors: {
        connection: quietConnection,
        writer: writerMachine.provide({ actors: { probe: never<void>() } }),
        drainer: drainerMachine.provide({ actors: { drainChunk: never() } }),
        notifier: recordingNotifier(),
        leadership,
      },
    }),
    {
      input: pipelineTestInput({
        leadership: withGroup ? { timing: leaseTiming(10_000), instance: 'a', group: 'g', now: Date.now } : null,
      }),
    },
  );
  actor.start();
  return { actor, children: () => actor.getSnapshot().children, win: (r: LeaseAcquire) => win(r), flushes };
}

describe('pipeline root with leadership (HA_GROUP)', () => {
  it('without HA_GROUP there is no leadership actor and START_FEED starts the feed at once', () => {
    const t = start(false);
    assert.equal(t.children().leadership, undefined);
    t.actor.send({ type: 'START_FEED' });
    assert.ok(t.children().connection);
    t.actor.stop();
  });

  it('with HA_GROUP the feed starts only once the server listens AND the lease is won; STEP_DOWN stops it', async () => {
    const t = start(true);
    assert.ok(t.children().leadership, 'the fifth actor');
    assert.equal(t.actor.system.get('leadership'), t.children().leadership, 'systemId leadership');
    t.actor.send({ type: 'START_FEED' });
    assert.equal(t.children().connection, undefined, 'no feed while electing');
    t.win({ acquired: true, revision: 1, elapsedMs: 0 });
    await waitFor(t.actor, (s) => s.children.connection !== undefined);
    assert.ok(t.children().leadership!.getSnapshot().matches('leader'));
    // Graceful stop: the leadership steps down, the feed stops before the lease is released.
    t.children().leadership!.send({ type: 'STOP' });
    await waitFor(t.actor, (s) => s.children.connection === undefined);
    await waitFor(t.children().leadership!, (s) => s.status === 'done');
    assert.equal(t.flushes.length, 1);
    t.actor.stop();
  });

  it('a lease won before the server listens waits for START_FEED; a standby never starts the feed', async () => {
    const t = start(true);
    t.win({ acquired: true, revision: 1, elapsedMs: 0 });
    await waitFor(t.children().leadership!, (s) => s.matches('leader'));
    assert.equal(t.children().connection, undefined);
    t.actor.send({ type: 'START_FEED' });
    assert.ok(t.children().connection);
    t.actor.stop();

    const s = start(true);
    s.actor.send({ type: 'START_FEED' });
    s.win({ acquired: false, holder: 'b' });
    await waitFor(s.children().leadership!, (x) => x.matches('standby'));
    assert.equal(s.children().connection, undefined);
    s.actor.stop();
  });

  it("routes HANDOVER_FOUND (sent before LEAD) to the backfill actor, which opens the outage at the old leader's mark", async () => {
    const t = start(true);
    t.actor.send({ type: 'HANDOVER_FOUND', at: 1_700_000_000_000, keys: ['NSE_EQ|A'], gapReason: 'leader failover', from: 'b' });
    const down = t.children().backfill!.getSnapshot().context.down;
    assert.deepEqual(down, { at: 1_700_000_000_000, keys: ['NSE_EQ|A'], gapReason: 'leader failover' });
    t.actor.stop();
  });
});
