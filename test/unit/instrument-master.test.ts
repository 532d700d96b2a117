import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { JsonArraySplitter } from '../../src/instruments/json-array-splitter.js';
import { parseMasterGzip, parseMasterText } from '../../src/instruments/master-parse.js';
import { closeMatches, editDistance, isInstrumentName, resolveAll, resolveInstrument } from '../../src/instruments/names.js';
import { NIFTY_KEY, RELIANCE_KEY, masterGzip, masterJson } from '../helpers/master-fixture.js';

/** Splits `text` at the given cut points (as a stream would deliver it). */
function chunks(text: string, cuts: number[]): string[] {
  const at = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
  const out: string[] = [];
  let prev = 0;
  for (const c of at) {
    out.push(text.slice(prev, c));
    prev = c;
  }
  out.push(text.slice(prev));
  return out;
}

function split(parts: string[]): unknown[] {
  const s = new JsonArraySplitter();
  const got: unknown[] = [];
  for (const p of parts) s.push(p, (json) => got.push(JSON.parse(json)));
  s.end();
  return got;
}

describe('JsonArraySplitter', () => {
  it('yields every object of any array of objects, however the text is cut into chunks', () => {
    fc.assert(
      fc.property(
        fc.array(fc.dictionary(fc.string(), fc.jsonValue())),
        fc.array(fc.nat(), { maxLength: 20 }),
        fc.boolean(),
        (objects, cuts, pretty) => {
          const text = JSON.stringify(objects, null, pretty ? 2 : undefined);
          assert.deepEqual(split(chunks(text, cuts)), JSON.parse(text));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keeps braces, brackets and escaped quotes inside strings out of the nesting count', () => {
    const objects = [{ a: '}{][', b: 'say \\"hi\\" \\\\', c: [{ d: '"' }] }, { e: '\\' }];
    const text = JSON.stringify(objects);
    for (let i = 0; i <= text.length; i++) assert.deepEqual(split([text.slice(0, i), text.slice(i)]), objects);
  });

  it('rejects a truncated array and one holding something other than objects, saying where', () => {
    assert.throws(() => split(['[{"a":1},{"b"']), { code: 'MASTER_INVALID', message: /ends early/ });
    assert.throws(() => split(['[{"a":1}, 5]']), { code: 'MASTER_INVALID', message: /unexpected "5" at character 10/ });
    assert.throws(() => split(['{"a":1}']), { code: 'MASTER_INVALID' });
  });
});

describe('instrument master parsing and the index', () => {
  const opts = { expiries: ['2026-12-01', '2026-12-08'], strikesEachSide: 3 };

  it('streams a gzipped file in small chunks into an index of the fields the service uses', async () => {
    const gz = masterGzip(opts);
    const { index, skipped } = await parseMasterGzip(Readable.from([gz]));
    assert.equal(skipped, 0);
    assert.equal(index.size, 7 + 2 * 2 * 7 * 2);
    assert.deepEqual(index.get(RELIANCE_KEY), { key: RELIANCE_KEY, symbol: 'RELIANCE', segment: 'NSE_EQ', type: 'EQ', lotSize: 1 });
    const [nifty] = index.underlyings('nifty');
    assert.equal(nifty?.key, NIFTY_KEY);
    assert.equal(nifty?.options.length, 2 * 7 * 2);
  });

  it('decodes UTF-8 characters split across chunk boundaries', async () => {
    const bytes = Buffer.from(JSON.stringify([{ instrument_key: 'NSE_EQ|A', trading_symbol: 'CAFÉ₹', segment: 'NSE_EQ' }]));
    for (const size of [1, 2, 3, 5, 7]) {
      const parts: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += size) parts.push(bytes.subarray(i, i + size));
      const { index } = await parseMasterText(Readable.from(parts));
      assert.equal(index.symbolOf('NSE_EQ|A'), 'CAFÉ₹', `chunks of ${size} bytes`);
    }
  });

  it('skips objects without a key or symbol, and refuses a file that is not gzip', async () => {
    const text = JSON.stringify([{ instrument_key: 'NSE_EQ|A', trading_symbol: 'A' }, { name: 'no key' }]);
    const r = await parseMasterText(Readable.from([Buffer.from(text)]));
    assert.equal(r.index.size, 1);
    assert.equal(r.skipped, 1);
    await assert.rejects(parseMasterGzip(Readable.from([Buffer.from(masterJson(opts))])), { code: 'MASTER_INVALID', message: /gzip/ });
  });
});

describe('instrument names', () => {
  const load = async () => (await parseMasterText(Readable.from([masterJson({ expiries: ['2026-12-01'], strikesEachSide: 2 })]))).index;

  it('tells names from keys', () => {
    assert.ok(isInstrumentName('NSE_EQ:RELIANCE'));
    assert.ok(isInstrumentName('nse_fo:NIFTY 24000 CE 01 DEC 26'));
    assert.ok(!isInstrumentName('NSE_EQ|INE002A01018'));
    assert.ok(!isInstrumentName('RELIANCE'));
    assert.ok(!isInstrumentName('NSE_EQ:'));
  });

  it('resolves SEGMENT:TRADING_SYMBOL case-insensitively and passes keys through', async () => {
    const m = await load();
    assert.deepEqual(resolveInstrument(m, 'nse_eq:reliance'), { ok: true, key: RELIANCE_KEY });
    assert.deepEqual(resolveInstrument(m, 'NSE_INDEX:NIFTY'), { ok: true, key: NIFTY_KEY });
    assert.deepEqual(resolveInstrument(m, 'NSE_EQ|ANYTHING'), { ok: true, key: 'NSE_EQ|ANYTHING' });
    assert.equal(m.symbolOf(RELIANCE_KEY), 'RELIANCE');
  });

  it('refuses an unknown name with close matches, and an ambiguous one with its keys', async () => {
    const m = await load();
    const unknown = resolveInstrument(m, 'NSE_EQ:RELIANC');
    assert.equal(unknown.ok, false);
    assert.match((unknown as { reason: string }).reason, /NSE_EQ:RELIANC is not in the instrument master; did you mean NSE_EQ:RELIANCE/);
    const tata = resolveInstrument(m, 'NSE_EQ:TATASTEL');
    assert.match((tata as { reason: string }).reason, /did you mean NSE_EQ:TATASTEEL/);
    const far = resolveInstrument(m, 'NSE_EQ:ZZZZZZZZZZZZ');
    assert.match((far as { reason: string }).reason, /names are SEGMENT:TRADING_SYMBOL/);
    const twin = resolveInstrument(m, 'BSE_EQ:TWIN');
    assert.match((twin as { reason: string }).reason, /BSE_EQ:TWIN is ambiguous: it names BSE_EQ\|TWIN0001, BSE_EQ\|TWIN0002/);
    const all = resolveAll(m, ['NSE_EQ:RELIANCE', RELIANCE_KEY, 'BSE_EQ:TWIN', 'NSE_EQ:NOPE']);
    assert.deepEqual(all.keys, [RELIANCE_KEY]);
    assert.equal(all.problems.length, 2);
  });

  it('prefers names of the same segment among equally close matches', async () => {
    const m = await load();
    assert.deepEqual(closeMatches(m, 'NSE_INDEX:NIFTI', 1), ['NSE_INDEX:NIFTY']);
  });

  it('bounded edit distance agrees with the plain Levenshtein distance up to its bound', () => {
    const plain = (a: string, b: string): number => {
      const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
      for (let j = 1; j <= b.length; j++) d[0][j] = j;
      for (let i = 1; i <= a.length; i++)
        for (let j = 1; j <= b.length; j++)
          d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      return d[a.length][b.length];
    };
    fc.assert(
      fc.property(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 }), fc.integer({ min: 0, max: 6 }), (a, b, max) => {
        const exact = plain(a, b);
        assert.equal(editDistance(a, b, max), exact <= max ? exact : max + 1);
      }),
    );
  });
});
