/**
 * The storage data plane seen from the main thread: a proxy to the storage worker
 * (storage-thread.ts), which owns the spool, the InfluxDB client and the write path. Main only
 * copies each raw frame into a buffer and posts the buffers, coalesced, every few milliseconds;
 * nothing here touches the disk or does work proportional to a batch.
 *
 * Order: every message goes through one outbox (outbox.ts), behind the frames (and the symbols
 * their keys need) pushed before it, so candles, gap records, flushes and the close land behind
 * the live points pushed before them, as they did in-process.
 *
 * /state and /metrics read the last snapshot synchronously (posted by the worker at most every
 * 200 ms while something changes, at least every second); the storage counters in main's Stats
 * are copied from it, so the conservation law holds within one snapshot.
 */
import type { EventLoopUtilization } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import type { DrainProgress, StorageReport } from '../../../machines/events.js';
import { isErrorCode } from '../../../machines/rules/error-codes.js';
import type { Config } from '../../config.js';
import { TickpipeError, describeError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { Stats } from '../../stats.js';
import type { Candle, DecodedFrame } from '../../upstox/feed-types.js';
import type { LedgerOp } from '../../gaps/ledger-protocol.js';
import type { StoragePlane } from '../storage.js';
import { Outbox } from './outbox.js';
import { type CallOp, type FromWorker, STORAGE_COUNTERS, type StorageSnapshot, type SymbolEntry, type ToWorker } from './protocol.js';

/** What the close gets beyond its own budget (flushing, the final snapshot) before the thread is terminated. */
const CLOSE_GRACE_MS = 1500;
/** /state's event-loop utilisation window for the worker, as main's own (src/server/metrics.ts). */
const ELU_WINDOW_MS = 5000;

export interface StorageWorkerOptions {
  config: Pick<Config, 'influx' | 'spool' | 'logLevel'>;
  /** Secret literals (src/redact.ts configSecrets) the worker's logger scrubs. */
  secrets: string[];
  logger: Logger;
  /** Main's Stats: the storage counters are copied into it from every snapshot. */
  stats: Stats;
  report(event: StorageReport): void;
  observeWriteLatency?: (seconds: number, outcome: string) => void;
  /** Trading symbol of a key (instrument master), sent to the worker for the `symbol` tag. */
  symbolOf(key: string): string | undefined;
  /** The worker died after it opened (already logged, once, at fatal level): the service must stop. */
  onFailure(err: TickpipeError): void;
  /**
   * Frames between `from` and `to` (their currentTs, ms) were not handed over (the queue was past
   * STORAGE_QUEUE_MAX_MB): called once the worker caught up, or at the close. The service records
   * the range as a gap, so the backfill restores its 1-minute candles.
   */
  onNotStored?(range: { from: number; to: number; keys: string[] }): void;
}

export type StorageWorkerState = 'running' | 'closing' | 'closed' | 'failed';

/** The worker's health, for /state and /ready. */
export interface StorageWorkerHealth {
  state: StorageWorkerState;
  error: string | null;
  /** Frames (and their bytes) handed to the worker and not yet applied by it. */
  queueFrames: number;
  queueBytes: number;
  /** Since the last snapshot arrived (one at least every second while the worker runs). */
  snapshotAgeMs: number;
  /** CPU time of the worker's thread; null where /proc is absent. */
  cpuSeconds: number | null;
  /** Share of the last few seconds the worker's event loop spent running code (0..1). */
  eventLoopUtilisation: number;
  /** The queue passed STORAGE_QUEUE_MAX_MB and frames are not handed over, until it is back under half. */
  overloaded: boolean;
}

/** While overloaded, the drop is said again at most this often (with the running count). */
const OVERLOAD_LOG_MS = 10_000;

/**
 * The worker's young generation, where nearly everything it allocates dies (decoded frames, bodies
 * read back from the spool while draining). By default V8 lets it grow to 48 MB, and what it grew to stays
 * resident. Measured end to end at 10,000 updates/s with CPU profiles (README "Performance"): 48 MB
 * gave peak RSS 219 / 229 / 263 MB (steady / cut off / draining) with GC 8% of the worker's time;
 * 16 MB 208 / 212 / 227 MB, GC 8%; 6 MB saved another ~10 MB but GC took 20%.
 */
const WORKER_YOUNG_GENERATION_MB = 16;

export class StorageWorker implements StoragePlane {
  private readonly outbox: Outbox;
  private readonly known = new Map<string, string | null>();
  /** [frames applied, bytes applied], stored by the worker after each batch of frames. */
  private readonly progress: BigInt64Array;
  private readonly calls = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private nextId = 1;
  private last!: StorageSnapshot;
  private lastAt = Date.now();
  private state: StorageWorkerState = 'running';
  private failure: TickpipeError | null = null;
  private elu: { base: EventLoopUtilization; at: number } | undefined;
  private overloaded = false;
  private overloadLoggedAt = 0;
  /** What the frames not handed over since the queue filled covered (reported as one range). */
  private notStored: { from: number; to: number; keys: Set<string> } | null = null;

  private constructor(
    private readonly o: StorageWorkerOptions,
    private readonly worker: Worker,
    progress: SharedArrayBuffer,
  ) {
    this.progress = new BigInt64Array(progress);
    // While closing, the close call itself is still to go.
    this.outbox = new Outbox(worker, () => this.state === 'running' || this.state === 'closing');
  }

  /** Starts the worker and waits until it has opened the spool; rejects with its TickpipeError (code and message) when it cannot. */
  static open(o: StorageWorkerOptions): Promise<StorageWorker> {
    const progress = new SharedArrayBuffer(16);
    const worker = new Worker(new URL('./storage-thread.js', import.meta.url), {
      workerData: { config: { influx: o.config.influx, spool: o.config.spool }, logLevel: o.config.logLevel, secrets: o.secrets, progress },
      resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
    });
    const sw = new StorageWorker(o, worker, progress);
    return new Promise((resolve, reject) => {
      const early = (m: FromWorker) => {
        if (m.t === 'opened') {
          worker.off('message', early);
          sw.apply(m.snapshot);
          sw.listen();
          resolve(sw);
        } else if (m.t === 'openFailed') {
          worker.off('message', early);
          void worker.terminate();
          reject(new TickpipeError(isErrorCode(m.code) ? m.code : 'SPOOL_FAILED', m.message));
        }
      };
      worker.on('message', early);
      worker.once('error', (err) => sw.fail(err, reject));
      worker.once('exit', (code) => sw.fail(new Error(`the storage worker exited with code ${code}`), reject));
    });
  }

  private listen(): void {
    this.worker.on('message', (m: FromWorker) => {
      if (m.t === 'snapshot') this.apply(m.snapshot);
      else if (m.t === 'report') this.o.report(m.event);
      else if (m.t === 'reply') {
        const call = this.calls.get(m.id);
        this.calls.delete(m.id);
        if (!call) return;
        if (m.ok) call.resolve(m.value);
        else call.reject(new TickpipeError(isErrorCode(m.code) ? m.code : 'UNEXPECTED', m.message));
      }
    });
  }

  /** Once: an error event or an exit not asked for. Before the open it rejects the open; after, it is fatal. */
  private fail(err: Error, rejectOpen: (e: Error) => void): void {
    if (this.state === 'closed' || this.state === 'failed') return;
    const opened = this.last !== undefined;
    const failure = new TickpipeError('STORAGE_WORKER_FAILED', `the storage worker failed: ${describeError(err)}`, { cause: err });
    this.state = 'failed';
    this.failure = failure;
    this.outbox.stop();
    for (const c of this.calls.values()) c.reject(failure);
    this.calls.clear();
    if (!opened) return rejectOpen(failure);
    this.o.logger.fatal(
      { err, code: failure.code },
      `${failure.message}; the service stops (what was spooled is safe and replayed at the next start; the batch being built is lost, as in a crash)`,
    );
    this.o.onFailure(failure);
  }

  private apply(s: StorageSnapshot): void {
    this.last = s;
    this.lastAt = Date.now();
    const stats = this.o.stats;
    for (const c of STORAGE_COUNTERS) stats[c] = s.counters[c];
    const observe = this.o.observeWriteLatency;
    if (observe) for (let i = 0; i < s.latencySeconds.length; i++) observe(s.latencySeconds[i], s.latencyOutcomes[i]);
  }

  /** The hot path: one copy of the raw frame; the worker decodes it again and builds its points. */
  pushFrame(frame: DecodedFrame, raw: Uint8Array, receivedAt = Date.now()): void {
    if (this.state !== 'running') {
      // A dead (or closing) worker takes nothing more: counted like a full queue, never lost uncounted.
      this.o.stats.updatesDroppedStorageQueue += frame.updates.length;
      return;
    }
    if (this.overCapacity(frame, raw.length)) return;
    for (const u of frame.updates) if (!this.known.has(u.key)) this.learn(u.key);
    this.outbox.addFrame(raw, receivedAt);
  }

  /**
   * The bound on the worker's queue: a worker that stalls (a disk that hangs) must not take the
   * process's memory with it. Past STORAGE_QUEUE_MAX_MB frames are not handed over, counted and
   * said; handing over resumes once the queue is back under half, so it does not flap.
   */
  private overCapacity(frame: DecodedFrame, bytes: number): boolean {
    const max = this.o.config.spool.workerQueueMaxBytes;
    const queued = this.queue().bytes;
    if (this.overloaded && queued < max / 2) {
      this.overloaded = false;
      this.o.logger.info(
        { updatesDropped: this.o.stats.updatesDroppedStorageQueue },
        `the storage worker caught up (${queued} bytes queued): frames are handed to storage again`,
      );
      this.reportNotStored();
    }
    if (!this.overloaded && queued + bytes <= max) return false;
    this.overloaded = true;
    this.o.stats.updatesDroppedStorageQueue += frame.updates.length;
    const at = frame.ts > 0 ? frame.ts : Date.now();
    const r = (this.notStored ??= { from: at, to: at, keys: new Set() });
    if (at < r.from) r.from = at;
    if (at > r.to) r.to = at;
    for (const u of frame.updates) r.keys.add(u.key);
    const now = Date.now();
    if (now - this.overloadLoggedAt >= OVERLOAD_LOG_MS) {
      this.overloadLoggedAt = now;
      this.o.logger.error(
        { queueBytes: queued, updatesDropped: this.o.stats.updatesDroppedStorageQueue },
        `the storage worker is not keeping up (${queued} bytes of frames queued, STORAGE_QUEUE_MAX_MB=${max / 1024 / 1024}): updates are not stored until it catches up; /ticks still gets them (see the storage worker's error above, the disk holding SPOOL_PATH, or raise STORAGE_QUEUE_MAX_MB)`,
      );
    }
    return true;
  }

  pushCandles(key: string, segment: string, candles: Candle[]): void {
    if (!this.known.has(key)) this.learn(key);
    this.post({ t: 'candles', key, segment, candles });
  }

  pushLines(lines: Array<{ line: string; ts: number }>): void {
    this.post({ t: 'lines', lines });
  }

  flush(): void {
    this.post({ t: 'flush' });
  }

  /** The gap ledger's last-frame mark (src/gaps/ledger.ts), written by the worker's own connection to `path`. */
  writeMark(path: string, lastFrameMs: number, keysJson: string): void {
    this.post({ t: 'mark', path, lastFrameMs, keysJson });
  }

  /**
   * A gap ledger request (src/gaps/ledger-client.ts): applied on the worker's thread, in order
   * behind everything posted before it. Rejects with a TickpipeError once storage is closing.
   */
  ledger(op: LedgerOp): Promise<unknown> {
    if (this.state !== 'running') {
      return Promise.reject(
        new TickpipeError('GAP_LEDGER_FAILED', `the gap ledger is not reachable: storage is ${this.state} (${op.m} not done)`),
      );
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.calls.set(id, { resolve, reject });
      this.post({ t: 'ledger', id, op });
    });
  }

  /** flush(), resolved once the worker has done it: what was pushed before is spooled (or waits in memory, in order, if the spool fails). */
  async flushed(): Promise<void> {
    await this.call('flush');
  }

  setRoute(open: boolean): void {
    this.post({ t: 'route', open });
  }

  setDraining(on: boolean): void {
    this.post({ t: 'draining', on });
  }

  /** The instrument master changed: the worker gets the new symbols of every key it knows, then rebuilds its prefixes. */
  symbolsChanged(): void {
    const entries: SymbolEntry[] = [];
    for (const key of this.known.keys()) {
      const symbol = this.o.symbolOf(key) ?? null;
      this.known.set(key, symbol);
      entries.push([key, symbol]);
    }
    this.post({ t: 'symbols', entries, swap: true });
  }

  drainChunk(maxMs = 1000): Promise<DrainProgress> {
    return this.call('drainChunk', maxMs) as Promise<DrainProgress>;
  }

  async probe(): Promise<void> {
    await this.call('probe');
  }

  /** A snapshot taken after everything posted so far was applied (and applied here too). */
  async sync(): Promise<StorageSnapshot> {
    const s = (await this.call('sync')) as StorageSnapshot;
    this.apply(s);
    return s;
  }

  recentDeadLetters(limit = 20): Promise<Array<{ createdAt: number; reason: string; line: string }>> {
    return this.call('recentDeadLetters', limit) as Promise<Array<{ createdAt: number; reason: string; line: string }>>;
  }

  integrityCheck(): Promise<string> {
    return this.call('integrityCheck') as Promise<string>;
  }

  /** Test hook: blocks the worker's thread for `ms` (as a long checkpoint would); resolves when it runs again. */
  async stall(ms: number): Promise<void> {
    await this.call('stall', ms);
  }

  private reportNotStored(): void {
    const r = this.notStored;
    this.notStored = null;
    if (r) this.o.onNotStored?.({ from: r.from, to: r.to, keys: [...r.keys].sort() });
  }

  /** Test hook: an uncaught error on the worker's thread. */
  crash(message: string): void {
    this.post({ t: 'crash', message });
  }

  /**
   * Shutdown: what waits here goes to the worker, which flushes to the spool and gives the lane
   * `timeoutMs` to write (storage.close); the final snapshot is applied; the thread is ended.
   * Bounded whatever the worker does; never rejects.
   */
  async close(timeoutMs: number): Promise<void> {
    if (this.state !== 'running') return;
    // Still overloaded: the range not stored is recorded now (a pending gap the next start backfills).
    this.reportNotStored();
    const closing = this.call('close', timeoutMs);
    this.state = 'closing';
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs + CLOSE_GRACE_MS)));
    try {
      const r = await Promise.race([closing, bound]);
      if (r === 'timeout')
        this.o.logger.error(
          `the storage worker did not close within ${timeoutMs + CLOSE_GRACE_MS} ms; ended (the spool keeps what it holds)`,
        );
      else this.apply(r as StorageSnapshot);
    } catch (err) {
      // A worker that died meanwhile was already said (fail()); anything else is said here.
      if (!this.failure) this.o.logger.error({ err }, `storage close failed: ${describeError(err)}`);
    } finally {
      clearTimeout(timer);
      if (!this.failure) this.state = 'closed';
      await this.worker.terminate();
    }
  }

  /** The last snapshot: the spool's figures and the storage counters, as of `health().snapshotAgeMs` ago. */
  get snapshot(): StorageSnapshot {
    return this.last;
  }

  health(): StorageWorkerHealth {
    const q = this.queue();
    return {
      state: this.state,
      error: this.failure?.message ?? null,
      queueFrames: q.frames,
      queueBytes: q.bytes,
      snapshotAgeMs: Date.now() - this.lastAt,
      cpuSeconds: this.last.cpuSeconds,
      eventLoopUtilisation: this.windowUtilisation(),
      overloaded: this.overloaded,
    };
  }

  /** Frames and bytes handed over (or waiting here to be) and not yet applied by the worker: exact, read from shared memory. */
  queue(): { frames: number; bytes: number } {
    return {
      frames: Number(this.outbox.postedFrames - Atomics.load(this.progress, 0)) + this.outbox.waiting.frames,
      bytes: Number(this.outbox.postedBytes - Atomics.load(this.progress, 1)) + this.outbox.waiting.bytes,
    };
  }

  running(): boolean {
    return this.state === 'running';
  }

  cpuSeconds(): number | null {
    return this.last.cpuSeconds;
  }

  /** The worker's event-loop utilisation (Node measures it from this thread), as performance.eventLoopUtilization. */
  eventLoopUtilization(u1?: EventLoopUtilization, u2?: EventLoopUtilization): EventLoopUtilization {
    return this.worker.performance.eventLoopUtilization(u1, u2);
  }

  private windowUtilisation(): number {
    if (this.state !== 'running') return 0;
    const now = Date.now();
    this.elu ??= { base: this.eventLoopUtilization(), at: now };
    const u = this.eventLoopUtilization(this.elu.base).utilization;
    if (now - this.elu.at >= ELU_WINDOW_MS) this.elu = { base: this.eventLoopUtilization(), at: now };
    return Math.round(u * 1000) / 1000;
  }

  private learn(key: string): void {
    const symbol = this.o.symbolOf(key) ?? null;
    this.known.set(key, symbol);
    this.outbox.addSymbol([key, symbol]);
  }

  private call(op: CallOp, arg?: number): Promise<unknown> {
    if (this.state !== 'running') {
      return Promise.reject(this.failure ?? new TickpipeError('SPOOL_FAILED', `storage is ${this.state}: nothing more is written`));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.calls.set(id, { resolve, reject });
      this.post({ t: 'call', id, op, ...(arg === undefined ? {} : { arg }) });
    });
  }

  /** Every message but frames: behind the frames (and symbols) waiting. */
  private post(m: ToWorker): void {
    if (this.state === 'running') this.outbox.push(m);
  }
}
