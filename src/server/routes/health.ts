import type { FastifyPluginAsync } from 'fastify';
import type { ServerDeps } from '../deps.js';

export type HealthRouteOptions = Pick<ServerDeps, 'readiness'>;

/** /health: the process answers. /ready: the feed streams and every point is written or spooled. */
export const healthRoutes: FastifyPluginAsync<HealthRouteOptions> = async (app, opts) => {
  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/ready', async (_req, reply) => {
    const r = opts.readiness();
    return reply
      .code(r.ready ? 200 : 503)
      .send({ ready: r.ready, status: r.ready ? 'ready' : 'not ready', reasons: r.reasons, ...(r.role ? { role: r.role } : {}) });
  });
};
