import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import type { FastifyPluginAsync } from 'fastify';
import { errorCode, errorMessage } from '../../../machines/rules/error-info.js';
import type { GapRow } from '../../gaps/ledger.js';

/** What GET /gaps reads: the gap ledger, newest first (in the service, read on the storage worker's thread). */
export interface GapsSource {
  list(opts: { since?: number; limit?: number }): GapRow[] | Promise<GapRow[]>;
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
    let rows: GapRow[];
    try {
      rows = await opts.gaps.list({ ...(since === undefined ? {} : { since }), limit });
    } catch (err) {
      // gaps.db locked by another process so that it cannot even be read (or the ledger is closed):
      // the gaps are not lost, only unreadable now. The lock is said once, by the storage worker;
      // the answer has the API's error shape (src/server/error-handler.ts) and the client may retry.
      const code = errorCode(err, 'GAP_LEDGER_FAILED');
      return reply
        .code(503)
        .header('cache-control', 'no-store')
        .header('retry-after', '1')
        .send({
          statusCode: 503,
          code,
          error: 'Service Unavailable',
          message: `the gap ledger cannot be read now (${errorMessage(err)}); try again once it is released`,
        });
    }
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
