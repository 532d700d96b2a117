/**
 * The messages between the main thread and the storage worker (src/storage/worker/). One port,
 * FIFO both ways: the order in which main posts is the order in which the worker applies, which
 * is what keeps candles and gap records behind the live points pushed before them.
 */
import type { StorageReport } from '../../../machines/events.js';
import type { Config } from '../../config.js';
import type { Candle } from '../../upstox/feed-types.js';
import type { LedgerOp } from '../../gaps/ledger-protocol.js';

/** What the worker is started with (workerData: structured-cloned once). */
export interface StorageWorkerData {
  config: Pick<Config, 'influx' | 'spool'>;
  logLevel: string;
  /** Secret literals for the log scrubber (src/redact.ts configSecrets): the worker's lines pass it too. */
  secrets: string[];
  /** BigInt64Array over it: [frames applied, bytes applied], stored by the worker after each frame batch. */
  progress: SharedArrayBuffer;
}

/** [key, trading symbol or null]: the `symbol` tag of a key, as the instrument master has it. */
export type SymbolEntry = [string, string | null];

/** The RPCs main awaits; each gets one `reply` with the same id. */
export type CallOp = 'drainChunk' | 'probe' | 'flush' | 'sync' | 'recentDeadLetters' | 'integrityCheck' | 'close' | 'stall';

export type ToWorker =
  /**
   * Raw protobuf frames, back to back in `bytes`; `index` holds (end offset, receivedAt) per frame.
   * Both buffers are transferred, not copied.
   */
  | { t: 'frames'; bytes: ArrayBuffer; index: ArrayBuffer; count: number }
  /** Symbols of keys the worker has not been told yet (`swap`: the master changed, prefixes are rebuilt). */
  | { t: 'symbols'; entries: SymbolEntry[]; swap: boolean }
  | { t: 'candles'; key: string; segment: string; candles: Candle[] }
  | { t: 'lines'; lines: Array<{ line: string; ts: number }> }
  | { t: 'flush' }
  /** The gap ledger's last-frame mark, written here so the main thread does no disk I/O for it. */
  | { t: 'mark'; path: string; lastFrameMs: number; keysJson: string }
  /** A gap ledger request (src/gaps/ledger-client.ts), answered with a `reply` of the same id. */
  | { t: 'ledger'; id: number; op: LedgerOp }
  | { t: 'route'; open: boolean }
  | { t: 'draining'; on: boolean }
  | { t: 'call'; id: number; op: CallOp; arg?: number }
  /** Test hook: throw from the worker's event loop (an uncaught error, as a bug would). */
  | { t: 'crash'; message: string };

/** What main posts: the messages of one turn of its event loop, applied by the worker in one go, in order. */
export interface ToWorkerBatch {
  t: 'batch';
  items: ToWorker[];
}

/** The Stats fields the data plane moves: the worker owns them; main mirrors them from each snapshot. */
export const STORAGE_COUNTERS = [
  'pointsWritten',
  'pointsSpooled',
  'pointsDrained',
  'pointsDeadLettered',
  'pointsDroppedSpoolFull',
  'pointsBuilt',
  'pointsRecoveredAtStart',
  'pointsLanded',
  'pointsBuffered',
  'pointsDroppedDiskFull',
  'pointsDroppedShutdown',
  'deadLettersPruned',
  'candleUpdatesMerged',
] as const;
export type StorageCounter = (typeof STORAGE_COUNTERS)[number];

/** The worker's state at one instant: every term of the conservation law comes from the same one. */
export interface StorageSnapshot {
  /** The worker's clock when it was taken. */
  at: number;
  counters: Record<StorageCounter, number>;
  pendingPoints: number;
  pendingBatches: number;
  bytes: number;
  oldestCreatedAt: number | null;
  deadLetters: number;
  spoolError: string | null;
  memoryPoints: number;
  /** InfluxDB write latencies since the previous snapshot (for the prom histogram): seconds and outcome, pairwise. */
  latencySeconds: number[];
  latencyOutcomes: string[];
  /** CPU time of the worker's thread (user + system), from /proc/thread-self/stat; null where there is no /proc. */
  cpuSeconds: number | null;
}

export type FromWorker =
  | { t: 'opened'; snapshot: StorageSnapshot }
  | { t: 'openFailed'; code: string; message: string }
  | { t: 'snapshot'; snapshot: StorageSnapshot }
  | { t: 'report'; event: StorageReport }
  | { t: 'reply'; id: number; ok: true; value: unknown }
  | { t: 'reply'; id: number; ok: false; code: string; message: string };
