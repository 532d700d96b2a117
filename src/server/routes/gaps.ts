import type { FastifyPluginAsync } from 'fastify';
import type { GapRow } from '../../gaps/ledger.js';

/** What GET /gaps reads: the gap ledger, newest first. */
export interface GapsSource {
  list(opts: { since?: number; limit?: number }): GapRow[];
}

/** GET /gaps (CONTRACT.md "Gaps and backfill"): the recorded gaps with their backfill state; `?since=ms`. */
export const gapsRoutes =
  (gaps: GapsSource): FastifyPluginAsync =>
  async (app) => {
    app.get<{ Querystring: { since?: string; limit?: string } }>(
      '/gaps',
      {
        schema: {
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              // Strings checked by pattern: the app does not coerce types, and a query is text.
              since: { type: 'string', pattern: '^-?[0-9]{1,16}$' },
              limit: { type: 'string', pattern: '^[0-9]{1,5}$' },
            },
          },
        },
      },
      async (req, reply) => {
        const since = req.query.since === undefined ? undefined : Number(req.query.since);
        const limit = req.query.limit === undefined ? 1000 : Math.min(10_000, Math.max(1, Number(req.query.limit)));
        const rows = gaps.list({ ...(since === undefined ? {} : { since }), limit });
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
      },
    );
  };
