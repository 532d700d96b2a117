/**
 * Storage wiring: the spool, the InfluxDB client, the write path, and the writer and drainer
 * machines provided with them. The composition root hands in `report`, which delivers the data
 * plane's aggregated outcomes to the running actors.
 */
import { fromPromise } from 'xstate';
import { drainerMachine, type DrainerInput } from '../../machines/drainer.js';
import { writerMachine, type WriterInput } from '../../machines/writer.js';
import type { Config } from '../config.js';
import { InfluxWriteClient } from '../influx/write-client.js';
import type { Logger } from '../logger.js';
import { Spool } from '../spool/spool.js';
import type { Stats } from '../stats.js';
import { type StorageReport, WritePath } from './write-path.js';

export interface StorageDeps {
  config: Pick<Config, 'influx' | 'spool'>;
  stats: Stats;
  logger: Logger;
  report(event: StorageReport): void;
  observeWriteLatency?: (seconds: number, outcome: string) => void;
}

export interface Storage {
  spool: Spool;
  writePath: WritePath;
  writer: ReturnType<typeof writerMachine.provide>;
  drainer: ReturnType<typeof drainerMachine.provide>;
  writerInput: WriterInput;
  drainerInput: DrainerInput;
  /** Flush to the spool, give the lane `timeoutMs` to write, close the client and the database. Never rejects. */
  close(timeoutMs: number): Promise<void>;
}

export function createStorage(deps: StorageDeps): Storage {
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
  const client = config.influx.url
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
    report: (event) => deps.report(event),
    ...(deps.observeWriteLatency ? { observeWriteLatency: deps.observeWriteLatency } : {}),
  });
  const writerLog = logger.child({ actor: 'writer' });
  const drainerLog = logger.child({ actor: 'drainer' });
  const writer = writerMachine.provide({
    actors: { probe: fromPromise(() => writePath.probe()) },
    actions: {
      openRoute: () => writePath.setRoute(true),
      closeRoute: () => writePath.setRoute(false),
      flushNow: () => writePath.flush(),
      alert: (_, params) => writerLog.error(params.message),
    },
  });
  const drainer = drainerMachine.provide({
    actors: {
      drainChunk: fromPromise(async () => {
        const p = await writePath.drainChunk(1000);
        if (p.drained > 0) {
          drainerLog.info(
            {
              drained: p.drained,
              pending: p.pending,
              ratePerS: p.ratePerS,
              oldestAgeS: p.oldestAt ? Math.round((Date.now() - p.oldestAt) / 1000) : null,
            },
            `replayed ${p.drained} points (${p.ratePerS}/s); ${p.pending} waiting`,
          );
        }
        return p;
      }),
    },
    actions: {
      beginDrain: () => writePath.setDraining(true),
      endDrain: () => writePath.setDraining(false),
    },
  });
  return {
    spool,
    writePath,
    writer,
    drainer,
    writerInput: { configured: client !== null, probeBaseMs: config.influx.probeBaseMs, probeMaxMs: config.influx.probeMaxMs },
    drainerInput: { retryMs: Math.max(1000, config.influx.probeBaseMs) },
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
