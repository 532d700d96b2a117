/**
 * Gaps and backfill end to end: the built service as a process, the simulator's market on an
 * accelerated clock (a market minute every two real seconds), VictoriaMetrics behind a gate.
 * After each outage the ledger (GET /gaps) shows the gap `done`, and every I1 candle touching it
 * is exactly the simulator's candle in what InfluxDB keeps (the last acknowledged write, from the
 * gate) and present in VictoriaMetrics.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EQ, type GapFixture, type GapRow, IDX, heldCandles, minutesTouching, startGapFixture, valueOf } from '../helpers/gap-fixture.js';
import { until } from '../helpers/poll.js';
import { assertStateConserved } from '../helpers/storage-fixture.js';

/** Waits for a gap matching `match` to reach a final backfill state. */
async function settledGap(fx: GapFixture, match: (g: GapRow) => boolean, timeoutMs = 40_000): Promise<GapRow> {
  return until('a gap settled', async () => (await fx.gaps()).find((g) => match(g) && (g.backfill === 'done' || g.backfill === 'failed')), {
    timeoutMs,
    intervalMs: 200,
  });
}

/** Every I1 candle touching the gap, in what InfluxDB keeps, equals the simulator's; VictoriaMetrics has each minute. */
async function expectCandlesExact(fx: GapFixture, gap: GapRow): Promise<void> {
  const minutes = minutesTouching(gap.from, gap.to);
  for (const key of gap.keys) {
    const sim = new Map(fx.sim.candles(key).map((c) => [c.ts, valueOf(c)]));
    for (const m of minutes) assert.ok(sim.has(m), `the simulator has ${key}'s candle of ${new Date(m).toISOString()}`);
    await until(
      `${key}'s candles of the gap landed exactly`,
      () => {
        const held = heldCandles(fx.gate, key);
        return minutes.every((m) => JSON.stringify(held.get(m)) === JSON.stringify(sim.get(m)));
      },
      { timeoutMs: 15_000, intervalMs: 200 },
    ).catch((err: Error) => {
      const held = heldCandles(fx.gate, key);
      const diff = minutes.map((m) => ({ minute: new Date(m).toISOString(), held: held.get(m), sim: sim.get(m) }));
      throw new Error(`${err.message}\n${JSON.stringify(diff, null, 1)}`);
    });
    await until(
      `${key}'s gap minutes in VictoriaMetrics`,
      async () => {
        const series = await fx.vm.exportSeries(`{__name__="candle_close",instrument_key="${key}",interval="I1"}`);
        const ts = new Set(series.flatMap((s) => s.timestamps));
        return minutes.every((m) => ts.has(m));
      },
      { timeoutMs: 15_000, intervalMs: 250 },
    );
  }
  // A minute wholly inside the gap was never written live: VictoriaMetrics holds exactly the backfilled candle.
  const inside = minutes.filter((m) => m > gap.from && m + 60_000 <= gap.to);
  for (const m of inside) {
    const series = await fx.vm.exportSeries(`{__name__="candle_close",instrument_key="${EQ}",interval="I1"}`);
    // One series: live and backfilled candles carry the same tags (symbol included).
    assert.equal(series.length, 1, `one continuous I1 series, got ${series.map((x) => JSON.stringify(x.metric)).join(' and ')}`);
    const s = series[0];
    const v = s.values[s.timestamps.indexOf(m)];
    assert.equal(v, fx.sim.candles(EQ).find((c) => c.ts === m)?.close, `VictoriaMetrics' candle ${new Date(m).toISOString()}`);
  }
}

describe('gaps and backfill against the simulator', () => {
  let fx: GapFixture;
  before(async () => {
    fx = await startGapFixture();
  });
  after(() => fx.close());

  it('a socket drop spanning a minute boundary is recorded and backfilled exactly', async () => {
    const t0 = fx.sim.now();
    const boundary = Math.floor(t0 / 60_000) * 60_000 + 60_000;
    fx.sim.refuseConnections(true);
    fx.sim.dropConnections();
    await fx.marketPast(boundary + 10_000);
    fx.sim.refuseConnections(false);
    const gap = await settledGap(fx, (g) => g.reason === 'socket dropped' && g.from < boundary && g.to > boundary);
    assert.equal(gap.backfill, 'done', gap.detail);
    assert.deepEqual(gap.keys, [EQ, IDX].sort());
    assert.ok(gap.from >= t0 - 2000 && gap.from <= t0 + 2000, 'the gap starts at the last frame before the drop');
    await expectCandlesExact(fx, gap);
    const metrics = await (await fetch(`${fx.baseUrl}/metrics`)).text();
    assert.match(metrics, /tickpipe_gaps_total\{reason="socket dropped"\} [1-9]/);
    assert.match(metrics, /tickpipe_backfilled_candles_total [1-9]/);
    const state = (await fx.svc.state()) as { actors: { backfill: { value: string } } };
    assert.equal(state.actors.backfill.value, 'idle');
    // The gap is in InfluxDB too, as a feed_gap point (its `to` as a field).
    await until('the feed_gap point', async () => {
      const series = await fx.vm.exportSeries(`{__name__="feed_gap_to",reason="socket dropped"}`);
      return series.some((s) => s.values.includes(gap.to));
    });
  });

  it('a service stop of about two market minutes is found at the next start and backfilled exactly', async () => {
    const before = fx.sim.now();
    await fx.stop('SIGTERM');
    await fx.marketPast(before + 125_000);
    await fx.start();
    const gap = await settledGap(fx, (g) => g.reason === 'service stopped');
    assert.equal(gap.backfill, 'done', gap.detail);
    assert.ok(gap.to - gap.from >= 120_000, `about two minutes (${gap.to - gap.from} ms)`);
    await expectCandlesExact(fx, gap);
  });

  it('a 429 storm on the candle API: the backfill backs off and completes', async () => {
    // The next four candle requests answer 429 UDAPI10005, without Retry-After, like Upstox.
    fx.sim.rateLimitCandles({ requests: 4 });
    const since = fx.sim.candleRequests().length;
    const t0 = fx.sim.now();
    fx.sim.dropConnections();
    const gap = await settledGap(fx, (g) => g.reason === 'socket dropped' && g.from >= t0 - 2000);
    assert.equal(gap.backfill, 'done', gap.detail);
    const reqs = fx.sim.candleRequests().slice(since);
    assert.deepEqual(
      reqs.slice(0, 5).map((r) => r.status),
      [429, 429, 429, 429, 200],
    );
    // Backoff after each 429 (BACKFILL_RATE_LIMIT_MS=200, doubling up to 800): no hammering.
    const waits = reqs.slice(1, 5).map((r, i) => r.at - reqs[i].at);
    const expected = [200, 400, 800, 800];
    waits.forEach((w, i) => assert.ok(w >= expected[i] - 20, `wait ${i + 1} after a 429: ${w} ms, expected about ${expected[i]}`));
    await expectCandlesExact(fx, gap);
  });

  it('a 401 from the candle API with a working feed: the gap fails, naming the Analytics Token, logged once', async () => {
    fx.sim.rejectCandleToken(true);
    try {
      const t0 = fx.sim.now();
      fx.sim.dropConnections();
      const gap = await settledGap(fx, (g) => g.reason === 'socket dropped' && g.from >= t0 - 2000 && g.backfill === 'failed');
      assert.match(gap.detail, /Analytics Token/);
      const state = (await fx.svc.state()) as { actors: { connection: { value: string } } };
      assert.equal(state.actors.connection.value, 'streaming', 'the feed works on');
      const errors = fx.svc
        .output()
        .split('\n')
        .filter((l) => l.includes('"level":50') && l.includes('backfill of gap') && l.includes(String(new Date(gap.from).toISOString())));
      assert.equal(errors.length, 1, 'logged once at error level');
    } finally {
      fx.sim.rejectCandleToken(false);
    }
  });

  it('an InfluxDB outage during a backfill: the candles wait in the spool and land exactly', async () => {
    fx.gate.set('down');
    try {
      const t0 = fx.sim.now();
      fx.sim.dropConnections();
      const gap = await settledGap(fx, (g) => g.reason === 'socket dropped' && g.from >= t0 - 2000);
      assert.equal(gap.backfill, 'done', 'done once spooled, InfluxDB or not');
      const state = (await fx.svc.state()) as { actors: { writer: { value: unknown } }; spool: { pendingPoints: number } };
      assert.ok(state.spool.pendingPoints > 0, 'waiting in the spool');
      fx.gate.set('pass');
      await expectCandlesExact(fx, gap);
      // Backfilled candles and gap records are counted like live points: the conservation law
      // holds (polled: it holds whenever no write is in flight).
      await until('the conservation law balanced', async () => {
        const s = (await fx.svc.state()) as { stats: Record<string, number>; spool: { pendingPoints: number } };
        try {
          assertStateConserved(s, 'after a backfill through an outage');
          return true;
        } catch {
          return false;
        }
      });
    } finally {
      fx.gate.set('pass');
    }
  });

  it('a restart in the middle of a backfill (a crash) resumes it from the ledger', async () => {
    fx.sim.rateLimitCandles({ forMs: 60_000 });
    const t0 = fx.sim.now();
    fx.sim.dropConnections();
    await until(
      'the gap recorded and its backfill held up by 429s',
      async () =>
        (await fx.gaps()).find((g) => g.reason === 'socket dropped' && g.from >= t0 - 2000 && g.backfill === 'pending') &&
        fx.sim.candleRequests().some((r) => r.status === 429 && r.simAt > t0),
      { timeoutMs: 20_000, intervalMs: 200 },
    );
    await fx.stop('SIGKILL');
    fx.sim.rateLimitCandles({});
    await fx.start();
    const gap = await settledGap(fx, (g) => g.reason === 'socket dropped' && g.from >= t0 - 2000);
    assert.equal(gap.backfill, 'done', gap.detail);
    await expectCandlesExact(fx, gap);
    // The crash itself left a gap too (from the last mark to the restart).
    await settledGap(fx, (g) => g.reason === 'service crashed');
  });
});

describe('gaps over a closed market', () => {
  it('are not recorded: the simulator closed (market_info) at both ends of a drop, and a stop outside the table', async () => {
    // 16:00 IST: after the close by the built-in table; the simulator follows trading hours too.
    const fx = await startGapFixture({}, { startAt: Date.parse('2026-11-25T16:00:00+05:30'), timeScale: 30, followTradingHours: true });
    try {
      fx.sim.dropConnections();
      await fx.svc.waitForState(
        'streaming again',
        (s: { actors: { connection: { value: string } } }) => s.actors.connection.value === 'streaming',
      );
      const before = fx.sim.now();
      await fx.stop('SIGTERM');
      await fx.marketPast(before + 90_000);
      await fx.start();
      // Give the backfill actor the time it would need to record something (events are immediate).
      await until('the startup outage closed', async () => {
        const s = (await fx.svc.state()) as { actors: { backfill: { context: { down: unknown } } } };
        return s.actors.backfill.context.down === null;
      });
      assert.deepEqual(await fx.gaps(), []);
    } finally {
      await fx.close();
    }
  });
});
