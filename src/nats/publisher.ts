/**
 * Publishes ticks and market status to JetStream (README: Beyond one machine).
 *
 * Called on the per-frame path, so it never waits and never throws. Each message is a core
 * NATS publish to a stream subject with a reply subject under one inbox subscription of ours:
 * JetStream's acknowledgement comes back there and is checked (stored, duplicate, or an error),
 * the way the Go client's PublishAsync works. `js.publish` would do the same as a request per
 * message, with a promise, a timer and an inbox lookup each: at 10,000 ticks/s that cost tripled
 * the /ticks p99 in test/bench/nats.bench.ts. Acks not back in `ackTimeoutMs` are found by one
 * sweep timer (every ack has the same timeout, so the oldest are first in the map). At most
 * `maxInFlight` publishes wait for their ack at once; a message that finds NATS away or the
 * limit reached is not published and is counted (`droppedDisconnected`, `droppedBackpressure`),
 * one whose ack says no (timeout, no stream, server error) in `failed`. InfluxDB stays the
 * system of record, so nothing here ever holds a tick back: NATS is the live bus.
 *
 * The stream is made sure of after every (re)connect: created when missing, with the contract's
 * subjects and retention (a server that lost its store gets it back).
 */
import { type JetStreamManager, JetStreamApiError, RetentionPolicy, StorageType, jetstreamManager } from '@nats-io/jetstream';
import { type Msg, type NatsConnection, type Subscription, createInbox, headers } from '@nats-io/transport-node';
import { describeError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { NatsLink } from './link.js';
import { MARKET_STATUS_SUBJECT, STREAM_SUBJECTS, SubjectCache, marketStatusMsgId, tickMsgId } from './subject.js';

export interface NatsPublisherOptions {
  link: NatsLink;
  stream: string;
  maxAgeS: number;
  /** Publishes waiting for their ack at once; past it a message is dropped (counted). */
  maxInFlight: number;
  /** An ack not back in this time counts the publish as failed. */
  ackTimeoutMs: number;
  logger: Logger;
}

/** Monotonic counters, shown in /state `nats` and /metrics. */
export interface NatsCounters {
  /** Messages JetStream acknowledged as stored. */
  published: number;
  /** Acknowledged as a duplicate of a message already stored (same Nats-Msg-Id): not stored twice. */
  duplicates: number;
  /** Publishes that got an error or no ack in time. */
  failed: number;
  /** Not published because NATS was not connected. */
  droppedDisconnected: number;
  /** Not published because `maxInFlight` publishes were already waiting. */
  droppedBackpressure: number;
}

const NANOS_PER_S = 1_000_000_000;
/** nats-server writes `"duplicate": true` (with a space); allow either. */
const DUPLICATE = /"duplicate":\s*true/;
/** A problem is logged at once, then at most this often while it lasts (the counters say the rest). */
const LOG_EVERY_MS = 10_000;

export class NatsPublisher {
  readonly counters: NatsCounters = { published: 0, duplicates: 0, failed: 0, droppedDisconnected: 0, droppedBackpressure: 0 };
  private nc: NatsConnection | null = null;
  private sub: Subscription | null = null;
  private inbox = '';
  private seq = 0;
  /** Reply token → the time its ack is due by; insertion order is deadline order. */
  private readonly waiting = new Map<string, number>();
  private sweeper: NodeJS.Timeout | undefined;
  private readonly subjects = new SubjectCache();
  /** The stream exists (made sure of since the last connect). */
  private streamReady = false;
  lastError: string | null = null;
  /** performance.now() of the last message not published; null if none. */
  lastProblemAt: number | null = null;
  private lastLoggedAt = 0;

  constructor(private readonly opts: NatsPublisherOptions) {
    opts.link.onConnect((nc) => {
      // The client resubscribes by itself after a reconnect: one inbox per connection object.
      if (this.nc !== nc) this.listen(nc);
      this.streamReady = false;
      void this.ensureStream(nc);
    });
  }

  get connected(): boolean {
    return this.opts.link.connected;
  }

  get streamExists(): boolean {
    return this.streamReady;
  }

  /** Publishes waiting for an ack right now. */
  get pending(): number {
    return this.waiting.size;
  }

  /** Hot path: one tick, its /ticks JSON as bytes. */
  publishTick(key: string, ts: number, payload: Uint8Array): void {
    this.send(this.subjects.get(key), tickMsgId(key, ts), payload);
  }

  /** A market status change, its /ticks JSON as bytes. */
  publishMarketStatus(ts: number, payload: Uint8Array): void {
    this.send(MARKET_STATUS_SUBJECT, marketStatusMsgId(ts), payload);
  }

  private listen(nc: NatsConnection): void {
    this.sub?.unsubscribe();
    this.failWaiting('connection replaced');
    this.nc = nc;
    this.inbox = createInbox();
    const prefix = this.inbox.length + 1;
    this.sub = nc.subscribe(`${this.inbox}.*`, { callback: (_err, msg) => this.onAck(msg.subject.slice(prefix), msg) });
    if (!this.sweeper) {
      this.sweeper = setInterval(() => this.sweep(), Math.min(250, this.opts.ackTimeoutMs));
      this.sweeper.unref();
    }
  }

  private send(subject: string, msgID: string, payload: Uint8Array): void {
    const nc = this.nc;
    if (nc === null || !this.opts.link.connected) {
      this.counters.droppedDisconnected++;
      this.problem('NATS is not connected: ticks are not being published', this.opts.link.lastError);
      return;
    }
    if (this.waiting.size >= this.opts.maxInFlight) {
      this.counters.droppedBackpressure++;
      this.problem(`NATS is not acknowledging fast enough: ${this.waiting.size} publishes wait; dropping`, null);
      return;
    }
    const token = (++this.seq).toString(36);
    const h = headers();
    h.set('Nats-Msg-Id', msgID);
    try {
      nc.publish(subject, payload, { headers: h, reply: `${this.inbox}.${token}` });
    } catch (err) {
      // Closed or draining connection: the client refuses at once.
      this.counters.failed++;
      this.problem('NATS publish failed', err);
      return;
    }
    this.waiting.set(token, performance.now() + this.opts.ackTimeoutMs);
  }

  /** JetStream's answer: `{"stream":..,"seq":..[,"duplicate":true]}`, `{"error":{..}}`, or a 503 status (no stream). */
  private onAck(token: string, msg: Msg): void {
    // An answer after its timeout was already counted as failed (the message may be stored all the same).
    if (!this.waiting.delete(token)) return;
    const text = msg.data.length > 0 ? msg.string() : '';
    if (text === '' || text.includes('"error"')) {
      this.counters.failed++;
      const status = msg.headers?.code ? `${msg.headers.code} ${msg.headers.description}` : '';
      this.problem('NATS publish failed', text || status || 'empty answer (is the stream there?)');
    } else if (DUPLICATE.test(text)) {
      this.counters.duplicates++;
    } else {
      this.counters.published++;
    }
  }

  private sweep(): void {
    const now = performance.now();
    let expired = 0;
    for (const [token, due] of this.waiting) {
      if (due > now) break;
      this.waiting.delete(token);
      expired++;
    }
    if (expired > 0) {
      this.counters.failed += expired;
      this.problem(`NATS did not acknowledge ${expired} publishes within ${this.opts.ackTimeoutMs} ms`, null);
    }
  }

  private failWaiting(why: string): void {
    if (this.waiting.size === 0) return;
    this.counters.failed += this.waiting.size;
    this.problem(`${this.waiting.size} publishes lost their acks (${why})`, null);
    this.waiting.clear();
  }

  /** Creates the stream when it is missing; logs (once) when its retention differs from ours. */
  private async ensureStream(nc: NatsConnection): Promise<void> {
    const { stream, maxAgeS, logger } = this.opts;
    try {
      const jsm: JetStreamManager = await jetstreamManager(nc);
      try {
        const info = await jsm.streams.info(stream);
        const age = info.config.max_age / NANOS_PER_S;
        if (age !== maxAgeS) {
          logger.warn({ stream, maxAgeS: age, configured: maxAgeS }, 'NATS stream exists with another retention; left as it is');
        }
      } catch (err) {
        if (!isStreamNotFound(err)) throw err;
        await jsm.streams.add({
          name: stream,
          subjects: [STREAM_SUBJECTS],
          retention: RetentionPolicy.Limits,
          storage: StorageType.File,
          max_age: maxAgeS * NANOS_PER_S,
        });
        logger.info({ stream, subjects: STREAM_SUBJECTS, maxAgeS }, 'NATS stream created');
      }
      this.streamReady = true;
    } catch (err) {
      this.lastError = `stream ${stream}: ${describeError(err)}`;
      logger.error({ stream, err: this.lastError }, 'NATS stream could not be made sure of; publishes will fail until it exists');
    }
  }

  private problem(what: string, err: unknown): void {
    this.lastProblemAt = performance.now();
    const now = Date.now();
    this.lastError = err === null || err === undefined ? what : `${what}: ${describeError(err)}`;
    if (now - this.lastLoggedAt < LOG_EVERY_MS) return;
    this.lastLoggedAt = now;
    this.opts.logger.warn({ ...this.counters, inFlight: this.waiting.size }, this.lastError);
  }

  /** Waits (at most `timeoutMs`) for the acks in flight, then stops listening; the rest count as failed. */
  async close(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (this.waiting.size > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    this.failWaiting('shutdown');
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
    this.sub?.unsubscribe();
    this.sub = null;
  }
}

/** 10059: JSStreamNotFoundErr (the client raises StreamNotFoundError, a JetStreamApiError). */
function isStreamNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === 10059;
}
