/**
 * The gap ledger's last-frame mark (src/gaps/ledger.ts), written on the storage worker's thread
 * through a connection of its own: the main thread owns the ledger, but writing the mark there
 * every few seconds would be disk I/O on the event loop that feeds /ticks (and, every ~1000
 * marks, a WAL checkpoint's fsync). Two connections to one WAL database are safe; a write that
 * meets main's rare lock waits up to the busy timeout here, off the tick path.
 */
import Database from 'better-sqlite3';
import { describeError } from '../../../machines/rules/error-info.js';
import type { Logger } from '../../logger.js';

/** The ledger's own writes (a gap row, the clean stop) are tiny: a second is plenty. */
const BUSY_TIMEOUT_MS = 1000;

export class MarkWriter {
  private db: Database.Database | undefined;
  private update: Database.Statement | undefined;
  private path = '';
  private failing = false;

  constructor(private readonly logger: Logger) {}

  /** Never throws: a mark that cannot be written leaves the previous one, which only makes the next start's gap longer. */
  write(path: string, lastFrameMs: number, keysJson: string): void {
    try {
      if (this.db === undefined || this.path !== path) {
        this.close();
        this.db = new Database(path, { fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
        this.update = this.db.prepare('UPDATE run SET last_frame_ms = ?, keys = ? WHERE id = 1');
        this.path = path;
      }
      this.update!.run(lastFrameMs, keysJson);
      if (this.failing) this.logger.info(`the gap ledger's last-frame mark is written again (${path})`);
      this.failing = false;
    } catch (err) {
      // Said once per failing spell: the mark is retried at the next interval.
      if (!this.failing)
        this.logger.error(
          { err, path },
          `cannot write the gap ledger's last-frame mark (${describeError(err)}); the next start may count a longer outage`,
        );
      this.failing = true;
    }
  }

  close(): void {
    try {
      this.db?.close();
    } catch (err) {
      this.logger.warn({ err }, `closing the gap ledger's mark connection failed: ${describeError(err)}`);
    }
    this.db = undefined;
    this.update = undefined;
  }
}
