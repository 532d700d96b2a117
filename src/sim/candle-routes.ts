/**
 * Upstox's V3 historical candle API, 1-minute candles only (what a backfill asks for):
 *   GET /v3/historical-candle/intraday/{instrument_key}/minutes/1
 *   GET /v3/historical-candle/{instrument_key}/minutes/1/{to_date}/{from_date}
 * Served from the same InstrumentState history that the live feed's I1 candles come from, so a
 * closed minute is served exactly as the feed last streamed it. Faults: a 429 storm, and a 401
 * for this API alone (ctx.faults).
 */
import type { IncomingMessage } from 'node:http';
import type { SimContext } from './context.js';
import { istDayStart, type MinuteCandle } from './market.js';
import { isValidKey } from './requests.js';
import { bearerToken } from './tokens.js';
import type { CandleRequestRecord } from './types.js';

export const CANDLE_PREFIX = '/v3/historical-candle/';
const DAY_MS = 86_400_000;
const IST_OFFSET_MS = 19_800_000;
/** Upstox serves at most a month of minute candles per request. */
const MAX_SPAN_DAYS = 31;

type Json = (status: number, body: object) => void;
type ErrorBody = (errorCode: string, message: string) => object;

/** `2026-11-27T09:16:00+05:30`: the minute's start in IST, as Upstox writes it. */
export function istTimestamp(ms: number): string {
  return new Date(ms + IST_OFFSET_MS).toISOString().slice(0, 19) + '+05:30';
}

/** A candle as the API's row: [timestamp, open, high, low, close, volume, oi]. */
export function candleRow(c: MinuteCandle): [string, number, number, number, number, number, number] {
  return [istTimestamp(c.ts), c.open, c.high, c.low, c.close, c.vol, c.oi];
}

/** Midnight IST of a `YYYY-MM-DD` date, or null when it is not a real date. */
function istDate(text: string): number | null {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) return null;
  const ms = Date.parse(`${text}T00:00:00+05:30`);
  return Number.isNaN(ms) || istTimestamp(ms).slice(0, 10) !== text ? null : ms;
}

interface Parsed {
  kind: 'intraday' | 'historical';
  key: string;
  unit: string;
  interval: string;
  to?: string;
  from?: string;
}

function parsePath(pathname: string): Parsed | null {
  const parts = pathname.slice(CANDLE_PREFIX.length).split('/');
  let decoded: string[];
  try {
    decoded = parts.map((p) => decodeURIComponent(p));
  } catch {
    return null;
  }
  if (decoded[0] === 'intraday' && decoded.length === 4)
    return { kind: 'intraday', key: decoded[1], unit: decoded[2], interval: decoded[3] };
  if (decoded[0] !== 'intraday' && decoded.length === 5)
    return { kind: 'historical', key: decoded[0], unit: decoded[1], interval: decoded[2], to: decoded[3], from: decoded[4] };
  return null;
}

export function handleCandles(ctx: SimContext, req: IncomingMessage, pathname: string, json: Json, err: ErrorBody): void {
  const parsed = parsePath(pathname);
  const record: CandleRequestRecord = {
    at: Date.now(),
    simAt: ctx.now(),
    kind: parsed?.kind ?? 'invalid',
    key: parsed?.key ?? '',
    path: pathname,
    status: 200,
  };
  const answer = (status: number, body: object): void => {
    record.status = status;
    ctx.candleLog.record(record);
    json(status, body);
  };
  // The rate limit is checked before anything else, as a gateway in front of the API would.
  if (ctx.faults.takeCandleRateLimit()) return answer(429, err('UDAPI10005', 'Too Many Request Sent'));
  if (ctx.faults.candleTokenRejected || !ctx.tokens.isValid(bearerToken(req.headers.authorization)))
    return answer(401, err('UDAPI100050', 'Invalid token used to access API'));
  if (!parsed)
    return answer(
      404,
      err(
        'UDAPI100060',
        `no such candle resource: ${pathname}; use ${CANDLE_PREFIX}intraday/{instrument_key}/minutes/1 or ${CANDLE_PREFIX}{instrument_key}/minutes/1/{to_date}/{from_date}`,
      ),
    );
  if (parsed.unit !== 'minutes' || parsed.interval !== '1')
    return answer(400, err('UDAPI1015', `the simulator serves 1-minute candles only (minutes/1), got ${parsed.unit}/${parsed.interval}`));
  if (!isValidKey(parsed.key))
    return answer(400, err('UDAPI100011', `invalid instrument key ${JSON.stringify(parsed.key)}; want SEGMENT|id, URL-encoded`));
  const now = ctx.now();
  const today = istDayStart(now);
  const state = ctx.market.get(parsed.key);
  let candles: MinuteCandle[];
  if (parsed.kind === 'intraday') {
    candles = state.history.filter((c) => c.ts >= today);
    // Like Upstox, the minute in progress is included, as it stands now.
    if (state.minute.ts >= today && state.minute.ts > (candles.at(-1)?.ts ?? 0)) candles.push({ ...state.minute, oi: state.oi });
  } else {
    const to = istDate(parsed.to!);
    const from = istDate(parsed.from!);
    if (to === null || from === null)
      return answer(400, err('UDAPI1022', `to_date and from_date must be dates YYYY-MM-DD, got ${parsed.to!} and ${parsed.from!}`));
    if (from > to) return answer(400, err('UDAPI1023', `from_date ${parsed.from!} is after to_date ${parsed.to!}`));
    if ((to - from) / DAY_MS > MAX_SPAN_DAYS)
      return answer(400, err('UDAPI1024', `at most ${MAX_SPAN_DAYS} days of minute candles per request; split the range`));
    candles = state.history.filter((c) => c.ts >= from && c.ts < to + DAY_MS);
  }
  const rows = candles.map(candleRow).reverse();
  answer(200, { status: 'success', data: { candles: rows } });
}
