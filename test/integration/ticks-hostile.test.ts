/**
 * /ticks and /inspect against hostile neighbours (in-process server, real sockets): foreign
 * Origin and Host, repeated query parameters, oversized and junk messages, too many clients,
 * and fuzzed messages that must each get a well-formed answer on a connection that stays open.
 */
import assert from 'node:assert/strict';
import { get as httpGet } from 'node:http';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import WebSocket from 'ws';
import { EQ, EQ2, type ServerFixture, liveFrame, startServerFixture } from '../helpers/server-fixture.js';
import { until } from '../helpers/poll.js';
import { InspectionHub } from '../../src/inspector/hub.js';
import { startInspectorServer } from '../helpers/inspector/server.js';

interface Client {
  ws: WebSocket;
  messages: any[];
  closed: { code: number; reason: string } | null;
  send(obj: unknown): void;
  replies(): any[];
}

/** Opens a websocket; rejects with the HTTP status when the upgrade is refused. */
function connect(url: string, headers: Record<string, string> = {}): Promise<Client> {
  const ws = new WebSocket(url, { headers });
  const c: Client = {
    ws,
    messages: [],
    closed: null,
    send: (obj) => ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj)),
    replies: () => c.messages.filter((m) => m.type === 'error' || m.type === 'subscribed' || m.type === 'unsubscribed'),
  };
  ws.on('message', (d: Buffer) => c.messages.push(JSON.parse(d.toString())));
  ws.on('close', (code, reason) => (c.closed = { code, reason: reason.toString() }));
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(c));
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode }));
    });
    ws.once('error', reject);
  });
}

function getWithHost(url: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpGet(url, { headers: { host } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

describe('WS /ticks against hostile input', () => {
  let f: ServerFixture;
  const clients: Client[] = [];
  const open = async (path: string, headers?: Record<string, string>) => {
    const c = await connect(f.wsUrl + path, headers);
    clients.push(c);
    return c;
  };
  before(async () => {
    f = await startServerFixture({ wsMaxClients: 8, allowedOrigins: ['https://dash.example'], allowedHosts: ['tickpipe.lan'] });
    f.fanout.publish(liveFrame({ [EQ]: 101, [EQ2]: 202 }));
  });
  after(async () => {
    for (const c of clients) c.ws.terminate();
    await f.close();
  });

  it('refuses an upgrade from a foreign Origin or Host with 403, accepts its own and the allowed ones', async () => {
    const port = new URL(f.url).port;
    await assert.rejects(open('/ticks?keys=*', { origin: 'https://evil.example' }), { status: 403 });
    await assert.rejects(open('/ticks?keys=*', { origin: 'null' }), { status: 403 });
    await assert.rejects(open('/ticks?keys=*', { host: `rebind.attacker.example:${port}` }), { status: 403 });
    await assert.rejects(open('/ticks?keys=*', { host: `localhost:${port}`, origin: `http://127.0.0.1:${port}` }), { status: 403 });
    const accepted: Array<Record<string, string>> = [
      {},
      { origin: `http://127.0.0.1:${port}` },
      { host: `localhost:${port}`, origin: `http://localhost:${port}` },
      { origin: 'https://dash.example' },
      { host: `TickPipe.lan:${port}`, origin: `http://tickpipe.lan:${port}` },
    ];
    for (const headers of accepted) {
      const c = await open('/ticks', headers);
      c.ws.close();
    }
    // fetch() will not send a Host of our choosing; node:http will.
    const r = await getWithHost(`${f.url}/state`, `rebind.attacker.example:${port}`);
    assert.equal(r.status, 403);
    assert.equal(JSON.parse(r.body).code, 'HOST_FORBIDDEN');
  });

  it('answers a repeated ?keys= with an error and keeps the connection open', async () => {
    const c = await open(`/ticks?keys=${encodeURIComponent(EQ)}&keys=${encodeURIComponent(EQ2)}`);
    await until('an error', () => c.replies().length === 1);
    assert.equal(c.replies()[0].type, 'error');
    assert.match(c.replies()[0].message, /more than once/);
    c.send({ action: 'subscribe', keys: [EQ], requestId: 1 });
    await until('the ack', () => c.replies().length === 2);
    assert.deepEqual(c.replies()[1].accepted, [EQ]);
    assert.equal(c.closed, null);
  });

  it('answers a message over 64 KiB, or naming over 10,000 keys, with an error', async () => {
    const c = await open('/ticks');
    c.send({ action: 'subscribe', keys: [EQ], pad: 'x'.repeat(70 * 1024) });
    c.send({ action: 'subscribe', keys: Array.from({ length: 10_001 }, () => '*') });
    await until('two errors', () => c.replies().length === 2);
    assert.match(c.replies()[0].message, /too large .*65536/);
    assert.match(c.replies()[1].message, /too many keys \(10001/);
    c.send({ action: 'subscribe', keys: [EQ] });
    await until('still served', () => c.replies().length === 3 && c.replies()[2].type === 'subscribed');
  });

  it('lists at most 100 refused keys per answer and counts the rest', async () => {
    const c = await open('/ticks');
    c.send({ action: 'subscribe', keys: [EQ, ...Array.from({ length: 500 }, (_, i) => `NSE_EQ|JUNK${i}`)] });
    await until('the ack', () => c.replies().length === 1);
    const ack = c.replies()[0];
    assert.deepEqual(ack.accepted, [EQ]);
    assert.equal(ack.refused.length, 100);
    assert.equal(ack.refusedOmitted, 400);
  });

  it('closes a client that keeps sending bad messages with 1008', async () => {
    const c = await open('/ticks');
    for (let i = 0; i < 25; i++) c.send({ action: 'subscribe', keys: [`NSE_EQ|JUNK${i}`] });
    await until('closed', () => c.closed, { timeoutMs: 5000 });
    assert.equal(c.closed!.code, 1008);
    assert.match(c.closed!.reason, /bad messages/);
    assert.equal(c.replies().filter((m) => m.type === 'error').length, 20, 'each bad message was answered until then');
  });

  it('refuses the client past WS_MAX_CLIENTS with 1013, and takes one again once a place is free', async () => {
    for (const c of clients) c.ws.terminate();
    await until('no clients', () => f.fanout.clientCount === 0);
    const held: Client[] = [];
    for (let i = 0; i < 8; i++) held.push(await open('/ticks'));
    await until('eight clients', () => f.fanout.clientCount === 8);
    const extra = await open('/ticks');
    await until('the ninth closed', () => extra.closed);
    assert.equal(extra.closed!.code, 1013);
    assert.match(extra.closed!.reason, /WS_MAX_CLIENTS/);
    held[0].ws.close();
    await until('a place free', () => f.fanout.clientCount === 7);
    const again = await open('/ticks?keys=' + encodeURIComponent(EQ));
    await until('served', () => again.messages.some((m) => m.snapshot === true));
    for (const c of [...held, again]) c.ws.terminate();
    await until('no clients', () => f.fanout.clientCount === 0);
  });

  it('a client that does not read while sending junk subscriptions is closed, its replies bounded', async () => {
    const c = await open('/ticks');
    (c.ws as any)._socket.pause();
    const junk = JSON.stringify({ action: 'subscribe', keys: [EQ, ...Array.from({ length: 3000 }, (_, i) => `NSE_EQ|J${i}`)] });
    const droppedBefore = f.stats.wsClientsDropped;
    let sent = 0;
    await until(
      'the server drops it',
      () => {
        if (f.stats.wsClientsDropped > droppedBefore) return true;
        for (let i = 0; i < 10 && sent < 5000 && c.ws.bufferedAmount < 1 << 20; i++) {
          c.ws.send(junk);
          sent++;
        }
        return false;
      },
      { timeoutMs: 30_000, intervalMs: 1 },
    );
    assert.ok(sent < 5000, `dropped after ${sent} messages`);
    (c.ws as any)._socket.resume();
    await until('closed as too slow', () => c.closed, { timeoutMs: 5000 });
    assert.equal(c.closed!.code, 4008);
  });

  it('fuzz: every message gets one well-formed answer and the connection stays open', async () => {
    const key = fc.oneof(fc.constantFrom(EQ, EQ2, '*', 'NSE_EQ|NOPE', '', 'x'.repeat(300)), fc.string());
    const message = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.json({ maxDepth: 3 }),
      fc.record(
        {
          action: fc.oneof(fc.constantFrom('subscribe', 'unsubscribe'), fc.anything()),
          keys: fc.oneof(fc.array(key, { maxLength: 20 }), fc.anything()),
          requestId: fc.oneof(fc.integer(), fc.string({ maxLength: 150 }), fc.anything()),
        },
        { requiredKeys: [] },
      ),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(message, { minLength: 1, maxLength: 8 }), async (messages) => {
        const c = await connect(f.wsUrl + '/ticks');
        try {
          for (const m of messages) {
            if (typeof m === 'string') c.ws.send(m);
            else c.send(m);
          }
          await until('one answer per message', () => c.replies().length >= messages.length, { timeoutMs: 5000, intervalMs: 2 });
          assert.equal(c.replies().length, messages.length);
          for (const r of c.replies()) {
            if (r.type === 'error') assert.equal(typeof r.message, 'string');
            else assert.ok(Array.isArray(r.accepted ?? r.removed), JSON.stringify(r));
          }
          assert.equal(c.closed, null);
        } finally {
          c.ws.terminate();
        }
      }),
      { numRuns: 60, seed: 12 },
    );
    const health = await fetch(`${f.url}/health`);
    assert.equal(health.status, 200);
  });
});

describe('WS /inspect against hostile neighbours', () => {
  it('refuses a foreign Origin with 403 and the client past WS_MAX_CLIENTS with 1013', async () => {
    const hub = new InspectionHub();
    const srv = await startInspectorServer({ hub, maxClients: 1 });
    const ws = srv.baseUrl.replace('http', 'ws') + '/inspect';
    try {
      await assert.rejects(connect(ws, { origin: 'https://evil.example' }), { status: 403 });
      const first = await connect(ws, { origin: srv.baseUrl });
      const second = await connect(ws);
      await until('the second closed', () => second.closed);
      assert.equal(second.closed!.code, 1013);
      assert.equal(first.closed, null);
      first.ws.terminate();
    } finally {
      await srv.close();
    }
  });
});
