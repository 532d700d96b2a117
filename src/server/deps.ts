/** What the server needs from the rest of the service: passed in, never imported as singletons. */
import type { Config, FeedMode } from '../config.js';
import type { Logger } from '../logger.js';
import type { Stats } from '../stats.js';
import type { Fanout } from '../fanout/fanout.js';
import type { RefusedKey, SubscriptionChangeRequest, SubscriptionChangeResult } from '../../machines/rules/subscriptions.js';
import type { Metrics } from './metrics.js';
import type { InspectionHub } from '../inspector/hub.js';
import type { GapsSource } from './routes/gaps.js';

/** The parts of the /state document (src/state-document.ts) the routes read; tests serve stand-ins. */
export interface StateView {
  actors: { [id: string]: { value: unknown } };
  spool: { pendingPoints: number };
  stats: Record<string, number>;
}

export interface ServerDeps {
  logger: Logger;
  http: Config['http'];
  stats: Stats;
  // Function properties, not methods: routes receive them detached, as plugin options.
  state: () => StateView;
  readiness: () => { ready: boolean; reasons: string[]; role?: 'leader' | 'standby' };
  fanout: Fanout;
  subscriptions: {
    current(): Record<string, FeedMode>;
    /** Plans and applies a change; throws SubscriptionError when nothing can be applied. */
    change(req: SubscriptionChangeRequest): SubscriptionChangeResult;
  };
  metrics: Metrics;
  /** Instrument names (SEGMENT:TRADING_SYMBOL) → keys, per entry; absent: entries are keys. */
  resolveInstruments?: (entries: readonly string[]) => { keys: string[]; refused: RefusedKey[] };
  /** The actors' inspection events for WS /inspect (the /inspector page is always served). */
  inspection?: InspectionHub;
  /** The gap ledger for GET /gaps. */
  gaps?: GapsSource;
  /** Replaces configured secrets in what /state, /metrics and /inspect send (src/redact.ts). */
  scrub?: (text: string) => string;
}
