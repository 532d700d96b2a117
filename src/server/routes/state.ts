import type { FastifyPluginAsync } from 'fastify';
import type { ServerDeps } from '../deps.js';

export type StateRouteOptions = Pick<ServerDeps, 'state' | 'metrics'>;

/** /state: each actor's snapshot value and the context that explains it, spool and counters. */
export const stateRoutes: FastifyPluginAsync<StateRouteOptions> = async (app, opts) => {
  app.get('/state', async (_req, reply) => reply.header('cache-control', 'no-store').send(opts.state()));
  app.get('/metrics', async (_req, reply) => {
    const text = await opts.metrics.registry.metrics();
    return reply.header('content-type', opts.metrics.registry.contentType).send(text);
  });
};
