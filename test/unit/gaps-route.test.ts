import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Fastify from 'fastify';
import { Registry } from 'prom-client';
import { registerGapMetrics } from '../../src/gaps/gap-metrics.js';
import { GapLedger } from '../../src/gaps/ledger.js';
import { gapsRoutes } from '../../src/server/routes/gaps.js';

describe('GET /gaps and gap metrics', () => {
  it('answers the contract shape, newest first, ?since filters; bad queries get 400; metrics count them', async () => {
    const ledger = new GapLedger({ path: ':memory:', markIntervalMs: 0 });
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
        {
          from: 60_000,
          to: 120_000,
          keys: ['NSE_EQ|A'],
          reason: 'socket dropped',
          backfill: 'done',
          detail: '2 candles written for 1 key',
          candles: 2,
        },
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
});
