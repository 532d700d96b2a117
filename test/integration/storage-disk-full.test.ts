/**
 * A full disk, for real: the spool lives on a 2 MiB tmpfs (mounted here; this needs
 * root, which the test machine has; without it the test is skipped, saying why). While InfluxDB
 * is down the disk fills: batches wait in memory up to SPOOL_MEMORY_MAX_POINTS, then the oldest
 * are dropped and counted; the spool error is logged once and shown to the writer; nothing
 * crashes. When InfluxDB is back everything still held is delivered, per key in the order it was
 * built, although the full disk cannot even delete delivered rows. Closing on the full disk
 * exits cleanly and says what was lost. The conservation law holds throughout.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type InfluxGate, startInfluxGate } from '../helpers/influx-gate.js';
import { until } from '../helpers/poll.js';
import { Feeder, type StorageFixture, startStorage } from '../helpers/storage-fixture.js';
import { type TestStore, startTestStore } from '../helpers/test-store.js';

/** Per key, the timestamps of the points in the order they were first acknowledged. */
function firstAcked(gate: InfluxGate): Map<string, number[]> {
  const seen = new Set<string>();
  const out = new Map<string, number[]>();
  for (const w of gate.log()) {
    if (w.answer !== 204) continue;
    for (const line of w.body.split('\n')) {
      const key = /instrument_key=([^,]+)/.exec(line)?.[1];
      if (!key || !line.startsWith('tick,')) continue;
      // Microseconds on the wire (ms·1000 + an in-millisecond sequence); the frame's ms is the point.
      const ts = Math.floor(Number(line.slice(line.lastIndexOf(' ') + 1)) / 1000);
      if (seen.has(`${key}@${ts}`)) continue;
      seen.add(`${key}@${ts}`);
      if (!out.has(key)) out.set(key, []);
      out.get(key)!.push(ts);
    }
  }
  return out;
}

describe('storage on a full disk (2 MiB tmpfs)', { timeout: 90_000 }, () => {
  let dir = '';
  let mnt = '';
  let mounted = false;
  let vm: TestStore | undefined;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tickpipe-diskfull-'));
    mnt = join(dir, 'small');
    mkdirSync(mnt);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt]);
      mounted = true;
    } catch {
      mounted = false;
    }
    vm = await startTestStore();
  });
  after(async () => {
    if (mounted) execFileSync('umount', ['-l', mnt]);
    await vm?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('memory first, then counted drops; delivered in order once InfluxDB is back; close says what was lost', async (t) => {
    if (!mounted) {
      t.skip('cannot mount a tmpfs here (needs root)');
      return;
    }
    const gate = await startInfluxGate(vm!.url);
    const KEY = 'NSE_EQ|DISKFULL';
    let fx: StorageFixture | undefined;
    try {
      fx = startStorage({
        spoolPath: join(mnt, 'spool.db'),
        influxUrl: gate.url,
        influx: { ...influxOf(vm!), batchMaxPoints: 200 },
        spool: { memoryMaxPoints: 4000 },
      });
      const f = fx;
      const feed = new Feeder(() => f, [KEY], 1_736_000_000_000);
      await f.waitWriter('influxUp');
      gate.set('down');
      feed.push(1);
      f.storage.writePath.flush();
      await f.waitWriter(/^influxDown\./);
      // Fill the disk, then memory, then past it.
      await until(
        'the spool failing and points dropped past the memory bound',
        () => {
          feed.push(400);
          f.storage.writePath.flush();
          return f.stats.pointsDroppedDiskFull > 0;
        },
        { timeoutMs: 30_000, intervalMs: 1 },
      );
      feed.push(1000);
      f.storage.writePath.flush();
      f.assertConserved('while the disk is full');
      assert.match(String(f.storage.writePath.spoolError), /SQLITE_FULL|full/i);
      assert.match(String(f.writerContext()['spoolError']), /full/i, 'the writer is told');
      assert.ok(f.storage.writePath.memoryPoints() <= 4000, `memory bounded (${f.storage.writePath.memoryPoints()})`);
      const errors = f.logs.filter((l) => l.level === 50);
      assert.equal(errors.filter((l) => /the spool cannot be written/.test(l.msg)).length, 1, 'logged once per change, not per flush');
      const lostLogs = errors.filter((l) => /^lost \d+ point/.test(l.msg));
      assert.ok(lostLogs.length >= 1 && lostLogs.length <= 3, `drops said at a bounded rate (${lostLogs.length})`);
      assert.ok(lostLogs[0]['points'] !== undefined && String(lostLogs[0].msg).includes('pointsDroppedDiskFull'));

      // InfluxDB back: the spool's rows are delivered (not deletable yet), then memory, in order.
      gate.set('pass');
      await f.waitWriter('influxUp');
      await until(
        'everything still held delivered',
        () => f.storage.writePath.memoryPoints() === 0 && f.stats.pointsBuffered === 0 && gate.log().at(-1)?.answer === 204,
        { timeoutMs: 30_000 },
      );
      feed.push(50);
      f.storage.writePath.flush();
      await until('the last points acknowledged', () => (firstAcked(gate).get(KEY) ?? []).includes(feed.sent.get(KEY)!.at(-1)!), {
        timeoutMs: 15_000,
      });
      const acked = firstAcked(gate).get(KEY)!;
      for (let i = 1; i < acked.length; i++) assert.ok(acked[i - 1] < acked[i], `order broken at ${i}: ${acked[i - 1]} then ${acked[i]}`);
      const sent = new Set(feed.sent.get(KEY));
      assert.ok(acked.every((ts) => sent.has(ts)));
      assert.equal(acked.length + f.stats.pointsDroppedDiskFull, feed.total(), 'every point acknowledged or counted as dropped');
      f.assertConserved('after delivery');

      // Down again on the still-full disk, then shut down: clean, and it says what was lost.
      gate.set('down');
      feed.push(300);
      f.storage.writePath.flush();
      await f.waitWriter(/^influxDown\./);
      feed.push(300);
      await f.close(300);
      f.assertConserved('after close on a full disk');
      assert.ok(f.stats.pointsDroppedShutdown > 0, 'what only memory held is counted');
      assert.ok(
        f.logs.some((l) => l.level === 50 && /pointsDroppedShutdown/.test(l.msg)),
        'and said',
      );
      assert.ok(f.logs.some((l) => /storage closed: \d+ point\(s\) stay spooled/.test(l.msg)));
    } finally {
      await fx?.close(100);
      await gate.close();
    }
  });
});

function influxOf(vm: TestStore) {
  const { INFLUX_TOKEN: token, INFLUX_ORG: org, INFLUX_BUCKET: bucket } = vm.influxEnv;
  return { token, org, bucket };
}
