/**
 * Memory over a long InfluxDB outage: INFLUX_URL points at a closed port while frames arrive at
 * a steady 50,000 points/s for 60 s; process RSS is sampled every 5 s after a full GC.
 * tickpipe (createStorage + the real writer and drainer machines) keeps the backlog in the SQLite
 * spool on disk. Baseline, same rate and time: @influxdata/influxdb-client's default WriteApi,
 * whose retry buffer lives in memory (and drops the oldest lines past maxBufferLines = 32,000).
 * Each side runs in its own child process, one after the other, so neither sees the other's heap.
 * Target (issue 3): tickpipe's RSS growth < 50 MB.
 */
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { InfluxDB, setLogger } from '@influxdata/influxdb-client';
import { freePort } from '../helpers/ports.js';
import { table } from './bench-util.js';
import {
  POINTS_PER_FRAME,
  frameAt,
  makeFrameTemplates,
  officialPoints,
  pace,
  rssAfterGc,
  startTickpipeStorage,
  tempDir,
} from './storage-fixtures.js';

const RATE = 50_000;
const SECONDS = Number(process.env['BENCH_OUTAGE_S'] ?? 60);
const SAMPLE_S = 5;
/**
 * The outage starts at once, but the first RSS sample is taken after this warm-up at the same
 * rate: what a process needs to reach its working set (V8's heap, SQLite's page cache, malloc
 * arenas) is not growth over the outage. The process's start-up RSS is printed too.
 */
const WARMUP_S = Number(process.env['BENCH_OUTAGE_WARMUP_S'] ?? 10);
const TARGET_MB = 50;

interface Sample {
  t: number;
  rssMb: number;
  heapMb: number;
}
interface ChildResult {
  side: string;
  /** RSS before the first frame (the samples start after the warm-up). */
  startRssMb: number;
  samples: Sample[];
  pushed: number;
  /** What the side says it still holds for later (spooled points, or lines in the retry buffer). */
  kept: string;
}

/** Pushes at RATE for SECONDS, sampling RSS; `extra` describes what the side kept at the end. */
async function run(side: string, push: (n: number) => void, extra: () => string): Promise<ChildResult> {
  const before = rssAfterGc();
  const pacer = pace(RATE, push);
  await new Promise((r) => setTimeout(r, WARMUP_S * 1000));
  const samples: Sample[] = [{ t: 0, ...rssAfterGc() }];

  for (let t = SAMPLE_S; t <= SECONDS; t += SAMPLE_S) {
    await new Promise((r) => setTimeout(r, SAMPLE_S * 1000));
    samples.push({ t, ...rssAfterGc() });
  }
  pacer.stop();
  return { side, startRssMb: before.rssMb, samples, pushed: pacer.frames * POINTS_PER_FRAME, kept: extra() };
}

async function child(side: string, url: string): Promise<ChildResult> {
  const templates = makeFrameTemplates(50);
  if (side === 'tickpipe') {
    const dir = tempDir('tickpipe-bench-outage-');
    const spoolPath = `${dir.path}/spool.db`;
    const h = startTickpipeStorage({ url, spoolPath, run: 'outage' });
    try {
      const wp = h.storage.writePath;
      return await run(
        side,
        (n) => wp.pushFrame(frameAt(templates, n)),
        () => {
          const disk = ['', '-wal'].reduce((s, x) => s + (statSync(spoolPath + x, { throwIfNoEntry: false })?.size ?? 0), 0);
          return `${h.storage.spool.pendingPoints().toLocaleString('en-US')} points spooled (${(disk / 1048576).toFixed(0)} MB on disk), writer ${h.writerState()}`;
        },
      );
    } finally {
      await h.close();
      dir.remove();
    }
  }
  // The official client: default write options; its log (one line per failed batch) is counted, not printed.
  let removed = 0;
  let failures = 0;
  const count = (message: string) => {
    failures++;
    const m = /RetryBuffer: (\d+) oldest lines removed/.exec(message);
    if (m) removed += Number(m[1]);
  };
  setLogger({ error: count, warn: count });
  const api = new InfluxDB({ url, token: 'unused' }).getWriteApi('bench', 'bench', 'ms');
  try {
    return await run(
      side,
      (n) => {
        for (const p of officialPoints(frameAt(templates, n), 'outage')) api.writePoint(p);
      },
      () =>
        `${removed.toLocaleString('en-US')} oldest lines dropped from its retry buffer; ${failures.toLocaleString('en-US')} failure log lines`,
    );
  } finally {
    api.dispose();
  }
}

if (process.argv[2] === 'child') {
  const result = await child(process.argv[3], process.argv[4]);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

const started = performance.now();
const url = `http://127.0.0.1:${await freePort()}`; // nothing listens: every write is refused
console.log(
  `load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')} on 2 cores; InfluxDB down (${url} refuses connections), ${RATE.toLocaleString('en-US')} points/s for ${SECONDS} s`,
);
const results: ChildResult[] = [];
for (const side of ['tickpipe', 'official']) {
  const r = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), 'child', side, url], {
    encoding: 'utf8',
    timeout: (SECONDS + WARMUP_S + 40) * 1000,
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !line.startsWith('{')) {
    console.log(`${side} child failed (${r.status ?? r.signal}): ${r.stderr.slice(-2000)}`);
    process.exit(1);
  }
  results.push(JSON.parse(line) as ChildResult);
}
const [ours, official] = results as [ChildResult, ChildResult];
table(
  ours.samples.map((s, i) => ({
    't (s)': s.t,
    'tickpipe RSS MB': s.rssMb.toFixed(1),
    'tickpipe heap MB': s.heapMb.toFixed(1),
    'official RSS MB': official.samples[i]?.rssMb.toFixed(1) ?? '',
    'official heap MB': official.samples[i]?.heapMb.toFixed(1) ?? '',
  })),
);
const growth = (r: ChildResult) => r.samples[r.samples.length - 1].rssMb - r.samples[0].rssMb;
const peak = (r: ChildResult) => Math.max(...r.samples.map((s) => s.rssMb)) - r.samples[0].rssMb;
const fromStart = (r: ChildResult) => r.samples[r.samples.length - 1].rssMb - r.startRssMb;
const heap = (r: ChildResult) => r.samples[r.samples.length - 1].heapMb - r.samples[0].heapMb;
table(
  results.map((r) => ({
    side: r.side,
    'points pushed': r.pushed,
    'RSS at start MB': r.startRssMb.toFixed(1),
    [`after ${WARMUP_S} s warm-up MB`]: r.samples[0].rssMb.toFixed(1),
    'growth over the outage MB': growth(r).toFixed(1),
    'peak growth MB': peak(r).toFixed(1),
    'growth incl. warm-up MB': fromStart(r).toFixed(1),
    'heap growth MB': heap(r).toFixed(1),
    'kept for later': r.kept,
  })),
);
const g = growth(ours);
console.log(
  `tickpipe RSS growth ${g.toFixed(1)} MB over ${SECONDS} s of outage after a ${WARMUP_S} s warm-up (target < ${TARGET_MB} MB: ${g < TARGET_MB ? 'met' : 'NOT met'}); official client ${growth(official).toFixed(1)} MB` +
    ` (it keeps only its last 32,000 lines); including the warm-up: tickpipe ${fromStart(ours).toFixed(1)} MB, official ${fromStart(official).toFixed(1)} MB`,
);
console.log(`(${((performance.now() - started) / 1000).toFixed(1)} s)`);
