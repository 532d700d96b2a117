/**
 * GET /state and GET /ready: what the actors are doing and why, the spool, and the counters.
 */
import type { Actor, AnyActorRef } from 'xstate';
import type { pipelineMachine } from '../machines/pipeline.js';
import { segmentOf } from '../machines/rules/instrument-key.js';
import { isClosedStatus } from '../machines/rules/market-time.js';
import type { Fanout } from './fanout/fanout.js';
import { type NatsState, natsReasons } from './nats/observe.js';
import { stateText } from './logging/transition-logger.js';
import type { Stats } from './stats.js';
import type { StorageSnapshot } from './storage/worker/protocol.js';
import type { StorageWorkerHealth } from './storage/worker/storage-worker.js';

export const ACTOR_IDS = ['connection', 'writer', 'drainer', 'notifier', 'backfill'] as const;

/** Context fields that are configuration echoes, bulky, or injected functions, left out of /state. */
const OMIT = new Set(['instruments', 'limits', 'now', 'random', 'calendar']);

export interface ActorState {
  value: unknown;
  status: string;
  context: Record<string, unknown>;
}

export interface StateDocument {
  /** `leadership` only with HA_GROUP; `chains`: the instrument master and option chains. */
  actors: Record<(typeof ACTOR_IDS)[number], ActorState> & { leadership?: ActorState; chains?: ActorState };
  /** Only with NATS_URL. */
  nats?: NatsState;
  spool: {
    pendingPoints: number;
    pendingBatches: number;
    bytes: number;
    oldestAgeS: number | null;
    deadLetters: number;
    error: string | null;
    /** Points waiting in memory because the spool cannot be written(always set by buildStateDocument). */
    memoryPoints?: number;
  };
  stats: Record<string, number>;
  /** The storage worker's thread (spool, InfluxDB writes): running or failed, its queue, its CPU. */
  storageWorker?: StorageWorkerHealth;
  ticks: { clients: number };
  startedAt: string;
  uptimeS: number;
}

function actorState(ref: AnyActorRef | undefined, missing: string): ActorState {
  if (!ref) return { value: missing, status: 'stopped', context: {} };
  const snap = ref.getSnapshot() as { value: unknown; status: string; context: object };
  const context: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(snap.context)) if (!OMIT.has(k)) context[k] = v;
  if (context['subscription'] && typeof context['subscription'] === 'object') {
    context['subscribedKeys'] = Object.keys(context['subscription']).length;
  }
  return { value: snap.value, status: snap.status, context };
}

/** The storage data plane as /state reads it (src/storage/worker/storage-worker.ts: the last snapshot, and the worker's health). */
export interface StorageView {
  readonly snapshot: Pick<
    StorageSnapshot,
    'pendingPoints' | 'pendingBatches' | 'bytes' | 'oldestCreatedAt' | 'deadLetters' | 'spoolError' | 'memoryPoints'
  >;
  health(): StorageWorkerHealth;
}

export function buildStateDocument(src: {
  root: Actor<typeof pipelineMachine>;
  stats: Stats;
  storage: StorageView;
  fanout: Fanout;
  startedAt: number;
  nats?: () => NatsState;
}): StateDocument {
  const spool = src.storage.snapshot;
  const oldest = spool.oldestCreatedAt;
  const children = src.root.getSnapshot().children;
  return {
    actors: {
      connection: actorState(children.connection, 'stopped'),
      writer: actorState(children.writer, 'stopped'),
      drainer: actorState(children.drainer, 'stopped'),
      notifier: actorState(children.notifier, 'stopped'),
      backfill: actorState(children.backfill, 'stopped'),
      ...(children.leadership ? { leadership: actorState(children.leadership, 'stopped') } : {}),
      chains: actorState(children.chains, 'stopped'),
    },
    ...(src.nats ? { nats: src.nats() } : {}),
    spool: {
      pendingPoints: spool.pendingPoints,
      pendingBatches: spool.pendingBatches,
      bytes: spool.bytes,
      oldestAgeS: oldest === null ? null : Math.round((Date.now() - oldest) / 1000),
      deadLetters: spool.deadLetters,
      error: spool.spoolError,
      memoryPoints: spool.memoryPoints,
    },
    // Read with the snapshot above: the storage counters in stats were copied from that same snapshot.
    stats: src.stats.toJSON(),
    storageWorker: src.storage.health(),
    ticks: { clients: src.fanout.clientCount },
    startedAt: new Date(src.startedAt).toISOString(),
    uptimeS: Math.round((Date.now() - src.startedAt) / 1000),
  };
}

const writer0 = (state: StateDocument): unknown => state.actors.writer.value;

/** The connection context fields readiness reads (see machines/connection.ts). */
interface FeedView {
  subscription?: Record<string, string>;
  marketStatus?: Record<string, string>;
  staleFeedMs?: number;
  lastActivityAt?: number | null;
}

/**
 * Ready: the feed streams real data, and every point is either written or safely spooled.
 * Streaming is not enough: a socket that answers pings but has sent no frame that decodes for the
 * stale limit while a subscribed segment is open (garbage, or a subscription Upstox dropped) is
 * not ready, and neither is an empty subscription when instruments are configured.
 */
export function buildReadiness(
  state: StateDocument,
  opts: { instrumentsConfigured: boolean; now?: number },
): { ready: boolean; reasons: string[]; role?: 'leader' | 'standby' } {
  const reasons: string[] = [];
  const conn = state.actors.connection;
  const feed = conn.context as FeedView;
  const leadership = state.actors.leadership;
  // With HA_GROUP, an instance that does not lead is a standby (electing, fenced, stopping
  // included): not streaming is its job; it is ready once it holds no work.
  const role = leadership === undefined ? undefined : leadership.value === 'leader' || isLeader(leadership.value) ? 'leader' : 'standby';
  if (role === 'standby') {
    if (state.spool.pendingPoints > 0) reasons.push(`standby still holds ${state.spool.pendingPoints} points waiting for InfluxDB`);
  } else if (conn.value !== 'streaming') {
    const why = typeof conn.context['reason'] === 'string' ? `: ${conn.context['reason']}` : '';
    reasons.push(`feed is not streaming (connection is ${stateText(conn.value)}${why})`);
  } else {
    const keys = Object.keys(feed.subscription ?? {});
    if (keys.length === 0 && opts.instrumentsConfigured) {
      reasons.push('the subscription is empty although instruments are configured: add keys with POST /subscriptions, or restart');
    }
    const silentMs = (opts.now ?? Date.now()) - (feed.lastActivityAt ?? 0);
    const open = openSegments(keys, feed.marketStatus ?? {});
    if (feed.staleFeedMs !== undefined && silentMs > feed.staleFeedMs && open.length > 0) {
      reasons.push(
        `no valid frame for ${Math.round(silentMs / 1000)} s while ${open.join(', ')} ${open.length === 1 ? 'is' : 'are'} open ` +
          `(STALE_FEED_MS ${feed.staleFeedMs}; decodeErrors ${state.stats['decodeErrors'] ?? 0})`,
      );
    }
  }
  if (state.storageWorker?.overloaded)
    reasons.push(
      `the storage worker is not keeping up (${state.storageWorker.queueBytes} bytes of frames queued): updates are not being stored`,
    );
  if (state.storageWorker?.state === 'failed')
    reasons.push(`${state.storageWorker.error ?? 'the storage worker failed'}: points are no longer spooled`);
  if (state.spool.error)
    reasons.push(`points cannot be spooled: ${state.spool.error} (${state.spool.memoryPoints ?? 0} points wait in memory)`);
  // InfluxDB refusing the request itself (400) or the token/bucket: points wait, a person must act.
  if (stateText(writer0(state)).startsWith('influxDown.refused'))
    reasons.push(
      `InfluxDB refuses writes: ${typeof state.actors.writer.context['reason'] === 'string' ? state.actors.writer.context['reason'] : ''}; points wait in the spool`,
    );
  const writer = state.actors.writer;
  if (stateText(writer.value).startsWith('influxDown') && state.spool.error) {
    const why = typeof writer.context['reason'] === 'string' ? writer.context['reason'] : '';
    reasons.push(`InfluxDB is down (${why}) and the spool fails: points are being lost`);
  }
  if (state.nats && role !== 'standby') reasons.push(...natsReasons(state.nats));
  return { ready: reasons.length === 0, reasons, ...(role ? { role } : {}) };
}

/** `leader` or `{ leader: ... }`. */
function isLeader(value: unknown): boolean {
  return typeof value === 'object' && value !== null && 'leader' in value;
}

/** The subscribed segments not known to be closed (a segment without a status counts as open). */
function openSegments(keys: readonly string[], marketStatus: Record<string, string>): string[] {
  const open = new Set<string>();
  for (const key of keys) {
    const segment = segmentOf(key);
    if (!isClosedStatus(marketStatus[segment])) open.add(segment);
  }
  return [...open].sort();
}
