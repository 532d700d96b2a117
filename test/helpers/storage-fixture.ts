/**
 * The storage layer as the service runs it, without the feed: openStorage (spool, write path)
 * and the writer and drainer machines provided with it, under the real pipeline root machine,
 * which routes the data plane's reports and the writer's INFLUX_UP/INFLUX_DOWN exactly as in
 * production. The feed never starts (no START_FEED); the notifier is disabled, and the LANDED
 * events the root routes to it are recorded.
 * Frames are built directly as DecodedFrame objects with distinct timestamps, so every point can
 * be counted back in VictoriaMetrics.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { type AnyActorRef, type StateValue, createActor } from 'xstate';
import type { Config } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { Stats } from '../../src/stats.js';
import { type Storage, openStorage } from '../../src/storage/open-storage.js';
import { drainerInput, provideDrainer, provideWriter, writerInput } from '../../src/storage/storage.js';
import { type DecodedFrame, FeedKind, FrameType, TickUpdate } from '../../src/upstox/feed-types.js';
import type { LandedEvent } from '../../machines/events.js';
import { pipelineMachine } from '../../machines/pipeline.js';
import { pipelineTestInput, quietConnection, recordingNotifier } from './pipeline-fakes.js';
import { until } from './poll.js';
import { type InfluxGate, startInfluxGate } from './influx-gate.js';
import { type TestStore, startTestStore } from './test-store.js';
import type { Victoria } from './victoria.js';

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

export interface StorageFixtureOptions {
  spoolPath: string;
  /** undefined: INFLUX_URL not set. */
  influxUrl: string | undefined;
  influx?: Partial<Config['influx']>;
  spool?: Partial<Omit<Config['spool'], 'path'>>;
}

export interface StorageFixture {
  storage: Storage;
  stats: Stats;
  /** Every log line (pino JSON), oldest first. */
  logs: LogLine[];
  /** LANDED events the root routed to the notifier. */
  landed: LandedEvent[];
  writer(): AnyActorRef;
  drainer(): AnyActorRef;
  /** The writer's state as a dotted path, e.g. `influxUp`, `influxDown.refused`. */
  writerState(): string;
  drainerState(): string;
  writerContext(): Record<string, unknown>;
  waitWriter(state: string | RegExp, timeoutMs?: number): Promise<void>;
  /** Flushes the batch being built and waits until the spool is empty. */
  waitSpoolEmpty(timeoutMs?: number): Promise<void>;
  /** storage.close then the actors, in the service's order. Idempotent. */
  close(timeoutMs?: number): Promise<void>;
  /**
   * The conservation law: pointsBuilt = landed + buffered + spool pending +
   * dead-lettered + every drop counter. Holds at any moment (in-flight points are still spooled).
   */
  assertConserved(what?: string): void;
}

export function stateString(v: StateValue): string {
  if (typeof v === 'string') return v;
  const [k, child] = Object.entries(v)[0];
  return `${k}.${stateString(child as StateValue)}`;
}

export function startStorage(o: StorageFixtureOptions): StorageFixture {
  const stats = new Stats();
  const logs: LogLine[] = [];
  const landed: LandedEvent[] = [];
  const logger = createLogger('info', { write: (s: string) => void logs.push(JSON.parse(s) as LogLine) });
  const config: Pick<Config, 'influx' | 'spool'> = {
    influx: {
      url: o.influxUrl,
      token: 'test-token',
      org: 'tickpipe',
      bucket: 'ticks',
      batchMaxPoints: 50,
      flushIntervalMs: 100,
      writeTimeoutMs: 2000,
      probeBaseMs: 50,
      probeMaxMs: 200,
      extraTags: {},
      split5xxAfter: 3,
      writeLanes: 2,
      ...o.influx,
    },
    spool: {
      path: o.spoolPath,
      maxBytes: 64 * 1024 * 1024,
      fullPolicy: 'drop-oldest',
      drainChunkPoints: 200,
      memoryMaxPoints: 100_000,
      lockTimeoutMs: 2000,
      deadLetterMax: 100_000,
      workerNice: 0,
      workerQueueMaxBytes: 512 * 1024 * 1024,
      ...o.spool,
    },
  };
  let root: ReturnType<typeof createActor<typeof pipelineMachine>> | undefined = undefined;
  // As src/service.ts does: the data plane reports to the root, which routes.
  const storage = openStorage({ config, stats, logger, report: (event) => root?.send(event) });
  root = createActor(
    pipelineMachine.provide({
      actors: {
        connection: quietConnection,
        writer: provideWriter({ writePath: storage.writePath, logger: logger.child({ actor: 'writer' }) }),
        drainer: provideDrainer({ writePath: storage.writePath, logger: logger.child({ actor: 'drainer' }) }),
        notifier: recordingNotifier(),
      },
    }),
    {
      input: pipelineTestInput({ writer: writerInput(config), drainer: drainerInput(config) }),
      inspect: (ev) => {
        if (ev.type === '@xstate.event' && (ev.actorRef as AnyActorRef).id === 'notifier' && ev.event.type === 'LANDED')
          landed.push(ev.event as LandedEvent);
      },
    },
  );
  root.start();
  const get = (id: string): AnyActorRef => {
    const a = root.system.get(id) as AnyActorRef | undefined;
    if (!a) throw new Error(`no actor ${id}`);
    return a;
  };
  const writerState = () => stateString(get('writer').getSnapshot().value as StateValue);
  let closed: Promise<void> | undefined;
  return {
    storage,
    stats,
    logs,
    landed,
    writer: () => get('writer'),
    drainer: () => get('drainer'),
    writerState,
    drainerState: () => stateString(get('drainer').getSnapshot().value as StateValue),
    writerContext: () => get('writer').getSnapshot().context as Record<string, unknown>,
    async waitWriter(state, timeoutMs = 10_000) {
      await until(
        `writer ${String(state)} (is ${writerState()})`,
        () => (typeof state === 'string' ? writerState() === state : state.test(writerState())),
        {
          timeoutMs,
          intervalMs: 20,
        },
      );
    },
    async waitSpoolEmpty(timeoutMs = 15_000) {
      storage.writePath.flush();
      await until(
        `spool empty (${storage.spool.pendingPoints()} points pending, writer ${writerState()})`,
        () => storage.spool.pendingPoints() === 0,
        {
          timeoutMs,
          intervalMs: 20,
        },
      );
    },
    assertConserved(what = 'conservation') {
      const s = stats;
      const pending = storage.spool.pendingPoints();
      assert.equal(
        s.unaccounted(pending),
        0,
        `${what}: built ${s.pointsBuilt} != landed ${s.pointsLanded} + buffered ${s.pointsBuffered} + pending ${pending} + dead ${s.pointsDeadLettered} + dropped ${s.droppedTotal()}`,
      );
    },
    close(timeoutMs = 1000) {
      return (closed ??= (async () => {
        try {
          await storage.close(timeoutMs);
        } finally {
          root.stop();
        }
      })());
    },
  };
}

/**
 * The contract's conservation law, read from a `/state` document: pointsBuilt = pointsLanded +
 * pointsBuffered + spool.pendingPoints + pointsDeadLettered + Σ pointsDropped<Reason>.
 */
export function assertStateConserved(state: { stats: Record<string, number>; spool: { pendingPoints: number } }, what: string): void {
  const s = state.stats;
  let dropped = 0;
  for (const [k, v] of Object.entries(s)) if (k.startsWith('pointsDropped')) dropped += v;
  const accounted = s['pointsLanded'] + s['pointsBuffered'] + state.spool.pendingPoints + s['pointsDeadLettered'] + dropped;
  assert.equal(s['pointsBuilt'], accounted, `${what}: conservation law (${JSON.stringify(s)}, pending ${state.spool.pendingPoints})`);
}

/** One `tick` point per key (and optionally one candle point) at frame time `ts`. */
export function tickFrame(
  ts: number,
  prices: Record<string, number>,
  candle?: { key: string; interval: string; ts: number; close: number },
): DecodedFrame {
  const updates: TickUpdate[] = [];
  for (const [key, ltp] of Object.entries(prices)) {
    const u = new TickUpdate();
    u.key = key;
    u.segment = key.split('|')[0]!;
    u.ts = ts;
    u.kind = candle?.key === key ? FeedKind.MarketFull : FeedKind.Ltpc;
    u.ltp = ltp;
    u.ltt = ts;
    u.ltq = 1;
    u.cp = 100;
    if (candle?.key === key) {
      u.atp = ltp;
      u.candles = [
        {
          interval: candle.interval,
          open: candle.close,
          high: candle.close,
          low: candle.close,
          close: candle.close,
          volume: 10,
          ts: candle.ts,
        },
      ];
    }
    updates.push(u);
  }
  return { type: FrameType.live_feed, ts, updates, marketStatus: null };
}

/**
 * Pushes frames with increasing timestamps for a set of keys, one tick point per key per frame,
 * and remembers every timestamp sent per key: what VictoriaMetrics must hold afterwards.
 */
export class Feeder {
  readonly sent = new Map<string, number[]>();
  private ts: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly fx: () => StorageFixture,
    private readonly keys: readonly string[],
    startTs = 1_732_000_000_000,
  ) {
    this.ts = startTs;
    for (const k of keys) this.sent.set(k, []);
  }

  /** Pushes `frames` frames now. */
  push(frames = 1): void {
    for (let i = 0; i < frames; i++) {
      const ts = ++this.ts;
      const prices: Record<string, number> = {};
      for (const k of this.keys) {
        prices[k] = 100 + (ts % 1000) / 100;
        this.sent.get(k)!.push(ts);
      }
      this.fx().storage.writePath.pushFrame(tickFrame(ts, prices));
    }
  }

  /** A live stream: `perTick` frames every `intervalMs` until stop(). */
  start(intervalMs = 10, perTick = 2): void {
    this.stop();
    this.timer = setInterval(() => this.push(perTick), intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  total(): number {
    let n = 0;
    for (const v of this.sent.values()) n += v.length;
    return n;
  }
}

/**
 * Polls VictoriaMetrics until `tick_ltp` holds exactly the timestamps sent per key (no fewer, no
 * others), then asserts it; keys in `absent` must have no point at all.
 */
export async function expectLanded(
  vm: Victoria,
  sent: ReadonlyMap<string, readonly number[]>,
  what: string,
  absent: readonly string[] = [],
): Promise<void> {
  const want = (k: string) => [...sent.get(k)!].sort((a, b) => a - b);
  const same = (a: readonly number[] | undefined, b: readonly number[]) =>
    a !== undefined && a.length === b.length && a.every((v, i) => v === b[i]);
  let got = new Map<string, number[]>();
  try {
    await until(
      what,
      async () => {
        got = await vm.timestampsByKey('tick_ltp');
        return [...sent.keys()].every((k) => same(got.get(k), want(k)));
      },
      { timeoutMs: 15_000, intervalMs: 250 },
    );
  } catch (err) {
    const counts = [...sent.keys()]
      .map((k) => `${k}: sent ${sent.get(k)!.length}, in VictoriaMetrics ${got.get(k)?.length ?? 0}`)
      .join('; ');
    throw new Error(`${(err as Error).message}\n${counts}`, { cause: err });
  }
  for (const k of sent.keys()) assert.deepEqual(got.get(k), want(k), `${what}: ${k}`);
  for (const k of absent) assert.equal(got.get(k), undefined, `${what}: ${k} must not be in VictoriaMetrics`);
}

export interface StorageSuite {
  /** VictoriaMetrics, or the InfluxDB 2 of INFLUX_TEST_URL. */
  readonly vm: TestStore;
  readonly dir: string;
  /** The store's token, org and bucket, for a storage started by hand. */
  readonly influx: { token: string; org: string; bucket: string };
  /** A gate in front of the suite's VictoriaMetrics and a storage on a fresh spool `<name>.db`, both closed afterwards whatever happens. */
  withStorage(
    name: string,
    opts: Partial<StorageFixtureOptions>,
    body: (fx: StorageFixture, gate: InfluxGate) => Promise<void>,
  ): Promise<void>;
}

/** The setup the storage suites share; call inside describe(): one VictoriaMetrics and one temp dir for the suite. */
export function storageSuite(tmpPrefix: string): StorageSuite {
  let vm: TestStore | undefined;
  let dir = '';
  before(async () => {
    vm = await startTestStore();
    dir = mkdtempSync(join(tmpdir(), tmpPrefix));
  });
  after(async () => {
    await vm?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return {
    get vm() {
      return vm!;
    },
    get dir() {
      return dir;
    },
    get influx() {
      const { INFLUX_TOKEN: token, INFLUX_ORG: org, INFLUX_BUCKET: bucket } = vm!.influxEnv;
      return { token, org, bucket };
    },
    async withStorage(name, opts, body) {
      const gate = await startInfluxGate(vm!.url);
      const fx = startStorage({
        spoolPath: join(dir, `${name}.db`),
        influxUrl: gate.url,
        ...opts,
        influx: { ...this.influx, ...opts.influx },
      });
      try {
        await body(fx, gate);
        fx.assertConserved(`${name}: conservation at the end`);
        await fx.close(200);
        fx.assertConserved(`${name}: conservation after close`);
      } finally {
        await fx.close(200);
        await gate.close();
      }
    },
  };
}
