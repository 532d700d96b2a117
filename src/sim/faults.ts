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
}
