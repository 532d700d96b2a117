/**
 * Opens the data plane of storage: the spool, the InfluxDB client and the write path. The storage
 * worker (src/storage/worker/storage-thread.ts) runs it on its own thread; the storage tests run it
 * in-process. `report` receives the data plane's aggregated outcomes for the actors.
 */
import type { StorageReport } from '../../machines/events.js';
import { type Config, isInfluxConfigured } from '../config.js';
import { InfluxWriteClient } from '../influx/write-client.js';
import type { Logger } from '../logger.js';
import { Spool } from '../spool/spool.js';
import type { Stats } from '../stats.js';
import { WritePath } from './write-path.js';

export interface StorageDeps {
  config: Pick<Config, 'influx' | 'spool'>;
  stats: Stats;
  logger: Logger;
  report(event: StorageReport): void;
  observeWriteLatency?: (seconds: number, outcome: string) => void;
  /** Trading symbol of a key, for the `symbol` tag (src/instruments). */
  symbolOf?: (key: string) => string | undefined;
}

export interface Storage {
  spool: Spool;
  writePath: WritePath;
  /** Flush to the spool, give the lane `timeoutMs` to write, close the client and the database. Never rejects. */
  close(timeoutMs: number): Promise<void>;
}

/** Opens the spool and builds the write path (and its InfluxDB client when INFLUX_URL is set). */
export function openStorage(deps: StorageDeps): Storage {
  const { config, stats, logger } = deps;
  const spool = new Spool({
    path: config.spool.path,
    maxBytes: config.spool.maxBytes,
    fullPolicy: config.spool.fullPolicy,
    lockTimeoutMs: config.spool.lockTimeoutMs,
    deadLetterMax: config.spool.deadLetterMax,
    stats,
    logger: logger.child({ component: 'spool' }),
  });
  const client = isInfluxConfigured(config.influx)
    ? new InfluxWriteClient({
        url: config.influx.url,
        token: config.influx.token,
        org: config.influx.org,
        bucket: config.influx.bucket,
        timeoutMs: config.influx.writeTimeoutMs,
      })
    : null;
  const writePath = new WritePath({
    spool,
    client,
    stats,
    logger: logger.child({ actor: 'writer' }),
    batchMaxPoints: config.influx.batchMaxPoints,
    flushIntervalMs: config.influx.flushIntervalMs,
    drainChunkPoints: config.spool.drainChunkPoints,
    extraTags: config.influx.extraTags,
    memoryMaxPoints: config.spool.memoryMaxPoints,
    split5xxAfter: config.influx.split5xxAfter,
    lanes: config.influx.writeLanes,
    ...(deps.symbolOf ? { symbolOf: deps.symbolOf } : {}),
    report: (event) => deps.report(event),
    ...(deps.observeWriteLatency ? { observeWriteLatency: deps.observeWriteLatency } : {}),
  });
  return {
    spool,
    writePath,
    async close(timeoutMs) {
      try {
        await writePath.flushAndClose(timeoutMs);
      } catch (err) {
        // Whatever failed, the spool still closes: what it holds is replayed at the next start.
        logger.error({ err }, `storage flush at shutdown failed: ${(err as Error).message}`);
      } finally {
        client?.close();
        spool.close();
      }
      const left = spool.pendingPoints();
      const lost = stats.droppedTotal();
      logger.info(
        { pendingPoints: left, dropped: lost, deadLettered: stats.pointsDeadLettered, landed: stats.pointsLanded },
        `storage closed: ${left} point(s) stay spooled for the next start${lost > 0 ? `; ${lost} point(s) were dropped this run (see the pointsDropped* counters and the errors logged)` : ''}`,
      );
    },
  };
}
