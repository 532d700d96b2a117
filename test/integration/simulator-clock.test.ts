import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ManualClock, startSimulator, type Simulator } from '../../src/sim/index.js';
import { scheduledStatus } from '../../src/sim/trading-hours.js';
import { FeedClient, subscribe } from '../helpers/feed-client.js';
import { EQ, FAST, FUTURE } from '../helpers/sim-fixtures.js';

const FRIDAY_1529 = Date.parse('2026-11-27T15:29:00+05:30');

describe('Upstox V3 simulator: market clock', () => {
  it('knows the trading hours per segment in IST, and weekends', () => {
    const at = (iso: string): number => Date.parse(iso);
    assert.equal(scheduledStatus('NSE_EQ', at('2026-11-27T09:14:59+05:30')), 'NORMAL_CLOSE');
    assert.equal(scheduledStatus('NSE_EQ', at('2026-11-27T09:15:00+05:30')), 'NORMAL_OPEN');
    assert.equal(scheduledStatus('NSE_FO', at('2026-11-27T15:29:59+05:30')), 'NORMAL_OPEN');
    assert.equal(scheduledStatus('NSE_INDEX', at('2026-11-27T15:30:00+05:30')), 'NORMAL_CLOSE');
    assert.equal(scheduledStatus('MCX_FO', at('2026-11-27T23:00:00+05:30')), 'NORMAL_OPEN');
    assert.equal(scheduledStatus('NSE_EQ', at('2026-11-28T11:00:00+05:30')), 'NORMAL_CLOSE', 'Saturday');
  });

  describe('followTradingHours on an injected clock', () => {
    let sim: Simulator;
    const clock = new ManualClock(FRIDAY_1529);
    before(async () => {
      sim = await startSimulator({ ...FAST, clock, followTradingHours: true });
    });
    after(() => sim.close());

    it('stamps frames with market time and closes NSE at 15:30 IST with a market_info, MCX trading on', async () => {
      const client = await FeedClient.open(sim.apiUrl, sim.token);
      try {
        const info = await client.until('market_info', () => client.frames.find((f) => f.marketStatus));
        assert.equal(info.marketStatus!.NSE_EQ, 'NORMAL_OPEN');
        assert.ok(info.ts >= FRIDAY_1529 && info.ts < FRIDAY_1529 + 60_000, 'currentTs from the injected clock');
        await subscribe(client, [EQ, FUTURE], 'ltpc');
        clock.set(Date.parse('2026-11-27T15:30:00+05:30'));
        const from = client.arrivals.length;
        const after = await client.until('market_info closing NSE', () => {
          const k = client.findFrom(from, (a) => a.frame?.marketStatus?.NSE_EQ === 'NORMAL_CLOSE');
          return k >= 0 ? k + 1 : 0;
        });
        const closed = client.arrivals[after - 1].frame!;
        assert.equal(closed.marketStatus!.MCX_FO, 'NORMAL_OPEN');
        await client.until('MCX updates after the close', () =>
          client.arrivals.slice(after).some((a) => a.frame?.updates.some((u) => u.key === FUTURE)),
        );
        // The status is updated before market_info goes out, so no later live frame may carry NSE_EQ.
        await client.until(
          '20 live frames after the close',
          () => client.arrivals.slice(after).filter((a) => a.frame?.type === 1).length >= 20,
        );
        const eqAfter = client.arrivals.slice(after).filter((a) => a.frame?.type === 1 && a.frame.updates.some((u) => u.key === EQ));
        assert.equal(eqAfter.length, 0, 'NSE_EQ gets no live data once closed');
      } finally {
        client.close();
      }
    });
  });
});
