/**
 * The InfluxDB a test writes to. By default a fresh VictoriaMetrics (victoria.ts). With
 * `INFLUX_TEST_URL` set (plus `INFLUX_TEST_TOKEN`, an operator token allowed to create buckets,
 * and `INFLUX_TEST_ORG`, default `tickpipe`), a real InfluxDB 2: each store gets a bucket of
 * its own, deleted at close, and is reached through a TCP gate so that `stop`, `start`, `pause`
 * and `resume` make the same outages as with VictoriaMetrics. Reading back translates the
 * VictoriaMetrics names (`tick_ltp{instrument_key="..."}`) into Flux, so tests stay the same.
 */
import { randomUUID } from 'node:crypto';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { type ExportedSeries, type Victoria, startVictoria, timestampsByKey } from './victoria.js';

export interface TestStore extends Victoria {
  /** The service's InfluxDB settings for this store. */
  readonly influxEnv: { INFLUX_URL: string; INFLUX_TOKEN: string; INFLUX_ORG: string; INFLUX_BUCKET: string };
}

export async function startTestStore(): Promise<TestStore> {
  const influx = process.env['INFLUX_TEST_URL'];
  if (!influx) {
    const vm = await startVictoria();
    return Object.assign(vm, {
      influxEnv: { INFLUX_URL: vm.url, INFLUX_TOKEN: 'unused-by-victoria', INFLUX_ORG: 'tickpipe', INFLUX_BUCKET: 'ticks' },
    });
  }
  return startInfluxStore(influx, process.env['INFLUX_TEST_TOKEN'] ?? '', process.env['INFLUX_TEST_ORG'] ?? 'tickpipe');
}

const MEASUREMENTS = ['market_status', 'candle', 'tick'];

async function startInfluxStore(base: string, token: string, org: string): Promise<TestStore> {
  const api = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(new URL(path, base), {
      ...init,
      headers: { Authorization: `Token ${token}`, 'Content-Type': 'application/json', ...(init.headers ?? {}) },
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`InfluxDB ${init.method ?? 'GET'} ${path}: ${res.status} ${text}`);
    return text;
  };
  const orgs = JSON.parse(await api(`/api/v2/orgs?org=${encodeURIComponent(org)}`)) as { orgs: Array<{ id: string }> };
  const orgID = orgs.orgs[0]?.id;
  if (!orgID) throw new Error(`INFLUX_TEST_ORG ${org} does not exist in ${base}`);
  const bucket = `tickpipe-test-${randomUUID().slice(0, 8)}`;
  const created = JSON.parse(
    await api('/api/v2/buckets', { method: 'POST', body: JSON.stringify({ orgID, name: bucket, retentionRules: [] }) }),
  ) as { id: string };
  const gate = await startTcpGate(new URL(base));

  const exportSeries = async (match: string): Promise<ExportedSeries[]> => {
    const { name, labels } = parseMatch(match);
    const measurement = MEASUREMENTS.find((m) => name.startsWith(`${m}_`));
    if (!measurement) throw new Error(`cannot translate ${match} to Flux`);
    const conds = [
      `r._measurement == ${JSON.stringify(measurement)}`,
      `r._field == ${JSON.stringify(name.slice(measurement.length + 1))}`,
      ...Object.entries(labels).map(([k, v]) => `r[${JSON.stringify(k)}] == ${JSON.stringify(v)}`),
    ];
    const flux = `from(bucket: ${JSON.stringify(bucket)}) |> range(start: 0) |> filter(fn: (r) => ${conds.join(' and ')})`;
    const csv = await api(`/api/v2/query?org=${encodeURIComponent(org)}`, {
      method: 'POST',
      body: JSON.stringify({ query: flux, dialect: { annotations: [] } }),
    });
    return seriesFromCsv(csv, name);
  };

  const store: TestStore = {
    url: gate.url,
    port: gate.port,
    pid: undefined,
    influxEnv: { INFLUX_URL: gate.url, INFLUX_TOKEN: token, INFLUX_ORG: org, INFLUX_BUCKET: bucket },
    stop: async () => gate.close(),
    kill: async () => gate.close(),
    start: async () => gate.open(),
    pause: () => gate.hold(true),
    resume: () => gate.hold(false),
    exportSeries,
    timestampsByKey: (metric, extraMatch) => timestampsByKey(exportSeries, metric, extraMatch),
    async close() {
      await gate.close();
      await api(`/api/v2/buckets/${created.id}`, { method: 'DELETE' }).catch(() => undefined);
    },
  };
  return store;
}

/** `{__name__="tick_ltp",instrument_key="NSE_EQ|X"}` or `tick_ltp` → name and labels. */
function parseMatch(match: string): { name: string; labels: Record<string, string> } {
  const labels: Record<string, string> = {};
  let name = /^[\w:]+/.exec(match)?.[0] ?? '';
  for (const m of match.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
    if (m[1] === '__name__') name = m[2]!;
    else labels[m[1]] = m[2].replace(/\\(.)/g, '$1');
  }
  return { name, labels };
}

/** Flux's CSV (no annotations): one series per `table`. */
function seriesFromCsv(csv: string, name: string): ExportedSeries[] {
  const series = new Map<string, ExportedSeries>();
  let header: string[] | null = null;
  for (const line of csv.split(/\r?\n/)) {
    if (!line.trim()) {
      header = null;
      continue;
    }
    const cells = splitCsv(line);
    if (!header) {
      header = cells;
      continue;
    }
    const row = Object.fromEntries(header.map((h, i) => [h, cells[i] ?? '']));
    const tags = Object.fromEntries(Object.entries(row).filter(([k]) => k && !k.startsWith('_') && k !== 'result' && k !== 'table'));
    const id = `${row['table']}|${JSON.stringify(tags)}`;
    let s = series.get(id);
    if (!s) series.set(id, (s = { metric: { __name__: name, ...tags }, values: [], timestamps: [] }));
    s.values.push(Number(row['_value']));
    s.timestamps.push(Date.parse(row['_time']));
  }
  return [...series.values()];
}

function splitCsv(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

/** A TCP forwarder on a loopback port: closed (connections refused), open, or holding (a frozen server). */
async function startTcpGate(
  target: URL,
): Promise<{ url: string; port: number; open(): Promise<void>; close(): Promise<void>; hold(on: boolean): void }> {
  const sockets = new Set<Socket>();
  let holding = false;
  let server: Server | undefined;
  let port = 0;
  const open = () =>
    new Promise<void>((resolve, reject) => {
      if (server) return resolve();
      const srv = createServer((client) => {
        const upstream = connect(Number(target.port || (target.protocol === 'https:' ? 443 : 80)), target.hostname);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('close', () => sockets.delete(s));
          s.on('error', () => (s === client ? upstream : client).destroy());
        }
        if (holding) client.pause();
        client.pipe(upstream).pipe(client);
      });
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', () => {
        port = (srv.address() as { port: number }).port;
        server = srv;
        resolve();
      });
    });
  await open();
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    open,
    async close() {
      const srv = server;
      server = undefined;
      for (const s of sockets) s.destroy();
      if (srv) await new Promise<void>((r) => srv.close(() => r()));
    },
    hold(on) {
      holding = on;
      for (const s of sockets) {
        if (on) s.pause();
        else s.resume();
      }
    },
  };
}
