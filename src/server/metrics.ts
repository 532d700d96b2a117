/**
 * Prometheus metrics on a registry of our own (no global default registry: every server instance,
 * and every test, gets its own). Counters are read from Stats at scrape time, so the hot path
 * only increments plain numbers.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Stats } from '../stats.js';
import { stateText } from '../logging/transition-logger.js';

export interface MetricsSources {
  stats: Stats;
  /** Current state value per actor (`{ writer: 'influxUp', ... }`). */
  actorStates(): Record<string, unknown>;
  spoolPendingPoints(): number;
  wsClients(): number;
}

export interface Metrics {
  registry: Registry;
  observeWriteLatency(seconds: number, outcome: string): void;
}

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
  // issue 11: the conservation law's counters (built = landed + buffered + spool pending + dead-lettered + dropped).
  ['pointsBuilt', 'tickpipe_points_built_total', 'Points built from the feed (plus those found in the spool at start)'],
  ['pointsRecoveredAtStart', 'tickpipe_points_recovered_at_start_total', 'Points found waiting in the spool at start'],
  ['pointsLanded', 'tickpipe_points_landed_total', 'Points InfluxDB acknowledged, each counted once'],
  ['pointsDroppedDiskFull', 'tickpipe_points_dropped_disk_full_total', 'Points dropped: spool unwritable and the memory bound reached'],
  ['pointsDroppedShutdown', 'tickpipe_points_dropped_shutdown_total', 'Points only memory held at shutdown (spool unwritable)'],
  ['deadLettersPruned', 'tickpipe_dead_letters_pruned_total', 'Dead letters deleted to stay within DEAD_LETTER_MAX'],
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
  // issue 11: the gauge terms of the conservation law.
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
  return {
    registry,
    observeWriteLatency: (seconds, outcome) => writeLatency.observe({ outcome }, seconds),
  };
}
