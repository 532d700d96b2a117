/**
 * Publishes ticks and market status to JetStream (CONTRACT.md "Beyond one machine").
 *
 * Called on the per-frame path, so it never waits and never throws: each message is one
 * asynchronous `js.publish` whose acknowledgement is checked when it comes back. At most
 * `maxInFlight` publishes wait for their ack at once; a message that finds NATS away or the
 * limit reached is not published and is counted (`droppedDisconnected`, `droppedBackpressure`),
 * one whose ack says no (timeout, no stream, server error) in `failed`. InfluxDB stays the
 * system of record, so nothing here ever holds a tick back: NATS is the live bus.
 *
 * The stream is made sure of after every (re)connect: created when missing, with the contract's
 * subjects and retention (a server that lost its store gets it back).
 */
import {
  type JetStreamClient,
  type JetStreamManager,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
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
/** A problem is logged at once, then at most this often while it lasts (the counters say the rest). */
const LOG_EVERY_MS = 10_000;

export class NatsPublisher {
  readonly counters: NatsCounters = { published: 0, duplicates: 0, failed: 0, droppedDisconnected: 0, droppedBackpressure: 0 };
  private js: JetStreamClient | null = null;
  private inFlight = 0;
  private readonly subjects = new SubjectCache();
  /** The stream exists (made sure of since the last connect). */
  private streamReady = false;
  lastError: string | null = null;
  private lastLoggedAt = 0;
  private readonly onAck = (ack: { duplicate: boolean }): void => {
    this.inFlight--;
    if (ack.duplicate) this.counters.duplicates++;
    else this.counters.published++;
  };
  private readonly onFail = (err: unknown): void => {
    this.inFlight--;
    this.counters.failed++;
    this.problem('NATS publish failed', err);
  };

  constructor(private readonly opts: NatsPublisherOptions) {
    opts.link.onConnect((nc) => {
      this.js = jetstream(nc);
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
    return this.inFlight;
  }

  /** Hot path: one tick, its /ticks JSON as bytes. */
  publishTick(key: string, ts: number, payload: Uint8Array): void {
    this.send(this.subjects.get(key), tickMsgId(key, ts), payload);
  }

  /** A market status change, its /ticks JSON as bytes. */
  publishMarketStatus(ts: number, payload: Uint8Array): void {
    this.send(MARKET_STATUS_SUBJECT, marketStatusMsgId(ts), payload);
  }

  private send(subject: string, msgID: string, payload: Uint8Array): void {
    const js = this.js;
    if (js === null || !this.opts.link.connected) {
      this.counters.droppedDisconnected++;
      this.problem('NATS is not connected: ticks are not being published', this.opts.link.lastError);
      return;
    }
    if (this.inFlight >= this.opts.maxInFlight) {
      this.counters.droppedBackpressure++;
      this.problem(`NATS is not acknowledging fast enough: ${this.inFlight} publishes wait; dropping`, null);
      return;
    }
    this.inFlight++;
    js.publish(subject, payload, { msgID, timeout: this.opts.ackTimeoutMs }).then(this.onAck, this.onFail);
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
    const now = Date.now();
    this.lastError = err === null || err === undefined ? what : `${what}: ${describeError(err)}`;
    if (now - this.lastLoggedAt < LOG_EVERY_MS) return;
    this.lastLoggedAt = now;
    this.opts.logger.warn({ ...this.counters, inFlight: this.inFlight }, this.lastError);
  }

  /** Waits (at most `timeoutMs`) for the publishes in flight, for a clean shutdown. */
  async settle(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  }
}

/** 10059: JSStreamNotFoundErr (the client raises StreamNotFoundError, a JetStreamApiError). */
function isStreamNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === 10059;
}
