import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  RECENTRE_STRIKES,
  atmIndex,
  expiryCutoff,
  istDate,
  needsRecentre,
  parseChainSpecs,
  planChain,
  selectExpiry,
} from '../../machines/rules/option-chain.js';
import type { OptionRow, Underlying } from '../../src/instruments/master-index.js';
import { NIFTY_KEY, optionKey, upstoxExpiry } from '../helpers/master-fixture.js';

const ist = (s: string) => Date.parse(`${s}+05:30`);
const EXPIRIES = ['2026-12-01', '2026-12-08', '2026-12-15', '2026-12-29', '2027-01-05', '2027-01-26'].map(upstoxExpiry);

function nifty(dates: string[], strikes: number[]): Underlying {
  const options: OptionRow[] = [];
  for (const d of dates)
    for (const strike of strikes)
      for (const side of ['CE', 'PE'] as const)
        options.push({ key: optionKey('NIFTY', d, strike, side), side, expiry: upstoxExpiry(d), strike });
  return { symbol: 'NIFTY', key: NIFTY_KEY, options };
}
const range = (from: number, to: number, step: number) => Array.from({ length: (to - from) / step + 1 }, (_, i) => from + i * step);

describe('expiry selection', () => {
  it('counts an expiry as over from 15:30 IST on its day', () => {
    const e = upstoxExpiry('2026-12-01');
    assert.equal(istDate(e), '2026-12-01');
    assert.equal(expiryCutoff(e), ist('2026-12-01T15:30:00'));
  });

  it('next, next2, monthly and a date, before and after a cutoff', () => {
    const before = ist('2026-12-01T15:29:59');
    const after = ist('2026-12-01T15:30:00');
    const pick = (spec: Parameters<typeof selectExpiry>[1], now: number) => {
      const r = selectExpiry(EXPIRIES, spec, now);
      return 'expiry' in r ? istDate(r.expiry) : r.error;
    };
    assert.equal(pick('next', before), '2026-12-01');
    assert.equal(pick('next', after), '2026-12-08');
    assert.equal(pick('next2', before), '2026-12-08');
    assert.equal(pick('next2', after), '2026-12-15');
    assert.equal(pick('monthly', before), '2026-12-29');
    assert.equal(pick('monthly', ist('2026-12-29T16:00:00')), '2027-01-26');
    assert.equal(pick('2026-12-15', before), '2026-12-15');
    assert.match(pick('2026-12-01', after), /passed/);
    assert.match(pick('2026-12-02', before), /no expiry on 2026-12-02; the master lists 2026-12-01, 2026-12-08/);
    assert.match(pick('next', ist('2027-02-01T09:00:00')), /no expiry after 2027-02-01/);
  });
});

describe('chain plan', () => {
  const u = nifty(['2026-12-01'], range(23000, 25000, 50));
  const e = upstoxExpiry('2026-12-01');

  it('NIFTY:10 at 24012 is CE and PE of 23500..24500 (21 strikes, 42 options) centred on 24000', () => {
    const p = planChain(u, e, 10, 24012);
    assert.ok(!('error' in p));
    assert.equal(p.atm, 24000);
    assert.equal(p.step, 50);
    assert.deepEqual(p.strikes, range(23500, 24500, 50));
    assert.equal(p.optionKeys.length, 42);
    assert.ok(p.optionKeys.includes(optionKey('NIFTY', '2026-12-01', 23500, 'PE')));
    assert.ok(p.optionKeys.includes(optionKey('NIFTY', '2026-12-01', 24500, 'CE')));
  });

  it('is clipped at the edge of the listed strikes', () => {
    const p = planChain(u, e, 10, 22000);
    assert.ok(!('error' in p));
    assert.equal(p.atm, 23000);
    assert.equal(p.optionKeys.length, 22);
  });

  it('ATM is the listed strike nearest the price, for any strike ladder and price', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: 100_000 }), { minLength: 1, maxLength: 60 }),
        fc.double({ min: 0, max: 110_000, noNaN: true }),
        (raw, price) => {
          const strikes = [...raw].sort((a, b) => a - b);
          const i = atmIndex(strikes, price);
          for (const s of strikes) assert.ok(Math.abs(strikes[i] - price) <= Math.abs(s - price));
        },
      ),
    );
  });

  it('hysteresis: a move within 1.5 strikes keeps the centre; beyond it, the new centre is within half a strike of the price', () => {
    fc.assert(
      fc.property(fc.integer({ min: 23200, max: 24800 }), fc.double({ min: -400, max: 400, noNaN: true }), (start, move) => {
        const first = planChain(u, e, 5, start);
        assert.ok(!('error' in first));
        const price = start + move;
        fc.pre(price >= 23000 && price <= 25000); // inside the listed strikes (the edge is tested above)
        const recentre = needsRecentre(first.atm, first.step, price);
        assert.equal(recentre, Math.abs(price - first.atm) > RECENTRE_STRIKES * 50);
        if (recentre) {
          const next = planChain(u, e, 5, price);
          assert.ok(!('error' in next));
          assert.ok(Math.abs(next.atm - price) <= 25);
          // And the new centre is stable: the same price does not move it again.
          assert.ok(!needsRecentre(next.atm, next.step, price));
        }
      }),
    );
  });
});

describe('OPTION_CHAINS syntax', () => {
  it('reads UNDERLYING:N and UNDERLYING:N:EXPIRY', () => {
    assert.deepEqual(parseChainSpecs('NIFTY:10, banknifty:5:next2,FINNIFTY:2:2026-12-30,MIDCPNIFTY:0:MONTHLY'), {
      specs: [
        { underlying: 'NIFTY', n: 10, expiry: 'next' },
        { underlying: 'BANKNIFTY', n: 5, expiry: 'next2' },
        { underlying: 'FINNIFTY', n: 2, expiry: '2026-12-30' },
        { underlying: 'MIDCPNIFTY', n: 0, expiry: 'monthly' },
      ],
      problems: [],
    });
  });

  it('names each bad entry with the expected form', () => {
    const { problems } = parseChainSpecs('NIFTY,NIFTY:x,NIFTY:5:weekly,NIFTY:500,BANKNIFTY:2,BANKNIFTY:3');
    assert.equal(problems.length, 5);
    assert.match(problems[0], /OPTION_CHAINS entry "NIFTY" is not UNDERLYING:N or UNDERLYING:N:EXPIRY/);
    assert.match(problems[2], /"NIFTY:5:weekly"/);
    assert.match(problems[4], /lists BANKNIFTY twice/);
  });
});
