import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { candleRow, istTimestamp } from '../../src/sim/candle-routes.js';
import { clockFrom, ManualClock, scaledClock } from '../../src/sim/clock.js';
import { nextExpiries } from '../../src/sim/instrument-file.js';
import { Market, minuteStart } from '../../src/sim/market.js';
import { fairPremium, type OptionSpec } from '../../src/sim/option-model.js';

const T0 = Date.parse('2026-11-27T09:15:00+05:30');
const IST_OFFSET_MS = 19_800_000;

describe('simulator candle history', () => {
  it('keeps, for every closed minute, exactly the last minute candle a trade left (what the feed last streamed)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 45_000 }), { minLength: 1, maxLength: 400 }),
        fc.integer({ min: 1, max: 1000 }),
        (steps, seed) => {
          const clock = new ManualClock(T0);
          const market = new Market(seed, () => clock.now());
          const key = 'NSE_FO|777';
          const lastSeen = new Map<
            number,
            { ts: number; open: number; high: number; low: number; close: number; vol: number; oi: number }
          >();
          for (const step of steps) {
            clock.advance(step);
            const s = market.trade(key);
            lastSeen.set(s.minute.ts, {
              ts: s.minute.ts,
              open: s.minute.open,
              high: s.minute.high,
              low: s.minute.low,
              close: s.minute.close,
              vol: s.minute.vol,
              oi: s.oi,
            });
          }
          const s = market.get(key);
          const closed = [...lastSeen.values()].filter((c) => c.ts < s.minute.ts);
          // The first minute also holds the state's opening trade (made at creation), which the map saw too.
          assert.deepEqual(s.history.slice(-closed.length), closed);
          for (const c of s.history) {
            assert.equal(c.ts, minuteStart(c.ts));
            assert.ok(c.low <= Math.min(c.open, c.close) && c.high >= Math.max(c.open, c.close), JSON.stringify(c));
          }
          const ts = s.history.map((c) => c.ts);
          assert.deepEqual(
            ts,
            [...ts].sort((a, b) => a - b),
            'oldest first, one per minute',
          );
          assert.equal(new Set(ts).size, ts.length);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('writes rows as Upstox does: IST minute start, then o, h, l, c, volume, oi', () => {
    assert.equal(istTimestamp(Date.parse('2026-11-27T03:46:00Z')), '2026-11-27T09:16:00+05:30');
    assert.deepEqual(candleRow({ ts: Date.parse('2026-11-26T18:30:00Z'), open: 1, high: 2, low: 0.5, close: 1.5, vol: 10, oi: 7 }), [
      '2026-11-27T00:00:00+05:30',
      1,
      2,
      0.5,
      1.5,
      10,
      7,
    ]);
  });

  it('setPrice moves the level the walk wanders around, without a trade of its own', () => {
    const clock = new ManualClock(T0);
    const market = new Market(1, () => clock.now());
    const s = market.get('NSE_INDEX|Nifty 50');
    const minuteBefore = { ...s.minute };
    s.setLevel(26_000);
    assert.deepEqual({ ...s.minute }, minuteBefore, 'the candle changes only through trades the feed streams');
    for (let i = 0; i < 200; i++) {
      clock.advance(100);
      market.trade('NSE_INDEX|Nifty 50');
    }
    assert.ok(Math.abs(s.ltp / 26_000 - 1) < 0.02, `stays near the new level: ${s.ltp}`);
    assert.throws(() => s.setLevel(-1), /positive number/);
  });
});

describe('simulator option model', () => {
  const spec = (type: 'CE' | 'PE', strike: number): OptionSpec => ({
    underlying: 'NSE_INDEX|Nifty 50',
    strike,
    type,
    expiry: T0 + 5 * 86_400_000,
  });

  it('prices calls up and puts down with the underlying, never below intrinsic value or 0.05', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 100, max: 60_000 }),
        fc.integer({ min: 100, max: 60_000 }),
        fc.integer({ min: 0, max: 2000 }),
        (level, strike, up) => {
          const ce = spec('CE', strike);
          const pe = spec('PE', strike);
          const c0 = fairPremium(ce, level, T0);
          const p0 = fairPremium(pe, level, T0);
          assert.ok(c0 >= Math.max(0.05, level - strike) - 1e-9 && p0 >= Math.max(0.05, strike - level) - 1e-9);
          assert.ok(fairPremium(ce, level + up, T0) >= c0 - 1e-9);
          assert.ok(fairPremium(pe, level + up, T0) <= p0 + 1e-9);
        },
      ),
    );
  });

  it('re-prices an option declared on an index from the index level after setPrice', () => {
    const clock = new ManualClock(T0);
    const market = new Market(1, () => clock.now());
    const index = market.get('NSE_INDEX|Nifty 50');
    const strike = Math.round(index.ltp / 50) * 50;
    market.defineOption('NSE_FO|60001', spec('CE', strike));
    const atm = market.trade('NSE_FO|60001').ltp;
    index.setLevel(strike + 1000);
    clock.advance(1000);
    market.trade('NSE_INDEX|Nifty 50');
    const deep = market.trade('NSE_FO|60001').ltp;
    assert.ok(deep > 1000 && deep > atm + 500, `ATM ${atm} → ${deep} with the index 1000 above the strike`);
    assert.throws(() => market.get('NSE_FO|60001').setLevel(5), /move the underlying/);
  });
});

describe('simulator clock and expiries', () => {
  it('runs a scaled clock timeScale times faster from startAt', () => {
    let real = 1_000;
    const clock = scaledClock(T0, 60, () => real);
    assert.equal(clock.now(), T0);
    real += 1_000;
    assert.equal(clock.now(), T0 + 60_000);
    assert.throws(() => scaledClock(T0, 0), /timeScale must be a positive number/);
    assert.throws(() => clockFrom({ clock: new ManualClock(), timeScale: 2 }), /exclude each other/);
    assert.equal(clockFrom({}), Date.now);
  });

  it('lists weekly expiries at 15:30 IST on Tuesdays, strictly after now, a week apart', () => {
    fc.assert(
      fc.property(fc.integer({ min: Date.parse('2024-01-01T00:00:00Z'), max: Date.parse('2030-01-01T00:00:00Z') }), (now) => {
        const e = nextExpiries(now);
        assert.equal(e.length, 4);
        assert.ok(e[0] > now && e[0] - now <= 7 * 86_400_000, `${new Date(now).toISOString()} → ${new Date(e[0]).toISOString()}`);
        for (const t of e) {
          const ist = new Date(t + IST_OFFSET_MS);
          assert.equal(ist.getUTCDay(), 2);
          assert.equal(ist.toISOString().slice(11, 19), '15:30:00');
        }
        for (let i = 1; i < e.length; i++) assert.equal(e[i] - e[i - 1], 7 * 86_400_000);
      }),
    );
    const tue = Date.parse('2026-12-01T15:30:00+05:30');
    assert.equal(nextExpiries(tue - 1)[0], tue, 'the same day, a millisecond before the close');
    assert.equal(nextExpiries(tue)[0], tue + 7 * 86_400_000, 'at the close it has expired');
  });
});
