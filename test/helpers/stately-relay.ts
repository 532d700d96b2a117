/**
 * Runs the real Stately inspector relay of @statelyai/inspect (`createInspectorServer` from
 * `@statelyai/inspect/server`, with `autoOpen: false`) as its own process, exactly as a user
 * runs it next to the service (see RELAY_COMMAND), so a test can kill and restart it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { InspectClient } from './inspector/client.js';
import { until } from './poll.js';

/** dist/test/helpers → the repository root, where node_modules resolves. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export const RELAY_SCRIPT =
  "const { createInspectorServer } = await import('@statelyai/inspect/server'); " +
  "createInspectorServer({ port: Number(process.env.RELAY_PORT ?? 8080), autoOpen: process.env.RELAY_OPEN === '1' });";

export interface RelayProcess {
  child: ChildProcess;
  url: string;
  stop(): Promise<void>;
}

export async function startRelay(port: number): Promise<RelayProcess> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', RELAY_SCRIPT], {
    cwd: REPO_ROOT,
    env: { ...process.env, RELAY_PORT: String(port), RELAY_OPEN: '0' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `ws://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  try {
    // Ready when a client can connect (the relay prints nothing when it listens).
    await until(`the relay on ${url}`, async () => {
      if (child.exitCode !== null) throw new Error(`relay exited with ${child.exitCode}`);
      const probe = await InspectClient.connect(url);
      probe.close();
      return true;
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return { child, url, stop };
}
