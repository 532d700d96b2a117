/**
 * What the simulator's parts share: one object built by startSimulator and handed to the HTTP
 * routes, the upgrade handler, every feed session and the ticker (no module-level state, so
 * tests can run several simulators in one process).
 */
import type { Logger } from 'pino';
import type { RateLimitedLog } from '../logger.js';
import type { Faults } from './faults.js';
import type { FrameClock } from './frames.js';
import type { Market } from './market.js';
import type { MarketStatusBook } from './market-status.js';
import type { FeedSession } from './session.js';
import type { SimStats } from './sim-stats.js';
import type { TokenBook } from './tokens.js';

export interface SimContext {
  readonly log: Logger;
  /** For warnings a client can trigger per message (bad requests): visible, never a flood. */
  readonly warnLimited: RateLimitedLog;
  readonly stats: SimStats;
  readonly faults: Faults;
  readonly market: Market;
  readonly clock: FrameClock;
  readonly marketStatus: MarketStatusBook;
  readonly tokens: TokenBook;
  readonly instruments: readonly string[];
  /** Open (and closing) feed sessions. */
  readonly sessions: Set<FeedSession>;
  /** The most recently opened session, even once closed: its subscription is what stats report. */
  latest: FeedSession | undefined;
  /** Live updates per second, per session. */
  rate: number;
  readonly frameIntervalMs: number;
  readonly maxBufferedBytes: number;
  /** Called each time a session has handled a 'sub' request. */
  readonly subscribeWaiters: Set<() => void>;
}
