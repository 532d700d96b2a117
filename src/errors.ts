/**
 * The service's error classes. Each carries a stable `code` that logs, `/state` and tests match
 * on; the message says what happened and what to do about it. Errors are logged once, where
 * they are handled, never where they are thrown.
 */
import type { ErrorCode } from '../machines/rules/error-codes.js';

// One union of codes and one way to describe an error, shared with the machines.
export type { ErrorCode };
export { describeError } from '../machines/rules/error-info.js';

export class TickpipeError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** One or more settings are missing or invalid; `problems` lists each with its fix. */
export class ConfigError extends TickpipeError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(
      'CONFIG_INVALID',
      `invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n  - ${problems.join('\n  - ')}`,
    );
    this.problems = problems;
  }
}

/** A websocket frame that is not a valid V3 FeedResponse. Counted and skipped, never fatal. */
export class FrameDecodeError extends TickpipeError {
  constructor(message: string, options?: ErrorOptions) {
    super('FRAME_MALFORMED', message, options);
  }
}

/** Upstox refused the access token (401, UDAPI100050 and friends). */
export class TokenRejectedError extends TickpipeError {
  readonly upstoxCode: string | undefined;
  constructor(message: string, upstoxCode?: string) {
    super('TOKEN_REJECTED', message);
    this.upstoxCode = upstoxCode;
  }
}

/** An HTTP call failed in a way that may pass (network, timeout, 429, 5xx). */
export class TransientHttpError extends TickpipeError {
  readonly status: number | undefined;
  /** Seconds the server asked us to wait (Retry-After), when it said. */
  readonly retryAfterS: number | undefined;
  constructor(code: ErrorCode, message: string, status?: number, retryAfterS?: number, options?: ErrorOptions) {
    super(code, message, options);
    this.status = status;
    this.retryAfterS = retryAfterS;
  }
}

/** A subscription request beyond the V3 limits or otherwise invalid. */
export class SubscriptionError extends TickpipeError {
  constructor(message: string) {
    super('SUBSCRIPTION_REFUSED', message);
  }
}

/** The local API refuses a request: no or wrong API token, a remote client without one, a foreign Host or Origin. */
export class AccessDeniedError extends TickpipeError {
  constructor(
    code: 'API_TOKEN_MISSING' | 'API_TOKEN_WRONG' | 'REMOTE_MUTATION_FORBIDDEN' | 'HOST_FORBIDDEN' | 'ORIGIN_FORBIDDEN',
    message: string,
  ) {
    super(code, message);
  }
}
