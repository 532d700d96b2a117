/**
 * A dead feed found in seconds, a quiet market left alone: the whole service (in process) against
 * the simulator's dead and garbage sockets, read through /state, /ready and the logs.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { type Service, startService } from '../../src/service.js';
import { type Simulator, type SimulatorOptions, startSimulator } from '../../src/sim/index.js';
import { observeFor, until } from '../helpers/poll.js';
import { freePort } from '../helpers/ports.js';
import { EQ, EQ2, INDEX } from '../helpers/sim-fixtures.js';

interface Running {
  sim: Simulator;
  svc: Service;
  logs: Array<{ msg: string; [k: string]: unknown }>;
  connection(): { value: unknown; context: Record<string, unknown> };
  ready(): Promise<{ status: number; body: { reasons?: string[] } }>;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function start(simOpts: SimulatorOptions, env: Record<string, string> = {}): Promise<Running> {
  const sim = await startSimulator({ updatesPerSecond: 200, frameIntervalMs: 20, ...simOpts });
  cleanups.push(() => sim.close());
  const dir = mkdtempSync(join(tmpdir(), 'tickpipe-liveness-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const config = loadConfig({
    UPSTOX_API_URL: sim.apiUrl,
    INSTRUMENT_MASTER_URL: sim.instrumentFileUrl,
    UPSTOX_ACCESS_TOKEN: sim.token,
    INSTRUMENTS: [EQ, EQ2, INDEX].join(','),
    SPOOL_PATH: join(dir, 'spool.db'),
    HTTP_PORT: String(await freePort()),
    ...env,
  });
  const logs: Running['logs'] = [];
  const logger = createLogger('info', { write: (s: string) => void logs.push(JSON.parse(s) as Running['logs'][number]) });
  const svc = await startService(config, { logger });
  cleanups.push(() => svc.stop());
  return {
    sim,
    svc,
    logs,
    connection: () => svc.state().actors.connection,
    async ready() {
      const res = await fetch(`${svc.url}/ready`);
      return { status: res.status, body: (await res.json()) as { reasons?: string[] } };
    },
  };
}

const streaming = (r: Running, what = 'streaming') => until(what, () => r.connection().value === 'streaming', { timeoutMs: 10_000 });
const logged = (r: Running, pattern: RegExp) => r.logs.some((l) => pattern.test(JSON.stringify(l)));

describe('feed liveness against the simulator', { timeout: 60_000 }, () => {
  it('replaces a socket that answers no pings within 15 s, with the default settings', async (t) => {
    // Server pings far apart: only the client's own pings can tell a dead socket from a quiet one.
    const r = await start({ pingIntervalMs: 60_000 });
    await streaming(r);
    await until('ticks flowing', () => r.svc.stats.updatesReceived > 50);
    const t0 = Date.now();
    assert.equal(r.sim.goDead(), 1);
    await until('a second socket, streaming', () => r.sim.stats().connections === 2 && r.connection().value === 'streaming', {
      timeoutMs: 20_000,
    });
    const took = Date.now() - t0;
    t.diagnostic(`dead socket replaced (streaming again) ${took} ms after it died`);
    assert.ok(took < 15_000, `dead socket replaced after ${took} ms`);
    assert.ok(logged(r, /FEED_PONG_TIMEOUT|no answer to a ping within 5000 ms/), 'the reason is logged');
    assert.equal(r.connection().context['reconnects'], 1);
  });

  it('a socket sending only undecodable frames goes stale: decodeErrors counted, /ready 503 with the reason', async () => {
    const r = await start({ pingIntervalMs: 100 }, { STALE_FEED_MS: '1500', RECONNECT_BASE_MS: '100', RECONNECT_MAX_MS: '500' });
    await streaming(r);
    assert.equal((await r.ready()).status, 200);
    r.sim.sendGarbage(true);
    await until('stale', () => logged(r, /none decodes/), { timeoutMs: 10_000 });
    assert.ok(r.svc.stats.decodeErrors > 10, `decodeErrors ${r.svc.stats.decodeErrors}`);
    const ready = await r.ready();
    assert.equal(ready.status, 503);
    assert.match(ready.body.reasons?.join('; ') ?? '', /no frame decoded|frames arrive, but none decodes|not streaming/);
    r.sim.sendGarbage(false);
    await streaming(r, 'streaming again once frames decode');
    await until('ready again', async () => (await r.ready()).status === 200, { timeoutMs: 5000 });
  });

  it('a quiet closed market with answered pings is not a dead socket: no reconnect loop', async () => {
    const r = await start(
      { marketStatus: { NSE_EQ: 'NORMAL_CLOSE', NSE_INDEX: 'NORMAL_CLOSE' }, pingIntervalMs: 60_000 },
      { STALE_FEED_MS: '300', STALE_FEED_CLOSED_MS: '600', FEED_PING_INTERVAL_MS: '200', FEED_PONG_TIMEOUT_MS: '200' },
    );
    await streaming(r);
    // Five closed-market stale limits without a frame or a server ping; our pings are answered.
    await observeFor(3000);
    assert.equal(r.sim.stats().connections, 1);
    assert.equal(r.connection().value, 'streaming');
    assert.equal((await r.ready()).status, 200, 'a closed market is not a readiness problem');
  });

  it('/ready is 503 when instruments are configured but the subscription is empty', async () => {
    const r = await start({ pingIntervalMs: 500 });
    await streaming(r);
    assert.equal((await r.ready()).status, 200);
    const res = await fetch(`${r.svc.url}/subscriptions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ remove: [EQ, EQ2, INDEX] }),
    });
    assert.equal(res.status, 200, await res.text());
    const ready = await r.ready();
    assert.equal(ready.status, 503);
    assert.match(ready.body.reasons?.join('; ') ?? '', /subscription is empty although instruments are configured/);
  });
});
