/**
 * The one place the actors' inspection events go: `createActor(root, { inspect: hub.inspect })`.
 * It converts them to the @statelyai/inspect format, sanitises them, remembers each live
 * actor's registration and latest snapshot (plus a short history) so that a client connecting
 * late (the /inspector page, a Stately relay after a restart) sees the whole system at once, and
 * fans each event out, serialised once, to its listeners.
 *
 * Conversion is deferred to a microtask: XState emits `@xstate.actor` from the actor's
 * constructor, before its systemId and first snapshot exist. One queue keeps the order.
 */
import type { InspectionEvent } from 'xstate';
import type { Logger } from '../logger.js';
import { convertInspectionEvent, type InspectActorEvent, type InspectEvent, type InspectSnapshotEvent } from './events.js';
import { RelayForwarder } from './relay-forwarder.js';
import { DEFAULT_LIMITS, type SanitizeLimits } from './sanitize.js';

export type InspectListener = (event: InspectEvent, json: string) => void;

export interface InspectionHubOptions {
  logger?: Logger;
  limits?: SanitizeLimits;
  /** Snapshot and event events kept for late clients (besides each actor's latest snapshot). */
  historySize?: number;
  /** Live actors remembered at most (promise actors come and go; a leak must stay bounded). */
  maxActors?: number;
  /** Events waiting for the microtask at most; past it they are dropped and counted. */
  maxQueued?: number;
  /** `INSPECT`: a Stately inspector relay to forward every event to. */
  relayUrl?: string;
}

interface LiveActor {
  ref: { getSnapshot(): unknown };
  actor: InspectActorEvent;
  latest: InspectSnapshotEvent | undefined;
}

export class InspectionHub {
  /** Events converted and fanned out, and events dropped because the queue was full. */
  readonly counts = { events: 0, dropped: 0, listenerErrors: 0 };
  private readonly actors = new Map<string, LiveActor>();
  private readonly history: InspectEvent[] = [];
  private readonly listeners = new Set<InspectListener>();
  private queue: InspectionEvent[] = [];
  private flushScheduled = false;
  private relay: RelayForwarder | undefined;
  private readonly limits: SanitizeLimits;
  private readonly historySize: number;
  private readonly maxActors: number;
  private readonly maxQueued: number;

  constructor(private readonly options: InspectionHubOptions = {}) {
    this.limits = options.limits ?? DEFAULT_LIMITS;
    this.historySize = options.historySize ?? 100;
    this.maxActors = options.maxActors ?? 200;
    this.maxQueued = options.maxQueued ?? 1000;
    if (options.relayUrl) this.forwardTo(options.relayUrl);
  }

  /** Pass to `createActor(root, { inspect })`. Never throws into XState. */
  readonly inspect = (ev: InspectionEvent): void => {
    if (ev.type !== '@xstate.actor' && ev.type !== '@xstate.snapshot' && ev.type !== '@xstate.event') return;
    if (this.queue.length >= this.maxQueued) {
      this.counts.dropped++;
      return;
    }
    this.queue.push(ev);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(this.flush);
    }
  };

  /** The relay forwarder when INSPECT is set (its counts say whether the relay is reached). */
  get forwarder(): RelayForwarder | undefined {
    return this.relay;
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  subscribe(listener: InspectListener): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /**
   * What a client connecting now needs, in order: every live actor's registration (carrying its
   * latest snapshot), the recent history of events and snapshots, then the latest snapshot of
   * any actor whose latest fell out of the history, so the last word per actor is the current one.
   */
  replay(): InspectEvent[] {
    const out: InspectEvent[] = this.actorsNow();
    const inHistory = new Set<InspectEvent>();
    for (const ev of this.history) {
      if (!this.actors.has(ev.sessionId)) continue;
      out.push(ev);
      inHistory.add(ev);
    }
    for (const a of this.actors.values()) if (a.latest && !inHistory.has(a.latest)) out.push(a.latest);
    return out;
  }

  /** Every live actor's registration, oldest first, carrying its latest snapshot. */
  actorsNow(): InspectActorEvent[] {
    const out: InspectActorEvent[] = [];
    for (const a of this.actors.values()) out.push(a.latest ? { ...a.actor, snapshot: a.latest.snapshot } : a.actor);
    return out;
  }

  /** Forwards every event (and the replay on each connect) to a Stately inspector relay. */
  forwardTo(url: string): RelayForwarder {
    this.relay?.stop();
    this.relay = new RelayForwarder(url, this, this.options.logger);
    return this.relay;
  }

  /** Flushes what is queued now (tests and shutdown; normally a microtask does it). */
  readonly flush = (): void => {
    this.flushScheduled = false;
    const batch = this.queue;
    this.queue = [];
    for (const ev of batch) {
      try {
        const converted = convertInspectionEvent(ev, this.limits);
        if (converted) this.publish(converted, ev);
      } catch (err) {
        this.options.logger?.error({ err, inspection: ev.type }, 'could not convert an inspection event; it is skipped');
      }
    }
  };

  stop(): void {
    this.flush();
    this.relay?.stop();
    this.relay = undefined;
    this.listeners.clear();
  }

  private publish(event: InspectEvent, source: InspectionEvent): void {
    this.remember(event, source);
    this.counts.events++;
    if (this.listeners.size === 0) return;
    const json = JSON.stringify(event);
    for (const listener of this.listeners) {
      try {
        listener(event, json);
      } catch (err) {
        this.counts.listenerErrors++;
        this.options.logger?.error({ err }, 'an inspection listener threw; the event still reached the others');
      }
    }
  }

  private remember(event: InspectEvent, source: InspectionEvent): void {
    if (event.type === '@xstate.actor') {
      this.prune();
      this.actors.set(event.sessionId, { ref: source.actorRef, actor: event, latest: undefined });
      return;
    }
    this.history.push(event);
    if (this.history.length > this.historySize) this.history.shift();
    if (event.type !== '@xstate.snapshot') return;
    const live = this.actors.get(event.sessionId);
    if (!live) return;
    if (event.snapshot.status && event.snapshot.status !== 'active') this.actors.delete(event.sessionId);
    else live.latest = event;
  }

  /** Forgets actors that stopped without a final snapshot, and the oldest past the bound. */
  private prune(): void {
    for (const [id, a] of this.actors) {
      const status = (a.ref.getSnapshot() as { status?: string } | undefined)?.status;
      if (status !== undefined && status !== 'active') this.actors.delete(id);
    }
    while (this.actors.size >= this.maxActors) {
      // The root and the named actors are what the inspector is for: evict helpers first.
      let victim: string | undefined;
      for (const [id, a] of this.actors) {
        if (a.actor.parentId !== undefined && !a.actor.systemId) {
          victim = id;
          break;
        }
      }
      this.actors.delete(victim ?? (this.actors.keys().next().value as string));
    }
  }
}
