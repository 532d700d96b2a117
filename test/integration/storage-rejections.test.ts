/**
 * Against a real VictoriaMetrics behind the fault gate: a 400 about the request is not a
 * bad line (the writer is refused, nothing is dead-lettered); a split isolates every rejected line
 * and lands every valid point at a cost proportional to the bad lines; a batch InfluxDB answers
 * 500 every time, while it takes other writes, is split the same way instead of blocking the
 * pipeline. Every test ends with the conservation law (storageSuite asserts it).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildReadiness, type StateDocument } from '../../src/state-document.js';
import { until } from '../helpers/poll.js';
import { Feeder, type StorageFixture, expectLanded, storageSuite, tickFrame } from '../helpers/storage-fixture.js';

/** /ready as the service computes it, for a feed that streams and this storage. */
function readiness(fx: StorageFixture) {
  const doc = {
    actors: {
      connection: { value: 'streaming', status: 'active', context: {} },
      writer: { value: fx.writer().getSnapshot().value, status: 'active', context: fx.writerContext() },
      drainer: { value: fx.drainerState(), status: 'active', context: {} },
      notifier: { value: 'waiting', status: 'active', context: {} },
    },
    spool: { error: fx.storage.writePath.spoolError, memoryPoints: fx.storage.writePath.memoryPoints() },
  } as unknown as StateDocument;
  return buildReadiness(doc, { instrumentsConfigured: false });
}

describe('storage: rejections that are not bad lines, and bad lines at scale', { timeout: 120_000, concurrency: true }, () => {
  const suite = storageSuite('tickpipe-storrej-');

  it('400 about the request (no org): influxDown.refused with the server message, nothing dead-lettered, /ready says why', async () => {
    await suite.withStorage('badrequest', {}, async (fx, gate) => {
      const feed = new Feeder(() => fx, ['NSE_EQ|REQ400A', 'NSE_EQ|REQ400B'], 1_734_000_000_000);
      await fx.waitWriter('influxUp');
      // InfluxDB 2's answer to a write without org, whatever the lines.
      gate.set({ status: 400, body: JSON.stringify({ code: 'invalid', message: 'Please provide either orgID or org' }) });
      feed.push(100);
      fx.storage.writePath.flush();
      await fx.waitWriter('influxDown.refused');
      const ctx = fx.writerContext();
      assert.equal(ctx['code'], 'INFLUX_BAD_REQUEST');
      assert.match(String(ctx['reason']), /Please provide either orgID or org/);
      assert.equal(fx.storage.spool.deadLetterCount(), 0, 'a request-level 400 dead-letters nothing');
      assert.equal(fx.stats.pointsDeadLettered, 0);
      assert.equal(fx.storage.spool.pendingPoints(), 200, 'every point stays spooled');
      assert.ok(gate.writes() <= 2, `no split of a request-level 400 (${gate.writes()} writes)`);
      const ready = readiness(fx);
      assert.equal(ready.ready, false);
      assert.ok(
        ready.reasons.some((r) => r.includes('InfluxDB refuses writes') && r.includes('Please provide either orgID or org')),
        ready.reasons.join('; '),
      );
      // Fixed (org set): after the refused delay a real write proves it, and everything lands.
      gate.set('pass');
      await fx.waitWriter('influxUp', 25_000);
      await fx.waitSpoolEmpty();
      await expectLanded(suite.vm, feed.sent, 'after the request was fixed');
      assert.equal(readiness(fx).ready, true);
    });
  });

  it('a 20,004-line chunk with 4 bad lines: exactly the 4 are dead-lettered, the 20,000 others land, in ~4·2·log2(n) requests', async (t) => {
    await suite.withStorage('split20k', { influx: { batchMaxPoints: 5000 }, spool: { drainChunkPoints: 20_000 } }, async (fx, gate) => {
      const keys = ['NSE_EQ|SPLIT1', 'NSE_EQ|SPLIT2', 'NSE_EQ|SPLIT3', 'NSE_EQ|SPLIT4'];
      const BAD = 'NSE_EQ|SPLITBAD';
      gate.rejectLines(/instrument_key=NSE_EQ\|SPLITBAD/);
      await fx.waitWriter('influxUp');
      gate.set('down');
      const sent = new Map<string, number[]>(keys.map((k) => [k, []]));
      const t0 = 1_734_100_000_000;
      for (let i = 1; i <= 4996 + 4; i++) {
        const ts = t0 + i;
        const prices: Record<string, number> = {};
        for (const k of keys) {
          prices[k] = 100 + (i % 7);
          sent.get(k)!.push(ts);
        }
        // Four bad lines spread over the chunk.
        if (i % 1250 === 600) prices[BAD] = 1;
        fx.storage.writePath.pushFrame(tickFrame(ts, prices));
        if (i === 1) await fx.waitWriter(/^influxDown\./);
      }
      fx.storage.writePath.flush();
      assert.equal(fx.storage.spool.pendingPoints(), 20_004);
      const before = gate.writes();
      gate.set('pass');
      await fx.waitSpoolEmpty(30_000);
      const requests = gate.writes() - before;
      assert.equal(fx.storage.spool.deadLetterCount(), 4, 'only the rejected lines');
      for (const d of fx.storage.spool.recentDeadLetters()) assert.match(d.line, /SPLITBAD/);
      assert.equal(fx.stats.pointsLanded, 20_000);
      // The drainer reports what landed, not the rejected lines (it used to say 20,004 drained).
      assert.equal(fx.stats.pointsDrained, 20_000);
      await until('the drainer idle', () => fx.drainerState() === 'idle');
      assert.equal((fx.drainer().getSnapshot().context as { drainedTotal: number }).drainedTotal, 20_000);
      t.diagnostic(`${requests} requests for a 20,004-line chunk with 4 bad lines`);
      // Each bad line costs about 2·log2(20,004) ≈ 30 requests: 4 of them well under 200.
      assert.ok(requests < 200, `${requests} requests for 4 bad lines`);
      await expectLanded(suite.vm, sent, 'the valid points of the split chunk', [BAD]);
    });
  });

  it('a batch answered 500 every time while others land: after INFLUX_5XX_SPLIT_AFTER attempts, its bad line is isolated, the rest lands', async () => {
    // One write lane: the poisoned line must share its batch with good ones (with two lanes its key could have a lane to itself).
    await suite.withStorage('poison500', { influx: { split5xxAfter: 3, batchMaxPoints: 20, writeLanes: 1 } }, async (fx, gate) => {
      const GOOD = 'NSE_EQ|POISONOK';
      const BAD = 'NSE_EQ|POISON500';
      // InfluxDB 2.0 answers a field-type conflict with a 500; /health stays fine.
      gate.intercept((lines) => (lines.some((l) => l.includes(BAD)) ? 500 : null));
      await fx.waitWriter('influxUp');
      const sent = new Map<string, number[]>([[GOOD, []]]);
      let ts = 1_734_200_000_000;
      const push = (n: number, poison = false) => {
        for (let i = 0; i < n; i++) {
          ts++;
          sent.get(GOOD)!.push(ts);
          fx.storage.writePath.pushFrame(tickFrame(ts, poison && i === 3 ? { [GOOD]: 100, [BAD]: 1 } : { [GOOD]: 100 }));
        }
      };
      push(40);
      await fx.waitSpoolEmpty();
      push(10, true);
      // Points behind it keep coming; they must not wait forever.
      push(200);
      await fx.waitSpoolEmpty(30_000);
      const dead = fx.storage.spool.recentDeadLetters();
      assert.equal(dead.length, 1, 'only the line InfluxDB cannot take');
      assert.match(dead[0].line, /POISON500/);
      assert.match(dead[0].reason, /500/);
      const fiveHundreds = gate.log().filter((w) => w.answer === 500 && w.lines > 1).length;
      assert.ok(fiveHundreds >= 3, `${fiveHundreds} whole-batch attempts before the split`);
      await expectLanded(suite.vm, sent, 'everything but the poisoned line', [BAD]);
      await until('writer up', () => fx.writerState() === 'influxUp');
    });
  });
});
