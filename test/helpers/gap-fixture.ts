/**
 * The real service (`node dist/src/main.js`) between the simulator, whose market runs on an
 * accelerated clock (a market minute in two real seconds, a weekday morning so the market is
 * open), and a real VictoriaMetrics behind an InfluxDB gate. The gate's log of acknowledged writes
 * says what InfluxDB keeps for a series and timestamp (the last acknowledged write): VictoriaMetrics
 * 1.79 keeps an arbitrary one of several samples at one timestamp (see storage-faults.test.ts), so
 * a live candle rewritten within its minute can only be checked exactly through the gate.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import type { SimCandle, SimulatorOptions } from '../../src/sim/types.js';
import { type InfluxGate, startInfluxGate } from './influx-gate.js';
import { until } from './poll.js';
import { freePort } from './ports.js';
import { type ServiceProcess, startServiceProcess } from './service-process.js';
import { type Victoria, startVictoria } from './victoria.js';

export const EQ = 'NSE_EQ|INE002A01018';
export const IDX = 'NSE_INDEX|Nifty Bank';
/** Wednesday 25 November 2026, 10:00 IST: the market is open for hours of simulated time. */
export const MARKET_MORNING = Date.parse('2026-11-25T10:00:00+05:30');
export const TIME_SCALE = 30;

export interface GapRow {
  from: number;
  to: number;
  keys: string[];
  reason: string;
  backfill: 'pending' | 'done' | 'failed' | 'none';
  detail: string;
  candles: number;
}

export interface GapFixture {
  sim: Simulator;
  vm: Victoria;
  gate: InfluxGate;
  svc: ServiceProcess;
  baseUrl: string;
  gaps(): Promise<GapRow[]>;
  /** Starts the service (again) on the same spool and port. */
  start(): Promise<void>;
  /** SIGTERM (a clean stop) or SIGKILL (a crash). */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Waits until the simulator's clock has passed `ms` (market time). */
  marketPast(ms: number): Promise<void>;
  close(): Promise<void>;
}

export async function startGapFixture(
  extraEnv: Record<string, string> = {},
  simOpts: SimulatorOptions = { startAt: MARKET_MORNING, timeScale: TIME_SCALE },
): Promise<GapFixture> {
  const [vm, sim] = await Promise.all([
    startVictoria(),
    startSimulator({ updatesPerSecond: 100, frameIntervalMs: 50, pingIntervalMs: 500, seed: 14, ...simOpts }),
  ]);
  const gate = await startInfluxGate(vm.url);
  const dir = mkdtempSync(join(tmpdir(), 'tickpipe-gaps-'));
  const port = await freePort();
  const env: Record<string, string> = {
    UPSTOX_API_URL: sim.apiUrl,
    INSTRUMENT_MASTER_URL: sim.instrumentFileUrl,
    UPSTOX_TOKEN_URL: sim.tokenUrl,
    INSTRUMENTS: `${EQ},${IDX}`,
    INFLUX_URL: gate.url,
    INFLUX_TOKEN: 'unused-by-victoria',
    INFLUX_ORG: 'tickpipe',
    INFLUX_BUCKET: 'ticks',
    SPOOL_PATH: join(dir, 'spool.db'),
    HTTP_PORT: String(port),
    FLUSH_INTERVAL_MS: '100',
    INFLUX_TIMEOUT_MS: '1500',
    INFLUX_PROBE_BASE_MS: '100',
    INFLUX_PROBE_MAX_MS: '300',
    RECONNECT_BASE_MS: '50',
    RECONNECT_MAX_MS: '300',
    GAP_MARK_INTERVAL_MS: '200',
    BACKFILL_GRACE_MS: '500',
    BACKFILL_RETRY_MS: '300',
    BACKFILL_RETRY_MAX_MS: '1000',
    BACKFILL_RATE_LIMIT_MS: '200',
    BACKFILL_RATE_LIMIT_MAX_MS: '800',
    BACKFILL_MAX_ATTEMPTS: '3',
    ...extraEnv,
  };
  const baseUrl = `http://127.0.0.1:${port}`;
  let svc: ServiceProcess | undefined;
  const fx: GapFixture = {
    sim,
    vm,
    gate,
    get svc() {
      if (!svc) throw new Error('the service is not running');
      return svc;
    },
    baseUrl,
    async gaps() {
      const res = await fetch(`${baseUrl}/gaps`, { signal: AbortSignal.timeout(2000) });
      return ((await res.json()) as { gaps: GapRow[] }).gaps;
    },
    async start() {
      svc = startServiceProcess(env);
      await svc.waitForState(
        'the service streaming with InfluxDB up',
        (s: { actors: { connection: { value: unknown }; writer: { value: unknown } } }) =>
          s.actors.connection.value === 'streaming' && s.actors.writer.value === 'influxUp',
        30_000,
      );
    },
    async stop(signal = 'SIGTERM') {
      await svc?.stop(signal);
      svc = undefined;
    },
    async marketPast(ms) {
      await until(`market time past ${new Date(ms).toISOString()}`, () => sim.now() > ms, { timeoutMs: 20_000, intervalMs: 20 });
    },
    async close() {
      await svc?.stop('SIGTERM');
      await gate.close();
      await Promise.all([vm.close(), sim.close()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await fx.start();
  } catch (err) {
    await fx.close();
    throw err;
  }
  return fx;
}

export interface CandleValue {
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

/**
 * What InfluxDB holds for each I1 candle of `key`: the last acknowledged write per timestamp,
 * read from the gate's log of write requests in the order they were answered.
 */
export function heldCandles(gate: InfluxGate, key: string): Map<number, CandleValue> {
  const held = new Map<number, CandleValue>();
  const prefix = `candle,instrument_key=${key.replace(/([,= ])/g, '\\$1')},interval=I1,`;
  for (const w of gate.log()) {
    if (w.answer !== 204) continue;
    for (const line of w.body.split('\n')) {
      if (!line.startsWith(prefix)) continue;
      // Tags may hold escaped spaces (`Nifty\ Bank`); fields and timestamp never do.
      const m = /^(?:\\.|[^ \\])+ (\S+) (\d+)$/.exec(line);
      if (!m) throw new Error(`unparsable line ${line}`);
      const f = Object.fromEntries(m[1].split(',').map((kv) => kv.split('='))) as Record<string, string>;
      // Lines carry microseconds (the write client's precision); candles sit at minute start · 1000.
      held.set(Number(m[2]) / 1000, {
        open: Number(f['open']),
        high: Number(f['high']),
        low: Number(f['low']),
        close: Number(f['close']),
        volume: Number((f['volume'] ?? '').replace(/i$/, '')),
      });
    }
  }
  return held;
}

export const valueOf = (c: SimCandle): CandleValue => ({ open: c.open, high: c.high, low: c.low, close: c.close, volume: c.volume });

/** Minute starts of every candle touching [from, to]. */
export function minutesTouching(from: number, to: number): number[] {
  const out: number[] = [];
  for (let m = Math.floor(from / 60_000) * 60_000; m <= to; m += 60_000) out.push(m);
  return out;
}
