import assert from 'node:assert/strict';
import { type TestContext, describe, it } from 'node:test';
import { leaseTiming } from '../../machines/leadership.js';
import { createLogger } from '../../src/logger.js';
import { NatsLease } from '../../src/nats/lease.js';
import { provideLeadership } from '../../src/nats/leadership-impl.js';
import { NatsLink } from '../../src/nats/link.js';
import { startNatsServer } from '../helpers/nats-server.js';
import { harness } from '../helpers/parent-harness.js';
import { until } from '../helpers/poll.js';
import { startTcpGate } from '../helpers/tcp-gate.js';

const logger = createLogger('silent');
const TTL = 2000;
const timing = leaseTiming(TTL);

/** One instance's leadership actor on its own NATS connection, with LEAD/STEP_DOWN timestamped. */
function instance(t: TestContext, name: string, url: string) {
  const link = new NatsLink({ servers: [url], name, reconnectBaseMs: 50, reconnectMaxMs: 300, pingIntervalMs: 250, logger });
  link.start();
  const lease = new NatsLease({ link, group: 'desk', instance: name, ttlMs: TTL, requestTimeoutMs: timing.requestTimeoutMs });
  const events: Array<{ type: string; at: number }> = [];
  let flushed = 0;
  const logic = provideLeadership({
    lease,
    requestTimeoutMs: timing.requestTimeoutMs,
    flush: async () => void flushed++,
    logger,
  });
  const h = harness(logic, { timing, instance: name, group: 'desk', now: Date.now }, { systemId: 'leadership' });
  const seen = () => {
    for (const e of h.sent().slice(events.length)) events.push({ type: e.type, at: performance.now() });
    return events;
  };
  const timer = setInterval(seen, 5);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    h.stop();
    await link.close();
  };
  t.after(stop);
  return {
    h,
    link,
    seen,
    flushes: () => flushed,
    /** Gone without a word (SIGKILL): no release; its connection dies with it. */
    kill: stop,
    leading: () => h.child().getSnapshot().matches('leader'),
    at: (type: string) => seen().find((e) => e.type === type)?.at,
  };
}

describe('leadership against a real nats-server', () => {
  it('leader killed: the standby leads once the lease expired, within TTL + one poll', async (t) => {
    const nats = await startNatsServer();
    t.after(() => nats.close());
    const a = instance(t, 'a', nats.url);
    await until('a leads', () => a.leading());
    const b = instance(t, 'b', nats.url);
    await until('b is standby naming a', () => b.h.child().getSnapshot().context.holder === 'a');
    await a.kill();
    const killedAt = performance.now();
    await until('b leads', () => b.leading(), { timeoutMs: 10_000, intervalMs: 10 });
    const took = b.at('LEAD')! - killedAt;
    assert.ok(took <= TTL + timing.pollMs + 500, `took ${Math.round(took)} ms`);
  });

  it('graceful stop: the standby leads at once (well under the 5 s of the contract)', async (t) => {
    const nats = await startNatsServer();
    t.after(() => nats.close());
    const a = instance(t, 'a', nats.url);
    await until('a leads', () => a.leading());
    const b = instance(t, 'b', nats.url);
    await until('b is standby', () => b.h.child().getSnapshot().matches('standby'));
    const stopAt = performance.now();
    a.h.child().send({ type: 'STOP' });
    await until('a stopped', () => a.h.child().getSnapshot().status === 'done');
    assert.equal(a.flushes(), 1, 'flushed to its spool before giving the lease back');
    await until('b leads', () => b.leading(), { timeoutMs: 5000, intervalMs: 10 });
    const took = b.at('LEAD')! - stopAt;
    assert.ok(took < 1000, `handover took ${Math.round(took)} ms`);
  });

  it('leader partitioned from NATS (packets dropped, socket open): it fences itself before the standby leads', async (t) => {
    const nats = await startNatsServer();
    t.after(() => nats.close());
    const gate = await startTcpGate(nats.port);
    t.after(() => gate.close());
    const a = instance(t, 'a', gate.url);
    await until('a leads', () => a.leading());
    const b = instance(t, 'b', nats.url);
    await until('b is standby', () => b.h.child().getSnapshot().matches('standby'));
    gate.set('blackhole');
    await until('b leads', () => b.leading(), { timeoutMs: 10_000, intervalMs: 10 });
    await until('a stepped down', () => a.at('STEP_DOWN'));
    const stepDown = a.at('STEP_DOWN')!;
    const lead = b.at('LEAD')!;
    assert.ok(stepDown < lead, `a stopped ingesting ${Math.round(lead - stepDown)} ms before b started`);
    assert.equal(a.flushes(), 1);
    // Healed: a stays standby behind b.
    gate.set('pass');
    await until('a sees b as leader', () => a.h.child().getSnapshot().context.holder === 'b', { timeoutMs: 10_000 });
    assert.ok(!a.leading());
  });
});
