import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { MasterStore, type MasterStoreOptions } from '../../src/instruments/master-store.js';
import { RELIANCE_KEY, masterGzip } from '../helpers/master-fixture.js';

const ist = (s: string) => Date.parse(`${s}+05:30`);

describe('instrument master store (cache beside the spool, download, failure keeps the copy)', () => {
  let dir: string;
  let server: Server;
  let url: string;
  let requests = 0;
  let answer: { status: number; body: Buffer } = { status: 200, body: Buffer.alloc(0) };
  const logs: Array<{ level: string; msg: string; o: object }> = [];
  const gz = masterGzip({ expiries: ['2026-12-01'], strikesEachSide: 2 });

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tickpipe-master-'));
    requests = 0;
    logs.length = 0;
    answer = { status: 200, body: gz };
    server = createServer((_req, res) => {
      requests++;
      res.writeHead(answer.status, { 'content-type': 'application/gzip' }).end(answer.body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/instruments/complete.json.gz`;
  });
  afterEach(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  const store = (over: Partial<MasterStoreOptions> = {}) =>
    new MasterStore({
      url,
      dir,
      downloadTimeoutMs: 5000,
      log: {
        info: (o, msg) => logs.push({ level: 'info', msg, o }),
        warn: (o, msg) => logs.push({ level: 'warn', msg, o }),
      },
      ...over,
    });

  it('downloads when there is no cache, keeps the copy beside the spool and is fresh', async () => {
    const s = store();
    assert.equal(s.status().state, 'loading');
    assert.deepEqual(await s.start(), { needsRefresh: false });
    assert.equal(requests, 1);
    assert.deepEqual(readFileSync(s.cachePath), gz);
    const st = s.status();
    assert.equal(st.state, 'fresh');
    assert.equal(st.instruments, 7 + 20);
    assert.equal(s.current?.symbolOf(RELIANCE_KEY), 'RELIANCE');
    assert.ok(logs.some((l) => l.msg === 'instrument master downloaded'));
  });

  it("uses today's cached copy without a request", async () => {
    await store().start();
    const s = store();
    assert.deepEqual(await s.start(), { needsRefresh: false });
    assert.equal(requests, 1);
    assert.equal(s.status().state, 'fresh');
    assert.ok(logs.some((l) => l.msg === 'instrument master loaded from cache'));
  });

  it("starts on yesterday's copy at once; a failed refresh keeps it, says why, and the state is stale", async () => {
    await store().start();
    const now = ist('2026-11-27T09:00:00');
    utimesSync(join(dir, 'instrument-master.json.gz'), new Date(now - 86_400_000), new Date(now - 86_400_000));
    const s = store({ now: () => now });
    answer = { status: 503, body: Buffer.from('maintenance') };
    assert.deepEqual(await s.start(), { needsRefresh: true });
    assert.equal(requests, 1, 'start itself did not wait for a download');
    assert.equal(s.status().state, 'stale');
    await assert.rejects(s.refresh(), { code: 'MASTER_FETCH_FAILED', message: /INSTRUMENT_MASTER_URL answered 503/ });
    const st = s.status();
    assert.equal(st.state, 'stale');
    assert.equal(st.instruments, 27);
    assert.match(st.lastError?.message ?? '', /answered 503/);
    assert.ok(logs.some((l) => l.level === 'warn' && l.msg === 'instrument master download failed; keeping the cached copy'));
    assert.deepEqual(readFileSync(s.cachePath), gz, 'the cache is untouched');
  });

  it('without a cache, a failed download leaves the master unavailable, saying why', async () => {
    answer = { status: 404, body: Buffer.from('no such file') };
    const s = store();
    await s.start();
    const st = s.status();
    assert.equal(st.state, 'unavailable');
    assert.equal(s.current, undefined);
    assert.match(st.lastError?.message ?? '', /answered 404/);
    assert.ok(logs.some((l) => l.level === 'warn' && l.msg === 'instrument master download failed; no copy to fall back on'));
  });

  it('a truncated download is rejected before it replaces the cached copy', async () => {
    await store().start();
    answer = { status: 200, body: gz.subarray(0, Math.floor(gz.length / 2)) };
    const s = store();
    await s.start();
    await assert.rejects(s.refresh(), { code: 'MASTER_INVALID' });
    assert.deepEqual(readFileSync(s.cachePath), gz);
    assert.equal(s.current?.size, 27);
  });

  it('an unreachable URL is a clear error', async () => {
    const s = store({ url: 'http://127.0.0.1:9/complete.json.gz' });
    await s.start();
    assert.match(s.status().lastError?.message ?? '', /INSTRUMENT_MASTER_URL is unreachable/);
  });

  it('an unreadable cache is downloaded again', async () => {
    writeFileSync(join(dir, 'instrument-master.json.gz'), 'not gzip');
    const s = store();
    await s.start();
    assert.equal(requests, 1);
    assert.equal(s.status().state, 'fresh');
  });
});
