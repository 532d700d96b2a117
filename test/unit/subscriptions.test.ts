import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { equalJitterDelay, fullJitterDelay } from '../../machines/rules/backoff.js';
import { allSubscribedClosed, msUntilIst } from '../../machines/rules/market-time.js';
import { type SubscriptionLimits, planSubscriptionChange, subscriptionDiff } from '../../machines/rules/subscriptions.js';

const LIMITS: SubscriptionLimits = {
  ltpc: { alone: 5, combined: 2 },
  option_greeks: { alone: 3, combined: 2 },
  full: { alone: 4, combined: 3 },
  full_d30: { alone: 2, combined: 1 },
};
const keys = (n: number, p = 'NSE_EQ|K') => Array.from({ length: n }, (_, i) => `${p}${i}`);

describe('subscription planner', () => {
  it('accepts keys up to the mode limit and refuses the rest, per key, with the reason', () => {
    const r = planSubscriptionChange({}, { add: keys(6) }, LIMITS, 'full');
    assert.deepEqual(r.accepted, keys(4));
    assert.deepEqual(
      r.refused.map((x) => x.key),
      ['NSE_EQ|K4', 'NSE_EQ|K5'],
    );
    assert.match(r.refused[0].reason, /over the full limit of 4 keys/);
  });

  it('applies the combined limits when modes are mixed', () => {
    const start = planSubscriptionChange({}, { add: keys(3, 'NSE_EQ|F') }, LIMITS, 'full').subscription;
    const r = planSubscriptionChange(start, { add: keys(3, 'NSE_EQ|L'), mode: 'ltpc' }, LIMITS, 'full');
    assert.deepEqual(r.accepted, ['NSE_EQ|L0', 'NSE_EQ|L1']);
    assert.match(r.refused[0].reason, /ltpc limit of 2 keys when modes are combined/);
    // A fourth full key would now break the combined full limit of 3.
    const r2 = planSubscriptionChange(r.subscription, { add: ['NSE_EQ|F9'] }, LIMITS, 'full');
    assert.equal(r2.accepted.length, 0);
    assert.match(r2.refused[0].reason, /combined/);
  });

  it('refuses a key whose arrival would push another mode over its combined limit', () => {
    const start = planSubscriptionChange({}, { add: keys(4, 'NSE_EQ|F') }, LIMITS, 'full').subscription;
    const r = planSubscriptionChange(start, { add: ['NSE_EQ|L0'], mode: 'ltpc' }, LIMITS, 'full');
    assert.deepEqual(r.accepted, []);
    assert.match(r.refused[0].reason, /another mode/);
  });

  it('removes first, refuses invalid keys, and moves every key on a bare mode change', () => {
    const start = planSubscriptionChange({}, { add: keys(3) }, LIMITS, 'full').subscription;
    const r = planSubscriptionChange(start, { remove: ['NSE_EQ|K0', 'NSE_EQ|NOPE'], add: ['bad key'] }, LIMITS, 'full');
    assert.deepEqual(r.removed, ['NSE_EQ|K0']);
    assert.deepEqual(r.refused.map((x) => x.key).sort(), ['NSE_EQ|NOPE', 'bad key'].sort());
    const moved = planSubscriptionChange(r.subscription, { mode: 'full_d30' }, LIMITS, 'full');
    assert.deepEqual(moved.subscription, { 'NSE_EQ|K1': 'full_d30', 'NSE_EQ|K2': 'full_d30' });
  });

  it('diffs two subscriptions into unsub, sub by mode and change_mode by mode', () => {
    assert.deepEqual(subscriptionDiff({ A: 'full', B: 'ltpc', C: 'full' }, { A: 'ltpc', C: 'full', D: 'full' }), [
      { method: 'unsub', keys: ['B'] },
      { method: 'sub', mode: 'full', keys: ['D'] },
      { method: 'change_mode', mode: 'ltpc', keys: ['A'] },
    ]);
  });
});

describe('connection timing rules', () => {
  it('full jitter stays within the capped exponential ceiling', () => {
    assert.equal(fullJitterDelay(0, 500, 30_000, 0.999999), 499);
    assert.equal(fullJitterDelay(3, 500, 30_000, 0.5), 2000);
    assert.equal(fullJitterDelay(20, 500, 30_000, 0.999999), 29_999);
    assert.equal(fullJitterDelay(5, 500, 30_000, 0), 0);
    // Equal jitter (the InfluxDB probe): never below half the ceiling.
    assert.equal(equalJitterDelay(3, 500, 30_000, 0), 2000);
    assert.equal(equalJitterDelay(3, 500, 30_000, 0.999999), 3999);
    assert.equal(equalJitterDelay(20, 500, 30_000, 0), 15_000);
  });

  it('computes the wait until the next HH:MM in IST', () => {
    // 2026-11-24 21:00 UTC = 2026-11-25 02:30 IST: 03:35 IST is 65 minutes away.
    const now = Date.UTC(2026, 10, 24, 21, 0, 0);
    assert.equal(msUntilIst('03:35', now), 65 * 60_000);
    // 22:05 UTC = 03:35 IST exactly: the next one is a day later.
    assert.equal(msUntilIst('03:35', Date.UTC(2026, 10, 24, 22, 5, 0)), 86_400_000);
    assert.equal(msUntilIst('03:35', Date.UTC(2026, 10, 24, 22, 6, 0)), 86_400_000 - 60_000);
  });

  it('calls the market closed only when every subscribed segment is closed', () => {
    const sub = { 'NSE_EQ|A': 'full', 'NSE_INDEX|Nifty 50': 'full' };
    assert.equal(allSubscribedClosed(sub, { NSE_EQ: 'NORMAL_CLOSE', NSE_INDEX: 'CLOSING_END' }), true);
    assert.equal(allSubscribedClosed(sub, { NSE_EQ: 'NORMAL_CLOSE' }), false, 'unknown status counts as open');
    assert.equal(allSubscribedClosed(sub, { NSE_EQ: 'NORMAL_CLOSE', NSE_INDEX: 'PRE_OPEN_START' }), false);
    assert.equal(allSubscribedClosed({}, {}), false);
  });
});
