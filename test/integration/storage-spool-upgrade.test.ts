/**
 * A spool written by the previous version (schema 1: each batch's lines as TEXT) still replays
 * after the upgrade, in order, with nothing stranded: its rows are read as text and sent as bytes,
 * behind them the new BLOB rows follow, and the spool's byte count returns to zero. The old file
 * is built here by SQL, exactly as the previous version created it. Its rows carry no write lane:
 * they replay with one lane (whatever INFLUX_WRITE_LANES says) until the spool is empty.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type { WriteClient, WriteOutcome } from '../../src/influx/write-client.js';
import { createLogger } from '../../src/logger.js';
import { Spool } from '../../src/spool/spool.js';
import { Stats } from '../../src/stats.js';
import { WritePath } from '../../src/storage/write-path.js';
import { tickFrame } from '../helpers/storage-fixture.js';

/** Records every request body; answers 400 (a line error) to any body holding a BAD line, as InfluxDB does. */
class RecordingInflux implements WriteClient {
  readonly bodies: Buffer[] = [];
  readonly stored: string[] = [];

  write(body: Buffer | string): Promise<WriteOutcome> {
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    this.bodies.push(Buffer.from(bytes));
    const lines = bytes.toString('utf8').split('\n');
    const bad = lines.find((l) => l.includes('BAD'));
    if (bad !== undefined) return Promise.resolve({ kind: 'rejected', status: 400, message: `unable to parse '${bad}'` });
    this.stored.push(...lines);
    return Promise.resolve({ kind: 'ok' });
  }

  probe(): Promise<void> {
    return Promise.resolve();
  }

  close(): void {}
}

/** The previous version's schema, verbatim. */
const SCHEMA_1 = `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    seq INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    points INTEGER NOT NULL,
    first_ts INTEGER NOT NULL,
    last_ts INTEGER NOT NULL,
    keys TEXT NOT NULL,
    lines TEXT NOT NULL
  );
  CREATE INDEX batches_order ON batches (seq, id);
  CREATE TABLE dead_letters (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at INTEGER NOT NULL, reason TEXT NOT NULL, line TEXT NOT NULL);
  INSERT INTO meta (key, value) VALUES ('schema', '1');
`;

const T = 1_735_000_000_000;
const line = (key: string, i: number) => `tick,instrument_key=${key},segment=NSE_EQ ltp=${i}.5 ${(T + i) * 1000}`;

const dir = mkdtempSync(join(tmpdir(), 'tickpipe-spool-upgrade-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('a schema-1 spool (TEXT lines) after the upgrade', () => {
  it('replays its rows in order ahead of new ones, dead-letters a rejected old line as text, and ends empty', async () => {
    const path = join(dir, 'old.db');
    const old = new Database(path);
    old.pragma('journal_mode = WAL');
    old.exec(SCHEMA_1);
    const insert = old.prepare(
      'INSERT INTO batches (seq, created_at, points, first_ts, last_ts, keys, lines) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    const oldRows = [
      [line('NSE_EQ|OLD', 1), line('NSE_EQ|OLD', 2)],
      // Non-ASCII text: its size was counted in characters; it must still leave the count at zero.
      [line('NSE_EQ|ÜBER', 3), line('NSE_EQ|BAD', 4), line('NSE_EQ|OLD', 5)],
    ];
    oldRows.forEach((lines, i) => insert.run(i + 1, Date.now(), lines.length, T, T + 5, JSON.stringify(['NSE_EQ|OLD']), lines.join('\n')));
    old.close();

    const stats = new Stats();
    const logger = createLogger('silent');
    const spool = new Spool({ path, maxBytes: 1 << 30, fullPolicy: 'drop-oldest', stats, logger, lockTimeoutMs: 0 });
    const client = new RecordingInflux();
    const wp = new WritePath({
      spool,
      client,
      stats,
      logger,
      batchMaxPoints: 1000,
      flushIntervalMs: 1_000_000,
      drainChunkPoints: 1000,
      extraTags: {},
      lanes: 2,
      report: () => {},
    });
    try {
      assert.equal(wp.laneCount(), 1, 'rows written by another lane count wait: one lane until the spool is empty');
      assert.equal(spool.pendingPoints(), 5);
      assert.equal(
        spool.pendingBytes(),
        oldRows.reduce((n, l) => n + l.join('\n').length, 0),
        'old rows counted as before (characters)',
      );
      // A new batch is spooled behind the old rows (as a BLOB), before anything is sent.
      wp.pushFrame(tickFrame(T + 10, { 'NSE_EQ|NEW': 7.25 }));
      wp.flush();
      const types = new Database(path, { readonly: true });
      try {
        assert.deepEqual(types.prepare('SELECT typeof(lines) AS t FROM batches ORDER BY seq, id').all(), [
          { t: 'text' },
          { t: 'text' },
          { t: 'blob' },
        ]);
        assert.deepEqual(types.prepare("SELECT value FROM meta WHERE key = 'schema'").get(), { value: '2' });
      } finally {
        types.close();
      }

      wp.setDraining(true);
      wp.setRoute(true);
      const progress = await wp.drainChunk(10_000);
      wp.setDraining(false);

      assert.equal(progress.drained, 5, 'every point but the rejected one');
      assert.equal(spool.pendingPoints(), 0);
      assert.equal(spool.pendingBytes(), 0, 'the byte count returns to zero');
      assert.equal(stats.unaccounted(spool.pendingPoints()), 0, 'conservation');
      // The first request is the three rows as they are, joined: old text and new bytes alike.
      const expected = [
        ...oldRows.flat(),
        `tick,instrument_key=NSE_EQ|NEW,segment=NSE_EQ ltp=7.25,ltt=${T + 10}i,ltq=1i,cp=100 ${(T + 10) * 1000}`,
      ];
      assert.equal(client.bodies[0].toString('utf8'), expected.join('\n'));
      assert.deepEqual(
        client.stored.filter((l, i, all) => all.indexOf(l) === i),
        expected.filter((l) => !l.includes('BAD')),
        'every line but the rejected one landed, in spool order',
      );
      const dead = spool.recentDeadLetters(10);
      assert.equal(dead.length, 1);
      assert.equal(dead[0].line, line('NSE_EQ|BAD', 4), 'a dead letter stays a line of text');
    } finally {
      await wp.flushAndClose(1000);
      spool.close();
    }
  });
});
