import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startSimulator, type Simulator } from '../../src/sim/index.js';
import { countFrom, FeedClient, isPing, pollUntil, subscribe } from '../helpers/feed-client.js';
import { EQ, FAST, INDEX } from '../helpers/sim-fixtures.js';

/** Resolves true if a pong to our ping arrives within `ms`, false otherwise. */
function pongWithin(client: FeedClient, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      client.ws.off('pong', onPong);
      resolve(false);
    }, ms);
    const onPong = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    client.ws.once('pong', onPong);
    client.ws.ping();
  });
}

describe('Upstox V3 simulator: dead and garbage sockets', () => {
  let sim: Simulator;
  const clients: FeedClient[] = [];
  const open = async (): Promise<FeedClient> => {
    const c = await FeedClient.open(sim.apiUrl, sim.token);
    clients.push(c);
    return c;
  };
  before(async () => {
    sim = await startSimulator({ ...FAST, updatesPerSecond: 500 });
  });
  after(async () => {
    for (const c of clients) c.close();
    await sim.close();
  });

  it('goDead: the socket stays open but sends no frames or pings and answers no pongs; a new socket is healthy', async () => {
    const dead = await open();
    await subscribe(dead, [EQ], 'ltpc');
    assert.equal(await pongWithin(dead, 2000), true, 'a healthy socket answers pings');
    assert.equal(sim.goDead(), 1);
    const from = dead.arrivals.length;
    // The unanswered ping is the observation window (frames every 10 ms, pings every 20 ms).
    assert.equal(await pongWithin(dead, 500), false, 'the dead socket answers no ping');
    assert.equal(dead.arrivals.length, from, 'no frame and no ping arrived on the dead socket');
    assert.equal(dead.closed, undefined, 'the TCP connection stays open');
    assert.equal(sim.stats().activeConnections, 1);
    // Sockets opened later are healthy (this one replaces the dead one, as V3 replaces an older connection).
    const healthy = await open();
    await subscribe(healthy, [INDEX], 'ltpc');
    await healthy.until('pings on the healthy socket', () => countFrom(healthy, 0, isPing) >= 2);
    assert.equal(await pongWithin(healthy, 2000), true);
  });

  it('deadOnConnect: a new socket is dead from its first byte, until switched off', async () => {
    sim.deadOnConnect(true);
    const dead = await open();
    assert.equal(await pongWithin(dead, 300), false);
    assert.equal(dead.arrivals.length, 0, 'not even market_info');
    assert.equal(dead.closed, undefined, 'the TCP connection stays open');
    sim.deadOnConnect(false);
    const healthy = await open();
    await healthy.until('market_info', () => healthy.frames.length > 0);
    assert.equal(await pongWithin(healthy, 2000), true);
  });

  it('sendGarbage: only undecodable frames at the live cadence, pings and pongs as usual; off restores data', async () => {
    const client = await open();
    await subscribe(client, [EQ, INDEX], 'full');
    const malformedBefore = sim.stats().malformedSent;
    sim.sendGarbage(true);
    await pollUntil('garbage on the wire', () => sim.stats().malformedSent >= malformedBefore + 1);
    const from = client.arrivals.length;
    await client.until(
      '20 garbage frames and pings',
      () => countFrom(client, from, (a) => a.kind === 'malformed') >= 20 && countFrom(client, from, isPing) >= 2,
    );
    assert.equal(await pongWithin(client, 2000), true);
    const decoded = client.arrivals.slice(from + 1).filter((a) => a.kind === 'frame');
    assert.deepEqual(decoded, [], 'no decodable frame while garbage is on (one may have been in flight)');
    // A subscribe now gets its snapshot as garbage too.
    client.request('sub', ['NSE_EQ|INE467B01029'], 'ltpc');
    sim.sendGarbage(false);
    const after = client.arrivals.length;
    await client.until('decodable live frames again', () => client.findFrom(after, (a) => a.frame?.type === 1) >= 0);
  });
});
