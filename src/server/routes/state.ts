import type { FastifyPluginAsync } from 'fastify';
import type { ServerDeps } from '../deps.js';

export type StateRouteOptions = Pick<ServerDeps, 'state' | 'metrics' | 'scrub'>;

/**
 * /state: each actor's snapshot value and the context that explains it, spool and counters.
 * Both answers are readable without a token, so both pass the secret scrubber on the way out.
 */
export const stateRoutes: FastifyPluginAsync<StateRouteOptions> = async (app, opts) => {
  const scrub = opts.scrub ?? ((text: string) => text);
  app.get('/state', async (_req, reply) =>
    reply
      .header('cache-control', 'no-store')
      .type('application/json; charset=utf-8')
      .send(scrub(JSON.stringify(opts.state()))),
  );
  app.get('/metrics', async (_req, reply) => {
    const text = await opts.metrics.registry.metrics();
    return reply.header('content-type', opts.metrics.registry.contentType).send(scrub(text));
  });
};
