import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Fastify from 'fastify';
import { Registry } from 'prom-client';
import { registerGapMetrics } from '../../src/gaps/gap-metrics.js';
import { GapLedger } from '../../src/gaps/ledger.js';
import { LedgerClient } from '../../src/gaps/ledger-client.js';
import { LedgerHost } from '../../src/gaps/ledger-host.js';
import { TickpipeError } from '../../src/errors.js';
import { isErrorCode } from '../../machines/rules/error-codes.js';
import { createLogger } from '../../src/logger.js';
import { gapsRoutes } from '../../src/server/routes/gaps.js';

/** The service's shape without the thread: LedgerClient -> (the worker's port, here a call) -> LedgerHost. */
function clientOverHost(): { client: LedgerClient; host: LedgerHost } {
  const host = new LedgerHost(createLogger('silent'), { busyTimeoutMs: 20, retryMs: 30 });
  const client = new LedgerClient(
    {
      ledger: (op) =>
        new Promise((resolve, reject) =>
          host.handle(op, (r) =>
            r.ok ? resolve(r.value) : reject(new TickpipeError(isErrorCode(r.code) ? r.code : 'UNEXPECTED', r.message)),
          ),
        ),
      writeMark: () => {},
    },
    { path: ':memory:', markIntervalMs: 0 },
  );
  return { client, host };
}

/** Gap 1 of both tests below as /gaps shows it once settled. */
const GAP_1_DONE = {
  from: 60_000,
  to: 120_000,
  keys: ['NSE_EQ|A'],
  reason: 'socket dropped',
  backfill: 'done',
  detail: '2 candles written for 1 key',
  candles: 2,
};

describe('GET /gaps and gap metrics', () => {
  it('answers the contract shape, newest first, ?since filters; bad queries get 400; metrics count them', async () => {
    const ledger = new GapLedger({ path: ':memory:' });
    ledger.begin();
    ledger.record({ id: '1', from: 60_000, to: 120_000, keys: ['NSE_EQ|A'], reason: 'socket dropped' }, 'pending');
    ledger.record({ id: '2', from: 600_000, to: 720_000, keys: ['NSE_EQ|A', 'NSE_EQ|B'], reason: 'service crashed' }, 'pending');
    ledger.settle('1', 'done', '2 candles written for 1 key', 2);
    const app = Fastify({ ajv: { customOptions: { coerceTypes: false, removeAdditional: false } } });
    await app.register(gapsRoutes, { gaps: ledger });
    const all = await app.inject('/gaps');
    assert.equal(all.statusCode, 200);
    assert.deepEqual(all.json(), {
      gaps: [
        {
          from: 600_000,
          to: 720_000,
          keys: ['NSE_EQ|A', 'NSE_EQ|B'],
          reason: 'service crashed',
          backfill: 'pending',
          detail: '',
          candles: 0,
        },
        GAP_1_DONE,
      ],
    });
    const since = await app.inject('/gaps?since=200000');
    assert.deepEqual(
      since.json<{ gaps: Array<{ from: number }> }>().gaps.map((g) => g.from),
      [600_000],
    );
    for (const bad of ['/gaps?since=yesterday', '/gaps?foo=1']) {
      const r = await app.inject(bad);
      assert.equal(r.statusCode, 400, bad);
      assert.match(r.json<{ message: string }>().message, /since|additional/);
    }
    const registry = new Registry();
    registerGapMetrics(registry, ledger);
    const text = await registry.metrics();
    assert.match(text, /tickpipe_gaps_total\{reason="service crashed"\} 1/);
    assert.match(text, /tickpipe_gap_seconds_total\{reason="service crashed"\} 120/);
    assert.match(text, /tickpipe_backfilled_candles_total 2/);
    assert.match(text, /tickpipe_gaps\{backfill="pending"\} 1/);
    await app.close();
    ledger.close();
  });

  it('through the asynchronous client (as in the service): the same answer, and the metrics from memory', async () => {
    const { client, host } = clientOverHost();
    await client.begin();
    await client.record({ id: '1', from: 60_000, to: 120_000, keys: ['NSE_EQ|A'], reason: 'socket dropped' }, 'pending', '');
    await client.settle('1', 'done', '2 candles written for 1 key', 2);
    const app = Fastify({ ajv: { customOptions: { coerceTypes: false, removeAdditional: false } } });
    await app.register(gapsRoutes, { gaps: client });
    const r = await app.inject('/gaps');
    assert.equal(r.statusCode, 200);
    assert.deepEqual(r.json(), { gaps: [GAP_1_DONE] });
    const registry = new Registry();
    registerGapMetrics(registry, client);
    const text = await registry.metrics();
    assert.match(text, /tickpipe_gaps_total\{reason="socket dropped"\} 1/);
    assert.match(text, /tickpipe_gap_seconds_total\{reason="socket dropped"\} 60/);
    assert.match(text, /tickpipe_backfilled_candles_total 2/);
    assert.match(text, /tickpipe_gaps\{backfill="done"\} 1/);
    // Closed (the service stopping) or unreadable (locked): 503 with the code and a message, never a 500.
    host.close();
    const closed = await app.inject('/gaps');
    assert.equal(closed.statusCode, 503);
    assert.equal(closed.headers['retry-after'], '1');
    assert.equal(closed.json<{ code: string }>().code, 'GAP_LEDGER_FAILED');
    await app.close();
  });

  it('a ledger locked against reading answers 503 GAP_LEDGER_BUSY', async () => {
    const app = Fastify();
    await app.register(gapsRoutes, {
      gaps: { list: () => Promise.reject(new TickpipeError('GAP_LEDGER_BUSY', 'the gap ledger gaps.db is locked by another process')) },
    });
    const r = await app.inject('/gaps');
    assert.equal(r.statusCode, 503);
    assert.deepEqual(r.json(), {
      statusCode: 503,
      code: 'GAP_LEDGER_BUSY',
      error: 'Service Unavailable',
      message: 'the gap ledger cannot be read now (the gap ledger gaps.db is locked by another process); try again once it is released',
    });
    await app.close();
  });
});
