import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  DEFAULT_CALENDAR,
  buildCalendar,
  isTradingAt,
  istDate,
  parseHolidays,
  parseMarketHours,
  tradingIntervals,
} from '../../machines/rules/trading-hours.js';
import { loadConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';

/** An instant given as IST wall time. */
const ist = (s: string) => Date.parse(`${s}+05:30`);
// 2026-11-27 is a Friday; 2026-11-28/29 the weekend.
const FRI = '2026-11-27';

describe('trading hours', () => {
  it('NSE/BSE equity, F&O and indices trade 09:15-15:30 IST on weekdays', () => {
    for (const seg of ['NSE_EQ', 'NSE_FO', 'NSE_INDEX', 'BSE_EQ', 'BSE_FO']) {
      assert.equal(isTradingAt(DEFAULT_CALENDAR, seg, ist(`${FRI}T09:14:59.999`)), false, seg);
      assert.equal(isTradingAt(DEFAULT_CALENDAR, seg, ist(`${FRI}T09:15:00`)), true, seg);
      assert.equal(isTradingAt(DEFAULT_CALENDAR, seg, ist(`${FRI}T15:29:59`)), true, seg);
      assert.equal(isTradingAt(DEFAULT_CALENDAR, seg, ist(`${FRI}T15:30:00`)), false, seg);
      assert.equal(isTradingAt(DEFAULT_CALENDAR, seg, ist('2026-11-28T11:00:00')), false, `${seg} on Saturday`);
    }
  });

  it("MCX's session runs into the evening", () => {
    assert.equal(isTradingAt(DEFAULT_CALENDAR, 'MCX_FO', ist(`${FRI}T09:00:00`)), true);
    assert.equal(isTradingAt(DEFAULT_CALENDAR, 'MCX_FO', ist(`${FRI}T21:00:00`)), true);
    assert.equal(isTradingAt(DEFAULT_CALENDAR, 'MCX_FO', ist(`${FRI}T23:56:00`)), false);
  });

  it('an unknown segment follows the * entry', () => {
    assert.equal(isTradingAt(DEFAULT_CALENDAR, 'XYZ_EQ', ist(`${FRI}T10:00:00`)), true);
    assert.equal(isTradingAt(DEFAULT_CALENDAR, 'XYZ_EQ', ist(`${FRI}T16:00:00`)), false);
  });

  it('clips an outage from Friday afternoon to Monday morning to the two sessions', () => {
    const parts = tradingIntervals(DEFAULT_CALENDAR, 'NSE_EQ', ist(`${FRI}T15:00:00`), ist('2026-11-30T09:20:00'));
    assert.deepEqual(parts, [
      [ist(`${FRI}T15:00:00`), ist(`${FRI}T15:30:00`)],
      [ist('2026-11-30T09:15:00'), ist('2026-11-30T09:20:00')],
    ]);
  });

  it('MARKET_HOURS overrides the table for the segments it names; * = always open', () => {
    const cal = buildCalendar('NSE_EQ=Sat 10:00-11:00', '2026-11-27').value;
    assert.equal(isTradingAt(cal, 'NSE_EQ', ist('2026-11-28T10:30:00')), true);
    assert.equal(isTradingAt(cal, 'NSE_EQ', ist('2026-11-30T10:30:00')), false, 'Monday no longer trades for NSE_EQ');
    assert.equal(isTradingAt(cal, 'NSE_FO', ist('2026-11-30T10:30:00')), true, 'NSE_FO keeps the built-in hours');
    assert.equal(isTradingAt(cal, 'NSE_FO', ist(`${FRI}T10:30:00`)), false, 'a holiday closes every segment');
    const always = buildCalendar('*=Mon-Sun 00:00-24:00').value;
    assert.deepEqual(tradingIntervals(always, 'MCX_FO', 5, 10 * 86_400_000), [[5, 10 * 86_400_000]]);
  });

  it('day ranges may wrap the week', () => {
    const r = parseMarketHours('NSE_EQ=Sun-Tue 09:00-10:00');
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.value[0].days, [0, 1, 2]);
  });

  it('every bad entry is a problem naming it', () => {
    const r = parseMarketHours('NSE_EQ=Mon-Fri 09:15-15:30;nse=Mon 09:00-10:00;NSE_FO=Mon-Fry 09:00-10:00;BSE_EQ=Mon 11:00-10:00;junk');
    assert.equal(r.value.length, 1);
    assert.equal(r.problems.length, 4);
    assert.match(r.problems[0], /"nse=Mon 09:00-10:00".*segment names/);
    assert.match(r.problems[1], /"NSE_FO=Mon-Fry 09:00-10:00".*Mon-Fri/);
    assert.match(r.problems[2], /"BSE_EQ=Mon 11:00-10:00".*close after the open/);
    assert.match(r.problems[3], /"junk".*SEGMENTS=DAYS HH:MM-HH:MM/);
    assert.match(parseHolidays('2026-01-26,2026-02-30, 26-01-2026').problems.join('|'), /"2026-02-30".*\|.*"26-01-2026"/);
  });

  it('config: MARKET_HOURS / MARKET_HOLIDAYS errors are config errors naming the entry', () => {
    const env = { UPSTOX_ACCESS_TOKEN: 'tok-123456', INSTRUMENTS: 'NSE_EQ|INE002A01018' };
    assert.throws(
      () => loadConfig({ ...env, MARKET_HOURS: 'NSE_EQ=Mon-Fri 9:15-15:30', MARKET_HOLIDAYS: 'tomorrow' }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.problems.some((p) => p.includes('MARKET_HOURS entry "NSE_EQ=Mon-Fri 9:15-15:30"')) &&
        err.problems.some((p) => p.includes('MARKET_HOLIDAYS entry "tomorrow"')),
    );
    const c = loadConfig({ ...env, MARKET_HOLIDAYS: '2026-12-25' });
    assert.deepEqual(c.gaps.calendar.holidays, ['2026-12-25']);
    assert.equal(isTradingAt(c.gaps.calendar, 'NSE_EQ', ist('2026-12-25T10:00:00')), false);
  });

  it('property: intervals lie inside [from, to), inside sessions, ordered and disjoint', () => {
    const start = ist('2026-01-01T00:00:00');
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 60 * 86_400_000 }),
        fc.integer({ min: 0, max: 10 * 86_400_000 }),
        fc.constantFrom('NSE_EQ', 'MCX_FO', 'NCD_FO'),
        (offset, length, seg) => {
          const from = start + offset;
          const to = from + length;
          const parts = tradingIntervals(DEFAULT_CALENDAR, seg, from, to);
          let prevEnd = -Infinity;
          for (const [a, b] of parts) {
            assert.ok(a >= from && b <= to && a < b && a > prevEnd);
            assert.ok(isTradingAt(DEFAULT_CALENDAR, seg, a) && isTradingAt(DEFAULT_CALENDAR, seg, b - 1));
            assert.equal(istDate(a), istDate(b - 1), 'sessions never cross midnight');
            prevEnd = b;
          }
          // Sampled instants agree with the intervals.
          for (let i = 0; i < 20; i++) {
            const t = from + Math.floor((length * i) / 20);
            if (t >= to) continue;
            const inside = parts.some(([a, b]) => t >= a && t < b);
            assert.equal(inside, isTradingAt(DEFAULT_CALENDAR, seg, t));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
