import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startSimulator, type Simulator } from '../../src/sim/index.js';
import {
  authorize,
  authorizedUri,
  countFrom,
  FeedClient,
  isInitial,
  isPing,
  liveFrom,
  pollUntil,
  subscribe,
  upgradeStatus,
} from '../helpers/feed-client.js';
import { EQ, FAST, INDEX } from '../helpers/sim-fixtures.js';

describe('Upstox V3 simulator: faults on open sockets', () => {
  let sim: Simulator;
  const clients: FeedClient[] = [];
  const open = async (): Promise<FeedClient> => {
    const c = await FeedClient.open(sim.apiUrl, sim.token);
    clients.push(c);
    await c.until('market_info', () => c.frames.length > 0);
    return c;
  };
  before(async () => {
    sim = await startSimulator({ ...FAST, updatesPerSecond: 500 });
  });
  after(async () => {
    for (const c of clients) c.close();
    await sim.close();
  });

  it('expireToken: the old token gets 401, the token URL serves the new one, the socket closes', async () => {
    const client = await open();
    const old = sim.token;
    const staleUri = await authorizedUri(sim.apiUrl, old);
    const fresh = sim.expireToken();
    assert.notEqual(fresh, old);
    assert.equal(sim.token, fresh);
    await client.until('socket closed', () => client.closed);
    assert.equal((await authorize(sim.apiUrl, old)).status, 401);
    assert.equal(await upgradeStatus(staleUri), 403, 'codes issued under the old token die with it');
    assert.deepEqual(await (await fetch(sim.tokenUrl)).json(), { access_token: fresh });
    assert.equal((await authorize(sim.apiUrl, fresh)).status, 200);
  });

  it('dropConnections: abruptly, or with a close code', async () => {
    let client = await open();
    assert.equal(sim.dropConnections(), 1);
    assert.equal((await client.until('closed', () => client.closed)).code, 1006);
    client = await open();
    assert.equal(sim.dropConnections({ code: 4000, reason: 'maintenance' }), 1);
    assert.deepEqual(await client.until('closed', () => client.closed), { code: 4000, reason: 'maintenance' });
  });

  it('stall: nothing at all arrives until resume, then held snapshots and frames and pings flow', async () => {
    const client = await open();
    await subscribe(client, [EQ], 'ltpc');
    await client.until('live frames and pings', () => liveFrom(client, 0).length > 0 && countFrom(client, 0, isPing) > 0);
    sim.stall();
    await client.roundTrip();
    const mark = client.arrivals.length;
    const subscribed = sim.waitForSubscribe();
    client.request('sub', [INDEX], 'ltpc');
    await subscribed;
    // The deadline is the assertion: 20 ping intervals and 50 frame intervals pass in silence.
    await assert.rejects(
      client.until('anything while stalled', () => client.arrivals.length > mark, 400),
      /timed out/,
    );
    sim.resume();
    await client.until('snapshot, live frames and pings after resume', () => {
      const snap = client.findFrom(mark, isInitial);
      return snap >= 0 && liveFrom(client, snap).length > 0 && countFrom(client, mark, isPing) > 0;
    });
    assert.deepEqual(
      client.arrivals[client.findFrom(mark, isInitial)].frame!.updates.map((u) => u.key),
      [INDEX],
    );
  });

  it('stall: a socket opened while stalled gets its market_info only on resume', async () => {
    sim.stall();
    const client = await FeedClient.open(sim.apiUrl, sim.token);
    clients.push(client);
    await assert.rejects(
      client.until('anything while stalled', () => client.arrivals.length > 0, 200),
      /timed out/,
    );
    sim.resume();
    await client.until('market_info after resume', () => client.frames.length > 0);
    assert.equal(client.frames[0].type, 2);
  });

  it('sendMalformed: the client gets undecodable frames between valid ones', async () => {
    const client = await open();
    await subscribe(client, [EQ], 'ltpc');
    const before = sim.stats().malformedSent;
    sim.sendMalformed(3);
    await client.until('valid frames after the malformed ones', () => {
      const bad = client.arrivals.flatMap((a, i) => (a.kind === 'malformed' ? [i] : []));
      return bad.length === 3 && liveFrom(client, bad[2]).length > 0;
    });
    assert.equal(client.arrivals.find((a) => a.kind === 'malformed')!.error!.name, 'FrameDecodeError');
    assert.equal(client.closed, undefined);
    assert.equal(sim.stats().malformedSent - before, 3);
  });
});

describe('Upstox V3 simulator: backpressure', () => {
  it('skips live frames for a socket that does not read, instead of queueing them', async (t) => {
    const sim = await startSimulator({ updatesPerSecond: 10_000, frameIntervalMs: 10, pingIntervalMs: 1000, maxBufferedBytes: 256 * 1024 });
    const client = await FeedClient.open(sim.apiUrl, sim.token);
    t.after(async () => {
      client.close();
      await sim.close();
    });
    const keys = Array.from({ length: 100 }, (_, i) => `NSE_EQ|BP${i}`);
    await subscribe(client, keys, 'full_d30');
    // The client stops reading: kernel buffers fill, then the simulator's own queue would grow.
    const socket = (client.ws as unknown as { _socket: Socket })._socket;
    socket.pause();
    await pollUntil('frames skipped', () => sim.stats().framesSkipped >= 20, 15_000);
    socket.resume();
    const skipped = sim.stats().framesSkipped;
    const mark = client.arrivals.length;
    await client.until('live frames again', () => liveFrom(client, mark).length >= 5, 15_000);
    sim.dropConnections({ code: 1000 });
    await client.until('closed', () => client.closed);

    const decoded = client.frames.reduce((n, f) => n + f.updates.length, 0);
    await pollUntil('counts settle', () => sim.stats().updatesSent >= decoded);
    assert.equal(sim.stats().updatesSent, decoded, 'skipped frames are not counted as sent');
    assert.ok(skipped >= 20);
  });
});
