/**
 * The instrument master's life: a cached copy beside the spool (today's copy is used without a
 * fetch), a download streamed to disk and parsed before it replaces the cache, and a status
 * (`fresh`, `stale`, `unavailable`) that /state, /ready and the log show. A failed download
 * keeps the copy we have: the index of yesterday is better than none.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { TickpipeError, describeError } from '../errors.js';
import type { MasterIndex } from './master-index.js';
import { parseMasterFile } from './master-parse.js';

type MasterState = 'loading' | 'fresh' | 'stale' | 'unavailable';

export interface MasterStatus {
  state: MasterState;
  url: string;
  /** When the copy in use was downloaded (ms), null without one. */
  fetchedAt: number | null;
  instruments: number;
  /** Why the last download failed (kept until one succeeds). */
  lastError: { code: string; message: string } | null;
}

export interface MasterStoreOptions {
  url: string;
  /** Directory of the cached copy (the spool's directory). */
  dir: string;
  /** Whole download, headers to last byte. */
  downloadTimeoutMs: number;
  now?: () => number;
  log: { info(o: object, msg: string): void; warn(o: object, msg: string): void };
}

const IST_OFFSET_MS = 5.5 * 3600 * 1000;
/** The IST calendar day of an instant, as a day number (so "today" means today in India). */
function istDay(ms: number): number {
  return Math.floor((ms + IST_OFFSET_MS) / 86_400_000);
}

export class MasterStore {
  private index: MasterIndex | undefined;
  private fetchedAt: number | null = null;
  private lastError: MasterStatus['lastError'] = null;
  private loading = true;
  /** Aborts a download in flight when the service stops. */
  private readonly closing = new AbortController();
  private readonly now: () => number;
  readonly cachePath: string;

  constructor(private readonly opts: MasterStoreOptions) {
    this.now = opts.now ?? Date.now;
    this.cachePath = join(opts.dir, 'instrument-master.json.gz');
  }

  get current(): MasterIndex | undefined {
    return this.index;
  }

  status(): MasterStatus {
    const state: MasterState = this.loading
      ? 'loading'
      : !this.index
        ? 'unavailable'
        : this.lastError || this.fetchedAt === null || istDay(this.fetchedAt) !== istDay(this.now())
          ? 'stale'
          : 'fresh';
    return { state, url: this.opts.url, fetchedAt: this.fetchedAt, instruments: this.index?.size ?? 0, lastError: this.lastError };
  }

  /**
   * At start: today's cached copy without a fetch; otherwise any cached copy at once (so start-up
   * is not held by a download) and `needsRefresh` true; without a cache, the download itself.
   */
  async start(): Promise<{ needsRefresh: boolean }> {
    try {
      const cachedAt = await this.cachedAt();
      if (cachedAt !== null) {
        try {
          await this.loadCache(cachedAt);
          return { needsRefresh: istDay(cachedAt) !== istDay(this.now()) };
        } catch (err) {
          this.opts.log.warn({ err: describeError(err), path: this.cachePath }, 'cached instrument master unreadable; downloading');
        }
      }
      await this.refresh().catch(() => undefined);
      return { needsRefresh: false };
    } finally {
      this.loading = false;
    }
  }

  /** Downloads, parses and swaps in a new copy; on failure keeps the current one, records and rethrows why. */
  async refresh(): Promise<void> {
    const tmp = `${this.cachePath}.download`;
    const started = this.now();
    try {
      await mkdir(this.opts.dir, { recursive: true });
      await this.download(tmp);
      const { index, skipped } = await parseMasterFile(tmp);
      await rename(tmp, this.cachePath);
      this.index = index;
      this.fetchedAt = this.now();
      this.lastError = null;
      this.opts.log.info({ instruments: index.size, skipped, ms: this.now() - started }, 'instrument master downloaded');
    } catch (err) {
      await rm(tmp, { force: true });
      const e = err instanceof TickpipeError ? err : new TickpipeError('MASTER_FETCH_FAILED', describeError(err), { cause: err });
      this.lastError = { code: e.code, message: e.message };
      this.opts.log.warn(
        { err: describeError(e), keeping: this.fetchedAt === null ? 'nothing' : new Date(this.fetchedAt).toISOString() },
        this.index
          ? 'instrument master download failed; keeping the cached copy'
          : 'instrument master download failed; no copy to fall back on',
      );
      throw e;
    }
  }

  /** Stops a download in flight (shutdown); the cache is left as it was. */
  close(): void {
    this.closing.abort(new Error('the service is stopping'));
  }

  private async cachedAt(): Promise<number | null> {
    try {
      return (await stat(this.cachePath)).mtimeMs;
    } catch {
      return null;
    }
  }

  private async loadCache(cachedAt: number): Promise<void> {
    const { index } = await parseMasterFile(this.cachePath);
    this.index = index;
    this.fetchedAt = cachedAt;
    this.opts.log.info({ instruments: index.size, fetchedAt: new Date(cachedAt).toISOString() }, 'instrument master loaded from cache');
  }

  private async download(to: string): Promise<void> {
    let res: Response;
    const signal = AbortSignal.any([AbortSignal.timeout(this.opts.downloadTimeoutMs), this.closing.signal]);
    try {
      res = await fetch(this.opts.url, { signal });
    } catch (err) {
      throw new TickpipeError('MASTER_FETCH_FAILED', `INSTRUMENT_MASTER_URL is unreachable: ${describeError(err)}`, { cause: err });
    }
    if (!res.ok || !res.body) {
      await res.body?.cancel();
      throw new TickpipeError(
        'MASTER_FETCH_FAILED',
        `INSTRUMENT_MASTER_URL answered ${res.status}; check the URL (Upstox's daily file is complete.json.gz)`,
      );
    }
    try {
      await pipeline(Readable.fromWeb(res.body), createWriteStream(to));
    } catch (err) {
      throw new TickpipeError('MASTER_FETCH_FAILED', `INSTRUMENT_MASTER_URL download broke off: ${describeError(err)}`, { cause: err });
    }
  }
}
