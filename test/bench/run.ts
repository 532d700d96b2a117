/**
 * `npm run bench [name...]`: runs every test/bench/*.bench.ts (compiled) in its own process, one
 * after another so they do not compete for the two cores, and prints their figures.
 */
import { spawnSync } from 'node:child_process';
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
for (const file of files) {
  console.log(`\n=== ${file.replace(/\.bench\.js$/, '')} ===`);
  const r = spawnSync(process.execPath, ['--expose-gc', join(here, file)], { stdio: 'inherit' });
  if (r.status !== 0) {
    failed++;
    console.log(`!!! ${file} exited with ${r.status ?? r.signal}`);
  }
}
if (files.length === 0) console.log(`no benchmark matches ${filters.join(', ')}`);
process.exitCode = failed > 0 ? 1 : 0;
