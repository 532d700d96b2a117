/**
 * The spool: a write-ahead queue of line-protocol batches in SQLite (better-sqlite3, WAL mode).
 * Every batch is appended here before it is sent, in one transaction, and deleted only after
 * InfluxDB answered 2xx; so a crash loses at most what was still in memory. Rows replay in `seq`
 * order (seq is given at batch creation, so a batch that failed late still sorts before newer
 * ones). Rejected points go to `dead_letters` with the server's message.
 *
 * A batch is one BLOB: the bytes the write path built and sends live, sent as they are when
 * replayed (split into lines only when InfluxDB rejects some). Spools written before (schema 1)
 * hold TEXT; SQLite is dynamically typed, so such rows are read as strings, turned into bytes and
 * replayed the same way: nothing is stranded by an upgrade.
 *
 * The spool is bounded by SPOOL_MAX_MB of line protocol. At the bound, `drop-oldest` deletes
 * the oldest batches, `reject-newest` refuses the new one; either way the points are counted
 * (stats.pointsDroppedSpoolFull) and logged at error level: never a silent drop.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { SpoolFullPolicy } from '../config.js';
import { TickpipeError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Stats } from '../stats.js';
import { SpoolCorruptError, openSpoolFile, takeInstanceLock } from './spool-open.js';

export interface SpoolRow {
  id: number;
  seq: number;
  points: number;
  firstTs: number;
  lastTs: number;
  keys: string[];
  /** The batch's line protocol, lines separated by `\n`: the bytes sent as they are. */
  body: Buffer;
  /** What the row counts in the spool's size (SPOOL_MAX_MB): SQLite's length() of it. */
  bytes: number;
  /** The write lane (shard of series) it replays in. */
  shard: number;
}

const NEWLINE = Buffer.from('\n');

/**
 * A body the spool holds (Spool.recent) and how to give its memory back (SpoolBatch.keepBytes).
 * giveBack is called only once the row's delete committed after InfluxDB took it (retire, remove):
 * then no request reads it. Not when drop-oldest deletes a row (it may be in flight), nor when
 * holding stops (the same), nor when the delete fails (the row may be sent again).
 */
interface HeldBody {
  body: Buffer;
  giveBack: (() => void) | undefined;
}

/** What `append` stores: a PointBatch (src/influx/point-batch.ts) or anything shaped like one. */
export interface SpoolBatch {
  body(): Buffer;
  points: number;
  firstTs: number;
  lastTs: number;
  keys: Iterable<string>;
  /**
   * The spool keeps a reference to body() (see Spool.recent): its memory must not be reused until
   * the spool calls the function returned, when the row was deleted after InfluxDB took it.
   */
  keepBytes?(): () => void;
}

/**
 * The columns of a SpoolRow but its body; `bytes` is what the row counts in the spool's size
 * (characters for a schema-1 TEXT row, as counted then). SQLite reads a BLOB's length from the
 * record header, without its overflow pages.
 */
const ROW_COLUMNS = 'id, seq, points, first_ts, last_ts, keys, length(lines) AS bytes, shard';

/**
 * Bodies of just-appended rows kept in memory (Spool.recent) only while their shard holds at most
 * this many rows: then the row is about to be sent. Behind a backlog (an outage) it would wait
 * long, and holding its bytes would only cost memory.
 */
const RECENT_ROWS_PER_SHARD = 4;
/** And at most this many bytes in all. */
const RECENT_MAX_BYTES = 32 * 1024 * 1024;

/** Joins rows' bodies into one request body (lines separated by `\n`, as within a row). */
export function joinBodies(rows: readonly SpoolRow[]): Buffer {
  if (rows.length === 1) return rows[0].body;
  const parts: Buffer[] = [];
  for (const r of rows) {
    if (parts.length > 0) parts.push(NEWLINE);
    parts.push(r.body);
  }
  return Buffer.concat(parts);
}

export interface SpoolOptions {
  path: string;
  maxBytes: number;
  fullPolicy: SpoolFullPolicy;
  /** How long a locked, busy or unwritable spool is retried at open before giving up (default 30 s). */
  lockTimeoutMs?: number;
  /** Dead letters kept at most (the oldest are deleted past it, counted in stats.deadLettersPruned). */
  deadLetterMax?: number;
  stats: Stats;
  logger: Logger;
}

/**
 * SQLite waits this long for a lock at run time (blocking the thread); past it a write fails and
 * the batch waits in memory. Short: only another writer (an operator's open transaction) blocks.
 */
const BUSY_TIMEOUT_MS = 50;

/** 2: `batches.lines` holds BLOBs (1: TEXT, still read). */
const SCHEMA_VERSION = '2';
/** Versions this code reads (and upgrades to SCHEMA_VERSION in place: the columns are the same). */
const READS_VERSIONS = new Set(['1', '2']);

/** The time range of dropped points, for the log line that says what was lost. */
function range(firstTs: number, lastTs: number): string {
  return firstTs <= lastTs ? `(timestamps ${new Date(firstTs).toISOString()} to ${new Date(lastTs).toISOString()})` : '';
}

export class Spool {
  private db!: Database.Database;
  private pending = 0;
  private bytes = 0;
  private rows = 0;
  /** Rows and points per shard (index: shard), maintained like the totals. */
  private shardRows: number[] = [];
  private shardPoints: number[] = [];
  private nextSeq = 1;
  private insert!: Database.Statement;
  private deleteRow!: Database.Statement;
  private insertDead!: Database.Statement;
  private readBody!: Database.Statement;
  /**
   * The bodies of rows this process appended, by row id, until the row is deleted. A batch is
   * spooled and then, at once, sent: its bytes are still in memory, and reading them back from
   * SQLite cost ~8% of the storage worker's time. Bounded (RECENT_ROWS_PER_SHARD,
   * RECENT_MAX_BYTES); a row not held here is read from the file. Ids are never reused
   * (AUTOINCREMENT), so a held body is always its row's.
   */
  private readonly recent = new Map<number, HeldBody>();
  private recentBytes = 0;
  /** Whether append keeps bodies (holdRecent): not while InfluxDB is down. */
  private holding = true;
  /** `oldest`'s queries by shape (see oldestStatement), prepared on first use. */
  private oldestStatements: Array<Database.Statement | undefined> = [];
  private lastFullLog = 0;
  private deadCount = 0;
  private lock: { release(): void } | undefined;

  constructor(private readonly opts: SpoolOptions) {
    this.open();
  }

  /** Opens the file (see spool-open.ts: only a corrupt file is ever moved aside). */
  private open(): void {
    const { path, logger } = this.opts;
    if (path !== ':memory:') {
      mkdirSync(dirname(path), { recursive: true });
      this.lock = takeInstanceLock(path, this.opts.lockTimeoutMs ?? 30_000, logger);
    }
    try {
      this.db = openSpoolFile({
        path,
        lockTimeoutMs: this.opts.lockTimeoutMs ?? 30_000,
        logger,
        openAt: (p) => this.openAt(p),
      });
    } catch (err) {
      this.lock?.release();
      throw err;
    }
    const totals = this.db
      .prepare(
        'SELECT COUNT(*) AS rows, COALESCE(SUM(points),0) AS points, COALESCE(SUM(length(lines)),0) AS bytes, COALESCE(MAX(seq),0) AS maxSeq FROM batches',
      )
      .get() as {
      rows: number;
      points: number;
      bytes: number;
      maxSeq: number;
    };
    this.rows = totals.rows;
    this.pending = totals.points;
    for (const r of this.db.prepare('SELECT shard, COUNT(*) AS rows, SUM(points) AS points FROM batches GROUP BY shard').all() as Array<{
      shard: number;
      rows: number;
      points: number;
    }>) {
      this.shardRows[r.shard] = r.rows;
      this.shardPoints[r.shard] = r.points;
    }
    this.bytes = totals.bytes;
    this.nextSeq = totals.maxSeq + 1;
    // Counted once here, then maintained: COUNT(*) per /state request would cost ~25 ms at 300k rows.
    this.deadCount = (this.db.prepare('SELECT COUNT(*) AS n FROM dead_letters').get() as { n: number }).n;
    // Built by an earlier run: part of this run's conservation law from now on.
    this.opts.stats.pointsBuilt += this.pending;
    this.opts.stats.pointsRecoveredAtStart += this.pending;
    if (this.pending > 0)
      logger.info({ points: this.pending, batches: this.rows }, `spool reopened with ${this.pending} points waiting for InfluxDB`);
  }

  private openAt(path: string): Database.Database {
    // No busy wait at open: openSpoolFile retries itself, logging why.
    const db = new Database(path, { timeout: 0 });
    try {
      // A batch is ~1.4 MB of text: with 64 KiB pages it spans ~22 overflow pages, not ~350, and
      // Spool.append runs ~35% faster (test/bench/spool.bench.ts). Takes effect only when the file
      // is created (SQLite ignores it afterwards, and in WAL mode), so existing spools keep 4 KiB.
      db.pragma('page_size = 65536');
      db.pragma('journal_mode = WAL');
      // NORMAL in WAL mode survives a crash of the process (SIGKILL); FULL would also survive
      // power loss at a large cost per batch.
      db.pragma('synchronous = NORMAL');
      db.exec(`
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS batches (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          seq INTEGER NOT NULL,
          created_at INTEGER NOT NULL,
          points INTEGER NOT NULL,
          first_ts INTEGER NOT NULL,
          last_ts INTEGER NOT NULL,
          keys TEXT NOT NULL,
          lines BLOB NOT NULL,
          shard INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX IF NOT EXISTS batches_order ON batches (seq, id);
        CREATE TABLE IF NOT EXISTS dead_letters (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          created_at INTEGER NOT NULL,
          reason TEXT NOT NULL,
          line TEXT NOT NULL
        );
      `);
      const version = db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as { value: string } | undefined;
      if (version && !READS_VERSIONS.has(version.value)) {
        throw new TickpipeError(
          'SPOOL_FAILED',
          `spool ${path} has schema ${version.value}, this tickpipe reads ${SCHEMA_VERSION}: run the tickpipe version that wrote it until the spool is empty`,
        );
      }
      // Schema 1 had no shard: its rows are shard 0 (replayed by one lane, see adoptLanes).
      const columns = db.pragma('table_info(batches)') as Array<{ name: string }>;
      if (!columns.some((c) => c.name === 'shard')) db.exec('ALTER TABLE batches ADD COLUMN shard INTEGER NOT NULL DEFAULT 0');
      db.exec('CREATE INDEX IF NOT EXISTS batches_shard_order ON batches (shard, seq, id)');
      // An older tickpipe refuses a version it does not know, with a message, rather than misreading BLOBs.
      db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', ?)").run(SCHEMA_VERSION);
      const check = db.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw new SpoolCorruptError(`integrity check failed: ${String(check)}`);
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      this.insert = db.prepare(
        'INSERT INTO batches (seq, created_at, points, first_ts, last_ts, keys, lines, shard) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      );
      this.deleteRow = db.prepare('DELETE FROM batches WHERE id = ?');
      this.readBody = db.prepare('SELECT lines FROM batches WHERE id = ?');
      this.insertDead = db.prepare('INSERT INTO dead_letters (created_at, reason, line) VALUES (?, ?, ?)');
      return db;
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /** A sequence number for a batch being built: rows replay in this order. */
  takeSeq(): number {
    return this.nextSeq++;
  }

  /**
   * Appends a batch (one transaction). Returns false when the spool is full and the policy
   * refused it. Throws TickpipeError('SPOOL_FAILED') when the disk write fails.
   */
  append(seq: number, batch: SpoolBatch, shard = 0): boolean {
    const body = batch.body();
    const { points, firstTs, lastTs } = batch;
    if (!this.makeRoom(body.length, points, firstTs, lastTs)) return false;
    let id: number;
    try {
      const res = this.insert.run(
        seq,
        Date.now(),
        points,
        Math.trunc(firstTs),
        Math.trunc(lastTs),
        JSON.stringify([...batch.keys]),
        body,
        shard,
      );
      id = Number(res.lastInsertRowid);
    } catch (err) {
      throw new TickpipeError('SPOOL_FAILED', `cannot write to the spool ${this.opts.path}: ${(err as Error).message}`, { cause: err });
    }
    this.count(shard, 1, points);
    this.bytes += body.length;
    if (this.holding && (this.shardRows[shard] ?? 0) <= RECENT_ROWS_PER_SHARD && this.recentBytes + body.length <= RECENT_MAX_BYTES) {
      this.recent.set(id, { body, giveBack: batch.keepBytes?.() });
      this.recentBytes += body.length;
    }
    return true;
  }

  /**
   * Whether appended bodies are kept (see `recent`): the write path turns it off while InfluxDB is
   * down, and that lets go of those already kept. A row waits out the outage then, and its body
   * would only hold memory (~16 MB of RSS at 10,000 updates/s, measured in the e2e bench); it is
   * read from the file when it is replayed.
   */
  holdRecent(on: boolean): void {
    this.holding = on;
    if (on) return;
    this.recent.clear();
    this.recentBytes = 0;
  }

  /** Bytes of the bodies kept in memory (for tests). */
  get heldBytes(): number {
    return this.recentBytes;
  }

  /**
   * Drops a deleted row's body from `recent`. Always safe: a row not held is read from the file.
   * Returns how to give its memory back, for the caller to call once InfluxDB took the row and
   * the delete committed (HeldBody).
   */
  private forget(id: number): (() => void) | undefined {
    const held = this.recent.get(id);
    if (held === undefined) return undefined;
    this.recent.delete(id);
    this.recentBytes -= held.body.length;
    return held.giveBack;
  }

  /** A row's body: held since its append, or read from the file. */
  private bodyOf(id: number): Buffer {
    const held = this.recent.get(id);
    if (held !== undefined) return held.body;
    const row = this.readBody.get(id) as { lines: Buffer | string } | undefined;
    if (row === undefined) throw new TickpipeError('SPOOL_FAILED', `spool row ${id} vanished while it was read from ${this.opts.path}`);
    // A schema-1 row holds TEXT.
    return typeof row.lines === 'string' ? Buffer.from(row.lines, 'utf8') : row.lines;
  }

  private makeRoom(bytes: number, points: number, firstTs: number, lastTs: number): boolean {
    const { maxBytes, fullPolicy, stats } = this.opts;
    if (this.bytes + bytes <= maxBytes) return true;
    if (fullPolicy === 'reject-newest' || bytes > maxBytes) {
      stats.pointsDroppedSpoolFull += points;
      this.logFull(
        `spool is full (${this.bytes} of ${maxBytes} bytes): ${points} new points ${range(firstTs, lastTs)} refused (SPOOL_FULL_POLICY=reject-newest)`,
      );
      return false;
    }
    let dropped = 0;
    let from = Infinity;
    let to = -Infinity;
    const oldest = this.db.prepare(
      'SELECT id, points, length(lines) AS bytes, first_ts, last_ts, shard FROM batches ORDER BY seq, id LIMIT 64',
    );
    const tx = this.db.transaction(() => {
      while (this.bytes + bytes > maxBytes && this.rows > 0) {
        const victims = oldest.all() as Array<{
          id: number;
          points: number;
          bytes: number;
          first_ts: number;
          last_ts: number;
          shard: number;
        }>;
        if (victims.length === 0) break;
        for (const v of victims) {
          if (this.bytes + bytes <= maxBytes) break;
          this.deleteRow.run(v.id);
          this.forget(v.id);
          this.count(v.shard, -1, -v.points);
          this.bytes -= v.bytes;
          dropped += v.points;
          from = Math.min(from, v.first_ts);
          to = Math.max(to, v.last_ts);
        }
      }
    });
    this.guarded('cannot make room in', tx);
    stats.pointsDroppedSpoolFull += dropped;
    this.logFull(
      `spool is full (max ${maxBytes} bytes): dropped the ${dropped} oldest points ${range(from, to)} to make room (SPOOL_FULL_POLICY=drop-oldest)`,
    );
    return true;
  }

  private logFull(message: string): void {
    const now = Date.now();
    // Loud, but once per 10 s: a full spool during a long outage would otherwise flood the log.
    if (now - this.lastFullLog < 10_000) return;
    this.lastFullLog = now;
    this.opts.logger.error({ droppedTotal: this.opts.stats.pointsDroppedSpoolFull }, `${message}; raise SPOOL_MAX_MB or fix InfluxDB`);
  }

  /**
   * The oldest rows (after `after`, in replay order), up to about `maxPoints` points (at least one
   * row). A row of a schema-1 spool holds TEXT: it comes back as bytes like any other.
   */
  oldest(maxPoints: number, after?: { seq: number; id: number }, shard?: number): SpoolRow[] {
    const out: SpoolRow[] = [];
    let points = 0;
    const stmt = this.oldestStatement(after !== undefined, shard !== undefined);
    const args: number[] = [];
    if (shard !== undefined) args.push(shard);
    if (after) args.push(after.seq, after.id);
    const it = stmt.iterate(...args) as IterableIterator<{
      id: number;
      seq: number;
      points: number;
      first_ts: number;
      last_ts: number;
      keys: string;
      bytes: number;
      shard: number;
    }>;
    const metas = [];
    for (const r of it) {
      if (metas.length > 0 && points + r.points > maxPoints) break;
      metas.push(r);
      points += r.points;
    }
    // Bodies after the iteration: better-sqlite3 runs no other statement on a connection while one iterates.
    for (const r of metas)
      out.push({
        id: r.id,
        seq: r.seq,
        points: r.points,
        firstTs: r.first_ts,
        lastTs: r.last_ts,
        keys: JSON.parse(r.keys) as string[],
        body: this.bodyOf(r.id),
        bytes: r.bytes,
        shard: r.shard,
      });
    return out;
  }

  /**
   * The replay query for one shape (after a row or from the start, one shard or all), prepared
   * once: the drain asks for the next rows every request, and preparing cost ~1.5% of the
   * storage worker's time while draining.
   */
  private oldestStatement(after: boolean, inShard: boolean): Database.Statement {
    const slot = (after ? 2 : 0) + (inShard ? 1 : 0);
    let stmt = this.oldestStatements[slot];
    if (stmt === undefined) {
      const where = [inShard ? 'shard = ?' : '', after ? '(seq, id) > (?, ?)' : ''].filter(Boolean).join(' AND ');
      stmt = this.db.prepare(`SELECT ${ROW_COLUMNS} FROM batches ${where ? `WHERE ${where} ` : ''}ORDER BY seq, id`);
      this.oldestStatements[slot] = stmt;
    }
    return stmt;
  }

  /**
   * Retires rows InfluxDB has answered for: deletes them and keeps the lines it rejected as dead
   * letters, in one transaction, so a point is never both pending and dead-lettered. Throws
   * TickpipeError('SPOOL_FAILED') when it cannot (the rows then stay and are sent again: harmless).
   */
  retire(rows: readonly SpoolRow[], rejected: ReadonlyArray<{ lines: readonly string[]; why: string }>): void {
    let release: Array<() => void> = [];
    this.guarded('cannot retire delivered rows in', () =>
      this.db.transaction(() => {
        release = this.removeTx(rows);
        for (const r of rejected) this.deadLetter(r.lines, r.why);
      })(),
    );
    // Committed (guarded throws otherwise): the held bodies' memory is free for new batches.
    for (const giveBack of release) giveBack();
  }

  /** Deletes rows that InfluxDB acknowledged (one transaction). Throws TickpipeError('SPOOL_FAILED') when it cannot. */
  remove(rows: readonly SpoolRow[]): void {
    let release: Array<() => void> = [];
    this.guarded('cannot delete delivered rows from', () => {
      release = this.removeTx(rows);
    });
    for (const giveBack of release) giveBack();
  }

  /**
   * Runs a transaction that moves the counters; if SQLite rolls it back (SQLITE_FULL at commit),
   * the counters go back too, so they always describe the file.
   */
  private guarded(what: string, fn: () => void): void {
    const st = this.opts.stats;
    const shards = [[...this.shardRows], [...this.shardPoints]];
    const before = [
      this.rows,
      this.pending,
      this.bytes,
      this.deadCount,
      st.pointsDeadLettered,
      st.deadLettersPruned,
      st.pointsDroppedSpoolFull,
    ];
    try {
      fn();
    } catch (err) {
      [this.rows, this.pending, this.bytes, this.deadCount, st.pointsDeadLettered, st.deadLettersPruned, st.pointsDroppedSpoolFull] =
        before;
      [this.shardRows, this.shardPoints] = shards;
      throw err instanceof TickpipeError
        ? err
        : new TickpipeError('SPOOL_FAILED', `${what} the spool ${this.opts.path}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Deletes delivered rows (one transaction); returns how to give their held bodies' memory back once it committed. */
  private removeTx(rows: readonly SpoolRow[]): Array<() => void> {
    const release: Array<() => void> = [];
    const tx = this.db.transaction(() => {
      for (const r of rows) {
        const res = this.deleteRow.run(r.id);
        // Forgotten even if the transaction rolls back: the body is then read from the file.
        const giveBack = this.forget(r.id);
        if (giveBack !== undefined) release.push(giveBack);
        if (res.changes > 0) {
          this.count(r.shard, -1, -r.points);
          this.bytes -= r.bytes;
        }
      }
    });
    tx();
    return release;
  }

  /**
   * Keeps rejected lines with the server's message, within DEAD_LETTER_MAX rows (oldest deleted
   * first, counted). Throws TickpipeError('SPOOL_FAILED') when the disk write fails.
   */
  deadLetter(lines: readonly string[], reason: string): void {
    const now = Date.now();
    const max = this.opts.deadLetterMax ?? 100_000;
    const excess = Math.max(0, this.deadCount + lines.length - max);
    const tx = this.db.transaction(() => {
      if (excess > 0) this.db.prepare('DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters ORDER BY id LIMIT ?)').run(excess);
      for (const line of lines) this.insertDead.run(now, reason.slice(0, 2000), line);
    });
    try {
      tx();
    } catch (err) {
      throw new TickpipeError('SPOOL_FAILED', `cannot write dead letters to the spool ${this.opts.path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const pruned = Math.min(excess, this.deadCount);
    this.deadCount += lines.length - pruned;
    this.opts.stats.pointsDeadLettered += lines.length;
    if (pruned > 0) {
      this.opts.stats.deadLettersPruned += pruned;
      this.logFull(`dead letters reached DEAD_LETTER_MAX (${max}): deleted the ${pruned} oldest`);
    }
  }

  /** Points waiting (of one shard, when given). */
  pendingPoints(shard?: number): number {
    return shard === undefined ? this.pending : (this.shardPoints[shard] ?? 0);
  }

  /** Rows waiting (of one shard, when given). */
  pendingBatches(shard?: number): number {
    return shard === undefined ? this.rows : (this.shardRows[shard] ?? 0);
  }

  private count(shard: number, rows: number, points: number): void {
    this.rows += rows;
    this.pending += points;
    this.shardRows[shard] = (this.shardRows[shard] ?? 0) + rows;
    this.shardPoints[shard] = (this.shardPoints[shard] ?? 0) + points;
  }

  /**
   * The number of write lanes this run may use: `wanted`, unless rows wait that were spooled with
   * another lane count (their shards mean other series): then 1, so every row replays in one
   * (seq, id) order and no series is ever split across lanes. Recorded in the file.
   */
  adoptLanes(wanted: number): number {
    const row = this.db.prepare("SELECT value FROM meta WHERE key = 'lanes'").get() as { value: string } | undefined;
    const recorded = row === undefined ? 1 : Number(row.value);
    const lanes = this.rows === 0 || recorded === wanted ? wanted : 1;
    if (lanes !== wanted)
      this.opts.logger.warn(
        { wanted, spooledWith: recorded, pendingBatches: this.rows },
        `the spool holds batches written with ${recorded} write lane(s): this run uses 1 lane, so the order of every series holds; INFLUX_WRITE_LANES=${wanted} takes effect at a start with an empty spool`,
      );
    try {
      // Must be recorded: the next start decides from it whether the waiting rows' shards still mean the same lanes.
      this.db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('lanes', ?)").run(String(lanes));
    } catch (err) {
      throw new TickpipeError(
        'SPOOL_FAILED',
        `cannot record the write lane count in the spool ${this.opts.path}: ${(err as Error).message}; check that nothing else writes to it (a sqlite3 session with an open transaction) and start again`,
        { cause: err },
      );
    }
    return lanes;
  }

  pendingBytes(): number {
    return this.bytes;
  }

  oldestCreatedAt(): number | null {
    const r = this.db.prepare('SELECT created_at FROM batches ORDER BY seq, id LIMIT 1').get() as { created_at: number } | undefined;
    return r?.created_at ?? null;
  }

  /** Rows in dead_letters (maintained, not counted per call). */
  deadLetterCount(): number {
    return this.deadCount;
  }

  recentDeadLetters(limit = 20): Array<{ createdAt: number; reason: string; line: string }> {
    return (
      this.db.prepare('SELECT created_at, reason, line FROM dead_letters ORDER BY id DESC LIMIT ?').all(limit) as Array<{
        created_at: number;
        reason: string;
        line: string;
      }>
    ).map((r) => ({ createdAt: r.created_at, reason: r.reason, line: r.line }));
  }

  integrityCheck(): string {
    return String(this.db.pragma('integrity_check', { simple: true }));
  }

  /** Never throws: a checkpoint that fails (a full disk) leaves the WAL, which SQLite replays at the next open. */
  close(): void {
    try {
      if (!this.db.open) return;
      try {
        // Fold the WAL into the main file so a copy of spool.db alone is a complete backup.
        this.db.pragma('wal_checkpoint(TRUNCATE)');
      } catch (err) {
        this.opts.logger.warn(
          { err, path: this.opts.path },
          `spool checkpoint at close failed (${(err as Error).message}); nothing is lost: the -wal file beside the spool holds the rest and is read at the next start`,
        );
      }
      this.db.close();
    } finally {
      this.lock?.release();
    }
  }
}
