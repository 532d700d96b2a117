/**
 * One connection to NATS, shared by the tick publisher and the HA lease, kept up for the life of
 * the service: the first connect is retried here (cancellable, so a shutdown never waits on a
 * NATS that is not there), later reconnects are the official client's, both with the same
 * doubling backoff. Nothing waits on this: callers read `connected` and `nc`, and hear of each
 * (re)connect through `onConnect`.
 */
import { type NatsConnection, connect } from '@nats-io/transport-node';
import { describeError } from '../errors.js';
import type { Logger } from '../logger.js';

export interface NatsLinkOptions {
  servers: readonly string[];
  /** Shown by the server (`nats server report connections`) to tell instances apart. */
  name: string;
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  /**
   * Client PING interval: a server that stops answering (a partition with the socket left open)
   * is noticed after about two of these.
   */
  pingIntervalMs: number;
  logger: Logger;
}

/**
 * The wait before the next connect attempt, from how long NATS has been away: doubling from
 * `base` up to `max` (attempts at about base, 2·base, 4·base...). The client asks for the wait
 * repeatedly while it waits, so it must be a function of time, not of a call count; `jitter`
 * (0.5-1, drawn once per outage) keeps many instances from reconnecting in step.
 */
export function reconnectWait(downForMs: number, base: number, max: number, jitter: number): number {
  return Math.round(Math.min(max, Math.max(base, downForMs)) * jitter);
}

/** host:port of each server, without credentials a URL may carry (for logs and /state). */
export function describeServers(servers: readonly string[]): string {
  return servers
    .map((s) => {
      try {
        return new URL(s.includes('://') ? s : `nats://${s}`).host;
      } catch {
        return '<invalid>';
      }
    })
    .join(',');
}

export class NatsLink {
  private ncRef: NatsConnection | null = null;
  private isConnected = false;
  private closed = false;
  private downSince = Date.now();
  private jitter = 1;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly hooks: Array<(nc: NatsConnection) => void> = [];
  /** The last connection problem, for /state; null while connected. */
  lastError: string | null = 'not connected yet';

  constructor(private readonly opts: NatsLinkOptions) {}

  get connected(): boolean {
    return this.isConnected;
  }

  /** The connection while it is up; null otherwise. */
  get nc(): NatsConnection | null {
    return this.isConnected ? this.ncRef : null;
  }

  /** Called after the first connect and after every reconnect (streams may need creating). */
  onConnect(hook: (nc: NatsConnection) => void): void {
    this.hooks.push(hook);
    if (this.isConnected && this.ncRef) hook(this.ncRef);
  }

  start(): void {
    this.newOutage();
    void this.attempt();
  }

  private newOutage(): void {
    this.downSince = Date.now();
    this.jitter = 0.5 + Math.random() / 2;
  }

  private wait(): number {
    return reconnectWait(Date.now() - this.downSince, this.opts.reconnectBaseMs, this.opts.reconnectMaxMs, this.jitter);
  }

  private async attempt(): Promise<void> {
    this.retryTimer = undefined;
    if (this.closed) return;
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: [...this.opts.servers],
        name: this.opts.name,
        maxReconnectAttempts: -1,
        reconnectDelayHandler: () => this.wait(),
        pingInterval: this.opts.pingIntervalMs,
        maxPingOut: 2,
        timeout: Math.max(1000, this.opts.reconnectMaxMs),
      });
    } catch (err) {
      if (this.closed) return;
      this.lastError = describeError(err);
      const wait = this.wait();
      this.opts.logger.warn(
        { servers: describeServers(this.opts.servers), retryInMs: wait, err: this.lastError },
        'NATS unreachable; ticks are not published until it answers (InfluxDB recording goes on)',
      );
      this.retryTimer = setTimeout(() => void this.attempt(), wait);
      this.retryTimer.unref();
      return;
    }
    if (this.closed) {
      await nc.close();
      return;
    }
    this.ncRef = nc;
    this.up(nc);
    void this.watch(nc);
  }

  private up(nc: NatsConnection): void {
    this.isConnected = true;
    this.lastError = null;
    this.opts.logger.info({ servers: describeServers(this.opts.servers), server: nc.getServer() }, 'NATS connected');
    for (const h of this.hooks) h(nc);
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        this.isConnected = false;
        this.lastError = `disconnected from ${s.server}`;
        this.newOutage();
        this.opts.logger.warn({ server: s.server }, 'NATS connection lost; reconnecting with backoff');
      } else if (s.type === 'reconnect') {
        this.up(nc);
      } else if (s.type === 'error') {
        this.lastError = describeError(s.error);
        this.opts.logger.warn({ err: this.lastError }, 'NATS reported an error');
      }
    }
    // The status iterator ends when the connection is closed for good.
    this.isConnected = false;
    if (!this.closed) {
      const err = await nc.closed();
      this.lastError = err ? describeError(err) : 'connection closed';
      this.opts.logger.error({ err: this.lastError }, 'NATS connection closed; connecting again');
      this.newOutage();
      this.retryTimer = setTimeout(() => void this.attempt(), this.wait());
      this.retryTimer.unref();
    }
  }

  /** Lets what is in flight finish (bounded by `timeoutMs`), then closes. */
  async close(timeoutMs = 2000): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const nc = this.ncRef;
    this.ncRef = null;
    this.isConnected = false;
    if (!nc || nc.isClosed()) return;
    try {
      await Promise.race([nc.flush(), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    } catch (err) {
      // The server is gone: what was not flushed is lost to NATS (counted as failed by the publisher).
      this.opts.logger.warn({ err: describeError(err) }, 'NATS flush at shutdown failed');
    }
    await nc.close();
  }
}
