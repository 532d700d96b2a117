/**
 * The event catalogue: every event that crosses an actor boundary or the boundary between the
 * machines and the data plane is declared here, once. Children send to their parent (the root in
 * pipeline.ts) with `sendParent`; the data plane reports to the root with `root.send`; the root
 * routes each event to its receivers (pipeline.ts's routing table). Data-plane outcomes arrive
 * aggregated (at most a few per second): ticks never travel as events.
 *
 *   sender        event             receiver        why
 *   connection    FEED_UP           writer          the feed streams again
 *                                   backfill        an outage ended: record its gaps, backfill them
 *   connection    FEED_DOWN         writer          flush what is buffered now rather than later
 *                                   backfill        an outage began (last frame's time, keys, why)
 *   writer        INFLUX_UP         drainer         the backlog may be replayed
 *   writer        INFLUX_DOWN       drainer         stop replaying; everything goes to the spool
 *   writer        LANDED            notifier        points InfluxDB acknowledged (live or drained)
 *   write path    WRITE_OK          writer          points landed (aggregated, about once a second)
 *   write path    WRITE_FAILED      writer          a write failed: InfluxDB is down or refuses us
 *   write path    SPOOLED           drainer         a backlog waits in the spool
 *   write path    SPOOL_FAILED      writer          the spool cannot be written; points wait in memory
 *   write path    SPOOL_OK          writer          the spool takes writes again
 *   service       SET_SUBSCRIPTION  connection      POST /subscriptions (or a chain) changed the subscription
 *   service       START_FEED        root            the server listens: start the connection
 *   service       STOP_FEED         root            shutdown: stop the connection first
 *   leadership    LEAD              root            this instance holds the HA lease: start the feed
 *   leadership    STEP_DOWN         root            fenced or stopping: stop the feed now
 *   leadership    HANDOVER_FOUND    backfill        taking over: the previous leader's last frame opens an outage
 *   leadership    LEASE_RELEASED    leadership      (its own watch) the leader gave the lease back
 *   service       STOP              leadership      graceful shutdown: hand the lease over at once
 *   service       OUTAGE_FOUND      backfill        at start: the previous run stopped or crashed
 *   service       GAPS_PENDING      backfill        at start: gaps the ledger holds unfilled
 *   service       UPSTOX_CLOCK      backfill        Upstox's time (from frames) while a gap waits
 *   service       STORAGE_GAP       backfill        frames the storage worker's full queue did not take (a gap in InfluxDB)
 *   feed socket   SOCKET_*, FEED_ALIVE, FEED_PONG, FEED_GARBAGE, MARKET_STATUS
 *                                   connection      (its own child, not routed)
 *   connection    SEND, PING        feed socket     a subscription request; a websocket ping
 *   price watch   PRICE             chain:<U>       the underlying's last price (its own child, not routed)
 *   chains        MASTER_UPDATED    chain:<U>       a new instrument master: plan again
 */
import type { ErrorCode } from './rules/error-codes.js';
import type { Gap, GapReason } from './rules/gaps.js';
import type { ChainSpec } from './rules/option-chain.js';
import type { FeedMode, Subscription, SubscriptionRequest } from './rules/subscriptions.js';

/** What landed in InfluxDB: a count, the time span, and which instruments. */
export interface LandedSummary {
  points: number;
  /** Smallest and largest point timestamp (ms) among them. */
  firstTs: number;
  lastTs: number;
  /** Instrument keys among them (deduplicated, sorted). */
  keys: string[];
}

// ── control plane: between actors ────────────────────────────────────────────────────────────

/** Segment → open (not NORMAL_CLOSE/CLOSING_END), from the latest market_info. */
type SegmentsOpen = Readonly<Record<string, boolean>>;

export interface FeedUpEvent {
  type: 'FEED_UP';
  /** Upstox's time of the first frame after the outage (ms). */
  at: number;
  /** The keys subscribed now. */
  keys: readonly string[];
  open?: SegmentsOpen;
  /** What kept the feed down, when it says more than how it went down. */
  gapReason?: GapReason;
}
export interface FeedDownEvent {
  type: 'FEED_DOWN';
  reason: string;
  /** Upstox's time of the last frame before the interruption (ms). */
  at: number;
  /** The keys subscribed when it went down. */
  keys: readonly string[];
  gapReason: GapReason;
  open?: SegmentsOpen;
}
export interface InfluxUpEvent {
  type: 'INFLUX_UP';
}
export interface InfluxDownEvent {
  type: 'INFLUX_DOWN';
  reason: string;
  code: ErrorCode;
}
/** What landed in InfluxDB since the previous LANDED. */
export interface LandedEvent extends LandedSummary {
  type: 'LANDED';
}

// ── data plane → machines (storage) ──────────────────────────────────────────────────────────

/** Points InfluxDB acknowledged since the previous WRITE_OK. */
export interface WriteOkEvent extends LandedSummary {
  type: 'WRITE_OK';
}
/** How a write failed in a way that stops writing (bad lines are dead-lettered instead). */
export type WriteFailure =
  | 'unavailable'
  | 'unauthorized'
  | 'forbidden'
  | 'bucketNotFound'
  /** A 400 about the request itself, not its lines (no org, a bad bucket id). */
  | 'badRequest';
export interface WriteFailedEvent {
  type: 'WRITE_FAILED';
  outcome: WriteFailure;
  code: ErrorCode;
  message: string;
  /** Seconds InfluxDB asked us to wait (Retry-After), when it said. */
  retryAfterS?: number;
}
export interface SpooledEvent {
  type: 'SPOOLED';
  /** Points waiting in the spool. */
  pending: number;
}
/** The spool cannot be written (full disk, locked, read-only): points wait in memory. Said once per change. */
export interface SpoolFailedEvent {
  type: 'SPOOL_FAILED';
  message: string;
}
/** The spool takes writes again. */
export interface SpoolOkEvent {
  type: 'SPOOL_OK';
}
/** What the data plane reports about storage. */
export type StorageReport = WriteOkEvent | WriteFailedEvent | SpooledEvent | SpoolFailedEvent | SpoolOkEvent;

/** The drainer's `drainChunk` result: one chunk of replay, about a second's worth. */
export interface DrainProgress {
  drained: number;
  pending: number;
  oldestAt: number | null;
  ratePerS: number;
}

// ── service → machines ───────────────────────────────────────────────────────────────────────

export interface SetSubscriptionEvent {
  type: 'SET_SUBSCRIPTION';
  subscription: Subscription;
}
export interface StartFeedEvent {
  type: 'START_FEED';
}
export interface StopFeedEvent {
  type: 'STOP_FEED';
}
/** The outage the previous run's end left, from the ledger's "last frame seen" mark. */
export interface OutageFoundEvent {
  type: 'OUTAGE_FOUND';
  at: number;
  keys: readonly string[];
  gapReason: Extract<GapReason, 'service stopped' | 'service crashed'>;
}
/** Gaps the ledger holds as pending (a restart in the middle of a backfill). */
interface GapsPendingEvent {
  type: 'GAPS_PENDING';
  at: number;
  gaps: Gap[];
}
/**
 * Frames from `from` to `to` (Upstox's ms) reached /ticks but not storage: the storage worker's
 * queue was past STORAGE_QUEUE_MAX_MB. A gap in InfluxDB like an outage, backfilled the same way.
 */
export interface StorageGapEvent {
  type: 'STORAGE_GAP';
  at: number;
  from: number;
  to: number;
  keys: readonly string[];
}
/** Upstox's time, about once a second while a gap waits for its last minute to close. */
interface UpstoxClockEvent {
  type: 'UPSTOX_CLOCK';
  at: number;
}

// ── leadership (HA_GROUP) → root ─────────────────────────────────────────────────────────────

export interface LeadEvent {
  type: 'LEAD';
  instance: string;
}
/**
 * A leader's "last frame seen" mark, as it writes it into the lease record with every renewal
 * (src/nats/lease.ts): Upstox's time of its newest frame and the keys it streamed. A standby keeps
 * the latest it read, because an expired or deleted lease no longer holds it.
 */
export interface LeaderMark {
  instance: string;
  at: number;
  keys: string[];
}
/**
 * Sent before LEAD when this instance takes the lease from another: the previous leader's "last
 * frame seen" mark (shared in the lease record), so the outage between the two instances is
 * recorded and backfilled like any other gap.
 */
export interface HandoverFoundEvent {
  type: 'HANDOVER_FOUND';
  /** Upstox's time of the previous leader's last frame (ms), as it last wrote it into the lease. */
  at: number;
  keys: readonly string[];
  /** `leader failover`: its lease expired; `leader handover`: it gave the lease back. */
  gapReason: Extract<GapReason, 'leader failover' | 'leader handover'>;
  /** The previous leader's instance name. */
  from: string;
}
export interface StepDownEvent {
  type: 'STEP_DOWN';
  reason: string;
}
export type LeadershipEvent =
  | { type: 'LEASE_RELEASED' }
  /** Graceful shutdown: hand over at once. */
  | { type: 'STOP' };

// ── the feed socket (data plane) ↔ the connection machine ────────────────────────────────────

export interface FeedSocketInput {
  url: string;
  /** FEED_ALIVE and FEED_GARBAGE are each sent at most this often. */
  aliveIntervalMs: number;
  connectTimeoutMs: number;
}

export type SocketEvent =
  | { type: 'SOCKET_OPEN' }
  | { type: 'SOCKET_CLOSED'; code: number; reason: string }
  | { type: 'SOCKET_ERROR'; message: string }
  /** A frame decoded (data flows). Rate-limited. */
  /** `ts`: the newest decoded frame's currentTs on this socket (where a gap starts and ends). */
  | { type: 'FEED_ALIVE'; ts?: number }
  /** The socket is alive but says nothing useful: a pong, or a server ping. */
  | { type: 'FEED_PONG' }
  /** Frames arrived that did not decode (counted in stats.decodeErrors). Rate-limited. */
  | { type: 'FEED_GARBAGE' }
  | { type: 'MARKET_STATUS'; segments: Record<string, string> };

/** Send a subscription request upstream. */
export interface SendCommand extends SubscriptionRequest {
  type: 'SEND';
  mode?: FeedMode;
}
/** Commands to the socket actor: a subscription request, or a websocket ping (answered by a pong). */
export type SocketCommand = SendCommand | { type: 'PING' };

// ── the chains actor ↔ the data plane (prices) and the composition (master, subscription) ─────

/** An underlying's last price, sampled by the data plane (at most about once a second per chain). */
export interface PriceEvent {
  type: 'PRICE';
  ltp: number;
  /** When it was sampled (ms): the chain machine's notion of now. */
  at: number;
}
/** The chains actor tells each chain that a new instrument master is in use. */
interface MasterUpdatedEvent {
  type: 'MASTER_UPDATED';
  at: number;
}
export type ChainEvent = PriceEvent | MasterUpdatedEvent;

export interface ChainPlanRequest {
  spec: ChainSpec;
  underlyingKey: string;
  price: number;
  /** The instant the plan is for (expiries whose cutoff is not after it are over). */
  now: number;
  /** Keep this expiry (a re-centre); absent: select by the spec (start, roll, new master). */
  expiry?: number;
}

export interface ChainSubscriptionChange {
  chain: string;
  add: string[];
  remove: string[];
  mode: FeedMode;
}

/** What an applied change did: the keys it actually unsubscribed (never one the chain did not add). */
export interface ChainApplied {
  removed: string[];
}

/** A fixed expiry passed and the chain released what it had added. */
export interface ChainExpired {
  chain: string;
  /** The spec's YYYY-MM-DD. */
  expiry: string;
  removed: string[];
}

export type ChangeKind = 'centred' | 'recentred' | 'rolled';

export interface ChainChange {
  chain: string;
  kind: ChangeKind;
  ltp: number | null;
  from: { atm: number; expiry: number } | null;
  to: { atm: number; expiry: number };
}

// ── what each actor receives ─────────────────────────────────────────────────────────────────

export type WriterEvent = WriteOkEvent | WriteFailedEvent | FeedUpEvent | FeedDownEvent | SpoolFailedEvent | SpoolOkEvent;
export type DrainerEvent = InfluxUpEvent | InfluxDownEvent | SpooledEvent;
export type NotifierEvent = LandedEvent | { type: 'STOP' };
export type BackfillEvent =
  FeedDownEvent | FeedUpEvent | OutageFoundEvent | HandoverFoundEvent | GapsPendingEvent | UpstoxClockEvent | StorageGapEvent;
export type ConnectionEvent =
  | SocketEvent
  | SetSubscriptionEvent
  | { type: 'STOP' }
  /** Internal: streaming long enough resets the backoff. */
  | { type: 'STABLE' }
  /** Internal: the daily token refresh is due. */
  | { type: 'TOKEN_REFRESH_DUE' }
  /** Internal: time to ping the socket. */
  | { type: 'PING_DUE' }
  /** Internal: a ping went unanswered for the pong timeout. */
  | { type: 'PONG_OVERDUE' };

/** What children send the root. */
export type ChildReport =
  FeedUpEvent | FeedDownEvent | InfluxUpEvent | InfluxDownEvent | LandedEvent | LeadEvent | StepDownEvent | HandoverFoundEvent;

/** Everything the root accepts: children's reports, the data plane's reports, the service's commands. */
export type PipelineEvent =
  | ChildReport
  | StorageReport
  | SetSubscriptionEvent
  | StartFeedEvent
  | StopFeedEvent
  | OutageFoundEvent
  | GapsPendingEvent
  | UpstoxClockEvent
  | StorageGapEvent;
