import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startSimulator, type Simulator } from '../../src/sim/index.js';
import { FeedKind } from '../../src/upstox/feed-types.js';
import { countFrom, FeedClient, isPing, liveFrom, pollUntil, subscribe } from '../helpers/feed-client.js';
import { EQ, EQ2, FAST, FUTURE, INDEX, OPTION } from '../helpers/sim-fixtures.js';

describe('Upstox V3 simulator', () => {
  let sim: Simulator;
  const clients: FeedClient[] = [];
  const open = async (s: Simulator = sim): Promise<FeedClient> => {
    const c = await FeedClient.open(s.apiUrl, s.token);
    clients.push(c);
    return c;
  };

  before(async () => {
    sim = await startSimulator(FAST);
  });
  after(async () => {
    for (const c of clients) c.close();
    await sim.close();
  });

  it('streams market_info, then the snapshot, then live full frames, all decodable', async () => {
    const client = await open();
    await client.until('market_info', () => client.frames.length > 0);
    const first = client.frames[0];
    assert.equal(first.type, 2);
    assert.equal(first.marketStatus?.NSE_EQ, 'NORMAL_OPEN');
    assert.equal(first.marketStatus?.NSE_INDEX, 'NORMAL_OPEN');

    const keys = [EQ, INDEX, OPTION, FUTURE];
    const at = await subscribe(client, keys, 'full');
    const snapshot = client.arrivals[at].frame!;
    assert.deepEqual(snapshot.updates.map((u) => u.key).sort(), [...keys].sort());
    assert.deepEqual(sim.stats().subscription, Object.fromEntries(keys.map((k) => [k, 'full'])));

    await client.until('live frames for every key', () => {
      const seen = new Set(liveFrom(client, at).flatMap((f) => f.updates.map((u) => u.key)));
      return keys.every((k) => seen.has(k));
    });
    for (const frame of [snapshot, ...liveFrom(client, at)]) {
      for (const u of frame.updates) {
        assert.equal(u.requestMode, 1, u.key);
        assert.ok(u.ltp > 0 && u.cp > 0 && u.ltt > 0, u.key);
        assert.ok(u.candles?.some((c) => c.interval === '1d') && u.candles.some((c) => c.interval === 'I1'), u.key);
        if (u.key === INDEX) {
          assert.equal(u.kind, FeedKind.IndexFull);
          assert.equal(u.ltq, 0);
          assert.equal(u.depth.length, 0);
        } else {
          assert.equal(u.kind, FeedKind.MarketFull, u.key);
          assert.equal(u.depth.length, 5 * 4, u.key);
          assert.ok(u.ltq > 0 && u.vtt >= u.ltq && u.atp > 0, u.key);
          assert.ok(u.depth[1] < u.ltp && u.depth[3] > u.ltp, `${u.key} best bid below and best ask above ltp`);
          assert.equal(u.greeks !== null, u.key === OPTION, `${u.key} greeks only for options`);
          if (u.key !== EQ) assert.ok(u.oi > 0, `${u.key} has open interest`);
        }
      }
    }
  });

  it('sends full_d30 with 30 levels, option_greeks as FirstLevelWithGreeks, ltpc as LTPC', async () => {
    const client = await open();
    let at = await subscribe(client, [EQ], 'full_d30');
    let u = client.arrivals[at].frame!.updates[0];
    assert.equal(u.depth.length, 30 * 4);
    assert.equal(u.requestMode, 3);

    at = await subscribe(client, [OPTION], 'option_greeks');
    u = client.arrivals[at].frame!.updates[0]!;
    assert.equal(u.kind, FeedKind.FirstLevelGreeks);
    assert.equal(u.requestMode, 2);
    assert.equal(u.depth.length, 4);
    assert.ok(u.greeks && u.greeks.delta !== 0 && u.iv > 0);

    at = await subscribe(client, [EQ2], 'ltpc');
    u = client.arrivals[at].frame!.updates[0]!;
    assert.equal(u.kind, FeedKind.Ltpc);
    assert.equal(u.requestMode, 0);

    await client.until('live updates in all three modes', () => {
      const byKey = new Map(liveFrom(client, at).flatMap((f) => f.updates.map((x) => [x.key, x] as const)));
      return byKey.size === 3 && byKey;
    });
    for (const f of liveFrom(client, at)) {
      for (const x of f.updates) {
        const want = { [EQ]: [FeedKind.MarketFull, 120], [OPTION]: [FeedKind.FirstLevelGreeks, 4], [EQ2]: [FeedKind.Ltpc, 0] }[x.key];
        assert.deepEqual([x.kind, x.depth.length], want, x.key);
      }
    }
  });

  it('keeps currentTs strictly increasing and counts exactly what the client decoded', async () => {
    const client = await open();
    const before = sim.stats().updatesSent;
    const keys = Array.from({ length: 40 }, (_, i) => `NSE_EQ|SIM${i}`);
    await subscribe(client, keys, 'ltpc');
    // A burst of requests gets a burst of snapshots, several within one millisecond.
    for (let i = 0; i < 10; i++) client.request('change_mode', keys, 'ltpc');
    await client.until('60 live frames', () => liveFrom(client, 0).length >= 60);
    sim.dropConnections({ code: 1000, reason: 'test over' });
    await client.until('close', () => client.closed);

    const frames = client.frames;
    for (let i = 1; i < frames.length; i++)
      assert.ok(frames[i].ts > frames[i - 1].ts, `frame ${i}: ${frames[i].ts} after ${frames[i - 1].ts}`);
    const decoded: Record<string, number> = {};
    for (const f of frames) for (const u of f.updates) decoded[u.key] = (decoded[u.key] ?? 0) + 1;
    const total = Object.values(decoded).reduce((a, b) => a + b, 0);
    // Write callbacks may still be on their way when the close arrives: poll, with a deadline.
    await pollUntil('simulator counts settle', () => sim.stats().updatesSent - before >= total);
    const stats = sim.stats();
    assert.equal(stats.updatesSent - before, total);
    for (const k of keys) assert.equal(stats.updatesByKey[k], decoded[k], k);
    assert.ok(stats.lastTs >= frames.at(-1)!.ts);
    // The rotation gives every key its share: no key is starved at a rate below one update per key per frame.
    const counts = keys.map((k) => decoded[k]);
    assert.ok(Math.max(...counts) - Math.min(...counts) <= 2, `uneven shares ${counts.join(',')}`);
  });

  it('applies unsub and change_mode from the next frame on', async () => {
    const client = await open();
    await subscribe(client, [EQ, EQ2, INDEX], 'ltpc');
    client.request('unsub', [EQ2]);
    // Requests are handled in order, so this snapshot marks where the unsub took effect.
    const afterUnsub = await subscribe(client, [FUTURE], 'ltpc');
    const changed = await subscribe(client, [EQ, 'NSE_EQ|NOT_SUBSCRIBED'], 'full', 'change_mode');
    assert.deepEqual(
      client.arrivals[changed].frame!.updates.map((u) => [u.key, u.kind]),
      [[EQ, FeedKind.MarketFull]],
    );
    await client.until('live EQ in full mode', () => liveFrom(client, changed).some((f) => f.updates.some((u) => u.key === EQ)));

    assert.ok(
      liveFrom(client, afterUnsub).every((f) => f.updates.every((u) => u.key !== EQ2)),
      'no EQ2 after unsub',
    );
    for (const f of liveFrom(client, changed))
      for (const u of f.updates) assert.equal(u.kind, u.key === EQ ? FeedKind.MarketFull : FeedKind.Ltpc);
    assert.deepEqual(sim.stats().subscription, { [EQ]: 'full', [INDEX]: 'ltpc', [FUTURE]: 'ltpc' });
    const methods = sim
      .stats()
      .requests.slice(-4)
      .map((r) => [r.method, r.mode]);
    assert.deepEqual(methods, [
      ['sub', 'ltpc'],
      ['unsub', undefined],
      ['sub', 'ltpc'],
      ['change_mode', 'full'],
    ]);
  });

  it('ignores malformed requests (binary or text) and keeps the socket open', async () => {
    const client = await open();
    const before = sim.stats().badRequests;
    client.ws.send(Buffer.from('{"this is": not json'));
    client.ws.send('{"guid":"x","method":"subscribe","data":{"mode":"full","instrumentKeys":[]}}');
    client.ws.send(JSON.stringify({ guid: 'y', method: 'sub', data: { mode: 'full_d5', instrumentKeys: [EQ] } }));
    // A text frame holding a valid request is accepted too, and it is handled after the bad ones.
    const subscribed = sim.waitForSubscribe();
    client.ws.send(JSON.stringify({ guid: 't', method: 'sub', data: { mode: 'ltpc', instrumentKeys: [EQ, 'no-bar'] } }));
    await subscribed;
    await client.until('snapshot', () => client.frames.some((f) => f.type === 0));
    assert.equal(sim.stats().badRequests - before, 3);
    assert.deepEqual(sim.stats().subscription, { [EQ]: 'ltpc' });
    assert.equal(client.closed, undefined);
  });

  it('pings while a segment is closed but sends it no live data, and resumes on reopen', async () => {
    const client = await open();
    await subscribe(client, [EQ, INDEX], 'ltpc');
    const from = client.arrivals.length;
    sim.setMarketStatus({ NSE_EQ: 'NORMAL_CLOSE' });
    const infoAt = await client.until('market_info with NSE_EQ closed', () => {
      const i = client.findFrom(from, (a) => a.frame?.marketStatus?.NSE_EQ === 'NORMAL_CLOSE');
      return i >= 0 ? i + 1 : 0;
    });
    assert.equal(client.arrivals[infoAt - 1].frame!.type, 2);
    await client.until('index frames and pings after the close', () => {
      const live = liveFrom(client, infoAt);
      return live.length >= 10 && countFrom(client, infoAt, isPing) >= 2;
    });
    assert.ok(liveFrom(client, infoAt).every((f) => f.updates.every((u) => u.key === INDEX)));

    sim.setMarketStatus({ NSE_INDEX: 'CLOSING_END' });
    const allClosed = client.arrivals.length;
    await client
      .until('pings with every segment closed', () => {
        const i = client.findFrom(allClosed, (a) => a.frame?.marketStatus?.NSE_INDEX === 'CLOSING_END');
        return i >= 0 && countFrom(client, i, isPing) >= 3 ? i : false;
      })
      .then((i) => assert.equal(liveFrom(client, i).length, 0, 'no live frames while every segment is closed'));

    sim.setMarketStatus({ NSE_EQ: 'NORMAL_OPEN', NSE_INDEX: 'NORMAL_OPEN' });
    await client.until('live EQ again', () => liveFrom(client, allClosed).some((f) => f.updates.some((u) => u.key === EQ)));
    assert.throws(() => sim.setMarketStatus({ NSE_EQ: 'OPEN' }), /unknown market status "OPEN" for NSE_EQ/);
  });

  it('replaces an older connection with a newer one (one connection per user)', async () => {
    const first = await open();
    const second = await open();
    const closed = await first.until('first closed', () => first.closed);
    assert.deepEqual(closed, { code: 1000, reason: 'replaced by a newer connection' });
    await second.until('market_info on the new connection', () => second.frames.length > 0);
    assert.equal(second.closed, undefined);
  });
});
