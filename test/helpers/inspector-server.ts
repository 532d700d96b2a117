/**
 * A Fastify app with just the inspection routes (WS /inspect, GET /inspector), registered the
 * way the service's app factory does: @fastify/websocket first, then the route plugins.
 */
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance } from 'fastify';
import type { InspectionHub } from '../../src/observe/inspection-hub.js';
import { inspectRoutes } from '../../src/server/routes/inspect.js';
import { inspectorRoutes } from '../../src/server/routes/inspector.js';

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
}): Promise<InspectorServer> {
  const app = Fastify({ logger: false });
  await app.register(websocket);
  await app.register(inspectRoutes, {
    hub: opts.hub,
    apiToken: opts.apiToken,
    ...(opts.maxBufferedBytes ? { maxBufferedBytes: opts.maxBufferedBytes } : {}),
  });
  await app.register(inspectorRoutes);
  await app.listen({ host: '127.0.0.1', port: opts.port ?? 0 });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return { app, port, baseUrl: `http://127.0.0.1:${port}`, close: () => app.close() };
}
