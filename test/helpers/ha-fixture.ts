/**
 * Real parts for the NATS and HA end-to-end tests: VictoriaMetrics, the simulator, nats-server,
 * and tickpipe processes (`node dist/src/main.js`) configured against them; a record of every
 * tick the simulator wrote out (key → frame timestamps), as in crash-loop.test.ts.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { SimStats } from '../../src/sim/sim-stats.js';
import type { SimulatorOptions } from '../../src/sim/types.js';
import { type NatsServer, startNatsServer } from './nats-server.js';
import { freePort } from './ports.js';
import { type ServiceProcess, startServiceProcess } from './service-process.js';
import { type Victoria, startVictoria } from './victoria.js';

export const HA_KEYS = ['NSE_EQ|HA001', 'NSE_EQ|HA002', 'NSE_INDEX|Nifty Bank', 'NSE_FO|HA004'];

export interface HaFixture {
  vm: Victoria;
  sim: Simulator;
  nats: NatsServer;
  /** Ticks the simulator wrote out: key → frame timestamps. */
  sent: Map<string, number[]>;
  dir: string;
  env(extra?: Record<string, string>): Record<string, string>;
  start(name: string, extra?: Record<string, string>): Promise<ServiceProcess>;
  close(): Promise<void>;
}

/** `simOpts`: e.g. a market clock (startAt, timeScale) for a test whose gaps must fall in trading hours. */
export async function startHaFixture(simOpts: SimulatorOptions = {}): Promise<HaFixture> {
  const [vm, sim, nats] = await Promise.all([
    startVictoria(),
    startSimulator({ updatesPerSecond: 200, frameIntervalMs: 20, pingIntervalMs: 200, seed: 11, ...simOpts }),
    startNatsServer(),
  ]);
  const dir = mkdtempSync(join(tmpdir(), 'tickpipe-ha-'));
  const sent = new Map<string, number[]>();
  // Called with its `this` below (original.call), and put back in close().
  // eslint-disable-next-line @typescript-eslint/unbound-method
  const original = SimStats.prototype.recordFrame;
  SimStats.prototype.recordFrame = function (this: SimStats, ts: number, keys: readonly string[] | null) {
    if (keys) for (const k of keys) (sent.get(k) ?? sent.set(k, []).get(k)!).push(ts);
    original.call(this, ts, keys);
  };
  const procs: ServiceProcess[] = [];
  const env = (extra: Record<string, string> = {}) => ({
    UPSTOX_API_URL: sim.apiUrl,
    INSTRUMENT_MASTER_URL: sim.instrumentFileUrl,
    UPSTOX_TOKEN_URL: sim.tokenUrl,
    INSTRUMENTS: HA_KEYS.join(','),
    INFLUX_URL: vm.url,
    INFLUX_TOKEN: 'unused-by-victoria',
    INFLUX_ORG: 'tickpipe',
    INFLUX_BUCKET: 'ticks',
    FLUSH_INTERVAL_MS: '200',
    RECONNECT_BASE_MS: '50',
    RECONNECT_MAX_MS: '200',
    NATS_URL: nats.url,
    NATS_RECONNECT_BASE_MS: '100',
    NATS_RECONNECT_MAX_MS: '500',
    NATS_PING_INTERVAL_MS: '500',
    NATS_ACK_TIMEOUT_MS: '2000',
    ...extra,
  });
  return {
    vm,
    sim,
    nats,
    sent,
    dir,
    env,
    async start(name, extra = {}) {
      // A directory per instance: the gap ledger (gaps.db) lives beside the spool, one per instance.
      const own = join(dir, name);
      mkdirSync(own, { recursive: true });
      const p = startServiceProcess({
        ...env(extra),
        SPOOL_PATH: join(own, 'spool.db'),
        HA_INSTANCE: name,
        HTTP_PORT: String(await freePort()),
      });
      procs.push(p);
      return p;
    },
    async close() {
      SimStats.prototype.recordFrame = original;
      await Promise.all(procs.map((p) => p.stop('SIGKILL')));
      await Promise.all([sim.close(), nats.close()]);
      await vm.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Sent ticks with a timestamp in [from, to], as `key@ts`. */
export function sentBetween(sent: Map<string, number[]>, from: number, to: number): Set<string> {
  const out = new Set<string>();
  for (const [k, list] of sent) for (const ts of list) if (ts >= from && ts <= to) out.add(`${k}@${ts}`);
  return out;
}

/** Ticks in VictoriaMetrics, as `key@ts`. */
export async function storedTicks(vm: Victoria): Promise<Set<string>> {
  const out = new Set<string>();
  for (const [k, list] of await vm.timestampsByKey('tick_ltp')) for (const ts of list) out.add(`${k}@${ts}`);
  return out;
}
