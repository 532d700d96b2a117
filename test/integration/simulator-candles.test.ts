import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startSimulator, type Simulator } from '../../src/sim/index.js';
import type { Candle } from '../../src/upstox/feed-types.js';
import { authorize, FeedClient, pollUntil, subscribe } from '../helpers/feed-client.js';
import { EQ, FAST, INDEX } from '../helpers/sim-fixtures.js';

type Row = [string, number, number, number, number, number, number];
const MINUTE = 60_000;
const START = Date.parse('2026-11-27T10:00:30+05:30');

async function getCandles(sim: Simulator, path: string, token: string | null = sim.token): Promise<{ status: number; body: any }> {
  const res = await fetch(sim.apiUrl + path, {
    headers: { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
  });
  return { status: res.status, body: await res.json() };
}

const intraday = (key: string): string => `/v3/historical-candle/intraday/${encodeURIComponent(key)}/minutes/1`;
const historical = (key: string, to: string, from: string): string =>
  `/v3/historical-candle/${encodeURIComponent(key)}/minutes/1/${to}/${from}`;
const rowTs = (row: Row): number => Date.parse(row[0]);

describe('Upstox V3 simulator: candle API from the live market (clock at 60x)', () => {
  let sim: Simulator;
  before(async () => {
    sim = await startSimulator({ ...FAST, updatesPerSecond: 200, startAt: START, timeScale: 60 });
  });
  after(() => sim.close());

  it('serves for each minute the last I1 candle the feed streamed, and keeps the market moving with nobody connected', async () => {
    const client = await FeedClient.open(sim.apiUrl, sim.token);
    await subscribe(client, [EQ], 'full');
    const lastI1 = new Map<number, Candle>();
    const collect = (): void => {
      lastI1.clear();
      for (const f of client.frames)
        for (const u of f.updates) if (u.key === EQ) for (const c of u.candles ?? []) if (c.interval === 'I1') lastI1.set(c.ts, c);
    };
    // Three minute starts seen live: at least one minute streamed from its start to its end.
    await client.until('I1 candles of three minutes', () => {
      collect();
      return lastI1.size >= 3;
    });
    client.close();
    await pollUntil('the socket to close on the simulator side', () => sim.stats().activeConnections === 0);
    const disconnectedAt = sim.now();
    await pollUntil('two more minutes of market time', () => sim.now() >= minuteOf(disconnectedAt) + 2 * MINUTE + 1000, 10_000);
    collect();

    const { status, body } = await getCandles(sim, intraday(EQ));
    assert.equal(status, 200);
    assert.equal(body.status, 'success');
    const rows = body.data.candles as Row[];
    const ts = rows.map(rowTs);
    assert.deepEqual(
      ts,
      [...ts].sort((a, b) => b - a),
      'newest first',
    );
    for (const row of rows) assert.match(row[0], /^2026-11-27T\d\d:\d\d:00\+05:30$/);
    // One candle per minute from the first streamed to now, the disconnected minutes included.
    const first = Math.min(...lastI1.keys());
    for (let m = first; m <= minuteOf(sim.now()) - MINUTE; m += MINUTE)
      assert.ok(ts.includes(m), `a candle for ${new Date(m).toISOString()}`);
    const byTs = new Map(rows.map((r) => [rowTs(r), r]));
    const seen = [...lastI1.keys()].sort((a, b) => a - b);
    // Every minute the client saw but the last (cut by the disconnect) matches the feed exactly.
    for (const m of seen.slice(0, -1)) {
      const c = lastI1.get(m)!;
      assert.deepEqual(byTs.get(m)!.slice(1, 6), [c.open, c.high, c.low, c.close, c.volume], `minute ${new Date(m).toISOString()}`);
    }
    // candles() is what the API serves for closed minutes. (At 60x a minute closes every real
    // second, so only minutes already closed when the API answered are compared.)
    const inProgress = ts[0];
    const closed = sim.candles(EQ).filter((c) => c.ts < inProgress);
    assert.ok(
      closed.length >= 3,
      JSON.stringify({
        ts: ts.map((t) => new Date(t).toISOString()),
        seen: [...lastI1.keys()].map((t) => new Date(t).toISOString()),
        all: sim.candles(EQ).map((c) => new Date(c.ts).toISOString()),
      }),
    );
    for (const c of closed)
      assert.deepEqual(byTs.get(c.ts), [
        new Date(c.ts + 19_800_000).toISOString().slice(0, 19) + '+05:30',
        c.open,
        c.high,
        c.low,
        c.close,
        c.volume,
        c.oi,
      ]);

    const hist = await getCandles(sim, historical(EQ, '2026-11-27', '2026-11-26'));
    assert.equal(hist.status, 200);
    const histTs = (hist.body.data.candles as Row[]).map(rowTs);
    const closedNow = sim.candles(EQ).map((c) => c.ts);
    assert.deepEqual(
      histTs,
      closedNow.filter((t) => t <= histTs[0]).reverse(),
      'the historical endpoint: closed minutes of the range, newest first',
    );
    assert.ok(histTs[0] >= closed.at(-1)!.ts);
    const before = await getCandles(sim, historical(EQ, '2026-11-26', '2026-11-20'));
    assert.deepEqual(before.body.data.candles, [], 'no candles before the simulator started');
  });
});

function minuteOf(ms: number): number {
  return Math.floor(ms / MINUTE) * MINUTE;
}

describe('Upstox V3 simulator: candle API faults and checks', () => {
  let sim: Simulator;
  before(async () => {
    sim = await startSimulator(FAST);
  });
  after(() => sim.close());

  it('takes the key URL-encoded and checks the bearer token like authorize', async () => {
    const ok = await getCandles(sim, `/v3/historical-candle/intraday/NSE_INDEX%7CNifty%20Bank/minutes/1`);
    assert.equal(ok.status, 200);
    assert.ok(Array.isArray(ok.body.data.candles));
    for (const token of [null, 'not-the-token']) {
      const bad = await getCandles(sim, intraday(INDEX), token);
      assert.equal(bad.status, 401);
      assert.equal(bad.body.errors[0].errorCode, 'UDAPI100050');
    }
  });

  it('rejectCandleToken: 401 for the candle API only, authorize keeps working', async () => {
    sim.rejectCandleToken(true);
    assert.equal((await getCandles(sim, intraday(EQ))).status, 401);
    assert.equal((await authorize(sim.apiUrl, sim.token)).status, 200);
    sim.rejectCandleToken(false);
    assert.equal((await getCandles(sim, intraday(EQ))).status, 200);
  });

  it('rateLimitCandles: 429 UDAPI10005 without Retry-After for N requests or for a time, all logged', async () => {
    const from = sim.candleRequests().length;
    sim.rateLimitCandles({ requests: 3 });
    for (let i = 0; i < 3; i++) {
      const res = await fetch(sim.apiUrl + intraday(EQ), { headers: { authorization: `Bearer ${sim.token}` } });
      assert.equal(res.status, 429);
      assert.equal(res.headers.get('retry-after'), null);
      assert.equal(((await res.json()) as any).errors[0].errorCode, 'UDAPI10005');
    }
    assert.equal((await getCandles(sim, intraday(EQ))).status, 200);
    sim.rateLimitCandles({ forMs: 60_000 });
    assert.equal((await getCandles(sim, historical(EQ, '2026-11-27', '2026-11-27'))).status, 429);
    sim.rateLimitCandles({});
    assert.equal((await getCandles(sim, intraday(EQ))).status, 200);
    const log = sim.candleRequests().slice(from);
    assert.deepEqual(
      log.map((r) => [r.kind, r.key, r.status]),
      [...Array(3).fill(['intraday', EQ, 429]), ['intraday', EQ, 200], ['historical', EQ, 429], ['intraday', EQ, 200]],
    );
    for (let i = 1; i < log.length; i++) assert.ok(log[i].at >= log[i - 1].at);
    assert.throws(() => sim.rateLimitCandles({ requests: -1 }), /whole number/);
  });

  it('answers bad requests with a 4xx naming the problem', async () => {
    const cases: [string, number, RegExp][] = [
      [`/v3/historical-candle/intraday/${encodeURIComponent(EQ)}/minutes/5`, 400, /1-minute candles only/],
      [historical(EQ, '2026-13-01', '2026-11-01'), 400, /YYYY-MM-DD/],
      [historical(EQ, '2026-11-01', '2026-11-02'), 400, /after to_date/],
      [historical(EQ, '2026-11-27', '2026-09-01'), 400, /at most 31 days/],
      [intraday('RELIANCE'), 400, /invalid instrument key/],
      ['/v3/historical-candle/intraday/x', 404, /no such candle resource/],
    ];
    for (const [path, status, message] of cases) {
      const res = await getCandles(sim, path);
      assert.equal(res.status, status, path);
      assert.match(res.body.errors[0].message, message, path);
    }
  });
});
