/**
 * The real service (`node dist/src/main.js`) at LOG_LEVEL=debug, configured with secrets
 * everywhere (the Upstox token, API_TOKEN, INFLUX_TOKEN, a NOTIFY_URL with credentials and a
 * secret path), used the way clients use it (?token= on websockets, Bearer on HTTP, a
 * notification sent): none of the secrets appears in its log, /state, /metrics or /inspect, and
 * the notification arrived with the credentials as a Basic Authorization header. Then the flood
 * of the flood against it: a /ticks client that stops reading and sends subscribe messages full of
 * junk keys is closed, and the service's RSS stays bounded.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { type NotifyReceiver, startNotifyReceiver } from '../helpers/notify-receiver.js';
import { until } from '../helpers/poll.js';
import { freePort } from '../helpers/ports.js';
import { type ServiceProcess, startServiceProcess } from '../helpers/service-process.js';
import { type TestStore, startTestStore } from '../helpers/test-store.js';

const UPSTOX_TOKEN = 'upstox-analytics-7Hq2LmZpR4vX9';
const API_TOKEN = 'api-token-Kd83hs92LqPz0w';
const INFLUX_TOKEN = 'influx-token-Zx81Qw7Rt6Yp5';
const HOOK_USER = 'hookuser';
const HOOK_PASS = 'h00kPassw0rd-77';
const HOOK_PATH = '/services/T0SECRET/B0SECRET/xoxbSecretPathSegment1234';
const KEYS = ['NSE_EQ|INE002A01018', 'NSE_INDEX|Nifty Bank'];

/** Resident set size of a process, in bytes (Linux). */
function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

function openTicks(url: string): Promise<{ ws: WebSocket; closed: () => { code: number } | null }> {
  const ws = new WebSocket(url);
  let closed: { code: number } | null = null;
  ws.on('close', (code) => (closed = { code }));
  ws.on('error', () => undefined);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, closed: () => closed }));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

describe('secrets stay in, a flood stays bounded (real service)', { timeout: 120_000 }, () => {
  let vm: TestStore;
  let sim: Simulator;
  let receiver: NotifyReceiver;
  let svc: ServiceProcess;
  let dir: string;
  let wsBase: string;

  before(async () => {
    [vm, sim, receiver] = await Promise.all([
      startTestStore(),
      startSimulator({ updatesPerSecond: 200, frameIntervalMs: 50, pingIntervalMs: 500, seed: 3, token: UPSTOX_TOKEN }),
      startNotifyReceiver(),
    ]);
    dir = mkdtempSync(join(tmpdir(), 'tickpipe-secrets-'));
    const hook = new URL(receiver.url);
    const port = String(await freePort());
    svc = startServiceProcess({
      UPSTOX_API_URL: sim.apiUrl,
      INSTRUMENT_MASTER_URL: sim.instrumentFileUrl,
      UPSTOX_ACCESS_TOKEN: UPSTOX_TOKEN,
      INSTRUMENTS: KEYS.join(','),
      ...vm.influxEnv,
      INFLUX_TOKEN,
      SPOOL_PATH: join(dir, 'spool.db'),
      HTTP_PORT: port,
      API_TOKEN,
      NOTIFY_URL: `http://${HOOK_USER}:${HOOK_PASS}@${hook.host}${HOOK_PATH}`,
      NOTIFY_INTERVAL_S: '1',
      FLUSH_INTERVAL_MS: '200',
      LOG_LEVEL: 'debug',
    });
    wsBase = `ws://127.0.0.1:${port}`;
    await svc.waitForState('streaming', (s) => JSON.stringify(s.actors.connection.value).includes('streaming'), 30_000);
  });

  after(async () => {
    await svc?.stop('SIGKILL');
    await Promise.all([vm?.close(), sim?.close(), receiver?.close()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('sends the NOTIFY_URL credentials as Basic auth and shows no secret in logs, /state, /metrics or /inspect', async () => {
    // Use every secret the way clients do, so each has a chance to be logged.
    const ticks = await openTicks(`${wsBase}/ticks?keys=*&token=${API_TOKEN}`);
    await assert.rejects(openTicks(`${wsBase}/ticks?token=wrong-${API_TOKEN}`), /401/);
    const inspect = new WebSocket(`${wsBase}/inspect?token=${API_TOKEN}`);
    const events: string[] = [];
    inspect.on('message', (d: Buffer) => events.push(d.toString()));
    await until('inspection events', () => events.length > 10);
    const post = await fetch(`${svc.baseUrl}/subscriptions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ mode: 'full' }),
    });
    assert.equal(post.status, 200);
    await until('a notification', () => receiver.received.length > 0, { timeoutMs: 30_000 });
    const basic = `Basic ${Buffer.from(`${HOOK_USER}:${HOOK_PASS}`).toString('base64')}`;
    assert.equal(receiver.authorizations[0], basic, 'credentials sent as Basic auth');

    const state = await (await fetch(`${svc.baseUrl}/state`)).text();
    const metrics = await (await fetch(`${svc.baseUrl}/metrics`)).text();
    ticks.ws.terminate();
    inspect.terminate();
    await until('the request log line of /ticks', () => svc.output().includes('token=[redacted]'));
    const places = { log: svc.output(), state, metrics, inspect: events.join('\n') };
    const secrets = [UPSTOX_TOKEN, API_TOKEN, INFLUX_TOKEN, HOOK_USER, HOOK_PASS, HOOK_PATH, 'xoxbSecretPathSegment1234', basic.slice(6)];
    for (const [where, text] of Object.entries(places)) {
      assert.ok(text.length > 100, `${where} has content`);
      for (const secret of secrets) assert.ok(!text.includes(secret), `${where} shows ${secret}`);
    }
    assert.match(places.log, /"url":"\/inspect\?token=\[redacted\]"/, 'the request log (at debug) shows the query, token hidden');
  });

  it('repeats the flood: a non-reading client sending junk subscribes is closed, RSS bounded', async () => {
    const pid = svc.child.pid!;
    const baseline = rssOf(pid);
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, rssOf(pid))), 50);
    try {
      // 1. The issue's messages: 22,000 keys, 153 KB each, 60 of them (over both limits).
      const big = JSON.stringify({ action: 'subscribe', keys: Array.from({ length: 22_000 }, (_, i) => `NSE_EQ|J${i}`) });
      assert.ok(big.length > 150_000);
      const a = await openTicks(`${wsBase}/ticks?token=${API_TOKEN}`);
      (a.ws as any)._socket.pause();
      for (let i = 0; i < 60; i++) a.ws.send(big);
      // 2. Within the limits (3,000 keys, 45 KB), one good key each, so each gets an ack.
      const small = JSON.stringify({ action: 'subscribe', keys: [KEYS[0], ...Array.from({ length: 3000 }, (_, i) => `NSE_EQ|J${i}`)] });
      const b = await openTicks(`${wsBase}/ticks?token=${API_TOKEN}`);
      (b.ws as any)._socket.pause();
      let sent = 0;
      await until(
        'the non-reading client dropped',
        async () => {
          const s = await svc.state();
          if (s.stats.wsClientsDropped > 0) return true;
          for (let i = 0; i < 50 && sent < 5000 && b.ws.bufferedAmount < 4 << 20; i++, sent++) b.ws.send(small);
          return false;
        },
        { timeoutMs: 60_000, intervalMs: 20 },
      );
      (a.ws as any)._socket.resume();
      (b.ws as any)._socket.resume();
      await until('both closed', () => a.closed() && b.closed(), { timeoutMs: 10_000 });
      assert.equal(a.closed()!.code, 1008, 'bad messages: policy violation');
      assert.ok([4008, 1006].includes(b.closed()!.code), `replies piled up: closed as slow (${b.closed()!.code})`);
      assert.ok(sent < 5000, `dropped after ${sent} messages`);
    } finally {
      clearInterval(sampler);
    }
    const grew = (peak - baseline) / 2 ** 20;
    console.log(`flood: RSS ${Math.round(baseline / 2 ** 20)} MB → peak ${Math.round(peak / 2 ** 20)} MB (+${grew.toFixed(1)} MB)`);
    // What the flood leaves behind is garbage of the messages it parsed (up to ~60 MB before V8
    // collects it), not a queue: the replies waiting for it are at most 64.
    assert.ok(grew < 100, `RSS grew ${grew.toFixed(1)} MB (before the fix: +171 MB, and the client was never closed)`);
    const health = await fetch(`${svc.baseUrl}/health`);
    assert.equal(health.status, 200);
  });
});
