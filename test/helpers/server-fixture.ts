/**
 * A real Fastify server with the real Fanout and metrics, and stand-ins for the actor system's
 * state, for route and websocket tests. Frames are real V3 bytes decoded by the real codec.
 */
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { Fanout } from '../../src/fanout/fanout.js';
import type { FeedMode } from '../../src/config.js';
import { SubscriptionError } from '../../src/errors.js';
import { buildServer } from '../../src/server/app.js';
import { type Metrics, createMetrics } from '../../src/server/metrics.js';
import { Stats } from '../../src/stats.js';
import { decodeFrame } from '../../src/upstox/codec.js';
import type { DecodedFrame } from '../../src/upstox/feed-types.js';
import { encodeFeedResponse } from '../../src/upstox/proto-schema.js';

export const EQ = 'NSE_EQ|INE002A01018';
export const EQ2 = 'NSE_EQ|INE467B01029';
export const IDX = 'NSE_INDEX|Nifty Bank';

export interface ServerFixture {
  app: FastifyInstance;
  fanout: Fanout;
  stats: Stats;
  metrics: Metrics;
  subscription: Record<string, FeedMode>;
  ready: { ready: boolean; reasons: string[] };
  url: string;
  wsUrl: string;
  close(): Promise<void>;
}

let ts = 1_732_000_000_000;

/** A live_feed frame with one ltpc update per key, prices given. */
export function liveFrame(prices: Record<string, number>): DecodedFrame {
  const feeds: Record<string, unknown> = {};
  for (const [k, ltp] of Object.entries(prices)) feeds[k] = { ltpc: { ltp, ltt: ts, ltq: 5, cp: 100 } };
  return decodeFrame(encodeFeedResponse({ type: 1, feeds, currentTs: ++ts }));
}

export function marketInfoFrame(segments: Record<string, string>): DecodedFrame {
  return decodeFrame(encodeFeedResponse({ type: 2, currentTs: ++ts, marketInfo: { segmentStatus: segments } }));
}

export async function startServerFixture(
  opts: {
    apiToken?: string;
    listen?: boolean;
    softLimitBytes?: number;
    slowClientTimeoutMs?: number;
    wsMaxClients?: number;
    allowedOrigins?: string[];
    allowedHosts?: string[];
  } = {},
): Promise<ServerFixture> {
  const stats = new Stats();
  const logger = pino({ level: 'silent' });
  const subscription: Record<string, FeedMode> = { [EQ]: 'full', [EQ2]: 'full', [IDX]: 'full' };
  const ready = { ready: true, reasons: [] as string[] };
  const fanout = new Fanout({
    stats,
    logger,
    maxBufferedBytes: 4 * 1024 * 1024,
    softLimitBytes: opts.softLimitBytes ?? 64 * 1024,
    slowClientTimeoutMs: opts.slowClientTimeoutMs ?? 2000,
    feedKeys: () => new Set(Object.keys(subscription)),
  });
  const metrics = createMetrics({
    stats,
    actorStates: () => ({ connection: { online: 'streaming' }, writer: 'influxUp' }),
    spoolPendingPoints: () => 7,
    wsClients: () => fanout.clientCount,
  });
  const app = await buildServer({
    logger,
    http: {
      host: '127.0.0.1',
      port: 0,
      apiToken: opts.apiToken,
      wsMaxBufferedBytes: 4 * 1024 * 1024,
      wsMaxClients: opts.wsMaxClients ?? 256,
      allowedOrigins: opts.allowedOrigins ?? [],
      allowedHosts: opts.allowedHosts ?? [],
    },
    stats,
    state: () => ({
      actors: {
        connection: { value: { online: 'streaming' } },
        writer: { value: 'influxUp' },
        drainer: { value: 'idle' },
        notifier: { value: 'idle' },
      },
      spool: { pendingPoints: 7 },
      stats: stats.toJSON(),
    }),
    readiness: () => ready,
    fanout,
    subscriptions: {
      current: () => ({ ...subscription }),
      change: (req) => {
        if (req.add?.includes('NSE_EQ|BOOM')) throw new SubscriptionError('every key refused: over the full-mode limit of 2000 keys');
        // A bug's stand-in: its message and stack must stay in the log.
        if (req.add?.includes('NSE_EQ|CRASH')) throw new TypeError('undefined reading planner state (server-fixture)');
        const accepted: string[] = [];
        for (const k of req.add ?? []) {
          subscription[k] = req.mode ?? 'full';
          accepted.push(k);
        }
        const removed = (req.remove ?? []).filter((k) => delete subscription[k]);
        return { subscription: { ...subscription }, accepted, removed, refused: [] };
      },
    },
    metrics,
  });
  let url = '';
  if (opts.listen !== false) url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    app,
    fanout,
    stats,
    metrics,
    subscription,
    ready,
    url,
    wsUrl: url.replace(/^http/, 'ws'),
    close: () => app.close(),
  };
}
