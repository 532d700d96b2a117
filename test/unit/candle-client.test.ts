import assert from 'node:assert/strict';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { CandleApiError, CandleClient } from '../../src/upstox/candles.js';
import { RateLimiter, UPSTOX_CANDLE_LIMITS } from '../../src/upstox/rate-limiter.js';

const ist = (s: string) => Date.parse(`${s}+05:30`);
const KEY = 'NSE_INDEX|Nifty Bank';
const NOW = ist('2026-11-27T10:30:00');

/** A candle row as Upstox sends it: IST minute start, o, h, l, c, v, oi. */
const row = (hhmm: string, day = '2026-11-27', base = 100) => [`${day}T${hhmm}:00+05:30`, base, base + 2, base - 1, base + 1, 10, 0];

/** The contract's candle endpoints on a real loopback server; each request is recorded. */
let status = 200;
const requests: Array<{ url: string; auth: string | undefined }> = [];
const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  requests.push({ url: req.url ?? '', auth: req.headers.authorization });
  res.setHeader('content-type', 'application/json');
  if (status !== 200) {
    res.statusCode = status;
    const code = status === 401 ? 'UDAPI100050' : status === 429 ? 'UDAPI10005' : 'UDAPI1021';
    res.end(JSON.stringify({ status: 'error', errors: [{ errorCode: code, message: 'no' }] }));
    return;
  }
  const url = req.url ?? '';
  // Newest first, as Upstox answers.
  const candles = url.includes('/intraday/')
    ? [row('10:03'), row('10:02'), row('10:01'), row('10:00'), row('09:59')]
    : [row('15:29', '2026-11-26', 90), row('15:28', '2026-11-26', 90)];
  res.end(JSON.stringify({ status: 'success', data: { candles } }));
});
let apiUrl = '';
before(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

function client(waits: number[] = []) {
  let now = NOW;
  return new CandleClient({
    apiUrl,
    token: () => 'tok-abc',
    timeoutMs: 2000,
    limiter: new RateLimiter(UPSTOX_CANDLE_LIMITS, () => now),
    now: () => now,
    sleep: async (ms) => {
      waits.push(ms);
      now += ms;
    },
  });
}

describe('candle client', () => {
  it('today: the intraday endpoint, key URL-encoded, only the minutes touching [from, to], oldest first', async () => {
    requests.length = 0;
    status = 200;
    const c = await client().minuteCandles(KEY, ist('2026-11-27T10:00:40'), ist('2026-11-27T10:02:05'));
    assert.deepEqual(requests, [{ url: '/v3/historical-candle/intraday/NSE_INDEX%7CNifty%20Bank/minutes/1', auth: 'Bearer tok-abc' }]);
    assert.deepEqual(
      c.map((x) => x.ts),
      [ist('2026-11-27T10:00:00'), ist('2026-11-27T10:01:00'), ist('2026-11-27T10:02:00')],
    );
    assert.deepEqual(c[0], { ts: ist('2026-11-27T10:00:00'), open: 100, high: 102, low: 99, close: 101, volume: 10, oi: 0 });
  });

  it('an earlier day: the historical endpoint with to_date/from_date; yesterday to today: both', async () => {
    requests.length = 0;
    status = 200;
    const c = await client().minuteCandles(KEY, ist('2026-11-26T15:28:10'), ist('2026-11-27T09:59:30'));
    assert.deepEqual(
      requests.map((r) => r.url),
      [
        '/v3/historical-candle/NSE_INDEX%7CNifty%20Bank/minutes/1/2026-11-26/2026-11-26',
        '/v3/historical-candle/intraday/NSE_INDEX%7CNifty%20Bank/minutes/1',
      ],
    );
    assert.deepEqual(
      c.map((x) => x.ts),
      [ist('2026-11-26T15:28:00'), ist('2026-11-26T15:29:00'), ist('2026-11-27T09:59:00')],
    );
  });

  it('more than a month back: one historical request per 28 days', async () => {
    requests.length = 0;
    status = 200;
    await client().minuteCandles(KEY, ist('2026-09-01T10:00:00'), ist('2026-10-15T10:00:00'));
    assert.deepEqual(
      requests.map((r) => r.url.split('/minutes/1/')[1]),
      ['2026-09-28/2026-09-01', '2026-10-15/2026-09-29'],
    );
  });

  it('errors are typed: 401 token (naming the Analytics Token), 429 rateLimited, 400 key, 500 transient, before 2022 range', async () => {
    const cases: Array<[number, string, string, RegExp]> = [
      [401, 'token', 'CANDLES_TOKEN_REJECTED', /UDAPI100050.*Analytics Token.*one year/],
      [403, 'token', 'CANDLES_TOKEN_REJECTED', /refused this token/],
      [429, 'rateLimited', 'CANDLES_RATE_LIMITED', /UDAPI10005/],
      [400, 'key', 'CANDLES_KEY_REJECTED', /refused NSE_INDEX\|Nifty Bank with 400/],
      [503, 'transient', 'CANDLES_UNAVAILABLE', /503/],
    ];
    for (const [s, kind, code, message] of cases) {
      status = s;
      await assert.rejects(
        client().minuteCandles(KEY, NOW - 60_000, NOW),
        (err: unknown) => err instanceof CandleApiError && err.kind === kind && err.code === code && message.test(err.message),
        `status ${s}`,
      );
    }
    status = 200;
    await assert.rejects(client().minuteCandles(KEY, ist('2021-12-31T10:00:00'), ist('2021-12-31T10:05:00')), { kind: 'range' });
  });

  it('requests are paced by the limiter: the 51st waits a second', async () => {
    status = 200;
    const waits: number[] = [];
    const c = client(waits);
    for (let i = 0; i < 51; i++) await c.minuteCandles(KEY, NOW - 60_000, NOW);
    assert.deepEqual(waits, [1000]);
  });
});
