/**
 * Property: whatever InfluxDB answers (2xx, 400 for bad lines, 400 about the request, 413, 5xx,
 * timeouts with or without the points stored, a line it answers 500 to every time) and wherever
 * the process crashes, the write path with a real spool (SQLite file) keeps its promises:
 *  - conservation: after every step, pointsBuilt = landed + buffered + spooled + dead-lettered + drops;
 *  - order: per series, points first reach the server in the order they were built;
 *  - dead letters hold only the lines the server rejects, and each of those ends there;
 *  - every other flushed point lands.
 * The server is a fake that records every line it stored; the spool and line protocol are real.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { WriteClient, WriteOutcome } from '../../src/influx/write-client.js';
import { createLogger } from '../../src/logger.js';
import { Spool } from '../../src/spool/spool.js';
import { Stats } from '../../src/stats.js';
import type { StorageReport } from '../../machines/events.js';
import { WritePath } from '../../src/storage/write-path.js';
import { tickFrame } from '../helpers/storage-fixture.js';

type Answer = 'ok' | '5xx' | 'timeout' | 'timeoutStored' | '413' | 'badRequest';
const TRANSIENT = new Set<Answer>(['5xx', 'timeout', 'timeoutStored']);

const GOOD_KEYS = ['NSE_EQ|P1', 'NSE_EQ|P2', 'NSE_FO|P3'];
const BAD_KEY = 'NSE_EQ|BADLINE';
const POISON_KEY = 'NSE_EQ|POISON';

/** The series (measurement and tags) and timestamp of a line. */
const seriesOf = (line: string) => line.slice(0, line.indexOf(' '));
const tsOf = (line: string) => Number(line.slice(line.lastIndexOf(' ') + 1));
/** Lines carry microseconds (ms·1000 + an in-millisecond sequence); points are named by their ms. */
const idOf = (line: string) => `${seriesOf(line)}@${Math.floor(tsOf(line) / 1000)}`;

class FakeInflux implements WriteClient {
  /** Every line stored, in the order the server took it (replays included). */
  readonly stored: string[] = [];
  private i = 0;
  constructor(private readonly script: readonly Answer[]) {}

  finish(): void {
    this.i = this.script.length;
  }

  write(body: Buffer | string): Promise<WriteOutcome> {
    const lines = body.toString().split('\n');
    const a: Answer = this.i < this.script.length ? this.script[this.i++] : 'ok';
    const bad = lines.some((l) => l.includes(BAD_KEY));
    const poison = lines.some((l) => l.includes(POISON_KEY));
    const answer = (): WriteOutcome => {
      if (a === '5xx') return { kind: 'unavailable', status: 503, message: 'InfluxDB answered 503' };
      if (a === 'timeout') return { kind: 'unavailable', message: 'InfluxDB did not answer' };
      if (a === '413' && lines.length > 1) return { kind: 'tooLarge', status: 413, message: 'request too large' };
      if (a === 'badRequest') return { kind: 'badRequest', status: 400, message: 'Please provide either orgID or org' };
      if (bad) return { kind: 'rejected', status: 400, message: `unable to parse '${lines.find((l) => l.includes(BAD_KEY))!}'` };
      // InfluxDB 2.0's answer to a field-type conflict: a 500, every time.
      if (poison) return { kind: 'unavailable', status: 500, message: 'InfluxDB answered 500: field type conflict' };
      this.stored.push(...lines);
      return { kind: 'ok' };
    };
    if (a === 'timeoutStored' && !bad && !poison) {
      // The server stored the points; the answer never came.
      this.stored.push(...lines);
      return Promise.resolve({ kind: 'unavailable', message: 'InfluxDB did not answer' });
    }
    return Promise.resolve(answer());
  }

  probe(): Promise<void> {
    return Promise.resolve();
  }

  close(): void {}
}

type Cmd = { t: 'push'; frames: number; bad: boolean; poison: boolean } | { t: 'flush' } | { t: 'up' } | { t: 'crash'; lanes: number };

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant('push' as const),
      frames: fc.integer({ min: 1, max: 30 }),
      bad: fc.boolean(),
      poison: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ t: 'flush' as const }) },
  { weight: 2, arbitrary: fc.constant({ t: 'up' as const }) },
  // A restart may come with another INFLUX_WRITE_LANES (the spool then replays with one lane until empty).
  { weight: 1, arbitrary: fc.record({ t: fc.constant('crash' as const), lanes: fc.constantFrom(1, 2, 3) }) },
);

/** No two transient failures in a row: a valid line met by one is answered normally when asked again alone. */
const scriptArb = fc
  .array(fc.constantFrom<Answer>('ok', 'ok', '5xx', 'timeout', 'timeoutStored', '413', 'badRequest'), { maxLength: 60 })
  .map((s) => s.map((a, i) => (i > 0 && TRANSIENT.has(a) && TRANSIENT.has(s[i - 1]) ? 'ok' : a)));

class Run {
  stats = new Stats();
  spool: Spool;
  wp: WritePath;
  private drains: Promise<unknown> = Promise.resolve();

  constructor(
    readonly path: string,
    readonly client: FakeInflux,
    lanes: number,
  ) {
    const logger = createLogger('silent');
    this.spool = new Spool({ path, maxBytes: 1 << 30, fullPolicy: 'drop-oldest', stats: this.stats, logger, lockTimeoutMs: 0 });
    this.wp = new WritePath({
      spool: this.spool,
      client,
      stats: this.stats,
      logger,
      batchMaxPoints: 1_000_000,
      flushIntervalMs: 1_000_000,
      drainChunkPoints: 40,
      extraTags: {},
      split5xxAfter: 3,
      lanes,
      report: (e) => this.onReport(e),
    });
  }

  private onReport(e: StorageReport): void {
    // As the writer and drainer machines do: a failure closes the route; a backlog is drained.
    if (e.type === 'WRITE_FAILED') this.wp.setRoute(false);
    if (e.type === 'SPOOLED') {
      this.drains = this.drains.then(async () => {
        this.wp.setDraining(true);
        try {
          while (this.spool.pendingBatches() > 0) await this.wp.drainChunk();
        } catch {
          // A failed chunk: the route is closed; the next 'up' resumes.
        } finally {
          this.wp.setDraining(false);
        }
      });
    }
  }

  async quiet(): Promise<void> {
    for (let i = 0; i < 3; i++) {
      await this.drains;
      await this.wp.drainChunk(0).catch(() => undefined);
    }
  }

  balance(): number {
    return this.stats.unaccounted(this.spool.pendingPoints());
  }

  crash(): void {
    this.wp.abort();
    this.spool.close();
  }
}

describe('write path under random InfluxDB outcomes (fast-check)', () => {
  it('conserves points, keeps per-series order, dead-letters only rejected lines, lands the rest (1 to 3 write lanes, changed at restarts)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tickpipe-prop-'));
    let n = 0;
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(cmdArb, { minLength: 1, maxLength: 40 }),
          scriptArb,
          fc.constantFrom(1, 2, 3),
          async (cmds, script, lanes) => {
            const path = join(dir, `p${n++}.db`);
            const fake = new FakeInflux(script);
            let run = new Run(path, fake, lanes);
            let ts = 1_750_000_000_000;
            /** Point ids flushed (durable), and those pushed since the last flush (lost in a crash). */
            const flushed: string[] = [];
            let unflushed: string[] = [];
            const flush = () => {
              run.wp.flush();
              flushed.push(...unflushed);
              unflushed = [];
            };
            try {
              for (const c of cmds) {
                if (c.t === 'push') {
                  for (let f = 0; f < c.frames; f++) {
                    ts++;
                    const prices: Record<string, number> = {};
                    for (const k of GOOD_KEYS) prices[k] = 100 + (ts % 50);
                    if (c.bad && f === 0) prices[BAD_KEY] = 1;
                    if (c.poison && f === c.frames - 1) prices[POISON_KEY] = 1;
                    for (const k of Object.keys(prices)) unflushed.push(`tick,instrument_key=${k},segment=${k.split('|')[0]}@${ts}`);
                    run.wp.pushFrame(tickFrame(ts, prices));
                  }
                } else if (c.t === 'flush') flush();
                else if (c.t === 'up') run.wp.setRoute(true);
                else {
                  await run.quiet();
                  run.crash();
                  unflushed = [];
                  run = new Run(path, fake, c.lanes);
                }
                await run.quiet();
                assert.equal(run.balance(), 0, `conservation after ${c.t}: ${JSON.stringify(run.stats)}`);
              }
              // The server heals: every answer is now the honest one. Deliver everything.
              fake.finish();
              flush();
              for (let i = 0; i < 20 && (run.spool.pendingBatches() > 0 || run.wp.memoryPoints() > 0); i++) {
                run.wp.setRoute(true);
                await run.quiet();
              }
              assert.equal(run.balance(), 0, 'conservation at the end');
              assert.equal(run.spool.pendingPoints(), 0, 'everything delivered once the server heals');

              const dead = run.spool.recentDeadLetters(1_000_000).map((d) => d.line);
              for (const l of dead) assert.ok(l.includes(BAD_KEY) || l.includes(POISON_KEY), `a valid line was dead-lettered: ${l}`);
              const rejectedIds = new Set(flushed.filter((id) => id.includes(BAD_KEY) || id.includes(POISON_KEY)));
              assert.deepEqual(new Set(dead.map(idOf)), rejectedIds, 'every rejected line is dead-lettered, once');
              assert.equal(dead.length, rejectedIds.size, 'no line dead-lettered twice');

              const storedIds = new Set(fake.stored.map(idOf));
              const goodIds = flushed.filter((id) => !rejectedIds.has(id));
              for (const id of goodIds) assert.ok(storedIds.has(id), `flushed point never landed: ${id}`);

              // Order: per series, the first arrival of each point follows build order.
              const firstSeen = new Set<string>();
              const lastTs = new Map<string, number>();
              for (const line of fake.stored) {
                const id = idOf(line);
                if (firstSeen.has(id)) continue;
                firstSeen.add(id);
                const s = seriesOf(line);
                assert.ok((lastTs.get(s) ?? -Infinity) < tsOf(line), `series ${s}: ${tsOf(line)} landed after a newer point`);
                lastTs.set(s, tsOf(line));
              }
            } finally {
              run.crash();
            }
          },
        ),
        { numRuns: 100 },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
