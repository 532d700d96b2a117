import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RateLimiter, UPSTOX_CANDLE_LIMITS } from '../../src/upstox/rate-limiter.js';

describe('rate limiter', () => {
  it('lets 50 requests go at once, then paces to 50/s and 500/min', () => {
    let now = 0;
    const rl = new RateLimiter(UPSTOX_CANDLE_LIMITS, () => now);
    const slots = Array.from({ length: 600 }, () => rl.reserve());
    assert.deepEqual(slots.slice(0, 50), Array(50).fill(0));
    assert.equal(slots[50], 1000, 'the 51st waits for the first second to pass');
    assert.equal(slots[499], 9000);
    assert.equal(slots[500], 60_000, 'the 501st waits for the first minute to pass');
    assert.equal(slots[550], 61_000);
    now = 60_000;
    assert.equal(rl.reserve(), 2000, 'slots booked ahead still count (50 at 60 s, 50 at 61 s)');
  });

  it('pauseUntil (after a 429) holds every slot until then', () => {
    let now = 1000;
    const rl = new RateLimiter(UPSTOX_CANDLE_LIMITS, () => now);
    rl.pauseUntil(5000);
    assert.equal(rl.reserve(), 4000);
    now = 6000;
    assert.equal(rl.reserve(), 0);
  });

  it('property: no window ever holds more than its limit', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 700 }), (gaps) => {
        let now = 0;
        const rl = new RateLimiter(UPSTOX_CANDLE_LIMITS, () => now);
        const times: number[] = [];
        for (const g of gaps) {
          now += g;
          times.push(now + rl.reserve());
        }
        times.sort((a, b) => a - b);
        for (let i = 0; i < times.length; i++) {
          if (i >= 50) assert.ok(times[i] - times[i - 50] >= 1000, 'at most 50 in any second');
          if (i >= 500) assert.ok(times[i] - times[i - 500] >= 60_000, 'at most 500 in any minute');
        }
      }),
      { numRuns: 100 },
    );
  });
});
