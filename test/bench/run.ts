/**
 * `npm run bench [name...]`: runs every test/bench/*.bench.ts (compiled) in its own process, one
 * after another so they do not compete for the two cores, and prints their figures.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.js'))
  .filter((f) => filters.length === 0 || filters.some((name) => f.includes(name)))
  .sort();

let failed = 0;
let running: ReturnType<typeof spawn> | undefined;
let stopped = false;
// A signal to this runner (not only Ctrl-C to the whole group) stops the benchmark running, which
// stops what it started (bench-util.ts stopDescendantsOnSignal).
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const)
  process.once(signal, () => {
    stopped = true;
    running?.kill(signal);
  });
for (const file of files) {
  console.log(`\n=== ${file.replace(/\.bench\.js$/, '')} ===`);
  running = spawn(process.execPath, ['--expose-gc', join(here, file)], { stdio: 'inherit' });
  const [status, signal] = (await once(running, 'exit')) as [number | null, NodeJS.Signals | null];
  running = undefined;
  if (status !== 0) {
    failed++;
    console.log(`!!! ${file} exited with ${status ?? signal}`);
  }
  if (stopped) break;
}
if (files.length === 0) console.log(`no benchmark matches ${filters.join(', ')}`);
if (failed > 0) process.exitCode = 1;
