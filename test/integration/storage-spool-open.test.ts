/**
 * The spool is never thrown away unless proven corrupt. A real `sqlite3` process (the
 * Debian CLI an operator would use) holding a write lock, a second instance on the same
 * SPOOL_PATH, a read-only file: each waits with a clear log for a bounded time, then fails naming
 * the path and the fix, leaving the file (and its points) untouched. Dead letters stay within
 * DEAD_LETTER_MAX and their count is maintained across reopen.
 */
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { TickpipeError } from '../../src/errors.js';
import { PointBatch } from '../../src/influx/point-batch.js';
import { createLogger } from '../../src/logger.js';
import { Spool } from '../../src/spool/spool.js';
import { Stats } from '../../src/stats.js';
import { until } from '../helpers/poll.js';
import { Feeder, type LogLine, startStorage } from '../helpers/storage-fixture.js';

function openSpool(path: string, o: { lockTimeoutMs?: number; deadLetterMax?: number } = {}, logs: LogLine[] = []) {
  const stats = new Stats();
  const logger = createLogger('info', { write: (s: string) => void logs.push(JSON.parse(s) as LogLine) });
  const spool = new Spool({ path, maxBytes: 1 << 30, fullPolicy: 'drop-oldest', stats, logger, lockTimeoutMs: 1000, ...o });
  return { spool, stats, logs };
}

/** A spool file holding `points` points in one batch, closed. */
function spoolWith(path: string, points: number): void {
  const { spool } = openSpool(path);
  const batch = new PointBatch();
  for (let i = 0; i < points; i++) batch.add(`tick,instrument_key=NSE_EQ|LOCK ltp=1 ${1_735_000_000_000 + i}`, 1_735_000_000_000 + i);
  batch.keys.add('NSE_EQ|LOCK');
  spool.append(spool.takeSeq(), batch);
  spool.close();
}

/** Is a write lock on `path` held by someone else right now? */
function writeLocked(path: string): boolean {
  const db = new Database(path, { timeout: 0 });
  try {
    db.exec('BEGIN IMMEDIATE');
    db.exec('ROLLBACK');
    return false;
  } catch (err) {
    if ((err as { code?: string }).code === 'SQLITE_BUSY') return true;
    throw err;
  } finally {
    db.close();
  }
}

describe('spool open: locked, second instance, read-only, dead-letter bound', { timeout: 60_000 }, () => {
  let dir = '';
  const children: ChildProcessWithoutNullStreams[] = [];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tickpipe-spoolopen-'));
  });
  after(() => {
    for (const c of children) if (c.exitCode === null && c.pid) process.kill(c.pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  /** An operator's `sqlite3` session with an open write transaction on the spool. */
  async function holdWriteLock(path: string): Promise<ChildProcessWithoutNullStreams> {
    const child = spawn('sqlite3', [path]);
    children.push(child);
    // .timeout: our own lock probe (writeLocked) holds the lock for an instant; without a busy
    // timeout the session's BEGIN IMMEDIATE could meet it, fail, and never hold the lock.
    child.stdin.write(".timeout 5000\nBEGIN IMMEDIATE;\nINSERT INTO meta (key, value) VALUES ('operator', 'was here');\n");
    await until('sqlite3 holding the write lock', () => writeLocked(path), { timeoutMs: 15_000 });
    return child;
  }

  async function release(child: ChildProcessWithoutNullStreams): Promise<void> {
    child.stdin.end('ROLLBACK;\n.quit\n');
    if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
  }

  it('a sqlite3 session holding a write lock: retried with a warning, then SPOOL_LOCKED naming the path and the fix; nothing moved, no point lost', async () => {
    const path = join(dir, 'locked.db');
    spoolWith(path, 500);
    const holder = await holdWriteLock(path);
    const t0 = Date.now();
    const logs: LogLine[] = [];
    assert.throws(
      () => openSpool(path, { lockTimeoutMs: 1500 }, logs),
      (err: unknown) => {
        assert.ok(err instanceof TickpipeError);
        assert.equal(err.code, 'SPOOL_LOCKED');
        assert.ok(err.message.includes(path), err.message);
        assert.match(err.message, /end that session or stop that process/);
        assert.match(err.message, /not changed/);
        return true;
      },
    );
    assert.ok(Date.now() - t0 >= 1400, 'retried for the configured time');
    assert.ok(
      logs.some((l) => l.level === 40 && l.msg.includes(path) && /retrying for up to \d+ s/.test(l.msg)),
      'the wait is logged, with the path',
    );
    assert.ok(!logs.some((l) => /moved aside/.test(l.msg)));
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.includes('corrupt')),
      [],
      'not moved aside',
    );
    await release(holder);
    const again = openSpool(path);
    assert.equal(again.spool.pendingPoints(), 500, 'every point still there');
    assert.equal(again.stats.pointsRecoveredAtStart, 500);
    again.spool.close();
  });

  it('a lock released while waiting: the open succeeds after a logged wait', async () => {
    const path = join(dir, 'released.db');
    spoolWith(path, 10);
    // The operator ends the session a moment later, on their own (a pipeline outside this process:
    // opening blocks this thread while it retries, as it does before the service starts).
    const sqlite = spawn('sh', [
      '-c',
      `(printf ".timeout 5000\\nBEGIN IMMEDIATE;\\nINSERT INTO meta VALUES ('o','x');\\n"; sleep 1; printf "ROLLBACK;\\n") | sqlite3 '${path}'`,
    ]);
    children.push(sqlite);
    await until('sqlite3 holding the write lock', () => writeLocked(path), { timeoutMs: 15_000 });
    const o = openSpool(path, { lockTimeoutMs: 10_000 });
    assert.equal(o.spool.pendingPoints(), 10);
    assert.ok(
      o.logs.some((l) => l.level === 40 && l.msg.includes(path) && /SQLITE_BUSY/.test(l.msg) && /retrying/.test(l.msg)),
      'the wait is logged with the reason',
    );
    o.spool.close();
  });

  it('a second instance on the same SPOOL_PATH is refused at once; the first keeps working', () => {
    const path = join(dir, 'twice.db');
    const first = openSpool(path);
    try {
      assert.throws(
        () => openSpool(path),
        (err: unknown) =>
          err instanceof TickpipeError &&
          err.code === 'SPOOL_LOCKED' &&
          err.message.includes(path) &&
          /another tickpipe already uses the spool/.test(err.message) &&
          /own SPOOL_PATH/.test(err.message),
      );
      const batch = new PointBatch();
      batch.add('tick,instrument_key=A ltp=1 1', 1);
      first.spool.append(first.spool.takeSeq(), batch);
      assert.equal(first.spool.pendingPoints(), 1);
    } finally {
      first.spool.close();
    }
    // Released on close (and by the kernel if the process dies): the next start gets it.
    const next = openSpool(path);
    assert.equal(next.spool.pendingPoints(), 1);
    next.spool.close();
  });

  it('a read-only spool directory: SPOOL_FAILED naming the path and the fix, the file untouched', async (t) => {
    // Root ignores file modes: use a read-only bind mount, as a volume mounted read-only would be.
    const src = join(dir, 'rw');
    const ro = join(dir, 'ro');
    mkdirSync(src);
    mkdirSync(ro);
    spoolWith(join(src, 'spool.db'), 25);
    try {
      execFileSync('mount', ['--bind', src, ro]);
      execFileSync('mount', ['-o', 'remount,ro,bind', ro]);
    } catch {
      if (process.getuid?.() !== 0) {
        // Not root: plain file modes are enough.
        chmodSync(src, 0o555);
        t.diagnostic('mount not possible; using a read-only directory mode instead');
      } else throw new Error('mount --bind failed as root');
    }
    const roPath = readdirSync(ro).length > 0 ? join(ro, 'spool.db') : join(src, 'spool.db');
    try {
      assert.throws(
        () => openSpool(roPath, { lockTimeoutMs: 500 }),
        (err: unknown) =>
          err instanceof TickpipeError && err.message.includes(roPath) && /permissions|read-write|cannot be written/.test(err.message),
      );
    } finally {
      try {
        execFileSync('umount', [ro]);
      } catch {
        chmodSync(src, 0o755);
      }
    }
    const back = openSpool(join(src, 'spool.db'));
    assert.equal(back.spool.pendingPoints(), 25, 'the points are still there');
    back.spool.close();
  });

  it('a sqlite3 write lock at run time: batches wait in memory (said once, shown to the writer), then are spooled in order once it ends', async () => {
    const path = join(dir, 'runtime.db');
    const fx = startStorage({ spoolPath: path, influxUrl: undefined });
    try {
      const feed = new Feeder(() => fx, ['NSE_EQ|RUNLOCK'], 1_735_100_000_000);
      feed.push(30);
      fx.storage.writePath.flush();
      assert.equal(fx.storage.spool.pendingPoints(), 30);
      const holder = await holdWriteLock(path);
      feed.push(40);
      fx.storage.writePath.flush();
      feed.push(25);
      fx.storage.writePath.flush();
      assert.match(String(fx.storage.writePath.spoolError), /SQLITE_BUSY|locked/);
      assert.equal(fx.storage.writePath.memoryPoints(), 65, 'both batches wait in memory');
      assert.equal(fx.storage.spool.pendingPoints(), 30);
      await until('the writer told', () => /locked/.test(String(fx.writerContext()['spoolError'])));
      fx.assertConserved('while locked');
      await release(holder);
      await until('spooled once the lock is gone', () => fx.storage.writePath.spoolError === null, { timeoutMs: 5000 });
      assert.equal(fx.storage.spool.pendingPoints(), 95);
      assert.equal(fx.storage.writePath.memoryPoints(), 0);
      await until('the writer told again', () => fx.writerContext()['spoolError'] === null);
      const rows = fx.storage.spool.oldest(1000);
      const ts = rows.flatMap((r) => r.body.toString().split('\n')).map((l) => Number(l.slice(l.lastIndexOf(' ') + 1)));
      assert.deepEqual(
        ts,
        [...ts].sort((a, b) => a - b),
        'spooled in the order built',
      );
      assert.equal(fx.logs.filter((l) => l.level === 50 && /the spool cannot be written/.test(l.msg)).length, 1, 'said once');
      assert.ok(fx.logs.some((l) => /the spool takes writes again/.test(l.msg)));
      fx.assertConserved('after the lock');
    } finally {
      await fx.close(100);
    }
  });

  it('dead letters stay within DEAD_LETTER_MAX, the oldest deleted and counted; the count is kept, not recounted', () => {
    const path = join(dir, 'dead.db');
    const a = openSpool(path, { deadLetterMax: 5 });
    a.spool.deadLetter(['l1', 'l2', 'l3'], 'bad');
    a.spool.deadLetter(['l4', 'l5', 'l6', 'l7'], 'bad');
    assert.equal(a.spool.deadLetterCount(), 5);
    assert.equal(a.stats.pointsDeadLettered, 7, 'every rejected point counted once');
    assert.equal(a.stats.deadLettersPruned, 2);
    assert.deepEqual(
      a.spool
        .recentDeadLetters(10)
        .map((d) => d.line)
        .reverse(),
      ['l3', 'l4', 'l5', 'l6', 'l7'],
    );
    a.spool.close();
    const b = openSpool(path, { deadLetterMax: 5 });
    assert.equal(b.spool.deadLetterCount(), 5, 'read once at open');
    b.spool.close();
  });
});
