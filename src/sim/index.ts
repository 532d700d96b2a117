/**
 * An Upstox Market Data Feed V3 simulator over real sockets: the authorize endpoint, the
 * websocket of protobuf frames, and fault injection for tests. `npm run demo` runs the service
 * against it; every integration test of the service uses it in place of Upstox.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { RateLimitedLog } from '../logger.js';
import { WebSocketServer, type WebSocket } from 'ws';
import type { SimContext } from './context.js';
import { Faults } from './faults.js';
import { FrameClock } from './frames.js';
import { handleRequest, INSTRUMENTS_PATH, TOKEN_PATH } from './http-routes.js';
import { Market } from './market.js';
import { MarketStatusBook } from './market-status.js';
import { FeedSession } from './session.js';
import { SimStats } from './sim-stats.js';
import { Ticker } from './ticker.js';
import { randomToken, TokenBook } from './tokens.js';
import type { Simulator, SimulatorOptions, SimulatorStats } from './types.js';
import { handleUpgrade } from './upgrade.js';

export type { Simulator, SimulatorOptions, SimulatorRequest, SimulatorStats } from './types.js';

export const DEFAULT_INSTRUMENTS: readonly string[] = [
  'NSE_EQ|INE002A01018', // Reliance Industries
  'NSE_EQ|INE467B01029', // Tata Consultancy Services
  'NSE_INDEX|Nifty 50',
  'NSE_INDEX|Nifty Bank',
  'NSE_FO|54452', // a Nifty weekly option
  'MCX_FO|457534', // a crude oil future
];

/** Far above any V3 request (5000 keys is ~150 KB), far below what could hurt the test process. */
const MAX_REQUEST_BYTES = 4 * 1024 * 1024;

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new TypeError(`simulator option ${name} must be a positive number, got ${String(value)}`);
  return value;
}

function buildContext(opts: SimulatorOptions): SimContext {
  const instruments = opts.instruments ?? DEFAULT_INSTRUMENTS;
  const log = (opts.logger ?? pino({ level: 'silent' })).child({ component: 'upstox-sim' });
  return {
    log,
    warnLimited: new RateLimitedLog(log),
    stats: new SimStats(),
    faults: new Faults(),
    market: new Market(opts.seed ?? 1),
    clock: new FrameClock(),
    marketStatus: new MarketStatusBook(opts.marketStatus, instruments),
    tokens: new TokenBook(opts.token ?? randomToken(), positive('redirectCodeTtlMs', opts.redirectCodeTtlMs ?? 60_000)),
    instruments: [...instruments],
    sessions: new Set(),
    latest: undefined,
    rate: opts.updatesPerSecond === 0 ? 0 : positive('updatesPerSecond', opts.updatesPerSecond ?? 50),
    frameIntervalMs: positive('frameIntervalMs', opts.frameIntervalMs ?? 100),
    maxBufferedBytes: positive('maxBufferedBytes', opts.maxBufferedBytes ?? 4 * 1024 * 1024),
    subscribeWaiters: new Set(),
  };
}

function listen(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

export async function startSimulator(opts: SimulatorOptions = {}): Promise<Simulator> {
  const ctx = buildContext(opts);
  const host = opts.host ?? '127.0.0.1';
  const pingIntervalMs = positive('pingIntervalMs', opts.pingIntervalMs ?? 5000);
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_REQUEST_BYTES });
  const server = createServer((req, res) => handleRequest(ctx, req, res));
  let nextSessionId = 1;

  const onConnection = (ws: WebSocket): void => {
    // V3 allows one feed connection per app and user: like the real feed, a newer connection
    // replaces the older one, which is closed normally with this reason.
    for (const old of ctx.sessions) old.close(1000, 'replaced by a newer connection');
    const session = new FeedSession(nextSessionId++, ws, ctx);
    ctx.sessions.add(session);
    ctx.latest = session;
    ctx.stats.connections++;
    ctx.stats.activeConnections++;
    ctx.log.info({ session: session.id }, 'feed socket open');
    ws.on('close', (code, reason) => {
      ctx.sessions.delete(session);
      ctx.stats.activeConnections--;
      ctx.log.info({ session: session.id, code, reason: reason.toString() }, 'feed socket closed');
    });
    session.sendMarketInfo();
  };
  server.on('upgrade', (req, socket, head) => handleUpgrade(ctx, wss, req, socket, head, onConnection));

  const address = await listen(server, host, opts.port ?? 0);
  const ticker = new Ticker(ctx, pingIntervalMs);
  ticker.start();
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const apiUrl = `http://${urlHost === '0.0.0.0' ? '127.0.0.1' : urlHost}:${address.port}`;
  ctx.log.info({ apiUrl }, 'Upstox V3 simulator listening');
  return makeSimulator(ctx, { apiUrl, server, wss, ticker });
}

interface Parts {
  apiUrl: string;
  server: Server;
  wss: WebSocketServer;
  ticker: Ticker;
}

function makeSimulator(ctx: SimContext, { apiUrl, server, wss, ticker }: Parts): Simulator {
  let closed: Promise<void> | undefined;
  const closeAll = (code?: number, reason?: string): number => {
    let n = 0;
    for (const session of ctx.sessions) {
      if (!session.isOpen) continue;
      session.close(code, reason);
      n++;
    }
    return n;
  };
  return {
    apiUrl,
    tokenUrl: apiUrl + TOKEN_PATH,
    instrumentsUrl: apiUrl + INSTRUMENTS_PATH,
    get token() {
      return ctx.tokens.token;
    },
    instruments: ctx.instruments,
    dropConnections: (o = {}) => {
      const n = closeAll(o.code, o.reason);
      ctx.log.info({ n, code: o.code }, 'fault: connections dropped');
      return n;
    },
    expireToken: () => {
      const token = ctx.tokens.rotate();
      const n = closeAll(1008, 'access token expired');
      ctx.log.info({ closed: n }, 'fault: token expired');
      return token;
    },
    stall: () => {
      ctx.faults.stalled = true;
      ctx.log.info('fault: stalled');
    },
    resume: () => {
      ctx.faults.stalled = false;
      for (const session of ctx.sessions) if (session.isOpen) session.flushHeld();
      ctx.log.info('fault: resumed');
    },
    sendMalformed: (count = 1) => {
      for (const session of ctx.sessions) if (session.isOpen) session.sendMalformed(count);
    },
    refuseConnections: (on) => {
      ctx.faults.refusingConnections = on;
    },
    failAuthorize: (status, times, retryAfterS) => ctx.faults.armAuthorizeFailure(status, times, retryAfterS),
    setMarketStatus: (status) => {
      ctx.marketStatus.update(status);
      for (const session of ctx.sessions) if (session.isOpen) session.sendMarketInfo();
    },
    setRate: (updatesPerSecond) => {
      ctx.rate = updatesPerSecond === 0 ? 0 : positive('updatesPerSecond', updatesPerSecond);
    },
    stats: (): SimulatorStats => ctx.stats.snapshot(ctx.latest?.subscription),
    waitForSubscribe: (timeoutMs = 5000) =>
      new Promise<void>((resolve, reject) => {
        const done = (): void => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          ctx.subscribeWaiters.delete(done);
          reject(new Error(`simulator: no feed subscription within ${timeoutMs} ms`));
        }, timeoutMs);
        ctx.subscribeWaiters.add(done);
      }),
    close: () => {
      closed ??= new Promise<void>((resolve) => {
        ticker.stop();
        for (const session of ctx.sessions) session.close();
        wss.close();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}
