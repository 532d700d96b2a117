/**
 * Upstox V3 1-minute candles (README: Candle history): the intraday endpoint for the current
 * IST day, the historical endpoint for earlier days (one month per request at most). Every request
 * is paced by a shared RateLimiter; answers become typed errors whose `kind` the backfill machine
 * steers by: `token` (401/403), `key` (other 4xx), `range` (before the API's history starts),
 * `rateLimited` (429: Upstox sends no Retry-After, so the caller backs off) and `transient`.
 */
import { type ErrorCode, TickpipeError } from '../errors.js';
import { istDate } from '../../machines/rules/trading-hours.js';
import { minuteStart } from '../../machines/rules/gaps.js';
import type { RateLimiter } from './rate-limiter.js';
import { ANALYTICS_TOKEN_HINT } from './token-kinds.js';

export interface Candle {
  /** Minute start (ms). */
  ts: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  oi: number;
}

export type CandleErrorKind = 'token' | 'key' | 'range' | 'rateLimited' | 'transient';

const CODES: Record<CandleErrorKind, ErrorCode> = {
  token: 'CANDLES_TOKEN_REJECTED',
  key: 'CANDLES_KEY_REJECTED',
  range: 'CANDLES_OUT_OF_RANGE',
  rateLimited: 'CANDLES_RATE_LIMITED',
  transient: 'CANDLES_UNAVAILABLE',
};

export class CandleApiError extends TickpipeError {
  readonly kind: CandleErrorKind;
  readonly status: number | undefined;
  constructor(kind: CandleErrorKind, message: string, status?: number, options?: ErrorOptions) {
    super(CODES[kind], message, options);
    this.kind = kind;
    this.status = status;
  }
}

/** Upstox serves 1-minute history from January 2022 on. */
const HISTORY_START = '2022-01-01';
const MONTH_DAYS = 28;
const DAY_MS = 86_400_000;

export interface CandleClientOptions {
  apiUrl: string;
  token: () => string | undefined;
  timeoutMs: number;
  limiter: RateLimiter;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

interface CandleAnswer {
  status?: string;
  data?: { candles?: unknown };
  errors?: Array<{ errorCode?: string; error_code?: string; message?: string }>;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** `YYYY-MM-DD` plus n days. */
function addDays(date: string, n: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + n * DAY_MS).toISOString().slice(0, 10);
}

export class CandleClient {
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  constructor(private readonly opts: CandleClientOptions) {
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? defaultSleep;
  }

  /** The 1-minute candles of `key` whose minute start lies in [minuteStart(from), minuteStart(to)], oldest first. */
  async minuteCandles(key: string, from: number, to: number): Promise<Candle[]> {
    const first = minuteStart(from);
    const last = minuteStart(to);
    const today = istDate(this.now());
    const fromDate = istDate(first);
    const toDate = istDate(last);
    if (fromDate < HISTORY_START) {
      throw new CandleApiError('range', `Upstox serves 1-minute candles from ${HISTORY_START} on; ${fromDate} is earlier`);
    }
    const paths: string[] = [];
    const enc = encodeURIComponent(key);
    // Earlier days: the historical endpoint, in chunks of at most a month ([to_date]/[from_date]).
    const histEnd = toDate < today ? toDate : addDays(today, -1);
    for (let start = fromDate; start <= histEnd; start = addDays(start, MONTH_DAYS)) {
      const end = addDays(start, MONTH_DAYS - 1) < histEnd ? addDays(start, MONTH_DAYS - 1) : histEnd;
      paths.push(`/v3/historical-candle/${enc}/minutes/1/${end}/${start}`);
    }
    if (toDate >= today) paths.push(`/v3/historical-candle/intraday/${enc}/minutes/1`);
    const out = new Map<number, Candle>();
    for (const path of paths) {
      for (const c of await this.get(key, path)) if (c.ts >= first && c.ts <= last) out.set(c.ts, c);
    }
    return [...out.values()].sort((a, b) => a.ts - b.ts);
  }

  private async get(key: string, path: string): Promise<Candle[]> {
    const wait = this.opts.limiter.reserve();
    if (wait > 0) await this.sleep(wait);
    const token = this.opts.token();
    if (!token) throw new CandleApiError('token', `no access token to ask for ${key}'s candles yet`);
    let res: Response;
    try {
      res = await fetch(`${this.opts.apiUrl}${path}`, {
        headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
    } catch (err) {
      const what = (err as Error).name === 'TimeoutError' ? `no answer within ${this.opts.timeoutMs} ms` : (err as Error).message;
      throw new CandleApiError('transient', `candle request for ${key} failed: ${what}`, undefined, { cause: err });
    }
    const text = await res.text();
    let body: CandleAnswer = {};
    try {
      body = JSON.parse(text) as CandleAnswer;
    } catch {
      // Not JSON (a proxy's error page): the status says enough.
    }
    const e = body.errors?.[0];
    const upstox = [e?.errorCode ?? e?.error_code, e?.message].filter(Boolean).join(': ');
    const said = upstox ? ` (${upstox})` : '';
    if (res.status === 401 || res.status === 403) {
      throw new CandleApiError(
        'token',
        `the candle API ${res.status === 401 ? 'rejected the access token' : 'refused this token'}${said}; ${ANALYTICS_TOKEN_HINT}`,
        res.status,
      );
    }
    if (res.status === 429) {
      throw new CandleApiError('rateLimited', `the candle API is rate limiting this user${said}`, 429);
    }
    if (res.status >= 400 && res.status < 500) {
      throw new CandleApiError('key', `the candle API refused ${key} with ${res.status}${said}`, res.status);
    }
    if (!res.ok) throw new CandleApiError('transient', `the candle API answered ${res.status}${said}`, res.status);
    return parseCandles(body, key);
  }
}

/** `[["2026-11-27T09:16:00+05:30",o,h,l,c,v,oi], ...]` → candles; a malformed answer is transient. */
function parseCandles(body: CandleAnswer, key: string): Candle[] {
  const rows = body.data?.candles;
  if (!Array.isArray(rows)) throw new CandleApiError('transient', `the candle API answered 200 without data.candles for ${key}`);
  const out: Candle[] = [];
  for (const row of rows) {
    const r = row as unknown[];
    const ts = Array.isArray(r) && typeof r[0] === 'string' ? Date.parse(r[0]) : Number.NaN;
    const nums = Array.isArray(r) ? r.slice(1, 7).map(Number) : [];
    if (Number.isNaN(ts) || nums.length < 5 || nums.slice(0, 5).some((n) => !Number.isFinite(n))) {
      throw new CandleApiError('transient', `the candle API answered a malformed candle for ${key}: ${JSON.stringify(row).slice(0, 120)}`);
    }
    const [open, high, low, close, volume, oi = 0] = nums;
    out.push({ ts, open, high, low, close, volume, oi: Number.isFinite(oi) ? oi : 0 });
  }
  return out;
}
