/**
 * Deployment files, checked without a Docker engine: Debian's `docker-compose config` validates
 * and resolves the Compose file with the `.env.example` a user copies; the Dockerfile is read for
 * the properties production depends on (multi-stage, slim runtime, non-root, volume, healthcheck,
 * exec-form entrypoint running node itself).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseEnv } from 'node:util';
import { loadConfig } from '../../src/config.js';
import { REPO_ROOT } from '../helpers/stately-relay.js';

const file = (name: string) => readFileSync(join(REPO_ROOT, name), 'utf8');

describe('docker-compose.yml', () => {
  let dir: string;
  const compose = (...args: string[]) => {
    const r = spawnSync('docker-compose', ['--project-directory', dir, '-f', join(dir, 'docker-compose.yml'), ...args], {
      encoding: 'utf8',
      cwd: dir,
    });
    if (r.error) throw new Error(`docker-compose could not run (apt-get install docker-compose): ${r.error.message}`);
    return r;
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tickpipe-compose-'));
    copyFileSync(join(REPO_ROOT, 'docker-compose.yml'), join(dir, 'docker-compose.yml'));
    copyFileSync(join(REPO_ROOT, '.env.example'), join(dir, '.env'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('is valid with the .env.example a user copies to .env', () => {
    const r = compose('config', '-q');
    assert.equal(r.status, 0, r.stderr);
  });

  it('runs tickpipe after a healthy InfluxDB 2 initialised from DOCKER_INFLUXDB_INIT_*, on named volumes', () => {
    const r = compose('config');
    assert.equal(r.status, 0, r.stderr);
    const out = r.stdout;
    assert.match(out, /image: influxdb:2\.\d+/);
    for (const v of ['MODE: setup', 'ORG: tickpipe', 'BUCKET: ticks', 'ADMIN_TOKEN: change-me-to-a-long-random-token']) {
      assert.match(out, new RegExp(`DOCKER_INFLUXDB_INIT_${v}`));
    }
    assert.match(out, /healthcheck:\s+interval: \S+\s+retries: \d+\s+start_period: \S+\s+test:\s+- CMD\s+- influx\s+- ping/);
    assert.match(out, /influxdb-token:\s+depends_on:\s+influxdb:\s+condition: service_healthy/);
    assert.match(out, /tickpipe:\s+build:[\s\S]*?depends_on:\s+influxdb-token:\s+condition: service_completed_successfully/);
    // The service reaches InfluxDB by its Compose name and listens beyond loopback inside the container.
    assert.match(out, /INFLUX_URL: http:\/\/influxdb:8086/);
    assert.match(out, /HTTP_HOST: 0\.0\.0\.0/);
    assert.deepEqual(compose('config', '--volumes').stdout.trim().split('\n').sort(), [
      'influx-token',
      'influxdb-config',
      'influxdb-data',
      'nats-data',
      'tickpipe-a-spool',
      'tickpipe-b-spool',
      'tickpipe-spool',
    ]);
    assert.match(out, /- tickpipe-spool:\/data/);
  });

  it('has a demo profile that runs the simulator instead of Upstox, off by default', () => {
    // Debian's docker-compose 1.29 lists profiled services too; the profile itself is what we check.
    assert.deepEqual(compose('config', '--profiles').stdout.trim().split('\n').sort(), ['demo', 'ha']);
    const out = compose('config').stdout;
    const demo = /\n {2}tickpipe-demo:\n([\s\S]*?)(?=\n {2}\S|\nvolumes:)/.exec(out)?.[1] ?? '';
    assert.match(demo, /profiles:\s+- demo/);
    assert.match(demo, /command:\s+- dist\/src\/demo\.js/);
    assert.match(demo, /condition: service_completed_successfully/);
    const main = /\n {2}tickpipe:\n([\s\S]*?)(?=\n {2}\S|\nvolumes:)/.exec(out)?.[1] ?? '';
    assert.doesNotMatch(main, /profiles:/, 'the production service must start without a profile');
  });

  it('has an ha profile: NATS with JetStream and two tickpipe instances in one HA_GROUP, each with its own spool', () => {
    const out = compose('config').stdout;
    const service = (name: string) => new RegExp(`\n {2}${name}:\n([\\s\\S]*?)(?=\n {2}\\S|\nvolumes:)`).exec(out)?.[1] ?? '';
    const nats = service('nats');
    assert.match(nats, /profiles:\s+- ha/);
    assert.match(nats, /image: nats:2\.\d+/);
    assert.match(nats, /- -js/, 'JetStream on');
    assert.match(nats, /healthz\?js-enabled-only=true/);
    const a = service('tickpipe-a');
    const b = service('tickpipe-b');
    for (const [name, svc] of [
      ['tickpipe-a', a],
      ['tickpipe-b', b],
    ] as const) {
      assert.match(svc, /profiles:\s+- ha/, name);
      assert.match(svc, /NATS_URL: nats:\/\/nats:4222/, name);
      assert.match(svc, /HA_GROUP: tickpipe\n/, name);
      assert.match(svc, new RegExp(`HA_INSTANCE: ${name}`));
      assert.match(svc, /nats:\s+condition: service_healthy/, name);
      assert.match(svc, new RegExp(`- ${name}-spool:/data`));
    }
    // What each instance gets is a valid configuration with leadership on.
    const env = { ...parseEnv(file('.env.example')), UPSTOX_ACCESS_TOKEN: 't', NATS_URL: 'nats://nats:4222', HA_GROUP: 'tickpipe' };
    const config = loadConfig(env);
    assert.equal(config.ha.group, 'tickpipe');
    assert.deepEqual(config.nats.servers, ['nats://nats:4222']);
  });

  it("gives InfluxDB a lower CPU weight than tickpipe's (cpu_shares, .env's INFLUX_CPU_SHARES)", () => {
    const out = compose('config').stdout;
    const service = (name: string) => new RegExp(`\n {2}${name}:\n([\\s\\S]*?)(?=\n {2}\\S|\nvolumes:|\nversion:)`).exec(out)?.[1] ?? '';
    const shares = /cpu_shares: '?(\d+)'?/.exec(service('influxdb'))?.[1];
    assert.equal(shares, parseEnv(file('.env.example'))['INFLUX_CPU_SHARES'], "InfluxDB's weight comes from .env");
    assert.ok(Number(shares) >= 2 && Number(shares) < 1024, `below the default 1024 of tickpipe's container (${shares})`);
    for (const name of ['tickpipe', 'tickpipe-demo', 'tickpipe-a', 'tickpipe-b']) assert.doesNotMatch(service(name), /cpu_shares/, name);
  });

  it('stops with a message naming the setting when .env lacks a required secret', () => {
    const env = readFileSync(join(dir, '.env'), 'utf8');
    try {
      copyFileSync(join(dir, '.env'), join(dir, '.env.bak'));
      const stripped = env.replace(/^INFLUX_ADMIN_PASSWORD=.*$/m, '');
      const r = spawnSync('sh', ['-c', 'cat > .env'], { cwd: dir, input: stripped });
      assert.equal(r.status, 0);
      const c = compose('config', '-q');
      assert.notEqual(c.status, 0);
      assert.match(c.stderr, /INFLUX_ADMIN_PASSWORD/);
    } finally {
      copyFileSync(join(dir, '.env.bak'), join(dir, '.env'));
    }
  });

  it("gives tickpipe a write-only token through a volume, never InfluxDB's admin token or password", () => {
    const out = compose('config').stdout;
    const section = (name: string) =>
      new RegExp(String.raw`\n {2}${name}:\n([\s\S]*?)(?=\n {2}\S|\nvolumes:|\nversion:)`).exec(out)?.[1] ?? '';
    const example = parseEnv(file('.env.example'));
    for (const name of ['tickpipe', 'tickpipe-demo']) {
      const svc = section(name);
      assert.ok(svc.length > 100, `${name} found`);
      assert.doesNotMatch(svc, /env_file/, `${name}: no env_file, so .env's admin secrets stay out`);
      assert.doesNotMatch(svc, /INFLUX_ADMIN|DOCKER_INFLUXDB_INIT|INFLUX_TOKEN:/, `${name}: no admin setting, no INFLUX_TOKEN`);
      assert.ok(!svc.includes(example['INFLUX_ADMIN_PASSWORD']!), `${name}: not the admin password`);
      assert.ok(!svc.includes(example['INFLUX_ADMIN_TOKEN']!), `${name}: not the admin token`);
      assert.match(svc, /INFLUX_TOKEN_FILE: \/influx-token\/token/);
      assert.match(svc, /- influx-token:\/influx-token:ro/);
      assert.match(svc, /API_TOKEN: change-me-to-another-long-random-token/, `${name}: API_TOKEN from .env`);
    }
    // The one-shot step: the admin token in, a token that can write the bucket and nothing else out.
    const step = section('influxdb-token');
    assert.match(step, /restart: "?no"?/);
    // (config folds the script; the file has it as written)
    const script = /\n {2}influxdb-token:\n[\s\S]*?entrypoint:([\s\S]*?)\n {2}\S/.exec(file('docker-compose.yml'))?.[1] ?? '';
    assert.match(script, /influx auth create [^\n]*--write-bucket "\$\$bucket"/);
    assert.doesNotMatch(script, /--all-access|--operator|--read-/);
    assert.match(script, /if \[ -s \/influx-token\/token \]; then/, 'created once, at first start');
    assert.match(step, /- influx-token:\/influx-token:rw/);
  });

  it('stops with a message naming API_TOKEN when .env lacks it (the API must work from the host)', () => {
    const env = readFileSync(join(dir, '.env'), 'utf8');
    try {
      copyFileSync(join(dir, '.env'), join(dir, '.env.bak'));
      const r = spawnSync('sh', ['-c', 'cat > .env'], { cwd: dir, input: env.replace(/^API_TOKEN=.*$/m, 'API_TOKEN=') });
      assert.equal(r.status, 0);
      const c = compose('config', '-q');
      assert.notEqual(c.status, 0);
      assert.match(c.stderr, /API_TOKEN/);
    } finally {
      copyFileSync(join(dir, '.env.bak'), join(dir, '.env'));
    }
  });

  it('.env.example lists every contract setting, and with a token filled in it is a valid configuration', () => {
    const example = file('.env.example');
    for (const name of [
      'UPSTOX_ACCESS_TOKEN',
      'UPSTOX_TOKEN_URL',
      'UPSTOX_API_URL',
      'INSTRUMENTS',
      'INSTRUMENTS_URL',
      'FEED_MODE',
      'INFLUX_TOKEN',
      'INFLUX_ORG',
      'INFLUX_BUCKET',
      'NOTIFY_URL',
      'NOTIFY_INTERVAL_S',
      'NOTIFY_RETRY_S',
      'API_TOKEN',
      'INSPECT',
      'LOG_LEVEL',
      'NATS_URL',
      'NATS_STREAM',
      'NATS_MAX_AGE_S',
      'HA_GROUP',
    ]) {
      assert.match(example, new RegExp(`^#? ?${name}=`, 'm'), `.env.example does not list ${name}`);
    }
    // What Compose hands the container: the file, then the service's own environment on top.
    const env = {
      ...parseEnv(example),
      INFLUX_URL: 'http://influxdb:8086',
      HTTP_HOST: '0.0.0.0',
      HTTP_PORT: '3000',
      SPOOL_PATH: '/data/spool.db',
    } as Record<string, string>;
    assert.throws(() => loadConfig(env), /UPSTOX_ACCESS_TOKEN/);
    // Without the token file Compose hands over, an InfluxDB URL is refused at start.
    assert.throws(() => loadConfig({ ...env, UPSTOX_ACCESS_TOKEN: 'a-token' }), /INFLUX_URL is set but INFLUX_TOKEN/);
    // The token as Compose hands it over: a file on the influx-token volume.
    const tokenDir = mkdtempSync(join(tmpdir(), 'tickpipe-token-'));
    try {
      writeFileSync(join(tokenDir, 'token'), 'write-only-token\n');
      const withFile = loadConfig({ ...env, UPSTOX_ACCESS_TOKEN: 'a-token', INFLUX_TOKEN_FILE: join(tokenDir, 'token') });
      assert.equal(withFile.influx.token, 'write-only-token');
      assert.equal(withFile.influx.url, 'http://influxdb:8086');
      assert.throws(
        () => loadConfig({ ...env, UPSTOX_ACCESS_TOKEN: 'a-token', INFLUX_TOKEN_FILE: join(tokenDir, 'missing') }),
        /INFLUX_TOKEN_FILE=.*cannot be read \(ENOENT\).*influxdb-token/,
      );
    } finally {
      rmSync(tokenDir, { recursive: true, force: true });
    }
  });
});

describe('Dockerfile', () => {
  const text = file('Dockerfile');
  const stages = text.split(/^FROM /m).slice(1);
  const runtime = stages.at(-1) ?? '';
  const instruction = (name: string) => runtime.split('\n').filter((l) => l.startsWith(`${name} `));

  it('builds in one stage and runs on a slim Node 22 image with production dependencies only', () => {
    assert.ok(stages.length >= 2, 'not multi-stage');
    assert.match(stages[0], /^node:22-bookworm AS build/);
    assert.match(stages[0], /npm ci/);
    assert.match(stages[0], /npm prune --omit=dev/);
    assert.match(runtime, /^node:22[\w.-]*-slim/);
    assert.match(runtime, /COPY --from=build \/app\/node_modules/);
  });

  it('runs as a non-root user with the spool on a volume, listening on every interface', () => {
    const user = instruction('USER');
    assert.equal(user.length, 1);
    assert.doesNotMatch(user[0], /USER (root|0)\b/);
    assert.match(instruction('VOLUME').join('\n'), /"\/data"/);
    assert.match(runtime, /HTTP_HOST=0\.0\.0\.0/);
    assert.match(runtime, /SPOOL_PATH=\/data\//);
  });

  it('checks /health and runs node itself in exec form, so SIGTERM reaches the service', () => {
    assert.match(runtime, /HEALTHCHECK [\s\S]*\/health/);
    const entry = instruction('ENTRYPOINT');
    assert.equal(entry.length, 1);
    const argv = JSON.parse(entry[0].slice('ENTRYPOINT '.length)) as string[];
    assert.equal(argv[0], 'node');
    const cmd = JSON.parse(instruction('CMD')[0].slice('CMD '.length)) as string[];
    assert.deepEqual(cmd, ['dist/src/main.js']);
    assert.doesNotMatch(runtime, /npm (start|run)/);
  });

  it('gives node the same flags and environment as `npm start` (a tuning holds wherever users run it)', () => {
    const entry = JSON.parse(instruction('ENTRYPOINT')[0].slice('ENTRYPOINT '.length)) as string[];
    const start = (JSON.parse(file('package.json')) as { scripts: Record<string, string> }).scripts['start'].split(/\s+/);
    const node = start.indexOf('node');
    assert.ok(node >= 0, 'npm start runs node');
    assert.equal(start.at(-1), 'dist/src/main.js');
    assert.deepEqual(entry.slice(1), start.slice(node + 1, -1));
    const env = start.slice(0, node);
    assert.ok(env.includes('MALLOC_MMAP_THRESHOLD_=131072'), 'npm start sets the allocator threshold');
    for (const kv of env) {
      assert.match(kv, /^[A-Z_]+=\S+$/, `${kv} before node is an environment assignment`);
      assert.match(runtime, new RegExp(`(ENV|\\s)${kv}(\\s|$)`), `the image sets ${kv} as npm start does`);
    }
  });

  it('copies only files that exist, and the runtime image holds what the service reads at run time', () => {
    for (const m of text.matchAll(/^COPY (?!--from)(.+)$/gm)) {
      const parts = m[1].trim().split(/\s+/);
      for (const src of parts.slice(0, -1)) assert.ok(existsSync(join(REPO_ROOT, src)), `COPY names ${src}, which does not exist`);
    }
    for (const needed of ['proto', 'inspector', 'dist/src', 'dist/machines']) assert.match(runtime, new RegExp(`COPY .*${needed}`));
    const ignore = file('.dockerignore').split('\n');
    for (const p of ['node_modules', 'dist', '.env', 'data']) assert.ok(ignore.includes(p), `.dockerignore does not list ${p}`);
  });
});
