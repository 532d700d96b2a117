/**
 * Forwards inspection events to a Stately inspector relay (`INSPECT=ws://...`, the server of
 * `@statelyai/inspect/server`'s `createInspectorServer`), in the same text frames its
 * `createWebSocketInspector` sends.
 *
 * Why not that adapter itself: it reconnects only after a socket *error* (a relay that restarts
 * cleanly is never reconnected) and, while disconnected, keeps the last 200 events rather than
 * the current actors, so after any outage the inspector would miss the actors' registrations.
 * And the relay replays only its last 200 messages to a browser that opens later, so on a
 * service that has run for a day the registrations are long gone. This forwarder reconnects
 * with backoff, sends the hub's replay (every live actor and its latest snapshot, then recent
 * history) on every connect, and re-announces the actors every `reannounceEvery` messages so
 * the relay's buffer always holds them. While the relay is unreachable events are dropped: the
 * replay on reconnect restores the current picture, and memory stays flat.
 */
import WebSocket from 'ws';
import type { Logger } from '../logger.js';
import { redactUrl } from '../redact.js';
import type { InspectActorEvent, InspectEvent } from './events.js';

export interface InspectionSource {
  replay(): InspectEvent[];
  actorsNow(): InspectActorEvent[];
  subscribe(listener: (event: InspectEvent, json: string) => void): () => void;
}

export interface RelayForwarderOptions {
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Fewer than the relay's own buffer (200 messages). */
  reannounceEvery?: number;
  /** A relay this far behind is disconnected (and replayed to on reconnect) rather than queued to. */
  maxBufferedBytes?: number;
}

export class RelayForwarder {
  readonly counts = { connects: 0, sent: 0, dropped: 0 };
  private ws: WebSocket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private backoffMs: number;
  private sinceAnnounce = 0;
  private failing = false;
  private stopped = false;
  private readonly unsubscribe: () => void;
  private readonly opts: Required<RelayForwarderOptions>;

  constructor(
    readonly url: string,
    private readonly source: InspectionSource,
    private readonly logger?: Logger,
    options: RelayForwarderOptions = {},
  ) {
    this.opts = { minBackoffMs: 500, maxBackoffMs: 10_000, reannounceEvery: 150, maxBufferedBytes: 1 << 20, ...options };
    this.backoffMs = this.opts.minBackoffMs;
    this.unsubscribe = source.subscribe((_event, json) => this.forward(json));
    this.connect();
  }

  get connected(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe();
    clearTimeout(this.timer);
    this.ws?.close(1000, 'tickpipe stopping');
    this.ws = undefined;
  }

  private connect(): void {
    if (this.stopped) return;
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.on('open', () => {
      this.counts.connects++;
      this.backoffMs = this.opts.minBackoffMs;
      if (this.failing || this.counts.connects === 1)
        this.logger?.info({ url: redactUrl(this.url) }, 'inspector relay connected; sending the current actors');
      this.failing = false;
      this.sendAll(this.source.replay());
    });
    ws.on('error', (err) => {
      if (!this.failing)
        this.logger?.warn({ url: redactUrl(this.url), err: err.message }, 'inspector relay unreachable; retrying with backoff');
      this.failing = true;
    });
    ws.on('close', () => {
      if (this.ws !== ws || this.stopped) return;
      if (!this.failing) this.logger?.warn({ url: redactUrl(this.url) }, 'inspector relay connection closed; reconnecting');
      this.failing = true;
      this.ws = undefined;
      this.schedule();
    });
  }

  private schedule(): void {
    const delay = this.backoffMs * (0.75 + Math.random() * 0.5);
    this.backoffMs = Math.min(this.backoffMs * 2, this.opts.maxBackoffMs);
    this.timer = setTimeout(() => this.connect(), delay);
    this.timer.unref();
  }

  private forward(json: string): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      this.counts.dropped++;
      return;
    }
    if (ws.bufferedAmount > this.opts.maxBufferedBytes) {
      this.counts.dropped++;
      this.logger?.warn({ url: redactUrl(this.url), buffered: ws.bufferedAmount }, 'inspector relay is not keeping up; reconnecting');
      ws.terminate();
      return;
    }
    ws.send(json);
    this.counts.sent++;
    if (++this.sinceAnnounce >= this.opts.reannounceEvery) this.sendAll(this.source.actorsNow());
  }

  private sendAll(events: InspectEvent[]): void {
    this.sinceAnnounce = 0;
    for (const ev of events) {
      this.ws?.send(JSON.stringify(ev));
      this.counts.sent++;
    }
  }
}
