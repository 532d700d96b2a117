/**
 * Shared by the storage benchmarks (storage, spool, outage): realistic decoded frames, the same
 * points through the official client's `Point` API, a tickpipe storage driven by the real writer
 * and drainer machines, a rate pacer and RSS sampling. Not a benchmark itself (no `.bench`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { Point } from '@influxdata/influxdb-client';
import { type Actor, createActor } from 'xstate';
import { pipelineMachine } from '../../machines/pipeline.js';
import { createLogger } from '../../src/logger.js';
import { Stats } from '../../src/stats.js';
import { type Storage, openStorage } from '../../src/storage/open-storage.js';
import { drainerInput, provideDrainer, provideWriter, writerInput } from '../../src/storage/storage.js';
import { pipelineTestInput, quietConnection, recordingNotifier } from '../helpers/pipeline-fakes.js';
import { decodeFrame } from '../../src/upstox/codec.js';
import { type DecodedFrame, FeedKind, type TickUpdate } from '../../src/upstox/feed-types.js';
import { encodeFeedResponse } from '../../src/upstox/proto-schema.js';

export const INSTRUMENTS = 100;
/** Per full-mode update: one `tick` point (30 fields with 5 depth levels) and two `candle` points. */
export const POINTS_PER_UPDATE = 3;
export const POINTS_PER_FRAME = INSTRUMENTS * POINTS_PER_UPDATE;
export const BASE_TS = 1_732_000_000_000;

function fullFeed(f: number, i: number) {
  // Prices move per frame and instrument so the number→string work is not served from V8's cache.
  const p = 1000 + i * 7.35 + ((f * 37 + i * 11) % 400) * 0.05;
  const r2 = (x: number) => Math.round(x * 100) / 100;
  return {
    fullFeed: {
      marketFF: {
        ltpc: { ltp: r2(p), ltt: BASE_TS + f * 10 + i, ltq: 1 + ((f + i) % 50), cp: r2(p * 0.99) },
        marketLevel: {
          bidAskQuote: Array.from({ length: 5 }, (_, l) => ({
            bidQ: 100 + ((f * 3 + l * 17 + i) % 900),
            bidP: r2(p - (l + 1) * 0.05),
            askQ: 90 + ((f * 5 + l * 13 + i) % 800),
            askP: r2(p + (l + 1) * 0.05),
          })),
        },
        marketOHLC: {
          ohlc: [
            {
              interval: '1d',
              open: r2(p * 0.98),
              high: r2(p * 1.02),
              low: r2(p * 0.97),
              close: r2(p),
              vol: 1_234_567 + f * 100 + i,
              ts: 1_731_954_600_000,
            },
            {
              interval: 'I1',
              open: r2(p - 0.5),
              high: r2(p + 0.5),
              low: r2(p - 1),
              close: r2(p),
              vol: 12_345 + f + i,
              ts: BASE_TS + i * 60_000,
            },
          ],
        },
        atp: r2(p * 0.995),
        vtt: 9_876_543 + f * 25 + i,
        oi: 0,
        iv: 0,
        tbq: 123_456 + f,
        tsq: 234_567 + i,
      },
    },
    requestMode: 1,
  };
}

/**
 * `count` distinct decoded frames of `INSTRUMENTS` full-mode updates, decoded by tickpipe's codec
 * from real V3 bytes (what WritePath.pushFrame receives in production).
 */
export function makeFrameTemplates(count: number): DecodedFrame[] {
  const out: DecodedFrame[] = [];
  for (let f = 0; f < count; f++) {
    const feeds: Record<string, unknown> = {};
    for (let i = 0; i < INSTRUMENTS; i++) feeds[`NSE_EQ|INE${String(i).padStart(6, '0')}01018`] = fullFeed(f, i);
    out.push(decodeFrame(encodeFeedResponse({ type: 1, feeds, currentTs: BASE_TS })));
  }
  return out;
}

/** Frame number `n` of a stream: a template with its own timestamp, so every tick point is distinct. */
export function frameAt(templates: DecodedFrame[], n: number, baseTs = BASE_TS): DecodedFrame {
  const t = templates[n % templates.length];
  return { type: t.type, ts: baseTs + n, updates: t.updates, marketStatus: null };
}

/**
 * The baseline's work per frame: one `Point` per point tickpipe writes, with the same measurement,
 * tags, field names and types (float / `i` integer) and the same timestamp.
 */
export function officialPoints(frame: DecodedFrame, run: string): Point[] {
  const out: Point[] = [];
  const ts = frame.ts;
  for (const u of frame.updates) {
    const p = new Point('tick').tag('instrument_key', u.key).tag('run', run).tag('segment', u.segment);
    p.floatField('ltp', u.ltp).intField('ltt', u.ltt).intField('ltq', u.ltq).floatField('cp', u.cp);
    if (u.kind === FeedKind.MarketFull) {
      p.floatField('atp', u.atp)
        .intField('vtt', u.vtt)
        .floatField('oi', u.oi)
        .floatField('iv', u.iv)
        .floatField('tbq', u.tbq)
        .floatField('tsq', u.tsq);
    }
    depthFields(p, u);
    out.push(p.timestamp(ts));
    for (const c of u.candles ?? []) {
      out.push(
        new Point('candle')
          .tag('instrument_key', u.key)
          .tag('interval', c.interval)
          .tag('run', run)
          .tag('segment', u.segment)
          .floatField('open', c.open)
          .floatField('high', c.high)
          .floatField('low', c.low)
          .floatField('close', c.close)
          .intField('volume', c.volume)
          .timestamp(c.ts),
      );
    }
  }
  return out;
}

function depthFields(p: Point, u: TickUpdate): void {
  const d = u.depth;
  for (let i = 0, n = 1; i + 3 < d.length; i += 4, n++) {
    p.intField(`bid_qty_${n}`, d[i])
      .floatField(`bid_price_${n}`, d[i + 1])
      .intField(`ask_qty_${n}`, d[i + 2])
      .floatField(`ask_price_${n}`, d[i + 3]);
  }
}

/** A temporary directory removed by the returned function. */
export function tempDir(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export interface TickpipeStorage {
  storage: Storage;
  stats: Stats;
  root: Actor<typeof pipelineMachine>;
  writerState(): string;
  close(): Promise<void>;
}

/**
 * tickpipe's storage as the service composes it (src/service.ts): openStorage with the default
 * configuration values, the real writer and drainer machines under the pipeline root, outcomes
 * routed to them by the root. The feed never starts; the notifier is disabled.
 */
export function startTickpipeStorage(opts: { url: string | undefined; spoolPath: string; run: string }): TickpipeStorage {
  const stats = new Stats();
  const logger = createLogger(process.env['BENCH_LOG_LEVEL'] ?? 'error');
  let root: Actor<typeof pipelineMachine> | undefined = undefined;
  const config = {
    influx: {
      url: opts.url,
      token: undefined,
      org: 'bench',
      bucket: 'bench',
      batchMaxPoints: 5000,
      flushIntervalMs: 1000,
      writeTimeoutMs: 10_000,
      probeBaseMs: 500,
      probeMaxMs: 15_000,
      extraTags: { run: opts.run },
      split5xxAfter: 3,
      // BENCH_LANES=1 measures the one-request-at-a-time design.
      writeLanes: Number(process.env['BENCH_LANES'] ?? 2),
    },
    spool: {
      path: opts.spoolPath,
      maxBytes: 2048 * 1024 * 1024,
      fullPolicy: 'drop-oldest' as const,
      drainChunkPoints: 20_000,
      memoryMaxPoints: 500_000,
      lockTimeoutMs: 30_000,
      deadLetterMax: 100_000,
      workerNice: 0,
      workerQueueMaxBytes: 512 * 1024 * 1024,
    },
  };
  const storage = openStorage({ config, stats, logger, report: (event) => root?.send(event) });
  root = createActor(
    pipelineMachine.provide({
      actors: {
        connection: quietConnection,
        writer: provideWriter({ writePath: storage.writePath, logger: logger.child({ actor: 'writer' }) }),
        drainer: provideDrainer({ writePath: storage.writePath, logger: logger.child({ actor: 'drainer' }) }),
        notifier: recordingNotifier(),
      },
    }),
    { input: pipelineTestInput({ writer: writerInput(config), drainer: drainerInput(config) }) },
  );
  root.start();
  const r = root;
  return {
    storage,
    stats,
    root: r,
    writerState: () => JSON.stringify(r.system.get('writer')?.getSnapshot().value),
    async close() {
      await storage.close(2000);
      r.stop();
    },
  };
}

/**
 * Calls `pushFrame(n)` for frame n = 0, 1, ... at `pointsPerS` (in frames of POINTS_PER_FRAME),
 * catching up on timer lateness, until `stop()`; a frame per macrotask, as websocket frames arrive.
 */
export function pace(pointsPerS: number, pushFrame: (n: number) => void): { stop(): void; readonly frames: number } {
  const start = performance.now();
  let frames = 0;
  let stopped = false;
  const loop = async () => {
    while (!stopped) {
      const due = Math.floor(((performance.now() - start) * pointsPerS) / 1000 / POINTS_PER_FRAME);
      if (frames < due) {
        pushFrame(frames++);
        await yieldToLoop();
      } else {
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  };
  void loop();
  return {
    stop: () => {
      stopped = true;
    },
    get frames() {
      return frames;
    },
  };
}

/** Process RSS in MB after a full collection (run node with --expose-gc). */
export function rssAfterGc(): { rssMb: number; heapMb: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return { rssMb: m.rss / 1048576, heapMb: m.heapUsed / 1048576 };
}

export const MB = (bytes: number): string => (bytes / 1048576).toFixed(1);
