/**
 * jsonNumber (src/fanout/json-number.ts) takes shortcuts for integers and two-decimal values;
 * whatever the number, it must write exactly what `String(n)` writes (`null` when not finite),
 * or /ticks clients would see prices that differ from InfluxDB's by a digit.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { jsonNumber } from '../../src/fanout/json-number.js';

const reference = (n: number) => (Number.isFinite(n) ? String(n) : 'null');
const same = (n: number) => assert.equal(jsonNumber(n), reference(n), `for ${reference(n)} (bits ${bits(n)})`);
const bits = (n: number) => Buffer.from(new Float64Array([n]).buffer).toString('hex');
const RUNS = { numRuns: 20_000 };

describe('jsonNumber', () => {
  it('writes any double as String does', () => {
    fc.assert(
      fc.property(fc.double(), (n) => same(n)),
      RUNS,
    );
  });

  it('writes prices with up to two decimals, and their neighbours, as String does', () => {
    // c / 100 is where the two-decimal shortcut applies; one ulp either side it must not.
    const cents = fc.integer({ min: -(1e15 - 1), max: 1e15 - 1 }).map((c) => c / 100);
    fc.assert(
      fc.property(cents, (n) => {
        same(n);
        same(n * (1 + Number.EPSILON));
        same(n * (1 - Number.EPSILON));
      }),
      RUNS,
    );
  });

  it('writes integers past int32 (millisecond timestamps) as String does', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2 ** 31 - 10, max: Number.MAX_SAFE_INTEGER }), (n) => {
        same(n);
        same(-n);
      }),
      RUNS,
    );
    // Every length of the low half, and the edges of the shortcut's range.
    for (const n of [
      2 ** 31,
      1e12,
      1e12 + 1,
      1_732_000_000_000,
      1_732_000_000_007,
      1e13 - 1,
      1e13,
      1e13 + 1,
      2 ** 53,
      2 ** 53 + 2,
      1e21,
      1e22,
    ])
      same(n);
  });

  it('writes the edge cases as String does, and null for what JSON cannot hold', () => {
    for (const n of [
      0,
      -0,
      1,
      -1,
      0.1,
      0.01,
      0.05,
      -0.05,
      0.005,
      1e-7,
      2500.05,
      2500.5,
      2500.1000000000004,
      2 ** 31 - 1,
      -(2 ** 31),
      Number.MIN_VALUE,
      Number.MAX_VALUE,
    ])
      same(n);
    assert.equal(jsonNumber(-0), '0');
    assert.equal(jsonNumber(Number.NaN), 'null');
    assert.equal(jsonNumber(Infinity), 'null');
    assert.equal(jsonNumber(-Infinity), 'null');
  });
});
