/**
 * The HA leader lease: one key (the HA_GROUP) in the JetStream key-value bucket
 * `tickpipe_leader`, whose TTL is the lease's length (README: High availability).
 *
 * Every change is a compare-and-set on the key's revision, so two instances can never both
 * succeed: `acquire` creates the key (it succeeds only when the key is absent, expired or
 * deleted), `renew` rewrites it at the revision this instance last wrote, `release` deletes it at
 * that revision. Renewing resets the TTL (a KV bucket's TTL is its stream's max age, counted
 * from the last write), so a leader that stops renewing (SIGKILL, partition) loses the key TTL
 * after its last successful write, and a standby's `acquire` succeeds from then on.
 *
 * The value names the holder and carries its "last frame seen" mark (Upstox time and keys), so that
 * a standby, which reads it on every poll, knows where the group's stream stopped when it takes
 * over; `acquire` also says whether the lease had been deleted or had expired (the gap's reason).
 *
 * Safety needs every instance of a group to use the same TTL: the bucket's own TTL is checked
 * against ours before anything is acquired.
 */
import { type KV, type KvEntry, Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { JetStreamApiError } from '@nats-io/jetstream';
import { TickpipeError } from '../errors.js';
import type { LeaderMark } from '../../machines/events.js';
import type { NatsLink } from './link.js';

export const LEASE_BUCKET = 'tickpipe_leader';

export interface LeaseOptions {
  link: NatsLink;
  group: string;
  /** This instance, as written into the lease (shown by /state and the inspector). */
  instance: string;
  ttlMs: number;
  /** Timeout of one KV request. */
  requestTimeoutMs: number;
  now?: () => number;
  /**
   * This instance's "last frame seen" mark (Upstox's time of its newest frame, 0 before any, and
   * the keys it streams), written into the lease with every renewal so that whoever takes over
   * next can record the gap between the two (machines/leadership.ts).
   */
  mark?: () => { at: number; keys: readonly string[] };
}

export interface LeaseHeld {
  acquired: true;
  revision: number;
  /** How long the write took: the lease runs from when it was sent, not from when it was acknowledged. */
  elapsedMs: number;
  /** On acquire: how the lease had become free (deleted by a leader stepping down, or expired). */
  freedBy?: 'release' | 'expiry';
}
export interface LeaseTaken {
  acquired: false;
  /** The instance holding it, when it could be read. */
  holder: string | null;
  /** The holder's last-frame mark, when it has streamed and the value could be read. */
  mark: LeaderMark | null;
}
export type AcquireResult = LeaseHeld | LeaseTaken;

/** The lease is held elsewhere (a renew or release found another revision). */
export class LeaseLostError extends TickpipeError {
  constructor(message: string) {
    super('LEASE_LOST', message);
  }
}

/** 10071: JSStreamWrongLastSequenceErr, the answer to a compare-and-set that lost. */
function isWrongRevision(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === 10071;
}

function holderOf(e: KvEntry | null): string | null {
  if (!e || e.operation !== 'PUT') return null;
  try {
    return (e.json<{ instance?: string }>().instance ?? null) || null;
  } catch {
    return '<unreadable lease value>';
  }
}

/** The mark in a lease value, if it names an instance, a frame time and keys. */
function markOf(e: KvEntry | null): LeaderMark | null {
  if (!e || e.operation !== 'PUT') return null;
  try {
    const v = e.json<{ instance?: unknown; lastFrameAt?: unknown; keys?: unknown }>();
    if (typeof v.instance !== 'string' || typeof v.lastFrameAt !== 'number' || !(v.lastFrameAt > 0)) return null;
    const keys = Array.isArray(v.keys) ? v.keys.filter((k): k is string => typeof k === 'string') : [];
    return { instance: v.instance, at: v.lastFrameAt, keys };
  } catch {
    return null;
  }
}

export class NatsLease {
  private kv: KV | null = null;
  private kvOf: NatsConnection | null = null;
  private readonly now: () => number;

  constructor(private readonly opts: LeaseOptions) {
    this.now = opts.now ?? (() => performance.now());
  }

  private value(): string {
    const mark = this.opts.mark?.();
    return JSON.stringify({
      instance: this.opts.instance,
      at: Date.now(),
      ...(mark ? { lastFrameAt: mark.at, keys: mark.keys } : {}),
    });
  }

  /** The bucket on the current connection, created with our TTL when missing. */
  private async bucket(): Promise<KV> {
    const nc = this.opts.link.nc;
    if (!nc) throw new TickpipeError('NATS_UNAVAILABLE', `NATS is not connected (${this.opts.link.lastError ?? 'unknown'})`);
    if (this.kv && this.kvOf === nc) return this.kv;
    const kv = await new Kvm(nc).create(LEASE_BUCKET, { ttl: this.opts.ttlMs, history: 1, timeout: this.opts.requestTimeoutMs });
    const status = await kv.status();
    if (status.ttl !== this.opts.ttlMs) {
      throw new TickpipeError(
        'CONFIG_INVALID',
        `the NATS bucket ${LEASE_BUCKET} has a TTL of ${status.ttl} ms but HA_LEASE_TTL_S says ${this.opts.ttlMs} ms: every instance must use the same lease TTL (or delete the bucket: nats kv del ${LEASE_BUCKET})`,
      );
    }
    this.kv = kv;
    this.kvOf = nc;
    return kv;
  }

  async acquire(): Promise<AcquireResult> {
    const kv = await this.bucket();
    // Read first: a live lease is answered by one request, and a free one says how it was freed
    // (a delete marker: its leader stepped down; nothing: it expired), which names the gap.
    const current = await kv.get(this.opts.group);
    if (current?.operation === 'PUT') return { acquired: false, holder: holderOf(current), mark: markOf(current) };
    const t0 = this.now();
    try {
      const revision = await kv.create(this.opts.group, this.value());
      return { acquired: true, revision, elapsedMs: this.now() - t0, freedBy: current ? 'release' : 'expiry' };
    } catch (err) {
      if (!isWrongRevision(err)) throw err;
      const entry = await kv.get(this.opts.group);
      return { acquired: false, holder: holderOf(entry), mark: markOf(entry) };
    }
  }

  async renew(revision: number): Promise<LeaseHeld> {
    const kv = await this.bucket();
    const t0 = this.now();
    try {
      const next = await kv.update(this.opts.group, this.value(), revision, this.opts.requestTimeoutMs);
      return { acquired: true, revision: next, elapsedMs: this.now() - t0 };
    } catch (err) {
      if (isWrongRevision(err)) throw new LeaseLostError(`the lease of ${this.opts.group} was taken or removed since revision ${revision}`);
      throw err;
    }
  }

  /** Deletes the lease if it is still ours (a standby watching it takes over at once). */
  async release(revision: number): Promise<void> {
    const kv = await this.bucket();
    try {
      await kv.delete(this.opts.group, { previousSeq: revision });
    } catch (err) {
      if (isWrongRevision(err)) return; // no longer ours: nothing to give up
      throw err;
    }
  }

  /**
   * Calls `onReleased` whenever the lease is deleted or purged (a graceful step-down), so a
   * standby need not wait for its next poll. Expiry by TTL leaves no marker on this server
   * version: the standby's poll covers that. Returns a stop function.
   */
  async watchReleases(onReleased: () => void): Promise<() => void> {
    const kv = await this.bucket();
    const it = await kv.watch({ key: this.opts.group });
    void (async () => {
      for await (const e of it) if (e.operation === 'DEL' || e.operation === 'PURGE') onReleased();
    })();
    return () => it.stop();
  }
}
