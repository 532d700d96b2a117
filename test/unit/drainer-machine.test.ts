import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SimulatedClock, createActor, fromPromise, waitFor } from 'xstate';
import { drainerMachine } from '../../machines/drainer.js';
import type { DrainProgress } from '../../machines/events.js';

const RETRY_MS = 2000;

/** A drainChunk the test answers one call at a time, and a record of begin/endDrain. */
function start() {
  const clock = new SimulatedClock();
  const chunks: Array<{ at: number; done: (p: DrainProgress) => void; fail: (msg: string) => void }> = [];
  const calls: string[] = [];
  const actor = createActor(
    drainerMachine.provide({
      actors: {
        drainChunk: fromPromise<DrainProgress>(
          () =>
            new Promise<DrainProgress>((resolve, reject) => {
              calls.push('drainChunk');
              chunks.push({ at: clock.now(), done: resolve, fail: (msg) => reject(new Error(msg)) });
            }),
        ),
      },
      actions: {
        beginDrain: () => void calls.push('beginDrain'),
        endDrain: () => void calls.push('endDrain'),
      },
    }),
    { clock, input: { retryMs: RETRY_MS, now: Date.now } },
  );
  actor.start();
  const snap = () => actor.getSnapshot();
  const chunk = () => chunks[chunks.length - 1];
  /** Answers the pending chunk and waits until the machine has taken the answer. */
  const answer = async (p: Partial<DrainProgress>, expect: 'draining' | 'idle' | 'paused') => {
    const n = chunks.length;
    chunk().done({ drained: 0, pending: 0, oldestAt: null, ratePerS: 0, ...p });
    await waitFor(actor, (s) => s.matches(expect) && (expect !== 'draining' || chunks.length > n));
  };
  return { clock, chunks, calls, actor, snap, chunk, answer };
}

/** Lets pending promise callbacks run (a settled fake must not reach a stopped child). */
const settle = () => new Promise<void>((r) => setImmediate(r));

describe('drainer machine', () => {
  it('starts paused and does nothing until InfluxDB is up', () => {
    const t = start();
    assert.equal(t.snap().value, 'paused');
    assert.equal(t.snap().context.writerUp, false);
    t.actor.send({ type: 'SPOOLED', pending: 500 });
    t.clock.increment(10 * RETRY_MS);
    assert.equal(t.snap().value, 'paused', 'SPOOLED while paused only records the backlog');
    assert.equal(t.snap().context.pending, 500);
    assert.deepEqual(t.calls, []);
    t.actor.stop();
  });

  it('INFLUX_UP starts draining: beginDrain, then one chunk', () => {
    const t = start();
    t.actor.send({ type: 'INFLUX_UP' });
    assert.equal(t.snap().value, 'draining');
    assert.equal(t.snap().context.writerUp, true);
    assert.deepEqual(t.calls, ['beginDrain', 'drainChunk']);
    t.actor.stop();
  });

  it('keeps draining chunk after chunk while points wait, then idles and calls endDrain', async () => {
    const t = start();
    t.actor.send({ type: 'SPOOLED', pending: 30_000 });
    t.actor.send({ type: 'INFLUX_UP' });
    assert.match(t.snap().context.reason, /30000 points waiting/);
    await t.answer({ drained: 20_000, pending: 10_000, oldestAt: 1234, ratePerS: 20_000 }, 'draining');
    assert.equal(t.chunks.length, 2, 'another chunk at once');
    assert.deepEqual(t.calls, ['beginDrain', 'drainChunk', 'endDrain', 'beginDrain', 'drainChunk']);
    let ctx = t.snap().context;
    assert.deepEqual(
      { drainedTotal: ctx.drainedTotal, pending: ctx.pending, oldestAt: ctx.oldestAt, ratePerS: ctx.ratePerS },
      { drainedTotal: 20_000, pending: 10_000, oldestAt: 1234, ratePerS: 20_000 },
    );
    assert.match(ctx.reason, /10000 points waiting/);
    await t.answer({ drained: 10_000, pending: 0, oldestAt: null, ratePerS: 15_000 }, 'idle');
    ctx = t.snap().context;
    assert.equal(t.chunks.length, 2, 'no chunk once the backlog is empty');
    assert.equal(t.calls.at(-1), 'endDrain');
    assert.equal(t.calls.filter((c) => c === 'beginDrain').length, t.calls.filter((c) => c === 'endDrain').length, 'begin/end balanced');
    assert.equal(ctx.drainedTotal, 30_000);
    assert.equal(ctx.pending, 0);
    assert.equal(ctx.oldestAt, null);
    assert.equal(ctx.ratePerS, 0, 'idle has no rate');
    assert.equal(ctx.reason, 'nothing waits in the spool');
    t.actor.stop();
  });

  it('SPOOLED while idle drains again', async () => {
    const t = start();
    t.actor.send({ type: 'INFLUX_UP' });
    await t.answer({ drained: 0, pending: 0 }, 'idle');
    t.actor.send({ type: 'SPOOLED', pending: 1500 });
    assert.equal(t.snap().value, 'draining');
    assert.equal(t.snap().context.pending, 1500);
    assert.equal(t.chunks.length, 2);
    await t.answer({ drained: 1500, pending: 0, ratePerS: 1500 }, 'idle');
    assert.equal(t.snap().context.drainedTotal, 1500);
    t.actor.stop();
  });

  it('INFLUX_DOWN while draining pauses, and a late chunk answer does not move it', async () => {
    const t = start();
    t.actor.send({ type: 'INFLUX_UP' });
    await t.answer({ drained: 100, pending: 900, ratePerS: 100 }, 'draining');
    const late = t.chunk();
    t.actor.send({ type: 'INFLUX_DOWN', reason: 'connect ECONNREFUSED', code: 'INFLUX_UNAVAILABLE' });
    assert.equal(t.snap().value, 'paused');
    assert.equal(t.calls.at(-1), 'endDrain', 'live flushes take the sending back');
    assert.equal(t.snap().context.writerUp, false);
    assert.equal(t.snap().context.reason, 'InfluxDB is down (connect ECONNREFUSED)');
    assert.equal(t.snap().context.ratePerS, 0);
    late.done({ drained: 50, pending: 850, oldestAt: null, ratePerS: 50 });
    await settle();
    t.clock.increment(10 * RETRY_MS);
    await settle();
    assert.equal(t.snap().value, 'paused');
    assert.equal(t.snap().context.drainedTotal, 100, 'the late answer is not counted');
    assert.equal(t.snap().context.pending, 900);
    assert.equal(t.chunks.length, 2, 'no retry while InfluxDB is down');
    // A late rejection is ignored just the same.
    t.actor.send({ type: 'INFLUX_UP' });
    const late2 = t.chunk();
    t.actor.send({ type: 'INFLUX_DOWN', reason: 'x', code: 'INFLUX_UNAVAILABLE' });
    late2.fail('a replayed chunk did not land');
    await settle();
    assert.equal(t.snap().context.lastError, null);
    t.actor.send({ type: 'INFLUX_UP' });
    assert.equal(t.snap().value, 'draining', 'resumes when InfluxDB is back');
    t.actor.stop();
  });

  it('INFLUX_DOWN while idle pauses too', async () => {
    const t = start();
    t.actor.send({ type: 'INFLUX_UP' });
    await t.answer({ pending: 0 }, 'idle');
    t.actor.send({ type: 'INFLUX_DOWN', reason: 'probe failed', code: 'INFLUX_UNAVAILABLE' });
    assert.equal(t.snap().value, 'paused');
    t.actor.send({ type: 'SPOOLED', pending: 10 });
    assert.equal(t.snap().value, 'paused', 'spooled points wait for InfluxDB');
    t.actor.stop();
  });

  it('a failed chunk with the writer still up pauses, then retries after retryMs', async () => {
    const t = start();
    t.actor.send({ type: 'INFLUX_UP' });
    await t.answer({ drained: 400, pending: 600, ratePerS: 400 }, 'draining');
    t.chunk().fail('a replayed chunk did not land; it stays spooled');
    await waitFor(t.actor, (s) => s.matches('paused'));
    const failedAt = t.clock.now();
    let ctx = t.snap().context;
    assert.equal(ctx.lastError, 'a replayed chunk did not land; it stays spooled');
    assert.equal(ctx.reason, 'replay stopped: a replayed chunk did not land; it stays spooled');
    assert.equal(ctx.writerUp, true);
    assert.equal(ctx.ratePerS, 0);
    assert.equal(ctx.drainedTotal, 400, 'what landed before the failure stays counted');
    assert.equal(t.calls.at(-1), 'endDrain');
    t.clock.increment(RETRY_MS - 1);
    assert.equal(t.snap().value, 'paused');
    assert.equal(t.chunks.length, 2);
    t.clock.increment(1);
    assert.equal(t.snap().value, 'draining');
    assert.equal(t.chunks.length, 3);
    assert.equal(t.chunk().at - failedAt, RETRY_MS);
    assert.equal(t.snap().context.lastError, 'a replayed chunk did not land; it stays spooled', 'kept until a chunk succeeds');
    await t.answer({ drained: 600, pending: 0, ratePerS: 600 }, 'idle');
    ctx = t.snap().context;
    assert.equal(ctx.lastError, null, 'a good chunk clears the error');
    assert.equal(ctx.drainedTotal, 1000);
    t.actor.stop();
  });

  it('keeps retrying failed chunks every retryMs while the writer stays up', async () => {
    const t = start();
    t.actor.send({ type: 'INFLUX_UP' });
    for (let i = 1; i <= 3; i++) {
      t.chunk().fail(`fail ${i}`);
      await waitFor(t.actor, (s) => s.matches('paused'));
      t.clock.increment(RETRY_MS);
      assert.equal(t.chunks.length, i + 1);
    }
    assert.deepEqual(
      t.chunks.map((c) => c.at),
      [0, RETRY_MS, 2 * RETRY_MS, 3 * RETRY_MS],
    );
    t.actor.stop();
  });

  it('a failed chunk followed by INFLUX_DOWN does not retry', async () => {
    const t = start();
    t.actor.send({ type: 'INFLUX_UP' });
    t.chunk().fail('boom');
    await waitFor(t.actor, (s) => s.matches('paused'));
    t.actor.send({ type: 'INFLUX_DOWN', reason: 'write failed', code: 'INFLUX_UNAVAILABLE' });
    t.clock.increment(5 * RETRY_MS);
    assert.equal(t.snap().value, 'paused');
    assert.equal(t.chunks.length, 1);
    assert.equal(t.snap().context.lastError, 'boom');
    t.actor.stop();
  });

  it('a chunk that drained nothing while points wait pauses and retries after retryMs (no hot loop)', async () => {
    const t = start();
    t.actor.send({ type: 'INFLUX_UP' });
    t.chunk().done({ drained: 0, pending: 100, oldestAt: 5, ratePerS: 0 });
    await settle();
    assert.equal(t.chunks.length, 1, 'no immediate re-entry (a real drainChunk would answer at once, forever)');
    assert.equal(t.snap().value, 'paused');
    assert.equal(t.snap().context.pending, 100);
    assert.match(t.snap().context.reason, /no progress/);
    t.clock.increment(RETRY_MS);
    assert.equal(t.snap().value, 'draining');
    assert.equal(t.chunks.length, 2);
    t.actor.stop();
  });
});
