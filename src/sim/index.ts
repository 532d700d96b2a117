/**
 * An Upstox Market Data Feed V3 simulator over real sockets: the authorize endpoint, the
 * websocket of protobuf frames, and fault injection for tests. `npm run demo` runs the service
 * against it; every integration test of the service uses it in place of Upstox.
 *
 *   const sim = await startSimulator({ updatesPerSecond: 2000, frameIntervalMs: 10, pingIntervalMs: 50 });
 *   // service env: UPSTOX_API_URL=sim.apiUrl, UPSTOX_TOKEN_URL=sim.tokenUrl, INSTRUMENTS_URL=sim.instrumentsUrl
 *   await sim.waitForSubscribe();
 *   sim.dropConnections();            // or expireToken(), stall()/resume(), sendMalformed(3)...
 *   sim.stats().updatesByKey;         // what was written out, per key, to compare with InfluxDB
 *   await sim.close();
 *
 * Counting: frames and updates count once the socket has written them out (initial_feed
 * snapshots included, since the service stores a tick for those too); a frame queued on a
 * socket that is then dropped does not count.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { buildContext, positive, type SimContext } from './context.js';
import { faultControls } from './fault-controls.js';
import { handleRequest, INSTRUMENT_FILE_PATH, INSTRUMENTS_PATH, TOKEN_PATH } from './http-routes.js';
import { marketControls } from './market-controls.js';
import { FeedSession } from './session.js';
import { Ticker } from './ticker.js';
import type { Simulator, SimulatorOptions, SimulatorStats } from './types.js';
import { handleUpgrade } from './upgrade.js';

export type {
  CandleRequestRecord,
  SimCandle,
  SimClock,
  Simulator,
  SimulatorOptions,
  SimulatorRequest,
  SimulatorStats,
  UpstoxInstrument,
} from './types.js';
export { ManualClock, scaledClock } from './clock.js';
export { DEFAULT_INSTRUMENTS } from './context.js';

/** Far above any V3 request (5000 keys is ~150 KB), far below what could hurt the test process. */
const MAX_REQUEST_BYTES = 4 * 1024 * 1024;

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
  // Pongs are answered by FeedSession, so that a dead socket can leave the client's pings unanswered.
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_REQUEST_BYTES, autoPong: false });
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
  return {
    apiUrl,
    tokenUrl: apiUrl + TOKEN_PATH,
    instrumentsUrl: apiUrl + INSTRUMENTS_PATH,
    get token() {
      return ctx.tokens.token;
    },
    instruments: ctx.instruments,
    instrumentFileUrl: apiUrl + INSTRUMENT_FILE_PATH,
    ...faultControls(ctx),
    ...marketControls(ctx),
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
