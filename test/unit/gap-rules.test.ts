import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gapsFromOutage, minutesTouching, readyAt } from '../../machines/rules/gaps.js';
import { DEFAULT_CALENDAR } from '../../machines/rules/trading-hours.js';

const ist = (s: string) => Date.parse(`${s}+05:30`);
const EQ = 'NSE_EQ|INE002A01018';
const IDX = 'NSE_INDEX|Nifty Bank';
const MCX = 'MCX_FO|426268';

describe('gap rules', () => {
  it('a restart the next morning: one gap per session, segments with the same hours share it', () => {
    const gaps = gapsFromOutage(
      {
        from: ist('2026-11-26T15:20:00'),
        to: ist('2026-11-27T09:20:00'),
        reason: 'service stopped',
        keysAtDown: [EQ, IDX, MCX],
        keysAtUp: [EQ, IDX, MCX],
      },
      DEFAULT_CALENDAR,
    );
    assert.deepEqual(
      gaps.map((g) => [new Date(g.from).toISOString(), new Date(g.to).toISOString(), g.keys]),
      [
        ['2026-11-26T09:50:00.000Z', '2026-11-26T10:00:00.000Z', [EQ, IDX]],
        ['2026-11-26T09:50:00.000Z', '2026-11-26T18:25:00.000Z', [MCX]],
        ['2026-11-27T03:30:00.000Z', '2026-11-27T03:50:00.000Z', [MCX]],
        ['2026-11-27T03:45:00.000Z', '2026-11-27T03:50:00.000Z', [EQ, IDX]],
      ],
    );
    assert.ok(gaps.every((g) => g.reason === 'service stopped' && g.id === `${g.from}-${g.to}`));
  });

  it('a subscription change is not a gap: keys not subscribed at both ends are left out', () => {
    const gaps = gapsFromOutage(
      { from: ist('2026-11-27T10:00:00'), to: ist('2026-11-27T10:01:00'), reason: 'socket dropped', keysAtDown: [EQ], keysAtUp: [IDX] },
      DEFAULT_CALENDAR,
    );
    assert.deepEqual(gaps, []);
  });

  it('the minutes touching a gap include the partial ones at both ends; ready once the last has closed', () => {
    const from = ist('2026-11-27T10:00:40');
    const to = ist('2026-11-27T10:02:05');
    assert.deepEqual(minutesTouching(from, to), { first: ist('2026-11-27T10:00:00'), last: ist('2026-11-27T10:02:00'), count: 3 });
    assert.equal(readyAt({ to }, 5000), ist('2026-11-27T10:03:05'));
  });
});
