/**
 * The real service (`node dist/src/main.js`) between the real simulator and a real
 * VictoriaMetrics, for the inspector tests: InfluxDB outages are made by stopping
 * VictoriaMetrics (SIGTERM), not by telling a machine. Probing is fast so recovery shows within
 * seconds.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { freePort } from './ports.js';
import { type ServiceProcess, startServiceProcess } from './service-process.js';
import { type TestStore, startTestStore } from './test-store.js';

export interface LiveService {
  readonly baseUrl: string;
  readonly vm: TestStore;
  readonly sim: Simulator;
  svc: ServiceProcess;
  writerValue(): Promise<string>;
  /** Stops the service (SIGTERM) and starts it again on the same port and spool. */
  stopOnly(): Promise<void>;
  startAgain(): Promise<void>;
  stop(): Promise<void>;
}

export async function startLiveService(extraEnv: Record<string, string> = {}): Promise<LiveService> {
  const [vm, sim] = await Promise.all([
    startTestStore(),
    startSimulator({ updatesPerSecond: 200, frameIntervalMs: 50, pingIntervalMs: 500, seed: 5 }),
  ]);
  const dir = mkdtempSync(join(tmpdir(), 'tickpipe-live-'));
  const env = {
    UPSTOX_API_URL: sim.apiUrl,
    INSTRUMENT_MASTER_URL: sim.instrumentFileUrl,
    UPSTOX_TOKEN_URL: sim.tokenUrl,
    INSTRUMENTS: 'NSE_EQ|INE002A01018,NSE_INDEX|Nifty Bank',
    ...vm.influxEnv,
    SPOOL_PATH: join(dir, 'spool.db'),
    HTTP_PORT: String(await freePort()),
    FLUSH_INTERVAL_MS: '200',
    INFLUX_TIMEOUT_MS: '1500',
    INFLUX_PROBE_BASE_MS: '100',
    INFLUX_PROBE_MAX_MS: '500',
    ...extraEnv,
  };
  const start = async () => {
    const svc = startServiceProcess(env);
    await svc.waitForState(
      'the service streaming with InfluxDB up',
      (s) => s.actors.connection.value === 'streaming' && s.actors.writer.value === 'influxUp',
      30_000,
    );
    return svc;
  };
  let first: ServiceProcess;
  try {
    first = await start();
  } catch (err) {
    await Promise.all([vm.close(), sim.close()]);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const live: LiveService = {
    baseUrl: `http://127.0.0.1:${env.HTTP_PORT}`,
    vm,
    sim,
    svc: first,
    async writerValue() {
      const v = (await live.svc.state()).actors.writer.value;
      return typeof v === 'string' ? v : Object.keys(v)[0];
    },
    async stopOnly() {
      await live.svc.stop('SIGTERM');
    },
    async startAgain() {
      live.svc = await start();
    },
    async stop() {
      await live.svc.stop('SIGTERM');
      await Promise.all([vm.close(), sim.close()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return live;
}
