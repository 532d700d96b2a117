/**
 * Instrument master: parse time and peak RSS for a file of 100,000 instruments in Upstox's shape
 * (complete.json.gz), streamed into the index (tickpipe) versus the baseline of gunzipping the
 * whole file and `JSON.parse` on it (then building the same index), same run. Each method runs
 * in its own child process so one's heap does not inflate the other's peak RSS.
 * Target: bounded memory, start-up not delayed more than a few seconds.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { MasterIndex, pickInstrument } from '../../src/instruments/master-index.js';
import { parseMasterFile } from '../../src/instruments/master-parse.js';
import { masterGzip, masterRecords } from '../helpers/master-fixture.js';
import { table } from './bench-util.js';

const TOTAL = 100_000;
const mode = process.argv[2];

async function child(file: string): Promise<void> {
  const rssBefore = process.memoryUsage().rss;
  const start = performance.now();
  let size: number;
  if (mode === 'stream') {
    size = (await parseMasterFile(file)).index.size;
  } else {
    const all = JSON.parse(gunzipSync(readFileSync(file)).toString('utf8')) as Array<Record<string, unknown>>;
    const index = new MasterIndex();
    for (const o of all) {
      const inst = pickInstrument(o);
      if (inst) index.add(inst);
    }
    size = index.size;
  }
  const ms = performance.now() - start;
  global.gc?.();
  const retained = process.memoryUsage().rss;
  process.stdout.write(JSON.stringify({ ms, size, rssBefore, peakRss: process.resourceUsage().maxRSS * 1024, retained }));
}

if (mode) {
  await child(process.argv[3]);
} else {
  // Options: NIFTY and BANKNIFTY, 8 weekly expiries, 201 strikes, CE+PE: 6,432; the rest equities.
  const expiries = ['2026-12-01', '2026-12-08', '2026-12-15', '2026-12-22', '2026-12-29', '2027-01-05', '2027-01-12', '2027-01-19'];
  const options = 2 * expiries.length * 201 * 2;
  const fixture = { expiries, strikesEachSide: 100, equities: TOTAL - options - 7 };
  const dir = mkdtempSync(join(tmpdir(), 'tickpipe-master-bench-'));
  const file = join(dir, 'complete.json.gz');
  writeFileSync(file, masterGzip(fixture));
  const jsonBytes = Buffer.byteLength(JSON.stringify(masterRecords(fixture)));
  const run = (m: string) => {
    const r = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), m, file], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${m} failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as { ms: number; size: number; rssBefore: number; peakRss: number; retained: number };
  };
  const rows: Array<Record<string, string | number>> = [];
  const mb = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MB`;
  for (const [name, m] of [
    ['tickpipe (streamed)', 'stream'],
    ['baseline (JSON.parse)', 'json'],
  ] as const) {
    // Best of three: the machine is shared.
    const best = [run(m), run(m), run(m)].sort((a, b) => a.ms - b.ms)[0];
    rows.push({
      method: name,
      instruments: best.size,
      'parse ms': Math.round(best.ms),
      'peak RSS': mb(best.peakRss),
      'peak over start': mb(best.peakRss - best.rssBefore),
      'RSS after (index kept)': mb(best.retained),
    });
  }
  console.log(`file: ${TOTAL.toLocaleString('en-US')} instruments, ${mb(statSync(file).size)} gzipped, ${mb(jsonBytes)} of JSON`);
  table(rows);
  rmSync(dir, { recursive: true, force: true });
}
