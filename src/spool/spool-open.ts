/**
 * Opening the spool file safely. A spool holds points nobody else has: it is moved aside only when
 * it is proven corrupt (not a database, or failing its integrity check). Anything else that stops
 * it opening (another process holding a write lock, a read-only or unwritable file, a full disk)
 * is waited out with a clear log for a bounded time, then reported as an error naming the path and
 * the fix, leaving the file untouched.
 *
 * One instance per spool: the process holds an exclusive SQLite lock on `<path>.lock` for its
 * whole life. Why a lock on a side file rather than `locking_mode=EXCLUSIVE` on the spool itself:
 * the spool stays readable by an operator's `sqlite3` session (dead letters) while tickpipe runs.
 * Why an SQLite lock rather than a pid file: the kernel drops it when the process dies, even by
 * SIGKILL, so a crash never leaves a stale lock behind (and a container's pid 1 is no proof).
 */
import { existsSync, renameSync } from 'node:fs';
import Database from 'better-sqlite3';
import { TickpipeError } from '../errors.js';
import type { Logger } from '../logger.js';

/** SQLite result codes that prove the file is not a usable database. */
const CORRUPT = /^SQLITE_(NOTADB|CORRUPT)/;

export class SpoolCorruptError extends TickpipeError {
  constructor(message: string, options?: ErrorOptions) {
    super('SPOOL_FAILED', message, options);
  }
}

/** Blocks the thread: used only before the service starts, when nothing else can run anyway. */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function sqliteCode(err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' ? code : '';
}

/** What an operator should do about an open failure that is not corruption. */
function fixFor(code: string, path: string): string {
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'))
    return `another process holds a lock on ${path} (a sqlite3 session with an open transaction, or a second tickpipe on the same SPOOL_PATH): end that session or stop that process, or give this instance its own SPOOL_PATH`;
  if (code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_PERM') || code.startsWith('SQLITE_CANTOPEN'))
    return `${path} (or its directory) cannot be written by this process: fix the file's owner and permissions, or remount the volume read-write`;
  if (code.startsWith('SQLITE_FULL')) return `the disk holding ${path} is full: free space there (the spool is kept as it is)`;
  return `check the file and the disk holding ${path}; the spool is left as it is`;
}

export interface OpenSpoolOptions {
  path: string;
  /** How long to keep retrying a locked, busy or unwritable spool before giving up. */
  lockTimeoutMs: number;
  logger: Logger;
  /** Opens and checks the file; throws SpoolCorruptError (or a SQLite error) when it cannot. */
  openAt(path: string): Database.Database;
}

/**
 * Opens the spool, retrying what may pass. Returns the database; throws TickpipeError
 * ('SPOOL_LOCKED' or 'SPOOL_FAILED') with the path and the fix when it gives up.
 */
export function openSpoolFile(o: OpenSpoolOptions): Database.Database {
  const { path, logger } = o;
  const deadline = Date.now() + o.lockTimeoutMs;
  let lastLog = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      return o.openAt(path);
    } catch (err) {
      const code = sqliteCode(err);
      if (err instanceof SpoolCorruptError || CORRUPT.test(code)) return moveAsideAndOpen(o, err as Error);
      if (err instanceof TickpipeError) throw err;
      const fix = fixFor(code, path);
      if (Date.now() >= deadline) {
        throw new TickpipeError(
          code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED') ? 'SPOOL_LOCKED' : 'SPOOL_FAILED',
          `cannot open the spool ${path} after ${attempt} attempts over ${o.lockTimeoutMs} ms (${code || 'error'}: ${(err as Error).message}); ${fix}. The file was not changed.`,
          { cause: err },
        );
      }
      if (Date.now() - lastLog >= 5000) {
        lastLog = Date.now();
        logger.warn(
          { path, code, attempt },
          `spool ${path} cannot be opened yet (${code}: ${(err as Error).message}); retrying for up to ${Math.round(o.lockTimeoutMs / 1000)} s. ${fix}`,
        );
      }
      sleepSync(Math.min(250, Math.max(0, deadline - Date.now())));
    }
  }
}

function moveAsideAndOpen(o: OpenSpoolOptions, err: Error): Database.Database {
  const { path, logger } = o;
  const aside = `${path}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  logger.error(
    { err, path, movedTo: aside },
    `spool file ${path} is corrupt (${err.message}); moved aside to ${aside} and starting a fresh spool. Inspect or delete the old file.`,
  );
  for (const suffix of ['', '-wal', '-shm']) if (existsSync(path + suffix)) renameSync(path + suffix, aside + suffix);
  return o.openAt(path);
}

/**
 * Takes the one-instance lock on `<spoolPath>.lock`, held until `release()` or the process dies.
 * Another holder (a second instance, or another spool in this process) is refused at once with
 * TickpipeError('SPOOL_LOCKED'); a lock file that cannot be created (read-only or unwritable
 * directory) is retried like the spool, then TickpipeError('SPOOL_FAILED').
 */
export function takeInstanceLock(spoolPath: string, lockTimeoutMs: number, logger: Logger): { release(): void } {
  const lockPath = `${spoolPath}.lock`;
  const deadline = Date.now() + lockTimeoutMs;
  let lastLog = 0;
  for (let attempt = 1; ; attempt++) {
    let db: Database.Database | undefined;
    try {
      db = new Database(lockPath, { timeout: 0 });
      // EXCLUSIVE locking mode keeps the write lock after the first write until the connection closes.
      db.pragma('locking_mode = EXCLUSIVE');
      db.exec('CREATE TABLE IF NOT EXISTS owner (id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER NOT NULL, since INTEGER NOT NULL)');
      db.prepare('INSERT OR REPLACE INTO owner (id, pid, since) VALUES (1, ?, ?)').run(process.pid, Date.now());
      const held = db;
      return {
        release: () => {
          if (held.open) held.close();
        },
      };
    } catch (err) {
      db?.close();
      const code = sqliteCode(err);
      if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
        throw new TickpipeError(
          'SPOOL_LOCKED',
          `another tickpipe already uses the spool ${spoolPath} (it holds ${lockPath}); stop it, or give this instance its own SPOOL_PATH`,
          { cause: err },
        );
      }
      const fix = fixFor(code, lockPath);
      if (Date.now() >= deadline) {
        throw new TickpipeError(
          'SPOOL_FAILED',
          `cannot create the spool lock ${lockPath} after ${attempt} attempts (${code || 'error'}: ${(err as Error).message}); ${fix}. The spool was not changed.`,
          { cause: err },
        );
      }
      if (Date.now() - lastLog >= 5000) {
        lastLog = Date.now();
        logger.warn({ path: lockPath, code, attempt }, `spool lock ${lockPath} cannot be created yet (${code}); retrying. ${fix}`);
      }
      sleepSync(Math.min(250, Math.max(0, deadline - Date.now())));
    }
  }
}
