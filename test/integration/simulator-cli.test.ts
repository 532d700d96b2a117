import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';

const CLI = fileURLToPath(new URL('../../src/sim/cli.js', import.meta.url));

it('the simulator CLI prints its URLs and token, serves them, and stops on SIGTERM', async (t) => {
  const child = spawn(process.execPath, [CLI, '--port', '0', '--rate', '200', '--token', 'cli-token', '--log-level', 'warn'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  child.stdout.setEncoding('utf8');
  const printed = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      if (out.includes('Ctrl-C')) resolve(out);
    });
    child.once('exit', (code) => reject(new Error(`CLI exited early with ${code}: ${out}`)));
  });
  const text = await printed;
  const tokenUrl = /UPSTOX_TOKEN_URL=(\S+)/.exec(text)?.[1];
  assert.ok(tokenUrl, text);
  assert.match(text, /UPSTOX_API_URL=http:\/\/127\.0\.0\.1:\d+/);
  assert.match(text, /UPSTOX_ACCESS_TOKEN=cli-token/);
  assert.deepEqual(await (await fetch(tokenUrl)).json(), { access_token: 'cli-token' });

  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  assert.deepEqual(await exited, [0, null]);
});

it('the simulator CLI rejects a bad option with usage and exit code 2', async () => {
  const child = spawn(process.execPath, [CLI, '--rate', 'fast'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const [code] = await once(child, 'exit');
  assert.equal(code, 2);
  assert.match(err, /--rate must be a number >= 0, got "fast"/);
  assert.match(err, /usage:/);
});
