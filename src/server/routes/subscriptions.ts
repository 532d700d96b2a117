import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import type { FastifyPluginAsync } from 'fastify';
import { FEED_MODES } from '../../config.js';
import { requireMutationRight } from '../auth.js';
import type { ServerDeps } from '../deps.js';

export interface SubscriptionRouteOptions extends Pick<ServerDeps, 'subscriptions'> {
  /** API_TOKEN: when set, a change needs it; without it only loopback clients may change. */
  apiToken: string | undefined;
}

const keyList = { type: 'array', items: { type: 'string', minLength: 1, maxLength: 200 }, maxItems: 10_000 } as const;

const changeBody = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: { add: keyList, remove: keyList, mode: { type: 'string', enum: FEED_MODES } },
} as const;

/**
 * POST /subscriptions: change the live Upstox subscription; GET shows it. A change nothing of
 * which can be applied throws SubscriptionError, answered 422 by the app's error handler.
 */
export const subscriptionRoutes: FastifyPluginAsync<SubscriptionRouteOptions> = async (fastify, opts) => {
  const app = fastify.withTypeProvider<JsonSchemaToTsProvider>();
  app.get('/subscriptions', async () => ({ subscription: opts.subscriptions.current() }));
  app.post('/subscriptions', { preValidation: requireMutationRight(opts.apiToken), schema: { body: changeBody } }, async (req) =>
    opts.subscriptions.change(req.body),
  );
};
