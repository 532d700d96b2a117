/**
 * The switches of fault injection. They only hold state; the HTTP routes, the upgrade handler
 * and the sessions consult them, so every fault takes effect on the next thing each part does.
 */

export interface AuthorizeFailure {
  status: 429 | 500;
  retryAfterS: number;
}

export class Faults {
  /** Nothing at all is written to feed sockets (frames, pings) while set. */
  stalled = false;
  /** Websocket upgrades answer 503 while set. */
  refusingConnections = false;
  /** Every socket opened while set is dead from the start (see FeedSession.dead). */
  deadOnConnect = false;
  /** Every frame on every socket is replaced by undecodable bytes while set (pings and pongs stay). */
  garbage = false;
  /** The candle API answers 401 UDAPI100050 whatever the token, while the feed keeps working. */
  candleTokenRejected = false;
  /** GET /instruments/complete.json.gz answers 500 while set. */
  instrumentFileFailing = false;
  private candle429Left = 0;
  /** performance.now() until which every candle request is answered 429. */
  private candle429Until = 0;
  private authorizeFailure: AuthorizeFailure | null = null;
  private authorizeFailuresLeft = 0;

  armAuthorizeFailure(status: 429 | 500, times: number, retryAfterS = 1): void {
    if (status !== 429 && status !== 500) throw new TypeError(`failAuthorize status must be 429 or 500, got ${String(status)}`);
    if (!Number.isInteger(times) || times < 0) throw new TypeError(`failAuthorize times must be a whole number >= 0, got ${String(times)}`);
    this.authorizeFailure = { status, retryAfterS };
    this.authorizeFailuresLeft = times;
  }

  /** The failure the current authorize call must answer, if one is armed (and uses it up). */
  takeAuthorizeFailure(): AuthorizeFailure | null {
    if (this.authorizeFailuresLeft <= 0 || !this.authorizeFailure) return null;
    this.authorizeFailuresLeft--;
    return this.authorizeFailure;
  }

  /** The next `requests` candle requests, and every one for `forMs` real ms from now, answer 429. */
  armCandleRateLimit(opts: { requests?: number; forMs?: number }): void {
    const { requests = 0, forMs = 0 } = opts;
    if (!Number.isInteger(requests) || requests < 0)
      throw new TypeError(`rateLimitCandles requests must be a whole number >= 0, got ${String(requests)}`);
    if (!Number.isFinite(forMs) || forMs < 0) throw new TypeError(`rateLimitCandles forMs must be a number >= 0, got ${String(forMs)}`);
    this.candle429Left = requests;
    this.candle429Until = forMs > 0 ? performance.now() + forMs : 0;
  }

  /** Whether the current candle request must answer 429 (uses up one of a counted storm). */
  takeCandleRateLimit(): boolean {
    if (performance.now() < this.candle429Until) return true;
    if (this.candle429Left <= 0) return false;
    this.candle429Left--;
    return true;
  }
}
