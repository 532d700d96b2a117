import type { FastifyPluginAsync } from 'fastify';
import type { ServerDeps } from '../deps.js';

/** /state: each actor's snapshot value and the context that explains it, spool and counters. */
export const stateRoutes =
  (deps: ServerDeps): FastifyPluginAsync =>
  async (app) => {
    app.get('/state', async (_req, reply) => reply.header('cache-control', 'no-store').send(deps.state()));
    app.get('/metrics', async (_req, reply) => {
      const text = await deps.metrics.registry.metrics();
      return reply.header('content-type', deps.metrics.registry.contentType).send(text);
    });
  };
