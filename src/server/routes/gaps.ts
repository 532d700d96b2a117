import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import type { FastifyPluginAsync } from 'fastify';
import type { GapRow } from '../../gaps/ledger.js';

/** What GET /gaps reads: the gap ledger, newest first. */
export interface GapsSource {
  list(opts: { since?: number; limit?: number }): GapRow[];
}

export interface GapsRouteOptions {
  gaps: GapsSource;
}

const query = {
  type: 'object',
  additionalProperties: false,
  properties: {
    // Patterns, not numbers: the app does not coerce types, and a query string is text.
    since: { type: 'string', pattern: '^-?[0-9]{1,16}$' },
    limit: { type: 'string', pattern: '^[0-9]{1,5}$' },
  },
} as const;

/** GET /gaps (README: Gaps and backfill): the recorded gaps with their backfill state; `?since=ms`. */
export const gapsRoutes: FastifyPluginAsync<GapsRouteOptions> = async (fastify, opts) => {
  const app = fastify.withTypeProvider<JsonSchemaToTsProvider>();
  app.get('/gaps', { schema: { querystring: query } }, async (req, reply) => {
    const since = req.query.since === undefined ? undefined : Number(req.query.since);
    const limit = req.query.limit === undefined ? 1000 : Math.min(10_000, Math.max(1, Number(req.query.limit)));
    const rows = opts.gaps.list({ ...(since === undefined ? {} : { since }), limit });
    return reply.header('cache-control', 'no-store').send({
      gaps: rows.map((g) => ({
        from: g.from,
        to: g.to,
        keys: g.keys,
        reason: g.reason,
        backfill: g.backfill,
        detail: g.detail,
        candles: g.candles,
      })),
    });
  });
};
