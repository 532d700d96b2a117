/**
 * The import arrows point one way: machines/ imports only xstate and machines/ (rules/ only
 * rules/), and in src/ only the composition modules (the ones that `provide` a machine or read
 * the typed root) import a machine file; the rest of the data plane imports the event catalogue
 * and the rules, never a machine.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

function tsFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)));
}

/** Module specifiers a file imports (static imports and re-exports). */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+'([^']+)'/gm)].map((m) => m[1]);
}

const resolved = (file: string, spec: string) => relative(ROOT, resolve(ROOT, dirname(file), spec)).replace(/\.js$/, '.ts');

describe('architecture', () => {
  it('machines/ imports only xstate and machines/; machines/rules/ only rules/', () => {
    for (const file of tsFiles('machines')) {
      for (const spec of importsOf(file)) {
        if (spec === 'xstate') {
          assert.ok(!file.startsWith('machines/rules/'), `${file}: rules are plain functions, no xstate`);
          continue;
        }
        assert.ok(spec.startsWith('.'), `${file} imports ${spec}`);
        const target = resolved(file, spec);
        const home = file.startsWith('machines/rules/') ? 'machines/rules/' : 'machines/';
        assert.ok(target.startsWith(home), `${file} imports ${target}, outside ${home}`);
      }
    }
  });

  it('src/ imports machine files only where it composes them; the data plane uses the catalogue and rules', () => {
    const composition = new Set([
      'src/service.ts',
      'src/state-document.ts',
      'src/storage/storage.ts',
      'src/upstox/connection-impl.ts',
      'src/notify/http-notifier.ts',
      'src/gaps/backfill-impl.ts',
      'src/gaps/gap-service.ts',
      'src/nats/leadership-impl.ts',
      'src/instruments/instruments-service.ts',
    ]);
    for (const file of tsFiles('src')) {
      for (const spec of importsOf(file)) {
        if (!spec.startsWith('.')) continue;
        const target = resolved(file, spec);
        if (!target.startsWith('machines/') || target === 'machines/events.ts' || target.startsWith('machines/rules/')) continue;
        assert.ok(composition.has(file), `${file} imports the machine ${target}; import machines/events.ts or machines/rules/ instead`);
      }
    }
  });
});
