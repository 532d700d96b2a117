/**
 * The access token: held here, privately, and nowhere else (not in machine context, not in logs).
 * Starts with UPSTOX_ACCESS_TOKEN when given; `refresh()` asks UPSTOX_TOKEN_URL for a fresh one.
 */
import { TickpipeError, TransientHttpError } from '../errors.js';

export class TokenSource {
  #token: string | undefined;
  constructor(
    initial: string | undefined,
    private readonly url: string | undefined,
    private readonly timeoutMs: number,
  ) {
    this.#token = initial;
  }

  current(): string | undefined {
    return this.#token;
  }

  async refresh(): Promise<void> {
    if (!this.url) throw new TickpipeError('TOKEN_FETCH_FAILED', 'no UPSTOX_TOKEN_URL is set, so no fresh token can be fetched');
    let res: Response;
    try {
      res = await fetch(this.url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      throw new TransientHttpError(
        'TOKEN_FETCH_FAILED',
        `UPSTOX_TOKEN_URL is unreachable: ${(err as Error).message}`,
        undefined,
        undefined,
        { cause: err },
      );
    }
    const text = await res.text();
    if (!res.ok) {
      throw new TransientHttpError('TOKEN_FETCH_FAILED', `UPSTOX_TOKEN_URL answered ${res.status}: ${text.slice(0, 200)}`, res.status);
    }
    let token: unknown;
    try {
      token = (JSON.parse(text) as { access_token?: unknown }).access_token;
    } catch {
      token = undefined;
    }
    if (typeof token !== 'string' || token.trim() === '') {
      throw new TickpipeError('TOKEN_FETCH_FAILED', 'UPSTOX_TOKEN_URL did not answer {"access_token":"..."}; check what it returns');
    }
    this.#token = token.trim();
  }
}
