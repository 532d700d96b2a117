import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { SubjectCache, marketStatusMsgId, subjectToken, tickMsgId, tickSubject } from '../../src/nats/subject.js';

/** The inverse of subjectToken, written independently from the contract's rule, to prove injectivity. */
function decodeToken(t: string): string {
  if (t === '~') return '';
  const bytes: number[] = [];
  for (let i = 0; i < t.length;) {
    if (t[i] === '~') {
      assert.match(t.slice(i + 1, i + 3), /^[0-9A-F]{2}$/, `~ must be followed by two uppercase hex digits in ${t}`);
      bytes.push(parseInt(t.slice(i + 1, i + 3), 16));
      i += 3;
    } else {
      bytes.push(t.charCodeAt(i));
      i++;
    }
  }
  return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes));
}

/** A NATS subject token tickpipe may produce: no '.', '*', '>', whitespace; here even stricter. */
const TOKEN = /^[A-Za-z0-9_~-]+$/;

describe('NATS subjects (README: Beyond one machine)', () => {
  it("follows the contract's example and leaves plain keys alone", () => {
    assert.equal(tickSubject('NSE_INDEX|Nifty Bank'), 'tickpipe.tick.NSE_INDEX.Nifty~20Bank');
    assert.equal(tickSubject('NSE_EQ|INE002A01018'), 'tickpipe.tick.NSE_EQ.INE002A01018');
    assert.equal(tickSubject('NSE_FO|NIFTY-25_DEC'), 'tickpipe.tick.NSE_FO.NIFTY-25_DEC');
    assert.equal(tickSubject('BSE_INDEX|S&P BSE 100'), 'tickpipe.tick.BSE_INDEX.S~26P~20BSE~20100');
    assert.equal(tickSubject('NSE_EQ|a.b*c>d~e'), 'tickpipe.tick.NSE_EQ.a~2Eb~2Ac~3Ed~7Ee');
    assert.equal(tickSubject('NSE_EQ|é'), 'tickpipe.tick.NSE_EQ.~C3~A9', 'one escape per UTF-8 byte');
    assert.equal(tickSubject('NSE_EQ|'), 'tickpipe.tick.NSE_EQ.~');
  });

  it('message ids are <key>@<ts>', () => {
    assert.equal(tickMsgId('NSE_INDEX|Nifty Bank', 1764215160000), 'NSE_INDEX|Nifty Bank@1764215160000');
    assert.equal(marketStatusMsgId(5), 'market_status@5');
  });

  it('every subject is four valid tokens, and the key can be read back from it (injective)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1 }), fc.string({ unit: 'grapheme' }), (segment, rest) => {
        fc.pre(!segment.includes('|'));
        const key = `${segment}|${rest}`;
        const tokens = tickSubject(key).split('.');
        assert.equal(tokens.length, 4);
        assert.deepEqual(tokens.slice(0, 2), ['tickpipe', 'tick']);
        for (const t of tokens) assert.match(t, TOKEN);
        assert.equal(`${decodeToken(tokens[2])}|${decodeToken(tokens[3])}`, key);
      }),
      { numRuns: 2000 },
    );
  });

  it('two different keys never share a subject', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (a, b) => {
        fc.pre(a !== b);
        assert.notEqual(subjectToken(a), subjectToken(b));
        assert.notEqual(tickSubject(`NSE_EQ|${a}`), tickSubject(`NSE_EQ|${b}`));
      }),
      { numRuns: 2000 },
    );
  });

  it('the cache answers what tickSubject answers and stays bounded', () => {
    const cache = new SubjectCache(3);
    for (const k of ['A|1', 'A|2', 'A|3', 'A|4', 'A|1', 'A|x y']) assert.equal(cache.get(k), tickSubject(k));
  });
});
