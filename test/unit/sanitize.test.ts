import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { REDACTED, sanitizeEvent, sanitizeValue, scrubString } from '../../src/inspector/sanitize.js';

const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTYifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ';

describe('sanitize', () => {
  it('replaces values under secret-looking keys, keeping counts, flags and stable error codes', () => {
    const out = sanitizeValue({
      accessToken: 'abc',
      apiToken: 'def',
      INFLUX_TOKEN: 'ghi',
      password: 'p',
      clientSecret: 's',
      authorization: 'Bearer xyz',
      authorizedRedirectUri: 'wss://x/feed?code=1',
      redirect_uri: 'wss://y',
      code: 'abc123-one-time',
      tokenRefreshes: 3,
      hasToken: true,
      lastError: { code: 'TOKEN_REJECTED', message: 'Upstox rejected the token' },
      reason: 'authorizing',
    }) as Record<string, unknown>;
    for (const k of [
      'accessToken',
      'apiToken',
      'INFLUX_TOKEN',
      'password',
      'clientSecret',
      'authorization',
      'authorizedRedirectUri',
      'redirect_uri',
      'code',
    ]) {
      assert.equal(out[k], REDACTED, k);
    }
    assert.equal(out.tokenRefreshes, 3);
    assert.equal(out.hasToken, true);
    assert.deepEqual(out.lastError, { code: 'TOKEN_REJECTED', message: 'Upstox rejected the token' });
    assert.equal(out.reason, 'authorizing');
  });

  it('scrubs credentials inside free text', () => {
    const s = scrubString(`GET wss://h/feed?requestId=7&code=SECRETCODE failed; Authorization: Bearer ${JWT} (token ${JWT})`);
    assert.ok(!s.includes('SECRETCODE') && !s.includes(JWT), s);
    assert.match(s, /requestId=7&code=\[redacted\]/);
    assert.match(s, /Bearer \[redacted\]/);
    assert.equal(scrubString('http://user:pw@influx:8086/api'), `http://${REDACTED}@influx:8086/api`);
    assert.equal(scrubString('x'.repeat(1000)).length < 350, true);
  });

  it('caps arrays, sets, maps, objects and depth, and summarises per-tick data', () => {
    const keys = Array.from({ length: 2000 }, (_, i) => `K${i}`);
    const out = sanitizeValue({
      subscribed: keys,
      set: new Set(keys),
      map: new Map(keys.map((k, i) => [k, i])),
      ticks: [{ ltp: 1 }, { ltp: 2 }],
      lastTick: { ltp: 1 },
      points: 42,
      deep: { a: { b: { c: { d: { e: { f: { g: 1 } } } } } } },
      when: new Date(0),
      err: Object.assign(new Error(`boom ${JWT}`), { code: 'INFLUX_UNAVAILABLE', status: 503 }),
      fn: () => 1,
      big: 10n,
      bytes: new Uint8Array(16),
    }) as Record<string, unknown>;
    assert.deepEqual(out.subscribed, ['K0', 'K1', 'K2', 'K3', 'K4', '… 1995 more (2000 in all)']);
    assert.deepEqual(out.set, ['K0', 'K1', 'K2', 'K3', 'K4', '… 1995 more (2000 in all)']);
    const map = out.map as Record<string, unknown>;
    assert.equal(Object.keys(map).length, 16);
    assert.equal(map['…'], '1985 more keys (2000 in all)');
    assert.equal(out.ticks, '[per-tick data omitted: 2 items]');
    assert.equal(out.lastTick, '[per-tick data omitted]');
    assert.equal(out.points, 42, 'a count under a per-tick name is kept');
    assert.equal(JSON.stringify(out.deep), '{"a":{"b":{"c":{"d":{"e":"[object]"}}}}}');
    assert.equal(out.when, '1970-01-01T00:00:00.000Z');
    assert.deepEqual(out.err, { name: 'Error', message: `boom ${REDACTED}`, code: 'INFLUX_UNAVAILABLE', status: 503 });
    assert.equal('fn' in out, false);
    assert.equal(out.big, '10');
    assert.equal(out.bytes, '[binary 16 bytes]');
  });

  it('keeps an event type even when it names a secret, and redacts bare I/O results', () => {
    assert.deepEqual(sanitizeEvent({ type: 'TOKEN_REJECTED', token: 'x', reason: 'r' }), {
      type: 'TOKEN_REJECTED',
      token: REDACTED,
      reason: 'r',
    });
    assert.deepEqual(sanitizeEvent({ type: 'xstate.done.actor.fetchToken', output: 'tok' }), {
      type: 'xstate.done.actor.fetchToken',
      output: REDACTED,
    });
    assert.deepEqual(sanitizeEvent({ type: 'xstate.promise.resolve', data: 'tok' }), { type: 'xstate.promise.resolve', data: REDACTED });
    assert.deepEqual(sanitizeEvent({ type: 'xstate.done.actor.probe', output: { ok: true } }), {
      type: 'xstate.done.actor.probe',
      output: { ok: true },
    });
  });
});
