/**
 * A Fastify app with just the inspection routes (WS /inspect, GET /inspector), registered the
 * way the service's app factory does: its error handler, @fastify/websocket, then the route plugins.
 */
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance } from 'fastify';
import type { InspectionHub } from '../../../src/inspector/hub.js';
import { inspectorPageRoute } from '../../../src/inspector/page-route.js';
import { inspectorStreamRoute } from '../../../src/inspector/stream-route.js';
import { useApiErrors } from '../../../src/server/error-handler.js';
import { originGuard } from '../../../src/server/origin-guard.js';

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
  await app.listen({ host: '127.0.0.1', port: opts.port ?? 0 });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return { app, port, baseUrl: `http://127.0.0.1:${port}`, close: () => app.close() };
}
