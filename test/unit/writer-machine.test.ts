import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SimulatedClock, fromPromise, waitFor } from 'xstate';
import type { WriterEvent } from '../../machines/events.js';
import { type WriterInput, writerMachine } from '../../machines/writer.js';
import { harness } from '../helpers/parent-harness.js';

const BASE = 100;
const MAX = 1000;

/** The ceiling of the jittered probe delay after `attempt` failed probes (machines/writer.ts). */
const ceiling = (attempt: number, base = BASE, max = MAX) => Math.min(max, base * 2 ** attempt);

/** A probe the test answers, a record of every data-plane action, and the writer under a parent. */
function start(over: Partial<WriterInput> = {}) {
  const clock = new SimulatedClock();
  const probes: Array<{ at: number; ok: () => void; fail: (msg: string) => void }> = [];
  const calls: string[] = [];
  const alerts: string[] = [];
  const logic = writerMachine.provide({
    actors: {
      probe: fromPromise<void>(
        () =>
          new Promise<void>((resolve, reject) => {
            probes.push({ at: clock.now(), ok: () => resolve(), fail: (msg) => reject(new Error(msg)) });
          }),
      ),
    },
    actions: {
      openRoute: () => void calls.push('openRoute'),
      closeRoute: () => void calls.push('closeRoute'),
      flushNow: () => void calls.push('flushNow'),
      alert: (_, p) => void alerts.push(p.message),
    },
  });
  const h = harness(
    logic,
    { configured: true, probeBaseMs: BASE, probeMaxMs: MAX, now: Date.now, random: Math.random, ...over },
    { clock, systemId: 'writer' },
  );
  const child = () => h.child();
  const snap = () => child().getSnapshot();
  const send = (e: WriterEvent) => child().send(e);
  const lastProbe = () => probes[probes.length - 1];
  /** Advances the clock 1 ms at a time until a new probe starts; returns how long that took. */
  const untilNextProbe = (limitMs: number): number => {
    const before = probes.length;
    const from = clock.now();
    while (probes.length === before) {
      assert.ok(clock.now() - from <= limitMs, `no probe within ${limitMs} ms`);
      clock.increment(1);
    }
    return clock.now() - from;
  };
  /** Answers the pending probe ok and waits for influxUp. */
  const up = async () => {
    lastProbe().ok();
    await waitFor(child(), (s) => s.matches('influxUp'));
  };
  return { clock, probes, calls, alerts, h, child, snap, send, lastProbe, untilNextProbe, up };
}

const unavailable = (message = 'InfluxDB unavailable: 503', retryAfterS?: number): WriterEvent => ({
  type: 'WRITE_FAILED',
  outcome: 'unavailable',
  code: 'INFLUX_UNAVAILABLE',
  message,
  ...(retryAfterS !== undefined ? { retryAfterS } : {}),
});

describe('writer machine', () => {
  it('starts in influxDown.probing when configured, with the route closed', () => {
    const t = start();
    assert.deepEqual(t.snap().value, { influxDown: 'probing' });
    assert.equal(t.probes.length, 1, 'one health probe on start');
    assert.equal(t.probes[0].at, 0);
    assert.deepEqual(t.calls, ['closeRoute']);
    assert.deepEqual(t.h.sent(), [{ type: 'INFLUX_DOWN', reason: 'checking InfluxDB', code: 'INFLUX_UNAVAILABLE' }]);
    t.h.stop();
  });

  it('goes influxUp when the probe answers: opens the route and tells the parent', async () => {
    const t = start();
    await t.up();
    assert.equal(t.snap().value, 'influxUp');
    assert.deepEqual(t.calls, ['closeRoute', 'openRoute']);
    assert.deepEqual(t.h.sent().at(-1), { type: 'INFLUX_UP' });
    assert.equal(t.snap().context.code, null);
    assert.equal(t.snap().context.reason, 'InfluxDB accepts writes');
    assert.equal(t.snap().context.probeAttempt, 0);
    t.h.stop();
  });

  it('without INFLUX_URL stays influxDown.unconfigured and never opens the route or probes', () => {
    const t = start({ configured: false });
    assert.deepEqual(t.snap().value, { influxDown: 'unconfigured' });
    assert.equal(t.snap().context.code, 'INFLUX_NOT_CONFIGURED');
    assert.deepEqual(t.h.sent(), [
      { type: 'INFLUX_DOWN', reason: 'INFLUX_URL is not set; points wait in the spool', code: 'INFLUX_NOT_CONFIGURED' },
    ]);
    t.clock.increment(10 * MAX + 60_000);
    t.send({ type: 'WRITE_OK', points: 3, firstTs: 1, lastTs: 2, keys: ['A'] });
    assert.deepEqual(t.snap().value, { influxDown: 'unconfigured' });
    assert.ok(!t.calls.includes('openRoute'), 'route never opened');
    assert.equal(t.probes.length, 0, 'never probed');
    assert.ok(!t.h.sent().some((e) => e.type === 'INFLUX_UP'));
    t.h.stop();
  });

  it('a failed write (unavailable) closes the route, tells the parent why, and waits before probing', async () => {
    const t = start();
    await t.up();
    t.send(unavailable('InfluxDB unavailable: connect ECONNREFUSED'));
    assert.deepEqual(t.snap().value, { influxDown: 'waiting' });
    assert.deepEqual(t.calls, ['closeRoute', 'openRoute', 'closeRoute']);
    assert.deepEqual(t.h.sent().at(-1), {
      type: 'INFLUX_DOWN',
      reason: 'InfluxDB unavailable: connect ECONNREFUSED',
      code: 'INFLUX_UNAVAILABLE',
    });
    const ctx = t.snap().context;
    assert.equal(ctx.code, 'INFLUX_UNAVAILABLE');
    assert.equal(ctx.lastFailure?.message, 'InfluxDB unavailable: connect ECONNREFUSED');
    assert.equal(t.probes.length, 1, 'no probe straight away');
    const d = t.untilNextProbe(ceiling(0));
    assert.ok(d >= ceiling(0) / 2 && d <= ceiling(0), `first delay ${d} within [${ceiling(0) / 2}, ${ceiling(0)}]`);
    assert.deepEqual(t.snap().value, { influxDown: 'probing' });
    await t.up();
    assert.equal(t.calls.at(-1), 'openRoute');
    assert.deepEqual(t.h.sent().at(-1), { type: 'INFLUX_UP' });
    t.h.stop();
  });

  it('a failed probe keeps the code and explains itself; later write failures while down change nothing', async () => {
    const t = start();
    await t.up();
    t.send(unavailable('InfluxDB unavailable: 503'));
    t.untilNextProbe(MAX);
    t.lastProbe().fail('connect ECONNREFUSED');
    await waitFor(t.child(), (s) => s.matches({ influxDown: 'waiting' }));
    assert.equal(t.snap().context.reason, 'InfluxDB unavailable: 503; health probe failed: connect ECONNREFUSED');
    assert.equal(t.snap().context.code, 'INFLUX_UNAVAILABLE');
    const sentBefore = t.h.sent().length;
    t.send(unavailable('late failure of a write that was in flight'));
    assert.deepEqual(t.snap().value, { influxDown: 'waiting' });
    assert.equal(t.h.sent().length, sentBefore, 'no second INFLUX_DOWN');
    t.h.stop();
  });

  it('probe backoff grows with equal jitter and is capped at probeMaxMs', async () => {
    const t = start();
    const delays: number[] = [];
    for (let attempt = 1; attempt <= 8; attempt++) {
      t.lastProbe().fail(`down #${attempt}`);
      await waitFor(t.child(), (s) => s.matches({ influxDown: 'waiting' }));
      assert.equal(t.snap().context.probeAttempt, attempt);
      const c = ceiling(attempt);
      const d = t.untilNextProbe(c);
      assert.ok(d >= Math.floor(c / 2) && d <= c, `attempt ${attempt}: delay ${d} within [${c / 2}, ${c}]`);
      delays.push(d);
    }
    assert.equal(t.probes.length, 9);
    assert.ok(
      delays.every((d) => d <= MAX),
      `never above probeMaxMs: ${delays.join(', ')}`,
    );
    assert.ok(
      delays.slice(3).every((d) => d >= MAX / 2),
      `capped ceiling reached from attempt 4: ${delays.join(', ')}`,
    );
    assert.ok(delays[0] <= 2 * BASE && delays[2] >= 4 * BASE, `grows: ${delays.join(', ')}`);
    // The probe times themselves are what the clock says: each after the previous by its delay.
    for (let i = 1; i < t.probes.length; i++) assert.equal(t.probes[i].at - t.probes[i - 1].at, delays[i - 1]);
    await t.up();
    assert.equal(t.snap().context.probeAttempt, 0, 'the backoff resets once InfluxDB answers');
    t.h.stop();
  });

  it('the jitter spans exactly half the ceiling to the ceiling', async () => {
    for (const [random, expected] of [
      [0, [100, 200, 400, 500]],
      [0.9999999, [199, 399, 799, 999]],
    ] as const) {
      const t = start({ random: () => random });
      const delays: number[] = [];
      for (let i = 0; i < 4; i++) {
        t.lastProbe().fail('down');
        await waitFor(t.child(), (s) => s.matches({ influxDown: 'waiting' }));
        delays.push(t.untilNextProbe(MAX));
      }
      assert.deepEqual(delays, expected, `random() = ${random}`);
      t.h.stop();
    }
  });

  it('respects Retry-After in seconds, then goes back to jittered backoff', async () => {
    const t = start();
    await t.up();
    t.clock.increment(123);
    const t0 = t.clock.now();
    t.send(unavailable('InfluxDB unavailable: 429 too many requests', 7));
    assert.deepEqual(t.snap().value, { influxDown: 'waiting' });
    assert.equal(t.snap().context.retryAfterMs, 7000);
    t.clock.increment(6999);
    assert.equal(t.probes.length, 1, 'no probe before Retry-After has passed');
    assert.deepEqual(t.snap().value, { influxDown: 'waiting' });
    t.clock.increment(1);
    assert.equal(t.probes.length, 2, 'probe right at Retry-After');
    assert.equal(t.lastProbe().at - t0, 7000);
    assert.equal(t.snap().context.retryAfterMs, null, 'used once');
    t.lastProbe().fail('still busy');
    await waitFor(t.child(), (s) => s.matches({ influxDown: 'waiting' }));
    const d = t.untilNextProbe(ceiling(1));
    assert.ok(d >= ceiling(1) / 2 && d <= ceiling(1), `after Retry-After the backoff is jittered again: ${d}`);
    t.h.stop();
  });

  for (const [outcome, code, message] of [
    ['unauthorized', 'INFLUX_UNAUTHORIZED', 'InfluxDB rejected the token (401): unauthorized access; check INFLUX_TOKEN'],
    ['forbidden', 'INFLUX_FORBIDDEN', 'InfluxDB forbids the write (403): insufficient permissions'],
    [
      'bucketNotFound',
      'INFLUX_BUCKET_NOT_FOUND',
      'InfluxDB says not found (404): bucket "ticks" not found; check INFLUX_ORG and INFLUX_BUCKET',
    ],
  ] as const) {
    it(`${outcome}: refused, alerts once, reopens the route after refusedDelay`, async () => {
      const t = start();
      await t.up();
      t.send({ type: 'WRITE_FAILED', outcome, code, message });
      assert.deepEqual(t.snap().value, { influxDown: 'refused' });
      assert.deepEqual(t.alerts, [message]);
      assert.equal(t.snap().context.code, code);
      assert.equal(t.snap().context.reason, message);
      assert.deepEqual(
        t.snap().context.lastFailure && { code: t.snap().context.lastFailure!.code, message: t.snap().context.lastFailure!.message },
        { code, message },
      );
      assert.equal(t.calls.at(-1), 'closeRoute');
      assert.deepEqual(t.h.sent().at(-1), { type: 'INFLUX_DOWN', reason: message, code });
      // The health probe would pass with a wrong token: it is not used here.
      const refusedDelay = Math.max(MAX, 15_000);
      t.clock.increment(refusedDelay - 1);
      assert.deepEqual(t.snap().value, { influxDown: 'refused' });
      assert.equal(t.probes.length, 1, 'no probes while refused');
      t.clock.increment(1);
      assert.equal(t.snap().value, 'influxUp', 'a real write decides');
      assert.equal(t.calls.at(-1), 'openRoute');
      assert.deepEqual(t.h.sent().at(-1), { type: 'INFLUX_UP' });
      assert.equal(t.snap().context.code, null);
      // Still wrong: refused again, alerted again (once per refusal).
      t.send({ type: 'WRITE_FAILED', outcome, code, message });
      assert.deepEqual(t.snap().value, { influxDown: 'refused' });
      assert.equal(t.alerts.length, 2);
      t.h.stop();
    });
  }

  it('refusedDelay follows probeMaxMs when that is longer than 15 s', async () => {
    const t = start({ probeMaxMs: 40_000 });
    await t.up();
    t.send({ type: 'WRITE_FAILED', outcome: 'forbidden', code: 'INFLUX_FORBIDDEN', message: 'no' });
    t.clock.increment(39_999);
    assert.deepEqual(t.snap().value, { influxDown: 'refused' });
    t.clock.increment(1);
    assert.equal(t.snap().value, 'influxUp');
    t.h.stop();
  });

  it('forwards WRITE_OK to the parent as LANDED in any state and counts points', async () => {
    const t = start();
    const landed = () => t.h.sent().filter((e) => e.type === 'LANDED');
    t.send({ type: 'WRITE_OK', points: 5, firstTs: 10, lastTs: 20, keys: ['A'] });
    assert.deepEqual(landed(), [{ type: 'LANDED', points: 5, firstTs: 10, lastTs: 20, keys: ['A'] }], 'while probing');
    assert.deepEqual(t.snap().value, { influxDown: 'probing' }, 'a landing does not change the state');
    await t.up();
    t.send({ type: 'WRITE_OK', points: 7, firstTs: 30, lastTs: 40, keys: ['A', 'B'] });
    t.send({ type: 'WRITE_FAILED', outcome: 'forbidden', code: 'INFLUX_FORBIDDEN', message: 'no' });
    t.send({ type: 'WRITE_OK', points: 11, firstTs: 50, lastTs: 60, keys: ['C'] });
    t.send(unavailable());
    assert.deepEqual(t.snap().value, { influxDown: 'refused' });
    t.clock.increment(15_000);
    t.send(unavailable());
    t.send({ type: 'WRITE_OK', points: 2, firstTs: 70, lastTs: 80, keys: ['D'] });
    assert.deepEqual(t.snap().value, { influxDown: 'waiting' });
    assert.deepEqual(
      landed().map((e) => e.points),
      [5, 7, 11, 2],
    );
    assert.deepEqual(landed()[2], { type: 'LANDED', points: 11, firstTs: 50, lastTs: 60, keys: ['C'] });
    assert.equal(t.snap().context.pointsLanded, 25);
    assert.notEqual(t.snap().context.lastLandedAt, null);
    t.h.stop();
  });

  it('FEED_DOWN flushes the batch being built, whatever the state', async () => {
    const t = start();
    t.send({ type: 'FEED_DOWN', reason: 'socket closed' });
    assert.deepEqual(t.calls, ['closeRoute', 'flushNow']);
    await t.up();
    t.send({ type: 'FEED_UP' });
    t.send({ type: 'FEED_DOWN', reason: 'stale' });
    assert.deepEqual(t.calls, ['closeRoute', 'flushNow', 'openRoute', 'flushNow']);
    assert.equal(t.snap().value, 'influxUp', 'the feed does not move the writer');
    const u = start({ configured: false });
    u.send({ type: 'FEED_DOWN', reason: 'x' });
    assert.deepEqual(u.calls, ['closeRoute', 'flushNow']);
    t.h.stop();
    u.h.stop();
  });
});
