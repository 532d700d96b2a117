/**
 * A real NATS server with JetStream (Debian's `nats-server`) for tests: started on a free
 * loopback port with its own store directory, stopped (SIGTERM), killed (SIGKILL) and started
 * again on the same port and store to make outages. Every process is signalled by its pid.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { until } from './poll.js';
import { freePort } from './ports.js';

export interface NatsServer {
  /** nats://127.0.0.1:<port> */
  readonly url: string;
  readonly port: number;
  readonly pid: number | undefined;
  readonly storeDir: string;
  /** SIGTERM and wait for exit (JetStream flushes its store). */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit: a crash. */
  kill(): Promise<void>;
  /** Start again on the same port and store (after stop or kill). */
  start(): Promise<void>;
  /** Stop and remove the store directory. */
  close(): Promise<void>;
}

/** True once something accepts TCP connections on the port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export async function startNatsServer(): Promise<NatsServer> {
  const port = await freePort();
  const storeDir = mkdtempSync(join(tmpdir(), 'tickpipe-nats-'));
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let stderr = '';

  const running = () => child !== undefined && child.exitCode === null && child.signalCode === null;

  const start = async () => {
    if (running()) return;
    stderr = '';
    child = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', storeDir], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const c = child;
    c.stderr?.on('data', (d: Buffer) => {
      if (stderr.length < 8192) stderr += d.toString();
    });
    exited = new Promise((resolve) => c.once('exit', () => resolve()));
    await until(
      `nats-server on port ${port}`,
      async () => {
        if (c.exitCode !== null) throw new Error(`nats-server exited (${c.exitCode}): ${stderr.slice(-500)}`);
        return accepts(port);
      },
      { timeoutMs: 15_000, intervalMs: 50 },
    );
  };
  await start();

  const signal = async (sig: NodeJS.Signals) => {
    if (!running()) return;
    child!.kill(sig);
    await exited;
  };

  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    get pid() {
      return child?.pid;
    },
    storeDir,
    stop: () => signal('SIGTERM'),
    kill: () => signal('SIGKILL'),
    start,
    async close() {
      await signal('SIGTERM');
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
}
