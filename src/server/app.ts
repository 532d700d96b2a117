/**
 * The Fastify app: one plugin per concern, dependencies passed in, the service's pino logger.
 * `app.close()` closes every websocket client (1001) and releases everything.
 */
import websocket from '@fastify/websocket';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { ServerDeps } from './deps.js';
import { healthRoutes } from './routes/health.js';
import { stateRoutes } from './routes/state.js';
import { subscriptionRoutes } from './routes/subscriptions.js';
import { inspectRoutes } from './routes/inspect.js';
import { inspectorRoutes } from './routes/inspector.js';
import { ticksRoutes } from './routes/ticks.js';
import { gapsRoutes } from './routes/gaps.js';

export type { ServerDeps, StateView } from './deps.js';

export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const app = Fastify({
    // Per-request lines are noise at info (scrapes, polls): Fastify logs at warn and above,
    // unless the service runs at debug or trace.
    loggerInstance: deps.logger.child(
      { component: 'http' },
      { level: ['debug', 'trace'].includes(deps.logger.level) ? deps.logger.level : 'warn' },
      // pino's Logger and Fastify's base logger differ only in generics Fastify does not use.
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
    ) as FastifyBaseLogger,
    bodyLimit: 1024 * 1024,
    // Strict bodies: no silent coercion (a string is not a list of keys) and no silent removal
    // of unknown fields; Fastify's 400 messages then name the field that is wrong.
    ajv: { customOptions: { allErrors: false, coerceTypes: false, removeAdditional: false } },
  });
  await app.register(websocket, { options: { maxPayload: 1024 * 1024 } });
  app.addHook('onClose', async () => deps.fanout.closeAll());
  await app.register(healthRoutes(deps));
  await app.register(stateRoutes(deps));
  await app.register(subscriptionRoutes(deps));
  await app.register(ticksRoutes(deps));
  if (deps.gaps) await app.register(gapsRoutes(deps.gaps));
  if (deps.inspection) await app.register(inspectRoutes, { hub: deps.inspection, apiToken: deps.http.apiToken });
  await app.register(inspectorRoutes);
  return app;
}
