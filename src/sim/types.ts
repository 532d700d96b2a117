/**
 * The simulator's public API (re-exported by ./index.ts). The demo and every integration test
 * of the service drive the simulator through these names only.
 */
import type { Logger } from 'pino';

export interface SimulatorOptions {
  host?: string;
  port?: number;
  /**
   * Live updates per second across all subscribed keys (default 50). Frames are sent every
   * frameIntervalMs (default 100) carrying about rate*interval/1000 updates (each key at most
   * once per frame).
   */
  updatesPerSecond?: number;
  frameIntervalMs?: number;
  /** Websocket ping interval (default 5000). */
  pingIntervalMs?: number;
  /** Initial market status per segment sent in market_info (default: every segment NORMAL_OPEN). */
  marketStatus?: Record<string, string>;
  /**
   * Instrument keys the simulator "lists" (instruments URL); default a realistic handful. Any
   * syntactically valid key (SEGMENT|id) can be subscribed and gets data.
   */
  instruments?: string[];
  /** PRNG seed: same seed → same price paths (default 1). */
  seed?: number;
  /** The initially valid access token (default: a random one). */
  token?: string;
  /** How long an authorized redirect URI can be used (default 60000). */
  redirectCodeTtlMs?: number;
  /** A socket with more than this many bytes queued gets no live frames until it drains (default 4 MiB). */
  maxBufferedBytes?: number;
  logger?: Logger;
}

export interface Simulator {
  /** http://HOST:PORT, to use as UPSTOX_API_URL. */
  readonly apiUrl: string;
  /** GET → 200 {"access_token": <current valid token>} (UPSTOX_TOKEN_URL). */
  readonly tokenUrl: string;
  /** GET → 200 {"instruments": [...]} (INSTRUMENTS_URL). */
  readonly instrumentsUrl: string;
  /** The currently valid access token. */
  readonly token: string;
  /** The instruments the instruments URL answers. */
  readonly instruments: readonly string[];
  /** Closes every open feed socket abruptly (no close frame) or with a close code. Returns how many. */
  dropConnections(opts?: { code?: number; reason?: string }): number;
  /**
   * The daily expiry: the current token becomes invalid (authorize answers 401 UDAPI100050),
   * the token URL serves a fresh one, open sockets are closed. Returns the new token.
   */
  expireToken(): string;
  /** Stop sending anything (no frames, no pings) on open and future sockets until resume(). */
  stall(): void;
  resume(): void;
  /** Send `count` malformed binary frames (not valid protobuf) on every open socket. */
  sendMalformed(count?: number): void;
  /** While on, websocket upgrades are refused (HTTP 503); authorize still works. */
  refuseConnections(on: boolean): void;
  /** The next `times` authorize calls answer `status` (429 with Retry-After: retryAfterS (default 1), or 500). */
  failAuthorize(status: 429 | 500, times: number, retryAfterS?: number): void;
  /** Change segment status; sends a market_info frame to open sockets. Closed segments get no live data. */
  setMarketStatus(status: Record<string, string>): void;
  setRate(updatesPerSecond: number): void;
  stats(): SimulatorStats;
  /** Resolves when a feed socket next handles a 'sub' after this call; rejects on timeout (default 5000). */
  waitForSubscribe(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export interface SimulatorRequest {
  guid: string;
  method: string;
  mode?: string;
  keys: string[];
}

export interface SimulatorStats {
  authorizeCalls: number;
  /** Authorize calls answered with anything but 200 (bad token, injected 429/500). */
  authorizeRejected: number;
  /** Feed sockets accepted, ever. */
  connections: number;
  activeConnections: number;
  /** Websocket upgrades refused (503 while refusing, 403 bad code, 401 bad token, 404 path). */
  upgradesRefused: number;
  /** Valid FeedResponse frames written out (market_info, initial_feed, live_feed). */
  framesSent: number;
  /** Per-instrument updates in initial_feed and live_feed frames written out. */
  updatesSent: number;
  malformedSent: number;
  pingsSent: number;
  /** Live frames not built for a socket because its send buffer was over maxBufferedBytes. */
  framesSkipped: number;
  /** Client messages that were not a valid request (logged and ignored). */
  badRequests: number;
  /** Requests received on sockets, oldest first (the last 1000). */
  requests: SimulatorRequest[];
  /** Current subscription of the most recent socket: key → mode. */
  subscription: Record<string, string>;
  /** Every update written out, per key (initial_feed and live_feed). */
  updatesByKey: Record<string, number>;
  /** currentTs of the last frame written out. */
  lastTs: number;
}
