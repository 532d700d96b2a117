/**
 * What the storage layer does with points InfluxDB will not take as they are (400 bad line, 413
 * too large, 422 partial write), with a full spool, a corrupt spool file, no INFLUX_URL, and
 * across a restart on the same spool: against a real VictoriaMetrics behind the fault gate, every
 * point is either read back exactly once or accounted for (dead letter, spool-full counter).
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { startInfluxGate } from '../helpers/influx-gate.js';
import { until } from '../helpers/poll.js';
import { Feeder, expectLanded, startStorage, storageSuite, tickFrame } from '../helpers/storage-fixture.js';

// Side by side (own keys, gate and spool each): VictoriaMetrics 1.79 shows a new series to export
// only ~10 s after its first write; in sequence those waits would add up.
describe('storage policies against VictoriaMetrics', { timeout: 90_000, concurrency: true }, () => {
  const suite = storageSuite('tickpipe-storpol-');

  it('a 500 half-way through splitting a rejected batch: the batch stays spooled whole, its bad line is dead-lettered once', async () => {
    await suite.withStorage('split500', {}, async (fx, gate) => {
      const GOOD = 'NSE_EQ|GOODS500';
      const BAD = 'NSE_EQ|BADS500';
      const bad = /instrument_key=NSE_EQ\|BADS500/;
      gate.rejectLines(bad);
      // Once the bad line has been isolated (a request of that line alone), the next request of
      // good lines only gets a 500: InfluxDB went away in the middle of the split.
      let isolated = false;
      let failed = false;
      gate.intercept((lines) => {
        if (lines.length === 1 && bad.test(lines[0])) isolated = true;
        else if (isolated && !failed && !lines.some((l) => bad.test(l))) {
          failed = true;
          return 500;
        }
        return null;
      });
      await fx.waitWriter('influxUp');
      const sent = new Map<string, number[]>([[GOOD, []]]);
      for (let i = 1; i <= 40; i++) {
        const ts = 1_733_100_000_000 + i;
        sent.get(GOOD)!.push(ts);
        fx.storage.writePath.pushFrame(tickFrame(ts, i === 3 ? { [GOOD]: 100 + i, [BAD]: 1 } : { [GOOD]: 100 + i }));
      }
      fx.storage.writePath.flush();
      await until('the 500 in the middle of the split', () => failed, { timeoutMs: 10_000 });
      await fx.waitSpoolEmpty();
      await expectLanded(suite.vm, sent, 'good points after the interrupted split', [BAD]);
      assert.equal(fx.storage.spool.deadLetterCount(), 1, 'the bad line is dead-lettered once, not again on the replay');
      assert.equal(fx.stats.pointsDeadLettered, 1);
    });
  });

  it('400 bad line: the good points of the batch land, the bad one is dead-lettered with the server message', async () => {
    const spoolPath = join(suite.dir, 'bad400.db');
    await suite.withStorage('bad400', {}, async (fx, gate) => {
      const GOOD = 'NSE_EQ|GOOD400';
      const BAD = 'NSE_EQ|BAD400';
      gate.rejectLines(/instrument_key=NSE_EQ\|BAD400/);
      await fx.waitWriter('influxUp');
      const sent = new Map<string, number[]>([[GOOD, []]]);
      for (let i = 1; i <= 40; i++) {
        const ts = 1_733_000_000_000 + i;
        sent.get(GOOD)!.push(ts);
        // One frame in the middle of the batch carries the line InfluxDB refuses.
        fx.storage.writePath.pushFrame(tickFrame(ts, i === 17 ? { [GOOD]: 100 + i, [BAD]: 1 } : { [GOOD]: 100 + i }));
      }
      await fx.waitSpoolEmpty();
      await expectLanded(suite.vm, sent, 'good points of the rejected batch', [BAD]);
      const dead = fx.storage.spool.recentDeadLetters();
      assert.equal(dead.length, 1);
      assert.match(dead[0].line, /^tick,instrument_key=NSE_EQ\|BAD400,/);
      assert.match(dead[0].reason, /^InfluxDB 400: unable to parse 'tick,instrument_key=NSE_EQ\|BAD400.*': invalid field format$/);
      assert.equal(fx.stats.pointsDeadLettered, 1);
      // The rejected point is not counted as written, nor reported (notified) as landed.
      assert.equal(fx.stats.pointsWritten, 40);
      await until('LANDED reports the 40 written points', () => fx.landed.reduce((n, l) => n + l.points, 0) === 40, { timeoutMs: 3000 });
      assert.equal(fx.writerState(), 'influxUp', 'a bad line is not an outage');
      assert.ok(fx.logs.some((l) => l.level === 50 && /dead-lettered 1 point/.test(l.msg)));
    });
    // Durable: the dead letter is in the spool file, for a person to look at.
    const db = new Database(spoolPath, { readonly: true });
    try {
      const rows = db.prepare('SELECT reason, line FROM dead_letters').all() as Array<{ reason: string; line: string }>;
      assert.equal(rows.length, 1);
      assert.match(rows[0].line, /BAD400/);
    } finally {
      db.close();
    }
  });

  it('413 above a body size: live batches and a replayed backlog are split until they fit; everything lands', async () => {
    // drainChunkPoints 400 against a limit of 8 lines: the replay must split a chunk 50-fold, as a
    // DRAIN_CHUNK_POINTS of 20000 would against a proxy that takes 400 lines.
    await suite.withStorage('large413', { spool: { drainChunkPoints: 400 } }, async (fx, gate) => {
      const feed = new Feeder(() => fx, ['NSE_EQ|BIG413'], 1_733_100_000_000);
      const tooLarge = {
        status: 413,
        linesAbove: 8,
        body: JSON.stringify({ code: 'request too large', message: 'unable to read data: points batch is too large' }),
      };
      await fx.waitWriter('influxUp');
      gate.set(tooLarge);
      feed.push(120);
      await fx.waitSpoolEmpty();
      assert.equal(fx.writerState(), 'influxUp', 'too large is not an outage');
      // A backlog, replayed by the drainer through the same limit.
      gate.set('down');
      feed.push(60);
      await fx.waitWriter(/^influxDown\./);
      feed.push(500);
      fx.storage.writePath.flush();
      gate.set(tooLarge);
      await fx.waitWriter('influxUp');
      await fx.waitSpoolEmpty();
      assert.ok(fx.stats.pointsDrained > 0, 'the drainer replayed the backlog');
      const dead = fx.storage.spool.recentDeadLetters(1);
      assert.equal(fx.storage.spool.deadLetterCount(), 0, `a size limit dead-letters nothing (${dead[0]?.reason})`);
      await expectLanded(suite.vm, feed.sent, 'split batches');
      const log = gate.log();
      assert.ok(log.some((w) => w.answer === 413));
      assert.ok(log.every((w) => w.answer !== 204 || w.lines <= 8));
    });
  });

  it('422 partial write (InfluxDB 2.7, beyond retention): the rejected points are dead-lettered, none lost silently', async () => {
    await suite.withStorage('partial422', {}, async (fx, gate) => {
      const GOOD = 'NSE_EQ|GOOD422';
      const OLD = 'NSE_EQ|OLD422';
      // InfluxDB 2.7 writes the points it can and answers 422 for the rest, naming only how many.
      gate.rejectLines(/instrument_key=NSE_EQ\|OLD422/, {
        status: 422,
        writeOthers: true,
        message: (bad) => `failure writing points to database: partial write: points beyond retention policy dropped=${bad.length}`,
      });
      await fx.waitWriter('influxUp');
      const sent = new Map<string, number[]>([[GOOD, []]]);
      for (let i = 1; i <= 60; i++) {
        const ts = 1_733_200_000_000 + i;
        sent.get(GOOD)!.push(ts);
        fx.storage.writePath.pushFrame(tickFrame(ts, i % 20 === 5 ? { [GOOD]: 100, [OLD]: 1 } : { [GOOD]: 100 }));
      }
      // What the write path does: 422 is classified like 400 ("rejected"), so the batch is split in
      // halves and each half sent again. Halves without a dropped point answer 204 (the good
      // points the 422 had already written are written again: same series and timestamp, so the
      // same point); a half with one answers 422 again, until each dropped point is alone and
      // dead-lettered with the server's message. Nothing is retried forever, nothing dropped unseen.
      await fx.waitSpoolEmpty();
      await expectLanded(suite.vm, sent, 'the points the partial write kept', [OLD]);
      const dead = fx.storage.spool.recentDeadLetters();
      assert.equal(dead.length, 3);
      for (const d of dead) {
        assert.match(d.line, /OLD422/);
        assert.equal(d.reason, 'InfluxDB 422: failure writing points to database: partial write: points beyond retention policy dropped=1');
      }
      assert.equal(fx.stats.pointsDeadLettered, 3);
      assert.equal(fx.stats.pointsWritten, 60, 'every point either written or dead-lettered, never both');
      await until('LANDED reports the 60 written points', () => fx.landed.reduce((n, l) => n + l.points, 0) === 60, { timeoutMs: 3000 });
      assert.equal(fx.writerState(), 'influxUp');
    });
  });

  for (const policy of ['drop-oldest', 'reject-newest'] as const) {
    it(`a full spool with SPOOL_FULL_POLICY=${policy}: the policy's points survive, the rest are counted and logged`, async () => {
      const key = `NSE_EQ|FULL${policy === 'drop-oldest' ? 'DROP' : 'REJECT'}`;
      // About three batches of 10 points fit in 4000 bytes.
      await suite.withStorage(
        `full-${policy}`,
        { influx: { batchMaxPoints: 10 }, spool: { maxBytes: 4000, fullPolicy: policy } },
        async (fx, gate) => {
          gate.set('down');
          await fx.waitWriter(/^influxDown\./);
          const feed = new Feeder(() => fx, [key], 1_733_300_000_000);
          feed.push(200);
          fx.storage.writePath.flush();
          const kept = fx.storage.spool.pendingPoints();
          assert.ok(kept >= 10 && kept < 200 && kept % 10 === 0, `whole batches kept (${kept})`);
          assert.ok(fx.storage.spool.pendingBytes() <= 4000);
          assert.equal(fx.stats.pointsDroppedSpoolFull, 200 - kept);
          const full = fx.logs.filter((l) => l.level === 50 && l['component'] === 'spool' && /spool is full/.test(l.msg));
          assert.ok(full.length >= 1, 'logged at error level');
          assert.ok(full[0].msg.includes(`SPOOL_FULL_POLICY=${policy}`));
          gate.set('pass');
          await fx.waitWriter('influxUp');
          await fx.waitSpoolEmpty();
          const all = feed.sent.get(key)!;
          const survivors = policy === 'drop-oldest' ? all.slice(-kept) : all.slice(0, kept);
          await expectLanded(suite.vm, new Map([[key, survivors]]), `the points ${policy} keeps`);
        },
      );
    });
  }

  it('a corrupt spool file: moved aside to <path>.corrupt-*, a fresh spool starts, writing works', async () => {
    const garbage = 'this is not an SQLite database\n'.repeat(200);
    writeFileSync(join(suite.dir, 'corrupt.db'), garbage);
    await suite.withStorage('corrupt', {}, async (fx) => {
      const aside = readdirSync(suite.dir).filter((f) => f.startsWith('corrupt.db.corrupt-'));
      assert.equal(aside.length, 1, `moved aside: ${readdirSync(suite.dir).join(', ')}`);
      assert.equal(readFileSync(join(suite.dir, aside[0]), 'utf8'), garbage, 'the old file is kept as it was');
      assert.ok(fx.logs.some((l) => l.level === 50 && l.msg.includes('moved aside') && l.msg.includes(aside[0])));
      assert.equal(fx.storage.spool.pendingPoints(), 0);
      await fx.waitWriter('influxUp');
      const feed = new Feeder(() => fx, ['NSE_EQ|CORRUPT'], 1_733_400_000_000);
      feed.push(80);
      await fx.waitSpoolEmpty();
      await expectLanded(suite.vm, feed.sent, 'written through the fresh spool');
      assert.equal(fx.storage.spool.integrityCheck(), 'ok');
    });
  });

  it('no INFLUX_URL: every point waits in the spool; reopened with the URL, all are delivered', async () => {
    const spoolPath = join(suite.dir, 'unconfigured.db');
    const key = 'NSE_EQ|NOURL';
    const first = startStorage({ spoolPath, influxUrl: undefined, influx: suite.influx });
    const feed = new Feeder(() => first, [key], 1_733_500_000_000);
    try {
      assert.equal(first.writerState(), 'influxDown.unconfigured');
      assert.equal(first.writerContext()['code'], 'INFLUX_NOT_CONFIGURED');
      feed.push(300);
      first.storage.writePath.flush();
      assert.equal(first.storage.spool.pendingPoints(), 300);
      assert.equal(first.drainerState(), 'paused');
    } finally {
      await first.close(200);
    }
    first.assertConserved('first run without a URL');
    await suite.withStorage('unconfigured', {}, async (fx) => {
      assert.equal(fx.storage.spool.pendingPoints(), 300, 'the same spool, reopened');
      assert.ok(fx.logs.some((l) => /spool reopened with 300 points/.test(l.msg)));
      await fx.waitWriter('influxUp');
      await fx.waitSpoolEmpty();
      assert.equal(fx.stats.pointsDrained, 300, 'replayed by the drainer');
      await expectLanded(suite.vm, feed.sent, 'the points spooled without a URL');
      await until('LANDED reported', () => fx.landed.reduce((n, l) => n + l.points, 0) === 300, { timeoutMs: 3000 });
    });
  });

  it('restart on the same spool: closed with points spooled while InfluxDB is down, reopened, they drain', async () => {
    const spoolPath = join(suite.dir, 'restart.db');
    const key = 'NSE_EQ|RESTART';
    const gate = await startInfluxGate(suite.vm.url);
    let fx = startStorage({ spoolPath, influxUrl: gate.url, influx: suite.influx });
    const feed = new Feeder(() => fx, [key], 1_733_600_000_000);
    try {
      await fx.waitWriter('influxUp');
      feed.push(100);
      await fx.waitSpoolEmpty();
      gate.set('down');
      feed.push(60);
      await fx.waitWriter(/^influxDown\./);
      feed.push(200);
      // Still batching when closed: close() puts it in the spool.
      feed.push(7);
      await fx.close(300);
      assert.equal(fx.storage.spool.pendingPoints(), 267, 'everything after the outage began stays spooled');
      fx.assertConserved('the first run');
      gate.set('pass');
      fx = startStorage({ spoolPath, influxUrl: gate.url, influx: suite.influx });
      assert.equal(fx.storage.spool.pendingPoints(), 267);
      await fx.waitWriter('influxUp');
      await fx.waitSpoolEmpty();
      await expectLanded(suite.vm, feed.sent, 'after the restart');
      // New batches sort after the replayed ones: seq continues from the spool.
      feed.push(30);
      await fx.waitSpoolEmpty();
      await expectLanded(suite.vm, feed.sent, 'new points after the restart');
      fx.assertConserved('after the restart (the recovered points count as built)');
      assert.equal(fx.stats.pointsRecoveredAtStart, 267);
    } finally {
      await fx.close(200);
      await gate.close();
    }
  });
});
