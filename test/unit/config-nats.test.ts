import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';

const minimal = { UPSTOX_ACCESS_TOKEN: 'tok-123456', INSTRUMENTS: 'NSE_EQ|INE002A01018' };

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig({ ...minimal, ...env });
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return [...err.problems];
  }
  assert.fail('expected a ConfigError');
}

describe('config: NATS and HA settings', () => {
  it('defaults: nothing published, no leadership', () => {
    const c = loadConfig(minimal);
    assert.equal(c.nats.servers, undefined);
    assert.equal(c.nats.stream, 'TICKPIPE');
    assert.equal(c.nats.maxAgeS, 86_400);
    assert.equal(c.ha.group, undefined);
    assert.equal(c.ha.leaseTtlMs, 10_000);
    assert.match(c.ha.instance, /-\d+$/, 'host-pid by default');
  });

  it('takes a comma list of servers and every tuning row', () => {
    const c = loadConfig({
      ...minimal,
      NATS_URL: 'nats://10.0.0.1:4222, tls://nats.example:4222',
      NATS_STREAM: 'TICKS_A',
      NATS_MAX_AGE_S: '3600',
      NATS_MAX_IN_FLIGHT: '100',
      NATS_ACK_TIMEOUT_MS: '2000',
      NATS_RECONNECT_BASE_MS: '100',
      NATS_RECONNECT_MAX_MS: '1000',
      NATS_PING_INTERVAL_MS: '1000',
      HA_GROUP: 'desk-1',
      HA_INSTANCE: 'box-a',
      HA_LEASE_TTL_S: '6',
    });
    assert.deepEqual(c.nats, {
      servers: ['nats://10.0.0.1:4222', 'tls://nats.example:4222'],
      stream: 'TICKS_A',
      maxAgeS: 3600,
      maxInFlight: 100,
      ackTimeoutMs: 2000,
      reconnectBaseMs: 100,
      reconnectMaxMs: 1000,
      pingIntervalMs: 1000,
    });
    assert.deepEqual(c.ha, { group: 'desk-1', instance: 'box-a', leaseTtlMs: 6000 });
  });

  it('HA_GROUP without NATS_URL is a configuration error that says what to set', () => {
    const p = problems({ HA_GROUP: 'desk-1' });
    assert.equal(p.length, 1);
    assert.match(p[0], /HA_GROUP needs NATS_URL/);
    assert.match(p[0], /NATS_URL=nats:\/\//);
  });

  it('names every bad row at once, without printing credentials in a URL', () => {
    const p = problems({
      NATS_URL: 'http://user:secret@h:4222,nats://ok:4222',
      NATS_STREAM: 'a.b',
      NATS_MAX_AGE_S: '0',
      HA_GROUP: 'has space',
      HA_LEASE_TTL_S: '1000',
      NATS_RECONNECT_BASE_MS: '9000',
    });
    const text = p.join('\n');
    for (const name of ['NATS_URL', 'NATS_STREAM', 'NATS_MAX_AGE_S', 'HA_GROUP', 'HA_LEASE_TTL_S', 'NATS_RECONNECT_MAX_MS']) {
      assert.match(text, new RegExp(name), `${name} is named`);
    }
    assert.doesNotMatch(text, /secret/);
    assert.match(text, /<credentials>/);
  });
});
