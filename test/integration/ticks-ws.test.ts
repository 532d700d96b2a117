import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { EQ, EQ2, IDX, type ServerFixture, liveFrame, marketInfoFrame, startServerFixture } from '../helpers/server-fixture.js';
import { until } from '../helpers/poll.js';

interface TestClient {
  ws: WebSocket;
  messages: any[];
  closed: { code: number; reason: string } | null;
  next(predicate: (m: any) => boolean, what: string): Promise<any>;
  send(obj: unknown): void;
}

async function connect(url: string, headers: Record<string, string> = {}): Promise<TestClient> {
  const ws = new WebSocket(url, { headers });
  const c: TestClient = {
    ws,
    messages: [],
    closed: null,
    next: (predicate, what) => until(what, () => c.messages.find(predicate), { timeoutMs: 5000, intervalMs: 5 }),
    send: (obj) => ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj)),
  };
  ws.on('message', (d: Buffer) => c.messages.push(JSON.parse(d.toString())));
  ws.on('close', (code, reason) => (c.closed = { code, reason: reason.toString() }));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
  return c;
}

describe('WS /ticks', () => {
  let f: ServerFixture;
  const clients: TestClient[] = [];
  const open = async (path: string, headers?: Record<string, string>) => {
    const c = await connect(f.wsUrl + path, headers);
    clients.push(c);
    return c;
  };
  before(async () => {
    f = await startServerFixture();
    f.fanout.publish(liveFrame({ [EQ]: 101, [EQ2]: 202, [IDX]: 45_000 }));
  });
  after(async () => {
    for (const c of clients) c.ws.terminate();
    await f.close();
  });

  it('subscribes at connect: snapshot first, then live ticks with the contract fields', async () => {
    const c = await open('/ticks?keys=' + encodeURIComponent(`${EQ},${IDX}`));
    await until('two snapshots', () => c.messages.length >= 2);
    assert.deepEqual(
      c.messages.map((m) => [m.type, m.snapshot, m.key]).sort(),
      [
        ['tick', true, EQ],
        ['tick', true, IDX],
      ].sort(),
    );
    f.fanout.publish(liveFrame({ [EQ]: 102, [EQ2]: 203 }));
    const live = await c.next((m) => m.type === 'tick' && !m.snapshot, 'a live tick');
    assert.equal(live.key, EQ);
    assert.equal(live.ltp, 102);
    for (const field of ['ts', 'ltt', 'ltq', 'cp']) assert.equal(typeof live[field], 'number', field);
    assert.ok(!c.messages.some((m) => m.key === EQ2), 'no ticks for keys it did not ask for');
  });

  it('subscribes by message, echoes requestId, refuses unknown keys with reasons, snapshots every time', async () => {
    const a = await open('/ticks?keys=' + encodeURIComponent(EQ));
    const b = await open('/ticks');
    b.send({ action: 'subscribe', keys: [EQ, 'NSE_EQ|UNKNOWN1', 'garbage'], requestId: 'r-1' });
    const ack = await b.next((m) => m.type === 'subscribed', 'ack');
    assert.equal(ack.requestId, 'r-1');
    assert.deepEqual(ack.accepted, [EQ]);
    assert.deepEqual(
      ack.refused.map((r: any) => r.key),
      ['NSE_EQ|UNKNOWN1', 'garbage'],
    );
    assert.match(ack.refused[0].reason, /POST \/subscriptions/);
    assert.match(ack.refused[1].reason, /SEGMENT\|id/);
    const snapIndex = b.messages.findIndex((m) => m.snapshot === true && m.key === EQ);
    assert.ok(
      snapIndex >= 0 && snapIndex < b.messages.indexOf(ack),
      'the snapshot, although another client watches the key, and before the ack',
    );
    assert.ok(a.messages.some((m) => m.snapshot));
  });

  it('"*" means every key, and unsubscribe stops them', async () => {
    const c = await open('/ticks?keys=*');
    await until('snapshots of every key', () => new Set(c.messages.filter((m) => m.snapshot).map((m) => m.key)).size === 3);
    c.send({ action: 'unsubscribe', keys: ['*'], requestId: 7 });
    const ack = await c.next((m) => m.type === 'unsubscribed', 'unsubscribe ack');
    assert.equal(ack.requestId, 7);
    const count = c.messages.length;
    f.fanout.publish(liveFrame({ [EQ]: 110 }));
    // A control client subscribed to EQ proves the frame went out before we check silence.
    const probe = await open('/ticks?keys=' + encodeURIComponent(EQ));
    f.fanout.publish(liveFrame({ [EQ]: 111 }));
    await probe.next((m) => m.ltp === 111, 'probe receives');
    c.send({ action: 'subscribe', keys: [EQ2], requestId: 'again' });
    await c.next((m) => m.requestId === 'again', 'second ack');
    assert.ok(!c.messages.slice(count).some((m) => m.type === 'tick' && m.key === EQ), 'unsubscribed key silent');
  });

  it('answers a bad message with an error and keeps the connection open', async () => {
    const c = await open('/ticks');
    c.send('{not json');
    c.send({ action: 'dance', keys: [EQ], requestId: 'x' });
    c.send({ action: 'subscribe', keys: 'NSE_EQ|X' });
    await until('three errors', () => c.messages.filter((m) => m.type === 'error').length === 3);
    const errors = c.messages.filter((m) => m.type === 'error');
    assert.match(errors[0].message, /JSON/);
    assert.match(errors[1].message, /unknown action/);
    assert.equal(errors[1].requestId, 'x');
    assert.match(errors[2].message, /keys/);
    c.send({ action: 'subscribe', keys: [EQ] });
    await c.next((m) => m.type === 'subscribed', 'still works');
    assert.equal(c.closed, null);
  });

  it('delivers market status changes', async () => {
    const c = await open('/ticks?keys=' + encodeURIComponent(EQ));
    f.fanout.publish(marketInfoFrame({ NSE_EQ: 'NORMAL_CLOSE' }));
    const m = await c.next((x) => x.type === 'market_status', 'market status');
    assert.deepEqual(m.segments, { NSE_EQ: 'NORMAL_CLOSE' });
    assert.equal(typeof m.ts, 'number');
  });

  it('drops a stalled client while a fast one keeps receiving every update in order', async () => {
    const fast = await open('/ticks?keys=' + encodeURIComponent(EQ2));
    const slow = await open('/ticks?keys=*');
    // The slow client stops reading: the kernel buffers fill, then the server's queue.
    (slow.ws as any)._socket.pause();
    const droppedBefore = f.stats.wsClientsDropped;
    let price = 1000;
    const sent: number[] = [];
    await until(
      'the slow client dropped',
      async () => {
        for (let i = 0; i < 200; i++) {
          price++;
          sent.push(price);
          f.fanout.publish(liveFrame({ [EQ]: price, [EQ2]: price, [IDX]: price }));
        }
        await new Promise((r) => setImmediate(r));
        return f.stats.wsClientsDropped > droppedBefore;
      },
      { timeoutMs: 20_000, intervalMs: 1 },
    );
    assert.ok(f.stats.wsMessagesDropped > 0, 'conflated messages are counted');
    await until('fast client has everything', () => fast.messages.filter((m) => m.key === EQ2 && !m.snapshot).length === sent.length, {
      timeoutMs: 10_000,
    });
    const got = fast.messages.filter((m) => m.key === EQ2 && !m.snapshot).map((m) => m.ltp);
    assert.deepEqual(got, sent, 'every update, in order');
    (slow.ws as any)._socket.resume();
    await until('slow client closed with 4008', () => slow.closed, { timeoutMs: 5000 });
    assert.equal(slow.closed!.code, 4008);
    assert.match(slow.closed!.reason, /too slow/);
  });
});

describe('WS /ticks with API_TOKEN', () => {
  let f: ServerFixture;
  before(async () => {
    f = await startServerFixture({ apiToken: 'tok-abc' });
  });
  after(() => f.close());

  it('refuses a missing or wrong token and accepts the right one (header or query)', async () => {
    await assert.rejects(connect(f.wsUrl + '/ticks'), /401/);
    await assert.rejects(connect(f.wsUrl + '/ticks?token=nope'), /401/);
    (await connect(f.wsUrl + '/ticks?token=tok-abc')).ws.terminate();
    (await connect(f.wsUrl + '/ticks', { authorization: 'Bearer tok-abc' })).ws.terminate();
  });
});
