/**
 * The e2e benchmark's parts: the simulator and the storage-off side as child processes, the
 * /ticks client, and the figures read from the service's /metrics and from /proc.
 */
import { type ChildProcess, execFileSync, fork, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LatencySummary } from './e2e-client.js';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, '..', '..');

/** First line of a child's stdout matching `re`, or an error with what it printed. */
function lineFrom(child: ChildProcess, re: RegExp, what: string, timeoutMs = 20_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${what}: nothing matching ${re} within ${timeoutMs} ms:\n${out}`)), timeoutMs);
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = re.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
    child.once('exit', (code) => reject(new Error(`${what} exited (${code}):\n${out}`)));
  });
}

interface Child {
  pid: number;
  stop(): Promise<void>;
}

function stopper(child: ChildProcess): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
    });
}

/** The simulator CLI: `instruments` keys, one frame every `intervalMs` carrying each of them once. */
export async function startSimProcess(opts: {
  rate: number;
  intervalMs: number;
  keys: string[];
  token: string;
}): Promise<Child & { apiUrl: string }> {
  const child = spawn(
    process.execPath,
    [
      join(dist, 'src', 'sim', 'cli.js'),
      `--rate=${opts.rate}`,
      `--interval=${opts.intervalMs}`,
      `--token=${opts.token}`,
      `--instruments=${opts.keys.join(',')}`,
      '--log-level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const m = await lineFrom(child, /UPSTOX_API_URL=(\S+)/, 'simulator');
  return { pid: child.pid!, apiUrl: m[1], stop: stopper(child) };
}

/** The storage-off side (e2e-fanout-only.ts): answers its base URL (which serves /ticks and /metrics). */
export async function startFanoutOnly(
  apiUrl: string,
  token: string,
  keys: string[],
  nodeArgs: string[] = [],
  env: Record<string, string> = {},
): Promise<Child & { baseUrl: string }> {
  const child = spawn(process.execPath, [...nodeArgs, join(here, 'e2e-fanout-only.js'), apiUrl, token, keys.join(',')], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const m = await lineFrom(child, /\{"url":"([^"]+)"\}/, 'fan-out only');
  return { pid: child.pid!, baseUrl: m[1], stop: stopper(child) };
}

export interface TicksClient {
  /** Latency of the ticks since the previous mark. */
  mark(): Promise<LatencySummary>;
  stop(): Promise<void>;
}

export async function startTicksClient(baseUrl: string): Promise<TicksClient> {
  const child = fork(join(here, 'e2e-client.js'), [`${baseUrl.replace(/^http/, 'ws')}/ticks?keys=*`], { stdio: 'inherit' });
  const next = <T>(pick: (m: Record<string, unknown>) => T | undefined) =>
    new Promise<T>((resolve, reject) => {
      const onMessage = (m: Record<string, unknown>) => {
        const v = pick(m);
        if (v === undefined) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(v);
      };
      const onExit = (code: number | null) => reject(new Error(`the /ticks client exited (${code})`));
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  await next((m) => (m['open'] ? true : undefined));
  return {
    mark: () => {
      const answer = next((m) => m['summary'] as LatencySummary | undefined);
      child.send({ cmd: 'mark' });
      return answer;
    },
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.send({ cmd: 'stop' });
      await exited;
    },
  };
}

/** The unlabelled series of a Prometheus text page, by name, and `gc_seconds`: the main isolate's GC time. */
export async function scrape(baseUrl: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  const out = new Map<string, number>();
  // Labelled series keep their labels in the key: tickpipe_frame_handling_seconds_bucket{le="0.001"}.
  for (const m of text.matchAll(/^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/gm)) out.set(m[1], Number(m[2]));
  // Garbage collection of the main isolate (prom-client's histogram, one series per kind): summed.
  let gc: number | undefined;
  for (const m of text.matchAll(/^nodejs_gc_duration_seconds_sum\{[^}]*\} (\S+)$/gm)) gc = (gc ?? 0) + Number(m[1]);
  if (gc !== undefined) out.set('gc_seconds', gc);
  return out;
}

/**
 * A quantile of a Prometheus histogram between two scrapes: the upper bound (seconds) of the
 * bucket where the quantile falls, from the differences of the cumulative bucket counts. Null when
 * nothing was observed in between, or the series is absent.
 */
export function histogramQuantile(a: Map<string, number>, b: Map<string, number>, name: string, q: number): number | null {
  const prefix = `${name}_bucket{le="`;
  const buckets: Array<[number, number]> = [];
  for (const [key, v] of b) {
    if (!key.startsWith(prefix)) continue;
    const le = key.slice(prefix.length, -2);
    buckets.push([le === '+Inf' ? Infinity : Number(le), v - (a.get(key) ?? 0)]);
  }
  buckets.sort((x, y) => x[0] - y[0]);
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  for (const [le, count] of buckets) if (count >= rank) return le;
  return Infinity;
}

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/**
 * CPU seconds (user + system) a process has used, from /proc: every thread of it (what
 * process.cpuUsage() counts), or with `mainThreadOnly` its main thread alone (the task whose id
 * is the pid: the event loop, without GC helpers, libuv's pool or a worker). Null once it is gone.
 */
export function procCpuSeconds(pid: number | undefined, mainThreadOnly = false): number | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(mainThreadOnly ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime, stime (fields 14 and 15)
  } catch {
    return null;
  }
}

/** Samples (one per field of a line) VictoriaMetrics has taken in through its InfluxDB endpoint since it started; null when it does not answer. */
export async function vmRowsInserted(vmUrl: string): Promise<number | null> {
  try {
    const text = await (await fetch(`${vmUrl}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    const m = /^vm_rows_inserted_total\{type="influx"\} (\S+)$/m.exec(text);
    return m ? Number(m[1]) : 0;
  } catch {
    return null;
  }
}

/** Resident set size in bytes, from /proc; null once the process is gone. */
function procRss(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Largest RSS of `pid` seen while sampling (every second). */
export function rssPeak(pid: number): { stop(): number } {
  let peak = procRss(pid) ?? 0;
  const timer = setInterval(() => (peak = Math.max(peak, procRss(pid) ?? 0)), 1000);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, procRss(pid) ?? 0);
    },
  };
}
