/**
 * Storage end to end: decoded full-mode frames (100 instruments, 300 points each: a 30-field
 * `tick` and two `candle` points per update) → WritePath.pushFrame → line protocol → the SQLite
 * spool → a real VictoriaMetrics, driven by the real writer and drainer machines; timed until
 * InfluxDB acknowledged every point built (stats.pointsWritten), then checked in VM's export.
 * Rates count the points the frames carry (POINTS_PER_FRAME each), the data both sides deliver:
 * tickpipe writes fewer of them, because a batch writes each candle once (its copies merged).
 * Baseline, same run, same VM: @influxdata/influxdb-client's `Point` API with its default
 * WriteApi options (one Point per point, writePoint, then close; a writeSuccess counter added to
 * know when every point landed, because close() does not wait for batches already sent).
 * Also, without network: the CPU cost of turning frames into line protocol, both ways.
 * Target (issue 3): >= 200,000 points/s end to end on one core.
 * Note: VictoriaMetrics runs on the machine's other core, so it is not charged to either side.
 */
import { loadavg } from 'node:os';
import { PerformanceObserver } from 'node:perf_hooks';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { InfluxDB } from '@influxdata/influxdb-client';
import { InfluxWriteClient } from '../../src/influx/write-client.js';
import { LineProtocolBuilder, PointBatch } from '../../src/influx/line-protocol.js';
import { until } from '../helpers/poll.js';
import { type Victoria, startVictoria } from '../helpers/victoria.js';
import { opsPerSecond, table } from './bench-util.js';
import {
  INSTRUMENTS,
  POINTS_PER_FRAME,
  frameAt,
  makeFrameTemplates,
  officialPoints,
  startTickpipeStorage,
  tempDir,
} from './storage-fixtures.js';

const TEMPLATES = makeFrameTemplates(50);
const WARM_FRAMES = 100;
const FRAMES = Number(process.env['BENCH_FRAMES'] ?? 2000);
const TARGET = 200_000;

/** CPU only: frames → line protocol text, tickpipe's builder vs Point objects + toLineProtocol. */
function cpuOnly(): Array<Record<string, string | number>> {
  const builder = new LineProtocolBuilder({ run: 'cpu' });
  let n = 0;
  let sink = 0;
  const ours =
    opsPerSecond(
      () => {
        const batch = new PointBatch();
        builder.appendFrame(frameAt(TEMPLATES, n++), batch);
        batch.seal();
        sink += batch.bytes;
      },
      1000,
      2,
    ) * POINTS_PER_FRAME;
  const baseline =
    opsPerSecond(
      () => {
        for (const p of officialPoints(frameAt(TEMPLATES, n++), 'cpu')) sink += p.toLineProtocol()!.length;
      },
      1000,
      2,
    ) * POINTS_PER_FRAME;
  if (sink < 0) console.log(sink);
  return [
    {
      stage: 'frames → line protocol (no I/O)',
      'tickpipe points/s': ours,
      'baseline points/s': baseline,
      ratio: `${(ours / baseline).toFixed(2)}x`,
    },
  ];
}

/** Points per second of this process's own CPU time (user + system): the rate one core sustains, whoever else is busy. */
function perCpuSecond(points: number, since: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(since);
  return points / ((u.user + u.system) / 1e6);
}

/** Milliseconds spent in garbage collection while `fn` runs (perf_hooks 'gc' entries). */
async function gcMsDuring<T>(fn: () => Promise<T>): Promise<{ value: T; gcMs: number; count: number }> {
  let gcMs = 0;
  let count = 0;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcMs += e.duration;
      count++;
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  try {
    const value = await fn();
    // Entries are delivered asynchronously: let the last ones arrive.
    await yieldToLoop();
    return { value, gcMs, count };
  } finally {
    obs.disconnect();
  }
}

async function tickpipeEndToEnd(
  vm: Victoria,
): Promise<{ rate: number; perCpu: number; spooled: number; drained: number; written: number; gcShare: number; gcCount: number }> {
  const dir = tempDir('tickpipe-bench-e2e-');
  const h = startTickpipeStorage({ url: vm.url, spoolPath: `${dir.path}/spool.db`, run: 'tickpipe' });
  try {
    await until('writer influxUp', () => h.writerState() === '"influxUp"', { timeoutMs: 10_000 });
    const wp = h.storage.writePath;
    const push = async (from: number, count: number) => {
      for (let n = from; n < from + count; n++) {
        wp.pushFrame(frameAt(TEMPLATES, n));
        await yieldToLoop(); // one frame per macrotask, as websocket frames arrive
      }
      wp.flush();
    };
    await push(0, WARM_FRAMES);
    await until('warm-up landed', () => h.stats.pointsWritten >= h.stats.pointsBuilt, { timeoutMs: 30_000, intervalMs: 2 });
    const before = {
      written: h.stats.pointsWritten,
      spooled: h.stats.pointsSpooled,
      drained: h.stats.pointsDrained,
      built: h.stats.pointsBuilt,
    };
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const gc = await gcMsDuring(async () => {
      await push(WARM_FRAMES, FRAMES);
      // push() ends with a flush: every point of the frames is built by then.
      await until('every point landed', () => h.stats.pointsWritten - before.written >= h.stats.pointsBuilt - before.built, {
        timeoutMs: 60_000,
        intervalMs: 2,
      });
    });
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    return {
      rate: (FRAMES * POINTS_PER_FRAME) / seconds,
      perCpu: perCpuSecond(FRAMES * POINTS_PER_FRAME, cpu0),
      spooled: h.stats.pointsSpooled - before.spooled,
      drained: h.stats.pointsDrained - before.drained,
      written: h.stats.pointsWritten - before.written,
      gcShare: gc.gcMs / ((cpu.user + cpu.system) / 1000),
      gcCount: gc.count,
    };
  } finally {
    await h.close();
    dir.remove();
  }
}

async function officialEndToEnd(vm: Victoria): Promise<{ rate: number; perCpu: number }> {
  let landed = 0;
  const api = new InfluxDB({ url: vm.url, token: 'unused-by-victoria' }).getWriteApi('bench', 'bench', 'ms', {
    writeSuccess: (lines: string[]) => {
      landed += lines.length;
    },
  });
  const push = async (from: number, count: number) => {
    for (let n = from; n < from + count; n++) {
      for (const p of officialPoints(frameAt(TEMPLATES, n, OFFICIAL_BASE_TS), 'official')) api.writePoint(p);
      await yieldToLoop();
    }
  };
  await push(0, WARM_FRAMES);
  await api.flush();
  await until('warm-up landed', () => landed >= WARM_FRAMES * POINTS_PER_FRAME, { timeoutMs: 30_000, intervalMs: 2 });
  const before = landed;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await push(WARM_FRAMES, FRAMES);
  await api.close();
  await until('every point landed', () => landed - before >= FRAMES * POINTS_PER_FRAME, { timeoutMs: 120_000, intervalMs: 2 });
  return { rate: (FRAMES * POINTS_PER_FRAME) / ((performance.now() - t0) / 1000), perCpu: perCpuSecond(FRAMES * POINTS_PER_FRAME, cpu0) };
}

/** VictoriaMetrics alone: prepared 5,000-line bodies POSTed one at a time (no building, no spool). */
async function vmCeiling(vm: Victoria): Promise<number> {
  const builder = new LineProtocolBuilder({ run: 'raw' });
  const bodies: Buffer[] = [];
  for (let n = 0, b = new PointBatch(); bodies.length < 40; n++) {
    builder.appendFrame(frameAt(TEMPLATES, n), b);
    if (b.points >= 5000) {
      bodies.push(b.body());
      b = new PointBatch();
    }
  }
  const client = new InfluxWriteClient({ url: vm.url, token: undefined, org: 'bench', bucket: 'bench', timeoutMs: 30_000 });
  let points = 0;
  const t0 = performance.now();
  for (const body of bodies) {
    const o = await client.write(body);
    if (o.kind !== 'ok') throw new Error(`raw write failed: ${JSON.stringify(o)}`);
    points += 5000;
  }
  client.close();
  return points / ((performance.now() - t0) / 1000);
}

/** The baseline writes its own time range, so both sides can be counted apart in VM. */
const OFFICIAL_BASE_TS = 1_733_000_000_000;

async function ticksInVm(vm: Victoria, run: string): Promise<number> {
  const series = await vm.exportSeries(`{__name__="tick_ltp",run="${run}"}`);
  return series.reduce((n, s) => n + s.timestamps.length, 0);
}

const started = performance.now();
console.log(
  `load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(
      ' ',
    )} on 2 cores; ${process.env['BENCH_LANES'] ?? 2} write lane(s); frames of ${INSTRUMENTS} full-mode instruments (${POINTS_PER_FRAME} points each); ${FRAMES} frames = ${(FRAMES * POINTS_PER_FRAME).toLocaleString('en-US')} points per side after a ${WARM_FRAMES}-frame warm-up`,
);
const rows = cpuOnly();
const vm = await startVictoria();
try {
  const ours = await tickpipeEndToEnd(vm);
  const official = await officialEndToEnd(vm);
  rows.push({
    stage: 'pushFrame → spool → VictoriaMetrics',
    'tickpipe points/s': ours.rate,
    'baseline points/s': official.rate,
    ratio: `${(ours.rate / official.rate).toFixed(2)}x`,
  });
  rows.push({
    stage: '  same, per second of own CPU (one core)',
    'tickpipe points/s': ours.perCpu,
    'baseline points/s': official.perCpu,
    ratio: `${(ours.perCpu / official.perCpu).toFixed(2)}x`,
  });
  table(rows);
  const ceiling = await vmCeiling(vm);
  console.log(
    `VictoriaMetrics alone takes ${Math.round(ceiling).toLocaleString('en-US')} points/s (prepared 5,000-line bodies, one request in flight): tickpipe reaches ${Math.round((100 * ours.rate) / ceiling)}% of it`,
  );
  console.log(
    `tickpipe: ${(1e6 / ours.perCpu).toFixed(2)} µs of CPU per point, ${(100 * ours.gcShare).toFixed(1)}% of it in garbage collection (${ours.gcCount} collections)`,
  );
  console.log(
    `tickpipe wrote ${ours.written.toLocaleString('en-US')} points for the ${(FRAMES * POINTS_PER_FRAME).toLocaleString('en-US')} the frames carried (each candle once per batch)`,
  );
  console.log(
    `tickpipe: ${ours.spooled.toLocaleString('en-US')} points waited in the spool behind others, ${ours.drained.toLocaleString('en-US')} replayed by the drainer`,
  );
  const expected = (WARM_FRAMES + FRAMES) * INSTRUMENTS;
  const settled = async (run: string) => {
    await until(`VM shows every ${run} tick`, async () => (await ticksInVm(vm, run)) >= expected, {
      timeoutMs: 20_000,
      intervalMs: 250,
    }).catch(() => undefined);
    return ticksInVm(vm, run);
  };
  const [tp, of] = [await settled('tickpipe'), await settled('official')];
  console.log(
    `VictoriaMetrics export: tick_ltp samples tickpipe ${tp.toLocaleString('en-US')}, official ${of.toLocaleString('en-US')} (expected ${expected.toLocaleString('en-US')} each)`,
  );
  console.log(
    `end to end ${Math.round(ours.rate).toLocaleString('en-US')} points/s wall clock, ${Math.round(ours.perCpu).toLocaleString('en-US')} points per CPU-second of tickpipe ` +
      `(target >= ${TARGET.toLocaleString('en-US')} on one core: ${ours.perCpu >= TARGET ? 'met' : 'NOT met'}; wall clock ${ours.rate >= TARGET ? 'met' : 'NOT met'}, bounded by VictoriaMetrics on the other core); ` +
      `${(ours.rate / official.rate).toFixed(2)}x the official client`,
  );
} finally {
  await vm.close();
}
console.log(`(${((performance.now() - started) / 1000).toFixed(1)} s)`);
