import type { FastifyPluginAsync } from 'fastify';
import { FEED_MODES } from '../../config.js';
import { SubscriptionError } from '../../errors.js';
import type { SubscriptionChangeRequest } from '../../../machines/rules/subscriptions.js';
import { requireMutationRight } from '../auth.js';
import type { ServerDeps } from '../deps.js';

const keyList = { type: 'array', items: { type: 'string', minLength: 1, maxLength: 200 }, maxItems: 10_000 } as const;

/** POST /subscriptions: change the live Upstox subscription; GET shows it. */
export const subscriptionRoutes =
  (deps: ServerDeps): FastifyPluginAsync =>
  async (app) => {
    app.get('/subscriptions', async () => ({ subscription: deps.subscriptions.current() }));
    app.post<{ Body: SubscriptionChangeRequest }>(
      '/subscriptions',
      {
        preValidation: requireMutationRight(deps.http.apiToken),
        schema: {
          body: {
            type: 'object',
            additionalProperties: false,
            minProperties: 1,
            properties: { add: keyList, remove: keyList, mode: { type: 'string', enum: [...FEED_MODES] } },
          },
        },
      },
      async (req, reply) => {
        try {
          return deps.subscriptions.change(req.body);
        } catch (err) {
          if (err instanceof SubscriptionError)
            return reply.code(422).send({ error: 'Unprocessable Entity', code: err.code, message: err.message });
          throw err;
        }
      },
    );
  };
