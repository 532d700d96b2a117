/**
 * A Fastify app with just the inspection routes (WS /inspect, GET /inspector) and the real
 * GET /state route (over an empty pipeline document: the page reads its `runtime`), registered
 * the way the service's app factory does: its error handler, @fastify/websocket, then the plugins.
 */
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance } from 'fastify';
import type { InspectionHub } from '../../../src/inspector/hub.js';
import { inspectorPageRoute } from '../../../src/inspector/page-route.js';
import { inspectorStreamRoute } from '../../../src/inspector/stream-route.js';
import { useApiErrors } from '../../../src/server/error-handler.js';
import { originGuard } from '../../../src/server/origin-guard.js';
import { createMetrics } from '../../../src/server/metrics.js';
import { stateRoutes } from '../../../src/server/routes/state.js';
import { Stats } from '../../../src/stats.js';

export interface InspectorServer {
  app: FastifyInstance;
  port: number;
  baseUrl: string;
  close(): Promise<void>;
}

export async function startInspectorServer(opts: {
  hub: InspectionHub;
  apiToken?: string;
  port?: number;
  maxBufferedBytes?: number;
  maxClients?: number;
}): Promise<InspectorServer> {
  const app = Fastify({ logger: false });
  useApiErrors(app);
  await app.register(websocket);
  app.addHook('onRequest', originGuard({ allowedOrigins: [], allowedHosts: [] }));
  await app.register(inspectorStreamRoute, {
    hub: opts.hub,
    apiToken: opts.apiToken,
    ...(opts.maxBufferedBytes ? { maxBufferedBytes: opts.maxBufferedBytes } : {}),
    ...(opts.maxClients ? { maxClients: opts.maxClients } : {}),
  });
  await app.register(inspectorPageRoute);
  const stats = new Stats();
  await app.register(stateRoutes, {
    state: () => ({ actors: {}, spool: { pendingPoints: 0 }, stats: stats.toJSON() }),
    metrics: createMetrics({ stats, actorStates: () => ({}), spoolPendingPoints: () => 0, wsClients: () => 0 }),
  });
  await app.listen({ host: '127.0.0.1', port: opts.port ?? 0 });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return { app, port, baseUrl: `http://127.0.0.1:${port}`, close: () => app.close() };
}
