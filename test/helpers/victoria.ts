/**
 * A real VictoriaMetrics (Debian's `victoria-metrics`) for tests: it accepts InfluxDB line
 * protocol on /api/v2/write and is read back through /api/v1/export. Started on a free loopback
 * port with its own data directory; stopped (SIGTERM), paused (SIGSTOP) and restarted on the same
 * data to make outages. Never SIGKILLed while points are counted: 1.79 loses its last seconds of
 * acknowledged writes on SIGKILL.
 *
 * Flags: -dedup.minScrapeInterval=1ms keeps one sample per series and timestamp, so a point
 * written twice is one point (InfluxDB's semantics); -retentionPeriod=100y accepts any timestamp.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { until } from './poll.js';
import { freePort } from './ports.js';

export interface ExportedSeries {
  metric: Record<string, string>;
  values: number[];
  timestamps: number[];
}

export interface Victoria {
  readonly url: string;
  readonly port: number;
  readonly pid: number | undefined;
  /** SIGTERM and wait for exit (VictoriaMetrics flushes on SIGTERM). */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit: a crash. Only where points are not counted (1.79 loses its last seconds). */
  kill(): Promise<void>;
  /** Start again on the same port and data. */
  start(): Promise<void>;
  pause(): void;
  resume(): void;
  exportSeries(match: string): Promise<ExportedSeries[]>;
  /** Distinct timestamps per instrument_key of a metric, e.g. tick_ltp. */
  timestampsByKey(metric: string, extraMatch?: string): Promise<Map<string, number[]>>;
  close(): Promise<void>;
}

/** Distinct timestamps per instrument_key of a metric, read through any `exportSeries`. */
export async function timestampsByKey(
  exportSeries: Victoria['exportSeries'],
  metric: string,
  extraMatch = '',
): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (const s of await exportSeries(`{__name__="${metric}"${extraMatch ? `,${extraMatch}` : ''}}`)) {
    const key = s.metric['instrument_key'] ?? '';
    out.set(
      key,
      [...(out.get(key) ?? []), ...s.timestamps].sort((a, b) => a - b),
    );
  }
  return out;
}

export async function startVictoria(): Promise<Victoria> {
  const port = await freePort();
  const dataPath = mkdtempSync(join(tmpdir(), 'tickpipe-vm-'));
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const start = async () => {
    child = spawn(
      'victoria-metrics',
      [
        `-storageDataPath=${dataPath}`,
        `-httpListenAddr=127.0.0.1:${port}`,
        '-retentionPeriod=100y',
        '-dedup.minScrapeInterval=1ms',
        '-search.disableCache',
        '-search.latencyOffset=0s',
        '-loggerLevel=ERROR',
        '-http.shutdownDelay=0s',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const c = child;
    exited = new Promise((resolve) => c.once('exit', () => resolve()));
    await until('VictoriaMetrics /health', async () => (await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) })).ok, {
      timeoutMs: 15_000,
      intervalMs: 50,
    });
  };
  await start();

  const vm: Victoria = {
    url,
    port,
    get pid() {
      return child?.pid;
    },
    async stop() {
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      await exited;
    },
    async kill() {
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
    start,
    pause: () => child?.kill('SIGSTOP'),
    resume: () => child?.kill('SIGCONT'),
    async exportSeries(match) {
      const res = await fetch(`${url}/api/v1/export`, { method: 'POST', body: new URLSearchParams({ 'match[]': match }) });
      const text = await res.text();
      if (!res.ok) throw new Error(`export failed: ${res.status} ${text}`);
      return text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as ExportedSeries);
    },
    timestampsByKey: (metric, extraMatch) => timestampsByKey((m) => vm.exportSeries(m), metric, extraMatch),
    async close() {
      await vm.stop();
      rmSync(dataPath, { recursive: true, force: true });
    },
  };
  return vm;
}
