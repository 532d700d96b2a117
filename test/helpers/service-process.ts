/**
 * Runs the built service (`node dist/src/main.js`, what `npm start` runs) as a child process with
 * a given environment, the way a user runs it, and stops it by its pid.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { until } from './poll.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export interface ServiceProcess {
  child: ChildProcess;
  baseUrl: string;
  /** Everything the process printed (pino JSON lines), for assertions and failure messages. */
  output(): string;
  state(): Promise<any>;
  waitForState(what: string, predicate: (state: any) => boolean, timeoutMs?: number): Promise<any>;
  /** Sends a signal and resolves with the exit code/signal. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `nodeArgs`: flags for node itself (before the script), e.g. a benchmark's `--max-semi-space-size=64`. */
export function startServiceProcess(env: Record<string, string>, script = 'dist/src/main.js', nodeArgs: string[] = []): ServiceProcess {
  const child = spawn(process.execPath, [...nodeArgs, join(root, script)], {
    cwd: root,
    env: { PATH: process.env['PATH'] ?? '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const baseUrl = `http://127.0.0.1:${env['HTTP_PORT']}`;
  const svc: ServiceProcess = {
    child,
    baseUrl,
    output: () => out,
    exited,
    async state() {
      const res = await fetch(`${baseUrl}/state`, { signal: AbortSignal.timeout(2000) });
      return res.json();
    },
    async waitForState(what, predicate, timeoutMs = 20_000) {
      return until(
        what,
        async () => {
          if (child.exitCode !== null) throw new Error(`service exited (${child.exitCode}):\n${out.slice(-3000)}`);
          const s = await svc.state();
          return predicate(s) ? s : false;
        },
        { timeoutMs, intervalMs: 100 },
      );
    },
    async stop(signal = 'SIGTERM', timeoutMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const r = await exited;
      clearTimeout(timer);
      return r;
    },
  };
  return svc;
}
