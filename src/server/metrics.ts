/**
 * Prometheus metrics on a registry of our own (no global default registry: every server instance,
 * and every test, gets its own). Counters are read from Stats at scrape time, so the hot path
 * only increments plain numbers.
 */
import { type EventLoopUtilization, performance } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Stats } from '../stats.js';
import { stateText } from '../logging/transition-logger.js';
import { EventLoopWindow, type EventLoopFigures } from './event-loop-window.js';
import { type TickPathFigures, TickPathWindow } from './tick-path-window.js';

export interface MetricsSources {
  stats: Stats;
  /** Current state value per actor (`{ writer: 'influxUp', ... }`). */
  actorStates(): Record<string, unknown>;
  spoolPendingPoints(): number;
  wsClients(): number;
  /** The storage worker (src/storage/worker/storage-worker.ts): its queue, CPU and event loop. */
  storageWorker?: StorageWorkerSource;
}

export interface StorageWorkerSource {
  queue(): { frames: number; bytes: number };
  running(): boolean;
  cpuSeconds(): number | null;
  eventLoopUtilization(u1?: EventLoopUtilization, u2?: EventLoopUtilization): EventLoopUtilization;
}

export interface Metrics {
  registry: Registry;
  observeWriteLatency(seconds: number, outcome: string): void;
  /**
   * A feed frame handled: its Upstox time (`currentTs`, ms since the epoch; 0 when absent) and when
   * its message arrived (`performance.now()`); the handling ends now, its ticks written to the
   * /ticks clients' sockets.
   */
  observeFrame(frameTs: number, arrivedAt: number): void;
  /**
   * The event loop, and the tick path (observeFrame), over one window of up to 5 s, for /state
   * (its own window: scrapes do not shorten it).
   */
  runtime(): { loop: EventLoopFigures; tickPath: TickPathFigures };
}

/** /state's window: long enough to be steady for a page polling every second or two. */
const STATE_WINDOW_MS = 5000;

/** The numeric fields of Stats (its counters, not its methods). */
type CounterField = { [K in keyof Stats]: Stats[K] extends number ? K : never }[keyof Stats];

const COUNTERS: Array<[CounterField, string, string]> = [
  ['framesReceived', 'tickpipe_frames_received_total', 'Websocket frames received from Upstox'],
  ['updatesReceived', 'tickpipe_updates_received_total', 'Per-instrument updates decoded'],
  ['decodeErrors', 'tickpipe_decode_errors_total', 'Malformed frames counted and skipped'],
  ['pointsWritten', 'tickpipe_points_written_total', 'Points acknowledged by InfluxDB (live and drained)'],
  ['pointsSpooled', 'tickpipe_points_spooled_total', 'Points appended to the spool'],
  ['pointsDrained', 'tickpipe_points_drained_total', 'Points replayed from the spool and acknowledged'],
  ['pointsDeadLettered', 'tickpipe_points_dead_lettered_total', 'Points InfluxDB rejected, kept in the dead-letter table'],
  ['pointsDroppedSpoolFull', 'tickpipe_points_dropped_spool_full_total', 'Points removed by the spool size policy'],
  // the conservation law's counters (built = landed + buffered + spool pending + dead-lettered + dropped).
  ['pointsBuilt', 'tickpipe_points_built_total', 'Points built from the feed (plus those found in the spool at start)'],
  ['pointsRecoveredAtStart', 'tickpipe_points_recovered_at_start_total', 'Points found waiting in the spool at start'],
  ['pointsLanded', 'tickpipe_points_landed_total', 'Points InfluxDB acknowledged, each counted once'],
  ['pointsDroppedDiskFull', 'tickpipe_points_dropped_disk_full_total', 'Points dropped: spool unwritable and the memory bound reached'],
  ['pointsDroppedShutdown', 'tickpipe_points_dropped_shutdown_total', 'Points only memory held at shutdown (spool unwritable)'],
  [
    'updatesDroppedStorageQueue',
    'tickpipe_updates_dropped_storage_queue_total',
    'Updates not handed to storage: its queue was past STORAGE_QUEUE_MAX_MB, or the worker had failed',
  ],
  ['deadLettersPruned', 'tickpipe_dead_letters_pruned_total', 'Dead letters deleted to stay within DEAD_LETTER_MAX'],
  [
    'candleUpdatesMerged',
    'tickpipe_candle_updates_merged_total',
    'Candle copies merged into the one point per batch of the same candle (InfluxDB keeps only the last)',
  ],
  ['reconnects', 'tickpipe_reconnects_total', 'Feed reconnects'],
  ['wsMessagesDropped', 'tickpipe_ws_messages_dropped_total', '/ticks messages skipped by conflation or lost with a dropped client'],
  ['wsClientsDropped', 'tickpipe_ws_clients_dropped_total', '/ticks clients disconnected for being too slow'],
];

export function createMetrics(src: MetricsSources): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  for (const [field, name, help] of COUNTERS) {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        // The source of truth is the monotonic Stats counter; mirror it at scrape time.
        this.reset();
        const v = src.stats[field];
        if (v > 0) this.inc(v);
      },
    });
  }
  new Gauge({
    name: 'tickpipe_spool_pending_points',
    help: 'Points in the spool waiting for InfluxDB',
    registers: [registry],
    collect() {
      this.set(src.spoolPendingPoints());
    },
  });
  // the gauge terms of the conservation law.
  new Gauge({
    name: 'tickpipe_points_buffered',
    help: 'Points in memory, not yet in the spool (the batch being built and batches an unwritable spool refused)',
    registers: [registry],
    collect() {
      this.set(src.stats.pointsBuffered);
    },
  });
  new Gauge({
    name: 'tickpipe_ws_clients',
    help: 'Connected /ticks clients',
    registers: [registry],
    collect() {
      this.set(src.wsClients());
    },
  });
  new Gauge({
    name: 'tickpipe_actor_state',
    help: 'Current state of each actor (1 for the active state)',
    labelNames: ['actor', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [actor, value] of Object.entries(src.actorStates())) this.set({ actor, state: stateText(value) }, 1);
    },
  });
  const writeLatency = new Histogram({
    name: 'tickpipe_influx_write_seconds',
    help: 'InfluxDB write request latency by outcome',
    labelNames: ['outcome'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const tickPathWindow = new TickPathWindow();
  const observeFrame = registerTickPathHistograms(registry, tickPathWindow);
  registerEventLoopGauges(registry);
  if (src.storageWorker) registerStorageWorkerMetrics(registry, src.storageWorker);
  const stateWindow = new EventLoopWindow(() => tickPathWindow.reset());
  return {
    registry,
    runtime: () => {
      // Read before the event loop's window may restart (and reset the tick path's with it).
      const tickPath = tickPathWindow.figures();
      return { loop: stateWindow.take(STATE_WINDOW_MS), tickPath };
    },
    observeWriteLatency: (seconds, outcome) => writeLatency.observe({ outcome }, seconds),
    observeFrame,
  };
}

/**
 * Where a tick's latency goes, up to the strategy's socket: before its message event (Upstox, the
 * network, the wait for this event loop, and any difference between Upstox's clock and this
 * machine's) and after it (decoding, the hand-over to storage, the fan-out). What remains of a
 * strategy's latency is its own machine's: the kernel and the strategy's process. One
 * observation per frame (tens a second).
 */
function registerTickPathHistograms(registry: Registry, window: TickPathWindow): (frameTs: number, arrivedAt: number) => void {
  const feedDelay = new Histogram({
    name: 'tickpipe_feed_delay_seconds',
    help: "From a feed frame's Upstox time (currentTs) to its arrival here: Upstox, the network, the wait for the event loop, and the two clocks' difference (negative counts as 0)",
    buckets: [0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const handling = new Histogram({
    name: 'tickpipe_frame_handling_seconds',
    help: "From a feed frame's arrival to its ticks written to every /ticks client's socket (decode, hand-over to storage, fan-out): tickpipe's share of a tick's latency",
    // Millisecond steps up to 5 ms: the range a strategy's latency budget is spent in.
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25],
    registers: [registry],
  });
  return (frameTs, arrivedAt) => {
    const handlingMs = performance.now() - arrivedAt;
    const delayMs = frameTs > 0 ? Math.max(0, performance.timeOrigin + arrivedAt - frameTs) : null;
    handling.observe(handlingMs / 1000);
    if (delayMs !== null) feedDelay.observe(delayMs / 1000);
    window.record(delayMs, handlingMs);
  };
}

/**
 * The event loop since the previous scrape. prom-client's nodejs_eventloop_lag_* include its
 * 10 ms sampling interval in every sample; these give the delay beyond it, and the utilisation,
 * which prom-client does not export. CPU (all threads) is prom-client's process_cpu_seconds_total.
 */
function registerEventLoopGauges(registry: Registry): void {
  const loop = new EventLoopWindow();
  // Registered first, so that its collect (reading the window for all four) runs before the
  // other three are serialised: the registry serialises metrics in registration order.
  new Gauge({
    name: 'tickpipe_event_loop_utilisation',
    help: 'Share of the time since the previous scrape the main event loop spent running code (0..1)',
    registers: [registry],
    collect() {
      const f = loop.take();
      p50.set(f.delayP50Ms / 1000);
      p99.set(f.delayP99Ms / 1000);
      max.set(f.delayMaxMs / 1000);
      this.set(f.utilisation);
    },
  });
  const gauge = (name: string, help: string) => new Gauge({ name, help, registers: [registry] });
  const p50 = gauge(
    'tickpipe_event_loop_delay_p50_seconds',
    'Median event-loop delay beyond the 10 ms sampling timer, since the previous scrape',
  );
  const p99 = gauge('tickpipe_event_loop_delay_p99_seconds', '99th percentile of the event-loop delay, since the previous scrape');
  const max = gauge('tickpipe_event_loop_delay_max_seconds', 'Longest event-loop delay since the previous scrape');
}

/** The storage worker's thread: whether it runs, what waits for it, and what it costs. */
function registerStorageWorkerMetrics(registry: Registry, w: StorageWorkerSource): void {
  new Gauge({
    name: 'tickpipe_storage_worker_up',
    help: 'The storage worker thread (spool, InfluxDB writes) is running (1) or not (0: failed, or shut down)',
    registers: [registry],
    collect() {
      this.set(w.running() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'tickpipe_storage_worker_queue_frames',
    help: 'Feed frames handed to the storage worker and not yet applied by it',
    registers: [registry],
    collect() {
      this.set(w.queue().frames);
    },
  });
  new Gauge({
    name: 'tickpipe_storage_worker_queue_bytes',
    help: 'Bytes of the feed frames handed to the storage worker and not yet applied by it',
    registers: [registry],
    collect() {
      this.set(w.queue().bytes);
    },
  });
  new Counter({
    name: 'tickpipe_storage_worker_cpu_seconds_total',
    help: 'CPU time (user + system) of the storage worker thread (absent where /proc is not available)',
    registers: [registry],
    collect() {
      this.reset();
      const cpu = w.cpuSeconds();
      if (cpu !== null && cpu > 0) this.inc(cpu);
    },
  });
  let base: EventLoopUtilization | undefined;
  new Gauge({
    name: 'tickpipe_storage_worker_event_loop_utilisation',
    help: "Share of the time since the previous scrape the storage worker's event loop spent running code (0..1)",
    registers: [registry],
    collect() {
      if (!w.running()) return this.set(0);
      const now = w.eventLoopUtilization();
      this.set(base ? Math.round(w.eventLoopUtilization(now, base).utilization * 1000) / 1000 : 0);
      base = now;
    },
  });
}
