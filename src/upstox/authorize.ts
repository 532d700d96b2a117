/**
 * V3 authorize: GET {api}/v3/feed/market-data-feed/authorize → a single-use websocket URI.
 * 401 means the token is rejected (UDAPI100050 and friends); 429/5xx/network errors pass.
 */
import { TickpipeError, TokenRejectedError, TransientHttpError } from '../errors.js';
import { ANALYTICS_TOKEN_HINT } from './token-kinds.js';

interface UpstoxErrorBody {
  errors?: Array<{ errorCode?: string; error_code?: string; message?: string }>;
  data?: { authorized_redirect_uri?: string; authorizedRedirectUri?: string };
}

/** Retry-After in seconds (the header is seconds or an HTTP date). */
export function retryAfterSeconds(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const s = Number(header);
  if (Number.isFinite(s) && s >= 0) return s;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, (at - now) / 1000);
}

export async function authorizeFeed(apiUrl: string, token: string | undefined, timeoutMs: number): Promise<string> {
  if (!token) throw new TokenRejectedError('no access token yet');
  const url = `${apiUrl}/v3/feed/market-data-feed/authorize`;
  let res: Response;
  try {
    res = await fetch(url, {
      headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const what = (err as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (err as Error).message;
    throw new TransientHttpError('AUTHORIZE_FAILED', `authorize failed: ${what}`, undefined, undefined, { cause: err });
  }
  const text = await res.text();
  let body: UpstoxErrorBody = {};
  try {
    body = JSON.parse(text) as UpstoxErrorBody;
  } catch {
    // Not JSON (a proxy's error page): the status says enough.
  }
  const first = body.errors?.[0];
  const upstoxCode = first?.errorCode ?? first?.error_code;
  if (res.status === 401) {
    throw new TokenRejectedError(
      `Upstox rejected the access token (${upstoxCode ?? 401}: ${first?.message ?? 'unauthorized'}); ${ANALYTICS_TOKEN_HINT}`,
      upstoxCode,
    );
  }
  if (!res.ok) {
    throw new TransientHttpError(
      'AUTHORIZE_FAILED',
      `authorize answered ${res.status}${upstoxCode ? ` ${upstoxCode}` : ''}${first?.message ? `: ${first.message}` : ''}`,
      res.status,
      res.status === 429 ? (retryAfterSeconds(res.headers.get('retry-after')) ?? 1) : undefined,
    );
  }
  const uri = body.data?.authorized_redirect_uri ?? body.data?.authorizedRedirectUri;
  if (typeof uri !== 'string' || !/^wss?:\/\//.test(uri)) {
    throw new TickpipeError('AUTHORIZE_FAILED', `authorize answered 200 without a ws:// or wss:// redirect URI`);
  }
  return uri;
}
