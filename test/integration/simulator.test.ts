import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { FeedKind } from '../../src/upstox/feed-types.js';
import { authorize, connectRaw } from '../helpers/feed-client.js';
import { observeFor } from '../helpers/poll.js';

const EQ = 'NSE_EQ|INE002A01018';
const IDX = 'NSE_INDEX|Nifty Bank';
const OPT = 'NSE_FO|NIFTY25DEC24000CE';

describe('Upstox V3 simulator', () => {
  let sim: Simulator;
  before(async () => {
    sim = await startSimulator({ updatesPerSecond: 400, frameIntervalMs: 20, pingIntervalMs: 50, seed: 3 });
  });
  after(() => sim.close());

  async function open() {
    const auth = await authorize(sim.apiUrl, sim.token);
    assert.equal(auth.status, 200);
    return connectRaw(auth.body.data.authorized_redirect_uri);
  }

  it('authorizes, sends market_info first, a snapshot after sub, then live frames in the mode', async () => {
    const auth = await authorize(sim.apiUrl, sim.token);
    assert.equal(auth.body.status, 'success');
    assert.equal(auth.body.data.authorized_redirect_uri, auth.body.data.authorizedRedirectUri);
    const c = await connectRaw(auth.body.data.authorized_redirect_uri);
    try {
      await c.waitFor('market_info', () => c.frames.length >= 1);
      assert.equal(c.frames[0]!.type, 2);
      assert.equal(c.frames[0]!.marketStatus!['NSE_EQ'], 'NORMAL_OPEN');
      c.send('sub', 'full', [EQ, IDX, OPT]);
      await c.waitFor('snapshot', () => c.frames.some((f) => f.type === 0));
      const snap = c.frames.find((f) => f.type === 0)!;
      assert.deepEqual(snap.updates.map((u) => u.key).sort(), [EQ, IDX, OPT].sort());
      await c.waitFor('live frames of every key', () => {
        const keys = new Set(c.frames.filter((f) => f.type === 1).flatMap((f) => f.updates.map((u) => u.key)));
        return keys.size === 3;
      });
      const live = c.frames.filter((f) => f.type === 1).flatMap((f) => f.updates);
      const eq = live.find((u) => u.key === EQ)!;
      assert.equal(eq.kind, FeedKind.MarketFull);
      assert.equal(eq.depth.length, 5 * 4);
      assert.equal(eq.greeks, null);
      assert.equal(eq.candles!.length, 2);
      assert.ok(eq.ltq > 0 && eq.ltp > 0);
      assert.equal(live.find((u) => u.key === IDX)!.kind, FeedKind.IndexFull);
      assert.equal(live.find((u) => u.key === IDX)!.ltq, 0);
      assert.ok(live.find((u) => u.key === OPT)!.greeks, 'an option carries greeks');
      const ts = c.frames.map((f) => f.ts);
      for (let i = 1; i < ts.length; i++) assert.ok(ts[i]! > ts[i - 1]!, 'currentTs strictly increasing');
      c.send('change_mode', 'full_d30', [EQ]);
      await c.waitFor('30 levels', () => c.frames.some((f) => f.updates.some((u) => u.key === EQ && u.depth.length === 120)));
      c.send('change_mode', 'option_greeks', [OPT]);
      await c.waitFor('first level with greeks', () =>
        c.frames.some((f) => f.updates.some((u) => u.key === OPT && u.kind === FeedKind.FirstLevelGreeks)),
      );
      c.send('unsub', undefined, [EQ, IDX, OPT]);
      await c.waitFor('empty subscription', () => Object.keys(sim.stats().subscription).length === 0);
      assert.deepEqual(
        sim.stats().requests.slice(-4).map((r) => r.method),
        ['sub', 'change_mode', 'change_mode', 'unsub'],
      );
    } finally {
      c.close();
    }
  });

  it('counts every update it sends per key, matching what a client decodes', async () => {
    const c = await open();
    try {
      const before = sim.stats().updatesByKey[EQ] ?? 0;
      c.send('sub', 'ltpc', [EQ]);
      await c.waitFor('ten updates', () => c.frames.flatMap((f) => f.updates).length >= 10);
      c.send('unsub', undefined, [EQ]);
      await c.waitFor('unsubscribed', () => Object.keys(sim.stats().subscription).length === 0);
      const sent = sim.stats().updatesByKey[EQ]! - before;
      await c.waitFor('all frames arrived', () => c.frames.flatMap((f) => f.updates).length === sent);
      assert.ok(c.frames.flatMap((f) => f.updates).every((u) => u.kind === FeedKind.Ltpc));
    } finally {
      c.close();
    }
  });

  it('accepts a redirect code once', async () => {
    const auth = await authorize(sim.apiUrl, sim.token);
    const uri = auth.body.data.authorized_redirect_uri;
    const c = await connectRaw(uri);
    c.close();
    await assert.rejects(connectRaw(uri), /403/);
  });

  it('rejects a wrong token with 401 UDAPI100050', async () => {
    const auth = await authorize(sim.apiUrl, 'not-the-token');
    assert.equal(auth.status, 401);
    assert.equal(auth.body.errors[0].errorCode, 'UDAPI100050');
  });

  it('answers 429 with Retry-After, then 500, when told to', async () => {
    sim.failAuthorize(429, 1, 2);
    const a = await authorize(sim.apiUrl, sim.token);
    assert.equal(a.status, 429);
    assert.equal(a.headers.get('retry-after'), '2');
    sim.failAuthorize(500, 1);
    assert.equal((await authorize(sim.apiUrl, sim.token)).status, 500);
    assert.equal((await authorize(sim.apiUrl, sim.token)).status, 200);
  });

  it('expires the token: old one rejected, token URL serves the new one, socket closed', async () => {
    const c = await open();
    const old = sim.token;
    const fresh = sim.expireToken();
    assert.notEqual(fresh, old);
    await c.waitFor('socket closed', () => c.closed !== null);
    assert.equal((await authorize(sim.apiUrl, old)).status, 401);
    const served = (await (await fetch(sim.tokenUrl)).json()) as { access_token: string };
    assert.equal(served.access_token, fresh);
    assert.equal((await authorize(sim.apiUrl, served.access_token)).status, 200);
  });

  it('drops connections on demand', async () => {
    const c = await open();
    assert.equal(sim.dropConnections(), 1);
    await c.waitFor('closed', () => c.closed !== null);
    assert.equal(c.closed!.code, 1006, 'abrupt, no close frame');
  });

  it('stalls (no frames, no pings) and resumes', async () => {
    const c = await open();
    try {
      c.send('sub', 'ltpc', [EQ]);
      await c.waitFor('live data and pings', () => c.pings > 0 && c.frames.some((f) => f.type === 1));
      sim.stall();
      const sent = sim.stats().framesSent;
      const pingsSent = sim.stats().pingsSent;
      // Ten frame periods and six ping periods of silence.
      await observeFor(300);
      assert.equal(sim.stats().framesSent, sent, 'no frames while stalled');
      assert.equal(sim.stats().pingsSent, pingsSent, 'no pings while stalled');
      const frames = c.frames.length;
      const pings = c.pings;
      sim.resume();
      await c.waitFor('frames again', () => c.frames.length > frames && c.pings > pings);
    } finally {
      c.close();
    }
  });

  it('sends malformed frames between valid ones', async () => {
    const c = await open();
    try {
      c.send('sub', 'ltpc', [EQ]);
      await c.waitFor('live', () => c.frames.some((f) => f.type === 1));
      sim.sendMalformed(3);
      await c.waitFor('malformed seen', () => c.malformed === 3);
      const n = c.frames.length;
      await c.waitFor('valid frames continue', () => c.frames.length > n + 2);
    } finally {
      c.close();
    }
  });

  it('refuses websocket upgrades while told to', async () => {
    sim.refuseConnections(true);
    try {
      const auth = await authorize(sim.apiUrl, sim.token);
      await assert.rejects(connectRaw(auth.body.data.authorized_redirect_uri), /503/);
    } finally {
      sim.refuseConnections(false);
    }
    (await open()).close();
  });

  it('keeps pinging a closed segment but sends it no data', async () => {
    const c = await open();
    try {
      sim.setMarketStatus({ NSE_EQ: 'NORMAL_CLOSE' });
      await c.waitFor('market_info with the closed segment', () => c.frames.some((f) => f.marketStatus?.['NSE_EQ'] === 'NORMAL_CLOSE'));
      c.send('sub', 'ltpc', [EQ]);
      await c.waitFor('snapshot', () => c.frames.some((f) => f.type === 0));
      const pings = c.pings;
      await c.waitFor('pings keep coming', () => c.pings >= pings + 3);
      assert.equal(c.frames.filter((f) => f.type === 1).length, 0, 'no live data for a closed segment');
    } finally {
      sim.setMarketStatus({ NSE_EQ: 'NORMAL_OPEN' });
      c.close();
    }
  });

  it('lists its instruments', async () => {
    const body = (await (await fetch(sim.instrumentsUrl)).json()) as { instruments: string[] };
    assert.ok(body.instruments.includes('NSE_INDEX|Nifty Bank'));
  });
});
