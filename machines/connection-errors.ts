/**
 * What the connection machine records as `lastError` ({code, message}, shown in /state and the
 * logs), built from a failed actor's error or the watchdog that fired.
 */
import type { ConnectionInput } from './connection.js';
import type { ErrorCode } from './rules/error-codes.js';
import { errorCode, errorMessage } from './rules/error-info.js';
import { allSubscribedClosed } from './rules/market-time.js';
import type { Subscription } from './rules/subscriptions.js';

export interface ErrorInfo {
  code: ErrorCode;
  message: string;
}

/** What a failed promise actor rejected with, reduced to what the machine needs. */
export function errorInfo(error: unknown): ErrorInfo & { retryAfterS?: number } {
  const retryAfterS = (error as { retryAfterS?: unknown } | null | undefined)?.retryAfterS;
  return {
    code: errorCode(error),
    message: errorMessage(error),
    ...(typeof retryAfterS === 'number' ? { retryAfterS } : {}),
  };
}

/** What the stale watchdog's message reads from the machine's context. */
type StaleView = Pick<ConnectionInput, 'staleFeedMs' | 'staleFeedClosedMs'> & {
  subscription: Subscription;
  marketStatus: Record<string, string>;
  undecodedSinceFrame: boolean;
};

export function describeRefused(refused: Array<{ key: string; reason: string }>): string {
  return `${refused.length} instrument key(s) refused: ${refused
    .slice(0, 3)
    .map((r) => `${r.key} (${r.reason})`)
    .join(', ')}${refused.length > 3 ? ', ...' : ''}`;
}

export function closedError(event: { code: number; reason: string }): ErrorInfo {
  return { code: 'FEED_SOCKET', message: `socket closed (${event.code}${event.reason ? ` ${event.reason}` : ''})` };
}

export function pongTimeoutError(context: Pick<ConnectionInput, 'pongTimeoutMs'>): ErrorInfo {
  return {
    code: 'FEED_PONG_TIMEOUT',
    message: `no answer to a ping within ${context.pongTimeoutMs} ms (no pong, frame or ping): the socket is dead`,
  };
}

export function staleError(context: StaleView): ErrorInfo {
  if (allSubscribedClosed(context.subscription, context.marketStatus)) {
    return {
      code: 'FEED_STALE',
      message: `no frame, ping or pong for ${context.staleFeedClosedMs} ms while every subscribed segment is closed`,
    };
  }
  const garbage = context.undecodedSinceFrame ? ' (frames arrive, but none decodes)' : '';
  return { code: 'FEED_STALE', message: `no frame decoded for ${context.staleFeedMs} ms while a subscribed segment is open${garbage}` };
}
