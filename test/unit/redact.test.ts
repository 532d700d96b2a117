/**
 * The secret layers one at a time: the end-to-end secrets test cannot tell which layer caught a
 * leak (each one alone is enough there), so each is held to its own promise here.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { configSecrets, redactQuery, redactUrl, secretScrubber } from '../../src/redact.js';
import { loadConfig } from '../../src/config.js';

describe('secret redaction', () => {
  it('redactUrl keeps scheme, host and port only', () => {
    assert.equal(redactUrl('https://user:pass@hooks.example.com:8443/services/T0/B1/XyZsecret?x=1#f'), 'https://hooks.example.com:8443/…');
    assert.equal(redactUrl('http://127.0.0.1:8086'), 'http://127.0.0.1:8086');
    assert.equal(redactUrl('not a url'), '[unparseable URL]');
  });

  it('redactQuery hides every value but the harmless ones', () => {
    assert.equal(redactQuery('/ticks?keys=*&token=s3cr3t-token'), '/ticks?keys=*&token=[redacted]');
    assert.equal(redactQuery('/state'), '/state');
  });

  it('the scrubber removes a secret wherever it appears, raw, URL-encoded or JSON-escaped', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 6, maxLength: 40 }).filter((s) => s.trim() === s && s !== '[redacted]'),
        fc.string(),
        fc.string(),
        (secret, before, after) => {
          const scrub = secretScrubber([secret]);
          for (const form of [secret, encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1)]) {
            const out = scrub(before + form + after);
            assert.ok(!out.includes(form) || (before + after).includes(form), `${JSON.stringify(form)} survived in ${JSON.stringify(out)}`);
          }
        },
      ),
    );
  });

  it('every secret the configuration holds is scrubbed, webhook paths and URL credentials included', () => {
    const config = loadConfig({
      UPSTOX_ACCESS_TOKEN: 'upstox-access-token-123',
      INSTRUMENTS: 'NSE_EQ|INE002A01018',
      INFLUX_URL: 'http://127.0.0.1:8086',
      INFLUX_TOKEN: 'influx-token-456',
      INFLUX_ORG: 'o',
      INFLUX_BUCKET: 'b',
      API_TOKEN: 'api-token-789',
      NOTIFY_URL: 'https://bob:hunter2pw@hooks.example.com/services/T000/B000/abcdefghijklmnop',
    });
    const scrub = secretScrubber(configSecrets(config));
    const text = JSON.stringify({
      a: 'upstox-access-token-123',
      b: 'Bearer influx-token-456',
      c: '/ticks?token=api-token-789',
      d: config.notify.url,
      e: 'abcdefghijklmnop',
      f: 'hunter2pw',
    });
    const out = scrub(text);
    for (const secret of ['upstox-access-token-123', 'influx-token-456', 'api-token-789', 'hunter2pw', 'abcdefghijklmnop']) {
      assert.ok(!out.includes(secret), `${secret} survived: ${out}`);
    }
  });
});
