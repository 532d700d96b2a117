/**
 * The simulator's public API (re-exported by ./index.ts). The demo and every integration test
 * of the service drive the simulator through these names only.
 */
import type { Logger } from 'pino';
import type { SimClock } from './clock.js';
import type { UpstoxInstrument } from './instrument-file.js';

export type { SimClock } from './clock.js';
export type { UpstoxInstrument } from './instrument-file.js';

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
  /**
   * Market time. Frame currentTs, trade times, minute/day candles, the candle API and the
   * instrument file's expiries all read it; socket timing (frame/ping intervals, fault
   * durations, redirect-code lifetime) stays on real time. Give either `clock` (any object with
   * now(), e.g. ManualClock, which a test sets or advances by hand), or `startAt` (epoch ms,
   * default now) and/or `timeScale` (simulated ms per real ms, default 1: 60 runs a minute a
   * second). Default: the wall clock.
   */
  clock?: SimClock;
  startAt?: number;
  timeScale?: number;
  /**
   * Segment status follows the market clock: NSE/BSE 09:15-15:30 IST, MCX 09:00-23:30,
   * currencies 09:00-17:00, Monday to Friday, as NORMAL_OPEN/NORMAL_CLOSE (sent as market_info
   * when it changes). setMarketStatus still works and holds until the next scheduled change.
   * Default false: every segment open, whatever the time (marketStatus option).
   */
  followTradingHours?: boolean;
  /**
   * Pad the instrument file with filler BSE equities (SIMPADnnnnnn) up to about this many
   * instruments in all (e.g. 100000 for a parse benchmark; built once, ~30 MB of JSON). Default 0.
   */
  instrumentFileSize?: number;
}

/** A closed 1-minute candle, as the candle API serves it (ts: the minute's start, epoch ms). */
export interface SimCandle {
  ts: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  oi: number;
}

/** One request to the candle API, whatever it was answered. */
export interface CandleRequestRecord {
  /** Wall-clock time of the request, epoch ms (what rate limits are about). */
  at: number;
  /** Market time of the request (the simulator's clock). */
  simAt: number;
  kind: 'intraday' | 'historical' | 'invalid';
  /** The decoded instrument key ('' when the path did not parse). */
  key: string;
  path: string;
  status: number;
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
  /**
   * GET → 200 gzipped JSON array in the shape of Upstox's complete.json.gz (INSTRUMENT_MASTER_URL):
   * equities, NIFTY/BANKNIFTY indices, a crude future, weekly NIFTY and BANKNIFTY CE/PE for the
   * next four expiries (Tuesdays 15:30 IST, by the simulator clock). 500 while failInstrumentFile(true).
   */
  readonly instrumentFileUrl: string;
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
  /**
   * Every open socket goes dead: the TCP connection stays open but it sends nothing (no frames,
   * no pings) and answers none of the client's pings with a pong. Permanent for those sockets;
   * sockets opened later are healthy (unless deadOnConnect). Returns how many went dead.
   */
  goDead(): number;
  /** While on, open sockets and every socket opened later are dead (see goDead). Off: new sockets are healthy again. */
  deadOnConnect(on: boolean): void;
  /**
   * While on, every frame on open and new sockets (market_info, snapshots, live frames at the
   * live cadence) is replaced by undecodable binary bytes; pings and pongs go on as normal.
   * Counted in stats().malformedSent. The market moves on unseen (see candles()).
   */
  sendGarbage(on: boolean): void;
  /**
   * A 429 storm on the candle API: the next `requests` candle requests, and every candle request
   * for the next `forMs` real ms, answer 429 UDAPI10005 (no Retry-After, like Upstox). Calling
   * again replaces the previous storm; rateLimitCandles({}) ends it.
   */
  rateLimitCandles(opts: { requests?: number; forMs?: number }): void;
  /** While on, the candle API answers 401 UDAPI100050 whatever the token; authorize and the feed keep working. */
  rejectCandleToken(on: boolean): void;
  /** Every candle API request so far (the last 10,000), oldest first: to check rate limits and backoff. */
  candleRequests(): CandleRequestRecord[];
  /**
   * The closed 1-minute candles of `key`, oldest first: what the candle API serves for them, and
   * equal to the last I1 candle the live feed streamed for each minute it delivered the key in.
   * The market keeps trading (and candles accumulating) for keys no socket is delivering.
   */
  candles(key: string): SimCandle[];
  /** While on, GET /instruments/complete.json.gz answers 500. */
  failInstrumentFile(on: boolean): void;
  /** The instrument file's objects at the current market time (what instrumentFileUrl serves, before padding). */
  instrumentFile(): UpstoxInstrument[];
  /**
   * Moves `key`'s price to `price` (rounded to its tick): its next trades wander from there and
   * are pulled back to it, not to the previous close. Options listed in the instrument file are
   * priced from their underlying, so setPrice on an index re-prices its whole chain from the
   * options' next trades. Throws for such an option (move its underlying) and a bad price.
   */
  setPrice(key: string, price: number): void;
  /** The simulator's market time, epoch ms (see SimulatorOptions.clock). */
  now(): number;
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
