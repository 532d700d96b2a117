import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SimulatedClock, fromCallback, fromPromise } from 'xstate';
import { type LeaderMark, type LeaseAcquire, type LeaseWrite, leadershipMachine, leaseTiming } from '../../machines/leadership.js';
import { harness } from '../helpers/parent-harness.js';

const TTL = 10_000;
const timing = leaseTiming(TTL);

/** Lets settled fakes reach their actors. */
const settle = () => new Promise<void>((r) => setImmediate(r));

class LeaseLost extends Error {
  readonly code = 'LEASE_LOST';
}

/**
 * The lease as NATS keeps it, on the simulated clock: compare-and-set on a revision, gone TTL
 * after the last write, deletable at its revision, with watchers told of a delete.
 */
class FakeLeaseStore {
  holder: string | null = null;
  revision = 0;
  writtenAt = 0;
  readonly watchers = new Set<() => void>();
  /** The last-frame mark each holder writes into its lease value (none: it never streamed). */
  readonly marks = new Map<string, LeaderMark>();
  /** The last change was a delete (a delete marker stands), not an expiry. */
  released = false;
  constructor(private readonly clock: SimulatedClock) {}
  live(): boolean {
    return this.holder !== null && this.clock.now() < this.writtenAt + TTL;
  }
  acquire(instance: string): LeaseAcquire {
    if (this.live()) return { acquired: false, holder: this.holder, mark: this.marks.get(this.holder!) ?? null };
    const freedBy = this.released ? ('release' as const) : ('expiry' as const);
    this.holder = instance;
    this.released = false;
    this.writtenAt = this.clock.now();
    return { acquired: true, revision: ++this.revision, elapsedMs: 0, freedBy };
  }
  renew(instance: string, revision: number): LeaseWrite {
    if (!this.live() || revision !== this.revision || this.holder !== instance) throw new LeaseLost(`revision ${revision} is not current`);
    this.writtenAt = this.clock.now();
    return { acquired: true, revision: ++this.revision, elapsedMs: 0 };
  }
  release(revision: number): void {
    if (revision !== this.revision || !this.live()) return;
    this.holder = null;
    this.released = true;
    this.revision++;
    for (const w of this.watchers) w();
  }
}

/** One instance: the leadership machine under a parent, talking to the store unless partitioned. */
function instance(name: string, store: FakeLeaseStore, clock: SimulatedClock) {
  const calls: string[] = [];
  let partitioned = false;
  /** A partitioned instance's requests never answer: the worst case for fencing. */
  const call = <T>(f: () => T): Promise<T> => (partitioned ? new Promise<T>(() => {}) : Promise.resolve().then(f));
  const logic = leadershipMachine.provide({
    actors: {
      acquire: fromPromise<LeaseAcquire>(() => call(() => store.acquire(name))),
      renew: fromPromise<LeaseWrite, { revision: number }>(({ input }) => call(() => store.renew(name, input.revision))),
      release: fromPromise<void, { revision: number }>(({ input }) => {
        calls.push(`release:${input.revision}`);
        return call(() => store.release(input.revision));
      }),
      watchReleases: fromCallback(({ sendBack }) => {
        const w = () => sendBack({ type: 'LEASE_RELEASED' });
        store.watchers.add(w);
        return () => store.watchers.delete(w);
      }),
      flush: fromPromise<void>(async () => {
        calls.push('flush');
      }),
    },
  });
  const h = harness(logic, { timing, instance: name, group: 'g', now: () => clock.now() }, { clock, systemId: 'leadership' });
  const snap = () => h.child().getSnapshot();
  /** Between LEAD and STEP_DOWN: its root runs the feed. */
  const ingesting = () => {
    const last = h
      .sent()
      .filter((e) => e.type === 'LEAD' || e.type === 'STEP_DOWN')
      .at(-1);
    return last?.type === 'LEAD';
  };
  return {
    h,
    calls,
    snap,
    ingesting,
    partition: (on: boolean) => void (partitioned = on),
    role: () => (snap().matches('leader') ? 'leader' : snap().matches('standby') ? 'standby' : JSON.stringify(snap().value)),
  };
}

/** Advances the clock in small steps, checking after each that no two instances ingest at once. */
async function run(clock: SimulatedClock, ms: number, all: Array<ReturnType<typeof instance>>, stepMs = 10): Promise<void> {
  for (let t = 0; t < ms; t += stepMs) {
    clock.increment(stepMs);
    await settle();
    await settle();
    assert.ok(all.filter((i) => i.ingesting()).length <= 1, `two instances ingest at once at t=${clock.now()}`);
  }
}

describe('leadership machine', () => {
  it('derives its intervals from the TTL: renewals, retries and the fence all inside one TTL', () => {
    assert.deepEqual(timing, {
      ttlMs: 10_000,
      renewEveryMs: 2500,
      retryMs: 1000,
      fenceMarginMs: 2500,
      pollMs: 1000,
      requestTimeoutMs: 2000,
    });
    for (const ttl of [1000, 3000, 10_000, 60_000]) {
      const t = leaseTiming(ttl);
      assert.ok(t.renewEveryMs + t.requestTimeoutMs < ttl - t.fenceMarginMs, `ttl ${ttl}: a renewal can answer before the fence`);
      assert.ok(t.fenceMarginMs > 0 && t.pollMs <= 1000);
    }
  });

  it('takes a free lease, announces LEAD, renews every quarter TTL and keeps leading', async () => {
    const clock = new SimulatedClock();
    const store = new FakeLeaseStore(clock);
    const a = instance('a', store, clock);
    await settle();
    assert.equal(a.role(), 'leader');
    assert.deepEqual(a.h.sent(), [{ type: 'LEAD', instance: 'a' }]);
    assert.equal(a.snap().context.holder, 'a');
    await run(clock, 3 * TTL, [a]);
    assert.equal(a.role(), 'leader');
    assert.equal(store.revision, 1 + Math.floor((3 * TTL) / timing.renewEveryMs), 'one write per renew interval');
    a.h.stop();
  });

  it('a second instance waits as standby and names the leader', async () => {
    const clock = new SimulatedClock();
    const store = new FakeLeaseStore(clock);
    const a = instance('a', store, clock);
    await settle();
    const b = instance('b', store, clock);
    await settle();
    assert.equal(b.role(), 'standby');
    assert.equal(b.snap().context.holder, 'a');
    await run(clock, 2 * TTL, [a, b]);
    assert.equal(b.role(), 'standby');
    assert.deepEqual(b.h.sent(), []);
    a.h.stop();
    b.h.stop();
  });

  it('leader gone without a word (SIGKILL): the standby leads once the lease expires, within TTL + one poll', async () => {
    const clock = new SimulatedClock();
    const store = new FakeLeaseStore(clock);
    const a = instance('a', store, clock);
    await settle();
    const b = instance('b', store, clock);
    await run(clock, 1234, [a, b]);
    a.h.stop(); // no release: like a SIGKILL
    const killedAt = clock.now();
    while (b.role() !== 'leader') {
      await run(clock, 10, [b]);
      assert.ok(clock.now() - killedAt <= TTL + timing.pollMs, 'the standby took over too late');
    }
    assert.ok(clock.now() >= store.writtenAt, 'not before the lease expired');
    assert.deepEqual(b.h.sent(), [{ type: 'LEAD', instance: 'b' }]);
    b.h.stop();
  });

  it('a partitioned leader fences itself before its lease can expire: no overlap, then the standby leads', async () => {
    const clock = new SimulatedClock();
    const store = new FakeLeaseStore(clock);
    const a = instance('a', store, clock);
    await settle();
    const b = instance('b', store, clock);
    await run(clock, 3700, [a, b]);
    a.partition(true);
    const lastWrite = store.writtenAt;
    // run() asserts at every 10 ms step that a and b never ingest together.
    while (b.role() !== 'leader') await run(clock, 10, [a, b]);
    assert.ok(clock.now() - lastWrite <= TTL + timing.pollMs, 'the standby took over within TTL + one poll of the last write');
    const stepDown = a.h.sent().findIndex((e) => e.type === 'STEP_DOWN');
    assert.ok(stepDown > 0, 'the partitioned leader stepped down');
    // Its delete of the lease cannot get through: it gives up after one request timeout.
    await run(clock, timing.requestTimeoutMs, [a, b]);
    assert.ok(!a.snap().matches('leader') && !a.snap().matches('fenced'), 'a waits, not leading');
    assert.ok(a.calls.includes('flush'), 'it flushed to its spool');
    // Healed, the old leader stays standby: the lease is b's.
    a.partition(false);
    await run(clock, 2 * TTL, [a, b]);
    assert.equal(a.role(), 'standby');
    assert.equal(a.snap().context.holder, 'b');
    assert.equal(b.role(), 'leader');
    a.h.stop();
    b.h.stop();
  });

  it('the fence deadline counts from when the last renewal was sent, not when it was answered', async () => {
    const clock = new SimulatedClock();
    let renewals = 0;
    const logic = leadershipMachine.provide({
      actors: {
        acquire: fromPromise<LeaseAcquire>(async () => ({ acquired: true, revision: 1, elapsedMs: 0 })),
        // The first renewal took 1.5 s; every later one hangs.
        renew: fromPromise<LeaseWrite, { revision: number }>(() =>
          renewals++ === 0 ? Promise.resolve({ acquired: true, revision: 2, elapsedMs: 1500 }) : new Promise(() => {}),
        ),
        release: fromPromise<void, { revision: number }>(async () => {}),
      },
    });
    const h = harness(logic, { timing, instance: 'a', group: 'g', now: () => clock.now() }, { clock, systemId: 'leadership' });
    await settle();
    clock.increment(timing.renewEveryMs);
    await settle();
    const answeredAt = clock.now();
    const fenceAt = answeredAt + TTL - timing.fenceMarginMs - 1500;
    clock.increment(fenceAt - answeredAt - 1);
    await settle();
    assert.ok(h.child().getSnapshot().matches('leader'), 'still leading 1 ms before the deadline');
    clock.increment(1);
    await settle();
    assert.ok(!h.child().getSnapshot().matches('leader'), 'fenced at the deadline');
    assert.equal(h.sent().at(-1)?.type, 'STEP_DOWN');
    h.stop();
  });

  it("a renewal refused because the lease is someone else's fences at once", async () => {
    const clock = new SimulatedClock();
    const store = new FakeLeaseStore(clock);
    const a = instance('a', store, clock);
    await settle();
    store.revision += 5; // rewritten behind its back (e.g. the bucket edited by hand)
    await run(clock, timing.renewEveryMs, [a]);
    assert.equal(a.role(), 'standby');
    assert.match(String(a.snap().context.reason), /lease lost/);
    assert.ok(!a.calls.some((c) => c.startsWith('release')), 'a lost lease is not deleted');
    a.h.stop();
  });

  it('graceful stop: STEP_DOWN, flush, delete the lease; the standby leads at once, not after the TTL', async () => {
    const clock = new SimulatedClock();
    const store = new FakeLeaseStore(clock);
    const a = instance('a', store, clock);
    await settle();
    const b = instance('b', store, clock);
    await run(clock, 4000, [a, b]);
    const rev = store.revision;
    a.h.child().send({ type: 'STOP' });
    await settle();
    await settle();
    assert.ok(a.snap().matches('stopped'));
    assert.deepEqual(a.calls, ['flush', `release:${rev}`]);
    assert.deepEqual(
      a.h
        .sent()
        .map((e) => e.type)
        .filter((t) => t === 'LEAD' || t === 'STEP_DOWN'),
      ['LEAD', 'STEP_DOWN'],
    );
    await settle();
    assert.equal(b.role(), 'leader', 'no clock advance needed: the delete woke the standby');
    a.h.stop();
    b.h.stop();
  });

  it('NATS unreachable at start: standby with the error, electing again every poll', async () => {
    const clock = new SimulatedClock();
    let attempts = 0;
    const logic = leadershipMachine.provide({
      actors: {
        acquire: fromPromise<LeaseAcquire>(async () => {
          attempts++;
          throw new Error('NATS is not connected');
        }),
      },
    });
    const h = harness(logic, { timing, instance: 'a', group: 'g', now: () => clock.now() }, { clock, systemId: 'leadership' });
    await settle();
    assert.ok(h.child().getSnapshot().matches('standby'));
    assert.equal(h.child().getSnapshot().context.lastError, 'NATS is not connected');
    for (let i = 0; i < 5; i++) {
      clock.increment(timing.pollMs);
      await settle();
    }
    assert.equal(attempts, 6);
    assert.deepEqual(h.sent(), []);
    h.stop();
  });

  it('taking over from a SIGKILLed leader: HANDOVER_FOUND (leader failover) with the mark it last read, before LEAD', async () => {
    const clock = new SimulatedClock();
    const store = new FakeLeaseStore(clock);
    const a = instance('a', store, clock);
    await settle();
    const b = instance('b', store, clock);
    store.marks.set('a', { instance: 'a', at: 1_000_000, keys: ['NSE_EQ|A'] });
    await run(clock, 3000, [a, b]);
    // Its renewals move the mark on; the standby's polls read the newest.
    store.marks.set('a', { instance: 'a', at: 1_003_000, keys: ['NSE_EQ|A', 'NSE_EQ|B'] });
    await run(clock, 2000, [a, b]);
    a.h.stop(); // SIGKILL: the lease, and the mark in it, expire
    store.marks.delete('a');
    while (b.role() !== 'leader') await run(clock, 10, [b]);
    assert.deepEqual(b.h.sent(), [
      { type: 'HANDOVER_FOUND', at: 1_003_000, keys: ['NSE_EQ|A', 'NSE_EQ|B'], gapReason: 'leader failover', from: 'a' },
      { type: 'LEAD', instance: 'b' },
    ]);
    assert.equal(b.snap().context.seen, null, 'the mark is used once');
    b.h.stop();
  });

  it('taking over from a leader that stepped down: HANDOVER_FOUND says leader handover; a leader that never streamed leaves none', async () => {
    const clock = new SimulatedClock();
    const store = new FakeLeaseStore(clock);
    const a = instance('a', store, clock);
    await settle();
    const b = instance('b', store, clock);
    store.marks.set('a', { instance: 'a', at: 2_000_000, keys: ['NSE_EQ|A'] });
    await run(clock, 2000, [a, b]);
    a.h.child().send({ type: 'STOP' });
    await settle();
    await settle();
    await settle();
    assert.equal(b.role(), 'leader');
    assert.deepEqual(b.h.sent(), [
      { type: 'HANDOVER_FOUND', at: 2_000_000, keys: ['NSE_EQ|A'], gapReason: 'leader handover', from: 'a' },
      { type: 'LEAD', instance: 'b' },
    ]);
    // b never streamed (no mark): c, taking over from it, records nothing.
    const c = instance('c', store, clock);
    await run(clock, 2000, [b, c]);
    b.h.child().send({ type: 'STOP' });
    await settle();
    await settle();
    await settle();
    assert.equal(c.role(), 'leader');
    assert.deepEqual(c.h.sent(), [{ type: 'LEAD', instance: 'c' }]);
    a.h.stop();
    b.h.stop();
    c.h.stop();
  });
});
