import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig, withEnvFile } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';

const minimal = { UPSTOX_ACCESS_TOKEN: 'tok-123456', INSTRUMENTS: 'NSE_EQ|INE002A01018' };

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.code, 'CONFIG_INVALID');
    return [...err.problems];
  }
  assert.fail('expected a ConfigError');
}

describe('config', () => {
  it('applies the contract defaults', () => {
    const c = loadConfig(minimal);
    assert.equal(c.upstox.apiUrl, 'https://api.upstox.com');
    assert.equal(c.upstox.feedMode, 'full');
    assert.equal(c.spool.path, './data/spool.db');
    assert.equal(c.notify.intervalS, 60);
    assert.equal(c.notify.retryS, 50);
    assert.equal(c.http.host, '127.0.0.1');
    assert.equal(c.http.port, 3000);
    assert.equal(c.logLevel, 'info');
    assert.equal(c.influx.url, undefined);
    assert.deepEqual(c.upstox.limits.full, { alone: 2000, combined: 1500 });
    assert.ok(Object.isFrozen(c.upstox.limits.full), 'config is frozen all the way down');
    // A dead socket is found within ping interval + pong timeout: 10 s, under the 15 s promised.
    assert.equal(c.upstox.pingIntervalMs, 5000);
    assert.equal(c.upstox.pongTimeoutMs, 5000);
  });

  it('takes the feed ping settings, and refuses nonsense', () => {
    const c = loadConfig({ ...minimal, FEED_PING_INTERVAL_MS: '2000', FEED_PONG_TIMEOUT_MS: '3000' });
    assert.equal(c.upstox.pingIntervalMs, 2000);
    assert.equal(c.upstox.pongTimeoutMs, 3000);
    const p = problems({ ...minimal, FEED_PING_INTERVAL_MS: 'often', FEED_PONG_TIMEOUT_MS: '5' });
    assert.ok(
      p.some((m) => m.startsWith('FEED_PING_INTERVAL_MS="often"')),
      p.join('\n'),
    );
    assert.ok(
      p.some((m) => m.startsWith('FEED_PONG_TIMEOUT_MS="5"')),
      p.join('\n'),
    );
  });

  it('accepts every TradeDataFeed name as an alias', () => {
    const c = loadConfig({
      ACCESS_TOKEN: 'legacy-token',
      API_FETCH_TOKEN: 'http://127.0.0.1:9/token',
      INSTRUMENTS_LIST: 'NSE_EQ|INE002A01018, NSE_INDEX|Nifty Bank',
      GET_INSTRUMENTS_URL: 'http://127.0.0.1:9/instruments',
      INFLUX_DB_URL: 'http://127.0.0.1:8086/',
      INFLUX_DB_TOKEN: 'influx-secret',
      INFLUX_DB_ORG: 'org',
      INFLUX_BUCKET_NAME: 'bucket',
      DATA_FEED_UPDATE_URL: 'http://127.0.0.1:9/notify',
      NOTIFICATION_SLEEP_TIME: '30',
      NOTIFICATION_WAIT_TIME: '5',
    });
    assert.equal(c.upstox.accessToken, 'legacy-token');
    assert.equal(c.upstox.tokenUrl, 'http://127.0.0.1:9/token');
    assert.deepEqual(c.upstox.instruments, ['NSE_EQ|INE002A01018', 'NSE_INDEX|Nifty Bank']);
    assert.equal(c.upstox.instrumentsUrl, 'http://127.0.0.1:9/instruments');
    assert.equal(c.influx.url, 'http://127.0.0.1:8086', 'trailing slash trimmed');
    assert.equal(c.influx.token, 'influx-secret');
    assert.equal(c.influx.org, 'org');
    assert.equal(c.influx.bucket, 'bucket');
    assert.equal(c.notify.url, 'http://127.0.0.1:9/notify');
    assert.equal(c.notify.intervalS, 30);
    assert.equal(c.notify.retryS, 5);
  });

  it('prefers the new name over the alias', () => {
    const c = loadConfig({ ...minimal, ACCESS_TOKEN: 'old', UPSTOX_ACCESS_TOKEN: 'new' });
    assert.equal(c.upstox.accessToken, 'new');
  });

  it('lists every problem at once, naming the setting, the value and the fix', () => {
    const p = problems({ INSTRUMENTS: 'RELIANCE', FEED_MODE: 'fast', HTTP_PORT: '70000', INFLUX_URL: 'localhost:8086' });
    assert.ok(
      p.some((m) => m.includes('UPSTOX_ACCESS_TOKEN') && m.includes('UPSTOX_TOKEN_URL')),
      'missing token named',
    );
    assert.ok(p.some((m) => m.includes('INSTRUMENTS') && m.includes('RELIANCE') && m.includes('SEGMENT|id')));
    assert.ok(p.some((m) => m.includes('FEED_MODE="fast"') && m.includes('ltpc, full, option_greeks, full_d30')));
    assert.ok(p.some((m) => m.includes('HTTP_PORT="70000"') && m.includes('65535')));
    assert.ok(p.some((m) => m.startsWith('INFLUX_URL=') && m.includes('http://')));
    assert.equal(p.length, 5);
  });

  it('needs instruments from one of the two settings', () => {
    const p = problems({ UPSTOX_ACCESS_TOKEN: 'x' });
    assert.equal(p.length, 1);
    assert.match(p[0], /INSTRUMENTS.*INSTRUMENTS_URL/);
  });

  it('instrument master and option chains: defaults, names in INSTRUMENTS, chains without INSTRUMENTS', () => {
    const d = loadConfig(minimal);
    assert.equal(d.master.url, 'https://assets.upstox.com/market-quote/instruments/exchange/complete.json.gz');
    assert.equal(d.master.refreshIst, '08:30');
    assert.deepEqual(d.chains, { specs: [], mode: 'option_greeks' });
    const c = loadConfig({
      UPSTOX_ACCESS_TOKEN: 'x',
      INSTRUMENTS: 'NSE_EQ:RELIANCE, nse_index:Nifty Bank, NSE_EQ|INE002A01018',
      INSTRUMENT_MASTER_URL: 'http://127.0.0.1:9/instruments/complete.json.gz',
      MASTER_REFRESH_IST: '07:05',
      OPTION_CHAINS: 'NIFTY:10,BANKNIFTY:5:next2',
      OPTION_CHAIN_MODE: 'full',
    });
    assert.deepEqual(c.upstox.instruments, ['NSE_EQ:RELIANCE', 'nse_index:Nifty Bank', 'NSE_EQ|INE002A01018']);
    assert.equal(c.master.url, 'http://127.0.0.1:9/instruments/complete.json.gz');
    assert.equal(c.master.refreshIst, '07:05');
    assert.deepEqual(c.chains.specs, [
      { underlying: 'NIFTY', n: 10, expiry: 'next' },
      { underlying: 'BANKNIFTY', n: 5, expiry: 'next2' },
    ]);
    assert.equal(c.chains.mode, 'full');
    assert.deepEqual(loadConfig({ UPSTOX_ACCESS_TOKEN: 'x', OPTION_CHAINS: 'NIFTY:3' }).upstox.instruments, undefined);
  });

  it('names each bad instrument-master and chain setting', () => {
    const p = problems({
      INSTRUMENTS: 'NSE_EQ|A',
      INSTRUMENT_MASTER_URL: 'ftp://x/complete.json.gz',
      MASTER_REFRESH_IST: '8:30',
      OPTION_CHAINS: 'NIFTY:ten',
      OPTION_CHAIN_MODE: 'greeks',
    });
    assert.equal(p.length, 5);
    assert.ok(p.some((m) => m.startsWith('INSTRUMENT_MASTER_URL=') && m.includes('https://')));
    assert.ok(p.some((m) => m.includes('MASTER_REFRESH_IST="8:30" is not HH:MM')));
    assert.ok(p.some((m) => m.includes('OPTION_CHAINS entry "NIFTY:ten"') && m.includes('NIFTY:10')));
    assert.ok(p.some((m) => m.includes('OPTION_CHAIN_MODE="greeks"')));
  });

  it('never prints a secret', () => {
    const secret = 'super-secret-token-value';
    // A secret in a URL-typed slot would be echoed by a naive message; ours are not URL-typed,
    // so check the error text of a whole broken config does not contain it anywhere.
    try {
      loadConfig({ UPSTOX_ACCESS_TOKEN: secret, API_TOKEN: secret, INFLUX_TOKEN: secret, HTTP_PORT: 'x' });
      assert.fail('expected an error');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.ok(!err.message.includes(secret));
    }
  });

  it('reads .env under the real environment', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tickpipe-env-'));
    const file = join(dir, '.env');
    writeFileSync(file, '# comment\nINSTRUMENTS="NSE_EQ|A1,NSE_EQ|B2"\nUPSTOX_ACCESS_TOKEN=from-file\nHTTP_PORT=4001\n');
    const env = withEnvFile({ UPSTOX_ACCESS_TOKEN: 'from-env' }, file);
    const c = loadConfig(env);
    assert.equal(c.upstox.accessToken, 'from-env', 'the environment wins');
    assert.deepEqual(c.upstox.instruments, ['NSE_EQ|A1', 'NSE_EQ|B2']);
    assert.equal(c.http.port, 4001);
    assert.deepEqual(withEnvFile({ A: '1' }, join(dir, 'missing.env')), { A: '1' });
  });

  it('takes a JSON array of instruments, as TradeDataFeed did', () => {
    const c = loadConfig({ UPSTOX_ACCESS_TOKEN: 'x', INSTRUMENTS_LIST: '["NSE_EQ|A1","NSE_INDEX|Nifty 50"]' });
    assert.deepEqual(c.upstox.instruments, ['NSE_EQ|A1', 'NSE_INDEX|Nifty 50']);
  });
});

describe('config: the hardening settings', () => {
  it('defaults to no extra origins or hosts and 256 websocket clients', () => {
    const c = loadConfig(minimal);
    assert.deepEqual(c.http.allowedOrigins, []);
    assert.deepEqual(c.http.allowedHosts, []);
    assert.equal(c.http.wsMaxClients, 256);
  });

  it('normalises ALLOWED_ORIGINS and ALLOWED_HOSTS', () => {
    const c = loadConfig({
      ...minimal,
      ALLOWED_ORIGINS: 'http://Dash.LAN:8080/, https://grafana.example',
      ALLOWED_HOSTS: 'TickPipe.lan, tickpipe',
      WS_MAX_CLIENTS: '10',
    });
    assert.deepEqual(c.http.allowedOrigins, ['http://dash.lan:8080', 'https://grafana.example']);
    assert.deepEqual(c.http.allowedHosts, ['tickpipe.lan', 'tickpipe']);
    assert.equal(c.http.wsMaxClients, 10);
  });

  it('names each bad entry and how to write it', () => {
    const p = problems({
      ...minimal,
      ALLOWED_ORIGINS: 'dash.lan,http://ok.lan,http://x.lan/path',
      ALLOWED_HOSTS: 'http://a.lan,b.lan:80',
      WS_MAX_CLIENTS: '0',
    });
    assert.ok(p.some((m) => m.includes('ALLOWED_ORIGINS') && m.includes('"dash.lan"') && m.includes('scheme://host[:port]')));
    assert.ok(p.some((m) => m.includes('ALLOWED_ORIGINS') && m.includes('"http://x.lan/path"')));
    assert.ok(p.some((m) => m.includes('ALLOWED_HOSTS') && m.includes('"http://a.lan"') && m.includes('without scheme or port')));
    assert.ok(p.some((m) => m.includes('ALLOWED_HOSTS') && m.includes('"b.lan:80"')));
    assert.ok(p.some((m) => m.startsWith('WS_MAX_CLIENTS="0"')));
    assert.equal(p.length, 5);
  });
});
