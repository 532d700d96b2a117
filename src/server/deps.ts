/** What the server needs from the rest of the service: passed in, never imported as singletons. */
import type { Config, FeedMode } from '../config.js';
import type { Logger } from '../logger.js';
import type { Stats } from '../stats.js';
import type { Fanout } from '../fanout/fanout.js';
import type { SubscriptionChangeRequest, SubscriptionChangeResult } from '../upstox/subscription-types.js';
import type { Metrics } from './metrics.js';
import type { FastifyPluginAsync } from 'fastify';

export interface StateDocument {
  actors: Record<string, { value: unknown; [k: string]: unknown }>;
  spool: { pendingPoints: number; [k: string]: unknown };
  stats: Record<string, number>;
  [k: string]: unknown;
}

export interface ServerDeps {
  logger: Logger;
  http: Config['http'];
  stats: Stats;
  state(): StateDocument;
  readiness(): { ready: boolean; reasons: string[] };
  fanout: Fanout;
  subscriptions: {
    current(): Record<string, FeedMode>;
    /** Plans and applies a change; throws SubscriptionError when nothing can be applied. */
    change(req: SubscriptionChangeRequest): SubscriptionChangeResult;
  };
  metrics: Metrics;
  /** Further route plugins (the inspector), registered after the core routes. */
  plugins?: FastifyPluginAsync[];
}
