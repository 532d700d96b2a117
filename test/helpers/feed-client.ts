/**
 * A bare V3 client for simulator tests: authorize, open the socket, decode every frame, send
 * requests as binary JSON. Deliberately not the service's client, so the simulator is checked
 * against the protocol rather than against our own implementation.
 */
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { FrameDecodeError } from '../../src/errors.js';
import { decodeFrame } from '../../src/upstox/codec.js';
import type { DecodedFrame } from '../../src/upstox/feed-types.js';
import { until } from './poll.js';

export async function authorize(apiUrl: string, token: string): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(`${apiUrl}/v3/feed/market-data-feed/authorize`, {
    headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
  });
  return { status: res.status, body: await res.json(), headers: res.headers };
}

export interface RawFeedClient {
  ws: WebSocket;
  frames: DecodedFrame[];
  malformed: number;
  pings: number;
  closed: { code: number; reason: string } | null;
  send(method: string, mode: string | undefined, keys: string[]): void;
  waitFor(what: string, predicate: () => boolean, timeoutMs?: number): Promise<void>;
  close(): void;
}

export async function connectRaw(uri: string): Promise<RawFeedClient> {
  const ws = new WebSocket(uri);
  const client: RawFeedClient = {
    ws,
    frames: [],
    malformed: 0,
    pings: 0,
    closed: null,
    send(method, mode, keys) {
      const msg = { guid: randomUUID(), method, data: { ...(mode ? { mode } : {}), instrumentKeys: keys } };
      ws.send(Buffer.from(JSON.stringify(msg)), { binary: true });
    },
    waitFor: (what, predicate, timeoutMs = 5000) => until(what, predicate, { timeoutMs, intervalMs: 10 }).then(() => undefined),
    close: () => ws.terminate(),
  };
  ws.on('message', (data) => {
    try {
      client.frames.push(decodeFrame(data as Buffer));
    } catch (err) {
      if (!(err instanceof FrameDecodeError)) throw err;
      client.malformed++;
    }
  });
  ws.on('ping', () => client.pings++);
  ws.on('close', (code, reason) => (client.closed = { code, reason: reason.toString() }));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
  });
  return client;
}
