/**
 * The Upstox connection and auth lifecycle.
 *
 *   loadingInstruments ─▶ obtainingToken ─▶ authorizing ─▶ connecting ─▶ subscribing ─▶ streaming
 *        (INSTRUMENTS_URL only)   ▲               │ 401          │ closed/timeout        │ closed, stale
 *                                 └─ (token URL) ─┤              ▼                       ▼
 *                          tokenRejected ◀─ (none)┘           backoff ──(full jitter)──▶ authorizing
 *
 * Every reconnect authorizes again (the redirect URI is single-use). The socket is a spawned
 * callback actor (`feedSocket`) that hands frames to the data plane itself and sends this
 * machine only lifecycle events: SOCKET_OPEN/CLOSED/ERROR, FEED_ALIVE (a frame decoded; at most
 * about once a second), FEED_GARBAGE (frames that did not decode; as often), FEED_PONG (a pong
 * or a server ping) and MARKET_STATUS.
 *
 * Two watchdogs:
 * - The socket: once open, the machine pings it every `pingIntervalMs`; when nothing at all comes
 *   back (no pong, frame or ping) within `pongTimeoutMs` of a ping, the socket is dead
 *   (FEED_PONG_TIMEOUT) and is replaced. Upstox answers pings whether or not anything trades, so
 *   this finds a dead socket within interval + timeout (10 s by default), day or night.
 * - The data: while a subscribed segment is open, no frame that decodes for `staleFeedMs` means
 *   the stream is stale (FEED_STALE): garbage, or a subscription Upstox no longer serves. Frames
 *   that fail to decode and pings are no sign of data. While every subscribed segment is closed
 *   (nights are quiet, not dead) the limit is `staleFeedClosedMs` and pings and pongs count too,
 *   so a closed market never causes a reconnect loop.
 * States are flat so that `value` is exactly 'streaming' while ticks flow.
 */
import { assign, cancel, enqueueActions, fromCallback, fromPromise, raise, setup, spawnChild, stopChild } from 'xstate';
import type { ConnectionEvent, FeedSocketInput, SocketCommand } from './events.js';
import { fullJitterDelay } from './rules/backoff.js';
import { type ErrorInfo, closedError, describeRefused, errorInfo, pongTimeoutError, staleError } from './connection-errors.js';
import { errorCode } from './rules/error-info.js';
import { allSubscribedClosed, msUntilIst } from './rules/market-time.js';
import {
  type FeedMode,
  type Subscription,
  type SubscriptionLimits,
  planSubscriptionChange,
  subscriptionDiff,
} from './rules/subscriptions.js';

export interface ConnectionInput {
  /** Instrument keys from INSTRUMENTS; null when they come from INSTRUMENTS_URL. */
  instruments: readonly string[] | null;
  mode: FeedMode;
  limits: SubscriptionLimits;
  hasAccessToken: boolean;
  hasTokenUrl: boolean;
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  stableAfterMs: number;
  staleFeedMs: number;
  staleFeedClosedMs: number;
  tokenRefreshIst: string;
  /** Socket open (TCP + TLS + upgrade) must finish within this. */
  connectTimeoutMs: number;
  /** Without a token URL, a rejected token is tried again this often (it may be fixed upstream). */
  tokenRejectedRetryMs: number;
  /** Once the socket is open, it is pinged this often... */
  pingIntervalMs: number;
  /** ...and is dead when nothing comes back within this long of a ping. */
  pongTimeoutMs: number;
  /** The wall clock (ms) and a random number in [0, 1): injected so tests are reproducible. */
  now: () => number;
  random: () => number;
}

interface ConnectionContext extends ConnectionInput {
  subscription: Subscription;
  marketStatus: Record<string, string>;
  /** Consecutive failed connection attempts; reset after `stableAfterMs` of streaming. */
  attempt: number;
  /** Consecutive token rejections or token fetch failures. */
  tokenAttempt: number;
  reconnects: number;
  /** Why the actor is in its current state, in words. */
  reason: string;
  lastError: ErrorInfo | null;
  since: number;
  /** Retry-After from the last 429, honoured by the next delay. */
  retryAfterMs: number | null;
  /** When the last frame that decoded arrived. */
  lastActivityAt: number | null;
  /** A ping is out and nothing has come back yet. */
  awaitingPong: boolean;
  /** Frames arrived since the last one that decoded, and none of them decoded. */
  undecodedSinceFrame: boolean;
}

const base = setup({
  types: {
    context: {} as ConnectionContext,
    events: {} as ConnectionEvent,
    input: {} as ConnectionInput,
  },
  actors: {
    loadInstruments: fromPromise<string[]>(async () => {
      throw new Error('loadInstruments not provided');
    }),
    /** Fetches a fresh token from UPSTOX_TOKEN_URL into the token source (never into context). */
    fetchToken: fromPromise<void>(async () => {
      throw new Error('fetchToken not provided');
    }),
    /** Authorizes with the current token; resolves with the single-use redirect URI. */
    authorize: fromPromise<string>(async () => {
      throw new Error('authorize not provided');
    }),
    feedSocket: fromCallback<SocketCommand, FeedSocketInput>(() => {
      throw new Error('feedSocket not provided');
    }),
  },
  actions: {
    /** Counts a reconnect in the data plane's Stats (provided). */
    countReconnect: () => {},
    /** Says something a person must act on, at error level (provided). */
    alert: (_, _params: { message: string }) => {},
    /** Records why the actor is where it is, and since when (shown in /state and the logs). */
    enter: assign(({ context }, params: { reason: string }) => ({ reason: params.reason, since: context.now() })),
  },
  guards: {
    needsInstruments: ({ context }) => context.instruments === null,
    hasAccessToken: ({ context }) => context.hasAccessToken,
    hasTokenUrl: ({ context }) => context.hasTokenUrl,
    /** Upstox refused the token (rather than being unreachable). */
    isTokenRejected: (_, params: { error: unknown }) => errorCode(params.error) === 'TOKEN_REJECTED',
    /** Refused, a token URL is set, and no fresh token was fetched since the last good authorize. */
    isTokenRejectedFirstTime: ({ context }, params: { error: unknown }) =>
      errorCode(params.error) === 'TOKEN_REJECTED' && context.hasTokenUrl && context.tokenAttempt === 0,
    /** Every subscribed segment is closed (market_info said so): no data is expected. */
    allSubscribedClosed: ({ context }) => allSubscribedClosed(context.subscription, context.marketStatus),
    /** Refused again although a fresh token came from the token URL. */
    isFreshTokenRejected: ({ context }, params: { error: unknown }) => errorCode(params.error) === 'TOKEN_REJECTED' && context.hasTokenUrl,
  },
  delays: {
    reconnectDelay: ({ context }) =>
      context.retryAfterMs ?? fullJitterDelay(context.attempt, context.reconnectBaseMs, context.reconnectMaxMs, context.random()),
    tokenRetryDelay: ({ context }) =>
      context.retryAfterMs ??
      fullJitterDelay(context.tokenAttempt, context.reconnectBaseMs * 4, context.reconnectMaxMs * 4, context.random()),
    staleTimeout: ({ context }) =>
      allSubscribedClosed(context.subscription, context.marketStatus) ? context.staleFeedClosedMs : context.staleFeedMs,
    stableAfter: ({ context }) => context.stableAfterMs,
    pingInterval: ({ context }) => context.pingIntervalMs,
    pongTimeout: ({ context }) => context.pongTimeoutMs,
    connectTimeout: ({ context }) => context.connectTimeoutMs,
    tokenRejectedRetry: ({ context }) => context.tokenRejectedRetryMs,
    tokenRefreshDelay: ({ context }) => msUntilIst(context.tokenRefreshIst, context.now()),
  },
});

/** Actions built from the base's typed helpers (they send to the socket, the parent, themselves). */
const connectionSetup = base.extend({
  actions: {
    /** Every key in its mode, on every (re)connect. */
    resubscribeAll: base.enqueueActions(({ context, enqueue }) => {
      for (const req of subscriptionDiff({}, context.subscription))
        enqueue.sendTo('socket', { type: 'SEND', ...req } satisfies SocketCommand);
    }),
    /** Sends the socket what changes between the current and the requested subscription. */
    sendDiff: base.enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'SET_SUBSCRIPTION') return;
      for (const req of subscriptionDiff(context.subscription, event.subscription)) {
        enqueue.sendTo('socket', { type: 'SEND', ...req } satisfies SocketCommand);
      }
    }),
    /** Leaving `streaming` (not re-entering it): tell the others, forget the stable timer. */
    leaveStreaming: base.enqueueActions(({ context, enqueue }) => {
      enqueue.cancel('stable');
      enqueue.sendParent({ type: 'FEED_DOWN', reason: context.lastError?.message ?? context.reason });
    }),
    announceUp: base.enqueueActions(({ enqueue }) => {
      enqueue.sendParent({ type: 'FEED_UP' });
      enqueue.raise({ type: 'STABLE' }, { delay: 'stableAfter', id: 'stable' });
    }),
    /** The socket watchdog: a ping every pingInterval from now on (see the header). */
    startPinging: base.enqueueActions(({ enqueue }) => {
      enqueue.cancel('ping');
      enqueue.raise({ type: 'PING_DUE' }, { delay: 'pingInterval', id: 'ping' });
    }),
    /** Pings, unless a ping is still unanswered (its deadline stands), and schedules the next. */
    ping: base.enqueueActions(({ context, enqueue }) => {
      if (!context.awaitingPong) {
        enqueue.sendTo('socket', { type: 'PING' } satisfies SocketCommand);
        enqueue.raise({ type: 'PONG_OVERDUE' }, { delay: 'pongTimeout', id: 'pongDeadline' });
        enqueue.assign({ awaitingPong: true });
      }
      enqueue.raise({ type: 'PING_DUE' }, { delay: 'pingInterval', id: 'ping' });
    }),
    /** Anything from the socket (pong, ping, frame) proves it alive: the ping is answered. */
    socketAlive: base.enqueueActions(({ context, enqueue }) => {
      if (!context.awaitingPong) return;
      enqueue.cancel('pongDeadline');
      enqueue.assign({ awaitingPong: false });
    }),
    stopPinging: base.enqueueActions(({ enqueue }) => {
      enqueue.cancel('ping');
      enqueue.cancel('pongDeadline');
      enqueue.assign({ awaitingPong: false, undecodedSinceFrame: false });
    }),
    scheduleTokenRefresh: base.enqueueActions(({ context, enqueue }) => {
      if (context.hasTokenUrl) enqueue.raise({ type: 'TOKEN_REFRESH_DUE' }, { delay: 'tokenRefreshDelay', id: 'tokenRefresh' });
    }),
  },
});

export const connectionMachine = connectionSetup.createMachine({
  id: 'connection',
  context: ({ input }) => {
    const initial = input.instruments ? planSubscriptionChange({}, { add: [...input.instruments] }, input.limits, input.mode) : null;
    return {
      ...input,
      subscription: initial?.subscription ?? {},
      marketStatus: {},
      attempt: 0,
      tokenAttempt: 0,
      reconnects: 0,
      reason: 'starting',
      lastError: initial && initial.refused.length > 0 ? { code: 'SUBSCRIPTION_REFUSED', message: describeRefused(initial.refused) } : null,
      since: input.now(),
      retryAfterMs: null,
      lastActivityAt: null,
      awaitingPong: false,
      undecodedSinceFrame: false,
    };
  },
  // Too many instruments for the V3 limits: say so loudly, and stream the ones that fit.
  entry: [
    enqueueActions(({ context, enqueue }) => {
      if (context.lastError?.code === 'SUBSCRIPTION_REFUSED') enqueue({ type: 'alert', params: { message: context.lastError.message } });
    }),
    'scheduleTokenRefresh',
  ],
  initial: 'starting',
  on: {
    STOP: { target: '.stopped' },
    MARKET_STATUS: {
      actions: assign({ marketStatus: ({ context, event }) => ({ ...context.marketStatus, ...event.segments }) }),
    },
    SET_SUBSCRIPTION: {
      actions: assign({ subscription: ({ event }) => event.subscription }),
    },
    TOKEN_REFRESH_DUE: {
      // The daily expiry (~03:30 IST) is expected: fetch a fresh token ahead of it, without
      // touching the live socket; the next authorize uses it. Then schedule tomorrow's.
      actions: [
        spawnChild('fetchToken', { id: 'dailyTokenRefresh' }),
        raise({ type: 'TOKEN_REFRESH_DUE' }, { delay: 'tokenRefreshDelay', id: 'tokenRefresh' }),
      ],
    },
    // Only meaningful in `streaming`; elsewhere a late one is ignored.
    STABLE: {},
    // Only meaningful while a socket is open (subscribing, streaming); elsewhere ignored.
    FEED_PONG: {},
    FEED_GARBAGE: {},
    PING_DUE: {},
    PONG_OVERDUE: {},
    // The daily refresh failed: the next rejection will fetch again; keep it visible meanwhile.
    'xstate.error.actor.dailyTokenRefresh': {
      actions: assign({
        lastError: ({ event }) => ({
          code: 'TOKEN_FETCH_FAILED',
          message: `daily token refresh failed: ${errorInfo(event.error).message}`,
        }),
      }),
    },
  },
  states: {
    starting: {
      always: [
        { guard: 'needsInstruments', target: 'loadingInstruments' },
        { guard: 'hasAccessToken', target: 'authorizing' },
        { target: 'obtainingToken' },
      ],
    },
    loadingInstruments: {
      entry: { type: 'enter', params: { reason: 'fetching the instrument list from INSTRUMENTS_URL' } },
      invoke: {
        src: 'loadInstruments',
        onDone: [
          {
            guard: 'hasAccessToken',
            target: 'authorizing',
            actions: assign(({ context, event }) => withInstruments(context, event.output)),
          },
          { target: 'obtainingToken', actions: assign(({ context, event }) => withInstruments(context, event.output)) },
        ],
        onError: {
          target: 'instrumentsBackoff',
          actions: assign({
            lastError: ({ event }) => errorInfo(event.error),
            attempt: ({ context }) => context.attempt + 1,
          }),
        },
      },
    },
    instrumentsBackoff: {
      entry: { type: 'enter', params: ({ context: c }) => ({ reason: `cannot load instruments (${c.lastError?.message}); retrying` }) },
      after: { reconnectDelay: 'loadingInstruments' },
    },
    obtainingToken: {
      entry: { type: 'enter', params: { reason: 'fetching an access token from UPSTOX_TOKEN_URL' } },
      invoke: {
        src: 'fetchToken',
        onDone: { target: 'authorizing', actions: assign({ retryAfterMs: null }) },
        onError: {
          target: 'tokenBackoff',
          actions: assign({
            lastError: ({ event }) => errorInfo(event.error),
            tokenAttempt: ({ context }) => context.tokenAttempt + 1,
          }),
        },
      },
    },
    tokenBackoff: {
      entry: { type: 'enter', params: ({ context: c }) => ({ reason: `token needed: ${c.lastError?.message ?? 'fetching a fresh one'}` }) },
      after: { tokenRetryDelay: 'obtainingToken' },
    },
    authorizing: {
      entry: { type: 'enter', params: { reason: 'authorizing with Upstox (every connection needs a fresh redirect URI)' } },
      invoke: {
        src: 'authorize',
        onDone: {
          target: 'connecting',
          actions: [
            assign({ tokenAttempt: 0, retryAfterMs: null }),
            spawnChild('feedSocket', {
              id: 'socket',
              input: ({ context, event }) => ({
                url: (event as unknown as { output: string }).output,
                aliveIntervalMs: Math.max(20, Math.min(1000, Math.floor(Math.min(context.staleFeedMs, context.staleFeedClosedMs) / 4))),
                connectTimeoutMs: context.connectTimeoutMs,
              }),
            }),
          ],
        },
        onError: [
          {
            // The first rejection: fetch a fresh token right away (the daily expiry).
            guard: { type: 'isTokenRejectedFirstTime', params: ({ event }) => ({ error: event.error }) },
            target: 'obtainingToken',
            actions: assign({ lastError: ({ event }) => errorInfo(event.error), tokenAttempt: 1, retryAfterMs: null }),
          },
          {
            // Rejected again with a fresh token: back off between fetches.
            guard: { type: 'isFreshTokenRejected', params: ({ event }) => ({ error: event.error }) },
            target: 'tokenBackoff',
            actions: assign({
              lastError: ({ event }) => errorInfo(event.error),
              tokenAttempt: ({ context }) => context.tokenAttempt + 1,
              retryAfterMs: null,
            }),
          },
          {
            guard: { type: 'isTokenRejected', params: ({ event }) => ({ error: event.error }) },
            target: 'tokenRejected',
            actions: assign({ lastError: ({ event }) => errorInfo(event.error) }),
          },
          {
            target: 'backoff',
            actions: assign({
              lastError: ({ event }) => errorInfo(event.error),
              retryAfterMs: ({ event }) => {
                const s = errorInfo(event.error).retryAfterS;
                return s === undefined ? null : s * 1000;
              },
            }),
          },
        ],
      },
    },
    tokenRejected: {
      entry: [
        {
          type: 'enter',
          params: {
            reason: 'Upstox rejected the access token and no UPSTOX_TOKEN_URL is set: put a fresh token in UPSTOX_ACCESS_TOKEN and restart',
          },
        },
        { type: 'alert', params: ({ context }) => ({ message: `${context.reason} (${context.lastError?.message ?? ''})` }) },
      ],
      after: { tokenRejectedRetry: 'authorizing' },
    },
    connecting: {
      entry: { type: 'enter', params: { reason: 'opening the feed websocket' } },
      on: {
        SOCKET_OPEN: 'subscribing',
        SOCKET_CLOSED: { target: 'backoff', actions: assign({ lastError: ({ event }) => closedError(event) }) },
        SOCKET_ERROR: {
          target: 'backoff',
          actions: assign({ lastError: ({ event }) => ({ code: 'FEED_SOCKET', message: event.message }) }),
        },
      },
      after: {
        connectTimeout: {
          target: 'backoff',
          actions: assign({
            lastError: ({ context }) => ({ code: 'FEED_SOCKET', message: `socket not open after ${context.connectTimeoutMs} ms` }),
          }),
        },
      },
    },
    subscribing: {
      entry: [
        { type: 'enter', params: ({ context: c }) => ({ reason: `subscribing ${Object.keys(c.subscription).length} keys` }) },
        'resubscribeAll',
        'startPinging',
      ],
      on: {
        FEED_ALIVE: {
          target: 'streaming',
          actions: [
            'socketAlive',
            assign({ lastActivityAt: ({ context }) => context.now(), lastError: null, undecodedSinceFrame: false }),
            'announceUp',
          ],
        },
        FEED_PONG: { actions: 'socketAlive' },
        FEED_GARBAGE: { actions: ['socketAlive', assign({ undecodedSinceFrame: true })] },
        PING_DUE: { actions: 'ping' },
        PONG_OVERDUE: { target: 'backoff', actions: assign({ lastError: ({ context }) => pongTimeoutError(context) }) },
        SET_SUBSCRIPTION: { actions: ['sendDiff', assign({ subscription: ({ event }) => event.subscription })] },
        SOCKET_CLOSED: { target: 'backoff', actions: assign({ lastError: ({ event }) => closedError(event) }) },
        SOCKET_ERROR: {
          target: 'backoff',
          actions: assign({ lastError: ({ event }) => ({ code: 'FEED_SOCKET', message: event.message }) }),
        },
      },
      after: {
        staleTimeout: {
          target: 'backoff',
          actions: assign({
            lastError: ({ context }) => ({ code: 'FEED_STALE', message: `no frame decoded ${context.staleFeedMs} ms after subscribing` }),
          }),
        },
      },
    },
    streaming: {
      entry: { type: 'enter', params: ({ context: c }) => ({ reason: `streaming ${Object.keys(c.subscription).length} keys` }) },
      on: {
        // Re-entering restarts the stale timer; nothing else is re-run (no entry side effects).
        FEED_ALIVE: {
          target: 'streaming',
          reenter: true,
          actions: ['socketAlive', assign({ lastActivityAt: ({ context }) => context.now(), undecodedSinceFrame: false })],
        },
        FEED_PONG: [
          // A closed market sends no data: there, the socket being alive is all there is to check.
          { guard: 'allSubscribedClosed', target: 'streaming', reenter: true, actions: 'socketAlive' },
          { actions: 'socketAlive' },
        ],
        FEED_GARBAGE: { actions: ['socketAlive', assign({ undecodedSinceFrame: true })] },
        PING_DUE: { actions: 'ping' },
        PONG_OVERDUE: { target: 'backoff', actions: [assign({ lastError: ({ context }) => pongTimeoutError(context) }), 'leaveStreaming'] },
        STABLE: { actions: assign({ attempt: 0 }) },
        SET_SUBSCRIPTION: { actions: ['sendDiff', assign({ subscription: ({ event }) => event.subscription })] },
        SOCKET_CLOSED: {
          target: 'backoff',
          actions: [assign({ lastError: ({ event }) => closedError(event) }), 'leaveStreaming'],
        },
        SOCKET_ERROR: {
          target: 'backoff',
          actions: [assign({ lastError: ({ event }) => ({ code: 'FEED_SOCKET', message: event.message }) }), 'leaveStreaming'],
        },
        STOP: { target: 'stopped', actions: 'leaveStreaming' },
      },
      after: {
        staleTimeout: {
          target: 'backoff',
          actions: [assign({ lastError: ({ context }) => staleError(context) }), 'leaveStreaming'],
        },
      },
    },
    backoff: {
      entry: [
        stopChild('socket'),
        'stopPinging',
        assign({ attempt: ({ context }) => context.attempt + 1, reconnects: ({ context }) => context.reconnects + 1 }),
        'countReconnect',
        { type: 'enter', params: ({ context: c }) => ({ reason: `reconnecting after: ${c.lastError?.message ?? 'connection lost'}` }) },
      ],
      exit: assign({ retryAfterMs: null }),
      after: { reconnectDelay: 'authorizing' },
    },
    stopped: {
      type: 'final',
      entry: [
        stopChild('socket'),
        'stopPinging',
        cancel('tokenRefresh'),
        cancel('stable'),
        { type: 'enter', params: { reason: 'stopped' } },
      ],
    },
  },
});

function withInstruments(context: ConnectionContext, keys: string[]): Partial<ConnectionContext> {
  const plan = planSubscriptionChange({}, { add: keys }, context.limits, context.mode);
  return {
    instruments: keys,
    subscription: plan.subscription,
    attempt: 0,
    lastError: plan.refused.length > 0 ? { code: 'SUBSCRIPTION_REFUSED', message: describeRefused(plan.refused) } : null,
  };
}
