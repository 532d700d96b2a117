/**
 * NATS JetStream publishing (`npm run bench -- nats`): what it costs /ticks, and how fast ticks
 * reach a strategy on the bus.
 *
 * Load: full-mode updates (depth 5 + 2 candles, ~790-byte messages) over 500 instruments at
 * 10,000/s (10 updates every 1 ms) and 50,000/s (50 every 1 ms), decoded from V3 bytes like the
 * live path, for 5 s after 0.5 s of warm-up. `ts` of each update is stamped with process.hrtime
 * at fanout.publish(), `ltt` with when the frame was due (as in fanout.bench.ts).
 *
 * Per rate, two cases in the same run on the real Fastify /ticks server and Fanout, with 10
 * /ticks clients on '*' in a child process (fanout-clients.ts):
 *   baseline  the fan-out alone;
 *   nats      the same, plus every update published to a real nats-server (JetStream, file
 *             store) through NatsPublisher, and read back by an ordered JetStream consumer in a
 *             second child process (nats-consumer-proc.ts).
 * Figures: /ticks latency p50/p99 for both (the cost) and this process's CPU per update (the
 * part of the cost that is ours: on one machine nats-server and the consumer take CPU from the
 * same cores), JetStream acks per second (throughput), what was not published (failed,
 * dropped), publish→consumer latency p50/p99.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../../src/logger.js';
import { NatsLink } from '../../src/nats/link.js';
import { NatsPublisher } from '../../src/nats/publisher.js';
import { decodeFrame } from '../../src/upstox/codec.js';
import type { DecodedFrame } from '../../src/upstox/feed-types.js';
import { encodeFeedResponse } from '../../src/upstox/proto-schema.js';
import { startNatsServer } from '../helpers/nats-server.js';
import { until } from '../helpers/poll.js';
import { startServerFixture } from '../helpers/server-fixture.js';
import { table } from './bench-util.js';
import { fullFeed } from './sample-feed.js';

const INSTRUMENTS = 500;
const CLIENTS = 10;
const WARMUP_MS = 500;
const MEASURE_MS = 5000;
const STREAM = 'TICKPIPE';
const here = dirname(fileURLToPath(import.meta.url));
const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const f = (x: unknown, d: number) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(d) : '-');

class Proc {
  private readonly child: ChildProcess;
  private waiting: ((msg: Record<string, unknown>) => void) | null = null;
  constructor(file: string) {
    this.child = fork(join(here, file), [], { execArgv: [] });
    this.child.on('message', (msg: Record<string, unknown>) => this.waiting?.(msg));
  }
  call<T = Record<string, unknown>>(msg: Record<string, unknown>): Promise<T> {
    return new Promise((resolve, reject) => {
      this.waiting = (r) => {
        this.waiting = null;
        if (typeof r['error'] === 'string') reject(new Error(`${String(r['op'])}: ${r['error']}`));
        else resolve(r as T);
      };
      this.child.send(msg);
    });
  }
  stop(): void {
    this.child.disconnect();
  }
}

function frames(perFrame: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let fr = 0; fr < INSTRUMENTS / perFrame; fr++) {
    const feeds: Record<string, unknown> = {};
    for (let i = fr * perFrame; i < (fr + 1) * perFrame; i++) feeds[`NSE_EQ|INE${String(i).padStart(6, '0')}01018`] = fullFeed(i, 5);
    out.push(encodeFeedResponse({ type: 1, feeds, currentTs: 1_732_000_000_000 }));
  }
  return out;
}

/** One frame every 1 ms from startAt to endAt (late ones as soon as possible); updates published. */
function publishFor(encoded: Uint8Array[], publish: (fr: DecodedFrame) => void, startAt: number, endAt: number): Promise<number> {
  const scheduled = Math.ceil(endAt - startAt);
  let n = 0;
  let updates = 0;
  return new Promise((resolve) => {
    const tick = () => {
      const now = nowMs();
      while (n < scheduled && startAt + n <= now && nowMs() < endAt + 1000) {
        const frame = decodeFrame(encoded[n % encoded.length]);
        const stamp = nowMs();
        frame.ts = stamp;
        for (const u of frame.updates) {
          // Unique per run (the msg id is key@ts) and a time the consumer can subtract.
          u.ts = stamp;
          u.ltt = startAt + n;
        }
        publish(frame);
        updates += frame.updates.length;
        n++;
      }
      if (n === scheduled || nowMs() >= endAt + 1000) return resolve(updates);
      setTimeout(tick, Math.max(0, startAt + n - nowMs()));
    };
    setTimeout(tick, Math.max(0, startAt - nowMs()));
  });
}

interface ClientReport {
  received: number;
  fromPublish: { p50: number | null; p99: number | null };
}

async function runCase(perFrame: number, withNats: boolean, natsUrl: string, clients: Proc, consumer: Proc) {
  const fx = await startServerFixture({ softLimitBytes: 256 * 1024, slowClientTimeoutMs: 10_000 });
  const logger = createLogger('silent');
  let link: NatsLink | null = null;
  let pub: NatsPublisher | null = null;
  try {
    if (withNats) {
      link = new NatsLink({ servers: [natsUrl], name: 'bench', reconnectBaseMs: 100, reconnectMaxMs: 1000, pingIntervalMs: 5000, logger });
      pub = new NatsPublisher({ link, stream: STREAM, maxAgeS: 3600, maxInFlight: 4096, ackTimeoutMs: 5000, logger });
      link.start();
      await until('stream', () => pub!.streamExists);
      const p = pub;
      fx.fanout.attachBus({ tick: (k, ts, b) => p.publishTick(k, ts, b), marketStatus: (ts, b) => p.publishMarketStatus(ts, b) });
    }
    await clients.call({ op: 'open', url: `${fx.wsUrl}/ticks?keys=*`, n: CLIENTS });
    await until('clients', () => fx.fanout.clientCount === CLIENTS);
    const t0 = nowMs() + 50;
    const from = t0 + WARMUP_MS;
    const to = from + MEASURE_MS;
    await clients.call({ op: 'window', start: from, end: to });
    await consumer.call({ op: 'window', start: from, end: to });
    const c0 = pub ? { ...pub.counters } : null;
    const cpu0 = process.cpuUsage();
    const published = await publishFor(frames(perFrame), (fr) => fx.fanout.publish(fr), t0, to);
    const cpu = process.cpuUsage(cpu0);
    const usPerUpdate = (cpu.user + cpu.system) / published;
    const due = MEASURE_MS * perFrame;
    let last = -1;
    for (let i = 0; i < 20; i++) {
      const { received } = await clients.call<{ received: number }>({ op: 'count' });
      if (received >= due * CLIENTS || received === last) break;
      last = received;
      await sleep(250);
    }
    if (pub) await until('acks back', () => pub!.pending === 0, { timeoutMs: 20_000 });
    const r = await clients.call<ClientReport>({ op: 'report' });
    let nats: Record<string, unknown> = {};
    if (pub && c0) {
      let prev = -1;
      for (let i = 0; i < 40; i++) {
        const { received } = await consumer.call<{ received: number }>({ op: 'count' });
        if (received >= due || received === prev) break;
        prev = received;
        await sleep(250);
      }
      const cr = await consumer.call<{ received: number; duplicates: number; p50: number | null; p99: number | null }>({ op: 'report' });
      const elapsedS = (to - t0) / 1000;
      nats = {
        'acked/s': Math.round((pub.counters.published - c0.published) / elapsedS),
        'not published': pub.counters.failed - c0.failed + pub.counters.droppedBackpressure - c0.droppedBackpressure,
        'consumer got': `${((cr.received / due) * 100).toFixed(1)}%`,
        'bus p50 ms': f(cr.p50, 2),
        'bus p99 ms': f(cr.p99, 2),
      };
    }
    await clients.call({ op: 'closeAll' });
    return {
      row: {
        rate: `${perFrame * 1000}/s`,
        case: withNats ? 'nats' : 'baseline',
        'updates/s': Math.round(published / ((to - t0) / 1000)),
        '/ticks delivered': `${((r.received / (due * CLIENTS)) * 100).toFixed(1)}%`,
        '/ticks p50 ms': f(r.fromPublish.p50, 3),
        '/ticks p99 ms': f(r.fromPublish.p99, 3),
        'main µs/update': usPerUpdate.toFixed(1),
        'acked/s': '-',
        'not published': '-',
        'consumer got': '-',
        'bus p50 ms': '-',
        'bus p99 ms': '-',
        ...nats,
      } as Record<string, string | number>,
      p99: r.fromPublish.p99,
      usPerUpdate,
    };
  } finally {
    await link?.close();
    await fx.close();
  }
}

const nats = await startNatsServer();
const clients = new Proc('fanout-clients.js');
const consumer = new Proc('nats-consumer-proc.js');
try {
  console.log(
    `load average at start: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} (2 cores shared: tails move with it)`,
  );
  console.log(`${CLIENTS} /ticks clients on '*'; nats-server ${nats.url} (JetStream, file store); full-mode ~790-byte ticks`);
  // The stream must exist before the consumer attaches: one publisher connects first.
  const l0 = new NatsLink({
    servers: [nats.url],
    name: 'setup',
    reconnectBaseMs: 100,
    reconnectMaxMs: 1000,
    pingIntervalMs: 5000,
    logger: createLogger('silent'),
  });
  const p0 = new NatsPublisher({
    link: l0,
    stream: STREAM,
    maxAgeS: 3600,
    maxInFlight: 10,
    ackTimeoutMs: 5000,
    logger: createLogger('silent'),
  });
  l0.start();
  await until('stream', () => p0.streamExists);
  await l0.close();
  await consumer.call({ op: 'start', url: nats.url, stream: STREAM });
  const rows: Array<Record<string, string | number>> = [];
  const verdicts: string[] = [];
  for (const perFrame of [10, 50]) {
    const base = await runCase(perFrame, false, nats.url, clients, consumer);
    const withBus = await runCase(perFrame, true, nats.url, clients, consumer);
    rows.push(base.row, withBus.row);
    const cost = base.p99 && withBus.p99 ? `${(withBus.p99 / base.p99).toFixed(2)}x` : '-';
    verdicts.push(
      `${perFrame * 1000} ticks/s: /ticks p99 ${f(base.p99, 3)} ms alone, ${f(withBus.p99, 3)} ms while publishing to NATS (${cost}); ` +
        `main-thread CPU per update ${base.usPerUpdate.toFixed(1)} → ${withBus.usPerUpdate.toFixed(1)} µs (the rest of the difference is nats-server and the consumer on the same cores)`,
    );
  }
  table(rows);
  for (const v of verdicts) console.log(v);
} finally {
  await consumer.call({ op: 'stop' }).catch(() => undefined);
  consumer.stop();
  clients.stop();
  await nats.close();
}
