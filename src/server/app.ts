/**
 * The Fastify app: one plugin per concern, registered with the dependencies it needs as its
 * options; the service's pino logger; one error handler (error-handler.ts) for every route.
 * `app.close()` closes every websocket client (1001) and releases everything.
 */
import websocket from '@fastify/websocket';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import { redactQuery } from '../redact.js';
import type { ServerDeps } from './deps.js';
import { healthRoutes } from './routes/health.js';
import { stateRoutes } from './routes/state.js';
import { subscriptionRoutes } from './routes/subscriptions.js';
import { ticksRoutes } from './routes/ticks.js';
import { inspectorStreamRoute } from '../inspector/stream-route.js';
import { inspectorPageRoute } from '../inspector/page-route.js';
import { useApiErrors } from './error-handler.js';
import { gapsRoutes } from './routes/gaps.js';
import { originGuard } from './origin-guard.js';

/** The request in Fastify's request log lines, query values other than `keys` hidden. */
function serializeRequest(req: FastifyRequest): Record<string, unknown> {
  return { method: req.method, url: redactQuery(req.url), host: req.host, remoteAddress: req.ip };
}

export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  // Per-request lines are noise at info (scrapes, polls): Fastify logs at warn and above,
  // unless the service runs at debug or trace (or quieter than warn: error, fatal, silent).
  const { level, levelVal } = deps.logger;
  const httpLogger: FastifyBaseLogger = deps.logger.child(
    { component: 'http' },
    {
      level: level === 'debug' || level === 'trace' || levelVal > deps.logger.levels.values['warn'] ? level : 'warn',
      // Fastify's own request serializer prints the URL whole, `?token=` included.
      serializers: { req: serializeRequest },
    },
  );
  const app = Fastify({
    loggerInstance: httpLogger,
    bodyLimit: 1024 * 1024,
    // Strict bodies: no silent coercion (a string is not a list of keys) and no silent removal
    // of unknown fields; Fastify's 400 messages then name the field that is wrong.
    ajv: { customOptions: { allErrors: false, coerceTypes: false, removeAdditional: false } },
  });
  useApiErrors(app);
  await app.register(websocket, { options: { maxPayload: 1024 * 1024 } });
  // Before the routes' own checks (a foreign page learns nothing), but after @fastify/websocket's
  // onRequest hook, which marks upgrade requests so that a refused upgrade's socket is closed.
  app.addHook('onRequest', originGuard(deps.http));
  app.addHook('onClose', async () => deps.fanout.closeAll());
  const apiToken = deps.http.apiToken;
  await app.register(healthRoutes, { readiness: deps.readiness });
  await app.register(stateRoutes, { state: deps.state, metrics: deps.metrics, scrub: deps.scrub });
  await app.register(subscriptionRoutes, { subscriptions: deps.subscriptions, apiToken });
  await app.register(ticksRoutes, {
    fanout: deps.fanout,
    apiToken,
    maxClients: deps.http.wsMaxClients,
    resolveInstruments: deps.resolveInstruments,
  });
  if (deps.inspection)
    await app.register(inspectorStreamRoute, { hub: deps.inspection, apiToken, maxClients: deps.http.wsMaxClients, scrub: deps.scrub });
  await app.register(inspectorPageRoute);
  if (deps.gaps) await app.register(gapsRoutes, { gaps: deps.gaps });
  return app;
}
