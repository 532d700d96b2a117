import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../src/sim/index.js';
import { FeedKind, type DecodedFrame } from '../../src/upstox/feed-types.js';
import { authorize, authorizedUri, FeedClient, upgradeStatus, type Arrival } from '../helpers/feed-client.js';

const EQ = 'NSE_EQ|INE002A01018';
const EQ2 = 'NSE_EQ|INE467B01029';
const INDEX = 'NSE_INDEX|Nifty Bank';
const OPTION = 'NSE_FO|54452';
const FUTURE = 'MCX_FO|457534';

const FAST: SimulatorOptions = { updatesPerSecond: 2000, frameIntervalMs: 10, pingIntervalMs: 20 };

const isLive = (a: Arrival): boolean => a.frame?.type === 1;
const isInitial = (a: Arrival): boolean => a.frame?.type === 0;
const isPing = (a: Arrival): boolean => a.kind === 'ping';

/** Live frames from arrival index `from` on. */
function liveFrom(client: FeedClient, from: number): DecodedFrame[] {
  return client.arrivals.slice(from).filter(isLive).map((a) => a.frame!);
}

function countFrom(client: FeedClient, from: number, match: (a: Arrival) => boolean): number {
  let n = 0;
  for (let i = from; i < client.arrivals.length; i++) if (match(client.arrivals[i]!)) n++;
  return n;
}

async function pollUntil(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Subscribes and waits for the initial_feed answering it; returns its arrival index. */
async function subscribe(client: FeedClient, keys: string[], mode: string, method = 'sub'): Promise<number> {
  const from = client.arrivals.length;
  client.request(method, keys, mode);
  return client.until(`initial_feed for ${method} ${mode}`, () => {
    const i = client.findFrom(from, isInitial);
    return i >= 0 ? i + 1 : 0;
  }).then((i) => i - 1);
}

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
    const first = client.frames[0]!;
    assert.equal(first.type, 2);
    assert.equal(first.marketStatus?.NSE_EQ, 'NORMAL_OPEN');
    assert.equal(first.marketStatus?.NSE_INDEX, 'NORMAL_OPEN');

    const keys = [EQ, INDEX, OPTION, FUTURE];
    const at = await subscribe(client, keys, 'full');
    const snapshot = client.arrivals[at]!.frame!;
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
          assert.ok(u.depth[1]! < u.ltp && u.depth[3]! > u.ltp, `${u.key} best bid below and best ask above ltp`);
          assert.equal(u.greeks !== null, u.key === OPTION, `${u.key} greeks only for options`);
          if (u.key !== EQ) assert.ok(u.oi > 0, `${u.key} has open interest`);
        }
      }
    }
  });

  it('sends full_d30 with 30 levels, option_greeks as FirstLevelWithGreeks, ltpc as LTPC', async () => {
    const client = await open();
    let at = await subscribe(client, [EQ], 'full_d30');
    let u = client.arrivals[at]!.frame!.updates[0]!;
    assert.equal(u.depth.length, 30 * 4);
    assert.equal(u.requestMode, 3);

    at = await subscribe(client, [OPTION], 'option_greeks');
    u = client.arrivals[at]!.frame!.updates[0]!;
    assert.equal(u.kind, FeedKind.FirstLevelGreeks);
    assert.equal(u.requestMode, 2);
    assert.equal(u.depth.length, 4);
    assert.ok(u.greeks && u.greeks.delta !== 0 && u.iv > 0);

    at = await subscribe(client, [EQ2], 'ltpc');
    u = client.arrivals[at]!.frame!.updates[0]!;
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
    for (let i = 1; i < frames.length; i++) assert.ok(frames[i]!.ts > frames[i - 1]!.ts, `frame ${i}: ${frames[i]!.ts} after ${frames[i - 1]!.ts}`);
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
    const counts = keys.map((k) => decoded[k]!);
    assert.ok(Math.max(...counts) - Math.min(...counts) <= 2, `uneven shares ${counts.join(',')}`);
  });

  it('applies unsub and change_mode from the next frame on', async () => {
    const client = await open();
    await subscribe(client, [EQ, EQ2, INDEX], 'ltpc');
    client.request('unsub', [EQ2]);
    // Requests are handled in order, so this snapshot marks where the unsub took effect.
    const afterUnsub = await subscribe(client, [FUTURE], 'ltpc');
    const changed = await subscribe(client, [EQ, 'NSE_EQ|NOT_SUBSCRIBED'], 'full', 'change_mode');
    assert.deepEqual(client.arrivals[changed]!.frame!.updates.map((u) => [u.key, u.kind]), [[EQ, FeedKind.MarketFull]]);
    await client.until('live EQ in full mode', () => liveFrom(client, changed).some((f) => f.updates.some((u) => u.key === EQ)));

    assert.ok(liveFrom(client, afterUnsub).every((f) => f.updates.every((u) => u.key !== EQ2)), 'no EQ2 after unsub');
    for (const f of liveFrom(client, changed)) for (const u of f.updates) assert.equal(u.kind, u.key === EQ ? FeedKind.MarketFull : FeedKind.Ltpc);
    assert.deepEqual(sim.stats().subscription, { [EQ]: 'full', [INDEX]: 'ltpc', [FUTURE]: 'ltpc' });
    const methods = sim.stats().requests.slice(-4).map((r) => [r.method, r.mode]);
    assert.deepEqual(methods, [['sub', 'ltpc'], ['unsub', undefined], ['sub', 'ltpc'], ['change_mode', 'full']]);
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
    assert.equal(client.arrivals[infoAt - 1]!.frame!.type, 2);
    await client.until('index frames and pings after the close', () => {
      const live = liveFrom(client, infoAt);
      return live.length >= 10 && countFrom(client, infoAt, isPing) >= 2;
    });
    assert.ok(liveFrom(client, infoAt).every((f) => f.updates.every((u) => u.key === INDEX)));

    sim.setMarketStatus({ NSE_INDEX: 'CLOSING_END' });
    const allClosed = client.arrivals.length;
    await client.until('pings with every segment closed', () => {
      const i = client.findFrom(allClosed, (a) => a.frame?.marketStatus?.NSE_INDEX === 'CLOSING_END');
      return i >= 0 && countFrom(client, i, isPing) >= 3 ? i : false;
    }).then((i) => assert.equal(liveFrom(client, i).length, 0, 'no live frames while every segment is closed'));

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

describe('Upstox V3 simulator: authorize', () => {
  let sim: Simulator;
  before(async () => {
    sim = await startSimulator({ ...FAST, token: 'good-token', instruments: [EQ, INDEX] });
  });
  after(() => sim.close());

  it('answers a valid token with a one-time ws:// redirect URI', async () => {
    const res = await authorize(sim.apiUrl, 'good-token');
    assert.equal(res.status, 200);
    const body = (await res.json()) as { status: string; data: { authorized_redirect_uri: string; authorizedRedirectUri: string } };
    assert.equal(body.status, 'success');
    assert.match(body.data.authorized_redirect_uri, /^ws:\/\/127\.0\.0\.1:\d+\/v3\/feed\/market-data-feed\?code=\w+$/);
    assert.equal(body.data.authorizedRedirectUri, body.data.authorized_redirect_uri);
    const client = await FeedClient.connect(body.data.authorized_redirect_uri);
    assert.equal(await upgradeStatus(body.data.authorized_redirect_uri), 403, 'second use of the code');
    client.close();
  });

  it('answers a wrong or missing token with 401 UDAPI100050', async () => {
    for (const token of ['bad-token', undefined]) {
      const res = await authorize(sim.apiUrl, token);
      assert.equal(res.status, 401);
      const body = (await res.json()) as { status: string; errors: Array<{ errorCode: string; error_code: string; message: string }> };
      assert.equal(body.status, 'error');
      assert.equal(body.errors[0]!.errorCode, 'UDAPI100050');
      assert.equal(body.errors[0]!.error_code, 'UDAPI100050');
      assert.equal(body.errors[0]!.message, 'Invalid token used to access API');
    }
    assert.equal(await upgradeStatus(sim.apiUrl.replace('http', 'ws') + '/v3/feed/market-data-feed?code=made-up'), 403);
  });

  it('fails authorize on demand with 429 (Retry-After) and 500, then succeeds', async () => {
    const before = sim.stats();
    sim.failAuthorize(429, 2, 7);
    for (let i = 0; i < 2; i++) {
      const res = await authorize(sim.apiUrl, 'good-token');
      assert.equal(res.status, 429);
      assert.equal(res.headers.get('retry-after'), '7');
      await res.body?.cancel();
    }
    sim.failAuthorize(500, 1);
    assert.equal((await authorize(sim.apiUrl, 'good-token')).status, 500);
    assert.equal((await authorize(sim.apiUrl, 'good-token')).status, 200);
    const after = sim.stats();
    assert.equal(after.authorizeCalls - before.authorizeCalls, 4);
    assert.equal(after.authorizeRejected - before.authorizeRejected, 3);
  });

  it('serves the token and instruments URLs', async () => {
    assert.deepEqual(await (await fetch(sim.tokenUrl)).json(), { access_token: 'good-token' });
    assert.deepEqual(await (await fetch(sim.instrumentsUrl)).json(), { instruments: [EQ, INDEX] });
  });

  it('accepts a direct connection with a bearer token, as V3 does', async () => {
    const uri = sim.apiUrl.replace('http', 'ws') + '/v3/feed/market-data-feed';
    const client = await FeedClient.connect(uri, { authorization: `Bearer ${sim.token}` });
    await client.until('market_info', () => client.frames.length > 0);
    client.close();
    assert.equal(await upgradeStatus(uri), 401);
  });

  it('refuses upgrades with 503 while told to, and authorize keeps working', async () => {
    sim.refuseConnections(true);
    const uri = await authorizedUri(sim.apiUrl, sim.token);
    assert.equal(await upgradeStatus(uri), 503);
    sim.refuseConnections(false);
    const client = await FeedClient.connect(uri);
    await client.until('market_info', () => client.frames.length > 0);
    client.close();
  });
});

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
    await assert.rejects(client.until('anything while stalled', () => client.arrivals.length > mark, 400), /timed out/);
    sim.resume();
    await client.until('snapshot, live frames and pings after resume', () => {
      const snap = client.findFrom(mark, isInitial);
      return snap >= 0 && liveFrom(client, snap).length > 0 && countFrom(client, mark, isPing) > 0;
    });
    assert.deepEqual(client.arrivals[client.findFrom(mark, isInitial)]!.frame!.updates.map((u) => u.key), [INDEX]);
  });

  it('stall: a socket opened while stalled gets its market_info only on resume', async () => {
    sim.stall();
    const client = await FeedClient.open(sim.apiUrl, sim.token);
    clients.push(client);
    await assert.rejects(client.until('anything while stalled', () => client.arrivals.length > 0, 200), /timed out/);
    sim.resume();
    await client.until('market_info after resume', () => client.frames.length > 0);
    assert.equal(client.frames[0]!.type, 2);
  });

  it('sendMalformed: the client gets undecodable frames between valid ones', async () => {
    const client = await open();
    await subscribe(client, [EQ], 'ltpc');
    const before = sim.stats().malformedSent;
    sim.sendMalformed(3);
    await client.until('valid frames after the malformed ones', () => {
      const bad = client.arrivals.flatMap((a, i) => (a.kind === 'malformed' ? [i] : []));
      return bad.length === 3 && liveFrom(client, bad[2]!).length > 0;
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
