/**
 * The Upstox Market Data Feed V3 simulator: the authorize endpoint, a token URL, an instruments
 * URL, and the feed websocket sending real V3 protobuf frames. Used by `npm run demo` and by the
 * integration tests, which drive its fault injection (dropped sockets, token expiry, stalls,
 * malformed frames, refused connections, failing authorize).
 */
import { randomBytes } from 'node:crypto';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { pino } from 'pino';
import { WebSocketServer } from 'ws';
import type { Logger } from '../logger.js';
import { encodeFeedResponse } from '../upstox/proto-schema.js';
import { Market, type SimMode } from './market-data.js';
import { FeedSession, SIM_MODES, type SimRequest } from './session.js';

export interface SimulatorOptions {
  host?: string;
  port?: number;
  /** Live updates per second across all subscribed keys (default 50). */
  updatesPerSecond?: number;
  /** A live frame every this many ms (default 100), carrying about rate·interval/1000 updates. */
  frameIntervalMs?: number;
  /** Server ping interval (default 5000). */
  pingIntervalMs?: number;
  /** Segment → status name; segments not named are NORMAL_OPEN. */
  marketStatus?: Record<string, string>;
  /** What the instruments URL lists. Any valid key can be subscribed. */
  instruments?: string[];
  /** The first valid token (default random). */
  token?: string;
  seed?: number;
  logger?: Logger;
}

export interface SimulatorStats {
  authorizeCalls: number;
  authorizeRejected: number;
  connections: number;
  activeConnections: number;
  framesSent: number;
  updatesSent: number;
  malformedSent: number;
  pingsSent: number;
  framesSkipped: number;
  requests: SimRequest[];
  subscription: Record<string, string>;
  updatesByKey: Record<string, number>;
  lastTs: number;
}

export interface Simulator {
  readonly apiUrl: string;
  readonly tokenUrl: string;
  readonly instrumentsUrl: string;
  readonly token: string;
  readonly instruments: readonly string[];
  dropConnections(opts?: { code?: number; reason?: string }): number;
  expireToken(): string;
  stall(): void;
  resume(): void;
  sendMalformed(count?: number): void;
  refuseConnections(on: boolean): void;
  failAuthorize(status: 429 | 500, times: number, retryAfterS?: number): void;
  setMarketStatus(status: Record<string, string>): void;
  setRate(updatesPerSecond: number): void;
  stats(): SimulatorStats;
  waitForSubscribe(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export const DEFAULT_INSTRUMENTS = [
  'NSE_EQ|INE002A01018', // Reliance Industries
  'NSE_EQ|INE467B01029', // Tata Consultancy Services
  'NSE_EQ|INE040A01034', // HDFC Bank
  'NSE_INDEX|Nifty 50',
  'NSE_INDEX|Nifty Bank',
  'NSE_FO|NIFTY25DEC24000CE',
  'MCX_FO|CRUDEOIL25DECFUT',
];
const SEGMENTS = ['NSE_EQ', 'NSE_FO', 'NSE_INDEX', 'BSE_EQ', 'BSE_FO', 'BSE_INDEX', 'MCX_FO', 'NCD_FO', 'BCD_FO'];
const FEED_PATH = '/v3/feed/market-data-feed';
const AUTHORIZE_PATH = '/v3/feed/market-data-feed/authorize';
/** An authorized redirect code works once, within this time. */
const CODE_TTL_MS = 60_000;
/** A frame no decoder accepts: field 2 (feeds) claims 80 bytes and has one. */
const MALFORMED = Uint8Array.from([0x12, 0x50, 0x01]);

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

const segmentOfKey = (key: string) => key.slice(0, Math.max(0, key.indexOf('|')));

class SimulatorImpl implements Simulator {
  apiUrl = '';
  tokenUrl = '';
  instrumentsUrl = '';
  token: string;
  readonly instruments: readonly string[];
  private readonly log: Logger;
  private readonly http = createServer((req, res) => this.route(req, res));
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly market: Market;
  private readonly sessions = new Set<FeedSession>();
  private readonly codes = new Map<string, number>();
  private readonly status: Record<string, string>;
  private rate: number;
  private carry = 0;
  private stalled = false;
  private refusing = false;
  private authFailure: { status: 429 | 500; remaining: number; retryAfterS: number } | null = null;
  private lastTs = 0;
  private frameTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private subscribeWaiters: Array<() => void> = [];
  private readonly counters = {
    authorizeCalls: 0,
    authorizeRejected: 0,
    connections: 0,
    framesSent: 0,
    updatesSent: 0,
    malformedSent: 0,
    pingsSent: 0,
  };
  private readonly requests: SimRequest[] = [];
  private readonly updatesByKey: Record<string, number> = {};

  constructor(private readonly opts: SimulatorOptions) {
    this.token = opts.token ?? randomBytes(16).toString('hex');
    this.instruments = opts.instruments ?? DEFAULT_INSTRUMENTS;
    this.log = opts.logger ?? pino({ level: 'silent' });
    this.market = new Market(opts.seed ?? 1);
    this.rate = opts.updatesPerSecond ?? 50;
    this.status = Object.fromEntries(SEGMENTS.map((s) => [s, 'NORMAL_OPEN']));
    Object.assign(this.status, opts.marketStatus ?? {});
    this.http.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(this.opts.port ?? 0, this.opts.host ?? '127.0.0.1', () => resolve());
    });
    const addr = this.http.address() as { port: number };
    const host = this.opts.host && this.opts.host !== '0.0.0.0' ? this.opts.host : '127.0.0.1';
    this.apiUrl = `http://${host}:${addr.port}`;
    this.tokenUrl = `${this.apiUrl}/sim/token`;
    this.instrumentsUrl = `${this.apiUrl}/sim/instruments`;
    this.frameTimer = setInterval(() => this.sendLiveFrames(), this.opts.frameIntervalMs ?? 100);
    this.pingTimer = setInterval(() => this.ping(), this.opts.pingIntervalMs ?? 5000);
  }

  // ---- HTTP ----

  private route(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://sim');
    if (req.method === 'GET' && url.pathname === AUTHORIZE_PATH) return this.authorize(req, res);
    if (req.method === 'GET' && url.pathname === '/sim/token') return json(res, 200, { access_token: this.token });
    if (req.method === 'GET' && url.pathname === '/sim/instruments') return json(res, 200, { instruments: this.instruments });
    json(res, 404, { status: 'error', errors: [{ errorCode: 'UDAPI100060', message: 'Resource not Found.' }] });
  }

  private authorize(req: IncomingMessage, res: ServerResponse): void {
    this.counters.authorizeCalls++;
    if (this.authFailure && this.authFailure.remaining > 0) {
      this.authFailure.remaining--;
      const { status, retryAfterS } = this.authFailure;
      return json(
        res,
        status,
        { status: 'error', errors: [{ errorCode: status === 429 ? 'UDAPI10005' : 'UDAPI100500', message: status === 429 ? 'Too Many Request Sent' : 'Something went wrong' }] },
        status === 429 ? { 'retry-after': String(retryAfterS) } : {},
      );
    }
    const auth = req.headers.authorization ?? '';
    if (auth !== `Bearer ${this.token}`) {
      this.counters.authorizeRejected++;
      return json(res, 401, {
        status: 'error',
        errors: [{ errorCode: 'UDAPI100050', error_code: 'UDAPI100050', message: 'Invalid token used to access API' }],
      });
    }
    const code = randomBytes(12).toString('hex');
    this.codes.set(code, Date.now() + CODE_TTL_MS);
    const uri = `${this.apiUrl.replace(/^http/, 'ws')}${FEED_PATH}?code=${code}`;
    json(res, 200, { status: 'success', data: { authorized_redirect_uri: uri, authorizedRedirectUri: uri } });
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://sim');
    const refuse = (status: number, text: string) => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (url.pathname !== FEED_PATH) return refuse(404, 'Not Found');
    if (this.refusing) return refuse(503, 'Service Unavailable');
    const code = url.searchParams.get('code') ?? '';
    const expires = this.codes.get(code);
    this.codes.delete(code); // single use, whatever happens next
    if (expires === undefined || expires < Date.now()) return refuse(403, 'Forbidden');
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      // V3 allows one connection per app and user: a newer one replaces the older.
      for (const old of this.sessions) old.ws.close(1000, 'replaced by a newer connection');
      const session = new FeedSession(ws, { onRequest: (s, r) => this.onRequest(s, r), log: this.log });
      this.sessions.add(session);
      this.counters.connections++;
      ws.on('close', () => this.sessions.delete(session));
      if (!this.stalled) session.send(this.marketInfoFrame());
    });
  }

  // ---- feed ----

  private nextTs(): number {
    const now = Date.now();
    this.lastTs = now > this.lastTs ? now : this.lastTs + 1;
    return this.lastTs;
  }

  private marketInfoFrame(): Uint8Array {
    return encodeFeedResponse({ type: 2, currentTs: this.nextTs(), marketInfo: { segmentStatus: { ...this.status } } });
  }

  private isOpen = (key: string): boolean => (this.status[segmentOfKey(key)] ?? 'NORMAL_OPEN') === 'NORMAL_OPEN';

  private onRequest(session: FeedSession, req: SimRequest): void {
    this.requests.push(req);
    if (this.requests.length > 1000) this.requests.shift();
    const mode = req.mode as SimMode | undefined;
    const validKeys = req.keys.filter((k) => /^[A-Z][A-Z0-9_]*\|.+/.test(k));
    if (req.method === 'unsub') {
      for (const k of validKeys) session.subscription.delete(k);
      return;
    }
    if ((req.method !== 'sub' && req.method !== 'change_mode') || !mode || !SIM_MODES.includes(mode)) {
      this.log.warn({ method: req.method, mode: req.mode }, 'sim: request with an unknown method or mode ignored');
      return;
    }
    const keys = req.method === 'sub' ? validKeys : validKeys.filter((k) => session.subscription.has(k));
    for (const k of keys) session.subscription.set(k, mode);
    if (keys.length > 0 && !this.stalled) {
      const now = Date.now();
      const feeds: Record<string, unknown> = {};
      for (const k of keys) feeds[k] = this.market.snapshot(k, mode, now);
      this.sendFeeds(session, 0, feeds, keys);
    }
    if (req.method === 'sub') {
      const waiters = this.subscribeWaiters;
      this.subscribeWaiters = [];
      for (const w of waiters) w();
    }
  }

  private sendFeeds(session: FeedSession, type: 0 | 1, feeds: Record<string, unknown>, keys: string[]): void {
    // type 0 (initial_feed) is the proto3 default: absent on the wire, as from Upstox.
    const frame = encodeFeedResponse({ ...(type ? { type } : {}), feeds, currentTs: this.nextTs() });
    if (!session.send(frame)) return;
    this.counters.framesSent++;
    this.counters.updatesSent += keys.length;
    for (const k of keys) this.updatesByKey[k] = (this.updatesByKey[k] ?? 0) + 1;
  }

  private sendLiveFrames(): void {
    if (this.stalled || this.sessions.size === 0) return;
    this.carry += (this.rate * (this.opts.frameIntervalMs ?? 100)) / 1000;
    const budget = Math.floor(this.carry);
    this.carry -= budget;
    if (budget <= 0) return;
    const now = Date.now();
    for (const session of this.sessions) {
      const picked = session.nextKeys(budget, this.isOpen);
      if (picked.length === 0) continue;
      const feeds: Record<string, unknown> = {};
      for (const [k, mode] of picked) feeds[k] = this.market.update(k, mode, now);
      this.sendFeeds(
        session,
        1,
        feeds,
        picked.map(([k]) => k),
      );
    }
  }

  private ping(): void {
    if (this.stalled) return;
    for (const s of this.sessions) {
      if (!s.open) continue;
      s.ws.ping();
      this.counters.pingsSent++;
    }
  }

  // ---- fault injection ----

  dropConnections(opts: { code?: number; reason?: string } = {}): number {
    let n = 0;
    for (const s of this.sessions) {
      if (opts.code) s.ws.close(opts.code, opts.reason ?? '');
      else s.ws.terminate();
      n++;
    }
    this.sessions.clear();
    return n;
  }

  expireToken(): string {
    this.token = randomBytes(16).toString('hex');
    this.codes.clear();
    this.dropConnections({ code: 1008, reason: 'access token expired' });
    return this.token;
  }

  stall(): void {
    this.stalled = true;
  }

  resume(): void {
    this.stalled = false;
  }

  sendMalformed(count = 1): void {
    for (const s of this.sessions) {
      for (let i = 0; i < count; i++) {
        if (s.send(MALFORMED)) this.counters.malformedSent++;
      }
    }
  }

  refuseConnections(on: boolean): void {
    this.refusing = on;
  }

  failAuthorize(status: 429 | 500, times: number, retryAfterS = 1): void {
    this.authFailure = { status, remaining: times, retryAfterS };
  }

  setMarketStatus(status: Record<string, string>): void {
    Object.assign(this.status, status);
    if (this.stalled) return;
    for (const s of this.sessions) s.send(this.marketInfoFrame());
  }

  setRate(updatesPerSecond: number): void {
    this.rate = updatesPerSecond;
  }

  stats(): SimulatorStats {
    const sessions = [...this.sessions];
    const latest = sessions[sessions.length - 1];
    return {
      ...this.counters,
      activeConnections: sessions.filter((s) => s.open).length,
      framesSkipped: sessions.reduce((n, s) => n + s.framesSkipped, 0),
      requests: [...this.requests],
      subscription: latest ? Object.fromEntries(latest.subscription) : {},
      updatesByKey: { ...this.updatesByKey },
      lastTs: this.lastTs,
    };
  }

  waitForSubscribe(timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no subscription within ${timeoutMs} ms`)), timeoutMs);
      this.subscribeWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    clearInterval(this.frameTimer);
    clearInterval(this.pingTimer);
    for (const s of this.sessions) s.ws.terminate();
    this.sessions.clear();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }
}

export async function startSimulator(opts: SimulatorOptions = {}): Promise<Simulator> {
  const sim = new SimulatorImpl(opts);
  await sim.listen();
  return sim;
}
