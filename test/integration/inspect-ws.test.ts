import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { assign, createActor, setup } from 'xstate';
import { InspectionHub } from '../../src/inspector/hub.js';
import { InspectClient } from '../helpers/inspector/client.js';
import { PLANTED_CODE, PLANTED_SECRET, startInspectedSystem, type InspectedSystem } from '../helpers/inspector/stand-in-system.js';
import { startInspectorServer, type InspectorServer } from '../helpers/inspector/server.js';
import { until } from '../helpers/poll.js';

const has = (v: unknown, s: string) => String(JSON.stringify(v)).includes(s);

describe('WS /inspect', () => {
  const cleanups: Array<() => unknown> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });
  async function setup_(apiToken?: string): Promise<{ sys: InspectedSystem; srv: InspectorServer; ws: string }> {
    const sys = startInspectedSystem();
    cleanups.push(() => sys.stop());
    const srv = await startInspectorServer({ hub: sys.hub, ...(apiToken ? { apiToken } : {}) });
    cleanups.push(() => srv.close());
    return { sys, srv, ws: `ws://127.0.0.1:${srv.port}/inspect` };
  }
  async function connect(url: string, headers?: Record<string, string>): Promise<InspectClient> {
    const c = await InspectClient.connect(url, headers);
    cleanups.push(() => c.close());
    return c;
  }

  it('replays the current actors and snapshots to a client that connects late, then streams live', async () => {
    const { sys, ws } = await setup_();
    await until('the system is up', () => has(sys.hub.actorsNow().find((a) => a.systemId === 'connection')?.snapshot.value, 'streaming'));
    await until('the writer is up', () => has(sys.hub.actorsNow().find((a) => a.systemId === 'writer')?.snapshot.value, 'influxUp'));
    sys.setWriterDown(true);
    await until('writer down in the hub', () =>
      has(sys.hub.actorsNow().find((a) => a.systemId === 'writer')?.snapshot.value, 'influxDown'),
    );

    const client = await connect(ws);
    const live = sys.hub.actorsNow().length;
    await client.until('the replay', () => client.messages.length >= live);
    const first = client.messages.slice(0, live);
    assert.ok(
      first.every((m) => m.type === '@xstate.actor'),
      'registrations first',
    );
    assert.deepEqual(
      first.map((m) => (m.type === '@xstate.actor' ? (m.systemId ?? m.name) : '')),
      // Started in this order; the feed socket is the connection's live child, chains runs beside it.
      ['pipeline', 'writer', 'drainer', 'notifier', 'backfill', 'connection', 'chains', 'socket'],
    );
    assert.ok(has(client.actor('writer')?.snapshot.value, 'influxDown'), 'the late client sees the writer down at once');
    assert.ok(has(client.actor('connection')?.snapshot.value, 'streaming'));

    sys.setWriterDown(false);
    await client.until('writer influxUp live', () => has(client.values('writer').at(-1), 'influxUp'));
    const writer = client.actor('writer')!;
    const up = client.messages.find((m) => m.type === '@xstate.event' && m.event.type === 'INFLUX_UP' && m.sourceId === writer.sessionId);
    assert.ok(up, 'the event the writer sent its parent is streamed');
    await client.until('the drainer drains', () => client.values('drainer').includes('draining'));
    const all = client.messages.map((m) => JSON.stringify(m)).join('\n');
    assert.ok(!all.includes(PLANTED_SECRET) && !all.includes(PLANTED_CODE), 'nothing secret on the wire');
  });

  it('requires API_TOKEN when it is set: 401 without it, open with Bearer or ?token=', async () => {
    const { ws } = await setup_('s3cret-api-token');
    await assert.rejects(InspectClient.connect(ws), { status: 401 });
    await assert.rejects(InspectClient.connect(`${ws}?token=wrong`), { status: 401 });
    await assert.rejects(InspectClient.connect(ws, { authorization: 'Bearer wrong' }), { status: 401 });
    const byHeader = await connect(ws, { authorization: 'Bearer s3cret-api-token' });
    const byQuery = await connect(`${ws}?token=s3cret-api-token`);
    await byHeader.until('replay by header', () => byHeader.actors().length >= 5);
    await byQuery.until('replay by query', () => byQuery.actors().length >= 5);
  });

  it('serves the inspector page and its assets, and nothing else from disk', async () => {
    const { srv } = await setup_('s3cret-api-token');
    const page = await fetch(`${srv.baseUrl}/inspector`);
    assert.equal(page.status, 200, 'the page itself holds no data and needs no token');
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    const html = await page.text();
    assert.match(html, /\/inspector\/app\.js/);
    assert.doesNotMatch(html, /https?:\/\//, 'no CDN, no external font');
    for (const [file, type] of [
      ['app.js', /^text\/javascript/],
      ['style.css', /^text\/css/],
      ['chart.js', /^text\/javascript/],
    ] as const) {
      const res = await fetch(`${srv.baseUrl}/inspector/${file}`);
      assert.equal(res.status, 200, file);
      assert.match(res.headers.get('content-type') ?? '', type);
      assert.doesNotMatch(await res.text(), /https?:\/\/(?!127\.0\.0\.1)/, `${file} loads nothing remote`);
    }
    for (const bad of ['..%2Fpackage.json', '%2e%2e%2fpackage.json', 'README.md', 'nope.js']) {
      const res = await srv.app.inject({ method: 'GET', url: `/inspector/${bad}` });
      assert.equal(res.statusCode, 404, bad);
    }
    assert.equal((await srv.app.inject({ method: 'GET', url: '/inspector/../package.json' })).statusCode, 404);
  });

  it('drops a client that stops reading instead of buffering for it without bound', async () => {
    const hub = new InspectionHub();
    const wide = Object.fromEntries(Array.from({ length: 25 }, (_, i) => [`field${i}`, 'x'.repeat(290)]));
    const chatty = setup({ types: { context: {} as Record<string, unknown> & { n: number } } }).createMachine({
      id: 'chatty',
      context: { ...wide, n: 0 },
      on: { PING: { actions: assign({ n: ({ context }) => context.n + 1 }) } },
    });
    const actor = createActor(chatty, { inspect: hub.inspect }).start();
    cleanups.push(() => actor.stop());
    const srv = await startInspectorServer({ hub, maxBufferedBytes: 256 * 1024 });
    cleanups.push(() => srv.close());
    const stalled = await connect(`ws://127.0.0.1:${srv.port}/inspect`);
    await stalled.until('replay', () => stalled.messages.length >= 1);
    (stalled.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    assert.equal(hub.listenerCount, 1);
    // About 8 KB per snapshot: the kernel's socket buffers fill, then the server's queue grows.
    for (let i = 0; i < 20_000 && hub.listenerCount > 0; i++) {
      actor.send({ type: 'PING' });
      if (i % 50 === 49) await new Promise((r) => setImmediate(r));
    }
    await until('the stalled client is dropped', () => hub.listenerCount === 0);
    const fresh = await connect(`ws://127.0.0.1:${srv.port}/inspect`);
    await fresh.until('a fresh client gets the replay', () => fresh.actors().some((a) => a.name === 'chatty'));
  });
});
