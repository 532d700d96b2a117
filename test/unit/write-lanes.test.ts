/**
 * Write lanes (INFLUX_WRITE_LANES): requests of different shards of series are in flight at once,
 * and a lane that fails never lets a series' newer write land before its older one, while the
 * other lane keeps landing. Real spool (SQLite file) and line protocol; the server is a fake that
 * holds or fails requests on command.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { StorageReport } from '../../machines/events.js';
import { shardHash } from '../../src/influx/line-protocol.js';
import type { WriteClient, WriteOutcome } from '../../src/influx/write-client.js';
import { createLogger } from '../../src/logger.js';
import { Spool } from '../../src/spool/spool.js';
import { Stats } from '../../src/stats.js';
import { WritePath } from '../../src/storage/write-path.js';
import { until } from '../helpers/poll.js';
import { tickFrame } from '../helpers/storage-fixture.js';

// Two keys in different lanes of two (checked below, so a change of the hash cannot void the test).
const A = 'NSE_EQ|P2';
const B = 'NSE_EQ|P1';
const T = 1_750_000_000_000;

class GatedInflux implements WriteClient {
  readonly stored: string[] = [];
  /** Requests waiting for an answer. */
  readonly held: Array<{ lines: string[]; answer: () => void }> = [];
  hold = false;
  /** Bodies holding this key are answered 503 while set. */
  failKey: string | null = null;

  write(body: Buffer | string): Promise<WriteOutcome> {
    const lines = body.toString().split('\n');
    const answer = (): WriteOutcome => {
      if (this.failKey !== null && lines.some((l) => l.includes(this.failKey!)))
        return { kind: 'unavailable', status: 503, message: 'InfluxDB answered 503' };
      this.stored.push(...lines);
      return { kind: 'ok' };
    };
    if (!this.hold) return Promise.resolve(answer());
    return new Promise((resolve) => this.held.push({ lines, answer: () => resolve(answer()) }));
  }

  probe(): Promise<void> {
    return Promise.resolve();
  }

  close(): void {}
}

const dir = mkdtempSync(join(tmpdir(), 'tickpipe-lanes-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function open(name: string, client: GatedInflux) {
  const stats = new Stats();
  const logger = createLogger('silent');
  const spool = new Spool({ path: join(dir, name), maxBytes: 1 << 30, fullPolicy: 'drop-oldest', stats, logger, lockTimeoutMs: 0 });
  const reports: StorageReport[] = [];
  const wp: WritePath = new WritePath({
    spool,
    client,
    stats,
    logger,
    batchMaxPoints: 1000,
    flushIntervalMs: 1_000_000,
    drainChunkPoints: 1000,
    extraTags: {},
    lanes: 2,
    report: (e) => {
      reports.push(e);
      // As the writer machine does: a failed write closes the route.
      if (e.type === 'WRITE_FAILED') wp.setRoute(false);
    },
  });
  return { stats, spool, wp, reports, conserved: () => stats.unaccounted(spool.pendingPoints()) === 0 };
}

const tsOf = (line: string) => Number(line.slice(line.lastIndexOf(' ') + 1));
const ofKey = (lines: string[], key: string) => lines.filter((l) => l.includes(`instrument_key=${key},`)).map(tsOf);

describe('write lanes', () => {
  it('the two keys used here fall in different lanes', () => {
    assert.notEqual(shardHash(A) % 2, shardHash(B) % 2);
  });

  it('two lanes have a request in flight at once, one per shard, each with only its own keys', async () => {
    const client = new GatedInflux();
    client.hold = true;
    const r = open('inflight.db', client);
    try {
      assert.equal(r.wp.laneCount(), 2);
      r.wp.setRoute(true);
      r.wp.pushFrame(tickFrame(T, { [A]: 1, [B]: 2 }));
      r.wp.flush();
      await until('both lanes sent', () => client.held.length === 2, { timeoutMs: 5000 });
      const keysOf = (lines: string[]) => new Set(lines.map((l) => l.slice(l.indexOf('instrument_key='), l.indexOf(',segment'))));
      assert.deepEqual(client.held.map((h) => [...keysOf(h.lines)]).sort(), [[`instrument_key=${B}`], [`instrument_key=${A}`]].sort());
      for (const h of client.held.splice(0)) h.answer();
      await until('landed', () => r.stats.pointsLanded === 2, { timeoutMs: 5000 });
      assert.equal(r.spool.pendingPoints(), 0);
      assert.ok(r.conserved());
    } finally {
      await r.wp.flushAndClose(1000);
      r.spool.close();
    }
  });

  it('lane A failing: lane B lands meanwhile; A replays its older point before its newer one', async () => {
    const client = new GatedInflux();
    client.failKey = A;
    const r = open('fail.db', client);
    try {
      r.wp.setRoute(true);
      r.wp.pushFrame(tickFrame(T + 1, { [A]: 1, [B]: 1 }));
      r.wp.flush();
      await until('lane A failed', () => r.reports.some((e) => e.type === 'WRITE_FAILED'), { timeoutMs: 5000 });
      await until('lane B landed', () => ofKey(client.stored, B).length === 1, { timeoutMs: 5000 });
      assert.deepEqual(ofKey(client.stored, A), [], 'nothing of A landed');
      assert.equal(r.spool.pendingPoints(), 1, "A's point waits in the spool");
      assert.ok(r.conserved(), 'conservation while A is down');

      // Newer points of both series while the route is closed: spooled behind.
      r.wp.pushFrame(tickFrame(T + 2, { [A]: 2, [B]: 2 }));
      r.wp.flush();
      assert.equal(r.spool.pendingPoints(), 3);

      client.failKey = null;
      r.wp.setRoute(true);
      await until('everything landed', () => r.spool.pendingPoints() === 0 && r.stats.pointsLanded === 4, { timeoutMs: 5000 });
      assert.deepEqual(ofKey(client.stored, A), [(T + 1) * 1000, (T + 2) * 1000], 'A in order');
      assert.deepEqual(ofKey(client.stored, B), [(T + 1) * 1000, (T + 2) * 1000], 'B in order');
      assert.ok(r.conserved(), 'conservation at the end');
      await until('WRITE_OK reported', () => r.reports.some((e) => e.type === 'WRITE_OK'), { timeoutMs: 3000 });
    } finally {
      await r.wp.flushAndClose(1000);
      r.spool.close();
    }
  });
});
