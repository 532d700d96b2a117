/**
 * A bare V3 feed client for tests of the simulator (and anyone who needs to watch its wire):
 * authorizes over HTTP, connects with `ws`, decodes every binary frame with the service's codec
 * and records it in arrival order, together with pings, undecodable frames and the close.
 * Waiting is event-driven: `until()` re-checks its predicate on every arrival, with a deadline.
 */
import WebSocket from 'ws';
import { decodeFrame } from '../../src/upstox/codec.js';
import type { DecodedFrame } from '../../src/upstox/feed-types.js';

export interface Arrival {
  kind: 'frame' | 'malformed' | 'ping';
  frame?: DecodedFrame;
  error?: Error;
}

export async function authorize(apiUrl: string, token: string | undefined): Promise<Response> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  return fetch(`${apiUrl}/v3/feed/market-data-feed/authorize`, { headers });
}

export async function authorizedUri(apiUrl: string, token: string): Promise<string> {
  const res = await authorize(apiUrl, token);
  const body = (await res.json()) as { data?: { authorized_redirect_uri?: string } };
  if (res.status !== 200 || !body.data?.authorized_redirect_uri)
    throw new Error(`authorize answered ${res.status}: ${JSON.stringify(body)}`);
  return body.data.authorized_redirect_uri;
}

/** Resolves with the HTTP status of a refused upgrade; rejects if the upgrade succeeds. */
export function upgradeStatus(uri: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(uri);
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.on('open', () => {
      ws.terminate();
      reject(new Error(`upgrade to ${uri} was accepted`));
    });
    ws.on('error', () => undefined);
  });
}

export class FeedClient {
  readonly arrivals: Arrival[] = [];
  closed: { code: number; reason: string } | undefined;
  private readonly waiters = new Set<() => void>();
  private guid = 0;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) throw new Error(`the feed sent a text frame: ${data.toString()}`);
      try {
        this.arrivals.push({ kind: 'frame', frame: decodeFrame(data) });
      } catch (err) {
        this.arrivals.push({ kind: 'malformed', error: err as Error });
      }
      this.notify();
    });
    ws.on('ping', () => {
      this.arrivals.push({ kind: 'ping' });
      this.notify();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.notify();
    });
    ws.on('error', () => undefined);
  }

  static async connect(uri: string, headers?: Record<string, string>): Promise<FeedClient> {
    const ws = new WebSocket(uri, headers ? { headers } : {});
    const client = new FeedClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return client;
  }

  static async open(apiUrl: string, token: string): Promise<FeedClient> {
    return FeedClient.connect(await authorizedUri(apiUrl, token));
  }

  get frames(): DecodedFrame[] {
    const out: DecodedFrame[] = [];
    for (const a of this.arrivals) if (a.frame) out.push(a.frame);
    return out;
  }

  /** A request as the service sends it: UTF-8 JSON in a binary frame. */
  request(method: string, keys: string[], mode?: string): string {
    const guid = `g${++this.guid}`;
    this.ws.send(Buffer.from(JSON.stringify({ guid, method, data: { ...(mode ? { mode } : {}), instrumentKeys: keys } })));
    return guid;
  }

  /** Resolves with the first truthy value of `check`, re-evaluated on each arrival; rejects at the deadline. */
  until<T>(what: string, check: () => T | undefined | null | false, timeoutMs = 5000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const test = (): boolean => {
        const value = check();
        if (!value) return false;
        clearTimeout(timer);
        this.waiters.delete(test);
        resolve(value);
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters.delete(test);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      if (!test()) this.waiters.add(test);
    });
  }

  /** Index of the first arrival at or after `from` that matches. */
  findFrom(from: number, match: (a: Arrival) => boolean): number {
    for (let i = from; i < this.arrivals.length; i++) if (match(this.arrivals[i])) return i;
    return -1;
  }

  /** Resolves once the server's pong to our ping arrives: every frame it wrote before is in. */
  async roundTrip(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.ws.once('pong', () => resolve());
      this.ws.ping();
    });
  }

  close(): void {
    this.ws.terminate();
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }
}

export const isLive = (a: Arrival): boolean => a.frame?.type === 1;
export const isInitial = (a: Arrival): boolean => a.frame?.type === 0;
export const isPing = (a: Arrival): boolean => a.kind === 'ping';

/** Live frames from arrival index `from` on. */
export function liveFrom(client: FeedClient, from: number): DecodedFrame[] {
  const out: DecodedFrame[] = [];
  for (let i = from; i < client.arrivals.length; i++) if (isLive(client.arrivals[i])) out.push(client.arrivals[i].frame!);
  return out;
}

export function countFrom(client: FeedClient, from: number, match: (a: Arrival) => boolean): number {
  let n = 0;
  for (let i = from; i < client.arrivals.length; i++) if (match(client.arrivals[i])) n++;
  return n;
}

/** For state that announces nothing (the simulator's counters): re-checks every 5 ms until the deadline. */
export async function pollUntil(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Sends a sub (or change_mode) and waits for the initial_feed answering it; returns its arrival index. */
export async function subscribe(client: FeedClient, keys: string[], mode: string, method = 'sub'): Promise<number> {
  const from = client.arrivals.length;
  client.request(method, keys, mode);
  const next = await client.until(`initial_feed for ${method} ${mode}`, () => {
    const i = client.findFrom(from, isInitial);
    return i >= 0 ? i + 1 : 0;
  });
  return next - 1;
}
