import assert from 'node:assert/strict';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { SimulatedClock, createActor, waitFor } from 'xstate';
import type { Gap } from '../../machines/rules/gaps.js';
import { DEFAULT_CALENDAR } from '../../machines/rules/trading-hours.js';
import { type KeyCandles, provideBackfill } from '../../src/gaps/backfill-impl.js';
import { gapLine } from '../../src/gaps/gap-points.js';
import { GapLedger, type GapRow } from '../../src/gaps/ledger.js';
import { CandleClient } from '../../src/upstox/candles.js';
import { RateLimiter, UPSTOX_CANDLE_LIMITS } from '../../src/upstox/rate-limiter.js';
import { capturingLogger } from '../helpers/log-capture.js';
import { until } from '../helpers/poll.js';

const ist = (s: string) => Date.parse(`${s}+05:30`);
const A = 'NSE_EQ|INE002A01018';
const B = 'NSE_EQ|BAD';
const NOW = ist('2026-11-27T10:30:00');

let status = 200;
const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  res.setHeader('content-type', 'application/json');
  const bad = (req.url ?? '').includes('BAD');
  if (status !== 200 || bad) {
    res.statusCode = bad ? 400 : status;
    res.end(JSON.stringify({ status: 'error', errors: [{ errorCode: bad ? 'UDAPI1021' : 'UDAPI100050', message: 'no' }] }));
    return;
  }
  const c = (hhmm: string, p: number) => [`2026-11-27T${hhmm}:00+05:30`, p, p + 1, p - 1, p, 5, 0];
  res.end(JSON.stringify({ status: 'success', data: { candles: [c('10:03', 4), c('10:02', 3), c('10:01', 2), c('10:00', 1)] } }));
});
let apiUrl = '';
before(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

function setup() {
  const ledger = new GapLedger({ path: ':memory:', now: () => NOW });
  ledger.begin();
  const written: KeyCandles[] = [];
  const gapRows: GapRow[] = [];
  const { logger, logs } = capturingLogger();
  const machine = provideBackfill({
    // The service's ledger is asynchronous (its SQLite on the storage worker's thread); here the
    // same class in-process, behind the same Promise API.
    ledger: {
      record: async (gap, backfill, detail) => ledger.record(gap, backfill, detail),
      settle: async (id, backfill, detail, candles) => ledger.settle(id, backfill, detail, candles),
      get: async (id) => ledger.get(id),
    },
    client: new CandleClient({
      apiUrl,
      token: () => 'tok',
      timeoutMs: 2000,
      limiter: new RateLimiter(UPSTOX_CANDLE_LIMITS),
      now: () => NOW,
    }),
    sink: { writeCandles: async (b) => void written.push(...b), writeGap: (row) => void gapRows.push(row) },
    logger,
    now: () => NOW,
  });
  const clock = new SimulatedClock();
  const actor = createActor(machine, {
    clock,
    input: {
      calendar: DEFAULT_CALENDAR,
      enabled: true,
      graceMs: 0,
      batchKeys: 10,
      maxAttempts: 1,
      retryMs: 10,
      retryMaxMs: 10,
      rateLimitMs: 10,
      rateLimitMaxMs: 10,
    },
  });
  actor.start();
  return { ledger, written, gapRows, logs, actor, clock };
}

describe('backfill I/O (ledger, candle client, sink)', () => {
  it('a gap is recorded, its touching minutes fetched and handed to the sink, and the ledger says done', async () => {
    status = 200;
    const t = setup();
    const from = ist('2026-11-27T10:00:30');
    const to = ist('2026-11-27T10:02:10');
    t.actor.send({ type: 'FEED_DOWN', reason: 'test', at: from, keys: [A], gapReason: 'socket dropped' });
    t.actor.send({ type: 'FEED_UP', at: to, keys: [A] });
    const id = `${from}-${to}`;
    assert.equal(t.ledger.get(id)?.backfill, 'pending');
    t.clock.increment(50_000); // 10:03:00, the last minute has closed
    await waitFor(t.actor, () => t.ledger.get(id)?.backfill !== 'pending', { timeout: 5000 });
    const row = t.ledger.get(id);
    assert.equal(row?.backfill, 'done', row?.detail);
    assert.equal(row?.candles, 3);
    assert.deepEqual(
      t.written.flatMap((w) => w.candles.map((c) => [w.key, c.ts, c.close])),
      [
        [A, ist('2026-11-27T10:00:00'), 1],
        [A, ist('2026-11-27T10:01:00'), 2],
        [A, ist('2026-11-27T10:02:00'), 3],
      ],
      'the minute 10:03, which the live feed saw in full, is left alone',
    );
    // The feed_gap point follows the ledger's update (asynchronous).
    await until('the settled feed_gap row', () => t.gapRows.length >= 2, { timeoutMs: 5000 });
    assert.deepEqual(
      t.gapRows.map((r) => r.backfill),
      ['pending', 'done'],
    );
    assert.equal(
      gapLine(t.gapRows[1]),
      `feed_gap,reason=socket\\ dropped from=${from}i,to=${to}i,keys="${A}",backfill="done",detail="3 candles written for 1 key" ${from * 1000}`,
    );
    t.actor.stop();
    t.ledger.close();
  });

  it('a 401 marks the gap failed, naming the Analytics Token, logged once at error level; a bad key fails alone', async () => {
    status = 401;
    const t = setup();
    const from = ist('2026-11-27T10:00:30');
    t.actor.send({ type: 'FEED_UP', at: NOW, keys: [] }); // the feed streams: a token exists
    t.actor.send({
      type: 'GAPS_PENDING',
      at: NOW,
      gaps: [{ id: 'g', from, to: from + 60_000, keys: [A], reason: 'dead socket' } satisfies Gap],
    });
    t.ledger.record({ id: 'g', from, to: from + 60_000, keys: [A], reason: 'dead socket' }, 'pending');
    await waitFor(t.actor, (s) => s.value === 'idle', { timeout: 5000 });
    const row = t.ledger.get('g');
    assert.equal(row?.backfill, 'failed');
    assert.match(row?.detail ?? '', /Analytics Token/);
    assert.equal(t.logs.filter((l) => l.level === 50).length, 1, 'one error line');
    assert.match(t.logs.find((l) => l.level === 50)?.msg ?? '', /Analytics Token/);

    status = 200;
    t.ledger.record({ id: 'h', from, to: from + 60_000, keys: [A, B], reason: 'dead socket' }, 'pending');
    t.actor.send({ type: 'GAPS_PENDING', at: NOW, gaps: [{ id: 'h', from, to: from + 60_000, keys: [A, B], reason: 'dead socket' }] });
    await waitFor(t.actor, () => t.ledger.get('h')?.backfill !== 'pending', { timeout: 5000 });
    const h = t.ledger.get('h');
    assert.equal(h?.backfill, 'failed');
    assert.match(h?.detail ?? '', /no candles for 1 key \(NSE_EQ\|BAD: .*400/);
    assert.equal(h?.candles, 2, 'the good key was written');
    t.actor.stop();
    t.ledger.close();
  });
});
