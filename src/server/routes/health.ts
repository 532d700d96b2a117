import type { FastifyPluginAsync } from 'fastify';
import type { ServerDeps } from '../deps.js';

/** /health: the process answers. /ready: the feed streams and every point is written or spooled. */
export const healthRoutes =
  (deps: ServerDeps): FastifyPluginAsync =>
  async (app) => {
    app.get('/health', async () => ({ status: 'ok' }));
    app.get('/ready', async (_req, reply) => {
      const r = deps.readiness();
      return reply.code(r.ready ? 200 : 503).send({ ready: r.ready, status: r.ready ? 'ready' : 'not ready', reasons: r.reasons });
    });
  };
