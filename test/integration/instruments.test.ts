/**
 * Instruments by name and option chains, end to end: the built service (a child process) against
 * the simulator (its instrument file at /instruments/complete.json.gz, its price control and its
 * market clock) and a real VictoriaMetrics.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { startMasterServer } from '../helpers/master-server.js';
import { until } from '../helpers/poll.js';
import { freePort } from '../helpers/ports.js';
import { type ServiceProcess, startServiceProcess } from '../helpers/service-process.js';
import { type TestStore, startTestStore } from '../helpers/test-store.js';

const RELIANCE = 'NSE_EQ|INE002A01018';
const NIFTY = 'NSE_INDEX|Nifty 50';
const IST = 5.5 * 3600_000;

interface ChainView {
  underlying: string;
  state: string;
  ltp: number | null;
  atm: number | null;
  expiry: string | null;
  keys: string[];
  lastError: { code: string; message: string } | null;
}

async function service(sim: Simulator, dir: string, env: Record<string, string>, store?: TestStore): Promise<ServiceProcess> {
  return startServiceProcess({
    UPSTOX_API_URL: sim.apiUrl,
    UPSTOX_TOKEN_URL: sim.tokenUrl,
    INSTRUMENT_MASTER_URL: sim.instrumentFileUrl,
    SPOOL_PATH: join(dir, 'spool.db'),
    HTTP_PORT: String(await freePort()),
    FLUSH_INTERVAL_MS: '200',
    ...(store ? store.influxEnv : {}),
    ...env,
  });
}

const streaming = (svc: ServiceProcess) => svc.waitForState('the feed streaming', (s) => s.actors.connection.value === 'streaming', 30_000);
const subscription = async (svc: ServiceProcess): Promise<Record<string, string>> =>
  (await svc.state()).actors.connection.context.subscription as Record<string, string>;
const chain = async (svc: ServiceProcess): Promise<ChainView> => ((await svc.state()).chains as ChainView[])[0];
const logLines = (svc: ServiceProcess, prefix: string) =>
  svc
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: number; msg: string; [k: string]: unknown })
    .filter((l) => typeof l.msg === 'string' && l.msg.startsWith(prefix));

describe('instruments by name (service + simulator + VictoriaMetrics)', () => {
  let sim: Simulator;
  let store: TestStore;
  let dir: string;
  let svc: ServiceProcess;

  before(async () => {
    [sim, store] = await Promise.all([
      startSimulator({ updatesPerSecond: 200, frameIntervalMs: 50, pingIntervalMs: 500, seed: 16 }),
      startTestStore(),
    ]);
    dir = mkdtempSync(join(tmpdir(), 'tickpipe-names-'));
    svc = await service(sim, dir, { INSTRUMENTS: 'nse_eq:reliance,NSE_INDEX:NIFTY' }, store);
    await streaming(svc);
  });
  after(async () => {
    await svc?.stop();
    await Promise.all([sim?.close(), store?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('resolves INSTRUMENTS names at start and reports the master in /state', async () => {
    assert.deepEqual(Object.keys(await subscription(svc)).sort(), [NIFTY, RELIANCE].sort());
    const master = (await svc.state()).master as { state: string; instruments: number; lastError: unknown };
    assert.equal(master.state, 'fresh');
    assert.equal(master.instruments, sim.instrumentFile().length);
    assert.equal(master.lastError, null);
  });

  it('tags tick points with the trading symbol (read back from VictoriaMetrics)', async () => {
    const series = await until('tick_ltp points tagged symbol=RELIANCE', async () => {
      const s = await store.exportSeries('{__name__="tick_ltp",symbol="RELIANCE"}');
      return s.length > 0 ? s : null;
    });
    assert.equal(series[0].metric['instrument_key'], RELIANCE);
    const nifty = await until('tick_ltp of NIFTY', async () => {
      const s = await store.exportSeries(`{__name__="tick_ltp",instrument_key="${NIFTY}"}`);
      return s.length > 0 ? s : null;
    });
    assert.equal(nifty[0].metric['symbol'], 'NIFTY');
  });

  it('POST /subscriptions takes names; an unknown one alone is refused with close matches', async () => {
    const res = await fetch(`${svc.baseUrl}/subscriptions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ add: ['NSE_EQ:tcs', 'NSE_EQ:INFI'] }),
    });
    const body = (await res.json()) as { accepted: string[]; refused: Array<{ key: string; reason: string }> };
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.deepEqual(body.accepted, ['NSE_EQ|INE467B01029']);
    assert.equal(body.refused.length, 1);
    assert.equal(body.refused[0].key, 'NSE_EQ:INFI');
    assert.match(body.refused[0].reason, /NSE_EQ:INFI is not in the instrument master; did you mean NSE_EQ:INFY/);
    await until('TCS subscribed at the connection', async () => (await subscription(svc))['NSE_EQ|INE467B01029'] === 'full');
  });

  it('/ticks takes names; tick messages carry "symbol"', async () => {
    const ws = new WebSocket(`${svc.baseUrl.replace('http', 'ws')}/ticks?keys=${encodeURIComponent('NSE_EQ:RELIANCE')}`);
    const messages: Array<Record<string, unknown>> = [];
    ws.on('message', (d: Buffer) => messages.push(JSON.parse(d.toString()) as Record<string, unknown>));
    try {
      const tick = await until('a RELIANCE tick', () => messages.find((m) => m.type === 'tick'));
      assert.equal(tick.key, RELIANCE);
      assert.equal(tick.symbol, 'RELIANCE');
      ws.send(JSON.stringify({ action: 'subscribe', keys: ['NSE_EQ:RELIANC', 'NSE_INDEX:Nifty'], requestId: 1 }));
      const ack = await until('the answer', () => messages.find((m) => m.type === 'subscribed' && m.requestId === 1));
      assert.deepEqual(ack.accepted, [NIFTY]);
      const refused = ack.refused as Array<{ key: string; reason: string }>;
      assert.equal(refused[0].key, 'NSE_EQ:RELIANC');
      assert.match(refused[0].reason, /did you mean NSE_EQ:RELIANCE/);
    } finally {
      ws.close();
    }
  });
});

describe('instrument names at start: bad names, and a master that cannot be fetched', () => {
  let sim: Simulator;
  let dir: string;

  before(async () => {
    sim = await startSimulator({ updatesPerSecond: 100, frameIntervalMs: 50, pingIntervalMs: 500, seed: 17 });
  });
  after(async () => {
    await sim?.close();
  });

  it('an unknown or ambiguous name stops the start (exit 2) naming each, with close matches', async () => {
    dir = mkdtempSync(join(tmpdir(), 'tickpipe-names-'));
    // The simulator's file has no ambiguous name: a file that has one (two BSE_EQ TWIN).
    const master = await startMasterServer({ expiries: ['2026-12-01'], strikesEachSide: 2 });
    try {
      const svc = await service(sim, dir, { INSTRUMENTS: 'NSE_EQ:RELIANC,BSE_EQ:twin', INSTRUMENT_MASTER_URL: master.url });
      const exit = await svc.exited;
      assert.equal(exit.code, 2, svc.output());
      assert.match(svc.output(), /INSTRUMENTS: NSE_EQ:RELIANC is not in the instrument master; did you mean NSE_EQ:RELIANCE\?/);
      assert.match(svc.output(), /BSE_EQ:twin is ambiguous: it names BSE_EQ\|TWIN0001, BSE_EQ\|TWIN0002/);
    } finally {
      await master.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('no cached copy and a failed fetch: names cannot start; keys still stream, /state says the master is unavailable', async () => {
    dir = mkdtempSync(join(tmpdir(), 'tickpipe-names-'));
    sim.failInstrumentFile(true);
    try {
      const named = await service(sim, dir, { INSTRUMENTS: 'NSE_EQ:RELIANCE' });
      assert.equal((await named.exited).code, 2, named.output());
      assert.match(
        named.output(),
        /INSTRUMENTS uses names \(NSE_EQ:RELIANCE\) but the instrument master could not be loaded: INSTRUMENT_MASTER_URL answered 500/,
      );
      const keyed = await service(sim, dir, { INSTRUMENTS: RELIANCE });
      try {
        await streaming(keyed);
        const master = await keyed.waitForState('the master download failed', (s) => s.master.state === 'unavailable');
        assert.match(master.master.lastError.message, /answered 500/);
        assert.ok(logLines(keyed, 'instrument master download failed; no copy to fall back on').length === 1);
      } finally {
        await keyed.stop();
      }
    } finally {
      sim.failInstrumentFile(false);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("yesterday's cached copy and a failed fetch: names resolve from the copy, /state says stale and why", async () => {
    dir = mkdtempSync(join(tmpdir(), 'tickpipe-names-'));
    try {
      const first = await service(sim, dir, { INSTRUMENTS: 'NSE_EQ:RELIANCE' });
      await streaming(first);
      await first.stop();
      const yesterday = new Date(Date.now() - 86_400_000);
      utimesSync(join(dir, 'instrument-master.json.gz'), yesterday, yesterday);
      sim.failInstrumentFile(true);
      const svc = await service(sim, dir, { INSTRUMENTS: 'NSE_EQ:RELIANCE' });
      try {
        await streaming(svc);
        assert.deepEqual(Object.keys(await subscription(svc)), [RELIANCE]);
        const s = await svc.waitForState('the refresh failed, the copy kept', (st) => st.master.lastError !== null);
        assert.equal(s.master.state, 'stale');
        assert.match(s.master.lastError.message, /INSTRUMENT_MASTER_URL answered 500/);
        assert.equal(logLines(svc, 'instrument master download failed; keeping the cached copy').length, 1);
      } finally {
        await svc.stop();
      }
    } finally {
      sim.failInstrumentFile(false);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('option chains (service + simulator)', () => {
  it('centres NIFTY:2 at start, re-centres after a price move, logs each change once', async () => {
    const sim = await startSimulator({ updatesPerSecond: 200, frameIntervalMs: 50, pingIntervalMs: 500, seed: 18 });
    const dir = mkdtempSync(join(tmpdir(), 'tickpipe-chain-'));
    const svc = await service(sim, dir, { OPTION_CHAINS: 'NIFTY:2' });
    try {
      const first = await until(
        'the chain tracking',
        async () => {
          const c = await chain(svc);
          return c.state === 'active.tracking' ? c : null;
        },
        { timeoutMs: 30_000 },
      );
      assert.equal(first.keys.length, 1 + 10);
      assert.equal(first.keys[0], NIFTY);
      const listed = sim.instrumentFile().filter((i) => first.keys.includes(i.instrument_key) && i.instrument_type !== 'INDEX');
      assert.equal(listed.length, 10, 'the options are listed in the instrument file');
      assert.ok(listed.every((i) => Math.abs(i.strike_price! - first.atm!) <= 100));
      const nextExpiry = Math.min(
        ...sim
          .instrumentFile()
          .filter((i) => i.expiry && i.underlying_symbol === 'NIFTY')
          .map((i) => i.expiry!),
      );
      assert.equal(first.expiry, new Date(nextExpiry + IST).toISOString().slice(0, 10));
      const sub = await subscription(svc);
      for (const k of first.keys.slice(1)) assert.equal(sub[k], 'option_greeks');

      sim.setPrice(NIFTY, first.atm! + 600);
      const moved = await until(
        'the chain re-centred',
        async () => {
          const c = await chain(svc);
          return c.state === 'active.tracking' && c.atm! >= first.atm! + 400 ? c : null;
        },
        { timeoutMs: 30_000 },
      );
      const sub2 = await subscription(svc);
      for (const k of first.keys.slice(1)) if (!moved.keys.includes(k)) assert.equal(sub2[k], undefined, `${k} unsubscribed`);
      for (const k of moved.keys) assert.ok(k in sub2, `${k} subscribed`);
      // Each change logged once, at info, from the previous centre to the new one (the random walk
      // may add re-centres of its own: the log must still be one unbroken chain of centres).
      const lines = await until('the re-centre logged', () => {
        const l = logLines(svc, 'chain NIFTY');
        return l.length > 1 && l.at(-1)!.msg.endsWith(`-> ${moved.atm} (${first.expiry})`) ? l : null;
      });
      assert.match(lines[0].msg, new RegExp(`^chain NIFTY centred: \\d+ \\(${first.expiry}\\)$`));
      for (let i = 1; i < lines.length; i++) {
        const m = /^chain NIFTY recentred: (\d+) \((.+?)\) -> (\d+) \((.+?)\)$/.exec(lines[i].msg);
        assert.ok(m, lines[i].msg);
        const prevTo = /(\d+) \([^)]+\)$/.exec(lines[i - 1].msg)![1];
        assert.equal(m[1], prevTo, 'each re-centre starts where the previous change ended');
        assert.notEqual(m[1], m[3]);
      }
      assert.ok(lines.every((l) => l.level === 30));
    } finally {
      await svc.stop();
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rolls to the next expiry at 15:30 IST on expiry day (the simulator clock started at 15:29:40)', async () => {
    // The market clock (frames' currentTs) runs from 15:29:40 IST (time for a slow start) on the next Tuesday, an expiry day.
    const now = Date.now();
    const day = new Date(Math.floor((now + IST) / 86_400_000) * 86_400_000);
    while (day.getUTCDay() !== 2) day.setUTCDate(day.getUTCDate() + 1);
    const expiryDay = day.toISOString().slice(0, 10);
    const startAt = Date.parse(`${expiryDay}T15:29:40+05:30`);
    const sim = await startSimulator({ updatesPerSecond: 200, frameIntervalMs: 50, pingIntervalMs: 500, seed: 19, startAt });
    const dir = mkdtempSync(join(tmpdir(), 'tickpipe-chain-'));
    const svc = await service(sim, dir, { OPTION_CHAINS: 'NIFTY:1' });
    try {
      const rolled = await until(
        'the chain rolled',
        async () => {
          const c = await chain(svc);
          return c.state === 'active.tracking' && c.expiry !== expiryDay ? c : null;
        },
        { timeoutMs: 40_000 },
      );
      const next = new Date(Date.parse(`${expiryDay}T00:00:00Z`) + 7 * 86_400_000).toISOString().slice(0, 10);
      assert.equal(rolled.expiry, next);
      // The random walk may re-centre the chain before 15:30; exactly one roll, from this week to the next.
      const lines = await until('the roll logged', () => {
        const l = logLines(svc, 'chain NIFTY');
        return l.some((x) => x.msg.includes(' rolled: ')) ? l : null;
      });
      assert.match(lines[0].msg, new RegExp(`^chain NIFTY centred: \\d+ \\(${expiryDay}\\)$`));
      const rolls = lines.filter((l) => l.msg.includes(' rolled: '));
      assert.equal(rolls.length, 1);
      assert.match(rolls[0].msg, new RegExp(`^chain NIFTY rolled: \\d+ \\(${expiryDay}\\) -> \\d+ \\(${next}\\)$`));
      const beforeRoll = lines.slice(0, lines.indexOf(rolls[0]));
      assert.ok(
        beforeRoll.every((l) => l.msg.endsWith(`(${expiryDay})`)),
        'nothing rolled before 15:30',
      );
      const sub = await subscription(svc);
      const expiring = sim
        .instrumentFile()
        .filter((i) => i.expiry !== undefined && new Date(i.expiry + IST).toISOString().startsWith(expiryDay));
      assert.ok(
        expiring.every((i) => !(i.instrument_key in sub)),
        'no option of the expired week stays subscribed',
      );
    } finally {
      await svc.stop();
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a chain beyond the V3 limits is refused as a whole, with the reason in /state', async () => {
    const sim = await startSimulator({ updatesPerSecond: 100, frameIntervalMs: 50, pingIntervalMs: 500, seed: 20 });
    const dir = mkdtempSync(join(tmpdir(), 'tickpipe-chain-'));
    const svc = await service(sim, dir, { OPTION_CHAINS: 'NIFTY:2', SUB_LIMIT_OPTION_GREEKS_COMBINED: '4' });
    try {
      const c = await until(
        'the chain refused',
        async () => {
          const v = await chain(svc);
          return v.state === 'active.refused' ? v : null;
        },
        { timeoutMs: 30_000 },
      );
      assert.match(
        c.lastError!.message,
        /chain NIFTY: change of \+10\/-0 keys refused as a whole, nothing applied: .*over the option_greeks limit of 4 keys/,
      );
      assert.deepEqual(Object.keys(await subscription(svc)), [NIFTY]);
    } finally {
      await svc.stop();
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
