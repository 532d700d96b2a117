/**
 * End to end, the way a trader's machine runs it: the simulator (its CLI, a process of
 * its own), the service (`node dist/src/main.js`, configured by environment, full mode, default
 * batching), VictoriaMetrics, and a /ticks client (e2e-client.ts, a process of its own) that
 * stamps each tick as it parses it. Latency: the client's parse time minus the frame's
 * `currentTs` (one wall clock for the simulator and the client; whole ms on both sides, so each
 * figure is within ±1 ms).
 *
 * Per rate (10,000 and 20,000 updates/s, 200 instruments per frame: a frame every 20 or 10 ms):
 *   steady     writes to VictoriaMetrics              E2E_PHASE_S   (default 60 s)
 *   cut off    VictoriaMetrics stopped (SIGTERM)      E2E_OUTAGE_S  (default 30 s, the issue's)
 *   drain      started again; until the spool is empty, at most E2E_DRAIN_MAX_S (default 300 s)
 *   storage off  the fan-out alone (e2e-fanout-only.ts; the service has no such switch)  E2E_PHASE_S
 * after E2E_WARMUP_S (default 5 s) of warm-up. E2E_RATES (default 10000,20000) picks the rates.
 * Service figures come from its own /metrics (process_cpu_seconds_total: every thread; the
 * event loop since the previous scrape), RSS and VictoriaMetrics' CPU from /proc.
 */
import { loadavg } from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../helpers/ports.js';
import { until } from '../helpers/poll.js';
import { startServiceProcess } from '../helpers/service-process.js';
import { startVictoria, type Victoria } from '../helpers/victoria.js';
import { table } from './bench-util.js';
import type { LatencySummary } from './e2e-client.js';
import { procCpuSeconds, rssPeak, scrape, startFanoutOnly, startSimProcess, startTicksClient, type TicksClient } from './e2e-processes.js';

const envNum = (name: string, fallback: number) => {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number of seconds, got ${process.env[name]}`);
  return v;
};
const PHASE_S = envNum('E2E_PHASE_S', 60);
const OUTAGE_S = envNum('E2E_OUTAGE_S', 30);
const DRAIN_MAX_S = envNum('E2E_DRAIN_MAX_S', 300);
const WARMUP_S = envNum('E2E_WARMUP_S', 5);
const RATES = (process.env['E2E_RATES'] ?? '10000,20000').split(',').map(Number);
const INSTRUMENTS = 200;
const KEYS = Array.from({ length: INSTRUMENTS }, (_, i) => `NSE_EQ|E2E${String(i).padStart(4, '0')}`);
const TOKEN = 'e2e-bench-token';
const sleep = (s: number) => new Promise<void>((r) => setTimeout(r, s * 1000));

interface Mark {
  at: number;
  m: Map<string, number>;
  vmCpu: number | null;
}
const mark = async (baseUrl: string, vmPid: number | undefined): Promise<Mark> => ({
  at: performance.now(),
  m: await scrape(baseUrl),
  vmCpu: procCpuSeconds(vmPid),
});

type Row = Record<string, string | number>;
const ms = (v: number | null) => (v === null ? '-' : String(v));

/** One phase's row: latency from the client, the rest from the marks around it. */
function row(phase: string, rate: number, lat: LatencySummary, a: Mark, b: Mark, rssPeakBytes: number, vmPid: number | undefined): Row {
  const s = (b.at - a.at) / 1000;
  const d = (name: string) => (b.m.get(name) ?? 0) - (a.m.get(name) ?? 0);
  const updates = d('tickpipe_updates_received_total');
  const vmCpu = a.vmCpu !== null && b.vmCpu !== null && vmPid !== undefined ? `${Math.round(((b.vmCpu - a.vmCpu) / s) * 100)}%` : '-';
  return {
    phase,
    'upd/s': rate,
    s: String(Math.round(s)),
    ticks: lat.ticks,
    p50: ms(lat.p50),
    p99: ms(lat.p99),
    'p99.9': ms(lat.p999),
    max: ms(lat.max),
    'µs CPU/upd': updates > 0 ? ((d('process_cpu_seconds_total') * 1e6) / updates).toFixed(1) : '-',
    ELU: (b.m.get('tickpipe_event_loop_utilisation') ?? NaN).toFixed(2),
    'ELD p99/max ms': `${((b.m.get('tickpipe_event_loop_delay_p99_seconds') ?? NaN) * 1000).toFixed(0)}/${((b.m.get('tickpipe_event_loop_delay_max_seconds') ?? NaN) * 1000).toFixed(0)}`,
    'RSS MB': Math.round(rssPeakBytes / 1048576),
    'VM CPU': vmCpu,
    'in upd/s': Math.round(updates / s),
    'written pts/s': Math.round(d('tickpipe_points_written_total') / s),
  };
}

/** Runs `body` as one phase: client latency and marks around it, RSS sampled throughout. */
async function phase(
  name: string,
  rate: number,
  ctx: { baseUrl: string; pid: number; client: TicksClient; vmPid: () => number | undefined },
  body: () => Promise<void>,
): Promise<Row> {
  const vmPid = ctx.vmPid();
  await ctx.client.mark();
  const a = await mark(ctx.baseUrl, vmPid);
  const rss = rssPeak(ctx.pid);
  await body();
  const lat = await ctx.client.mark();
  // VictoriaMetrics' CPU only over a phase it ran through as one process.
  const samePid = ctx.vmPid() === vmPid ? vmPid : undefined;
  const b = await mark(ctx.baseUrl, samePid);
  return row(name, rate, lat, a, b, rss.stop(), samePid);
}

async function fullRun(rate: number): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), 'tickpipe-e2e-'));
  const vm: Victoria = await startVictoria();
  const sim = await startSimProcess({ rate, intervalMs: (INSTRUMENTS * 1000) / rate, keys: KEYS, token: TOKEN });
  const port = await freePort();
  const svc = startServiceProcess({
    UPSTOX_API_URL: sim.apiUrl,
    INSTRUMENT_MASTER_URL: `${sim.apiUrl}/instruments/complete.json.gz`,
    UPSTOX_ACCESS_TOKEN: TOKEN,
    INSTRUMENTS: KEYS.join(','),
    FEED_MODE: 'full',
    INFLUX_URL: vm.url,
    INFLUX_TOKEN: 'unused-by-victoria',
    INFLUX_ORG: 'tickpipe',
    INFLUX_BUCKET: 'ticks',
    SPOOL_PATH: join(dir, 'spool.db'),
    HTTP_PORT: String(port),
    LOG_LEVEL: 'warn',
  });
  let client: TicksClient | undefined;
  try {
    await svc.waitForState(
      'the service streaming with InfluxDB up',
      (s) => s.actors.connection.value === 'streaming' && s.actors.writer.value === 'influxUp',
      30_000,
    );
    client = await startTicksClient(svc.baseUrl);
    await sleep(WARMUP_S);
    const ctx = { baseUrl: svc.baseUrl, pid: svc.child.pid!, client, vmPid: () => vm.pid };
    const rows = [await phase('steady writes', rate, ctx, () => sleep(PHASE_S))];
    rows.push(
      await phase('InfluxDB cut off', rate, ctx, async () => {
        await vm.stop();
        await sleep(OUTAGE_S);
        await vm.start();
      }),
    );
    let drained = false;
    rows.push(
      await phase('draining while live', rate, ctx, async () => {
        // Empty: every point written, the writer back up. A service that cannot keep up never gets there.
        drained = await until(
          'the spool drained',
          async () => {
            const s = await svc.state();
            return s.spool.pendingPoints === 0 && s.actors.writer.value === 'influxUp';
          },
          { timeoutMs: DRAIN_MAX_S * 1000, intervalMs: 1000 },
        ).then(
          () => true,
          () => false,
        );
      }),
    );
    const last = rows[rows.length - 1];
    if (!drained) last['phase'] = `draining (not empty after ${DRAIN_MAX_S} s)`;
    last['spool at end'] = (await svc.state()).spool.pendingPoints;
    return rows;
  } finally {
    await client?.stop();
    await svc.stop('SIGTERM');
    await sim.stop();
    await vm.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function storageOffRun(rate: number): Promise<Row> {
  const sim = await startSimProcess({ rate, intervalMs: (INSTRUMENTS * 1000) / rate, keys: KEYS, token: TOKEN });
  const side = await startFanoutOnly(sim.apiUrl, TOKEN, KEYS);
  let client: TicksClient | undefined;
  try {
    client = await startTicksClient(side.baseUrl);
    await sleep(WARMUP_S);
    return await phase('storage off (fan-out alone)', rate, { baseUrl: side.baseUrl, pid: side.pid, client, vmPid: () => undefined }, () =>
      sleep(PHASE_S),
    );
  } finally {
    await client?.stop();
    await side.stop();
    await sim.stop();
  }
}

const started = performance.now();
console.log(
  `e2e: simulator, service, VictoriaMetrics and a /ticks client in separate processes; ${INSTRUMENTS} instruments per frame, full mode; ` +
    `phases ${PHASE_S} s, cut-off ${OUTAGE_S} s, drain at most ${DRAIN_MAX_S} s (E2E_PHASE_S, E2E_OUTAGE_S, E2E_DRAIN_MAX_S); load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
);
const rows: Row[] = [];
for (const rate of RATES) {
  rows.push(...(await fullRun(rate)));
  rows.push(await storageOffRun(rate));
}
console.log('\nlatency in ms from the frame (currentTs) to the client parsing the tick (±1 ms); CPU: the service, every thread');
table(rows.map((r) => ({ ...r, 'spool at end': r['spool at end'] ?? '' })));
console.log('\nprevious design (same machine, quiet): 5,000 updates/s (50 instruments x 100 frames/s)');
table([
  { phase: 'steady writes', p50: '4', p99: '121', max: '169' },
  { phase: 'InfluxDB cut off', p50: '4', p99: '170', max: '274' },
  { phase: 'draining while live', p50: '4', p99: '177', max: '289' },
]);
console.log(
  'and at 200 instruments per frame: ~69 µs CPU per update at 10,000 updates/s (GC 16-21%); at 20,000 updates/s it fell behind,\n' +
    'writing 28,000-39,000 of the 80,000 points/s needed, event-loop delay p99 440-520 ms, VictoriaMetrics 40-55% of a core.\n' +
    'targets at 10,000 updates/s: p99 <= 5 ms and max <= 25 ms in each phase, and <= 2x the storage-off p99;\n' +
    '<= 14 µs CPU per update, ELU <= 0.30, RSS <= 200 MB; 20,000 updates/s sustained.',
);
console.log(`\n(${((performance.now() - started) / 1000).toFixed(0)} s; load average now ${loadavg()[0].toFixed(1)})`);
