/**
 * The service's error classes. Each carries a stable `code` that logs, `/state` and tests match
 * on; the message says what happened and what to do about it. Errors are logged once, where
 * they are handled, never where they are thrown.
 */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'FRAME_MALFORMED'
  | 'TOKEN_REJECTED'
  | 'TOKEN_FETCH_FAILED'
  | 'AUTHORIZE_FAILED'
  | 'FEED_SOCKET'
  | 'SUBSCRIPTION_REFUSED'
  | 'INSTRUMENTS_FETCH_FAILED'
  | 'MASTER_FETCH_FAILED'
  | 'MASTER_INVALID'
  | 'INSTRUMENT_UNKNOWN'
  | 'CHAIN_INVALID'
  | 'INFLUX_UNAUTHORIZED'
  | 'INFLUX_FORBIDDEN'
  | 'INFLUX_BUCKET_NOT_FOUND'
  | 'INFLUX_UNAVAILABLE'
  | 'INFLUX_BAD_REQUEST'
  | 'SPOOL_FAILED'
  | 'NOTIFY_FAILED'
  | 'INSPECTOR_ASSETS_MISSING'
  | 'INSPECTOR_ASSET_NOT_FOUND'
  | 'ROUTE_NOT_FOUND'
  | 'API_TOKEN_MISSING'
  | 'API_TOKEN_WRONG'
  | 'REMOTE_MUTATION_FORBIDDEN';

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

/** The local API refuses a request: no or wrong API token, or a remote client without one. */
export class AccessDeniedError extends TickpipeError {
  constructor(code: 'API_TOKEN_MISSING' | 'API_TOKEN_WRONG' | 'REMOTE_MUTATION_FORBIDDEN', message: string) {
    super(code, message);
  }
}

/** Turns anything thrown into a short, loggable description. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
