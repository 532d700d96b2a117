/**
 * Access tokens and authorized redirect codes. Upstox's authorize answer is a one-time URI: the
 * code in it opens one websocket, once, within about a minute. A rotated (expired) token also
 * voids the codes issued under it.
 */
import { randomBytes } from 'node:crypto';

export type RedeemResult = 'ok' | 'unknown' | 'expired';

export function randomToken(): string {
  return `sim-${randomBytes(18).toString('base64url')}`;
}

export class TokenBook {
  private current: string;
  /** code → expiry (epoch ms). Redeemed codes are deleted, so a second use is 'unknown'. */
  private readonly codes = new Map<string, number>();

  constructor(
    token: string,
    private readonly codeTtlMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.current = token;
  }

  get token(): string {
    return this.current;
  }

  isValid(token: string | undefined): boolean {
    return token !== undefined && token === this.current;
  }

  issueCode(): string {
    const t = this.now();
    // Prune so that a client authorizing in a loop cannot grow the map without bound.
    for (const [code, expires] of this.codes) if (expires <= t) this.codes.delete(code);
    const code = randomBytes(16).toString('hex');
    this.codes.set(code, t + this.codeTtlMs);
    return code;
  }

  redeem(code: string): RedeemResult {
    const expires = this.codes.get(code);
    if (expires === undefined) return 'unknown';
    this.codes.delete(code);
    return expires > this.now() ? 'ok' : 'expired';
  }

  /** The daily expiry: a new token replaces the old one, whose codes die with it. */
  rotate(): string {
    this.current = randomToken();
    this.codes.clear();
    return this.current;
  }
}

/** The token of an `Authorization: Bearer <token>` header, if that is what it holds. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return m ? m[1] : undefined;
}
