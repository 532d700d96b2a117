/**
 * The storage worker's thread: the whole storage data plane (src/storage/open-storage.ts: the
 * spool, the InfluxDB client, the write path) runs here, so that SQLite commits and checkpoints,
 * line-protocol building and the InfluxDB requests never hold up the event loop that decodes
 * frames and serves /ticks. Frames arrive as raw protobuf bytes and are decoded again here with
 * the same codec; outcomes go back as the same StorageReport events, and the state main shows in
 * /state and /metrics as snapshots (src/storage/worker/snapshot.ts).
 */
import { setPriority } from 'node:os';
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import { describeError, errorCode, errorMessage } from '../../../machines/rules/error-info.js';
import { type Logger, RateLimitedLog, createLogger } from '../../logger.js';
import { secretScrubber } from '../../redact.js';
import { Stats } from '../../stats.js';
import { decodeFrame } from '../../upstox/codec.js';
import type { DecodedFrame } from '../../upstox/feed-types.js';
import { type Storage, openStorage } from '../open-storage.js';
import type { CallOp, FromWorker, StorageWorkerData, ToWorker, ToWorkerBatch } from './protocol.js';
import { MarkWriter } from './mark-writer.js';
import { LedgerHost } from '../../gaps/ledger-host.js';
import { SnapshotTaker } from './snapshot.js';

/** Snapshots are posted at most this often while something changes... */
const SNAPSHOT_MS = 200;
/** ...and at least this often (a heartbeat: main shows the snapshot's age as the worker's health). */
const HEARTBEAT_MS = 1000;
/**
 * A gap ledger statement waits this long for another process's lock on gaps.db, holding this
 * thread (and the spool writes behind it) meanwhile; then it is retried every LEDGER_RETRY_MS.
 */
const LEDGER_BUSY_TIMEOUT_MS = 100;
const LEDGER_RETRY_MS = 1000;

const data = workerData as StorageWorkerData;
if (!parentPort) throw new Error('storage-thread.ts runs as a worker_threads worker (src/storage/worker/storage-worker.ts starts it)');
const port: MessagePort = parentPort;
const post = (m: FromWorker) => port.postMessage(m);
// Built as main builds its own: same level, same secret scrubber, synchronous writes to stdout
// (a line is never lost when main terminates the thread).
const logger: Logger = createLogger(data.logLevel, pino.destination({ dest: 1, sync: true }), secretScrubber(data.secrets)).child({
  thread: 'storage',
});
const progress = new BigInt64Array(data.progress);
const stats = new Stats();
const symbols = new Map<string, string | null>();
const latencySeconds: number[] = [];
const latencyOutcomes: string[] = [];

function open(): Storage | undefined {
  try {
    return openStorage({
      config: data.config,
      stats,
      logger,
      // The snapshot first, so that /state agrees with what the actors are told.
      report: (event) => {
        if (snapshots) post({ t: 'snapshot', snapshot: snapshots.take() });
        post({ t: 'report', event });
      },
      observeWriteLatency: (s, o) => {
        latencySeconds.push(s);
        latencyOutcomes.push(o);
      },
      symbolOf: (key) => symbols.get(key) ?? undefined,
    });
  } catch (err) {
    // Main stops the start with this code and message (logged there, once).
    post({ t: 'openFailed', code: errorCode(err, 'SPOOL_FAILED'), message: errorMessage(err) });
    return undefined;
  }
}

/**
 * Lowers this thread's priority only: on Linux setpriority(PRIO_PROCESS, 0) applies to the calling
 * thread, so the main thread keeps nice 0 and wins contended cores. Raising nice needs no
 * privilege; where it fails (another OS), storage just runs at the same priority, said once.
 */
function lowerPriority(nice: number): void {
  if (nice === 0) return;
  try {
    setPriority(0, nice);
  } catch (err) {
    logger.warn({ err }, `could not lower the storage worker's priority (STORAGE_WORKER_NICE=${nice}): ${describeError(err)}`);
  }
}
lowerPriority(data.config.spool.workerNice);

let snapshots: SnapshotTaker | undefined;
const storage = open();
if (storage) {
  const taker = new SnapshotTaker(storage, stats, { latencySeconds, latencyOutcomes });
  snapshots = taker;
  run(storage, taker);
}

function run(storage: Storage, taker: SnapshotTaker): void {
  const wp = storage.writePath;
  const frameLog = new RateLimitedLog(logger, 5, 10_000);
  const marks = new MarkWriter(logger);
  // The gap ledger lives on this thread too (src/gaps/ledger-host.ts): main does no SQLite.
  const ledger = new LedgerHost(logger, { busyTimeoutMs: LEDGER_BUSY_TIMEOUT_MS, retryMs: LEDGER_RETRY_MS });
  let framesDone = 0n;
  let bytesDone = 0n;
  let lastPost = Date.now();
  const postSnapshot = () => {
    lastPost = Date.now();
    post({ t: 'snapshot', snapshot: taker.take() });
  };
  const timer = setInterval(() => {
    if (taker.changed() || Date.now() - lastPost >= HEARTBEAT_MS) postSnapshot();
  }, SNAPSHOT_MS);
  post({ t: 'opened', snapshot: taker.take() });

  const frames = (bytes: ArrayBuffer, index: ArrayBuffer, count: number) => {
    const idx = new Float64Array(index);
    let start = 0;
    for (let i = 0; i < count; i++) {
      const end = idx[2 * i];
      let frame: DecodedFrame;
      try {
        frame = decodeFrame(Buffer.from(bytes, start, end - start));
      } catch (err) {
        // Main decoded these very bytes with the same codec: reaching here is a bug, said, not fatal.
        frameLog.warn({ err: errorMessage(err), bytes: end - start }, 'storage worker: a frame main decoded did not decode again; skipped');
        start = end;
        continue;
      }
      try {
        wp.pushFrame(frame, idx[2 * i + 1]);
      } catch (err) {
        // As when storage ran on main (src/upstox/feed-socket.ts): a bug building points must not
        // stop the others; said at a bounded rate.
        frameLog.warn({ err: describeError(err) }, 'storage worker: building the points of a frame failed; frame skipped');
      }
      start = end;
    }
    framesDone += BigInt(count);
    bytesDone += BigInt(start);
    Atomics.store(progress, 0, framesDone);
    Atomics.store(progress, 1, bytesDone);
  };

  const call = async (op: CallOp, arg: number | undefined): Promise<unknown> => {
    switch (op) {
      case 'drainChunk':
        return wp.drainChunk(arg);
      case 'probe':
        return wp.probe();
      case 'flush':
        return wp.flush();
      case 'sync':
        return taker.take();
      case 'recentDeadLetters':
        return storage.spool.recentDeadLetters(arg);
      case 'integrityCheck':
        return storage.spool.integrityCheck();
      case 'stall':
        // Test hook: the thread blocked as a long SQLite checkpoint would block it.
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, arg ?? 0);
        return undefined;
      case 'close':
        clearInterval(timer);
        // The ledger first: its clean-stop record was posted just before this close.
        ledger.close();
        marks.close();
        await storage.close(arg ?? 0);
        return taker.take();
    }
  };

  const apply = (m: ToWorker) => {
    switch (m.t) {
      case 'frames':
        return frames(m.bytes, m.index, m.count);
      case 'symbols':
        for (const [key, symbol] of m.entries) symbols.set(key, symbol);
        if (m.swap) wp.symbolsChanged();
        return;
      case 'candles':
        wp.pushCandles(m.key, m.segment, m.candles);
        return;
      case 'lines':
        return wp.pushLines(m.lines);
      case 'flush':
        return wp.flush();
      case 'mark':
        return marks.write(m.path, m.lastFrameMs, m.keysJson);
      case 'ledger':
        return ledger.handle(m.op, (r) => post({ t: 'reply', id: m.id, ...r }));
      case 'route':
        return wp.setRoute(m.open);
      case 'draining':
        return wp.setDraining(m.on);
      case 'crash':
        // Test hook: an uncaught error on this thread's loop, as a bug would raise.
        setImmediate(() => {
          throw new Error(m.message);
        });
        return;
      case 'call':
        call(m.op, m.arg).then(
          (value) => post({ t: 'reply', id: m.id, ok: true, value }),
          (err: unknown) => post({ t: 'reply', id: m.id, ok: false, code: errorCode(err), message: errorMessage(err) }),
        );
        return;
    }
  };
  port.on('message', (batch: ToWorkerBatch) => {
    for (const m of batch.items) apply(m);
  });
}
