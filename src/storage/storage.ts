/**
 * The writer and drainer machines provided with the storage data plane. The data plane runs in the
 * storage worker (src/storage/worker/) in the service and in-process in the storage tests
 * (src/storage/open-storage.ts): both offer the `StoragePlane` calls the machines make.
 */
import { fromPromise } from 'xstate';
import type { DrainProgress } from '../../machines/events.js';
import { type DrainerInput, drainerMachine } from '../../machines/drainer.js';
import { type WriterInput, writerMachine } from '../../machines/writer.js';
import { type Config, isInfluxConfigured } from '../config.js';
import type { Logger } from '../logger.js';

/** What the writer and drainer machines drive: WritePath in-process, or the StorageWorker proxy. */
export interface StoragePlane {
  probe(): Promise<void>;
  setRoute(open: boolean): void;
  flush(): void;
  setDraining(on: boolean): void;
  drainChunk(maxMs?: number): Promise<DrainProgress>;
}

export function writerInput(config: Pick<Config, 'influx'>): WriterInput {
  return {
    configured: isInfluxConfigured(config.influx),
    probeBaseMs: config.influx.probeBaseMs,
    probeMaxMs: config.influx.probeMaxMs,
    now: Date.now,
    random: Math.random,
  };
}

/** The writer machine with its I/O: the probe, and the route of the write path. */
export function provideWriter(deps: { writePath: StoragePlane; logger: Logger }) {
  const { writePath, logger } = deps;
  return writerMachine.provide({
    actors: { probe: fromPromise(() => writePath.probe()) },
    actions: {
      openRoute: () => writePath.setRoute(true),
      closeRoute: () => writePath.setRoute(false),
      flushNow: () => writePath.flush(),
      alert: (_, params) => logger.error(params.message),
    },
  });
}

export function drainerInput(config: Pick<Config, 'influx'>): DrainerInput {
  return { retryMs: Math.max(1000, config.influx.probeBaseMs), now: Date.now };
}

/** The drainer machine with its I/O: the write path's chunked replay. */
export function provideDrainer(deps: { writePath: StoragePlane; logger: Logger }) {
  const { writePath, logger } = deps;
  return drainerMachine.provide({
    actors: {
      drainChunk: fromPromise(async () => {
        const p = await writePath.drainChunk(1000);
        if (p.drained > 0) {
          logger.info(
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
}
