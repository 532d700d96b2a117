/**
 * What /state, /ready and /metrics show of NATS publishing (the README: `nats` with
 * `connected`, `published`, `failed`).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { NatsPublisher } from './publisher.js';

export interface NatsState {
  connected: boolean;
  /** Stored by JetStream. */
  published: number;
  /** An error, or no ack in time. */
  failed: number;
  /** Not sent: NATS disconnected, or too many acks outstanding. */
  dropped: number;
  droppedDisconnected: number;
  droppedBackpressure: number;
  /** Acknowledged as already stored (same Nats-Msg-Id). */
  duplicates: number;
  inFlight: number;
  stream: string;
  streamReady: boolean;
  lastError: string | null;
  /** Seconds since ticks last went unpublished; null if none ever did. */
  lastProblemAgoS: number | null;
}

/** A publishing problem this recent is a /ready reason. */
export const NATS_PROBLEM_WINDOW_S = 10;

export function natsState(p: NatsPublisher, stream: string): NatsState {
  const c = p.counters;
  return {
    connected: p.connected,
    published: c.published,
    failed: c.failed,
    dropped: c.droppedDisconnected + c.droppedBackpressure,
    droppedDisconnected: c.droppedDisconnected,
    droppedBackpressure: c.droppedBackpressure,
    duplicates: c.duplicates,
    inFlight: p.pending,
    stream,
    streamReady: p.streamExists,
    lastError: p.lastError,
    lastProblemAgoS: p.lastProblemAt === null ? null : Math.round((performance.now() - p.lastProblemAt) / 1000),
  };
}

/** /ready reasons: NATS away, or ticks not published lately. */
export function natsReasons(n: NatsState): string[] {
  if (!n.connected) return [`NATS is not connected: ticks are not being published (${n.lastError ?? 'connecting'})`];
  if (n.lastProblemAgoS !== null && n.lastProblemAgoS < NATS_PROBLEM_WINDOW_S) {
    return [`NATS publishing is failing: ${n.failed} failed and ${n.dropped} dropped so far (${n.lastError ?? 'unknown'})`];
  }
  return [];
}

export function registerNatsMetrics(registry: Registry, state: () => NatsState): void {
  new Gauge({
    name: 'tickpipe_nats_connected',
    help: '1 while connected to NATS',
    registers: [registry],
    collect() {
      this.set(state().connected ? 1 : 0);
    },
  });
  const counters: Array<[keyof NatsState, string, string]> = [
    ['published', 'tickpipe_nats_published_total', 'Messages JetStream acknowledged as stored'],
    ['failed', 'tickpipe_nats_failed_total', 'Publishes that got an error or no ack in time'],
    ['dropped', 'tickpipe_nats_dropped_total', 'Messages not published: NATS disconnected or too many acks outstanding'],
    ['duplicates', 'tickpipe_nats_duplicates_total', 'Publishes JetStream recognised as already stored (same Nats-Msg-Id)'],
  ];
  for (const [field, name, help] of counters) {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        const v = state()[field] as number;
        if (v > 0) this.inc(v);
      },
    });
  }
}
