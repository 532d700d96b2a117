import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Faults } from '../../src/sim/faults.js';
import { MarketStatusBook } from '../../src/sim/market-status.js';
import { isValidKey, parseRequest } from '../../src/sim/requests.js';
import { bearerToken, TokenBook } from '../../src/sim/tokens.js';

describe('simulator feed requests', () => {
  it('parses the three methods', () => {
    const sub = parseRequest('{"guid":"g1","method":"sub","data":{"mode":"full","instrumentKeys":["NSE_EQ|A","NSE_INDEX|Nifty 50"]}}');
    assert.deepEqual(sub, { ok: true, request: { guid: 'g1', method: 'sub', mode: 'full', keys: ['NSE_EQ|A', 'NSE_INDEX|Nifty 50'] } });
    const unsub = parseRequest('{"guid":"g2","method":"unsub","data":{"instrumentKeys":["NSE_EQ|A"]}}');
    assert.deepEqual(unsub, { ok: true, request: { guid: 'g2', method: 'unsub', mode: undefined, keys: ['NSE_EQ|A'] } });
    const change = parseRequest('{"guid":"g3","method":"change_mode","data":{"mode":"full_d30","instrumentKeys":[]}}');
    assert.equal(change.ok && change.request.mode, 'full_d30');
  });

  it('says what is wrong with a bad request', () => {
    const cases: Array<[string, RegExp]> = [
      ['not json', /not JSON/],
      ['[1]', /not a JSON object/],
      ['{"method":"subscribe","data":{}}', /method must be one of sub, unsub, change_mode, got "subscribe"/],
      ['{"method":"sub"}', /data must be an object/],
      ['{"method":"sub","data":{"mode":"full","instrumentKeys":"NSE_EQ|A"}}', /instrumentKeys must be an array of strings/],
      [
        '{"method":"sub","data":{"mode":"full_d5","instrumentKeys":[]}}',
        /mode must be one of ltpc, full, option_greeks, full_d30, got "full_d5"/,
      ],
      ['{"method":"change_mode","data":{"instrumentKeys":[]}}', /mode must be one of/],
    ];
    for (const [text, error] of cases) {
      const r = parseRequest(text);
      assert.equal(r.ok, false, text);
      if (!r.ok) assert.match(r.error, error, text);
    }
  });

  it('accepts SEGMENT|id keys only', () => {
    for (const k of ['NSE_EQ|INE002A01018', 'NSE_INDEX|Nifty 50', 'MCX_FO|457534', 'BSE_FO|1']) assert.ok(isValidKey(k), k);
    for (const k of ['', 'NSE_EQ', 'NSE_EQ|', '|x', 'nse_eq|x', 'NSE EQ|x']) assert.ok(!isValidKey(k), k);
  });
});

describe('simulator tokens', () => {
  it('redeems an authorized code once, within its lifetime', () => {
    let now = 0;
    const book = new TokenBook('t1', 60_000, () => now);
    const code = book.issueCode();
    assert.equal(book.redeem(code), 'ok');
    assert.equal(book.redeem(code), 'unknown');
    const late = book.issueCode();
    now = 60_000;
    assert.equal(book.redeem(late), 'expired');
    assert.equal(book.redeem('made-up'), 'unknown');
  });

  it('rotates the token and voids the codes issued under the old one', () => {
    const book = new TokenBook('t1', 60_000);
    const code = book.issueCode();
    const fresh = book.rotate();
    assert.notEqual(fresh, 't1');
    assert.ok(book.isValid(fresh) && !book.isValid('t1') && !book.isValid(undefined));
    assert.equal(book.redeem(code), 'unknown');
  });

  it('reads bearer tokens', () => {
    assert.equal(bearerToken('Bearer abc.def-1'), 'abc.def-1');
    assert.equal(bearerToken('bearer  abc'), 'abc');
    assert.equal(bearerToken('Basic abc'), undefined);
    assert.equal(bearerToken('Bearer a b'), undefined);
    assert.equal(bearerToken(undefined), undefined);
  });
});

describe('simulator faults and market status', () => {
  it('answers authorize failures exactly the armed number of times', () => {
    const faults = new Faults();
    assert.equal(faults.takeAuthorizeFailure(), null);
    faults.armAuthorizeFailure(429, 2, 3);
    assert.deepEqual(faults.takeAuthorizeFailure(), { status: 429, retryAfterS: 3 });
    assert.deepEqual(faults.takeAuthorizeFailure(), { status: 429, retryAfterS: 3 });
    assert.equal(faults.takeAuthorizeFailure(), null);
    assert.throws(() => faults.armAuthorizeFailure(503 as 500, 1), /must be 429 or 500/);
    assert.throws(() => faults.armAuthorizeFailure(500, -1), /whole number/);
  });

  it('lists the known segments open, applies changes only when every name is valid', () => {
    const book = new MarketStatusBook({ MCX_FO: 'NORMAL_CLOSE' }, ['NSE_EQ|A', 'XYZ_EQ|B']);
    assert.equal(book.status.get('NSE_EQ'), 'NORMAL_OPEN');
    assert.equal(book.status.get('XYZ_EQ'), 'NORMAL_OPEN', 'segments of listed instruments are reported');
    assert.equal(book.isLive('MCX_FO'), false);
    assert.equal(book.isLive('NEVER_SEEN'), true);
    assert.throws(() => book.update({ NSE_EQ: 'NORMAL_CLOSE', NSE_FO: 'closed' }), /unknown market status "closed" for NSE_FO/);
    assert.equal(book.status.get('NSE_EQ'), 'NORMAL_OPEN', 'a rejected change changes nothing');
    for (const [status, live] of [
      ['PRE_OPEN_START', true],
      ['PRE_OPEN_END', false],
      ['NORMAL_OPEN', true],
      ['NORMAL_CLOSE', false],
      ['CLOSING_START', true],
      ['CLOSING_END', false],
    ] as const) {
      book.update({ NSE_EQ: status });
      assert.equal(book.isLive('NSE_EQ'), live, status);
    }
  });
});
