/**
 * The storage layer (spool → write path → writer/drainer actors) against a real VictoriaMetrics
 * behind the fault gate: InfluxDB refusing connections, hanging, refusing the token, rate
 * limiting and failing; every point sent is read back exactly once per key and timestamp.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { until } from '../helpers/poll.js';
import { Feeder, expectLanded, storageSuite, tickFrame } from '../helpers/storage-fixture.js';

// The tests run side by side (own keys, gate and spool each): VictoriaMetrics 1.79 makes a new
// series visible to export only ~10 s after its first write, and the writer waits 15 s before it
// retries after a 401/403/404. In sequence, those waits would add up.
describe('storage against VictoriaMetrics through InfluxDB faults', { timeout: 90_000, concurrency: true }, () => {
  const suite = storageSuite('tickpipe-storfault-');

  it('connection refused mid-stream: influxDown, the spool grows, drained after recovery, every point once', async () => {
    await suite.withStorage('refused', {}, async (fx, gate) => {
      const feed = new Feeder(() => fx, ['NSE_EQ|DOWN1', 'NSE_EQ|DOWN2'], 1_732_000_000_000);
      await fx.waitWriter('influxUp');
      feed.start(10, 2);
      await until('points landing live', () => fx.stats.pointsWritten > 100);
      gate.set('down');
      await fx.waitWriter(/^influxDown\./);
      await until('the spool growing past the live threshold', () => fx.storage.spool.pendingPoints() > 300);
      assert.equal(fx.drainerState(), 'paused');
      assert.equal(fx.writerContext()['code'], 'INFLUX_UNAVAILABLE');
      assert.match(String(fx.writerContext()['reason']), /cannot reach InfluxDB|socket hang up|ECONNRESET/);
      gate.set('pass');
      await fx.waitWriter('influxUp');
      await until('the drainer replaying', () => fx.stats.pointsDrained > 0);
      feed.stop();
      await fx.waitSpoolEmpty();
      await expectLanded(suite.vm, feed.sent, 'after the outage');
      assert.ok(fx.stats.pointsWritten >= feed.total(), 'every point written (some twice is allowed: a reset after the server took them)');
      assert.equal(fx.storage.spool.deadLetterCount(), 0);
      // Each point that had to wait is counted once, however many live attempts failed on it.
      assert.ok(
        fx.stats.pointsSpooled > 300 && fx.stats.pointsSpooled <= feed.total(),
        `pointsSpooled ${fx.stats.pointsSpooled} of ${feed.total()} sent`,
      );
    });
  });

  it('a hanging InfluxDB: writes time out (INFLUX_TIMEOUT_MS), influxDown, nothing lost after it answers again', async () => {
    await suite.withStorage('hang', { influx: { writeTimeoutMs: 500 } }, async (fx, gate) => {
      const feed = new Feeder(() => fx, ['NSE_EQ|HANG1'], 1_732_100_000_000);
      await fx.waitWriter('influxUp');
      feed.push(30);
      await fx.waitSpoolEmpty();
      gate.set('hang');
      const t0 = Date.now();
      feed.push(60);
      await fx.waitWriter(/^influxDown\./, 5000);
      // Bounded by the write timeout, not by the socket or the server.
      assert.ok(Date.now() - t0 < 3000, 'the hung write was given up within a few write timeouts');
      assert.match(String(fx.writerContext()['reason']), /did not answer within 500 ms/);
      feed.push(100);
      fx.storage.writePath.flush();
      assert.ok(fx.storage.spool.pendingPoints() >= 100);
      gate.set('pass');
      await fx.waitWriter('influxUp');
      await fx.waitSpoolEmpty();
      await expectLanded(suite.vm, feed.sent, 'after the hang');
    });
  });

  it('401, 403, 404: influxDown.refused with the code and the server message, points kept, delivered after the fix', async () => {
    const cases = [
      { status: 401, body: { code: 'unauthorized', message: 'unauthorized access' }, code: 'INFLUX_UNAUTHORIZED', key: 'NSE_EQ|AUTH401' },
      {
        status: 403,
        body: { code: 'forbidden', message: 'insufficient permissions for write' },
        code: 'INFLUX_FORBIDDEN',
        key: 'NSE_EQ|AUTH403',
      },
      {
        status: 404,
        body: { code: 'not found', message: 'bucket "ticks" not found' },
        code: 'INFLUX_BUCKET_NOT_FOUND',
        key: 'NSE_EQ|AUTH404',
      },
    ];
    // In parallel: the writer reopens the route only after max(INFLUX_PROBE_MAX_MS, 15 s).
    await Promise.all(
      cases.map((c, i) =>
        suite.withStorage(`auth${c.status}`, {}, async (fx, gate) => {
          const feed = new Feeder(() => fx, [c.key], 1_732_200_000_000 + i * 10_000);
          await fx.waitWriter('influxUp');
          gate.set({ status: c.status, body: JSON.stringify(c.body) });
          feed.push(120);
          await fx.waitWriter('influxDown.refused');
          const ctx = fx.writerContext();
          assert.equal(ctx['code'], c.code);
          assert.ok(String(ctx['reason']).includes(c.body.message), `reason ${String(ctx['reason'])} carries the server's message`);
          assert.ok(
            fx.logs.some((l) => l.level === 50 && l['actor'] === 'writer' && l.msg.includes(c.body.message)),
            'an error a person must fix is logged at error level',
          );
          fx.storage.writePath.flush();
          assert.equal(fx.storage.spool.pendingPoints(), 120, 'every point stays spooled');
          assert.equal(fx.drainerState(), 'paused');
          const attempts = gate.writes();
          const refusedAt = Date.now();
          gate.set('pass');
          await fx.waitWriter('influxUp', 25_000);
          assert.ok(Date.now() - refusedAt > 10_000, 'refused: no retry storm, the route stays closed for a while');
          await fx.waitSpoolEmpty();
          assert.equal(gate.log()[attempts]?.answer, 204, 'no write attempt while refused; the first one after the fix lands');
          await expectLanded(suite.vm, feed.sent, `after ${c.status} was fixed`);
        }),
      ),
    );
  });

  it('429 with Retry-After: 2 s: no write before 2 s have passed, then it recovers; nothing lost', async () => {
    await suite.withStorage('429', {}, async (fx, gate) => {
      const feed = new Feeder(() => fx, ['NSE_EQ|RATE429'], 1_732_300_000_000);
      await fx.waitWriter('influxUp');
      gate.set({
        status: 429,
        headers: { 'retry-after': '2' },
        body: JSON.stringify({ code: 'too many requests', message: 'write limit reached' }),
      });
      feed.push(60);
      await fx.waitWriter('influxDown.waiting');
      assert.equal(fx.writerContext()['retryAfterMs'], 2000);
      const limited = gate.log().filter((w) => w.answer === 429);
      assert.equal(limited.length, 1, 'one write met the 429');
      const t429 = limited[0].at;
      // The server would take writes again at once: only Retry-After holds the writer back.
      gate.set('pass');
      feed.start(20, 1);
      await fx.waitWriter('influxUp', 6000);
      feed.stop();
      await fx.waitSpoolEmpty();
      const next = gate.log().filter((w) => w.at > t429);
      assert.ok(next.length > 0);
      assert.ok(next[0].at - t429 >= 1950, `first write after the 429 came ${next[0].at - t429} ms later`);
      await expectLanded(suite.vm, feed.sent, 'after the 429');
    });
  });

  it('500: influxDown (probes fail too), recovers when it answers again; nothing lost', async () => {
    await suite.withStorage('500', {}, async (fx, gate) => {
      const feed = new Feeder(() => fx, ['NSE_EQ|ERR500'], 1_732_400_000_000);
      await fx.waitWriter('influxUp');
      gate.set({ status: 500, body: JSON.stringify({ code: 'internal error', message: 'engine: cache-max-memory-size exceeded' }) });
      feed.push(60);
      await fx.waitWriter(/^influxDown\./);
      assert.equal(fx.writerContext()['code'], 'INFLUX_UNAVAILABLE');
      assert.match(String(fx.writerContext()['reason']), /InfluxDB answered 500: engine: cache-max-memory-size exceeded/);
      feed.push(200);
      fx.storage.writePath.flush();
      // The /health probe meets the 500 too: the writer stays down, the drainer paused.
      await until('a failed probe', () => /health probe failed/.test(String(fx.writerContext()['reason'])));
      assert.match(fx.writerState(), /^influxDown\./);
      assert.equal(fx.drainerState(), 'paused');
      assert.equal(fx.storage.spool.pendingPoints(), 260);
      gate.set('pass');
      await fx.waitWriter('influxUp');
      await fx.waitSpoolEmpty();
      await expectLanded(suite.vm, feed.sent, 'after the 500s');
    });
  });

  it('candles: a candle updated while InfluxDB is down and live after recovery: written in order, the newest value last', async () => {
    await suite.withStorage('candle', {}, async (fx, gate) => {
      const KEY = 'NSE_EQ|CANDLE12';
      const candleTs = 1_732_500_000_000;
      const sent = new Map<string, number[]>([[KEY, []]]);
      let ts = candleTs;
      // Every update a distinct close value, so each write can be told apart.
      let close = 10_000;
      const closes: number[] = [];
      const push = (frames: number) => {
        for (let i = 0; i < frames; i++) {
          ts++;
          close--;
          closes.push(close);
          sent.get(KEY)!.push(ts);
          fx.storage.writePath.pushFrame(tickFrame(ts, { [KEY]: 100 }, { key: KEY, interval: 'I1', ts: candleTs, close }));
        }
      };
      await fx.waitWriter('influxUp');
      push(20);
      await fx.waitSpoolEmpty();
      gate.set('down');
      push(50);
      await fx.waitWriter(/^influxDown\./);
      push(400);
      fx.storage.writePath.flush();
      assert.ok(fx.storage.spool.pendingPoints() > 450, 'a backlog the drainer must replay');
      gate.set('pass');
      // Live updates keep coming while the backlog is replayed.
      const timer = setInterval(() => push(3), 5);
      try {
        await fx.waitWriter('influxUp');
        await until('the drainer replaying', () => fx.stats.pointsDrained > 0);
        await until(
          'the backlog replayed with live updates behind it',
          () => fx.drainerState() === 'idle' && fx.stats.pointsWritten > 1000,
          { timeoutMs: 15_000 },
        );
      } finally {
        clearInterval(timer);
      }
      push(5);
      await fx.waitSpoolEmpty();
      // What InfluxDB would hold: it keeps the last acknowledged write of a series and timestamp.
      // The acknowledged candle writes, in the order the server took them, follow the updates in
      // the order they were made (a batch writes a candle once, with its newest value): no spooled
      // value was replayed after a newer one.
      const acked = gate
        .log()
        .filter((w) => w.answer === 204)
        .flatMap((w) => w.body.split('\n'))
        .filter((l) => l.startsWith('candle,'))
        .map((l) => Number(/close=(\d+)/.exec(l)![1]));
      const made = new Set(closes);
      assert.ok(
        acked.every((c) => made.has(c)),
        'every candle value written is one an update carried',
      );
      // Each update lowers the close, so the order the updates were made in is falling closes.
      for (let i = 1; i < acked.length; i++)
        assert.ok(acked[i] < acked[i - 1], `candle write ${i} (${acked[i]}) after a newer one (${acked[i - 1]})`);
      assert.ok(
        acked.length >= 10 && acked.length < closes.length / 3,
        `one candle point per batch, not per update: ${acked.length} for ${closes.length} updates`,
      );
      assert.equal(acked.at(-1), close, 'the last write carries the newest value');
      // VictoriaMetrics 1.79 cannot check this itself: among samples with one timestamp its dedup
      // keeps an arbitrary one (an unstable sort), not the last written. It must hold one sample.
      await until(
        'the candle in VictoriaMetrics',
        async () => {
          const series = await suite.vm.exportSeries(`{__name__="candle_close",instrument_key="${KEY}",interval="I1"}`);
          return series.length === 1 && series[0].timestamps.length === 1 && series[0].timestamps[0] === candleTs;
        },
        { timeoutMs: 15_000, intervalMs: 250 },
      );
      await expectLanded(suite.vm, sent, 'candle test ticks');
    });
  });
});
