/**
 * /ticks fan-out over real loopback websockets.
 *
 * Load: 10,000 full-mode updates/s (depth 5 + 2 candles, ~790-byte messages) cycling over 500
 * instruments, in two frame shapes: 10 updates every 1 ms (many small frames: the hard case) and
 * 100 updates every 10 ms. Each frame is decoded from V3 bytes like the live path. Two fields of
 * every update are stamped with process.hrtime in ms: `ts` at the moment fanout.publish(frame)
 * is called, `ltt` with the time the frame was due by the schedule. The clients subtract both
 * from their own hrtime at receipt (CLOCK_MONOTONIC: one clock for both processes, unlike
 * performance.timeOrigin, which each process anchors to the wall clock separately).
 * "from publish" is the fan-out's latency; "from due" adds the time a busy server took to get
 * to the frame, and "updates/s" says whether it kept up at all.
 *
 * The clients run in a child process (fanout-clients.ts): 100 clients receive up to 1,000,000
 * messages/s, and in this process their receiving would share the server's one thread, so the
 * figures would be the clients' cost as much as the server's. Separate, each side has a core.
 * The clients read websocket frames off their TCP sockets themselves (fanout-clients.ts): with
 * the `ws` library's per-message work the clients' process was the bottleneck at 100 clients.
 *
 * 1. Latency, p50/p99/max, 1/10/100 clients on '*', 5 s per case after 0.5 s of warm-up.
 *    Server: the real Fastify /ticks route and Fanout, production slow-client settings
 *    (256 KiB soft limit, 10 s, 4 MiB). Targets: p99 < 2 ms with 10 clients, < 10 ms with 100.
 * 2. Baseline, same run: a bare ws server that builds and JSON.stringify's each update for each
 *    client and sends it, no slow-client policy. Also server CPU per message sent, the figure
 *    that moves least with the other load on the machine.
 * 3. RSS of this (server) process while one client is stalled for 30 s (raw TCP: upgrade, then
 *    never reads) and one fast client keeps receiving (10 updates every 1 ms), sampled after
 *    global.gc() every 5 s. Target: growth < 20 MB. Measured after a 10 s control with the fast
 *    client alone, printed too: V8 commits its young generation's second semi-space (~13 MB)
 *    in the first seconds of any load after a gc(), stalled client or not, and a baseline taken
 *    before that counted it as the stalled client's. Run first, so the latency cases' buffers
 *    do not already sit in RSS.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';
import { getHeapSpaceStatistics } from 'node:v8';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';
import { decodeFrame } from '../../src/upstox/codec.js';
import type { DecodedFrame, TickUpdate } from '../../src/upstox/feed-types.js';
import { encodeFeedResponse } from '../../src/upstox/proto-schema.js';
import { tickJson } from '../../src/fanout/tick-json.js';
import { startServerFixture, type ServerFixture } from '../helpers/server-fixture.js';
import { until } from '../helpers/poll.js';
import { table } from './bench-util.js';
import { fullFeed } from './sample-feed.js';

const INSTRUMENTS = 500;
/** A publisher this far behind the end of its window gives up on the frames still due. */
const GRACE_MS = 1000;
const WARMUP_MS = 500;
const MEASURE_MS = 5000;
const STALL_MS = 30_000;
/** The stall case's control: the same load with the fast client alone, before the stalled one connects. */
const CONTROL_MS = 10_000;
const SAMPLE_EVERY_MS = 5000;
/** Production defaults (Fanout and config.http.wsMaxBufferedBytes). */
const SLOW = { softLimitBytes: 256 * 1024, slowClientTimeoutMs: 10_000 };

const here = dirname(fileURLToPath(import.meta.url));
const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
/** Percentiles of nothing arrive from the client process as null (JSON has no NaN). */
const ms = (x: number | null, digits: number) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(digits) : '-');
const ratio = (a: number | null, b: number | null) =>
  typeof a === 'number' && typeof b === 'number' && b > 0 ? `${(a / b).toFixed(2)}x` : '-';

// ---- load -------------------------------------------------------------------------------------

interface Shape {
  perFrame: number;
  periodMs: number;
  /** INSTRUMENTS / perFrame encoded frames, published in turn. */
  frames: Uint8Array[];
}

function shape(perFrame: number, periodMs: number): Shape {
  const frames: Uint8Array[] = [];
  for (let f = 0; f < INSTRUMENTS / perFrame; f++) {
    const feeds: Record<string, unknown> = {};
    for (let i = f * perFrame; i < (f + 1) * perFrame; i++) feeds[`NSE_EQ|INE${String(i).padStart(6, '0')}01018`] = fullFeed(i, 5);
    frames.push(encodeFeedResponse({ type: 1, feeds, currentTs: 1_732_000_000_000 }));
  }
  return { perFrame, periodMs, frames };
}

const describeShape = (sh: Shape) => `${sh.perFrame} updates every ${sh.periodMs} ms`;

/**
 * Publishes the frames due in [startAt, endAt), one every periodMs, late ones as soon as it can
 * (a backlog in one go, as a socket read would deliver it), giving up GRACE_MS after endAt:
 * a server that cannot keep up publishes fewer. Resolves with the number of updates published.
 */
function runPublisher(sh: Shape, publish: (frame: DecodedFrame) => void, startAt: number, endAt: number): Promise<number> {
  const scheduled = Math.ceil((endAt - startAt) / sh.periodMs);
  let n = 0;
  return new Promise((resolve) => {
    const tick = () => {
      const now = nowMs();
      while (n < scheduled && startAt + n * sh.periodMs <= now && nowMs() < endAt + GRACE_MS) {
        const frame = decodeFrame(sh.frames[n % sh.frames.length]);
        const stamp = nowMs();
        frame.ts = stamp;
        for (const u of frame.updates) {
          u.ts = stamp;
          u.ltt = startAt + n * sh.periodMs;
        }
        publish(frame);
        n++;
      }
      if (n === scheduled || nowMs() >= endAt + GRACE_MS) return resolve(n * sh.perFrame);
      setTimeout(tick, Math.max(0, startAt + n * sh.periodMs - nowMs()));
    };
    setTimeout(tick, Math.max(0, startAt - nowMs()));
  });
}

// ---- the client process ---------------------------------------------------------------------

interface LatencyReport {
  received: number;
  perClient: number[];
  closed: Array<{ code: number; at: number } | null>;
  fromPublish: Percentiles;
  fromDue: Percentiles;
  cpuPercent: number;
}

interface Percentiles {
  min: number;
  p50: number;
  p99: number;
  max: number;
}

class ClientProcess {
  private readonly child: ChildProcess;
  private waiting: ((msg: Record<string, unknown>) => void) | null = null;
  constructor() {
    this.child = fork(join(here, 'fanout-clients.js'), [], { execArgv: [] });
    this.child.on('message', (msg: Record<string, unknown>) => this.waiting?.(msg));
  }
  call<T = Record<string, unknown>>(msg: Record<string, unknown>): Promise<T> {
    return new Promise((resolve, reject) => {
      this.waiting = (r) => {
        this.waiting = null;
        if (typeof r['error'] === 'string') reject(new Error(`client process: ${r['error']}`));
        else resolve(r as T);
      };
      this.child.send(msg);
    });
  }
  stop(): void {
    this.child.disconnect();
  }
}

// ---- the baseline server: stringify per client per update, ws send --------------------------

/** The same fields as tickJson, built as an object the way a straightforward handler would. */
function naiveMessage(u: TickUpdate): Record<string, unknown> {
  const m: Record<string, unknown> = { type: 'tick', key: u.key, ts: u.ts, ltp: u.ltp, ltt: u.ltt, ltq: u.ltq, cp: u.cp };
  Object.assign(m, { atp: u.atp, vtt: u.vtt, oi: u.oi, iv: u.iv, tbq: u.tbq, tsq: u.tsq });
  for (let i = 0, l = 1; i + 3 < u.depth.length; i += 4, l++) {
    m[`bid_qty_${l}`] = u.depth[i];
    m[`bid_price_${l}`] = u.depth[i + 1];
    m[`ask_qty_${l}`] = u.depth[i + 2];
    m[`ask_price_${l}`] = u.depth[i + 3];
  }
  if (u.candles)
    m['candles'] = u.candles.map((k) => ({
      interval: k.interval,
      open: k.open,
      high: k.high,
      low: k.low,
      close: k.close,
      volume: k.volume,
      ts: k.ts,
    }));
  return m;
}

async function startBaseline(): Promise<{ wss: WebSocketServer; url: string; publish(frame: DecodedFrame): void }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss.once('listening', r));
  const port = (wss.address() as { port: number }).port;
  const OPEN = 1;
  return {
    wss,
    url: `ws://127.0.0.1:${port}/ticks?keys=*`,
    publish(frame) {
      for (const u of frame.updates) for (const c of wss.clients) if (c.readyState === OPEN) c.send(JSON.stringify(naiveMessage(u)));
    },
  };
}

// ---- 1 + 2: latency -------------------------------------------------------------------------

interface Side {
  name: string;
  url: string;
  clientCount(): number;
  publish(frame: DecodedFrame): void;
  conflated(): number;
}

/** Lets the queues drain: waits until every message is in or the count stops moving. */
async function drained(clients: ClientProcess, expected: number): Promise<void> {
  let last = -1;
  const deadline = nowMs() + 5000;
  for (;;) {
    const { received } = await clients.call<{ received: number }>({ op: 'count' });
    if (received >= expected || received === last || nowMs() > deadline) return;
    last = received;
    await sleep(250);
  }
}

async function latencyCase(clients: ClientProcess, sh: Shape, side: Side, n: number) {
  await clients.call({ op: 'open', url: side.url, n });
  await until(`${n} clients on ${side.name}`, () => side.clientCount() === n, { timeoutMs: 10_000, intervalMs: 5 });
  const conflated0 = side.conflated();
  const t0 = nowMs() + 50;
  const from = t0 + WARMUP_MS;
  const to = from + MEASURE_MS;
  await clients.call({ op: 'window', start: from, end: to });
  gc();
  const cpu0 = process.cpuUsage();
  const published = await runPublisher(sh, (f) => side.publish(f), t0, to);
  const cpu = process.cpuUsage(cpu0);
  const elapsedMs = nowMs() - t0;
  const serverCpuMs = (cpu.user + cpu.system) / 1000;
  const scheduledInWindow = (MEASURE_MS / sh.periodMs) * sh.perFrame;
  // Frames not published by the end (server too slow) count as not delivered.
  const expected = scheduledInWindow * n;
  await drained(clients, expected);
  const r = await clients.call<LatencyReport>({ op: 'report' });
  await clients.call({ op: 'closeAll' });
  await until(`${side.name} clients gone`, () => side.clientCount() === 0, { timeoutMs: 10_000, intervalMs: 5 });
  const p = r.fromPublish;
  return {
    r,
    usPerMsg: (serverCpuMs * 1000) / (published * n),
    row: {
      frames: describeShape(sh),
      server: side.name,
      clients: String(n),
      'p50 ms': ms(p.p50, 3),
      'p99 ms': ms(p.p99, 3),
      'max ms': ms(p.max, 1),
      'from due: p99': ms(r.fromDue.p99, 1),
      max: ms(r.fromDue.max, 1),
      'updates/s': String(Math.round(published / ((to - t0) / 1000) / 100) * 100),
      delivered: `${((r.received / expected) * 100).toFixed(1)}%`,
      conflated: String(side.conflated() - conflated0),
      'server cpu': `${((serverCpuMs / elapsedMs) * 100).toFixed(0)}%`,
      'server us/msg': ((serverCpuMs * 1000) / (published * n)).toFixed(2),
      'clients cpu': `${r.cpuPercent.toFixed(0)}%`,
    },
  };
}

// ---- 3: a stalled client ----------------------------------------------------------------------

/** V8's young generation, as committed (pages it has touched): RSS it takes back only on its own terms. */
function youngGenMB(): string {
  const s = getHeapSpaceStatistics().find((x) => x.space_name === 'new_space');
  return s ? mb(s.physical_space_size) : '-';
}

async function stallCase(clients: ClientProcess, sh: Shape): Promise<void> {
  const fx = await startServerFixture(SLOW);
  try {
    const wss = fx.app.websocketServer as WebSocketServer;
    await clients.call({ op: 'open', url: `${fx.wsUrl}/ticks?keys=*`, n: 1 });
    const start = nowMs() + 50;
    const from = start + 2000; // warm-up: JIT, the heap's working size, the 500 keys' latest ticks
    const stallAt = from + CONTROL_MS;
    const end = stallAt + STALL_MS;
    await clients.call({ op: 'window', start: from, end });
    const publishing = runPublisher(sh, (f) => fx.fanout.publish(f), start, end);
    await sleep(from - nowMs());
    gc();
    const first = process.memoryUsage();
    const rows: Array<Record<string, string | number>> = [];
    const sample = (label: string, base: number, queued: string): number => {
      const m = process.memoryUsage();
      rows.push({
        't s': label,
        'rss MB': mb(m.rss),
        'rss growth MB': mb(m.rss - base),
        'heapUsed MB': mb(m.heapUsed),
        'arrayBuffers MB': mb(m.arrayBuffers),
        'young gen MB': youngGenMB(),
        'stalled queued KiB': queued,
        conflated: String(fx.stats.wsMessagesDropped),
      });
      return m.rss;
    };
    sample('control', first.rss, '-');
    // The control: the same load with the fast client alone. The heap grows to its working size
    // here (V8 commits its second semi-space at the first scavenges after a gc(), ~13 MB with
    // or without a stalled client), so the growth measured after it is the stalled client's.
    let controlPeak = first.rss;
    for (let t = SAMPLE_EVERY_MS; t <= CONTROL_MS; t += SAMPLE_EVERY_MS) {
      await sleep(from + t - nowMs());
      gc();
      controlPeak = Math.max(controlPeak, sample(`control ${t / 1000}`, first.rss, '-'));
    }
    const before = new Set(wss.clients);
    gc();
    const baseRss = sample('before', first.rss, '-');
    const t0 = nowMs();
    await clients.call({ op: 'openStalled', url: `${fx.wsUrl}/ticks?keys=*` });
    const stalledWs = [...wss.clients].find((w) => !before.has(w))!;
    // Spy on the server side: the close code/reason the fan-out chose, and when the socket died.
    const closes: Array<{ code: number | undefined; reason: string; atS: string }> = [];
    let gone: string | null = null;
    const close = stalledWs.close.bind(stalledWs);
    stalledWs.close = (code?: number, reason?: string | Buffer) => {
      closes.push({ code, reason: String(reason ?? ''), atS: ((nowMs() - t0) / 1000).toFixed(2) });
      close(code, reason);
    };
    stalledWs.on('close', () => (gone = ((nowMs() - t0) / 1000).toFixed(2)));

    let peak = baseRss;
    for (let t = SAMPLE_EVERY_MS; t <= STALL_MS; t += SAMPLE_EVERY_MS) {
      await sleep(t0 + t - nowMs());
      gc();
      peak = Math.max(peak, sample(`stalled ${t / 1000}`, first.rss, gone ? 'closed' : (stalledWs.bufferedAmount / 1024).toFixed(0)));
    }
    const published = await publishing;
    const expected = ((CONTROL_MS + STALL_MS) / sh.periodMs) * sh.perFrame;
    await drained(clients, expected);
    const r = await clients.call<LatencyReport>({ op: 'report' });
    await clients.call({ op: 'closeAll' });
    table(rows);
    const control = (controlPeak - first.rss) / 1024 / 1024;
    const growth = (peak - baseRss) / 1024 / 1024;
    console.log(
      `rss growth with the stalled client (peak - before) ${growth.toFixed(1)} MB (target < 20 MB): ${growth < 20 ? 'met' : 'MISSED'}; ` +
        `the control before it, fast client alone, grew ${control.toFixed(1)} MB (the heap reaching its working size)`,
    );
    console.log(
      `stalled client: ${fx.stats.wsMessagesDropped.toLocaleString('en-US')} messages conflated/dropped; ` +
        (closes.length
          ? `closed by the fan-out with ${closes[0].code} "${closes[0].reason}" at ${closes[0].atS} s, socket gone at ${gone ?? 'never'} s`
          : 'NOT closed'),
    );
    console.log(
      `fast client alongside: ${r.received.toLocaleString('en-US')} of ${expected.toLocaleString('en-US')} updates due in the ${(CONTROL_MS + STALL_MS) / 1000} s ` +
        `(${published.toLocaleString('en-US')} published in all), latency from publish p50 ${ms(r.fromPublish.p50, 3)} ms, ` +
        `p99 ${ms(r.fromPublish.p99, 3)} ms, max ${ms(r.fromPublish.max, 1)} ms; from due p99 ${ms(r.fromDue.p99, 3)} ms; ` +
        `closed: ${r.closed[0] ? r.closed[0].code : 'no'}`,
    );
  } finally {
    await fx.close();
  }
}

// ---- run ------------------------------------------------------------------------------------

async function latencyPart(clients: ClientProcess, shapes: Shape[]): Promise<void> {
  const fx: ServerFixture = await startServerFixture(SLOW);
  const base = await startBaseline();
  const fanoutSide: Side = {
    name: 'fanout',
    url: `${fx.wsUrl}/ticks?keys=*`,
    clientCount: () => fx.fanout.clientCount,
    publish: (f) => fx.fanout.publish(f),
    conflated: () => fx.stats.wsMessagesDropped,
  };
  const baseSide: Side = {
    name: 'baseline',
    url: base.url,
    clientCount: () => base.wss.clients.size,
    publish: (frame) => base.publish(frame),
    conflated: () => 0,
  };
  const rows: Array<Record<string, string | number>> = [];
  const verdicts: string[] = [];
  try {
    for (const sh of shapes) {
      for (const n of [1, 10, 100]) {
        const ours = await latencyCase(clients, sh, fanoutSide, n);
        const theirs = await latencyCase(clients, sh, baseSide, n);
        rows.push(ours.row, theirs.row);
        const p99 = ours.r.fromPublish.p99;
        const limit = n === 10 ? 2 : n === 100 ? 10 : Infinity;
        // Met only if every update due was delivered, too: a server that fell behind has not.
        const all = ours.r.received === n * (MEASURE_MS / sh.periodMs) * sh.perFrame;
        const target = limit === Infinity ? '' : ` (target < ${limit} ms: ${p99 < limit && all ? 'met' : 'MISSED'})`;
        verdicts.push(
          `${describeShape(sh)}, ${String(n).padStart(3)} clients: p99 fanout ${ms(p99, 3)} ms${target}, baseline ${ms(theirs.r.fromPublish.p99, 3)} ms, ` +
            `baseline/fanout ${ratio(theirs.r.fromPublish.p99, p99)}; ` +
            `server CPU per message ${ratio(theirs.usPerMsg, ours.usPerMsg)}`,
        );
      }
    }
  } finally {
    for (const c of base.wss.clients) c.terminate();
    base.wss.close();
    await fx.close();
  }
  table(rows);
  for (const v of verdicts) console.log(v);
}

const small = shape(10, 1);
const sample = decodeFrame(small.frames[0]).updates[0];
console.log(
  `load: 10,000 updates/s over ${INSTRUMENTS} instruments, full mode: message ${Buffer.byteLength(tickJson(sample))} bytes ` +
    `(baseline's ${Buffer.byteLength(JSON.stringify(naiveMessage(sample)))}); clients in a child process`,
);
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
console.log(`load average at start: ${load()} (2 cores shared with other work: latency tails move with it)`);
if (!(globalThis as { gc?: unknown }).gc) console.log('(no global.gc: run with --expose-gc for meaningful RSS figures)');

/** `node fanout.bench.js latency|stall` runs one part (both by default). */
const only = process.argv[2];
const clients = new ClientProcess();
try {
  if (only !== 'latency') {
    console.log(
      `\n3. one stalled client (raw TCP, never reads) for ${STALL_MS / 1000} s + one fast client, after ${CONTROL_MS / 1000} s of the fast client alone, ${describeShape(small)}; server RSS after gc()`,
    );
    await stallCase(clients, small);
  }
  if (only !== 'stall') {
    console.log(`\n1+2. latency to client receipt, ms; ${MEASURE_MS / 1000} s per case`);
    await latencyPart(clients, [small, shape(100, 10)]);
  }
} finally {
  clients.stop();
  console.log(`load average at end: ${load()}`);
}
