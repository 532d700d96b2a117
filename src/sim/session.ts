/**
 * One feed websocket of the simulator: its subscription, the requests it sends (binary frames of
 * UTF-8 JSON, per the V3 protocol) and the frames it is sent.
 */
import type { WebSocket } from 'ws';
import type { Logger } from '../logger.js';
import type { SimMode } from './market-data.js';

export const SIM_MODES: readonly SimMode[] = ['ltpc', 'full', 'option_greeks', 'full_d30'];

export interface SimRequest {
  guid: string;
  method: string;
  mode?: string;
  keys: string[];
}

/** What a session asks of the simulator when a request arrives. */
export interface SessionHost {
  onRequest(session: FeedSession, req: SimRequest): void;
  log: Logger;
}

/** Frames a socket may queue before the simulator skips frames for it (backpressure). */
const MAX_BUFFERED = 4 * 1024 * 1024;

export class FeedSession {
  readonly subscription = new Map<string, SimMode>();
  /** Round-robin position over the subscription, so every key gets its share of updates. */
  private cursor = 0;
  framesSkipped = 0;

  constructor(
    readonly ws: WebSocket,
    private readonly host: SessionHost,
  ) {
    ws.on('message', (data, isBinary) => this.receive(data as Buffer, isBinary));
    ws.on('error', (err) => host.log.debug({ err }, 'sim: socket error'));
  }

  get open(): boolean {
    return this.ws.readyState === this.ws.OPEN;
  }

  send(bytes: Uint8Array): boolean {
    if (!this.open) return false;
    if (this.ws.bufferedAmount > MAX_BUFFERED) {
      this.framesSkipped++;
      return false;
    }
    this.ws.send(bytes, { binary: true });
    return true;
  }

  /** The next `n` keys (each at most once) whose segment passes `isOpen`. */
  nextKeys(n: number, isOpen: (key: string) => boolean): Array<[string, SimMode]> {
    const entries = [...this.subscription];
    const out: Array<[string, SimMode]> = [];
    for (let i = 0; i < entries.length && out.length < n; i++) {
      const e = entries[(this.cursor + i) % entries.length]!;
      if (isOpen(e[0])) out.push(e);
    }
    this.cursor = entries.length ? (this.cursor + Math.max(1, out.length)) % entries.length : 0;
    return out;
  }

  private receive(data: Buffer, isBinary: boolean): void {
    let req: SimRequest;
    try {
      const msg = JSON.parse(data.toString('utf8')) as {
        guid?: unknown;
        method?: unknown;
        data?: { mode?: unknown; instrumentKeys?: unknown };
      };
      if (typeof msg.method !== 'string') throw new Error('no method');
      const keys = msg.data?.instrumentKeys;
      if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) throw new Error('instrumentKeys is not an array of strings');
      req = {
        guid: typeof msg.guid === 'string' ? msg.guid : '',
        method: msg.method,
        ...(typeof msg.data?.mode === 'string' ? { mode: msg.data.mode } : {}),
        keys: keys as string[],
      };
    } catch (err) {
      // Real Upstox ignores what it cannot read; so do we (logged for whoever debugs a client).
      this.host.log.warn({ err: (err as Error).message, binary: isBinary }, 'sim: unreadable request ignored');
      return;
    }
    this.host.onRequest(this, req);
  }
}
