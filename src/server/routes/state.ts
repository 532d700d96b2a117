import type { FastifyPluginAsync } from 'fastify';
import type { ServerDeps } from '../deps.js';

export type StateRouteOptions = Pick<ServerDeps, 'state' | 'metrics' | 'scrub'>;

/**
 * /state: each actor's snapshot value and the context that explains it, spool and counters, and
 * `runtime`: how late and how busy the event loop that serves /ticks has been over the last few
 * seconds (up to 5 s; a property of the process, so added here rather than by the pipeline's
 * document), and the tick path's timing per frame over the same window. Both answers are
 * readable without a token, so both pass the secret scrubber.
 */
export const stateRoutes: FastifyPluginAsync<StateRouteOptions> = async (app, opts) => {
  const scrub = opts.scrub ?? ((text: string) => text);
  app.get('/state', async (_req, reply) => {
    const { loop, tickPath: path } = opts.metrics.runtime();
    const runtime = {
      eventLoopDelayP50Ms: loop.delayP50Ms,
      eventLoopDelayP99Ms: loop.delayP99Ms,
      eventLoopDelayMaxMs: loop.delayMaxMs,
      eventLoopUtilisation: loop.utilisation,
      windowS: Math.round(loop.windowMs / 100) / 10,
      framesTimed: path.frames,
      feedDelayP99Ms: path.feedDelayP99Ms,
      frameHandlingP50Ms: path.handlingP50Ms,
      frameHandlingP99Ms: path.handlingP99Ms,
    };
    return reply
      .header('cache-control', 'no-store')
      .type('application/json; charset=utf-8')
      .send(scrub(JSON.stringify({ ...opts.state(), runtime })));
  });
  app.get('/metrics', async (_req, reply) => {
    const text = await opts.metrics.registry.metrics();
    return reply.header('content-type', opts.metrics.registry.contentType).send(scrub(text));
  });
};
