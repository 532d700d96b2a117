/**
 * High availability end to end: two real tickpipe processes in one HA_GROUP, the simulator,
 * VictoriaMetrics and a real nats-server. The leader is SIGKILLed, stopped gracefully, or cut
 * off from NATS (a TCP gate that drops every byte); the standby must take over in time, and the
 * two must never ingest at once. On a market clock, the gap between the two instances must be in the
 * new leader's ledger (GET /gaps) with its reason and keys, and backfilled.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MARKET_MORNING, TIME_SCALE } from '../helpers/gap-fixture.js';
import { HA_KEYS, type HaFixture, sentBetween, startHaFixture, storedTicks } from '../helpers/ha-fixture.js';
import { until } from '../helpers/poll.js';
import type { ServiceProcess } from '../helpers/service-process.js';
import { startTcpGate } from '../helpers/tcp-gate.js';

const streaming = (s: any) => s.actors.connection.value === 'streaming';
const leads = (s: any) => JSON.stringify(s.actors.leadership?.value ?? '').includes('leader');

async function ready(svc: ServiceProcess): Promise<{ status: number; body: any }> {
  const res = await fetch(`${svc.baseUrl}/ready`);
  return { status: res.status, body: await res.json() };
}

/** Waits until every tick sent in [from, to] is in InfluxDB; returns those still missing. */
async function missingFromInflux(fx: HaFixture, from: number, to: number): Promise<string[]> {
  const expected = [...sentBetween(fx.sent, from, to)];
  let missing = expected;
  await until(
    'every tick in InfluxDB',
    async () => {
      const stored = await storedTicks(fx.vm);
      missing = expected.filter((id) => !stored.has(id));
      return missing.length === 0;
    },
    { timeoutMs: 15_000, intervalMs: 250 },
  ).catch(() => undefined);
  return missing;
}

describe('HA: two instances in one group', { timeout: 180_000 }, () => {
  let fx: HaFixture;
  before(async () => {
    fx = await startHaFixture();
  });
  after(async () => {
    await fx.close();
  });

  it('one leads and streams, the other is a ready standby; leader SIGKILLed: the standby streams within 15 s, nothing received is lost', async () => {
    const a = await fx.start('a', { HA_GROUP: 'kill' });
    await a.waitForState('a leads and streams', (s) => leads(s) && streaming(s), 30_000);
    const aStreamingAt = Date.now();
    const b = await fx.start('b', { HA_GROUP: 'kill' });
    // Its first try may come before its NATS connection is up: then it learns the holder on the next poll.
    const bState = await b.waitForState(
      'b standby naming a as leader',
      (s) => JSON.stringify(s.actors.leadership?.value).includes('standby') && s.actors.leadership.context.holder === 'a',
      30_000,
    );
    assert.notEqual(bState.actors.connection.value, 'streaming');
    const r = await ready(b);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.role, 'standby');
    assert.equal((await ready(a)).body.role, 'leader');

    await a.waitForState('a has written', (s) => s.stats.pointsWritten > 100);
    const killedAt = Date.now();
    await a.stop('SIGKILL');
    await b.waitForState('b leads and streams', (s) => leads(s) && streaming(s), 15_000);
    const took = Date.now() - killedAt;
    assert.ok(took <= 15_000, `took ${took} ms`);
    const bStreamingAt = Date.now();
    await b.waitForState('b has written', (s) => s.stats.pointsWritten > 100);
    const stopAt = Date.now();
    assert.equal((await b.stop('SIGTERM')).code, 0);
    // What each received is in InfluxDB: a's ticks up to its last flush interval (SIGKILL loses
    // the batch being built, at most FLUSH_INTERVAL_MS = 200 ms, + margin), b's until its stop.
    assert.deepEqual((await missingFromInflux(fx, aStreamingAt, killedAt - 700)).slice(0, 5), []);
    assert.deepEqual((await missingFromInflux(fx, bStreamingAt, stopAt - 1000)).slice(0, 5), []);
    console.log(`standby streaming ${took} ms after the leader's SIGKILL`);
  });

  it('graceful stop of the leader: the standby streams within 5 s', async () => {
    const a = await fx.start('a2', { HA_GROUP: 'graceful' });
    await a.waitForState('a leads and streams', (s) => leads(s) && streaming(s), 30_000);
    const b = await fx.start('b2', { HA_GROUP: 'graceful' });
    await b.waitForState('b standby', (s) => JSON.stringify(s.actors.leadership?.value).includes('standby'), 30_000);
    const stopAt = Date.now();
    const stopping = a.stop('SIGTERM');
    await b.waitForState('b streams', (s) => leads(s) && streaming(s), 5000);
    const took = Date.now() - stopAt;
    assert.ok(took < 5000, `took ${took} ms`);
    assert.equal((await stopping).code, 0);
    assert.match(a.output(), /leadership handed over/);
    console.log(`graceful handover in ${took} ms`);
    await b.stop('SIGTERM');
  });
});

describe('HA: the leader cut off from NATS', { timeout: 120_000 }, () => {
  let fx: HaFixture;
  before(async () => {
    fx = await startHaFixture();
  });
  after(async () => {
    await fx.close();
  });

  it('fences itself (stops ingesting) before the standby starts: no overlapping ingest', async (t) => {
    const gate = await startTcpGate(fx.nats.port);
    t.after(() => gate.close());
    const ttl = { HA_GROUP: 'cut', HA_LEASE_TTL_S: '3' };
    const a = await fx.start('a3', { ...ttl, NATS_URL: gate.url });
    await a.waitForState('a leads and streams', (s) => leads(s) && streaming(s), 30_000);
    const b = await fx.start('b3', ttl);
    await b.waitForState('b standby', (s) => JSON.stringify(s.actors.leadership?.value).includes('standby'), 30_000);

    // Both instances' frame counters, sampled every 25 ms from here on.
    const samples: Array<{ at: number; a: number; b: number; aLeads: boolean }> = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const [sa, sb] = await Promise.all([a.state(), b.state()]);
        samples.push({ at: performance.now(), a: sa.stats.framesReceived, b: sb.stats.framesReceived, aLeads: leads(sa) });
        await new Promise((r) => setTimeout(r, 25));
      }
    })();
    gate.set('blackhole');
    await b.waitForState('b leads and streams', (s) => leads(s) && streaming(s), 20_000);
    await b.waitForState('b receives frames', (s) => s.stats.framesReceived > 20);
    sampling = false;
    await sampler;
    const aState = await a.state();
    assert.ok(!leads(aState), `a no longer leads: ${JSON.stringify(aState.actors.leadership.value)}`);
    assert.notEqual(aState.actors.connection.value, 'streaming');
    // The last sample in which a's count still rose comes before the first in which b's did.
    let aLastRise = -Infinity;
    let bFirstRise = Infinity;
    for (let i = 1; i < samples.length; i++) {
      if (samples[i].a > samples[i - 1].a) aLastRise = samples[i].at;
      if (samples[i].b > samples[i - 1].b && bFirstRise === Infinity) bFirstRise = samples[i].at;
    }
    assert.ok(aLastRise < bFirstRise, `a ingested until ${aLastRise.toFixed(0)}, b from ${bFirstRise.toFixed(0)}`);
    console.log(`a stopped ingesting ${(bFirstRise - aLastRise).toFixed(0)} ms before b started`);
    gate.set('pass');
    await a.stop('SIGTERM');
    await b.stop('SIGTERM');
  });
});

interface GapRow {
  from: number;
  to: number;
  keys: string[];
  reason: string;
  backfill: string;
  detail: string;
}

async function gapsOf(svc: ServiceProcess): Promise<GapRow[]> {
  const res = await fetch(`${svc.baseUrl}/gaps`, { signal: AbortSignal.timeout(2000) });
  return ((await res.json()) as { gaps: GapRow[] }).gaps;
}

// The simulator's market runs from a weekday morning at TIME_SCALE (a market minute in two real
// seconds), so the takeover falls in trading hours and its minutes close soon enough to backfill.
describe('HA: the gap between the two instances', { timeout: 180_000 }, () => {
  let fx: HaFixture;
  before(async () => {
    fx = await startHaFixture({ startAt: MARKET_MORNING, timeScale: TIME_SCALE });
  });
  after(async () => {
    await fx.close();
  });

  it("leader SIGKILLed: the new leader's /gaps has the gap from the old leader's last frame (leader failover, every key), backfilled", async () => {
    const env = { HA_GROUP: 'gap', BACKFILL_GRACE_MS: '500', BACKFILL_RETRY_MS: '300', BACKFILL_RETRY_MAX_MS: '1000' };
    const a = await fx.start('a4', env);
    await a.waitForState('a leads and streams', (s) => leads(s) && streaming(s), 30_000);
    const b = await fx.start('b4', env);
    // a writes its last-frame mark into the lease with every renewal; b reads it on its polls.
    const seen = await b.waitForState(
      "b standby holding a's mark",
      (s) => JSON.stringify(s.actors.leadership?.value).includes('standby') && s.actors.leadership.context.seen?.instance === 'a4',
      30_000,
    );
    assert.deepEqual([...seen.actors.leadership.context.seen.keys].sort(), [...HA_KEYS].sort());
    await a.waitForState('a has written', (s) => s.stats.pointsWritten > 100);
    await a.stop('SIGKILL');
    // a's last frame, as the simulator sent it: the mark is at most one renewal (TTL/4) older.
    const aLastFrame = fx.sim.now();
    await b.waitForState('b leads and streams', (s) => leads(s) && streaming(s), 15_000);
    const gaps = () => gapsOf(b);
    const gap = await until('the handover gap in /gaps', async () => (await gaps()).find((g) => g.reason === 'leader failover'), {
      timeoutMs: 10_000,
      intervalMs: 200,
    });
    assert.deepEqual(gap.keys, [...HA_KEYS].sort());
    assert.ok(gap.from <= aLastFrame, `the gap starts at or before a's last frame (${gap.from} > ${aLastFrame})`);
    // One renewal interval (TTL/4 = 2.5 s) and one standby poll (1 s) at most, plus margin, in market time.
    assert.ok(aLastFrame - gap.from <= (2500 + 1000 + 2000) * TIME_SCALE, 'and no earlier than its renewals allow');
    assert.ok(gap.to > aLastFrame, "and ends at b's first frame");
    assert.equal((await gaps()).filter((g) => g.reason === 'leader failover').length, 1, 'recorded once');
    const settled = await until(
      'the handover gap backfilled',
      async () => (await gaps()).find((g) => g.reason === 'leader failover' && (g.backfill === 'done' || g.backfill === 'failed')),
      { timeoutMs: 40_000, intervalMs: 200 },
    );
    assert.equal(settled.backfill, 'done', settled.detail);
    console.log(`handover gap of ${((gap.to - gap.from) / 1000).toFixed(0)} market seconds backfilled: ${settled.detail}`);
    await b.stop('SIGTERM');
  });

  it("graceful stop of the leader: the new leader's /gaps has the gap as leader handover, backfilled", async () => {
    const env = { HA_GROUP: 'gap-graceful', BACKFILL_GRACE_MS: '500', BACKFILL_RETRY_MS: '300', BACKFILL_RETRY_MAX_MS: '1000' };
    const a = await fx.start('a5', env);
    await a.waitForState('a leads and streams', (s) => leads(s) && streaming(s), 30_000);
    const b = await fx.start('b5', env);
    await b.waitForState(
      "b standby holding a's mark",
      (s) => JSON.stringify(s.actors.leadership?.value).includes('standby') && s.actors.leadership.context.seen?.instance === 'a5',
      30_000,
    );
    const stopping = a.stop('SIGTERM');
    await b.waitForState('b leads and streams', (s) => leads(s) && streaming(s), 5000);
    assert.equal((await stopping).code, 0);
    const settled = await until(
      'the handover gap backfilled',
      async () => (await gapsOf(b)).find((g) => g.reason === 'leader handover' && (g.backfill === 'done' || g.backfill === 'failed')),
      { timeoutMs: 40_000, intervalMs: 200 },
    );
    assert.deepEqual(settled.keys, [...HA_KEYS].sort());
    assert.equal(settled.backfill, 'done', settled.detail);
    assert.equal((await gapsOf(b)).filter((g) => g.reason === 'leader failover').length, 0, 'a step-down is not a failover');
    await b.stop('SIGTERM');
  });
});
