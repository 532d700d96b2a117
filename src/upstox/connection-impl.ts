/** The connection machine with its real I/O, and its input from Config. */
import { fromPromise } from 'xstate';
import { type ConnectionInput, connectionMachine } from '../../machines/connection.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Stats } from '../stats.js';
import { authorizeFeed } from './authorize.js';
import { type FeedSink, feedSocketLogic } from './feed-socket.js';
import { type ResolveNames, fetchInstruments } from './instruments.js';
import type { TokenSource } from './token-source.js';

export function connectionInput(c: Config['upstox']): ConnectionInput {
  return {
    instruments: c.instruments ?? null,
    mode: c.feedMode,
    limits: c.limits,
    hasAccessToken: c.accessToken !== undefined,
    hasTokenUrl: c.tokenUrl !== undefined,
    reconnectBaseMs: c.reconnectBaseMs,
    reconnectMaxMs: c.reconnectMaxMs,
    stableAfterMs: c.stableAfterMs,
    staleFeedMs: c.staleFeedMs,
    staleFeedClosedMs: c.staleFeedClosedMs,
    pingIntervalMs: c.pingIntervalMs,
    pongTimeoutMs: c.pongTimeoutMs,
    tokenRefreshIst: c.tokenRefreshIst,
    connectTimeoutMs: c.httpTimeoutMs,
    tokenRejectedRetryMs: 60_000,
    now: Date.now,
    random: Math.random,
  };
}

export interface ConnectionDeps {
  config: Config['upstox'];
  tokenSource: TokenSource;
  sink: FeedSink;
  stats: Stats;
  logger: Logger;
  /** Resolves SEGMENT:TRADING_SYMBOL names an INSTRUMENTS_URL list may hold (against the master). */
  resolveNames?: ResolveNames;
}

/** The connection machine with its I/O: instruments, token, authorize, the feed socket. */
export function provideConnection(deps: ConnectionDeps) {
  const { config, tokenSource, logger } = deps;
  return connectionMachine.provide({
    actors: {
      loadInstruments: fromPromise(async () =>
        fetchInstruments(
          config.instrumentsUrl!,
          config.httpTimeoutMs,
          deps.resolveNames && {
            resolve: deps.resolveNames,
            // Once per fetch (the list is fetched once per start, again only after a failed fetch).
            refused: (refused) =>
              logger.warn(
                { code: 'SUBSCRIPTION_REFUSED', refused },
                `INSTRUMENTS_URL: ${refused.length} name(s) refused, the rest is streamed: ${refused.map((r) => r.reason).join('; ')}`,
              ),
          },
        ),
      ),
      fetchToken: fromPromise(async () => {
        await tokenSource.refresh();
        logger.info('fetched a fresh access token from UPSTOX_TOKEN_URL');
      }),
      authorize: fromPromise(async () => authorizeFeed(config.apiUrl, tokenSource.current(), config.httpTimeoutMs)),
      feedSocket: feedSocketLogic({ sink: deps.sink, stats: deps.stats, logger }),
    },
    actions: {
      countReconnect: () => {
        deps.stats.reconnects++;
      },
      alert: (_, params) => logger.error(params.message),
    },
  });
}
