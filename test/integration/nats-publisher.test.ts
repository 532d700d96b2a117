import assert from 'node:assert/strict';
import { type TestContext, describe, it } from 'node:test';
import { createLogger } from '../../src/logger.js';
import { NatsLease } from '../../src/nats/lease.js';
import { NatsLink } from '../../src/nats/link.js';
import { NatsPublisher } from '../../src/nats/publisher.js';
import { readStream, streamInfo } from '../helpers/nats-consumer.js';
import { type NatsServer, startNatsServer } from '../helpers/nats-server.js';
import { until } from '../helpers/poll.js';

const logger = createLogger('silent');

/** A NATS link closed when the test ends, pass or fail. */
function link(t: TestContext, url: string, name = 'test'): NatsLink {
  const l = new NatsLink({ servers: [url], name, reconnectBaseMs: 50, reconnectMaxMs: 500, pingIntervalMs: 1000, logger });
  t.after(() => l.close());
  return l;
}

/** Each test its own server: two streams may not share the subjects tickpipe.>. */
async function server(t: TestContext): Promise<NatsServer> {
  const nats = await startNatsServer();
  t.after(() => nats.close());
  return nats;
}

function publisher(l: NatsLink, stream: string, over: Partial<ConstructorParameters<typeof NatsPublisher>[0]> = {}): NatsPublisher {
  return new NatsPublisher({ link: l, stream, maxAgeS: 3600, maxInFlight: 1000, ackTimeoutMs: 1000, logger, ...over });
}

const tickBytes = (key: string, ts: number, ltp: number) =>
  Buffer.from(JSON.stringify({ type: 'tick', key, ts, ltp, ltt: ts, ltq: 1, cp: 100 }));

describe('NATS publisher and lease against a real nats-server', () => {
  it('creates the stream when missing; every tick arrives once with its subject, Nats-Msg-Id and payload; a re-publish is a duplicate', async (t) => {
    const nats = await server(t);
    const l = link(t, nats.url);
    const p = publisher(l, 'PUB_ONCE');
    l.start();
    await until('stream created', () => p.streamExists);
    const info = await streamInfo(nats.url, 'PUB_ONCE');
    assert.deepEqual(info.subjects, ['tickpipe.>']);
    assert.equal(info.maxAgeS, 3600);

    const reader = await readStream(nats.url, 'PUB_ONCE');
    t.after(() => reader.close());
    const keys = ['NSE_INDEX|Nifty Bank', 'NSE_EQ|INE002A01018'];
    for (let ts = 1000; ts < 1100; ts++) for (const k of keys) p.publishTick(k, ts, tickBytes(k, ts, ts / 10));
    p.publishMarketStatus(1000, Buffer.from('{"type":"market_status","segments":{"NSE_EQ":"NORMAL_OPEN"},"ts":1000}'));
    await until('all acknowledged', () => p.counters.published === 201, { timeoutMs: 15_000 });
    // The same points again (a retry after a reconnect): JetStream keeps one of each.
    for (let ts = 1000; ts < 1100; ts++) for (const k of keys) p.publishTick(k, ts, tickBytes(k, ts, ts / 10));
    await until('duplicates acknowledged', () => p.counters.duplicates === 200, { timeoutMs: 15_000 });
    await until('consumer has all', () => reader.messages.length >= 201, { timeoutMs: 15_000 });
    assert.equal((await streamInfo(nats.url, 'PUB_ONCE')).messages, 201, 'stored once each');

    const nifty = reader.messages.filter((m) => m.subject === 'tickpipe.tick.NSE_INDEX.Nifty~20Bank');
    assert.equal(nifty.length, 100);
    assert.equal(nifty[0].msgId, 'NSE_INDEX|Nifty Bank@1000');
    assert.deepEqual(nifty[0].payload, { type: 'tick', key: 'NSE_INDEX|Nifty Bank', ts: 1000, ltp: 100, ltt: 1000, ltq: 1, cp: 100 });
    const status = reader.messages.filter((m) => m.subject === 'tickpipe.market_status');
    assert.equal(status.length, 1);
    assert.equal(status[0].msgId, 'market_status@1000');
    assert.deepEqual(p.counters, { published: 201, duplicates: 200, failed: 0, droppedDisconnected: 0, droppedBackpressure: 0 });
  });

  it('bounds publishes in flight: past the limit a tick is dropped and counted, never queued', async (t) => {
    const nats = await server(t);
    const l = link(t, nats.url);
    const p = publisher(l, 'PUB_BOUND', { maxInFlight: 10 });
    l.start();
    await until('stream created', () => p.streamExists);
    // One synchronous burst: acks cannot come back before the loop ends.
    for (let i = 0; i < 50; i++) p.publishTick('NSE_EQ|X', i, tickBytes('NSE_EQ|X', i, 1));
    assert.equal(p.pending, 10);
    assert.equal(p.counters.droppedBackpressure, 40);
    await until('acks', () => p.counters.published === 10);
    assert.equal(p.pending, 0);
  });

  it('NATS killed mid-stream: not-published ticks counted, connected false; restarted: publishing resumes by itself', async (t) => {
    const nats = await server(t);
    const l = link(t, nats.url);
    const p = publisher(l, 'PUB_OUTAGE');
    l.start();
    await until('stream created', () => p.streamExists);
    let ts = 0;
    const tick = () => p.publishTick('NSE_EQ|Y', ++ts, tickBytes('NSE_EQ|Y', ts, 1));
    for (let i = 0; i < 100; i++) tick();
    await until('first ticks acknowledged', () => p.counters.published === 100);

    await nats.kill();
    await until('disconnect noticed', () => {
      tick();
      return !p.connected;
    });
    const lost = () => p.counters.failed + p.counters.droppedDisconnected;
    for (let i = 0; i < 100; i++) tick();
    assert.ok(lost() >= 100, `ticks sent while NATS is away are counted (${JSON.stringify(p.counters)})`);
    assert.match(p.lastError ?? '', /not connected/);

    await nats.start();
    await until('reconnected', () => p.connected, { timeoutMs: 15_000 });
    const before = p.counters.published;
    for (let i = 0; i < 100; i++) tick();
    await until('publishing resumed', () => p.counters.published >= before + 100, { timeoutMs: 15_000 });
    // Every tick is accounted for: published, or counted as not published.
    await until('nothing in flight', () => p.pending === 0);
    assert.equal(p.counters.published + p.counters.duplicates + lost(), ts);
  });

  it('lease: one holder at a time by compare-and-set; renew keeps it; release frees it at once; expiry frees it after the TTL', async (t) => {
    const nats = await server(t);
    const la = link(t, nats.url, 'a');
    const lb = link(t, nats.url, 'b');
    la.start();
    lb.start();
    await until('both connected', () => la.connected && lb.connected);
    const ttlMs = 1500;
    // a has streamed: its lease value carries its "last frame seen" mark for a successor.
    const mark = { at: 1_764_000_000_000, keys: ['NSE_EQ|INE002A01018'] };
    const a = new NatsLease({ link: la, group: 'g1', instance: 'a', ttlMs, requestTimeoutMs: 1000, mark: () => mark });
    const b = new NatsLease({ link: lb, group: 'g1', instance: 'b', ttlMs, requestTimeoutMs: 1000 });
    const ga = await a.acquire();
    assert.ok(ga.acquired);
    assert.deepEqual(await b.acquire(), { acquired: false, holder: 'a', mark: { instance: 'a', ...mark } });
    const renewed = await a.renew(ga.revision);
    assert.ok(renewed.revision > ga.revision);
    await assert.rejects(a.renew(ga.revision), { code: 'LEASE_LOST' }, 'a stale revision cannot renew');

    let released = 0;
    const stopWatch = await b.watchReleases(() => released++);
    await a.release(renewed.revision);
    await until('the standby heard the release', () => released === 1);
    const gb = await b.acquire();
    assert.ok(gb.acquired, 'free at once after a release');
    stopWatch();

    // b dies without a word: a gets the lease only once the TTL has passed since b's write.
    const t0 = Date.now();
    const ga2 = await until('a takes the expired lease', async () => {
      const r = await a.acquire();
      return r.acquired ? r : null;
    });
    const waited = Date.now() - t0;
    assert.ok(waited >= ttlMs - 200, `not before the TTL (${waited} ms)`);
    assert.ok(ga2.acquired);

    // Another TTL in the bucket is refused, naming the setting.
    const c = new NatsLease({ link: lb, group: 'g1', instance: 'c', ttlMs: 9000, requestTimeoutMs: 1000 });
    await assert.rejects(c.acquire(), /HA_LEASE_TTL_S/);
  });
});
