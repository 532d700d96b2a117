/**
 * InfluxDB settings InfluxDB would refuse for every request are configuration errors at
 * start, naming the setting, rather than a 400 for every write at run time; and the new storage
 * settings have their documented defaults.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';
import { isLineError } from '../../src/influx/write-client.js';

const minimal = { UPSTOX_ACCESS_TOKEN: 'tok-123456', INSTRUMENTS: 'NSE_EQ|INE002A01018' };
const influx = { INFLUX_URL: 'http://127.0.0.1:8086', INFLUX_TOKEN: 't', INFLUX_ORG: 'o', INFLUX_BUCKET: 'b' };

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return [...err.problems];
  }
  assert.fail('expected a ConfigError');
}

describe('config: InfluxDB settings', () => {
  for (const name of ['INFLUX_ORG', 'INFLUX_BUCKET', 'INFLUX_TOKEN']) {
    it(`INFLUX_URL without ${name} is a configuration error naming it`, () => {
      const env: Record<string, string> = { ...minimal, ...influx };
      delete env[name];
      const p = problems(env);
      assert.equal(p.length, 1, p.join('\n'));
      assert.ok(p[0].startsWith(`INFLUX_URL is set but ${name}`), p[0]);
    });
  }

  it('the aliases count (INFLUX_DB_ORG, INFLUX_BUCKET_NAME, INFLUX_DB_TOKEN)', () => {
    const c = loadConfig({
      ...minimal,
      INFLUX_DB_URL: influx.INFLUX_URL,
      INFLUX_DB_ORG: 'o',
      INFLUX_BUCKET_NAME: 'b',
      INFLUX_DB_TOKEN: 't',
    });
    assert.equal(c.influx.org, 'o');
  });

  it('without INFLUX_URL nothing else is required (points wait in the spool)', () => {
    assert.equal(loadConfig(minimal).influx.url, undefined);
  });

  for (const tag of ['time', '_field', '_measurement', '_start']) {
    it(`INFLUX_EXTRA_TAGS with the reserved name ${tag} is refused at start`, () => {
      const p = problems({ ...minimal, ...influx, INFLUX_EXTRA_TAGS: `host=a,${tag}=x` });
      assert.equal(p.length, 1);
      assert.ok(p[0].includes(JSON.stringify(tag)) && p[0].includes('reserved by InfluxDB'), p[0]);
    });
  }

  it('new storage settings: defaults and overrides', () => {
    const c = loadConfig({ ...minimal, ...influx });
    assert.equal(c.influx.split5xxAfter, 3);
    assert.equal(c.influx.writeLanes, 2);
    assert.equal(c.spool.memoryMaxPoints, 500_000);
    assert.equal(c.spool.lockTimeoutMs, 30_000);
    assert.equal(c.spool.deadLetterMax, 100_000);
    const d = loadConfig({
      ...minimal,
      INFLUX_5XX_SPLIT_AFTER: '5',
      SPOOL_MEMORY_MAX_POINTS: '1000',
      SPOOL_LOCK_TIMEOUT_S: '0',
      DEAD_LETTER_MAX: '10',
      INFLUX_WRITE_LANES: '1',
    });
    assert.deepEqual(
      [d.influx.split5xxAfter, d.spool.memoryMaxPoints, d.spool.lockTimeoutMs, d.spool.deadLetterMax, d.influx.writeLanes],
      [5, 1000, 0, 10, 1],
    );
    assert.ok(
      problems({ ...minimal, INFLUX_WRITE_LANES: '0' }).some((p) =>
        p.includes('INFLUX_WRITE_LANES="0" is not a whole number between 1 and 16'),
      ),
    );
  });
});

describe('a 400 about lines, or about the request', () => {
  it('line errors of InfluxDB 1.x, 2.x and 3 are line errors', () => {
    for (const m of [
      "unable to parse 'tick,instrument_key=X ltp=': missing field value",
      'failed to parse line protocol: errors encountered on line(s):\nline 2: invalid field format',
      'partial write: field type conflict: input field "ltp" on measurement "tick" is type integer, already exists as type float dropped=1',
      'partial write: points beyond retention policy dropped=3',
      'parsing failed for write_lp endpoint',
    ])
      assert.ok(isLineError(m), m);
  });
  it('request errors are not', () => {
    for (const m of ['Please provide either orgID or org', 'invalid precision "xs"', 'bucket id is invalid', 'no token was sent'])
      assert.ok(!isLineError(m), m);
  });
});
