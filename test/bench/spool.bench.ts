/**
 * The spool: how fast batches of 5000 lines go in (Spool.append, one SQLite transaction each),
 * and how fast WritePath.drainChunk replays a backlog of 500,000 points into a real
 * VictoriaMetrics while live frames keep arriving at 20,000 points/s (and wait behind it).
 * Baselines, same run: appending the same text to a plain file (what a write-ahead log costs
 * without SQLite), and POSTing the same 20,000-line bodies straight to VM, one request in flight
 * (what VM itself takes; no spool reads or deletes).
 * Target (issue 3): drain >= 100,000 points/s.
 */
import { closeSync, openSync, statSync, writeSync } from 'node:fs';
import { loadavg } from 'node:os';
import { InfluxWriteClient } from '../../src/influx/write-client.js';
import { LineProtocolBuilder, PointBatch } from '../../src/influx/line-protocol.js';
import { createLogger } from '../../src/logger.js';
import { Spool } from '../../src/spool/spool.js';
import { Stats } from '../../src/stats.js';
import type { DrainProgress } from '../../machines/events.js';
import { WritePath } from '../../src/storage/write-path.js';
import { until } from '../helpers/poll.js';
import { startVictoria } from '../helpers/victoria.js';
import { table } from './bench-util.js';
import { BASE_TS, INSTRUMENTS, MB, POINTS_PER_FRAME, frameAt, makeFrameTemplates, pace, tempDir } from './storage-fixtures.js';

const BATCH = 5000;
/** Write lanes (INFLUX_WRITE_LANES); BENCH_LANES=1 measures the one-request-at-a-time design. */
const LANES = Number(process.env['BENCH_LANES'] ?? 2);
const BACKLOG = Number(process.env['BENCH_BACKLOG'] ?? 500_000);
const LIVE_RATE = 20_000;
const RAW_POINTS = 200_000;
const DRAIN_CHUNK = 20_000;
const TARGET_DRAIN = 100_000;
const LIVE_BASE_TS = BASE_TS + 50_000_000;

const templates = makeFrameTemplates(50);
const gc = (): void => (globalThis as { gc?: () => void }).gc?.();

/**
 * `points` points of consecutive frames (tag run=`run`), cut as the write path cuts them: a
 * flush every BATCH points (a frame is never split), one batch per write lane (`shard`).
 */
function batches(points: number, run: string): Array<PointBatch & { shard: number }> {
  const builder = new LineProtocolBuilder({ run });
  const out: Array<PointBatch & { shard: number }> = [];
  let total = 0;
  let building = Array.from({ length: LANES }, () => new PointBatch());
  const cut = () => {
    building.forEach((b, shard) => {
      b.seal();
      if (b.points > 0) out.push(Object.assign(b, { shard }));
    });
    building = Array.from({ length: LANES }, () => new PointBatch());
  };
  for (let n = 0, inBatch = 0; total < points; n++) {
    const added = builder.appendFrame(frameAt(templates, n), LANES === 1 ? building[0] : building);
    total += added;
    inBatch += added;
    if (inBatch >= BATCH) {
      cut();
      inBatch = 0;
    }
  }
  cut();
  return out;
}

const started = performance.now();
const dir = tempDir('tickpipe-bench-spool-');
const vm = await startVictoria();
const stats = new Stats();
const logger = createLogger(process.env['BENCH_LOG_LEVEL'] ?? 'error');
const spool = new Spool({ path: `${dir.path}/spool.db`, maxBytes: 2048 * 1024 * 1024, fullPolicy: 'drop-oldest', stats, logger });
const client = new InfluxWriteClient({ url: vm.url, token: undefined, org: 'bench', bucket: 'bench', timeoutMs: 30_000 });
try {
  console.log(
    `load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} on 2 cores; ${INSTRUMENTS}-instrument full-mode frames, ${POINTS_PER_FRAME} points each; ${LANES} write lane(s)`,
  );

  // 1. Spool.append vs a plain file, same batches (join included on both sides).
  // Plain file first, its batches dropped before the spool's are built: neither pays for the other's garbage.
  let plain: PointBatch[] | null = batches(BACKLOG, 'plain');
  const fd = openSync(`${dir.path}/plain.lp`, 'a');
  gc();
  let t0 = performance.now();
  for (const b of plain) writeSync(fd, b.body());
  const plainS = (performance.now() - t0) / 1000;
  closeSync(fd);
  plain = null;
  const backlog = batches(BACKLOG, 'drain');
  gc();
  t0 = performance.now();
  spool.adoptLanes(LANES);
  for (const b of backlog) spool.append(spool.takeSeq(), b, b.shard);
  const appendS = (performance.now() - t0) / 1000;
  const bytes = spool.pendingBytes();
  console.log('\nSpool.append, batches of 5,000 lines');
  table([
    {
      writer: 'Spool.append (SQLite WAL)',
      'batches/s': backlog.length / appendS,
      'points/s': BACKLOG / appendS,
      'MB/s': MB(bytes / appendS),
      'vs plain file': `${(plainS / appendS).toFixed(2)}x`,
    },
    {
      writer: 'plain file append (baseline)',
      'batches/s': backlog.length / plainS,
      'points/s': BACKLOG / plainS,
      'MB/s': MB(statSync(`${dir.path}/plain.lp`).size / plainS),
      'vs plain file': '1.00x',
    },
  ]);

  // 2. Baseline for the drain: the same kind of bodies straight to VM, one request in flight.
  const raw = batches(RAW_POINTS, 'raw');
  const bodies: Buffer[] = [];
  for (let i = 0; i < raw.length;) {
    const parts: Buffer[] = [];
    for (let points = 0; i < raw.length && points < DRAIN_CHUNK; i++) {
      if (parts.length > 0) parts.push(Buffer.from('\n'));
      parts.push(raw[i].body());
      points += raw[i].points;
    }
    bodies.push(Buffer.concat(parts));
  }
  t0 = performance.now();
  for (const body of bodies) {
    const o = await client.write(body);
    if (o.kind !== 'ok') throw new Error(`raw write failed: ${JSON.stringify(o)}`);
  }
  const rawRate = RAW_POINTS / ((performance.now() - t0) / 1000);

  // 3. The drain, with live frames arriving meanwhile (they are spooled behind the backlog).
  const wp = new WritePath({
    spool,
    client,
    stats,
    logger,
    batchMaxPoints: BATCH,
    flushIntervalMs: 1000,
    drainChunkPoints: DRAIN_CHUNK,
    extraTags: { run: 'drain' },
    lanes: LANES,
    report: () => {},
  });
  wp.setDraining(true);
  wp.setRoute(true);
  const builtBefore = stats.pointsBuilt;
  const live = pace(LIVE_RATE, (n) => wp.pushFrame(frameAt(templates, n, LIVE_BASE_TS)));
  const progress: DrainProgress[] = [];
  // Timed until the backlog is replayed (live points queue behind it, so they are drained too).
  t0 = performance.now();
  while (stats.pointsDrained < BACKLOG) progress.push(await wp.drainChunk(1000));
  const drainS = (performance.now() - t0) / 1000;
  const drained = stats.pointsDrained;
  live.stop();
  while (spool.pendingPoints() > 0) await wp.drainChunk(1000);
  wp.setDraining(false);
  wp.flush();
  // Points built from the live frames (fewer than they carried: each candle once per batch).
  const livePoints = stats.pointsBuilt - builtBefore;
  await until('the last live points landed', () => stats.pointsWritten >= BACKLOG + livePoints, { timeoutMs: 30_000, intervalMs: 10 });
  await wp.flushAndClose(2000);
  const drainRate = drained / drainS;
  console.log(
    `\nDrain of a ${BACKLOG.toLocaleString('en-US')}-point backlog into VictoriaMetrics (chunks of ${DRAIN_CHUNK.toLocaleString('en-US')} points) while live frames arrive at ${LIVE_RATE.toLocaleString('en-US')} points/s`,
  );
  table([
    {
      path: 'WritePath.drainChunk (spool → VM)',
      'points/s': drainRate,
      points: drained,
      seconds: drainS.toFixed(1),
      'vs raw POST': `${(drainRate / rawRate).toFixed(2)}x`,
    },
    {
      path: 'raw POST of prepared bodies (baseline)',
      'points/s': rawRate,
      points: RAW_POINTS,
      seconds: (RAW_POINTS / rawRate).toFixed(1),
      'vs raw POST': '1.00x',
    },
  ]);
  console.log(`drainChunk reported ${progress.map((p) => p.ratePerS.toLocaleString('en-US')).join(', ')} points/s per ~1 s call`);
  console.log(
    `live: ${livePoints.toLocaleString('en-US')} points pushed during the drain (${Math.round(livePoints / drainS).toLocaleString('en-US')}/s), replayed behind the backlog`,
  );

  const expectedTicks = Math.floor(BACKLOG / POINTS_PER_FRAME) * INSTRUMENTS;
  const ticks = async () => (await vm.exportSeries('{__name__="tick_ltp",run="drain"}')).reduce((n, s) => n + s.timestamps.length, 0);
  const minTicks = expectedTicks + live.frames * INSTRUMENTS;
  await until('VM shows the drained ticks', async () => (await ticks()) >= minTicks, { timeoutMs: 20_000, intervalMs: 250 }).catch(
    () => undefined,
  );
  console.log(
    `VictoriaMetrics export: ${(await ticks()).toLocaleString('en-US')} tick_ltp samples with run=drain (at least ${minTicks.toLocaleString('en-US')} expected); spool now holds ${spool.pendingPoints()} points`,
  );
  console.log(
    `drain ${Math.round(drainRate).toLocaleString('en-US')} points/s (target >= ${TARGET_DRAIN.toLocaleString('en-US')}: ${drainRate >= TARGET_DRAIN ? 'met' : 'NOT met'}); ${(drainRate / rawRate).toFixed(2)}x a raw POST of the same bodies`,
  );
} finally {
  client.close();
  spool.close();
  await vm.close();
  dir.remove();
}
console.log(`(${((performance.now() - started) / 1000).toFixed(1)} s)`);
