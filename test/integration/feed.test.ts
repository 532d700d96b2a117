/**
 * The real connection actor and feed socket against the real simulator over loopback sockets.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { pino } from 'pino';
import { waitFor } from 'xstate';
import { type Config, loadConfig } from '../../src/config.js';
import { type Simulator, type SimulatorOptions, startSimulator } from '../../src/sim/index.js';
import { Stats } from '../../src/stats.js';
import { connectionInput, provideConnection } from '../../src/upstox/connection-impl.js';
import type { DecodedFrame } from '../../src/upstox/feed-types.js';
import { TokenSource } from '../../src/upstox/token-source.js';
import { harness } from '../helpers/parent-harness.js';
import { observeFor, until } from '../helpers/poll.js';
import { EQ, EQ2, INDEX } from '../helpers/sim-fixtures.js';

interface Running {
  sim: Simulator;
  stats: Stats;
  frames: DecodedFrame[];
  updatesByKey: Map<string, number>;
  value(): string;
  context(): any;
  actor(): any;
  stop(): Promise<void>;
}

const running: Running[] = [];
afterEach(async () => {
  while (running.length) await running.pop()!.stop();
});

async function startFeed(simOpts: SimulatorOptions = {}, env: Record<string, string> = {}, useTokenUrl = false): Promise<Running> {
  const sim = await startSimulator({ updatesPerSecond: 500, frameIntervalMs: 10, pingIntervalMs: 50, ...simOpts });
  const config: Config = loadConfig({
    UPSTOX_API_URL: sim.apiUrl,
    INSTRUMENT_MASTER_URL: sim.instrumentFileUrl,
    ...(useTokenUrl ? { UPSTOX_TOKEN_URL: sim.tokenUrl } : { UPSTOX_ACCESS_TOKEN: sim.token }),
    INSTRUMENTS: [EQ, EQ2, INDEX].join(','),
    RECONNECT_BASE_MS: '20',
    RECONNECT_MAX_MS: '200',
    STALE_FEED_MS: '500',
    STALE_FEED_CLOSED_MS: '5000',
    ...env,
  });
  const stats = new Stats();
  const frames: DecodedFrame[] = [];
  const updatesByKey = new Map<string, number>();
  const logic = provideConnection({
    config: config.upstox,
    tokenSource: new TokenSource(config.upstox.accessToken, config.upstox.tokenUrl, 2000),
    sink: {
      frame(f) {
        frames.push(f);
        for (const u of f.updates) updatesByKey.set(u.key, (updatesByKey.get(u.key) ?? 0) + 1);
      },
    },
    stats,
    logger: pino({ level: 'silent' }),
  });
  const h = harness(logic, connectionInput(config.upstox), { systemId: 'connection' });
  const r: Running = {
    sim,
    stats,
    frames,
    updatesByKey,
    value: () => JSON.stringify(h.child()?.getSnapshot().value),
    context: () => h.child().getSnapshot().context,
    actor: () => h.child(),
    stop: async () => {
      h.stop();
      await sim.close();
    },
  };
  running.push(r);
  return r;
}

const streaming = (r: Running, timeout = 10_000) => waitFor(r.actor(), (s: any) => s.value === 'streaming', { timeout });

describe('feed client against the simulator', () => {
  it('subscribes every instrument and receives their updates', async () => {
    const r = await startFeed();
    await streaming(r);
    await until('updates for every key', () => [EQ, EQ2, INDEX].every((k) => (r.updatesByKey.get(k) ?? 0) > 5));
    assert.deepEqual(r.sim.stats().subscription, { [EQ]: 'full', [EQ2]: 'full', [INDEX]: 'full' });
    assert.equal(r.stats.framesReceived, r.frames.length);
    assert.equal(
      r.stats.updatesReceived,
      [...r.updatesByKey.values()].reduce((a, b) => a + b, 0),
    );
  });

  it('survives five dropped sockets, resubscribing every key each time', async () => {
    const r = await startFeed();
    await streaming(r);
    for (let i = 1; i <= 5; i++) {
      // The subscription must have reached the simulator before the socket is cut.
      await until(`subscribed ${i}`, () => r.sim.stats().requests.filter((q) => q.method === 'sub').length === i);
      const connections = r.sim.stats().connections;
      assert.equal(r.sim.dropConnections(), 1);
      await until(`reconnection ${i}`, () => r.sim.stats().connections === connections + 1 && r.value() === '"streaming"');
      await until(`resubscribed ${i}`, () => r.sim.stats().requests.filter((q) => q.method === 'sub').length === i + 1);
    }
    const subs = r.sim.stats().requests.filter((q) => q.method === 'sub');
    assert.equal(subs.length, 6);
    for (const s of subs) assert.deepEqual([...s.keys].sort(), [EQ, EQ2, INDEX].sort());
    assert.equal(r.stats.reconnects, 5);
    assert.equal(r.sim.stats().authorizeCalls, 6, 'every reconnect authorized again');
  });

  it('recovers from the daily token expiry within seconds through the token URL', async () => {
    const r = await startFeed({}, {}, true);
    await streaming(r);
    const t0 = Date.now();
    r.sim.expireToken();
    await until('back to streaming with the new token', () => r.sim.stats().connections === 2 && r.value() === '"streaming"');
    assert.ok(Date.now() - t0 < 5000);
    assert.ok(r.sim.stats().authorizeRejected >= 1, 'the old token was tried and rejected');
  });

  it('detects a stalled feed and reconnects', async () => {
    const r = await startFeed();
    await streaming(r);
    r.sim.stall();
    await until('stale detected', () => r.context().lastError?.code === 'FEED_STALE', { timeoutMs: 5000 });
    r.sim.resume();
    await until('streaming again on a new socket', () => r.value() === '"streaming"' && r.sim.stats().connections >= 2);
  });

  it('does not reconnect during a closed market while pings keep coming', async () => {
    const r = await startFeed(
      { marketStatus: { NSE_EQ: 'NORMAL_CLOSE', NSE_INDEX: 'NORMAL_CLOSE' } },
      { STALE_FEED_MS: '300', STALE_FEED_CLOSED_MS: '400' },
    );
    await streaming(r);
    // Ten stale periods with pings and no data: still the first connection.
    await observeFor(3000);
    assert.equal(r.sim.stats().connections, 1);
    assert.equal(r.value(), '"streaming"');
    assert.equal(r.frames.filter((f) => f.type === 1).length, 0, 'no live data while closed');
  });

  it('counts malformed frames and keeps streaming', async () => {
    const r = await startFeed();
    await streaming(r);
    r.sim.sendMalformed(4);
    await until('four decode errors', () => r.stats.decodeErrors === 4);
    const n = r.frames.length;
    await until('frames keep coming', () => r.frames.length > n + 10);
    assert.equal(r.sim.stats().connections, 1);
  });

  it('retries authorize after 429 (Retry-After) and 500', async () => {
    const sim429 = await startFeed({}, {}, false);
    await streaming(sim429);
    sim429.sim.failAuthorize(429, 1, 1);
    sim429.sim.failAuthorize(500, 2);
    sim429.sim.dropConnections();
    await until('recovered', () => sim429.value() === '"streaming"' && sim429.sim.stats().connections === 2, { timeoutMs: 10_000 });
    assert.equal(sim429.sim.stats().authorizeCalls, 4);
  });

  it('changes the subscription at run time', async () => {
    const r = await startFeed();
    await streaming(r);
    r.actor().send({ type: 'SET_SUBSCRIPTION', subscription: { [EQ]: 'ltpc', [INDEX]: 'full' } });
    await until(
      'simulator subscription updated',
      () => JSON.stringify(r.sim.stats().subscription) === JSON.stringify({ [EQ]: 'ltpc', [INDEX]: 'full' }),
    );
  });
});
