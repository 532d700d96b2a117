/**
 * The Fastify app: one plugin per concern, registered with the dependencies it needs as its
 * options; the service's pino logger; one error handler (error-handler.ts) for every route.
 * `app.close()` closes every websocket client (1001) and releases everything.
 */
import websocket from '@fastify/websocket';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { ServerDeps } from './deps.js';
import { healthRoutes } from './routes/health.js';
import { stateRoutes } from './routes/state.js';
import { subscriptionRoutes } from './routes/subscriptions.js';
import { ticksRoutes } from './routes/ticks.js';
import { inspectorStreamRoute } from '../inspector/stream-route.js';
import { inspectorPageRoute } from '../inspector/page-route.js';
import { useApiErrors } from './error-handler.js';

export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  // Per-request lines are noise at info (scrapes, polls): Fastify logs at warn and above,
  // unless the service runs at debug or trace (or quieter than warn: error, fatal, silent).
  const { level, levelVal } = deps.logger;
  const httpLogger: FastifyBaseLogger = deps.logger.child(
    { component: 'http' },
    { level: level === 'debug' || level === 'trace' || levelVal > deps.logger.levels.values['warn'] ? level : 'warn' },
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
  app.addHook('onClose', async () => deps.fanout.closeAll());
  const apiToken = deps.http.apiToken;
  await app.register(healthRoutes, { readiness: deps.readiness });
  await app.register(stateRoutes, { state: deps.state, metrics: deps.metrics });
  await app.register(subscriptionRoutes, { subscriptions: deps.subscriptions, apiToken });
  await app.register(ticksRoutes, { fanout: deps.fanout, apiToken, resolveInstruments: deps.resolveInstruments });
  if (deps.inspection) await app.register(inspectorStreamRoute, { hub: deps.inspection, apiToken });
  await app.register(inspectorPageRoute);
  return app;
}
