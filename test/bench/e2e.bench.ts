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
 * after E2E_WARMUP_S (default 5 s) of warm-up. E2E_RATES (default 10000,20000) picks the rates,
 * E2E_RUNS (default full,off) the runs, E2E_REPEAT (default 1) how often each, interleaved (full, off,
 * full, off...): the machine's speed drifts by tens of percent within an hour, so one run per side
 * can mislead; with repeats the tables show every run and a spread table the ranges, and the
 * targets are judged on the medians. Node runs the service and the storage-off side with the
 * environment `npm start` sets (the allocator setting) and its node flags (package.json), or
 * E2E_NODE_FLAGS instead of the flags ("" for none; e.g.
 * "--max-semi-space-size=64", or "--cpu-prof --cpu-prof-dir=/tmp/prof").
 * E2E_SERVICE_ENV ("NAME=value NAME=value") adds settings to the service (DRAIN_CHUNK_POINTS, INFLUX_WRITE_LANES, ...).
 * VictoriaMetrics runs in a CPU cgroup with the weight docker-compose.yml gives InfluxDB
 * (cpu_shares; cpu-group.ts), E2E_VM_CPU_SHARES another (0: none), as users run it.
 * The bench talks to the processes only over HTTP, websockets and /proc, so it measures the
 * service whichever thread its storage runs on: CPU (every thread, and the main thread alone),
 * RSS and VictoriaMetrics' CPU from /proc; the main event loop's utilisation and delay, the
 * counters and what waits (spool + memory) from the service's /metrics; rows taken in from
 * VictoriaMetrics' /metrics. e2e-report.ts prints the tables and a check line per target.
 */
import { loadavg, tmpdir } from 'node:os';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../helpers/ports.js';
import { until } from '../helpers/poll.js';
import { startServiceProcess } from '../helpers/service-process.js';
import { startVictoria, type Victoria } from '../helpers/victoria.js';
import { stopDescendantsOnSignal } from './bench-util.js';
import { openCpuGroup } from './cpu-group.js';
import { type PhaseName, type PhaseResult, printChecks, printSpread, printTables } from './e2e-report.js';
import {
  histogramQuantile,
  procCpuSeconds,
  rssPeak,
  scrape,
  startFanoutOnly,
  startSimProcess,
  startTicksClient,
  type TicksClient,
  vmRowsInserted,
} from './e2e-processes.js';

const envNum = (name: string, fallback: number, what = 'a positive number of seconds') => {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be ${what}, got ${process.env[name]}`);
  return v;
};
const PHASE_S = envNum('E2E_PHASE_S', 60);
const OUTAGE_S = envNum('E2E_OUTAGE_S', 30);
const DRAIN_MAX_S = envNum('E2E_DRAIN_MAX_S', 300);
const WARMUP_S = envNum('E2E_WARMUP_S', 5);
const RATES = (process.env['E2E_RATES'] ?? '10000,20000').split(',').map(Number);
const RUNS = new Set((process.env['E2E_RUNS'] ?? 'full,off').split(','));
const REPEAT = envNum('E2E_REPEAT', 1, 'a whole number of runs (1 or more)');
if (!Number.isInteger(REPEAT)) throw new Error(`E2E_REPEAT must be a whole number of runs (1 or more), got ${process.env['E2E_REPEAT']}`);
/**
 * How `npm start` runs node (package.json): the environment it sets before `node` (the allocator
 * setting) and node's flags. The service is measured as users run it.
 */
const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
function startCommand(): { env: Record<string, string>; flags: string[] } {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
  const argv = pkg.scripts['start'].split(/\s+/);
  const node = argv.indexOf('node');
  const env = Object.fromEntries(argv.slice(0, node).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  return { env, flags: argv.slice(node + 1, -1).filter((a) => a.startsWith('--')) };
}
const START = startCommand();
/**
 * The CPU weight docker-compose.yml gives InfluxDB (`cpu_shares: ${INFLUX_CPU_SHARES:-N}`), for
 * VictoriaMetrics here: the benchmark measures the deployment users run. E2E_VM_CPU_SHARES
 * replaces it (0: VictoriaMetrics at the default weight, like every other process).
 */
function composeInfluxShares(): number {
  const compose = readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8');
  const m = /cpu_shares: \$\{INFLUX_CPU_SHARES:-(\d+)\}/.exec(compose);
  if (!m) throw new Error("docker-compose.yml gives InfluxDB no cpu_shares: ${INFLUX_CPU_SHARES:-N} (the benchmark's default)");
  return Number(m[1]);
}
const VM_SHARES = Number(process.env['E2E_VM_CPU_SHARES'] ?? composeInfluxShares());
if (!Number.isInteger(VM_SHARES) || VM_SHARES < 0 || VM_SHARES === 1 || VM_SHARES > 262_144)
  throw new Error(
    `E2E_VM_CPU_SHARES must be 0 (no cgroup) or a CPU weight from 2 to 262144 like Docker's cpu_shares, got ${process.env['E2E_VM_CPU_SHARES']}`,
  );
const NODE_FLAGS = (process.env['E2E_NODE_FLAGS'] ?? START.flags.join(' ')).split(/\s+/).filter(Boolean);
/** E2E_SERVICE_ENV="DRAIN_CHUNK_POINTS=5000 INFLUX_WRITE_LANES=1": extra settings for the service, to compare tunings. */
const SERVICE_ENV: Record<string, string> = {
  ...START.env,
  ...Object.fromEntries(
    (process.env['E2E_SERVICE_ENV'] ?? '')
      .split(/\s+/)
      .filter(Boolean)
      .map((kv) => {
        const i = kv.indexOf('=');
        if (i <= 0) throw new Error(`E2E_SERVICE_ENV takes NAME=value pairs separated by spaces, got ${kv}`);
        return [kv.slice(0, i), kv.slice(i + 1)];
      }),
  ),
};
for (const r of RUNS) if (r !== 'full' && r !== 'off') throw new Error(`E2E_RUNS takes full and/or off (comma-separated), got ${r}`);
for (const r of RATES) if (!Number.isInteger(r) || r <= 0) throw new Error(`E2E_RATES takes positive whole updates/s, got ${r}`);
const INSTRUMENTS = 200;
const KEYS = Array.from({ length: INSTRUMENTS }, (_, i) => `NSE_EQ|E2E${String(i).padStart(4, '0')}`);
const TOKEN = 'e2e-bench-token';
const sleep = (s: number) => new Promise<void>((r) => setTimeout(r, s * 1000));

interface Mark {
  at: number;
  m: Map<string, number>;
  cpu: number | null;
  mainCpu: number | null;
  vmCpu: number | null;
  vmRows: number | null;
}
const mark = async (baseUrl: string, pid: number, vm: { pid: number; url: string } | undefined): Promise<Mark> => ({
  at: performance.now(),
  m: await scrape(baseUrl),
  cpu: procCpuSeconds(pid),
  mainCpu: procCpuSeconds(pid, true),
  vmCpu: procCpuSeconds(vm?.pid),
  vmRows: vm ? await vmRowsInserted(vm.url) : null,
});

/** One phase's result: latency from the client, the rest from the marks around it. */
function result(
  phase: PhaseName,
  label: string,
  rate: number,
  lat: PhaseResult['lat'],
  a: Mark,
  b: Mark,
  rssPeakBytes: number,
): PhaseResult {
  const s = (b.at - a.at) / 1000;
  const has = (name: string) => a.m.has(name) && b.m.has(name);
  const d = (name: string) => (has(name) ? b.m.get(name)! - a.m.get(name)! : null);
  const dd = (x: number | null, y: number | null) => (x === null || y === null ? null : y - x);
  const updates = d('tickpipe_updates_received_total') ?? lat.ticks;
  const perUpdate = (cpu: number | null) => (cpu === null || updates <= 0 ? null : (cpu * 1e6) / updates);
  const perS = (v: number | null) => (v === null ? null : v / s);
  const gauge = (m: Map<string, number>, name: string, scale = 1) => (m.has(name) ? m.get(name)! * scale : null);
  const waiting = (m: Map<string, number>) =>
    phase === 'off' || !m.has('tickpipe_spool_pending_points')
      ? null
      : m.get('tickpipe_spool_pending_points')! + (m.get('tickpipe_points_buffered') ?? 0);
  return {
    phase,
    label,
    rate,
    seconds: s,
    lat,
    cpuUsPerUpdate: perUpdate(dd(a.cpu, b.cpu)),
    mainCpuUsPerUpdate: perUpdate(dd(a.mainCpu, b.mainCpu)),
    cpuShare: perS(dd(a.cpu, b.cpu)),
    // The service's gauges cover the time since the previous scrape: the phase (mark a scraped at its start).
    elu: gauge(b.m, 'tickpipe_event_loop_utilisation'),
    gcShare: perS(d('gc_seconds')),
    eldP99Ms: gauge(b.m, 'tickpipe_event_loop_delay_p99_seconds', 1000),
    eldMaxMs: gauge(b.m, 'tickpipe_event_loop_delay_max_seconds', 1000),
    rssPeakMb: rssPeakBytes / 1048576,
    vmCpuShare: perS(dd(a.vmCpu, b.vmCpu)),
    updatesPerS: updates / s,
    builtPerS: phase === 'off' ? null : perS(d('tickpipe_points_built_total')),
    writtenPerS: phase === 'off' ? null : perS(d('tickpipe_points_written_total')),
    vmRowsPerS: perS(dd(a.vmRows, b.vmRows)),
    pendingStart: waiting(a.m),
    pendingEnd: waiting(b.m),
    handlingMs: quantilesMs(a.m, b.m, 'tickpipe_frame_handling_seconds'),
    feedDelayMs: quantilesMs(a.m, b.m, 'tickpipe_feed_delay_seconds'),
  };
}

/** p50 and p99 in ms of a seconds histogram of the service's, over the phase. */
function quantilesMs(a: Map<string, number>, b: Map<string, number>, name: string): { p50: number | null; p99: number | null } {
  const at = (q: number) => {
    const v = histogramQuantile(a, b, name, q);
    return v === null ? null : v * 1000;
  };
  return { p50: at(0.5), p99: at(0.99) };
}

interface PhaseCtx {
  baseUrl: string;
  pid: number;
  client: TicksClient;
  vm?: Victoria;
}

/** Runs `body` as one phase: client latency and marks around it, RSS sampled throughout. */
async function phase(name: PhaseName, label: string, rate: number, ctx: PhaseCtx, body: () => Promise<void>): Promise<PhaseResult> {
  const vmAt = (): { pid: number; url: string } | undefined =>
    ctx.vm?.pid === undefined ? undefined : { pid: ctx.vm.pid, url: ctx.vm.url };
  const vmBefore = vmAt();
  await ctx.client.mark();
  const a = await mark(ctx.baseUrl, ctx.pid, vmBefore);
  const rss = rssPeak(ctx.pid);
  await body();
  const lat = await ctx.client.mark();
  // VictoriaMetrics' figures only over a phase it ran through as one process.
  const vmAfter = vmAt();
  const b = await mark(ctx.baseUrl, ctx.pid, vmAfter?.pid === vmBefore?.pid ? vmAfter : undefined);
  return result(name, label, rate, lat, a, b, rss.stop());
}

async function fullRun(rate: number): Promise<PhaseResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'tickpipe-e2e-'));
  const vm: Victoria = await startVictoria();
  vmGroup.add(vm.pid);
  const sim = await startSimProcess({ rate, intervalMs: (INSTRUMENTS * 1000) / rate, keys: KEYS, token: TOKEN });
  const port = await freePort();
  const svc = startServiceProcess(
    {
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
      ...SERVICE_ENV,
    },
    undefined,
    NODE_FLAGS,
  );
  let client: TicksClient | undefined;
  try {
    await svc.waitForState(
      'the service streaming with InfluxDB up',
      (s) => s.actors.connection.value === 'streaming' && s.actors.writer.value === 'influxUp',
      30_000,
    );
    client = await startTicksClient(svc.baseUrl);
    await sleep(WARMUP_S);
    const ctx: PhaseCtx = { baseUrl: svc.baseUrl, pid: svc.child.pid!, client, vm };
    const results = [await phase('steady', 'steady writes', rate, ctx, () => sleep(PHASE_S))];
    results.push(
      await phase('cutoff', `InfluxDB cut off (${OUTAGE_S} s)`, rate, ctx, async () => {
        await vm.stop();
        await sleep(OUTAGE_S);
        await vm.start();
        vmGroup.add(vm.pid);
      }),
    );
    let drainedAfter: number | null = null;
    const drain = await phase('drain', 'draining while live', rate, ctx, async () => {
      const t0 = performance.now();
      // Empty: every point written, the writer back up. A service that cannot keep up never gets there.
      drainedAfter = await until(
        'the spool drained',
        async () => {
          const s = await svc.state();
          return s.spool.pendingPoints === 0 && s.actors.writer.value === 'influxUp';
        },
        { timeoutMs: DRAIN_MAX_S * 1000, intervalMs: 1000 },
      ).then(
        () => (performance.now() - t0) / 1000,
        () => null,
      );
    });
    drain.label =
      drainedAfter === null
        ? `draining (not empty after ${DRAIN_MAX_S} s)`
        : `draining while live (empty after ${Math.round(drainedAfter)} s)`;
    results.push(drain);
    return results;
  } finally {
    await client?.stop();
    await svc.stop('SIGTERM');
    await sim.stop();
    await vm.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function storageOffRun(rate: number): Promise<PhaseResult> {
  const sim = await startSimProcess({ rate, intervalMs: (INSTRUMENTS * 1000) / rate, keys: KEYS, token: TOKEN });
  const side = await startFanoutOnly(sim.apiUrl, TOKEN, KEYS, NODE_FLAGS, START.env);
  let client: TicksClient | undefined;
  try {
    client = await startTicksClient(side.baseUrl);
    await sleep(WARMUP_S);
    return await phase('off', 'storage off (fan-out alone)', rate, { baseUrl: side.baseUrl, pid: side.pid, client }, () => sleep(PHASE_S));
  } finally {
    await client?.stop();
    await side.stop();
    await sim.stop();
  }
}

stopDescendantsOnSignal();
const vmGroup = openCpuGroup(VM_SHARES);
const started = performance.now();
const load = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
console.log(
  `e2e: simulator, service, VictoriaMetrics and a /ticks client in separate processes; ${INSTRUMENTS} instruments per frame, full mode;\n` +
    `rates ${RATES.join(', ')} updates/s; runs ${[...RUNS].join(', ')}${REPEAT > 1 ? ` x${REPEAT}, interleaved` : ''}; phases ${PHASE_S} s, cut-off ${OUTAGE_S} s, drain at most ${DRAIN_MAX_S} s; ` +
    `node flags: ${NODE_FLAGS.join(' ') || 'none'}; load average ${load()}\n${vmGroup.description}`,
);
const results: PhaseResult[] = [];
try {
  for (const rate of RATES) {
    for (let run = 1; run <= REPEAT; run++) {
      const these: PhaseResult[] = [];
      if (RUNS.has('full')) these.push(...(await fullRun(rate)));
      if (RUNS.has('off')) these.push(await storageOffRun(rate));
      for (const r of these) {
        r.run = run;
        if (REPEAT > 1) r.label = `${r.label}, run ${run}`;
      }
      results.push(...these);
      console.log(`(${rate} updates/s${REPEAT > 1 ? `, run ${run} of ${REPEAT}` : ''} done; load average ${load()})`);
    }
  }
} finally {
  // Its processes have exited with their runs; an empty group is removed.
  vmGroup.close();
}
printTables(results);
if (REPEAT > 1) printSpread(results);
printChecks(results);
console.log(`\n(${((performance.now() - started) / 1000).toFixed(0)} s; load average now ${load()}: 1, 5 and 15 minutes)`);
