import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type AnyActorRef, type PromiseActorLogic, SimulatedClock, createActor, waitFor } from 'xstate';
import { type Config, type FeedMode, loadConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';
import { Instruments } from '../../src/instruments/instruments-service.js';
import type { Timers } from '../../src/instruments/price-watch.js';
import { createLogger } from '../../src/logger.js';
import { provideConnection } from '../../src/upstox/connection-impl.js';
import { FeedKind, TickUpdate } from '../../src/upstox/feed-types.js';
import { Stats } from '../../src/stats.js';
import { TokenSource } from '../../src/upstox/token-source.js';
import { NIFTY_KEY, RELIANCE_KEY, masterGzip, optionKey } from '../helpers/master-fixture.js';

const ist = (s: string) => Date.parse(`${s}+05:30`);

function update(key: string, ltp: number): TickUpdate {
  const u = new TickUpdate();
  u.key = key;
  u.segment = key.slice(0, key.indexOf('|'));
  u.kind = FeedKind.Ltpc;
  u.ltp = ltp;
  return u;
}

describe('instruments composition (master, names at start, the chains actor wired to a subscription)', () => {
  let dir: string;
  let server: Server;
  let url: string;
  let requests = 0;
  /** What the INSTRUMENTS_URL route (/list) answers. */
  let listed: unknown = { instruments: [] };
  let lines: Array<Record<string, unknown>> = [];
  const logger = () =>
    createLogger(
      'info',
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
          cb();
        },
      }),
    );

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tickpipe-instr-'));
    requests = 0;
    lines = [];
    const gz = masterGzip({ expiries: ['2026-12-01', '2026-12-08'], strikesEachSide: 20 });
    server = createServer((req, res) => {
      if (req.url === '/list') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(listed));
      requests++;
      res.writeHead(200).end(gz);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/instruments/complete.json.gz`;
  });
  afterEach(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  const config = (env: Record<string, string>): Config =>
    loadConfig({ UPSTOX_ACCESS_TOKEN: 'x', SPOOL_PATH: join(dir, 'spool.db'), INSTRUMENT_MASTER_URL: url, ...env });

  it('resolves names in INSTRUMENTS at start, keeping keys and order', async () => {
    const i = new Instruments({
      config: config({ INSTRUMENTS: 'nse_eq:reliance,NSE_INDEX|Nifty Bank,NSE_INDEX:NIFTY' }),
      logger: logger(),
    });
    await i.start();
    assert.deepEqual(i.instruments, [RELIANCE_KEY, 'NSE_INDEX|Nifty Bank', NIFTY_KEY]);
    assert.equal(i.symbolOf(RELIANCE_KEY), 'RELIANCE');
    assert.equal(i.status().state, 'fresh');
    assert.equal(requests, 1);
    // A restart the same day uses the cached copy beside the spool.
    await new Instruments({ config: config({ INSTRUMENTS: 'NSE_EQ:RELIANCE' }), logger: logger() }).start();
    assert.equal(requests, 1);
  });

  it('an unknown or ambiguous name at start is a ConfigError naming it, with close matches', async () => {
    const i = new Instruments({ config: config({ INSTRUMENTS: 'NSE_EQ:RELIANCEE,BSE_EQ:TWIN' }), logger: logger() });
    await assert.rejects(i.start(), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.problems.length, 2);
      assert.match(err.problems[0], /INSTRUMENTS: NSE_EQ:RELIANCEE is not in the instrument master; did you mean NSE_EQ:RELIANCE\?/);
      assert.match(err.problems[1], /BSE_EQ:TWIN is ambiguous/);
      return true;
    });
  });

  it('names with no master to resolve them stop the start with the download error', async () => {
    const i = new Instruments({
      config: config({ INSTRUMENTS: 'NSE_EQ:RELIANCE', INSTRUMENT_MASTER_URL: 'http://127.0.0.1:9/none.json.gz' }),
      logger: logger(),
    });
    await assert.rejects(
      i.start(),
      /INSTRUMENTS uses names \(NSE_EQ:RELIANCE\) but the instrument master could not be loaded: INSTRUMENT_MASTER_URL is unreachable/,
    );
    assert.equal(i.notReadyReason()?.startsWith('no instrument master'), true);
  });

  it('with keys only, start waits for a quick master, so the first points already carry symbols', async () => {
    const i = new Instruments({ config: config({ INSTRUMENTS: RELIANCE_KEY }), logger: logger() });
    await i.start();
    assert.equal(i.status().state, 'fresh');
    assert.equal(i.needed, false);
    assert.equal(i.symbolOf(RELIANCE_KEY), 'RELIANCE');
    assert.deepEqual(i.resolve(['NSE_EQ:RELIANCE', 'NSE_EQ:NOPE']).keys, [RELIANCE_KEY]);
    assert.match(i.resolve(['NSE_EQ:NOPE']).refused[0].reason, /NSE_EQ:NOPE is not in the instrument master/);
  });

  it('with keys only, a master that does not answer holds the start no longer than the bound', async () => {
    // A server that accepts and never answers.
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const port = (silent.address() as AddressInfo).port;
      const i = new Instruments({
        config: config({ INSTRUMENTS: RELIANCE_KEY, INSTRUMENT_MASTER_URL: `http://127.0.0.1:${port}/complete.json.gz` }),
        logger: logger(),
        startWaitMs: 50,
      });
      await i.start();
      assert.equal(i.status().state, 'loading', 'start returned while the download still waits');
      assert.equal(i.symbolOf(RELIANCE_KEY), undefined);
      i.close();
    } finally {
      silent.closeAllConnections();
      await new Promise((r) => silent.close(r));
    }
  });

  it('NIFTY:3 end to end: prices from the data plane centre the chain, /state shows it, the log says it once', async () => {
    const clock = new SimulatedClock();
    clock.set(ist('2026-11-30T10:00:00'));
    const intervals = new Set<() => void>();
    const timers: Timers = {
      now: () => clock.now(),
      setInterval: (fn) => (intervals.add(fn), fn),
      clearInterval: (h) => intervals.delete(h as () => void),
    };
    const sample = () => intervals.forEach((fn) => fn());
    const i = new Instruments({ config: config({ OPTION_CHAINS: 'NIFTY:3' }), logger: logger(), timers });
    await i.start();
    assert.equal(i.status().state, 'fresh', 'a quick master is in before start returns');
    let sub: Record<string, FeedMode> = {};
    const actor = createActor(i.chainsLogic({ get: () => sub, set: (next) => (sub = next) }), { input: i.chainsInput(), clock });
    actor.start();
    await waitFor(actor, (s) => s.value === 'ready');
    const chain = () => actor.getSnapshot().children['chain:NIFTY'] as AnyActorRef;
    await waitFor(chain(), (s) => s.matches({ active: 'waitingForUnderlying' }));
    assert.deepEqual(sub, { [NIFTY_KEY]: 'full' });
    i.prices.observe({ type: 1, ts: clock.now(), updates: [update(NIFTY_KEY, 24110), update(RELIANCE_KEY, 1300)], marketStatus: null });
    sample();
    await waitFor(chain(), (s) => s.matches({ active: 'tracking' }));
    const [state] = i.chainsState((id) => actor.system.get(id));
    assert.equal(state?.atm, 24100);
    assert.equal(state?.ltp, 24110);
    assert.equal(state?.expiry, '2026-12-01');
    assert.equal(state?.keys.length, 1 + 14);
    assert.equal(state?.keys[0], NIFTY_KEY);
    assert.equal(sub[optionKey('NIFTY', '2026-12-01', 24250, 'PE')], 'option_greeks');
    sample(); // the same price again: no event
    const logged = lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('chain NIFTY'));
    assert.deepEqual(
      logged.map((l) => [l.level, l.msg]),
      [[30, 'chain NIFTY centred: 24100 (2026-12-01)']],
    );
    actor.stop();
  });

  it('NIFTY:1:2026-12-01 past its expiry: /state.chains shows expired with no keys, the log says what went, once', async () => {
    const clock = new SimulatedClock();
    clock.set(ist('2026-12-01T15:00:00'));
    const intervals = new Set<() => void>();
    const timers: Timers = {
      now: () => clock.now(),
      setInterval: (fn) => (intervals.add(fn), fn),
      clearInterval: (h) => intervals.delete(h as () => void),
    };
    const i = new Instruments({ config: config({ OPTION_CHAINS: 'NIFTY:1:2026-12-01' }), logger: logger(), timers });
    await i.start();
    let sub: Record<string, FeedMode> = {};
    const actor = createActor(i.chainsLogic({ get: () => sub, set: (next) => (sub = next) }), { input: i.chainsInput(), clock });
    actor.start();
    await waitFor(actor, (s) => s.value === 'ready');
    const chain = () => actor.getSnapshot().children['chain:NIFTY'] as AnyActorRef;
    await waitFor(chain(), (s) => s.matches({ active: 'waitingForUnderlying' }));
    i.prices.observe({ type: 1, ts: clock.now(), updates: [update(NIFTY_KEY, 24110)], marketStatus: null });
    intervals.forEach((fn) => fn());
    await waitFor(chain(), (s) => s.matches({ active: 'tracking' }));
    assert.equal(Object.keys(sub).length, 1 + 6);
    clock.increment(30 * 60_000);
    await waitFor(chain(), (s) => s.matches('expired') && s.context.optionKeys.length === 0);
    assert.deepEqual(sub, {});
    const [state] = i.chainsState((id) => actor.system.get(id));
    assert.equal(state?.state, 'expired');
    assert.deepEqual(state?.keys, []);
    assert.equal(state?.lastError, null);
    const logged = lines.filter((l) => typeof l.msg === 'string' && l.msg.includes('expiry has passed'));
    assert.equal(logged.length, 1);
    assert.equal(logged[0]?.level, 30);
    assert.match(String(logged[0]?.msg), /^chain NIFTY: its 2026-12-01 expiry has passed; unsubscribed 7 keys it had added \(/);
    assert.equal((logged[0]?.unsubscribed as string[]).length, 7);
    actor.stop();
  });

  describe('INSTRUMENTS_URL with names', () => {
    /** The connection's real loadInstruments actor, wired as the service wires it. */
    async function load(i: Instruments, cfg: Config): Promise<{ keys?: string[]; error?: { code?: string; message: string } }> {
      const connection = provideConnection({
        config: cfg.upstox,
        tokenSource: new TokenSource('x', undefined, 1000),
        sink: { frame: () => {} },
        stats: new Stats(),
        logger: logger(),
        resolveNames: (entries) => i.resolveLoaded(entries),
      });
      const logic = connection.implementations.actors.loadInstruments as PromiseActorLogic<string[]>;
      const actor = createActor(logic);
      return new Promise((resolve) => {
        actor.subscribe({
          complete: () => resolve({ keys: actor.getSnapshot().output ?? [] }),
          error: (e) => resolve({ error: e as { code?: string; message: string } }),
        });
        actor.start();
      });
    }

    it('resolves names against the master; an unknown one is refused alone with close matches, logged once', async () => {
      listed = { instruments: ['nse_eq:reliance', 'NSE_EQ:RELIANC', 'NSE_INDEX|Nifty Bank', 'NSE_INDEX:NIFTY'] };
      const cfg = config({ INSTRUMENTS_URL: url.replace(/\/instruments\/.*$/, '/list') });
      const i = new Instruments({ config: cfg, logger: logger() });
      await i.start();
      const { keys } = await load(i, cfg);
      assert.deepEqual(keys, [RELIANCE_KEY, 'NSE_INDEX|Nifty Bank', NIFTY_KEY]);
      const refusals = lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('INSTRUMENTS_URL'));
      assert.equal(refusals.length, 1);
      assert.equal(refusals[0]?.level, 40);
      assert.match(
        String(refusals[0]?.msg),
        /1 name\(s\) refused, the rest is streamed: NSE_EQ:RELIANC is not in the instrument master; did you mean NSE_EQ:RELIANCE\?/,
      );
      i.close();
    });

    it('a list whose names all fail is a fetch failure (the connection retries); an entry neither key nor name fails the list', async () => {
      const cfg = config({ INSTRUMENTS_URL: url.replace(/\/instruments\/.*$/, '/list') });
      const i = new Instruments({ config: cfg, logger: logger() });
      await i.start();
      listed = { instruments: ['NSE_EQ:NOSUCH'] };
      const failed = await load(i, cfg);
      assert.equal(failed.error?.code, 'INSTRUMENTS_FETCH_FAILED');
      assert.match(failed.error?.message ?? '', /listed no instrument that resolves: NSE_EQ:NOSUCH is not in the instrument master/);
      listed = { instruments: ['NSE_EQ|INE002A01018', 'not a key'] };
      assert.match((await load(i, cfg)).error?.message ?? '', /invalid entries \["not a key"\].*SEGMENT\|id or SEGMENT:TRADING_SYMBOL/);
      i.close();
    });
  });
});
