import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { ManualClock, startSimulator, type Simulator, type UpstoxInstrument } from '../../src/sim/index.js';
import { FeedClient, subscribe } from '../helpers/feed-client.js';
import { FAST } from '../helpers/sim-fixtures.js';

const NIFTY = 'NSE_INDEX|Nifty 50';
const BANKNIFTY = 'NSE_INDEX|Nifty Bank';
const IST_OFFSET_MS = 19_800_000;
/** Thursday 27 Nov 2026, 10:00 IST: the next weekly expiry is Tuesday 1 Dec, 15:30 IST. */
const T0 = Date.parse('2026-11-27T10:00:00+05:30');

async function fetchFile(sim: Simulator): Promise<UpstoxInstrument[]> {
  const res = await fetch(sim.instrumentFileUrl);
  assert.equal(res.status, 200);
  return JSON.parse(gunzipSync(Buffer.from(await res.arrayBuffer())).toString('utf8')) as UpstoxInstrument[];
}

const options = (file: UpstoxInstrument[], symbol: string): UpstoxInstrument[] =>
  file.filter((i) => i.underlying_symbol === symbol && (i.instrument_type === 'CE' || i.instrument_type === 'PE'));

describe('Upstox V3 simulator: instrument file', () => {
  let sim: Simulator;
  const clock = new ManualClock(T0);
  before(async () => {
    sim = await startSimulator({ ...FAST, clock });
  });
  after(() => sim.close());

  it('serves equities, the two indices and weekly NIFTY/BANKNIFTY chains in Upstox shape', async () => {
    const file = await fetchFile(sim);
    const byKey = new Map(file.map((i) => [i.instrument_key, i]));
    assert.equal(byKey.size, file.length, 'instrument keys are unique');
    assert.equal(byKey.get('NSE_EQ|INE002A01018')?.trading_symbol, 'RELIANCE');
    assert.equal(byKey.get('NSE_EQ|INE002A01018')?.instrument_type, 'EQ');
    assert.deepEqual([byKey.get(NIFTY)?.trading_symbol, byKey.get(NIFTY)?.instrument_type], ['NIFTY', 'INDEX']);
    assert.deepEqual([byKey.get(BANKNIFTY)?.trading_symbol, byKey.get(BANKNIFTY)?.instrument_type], ['BANKNIFTY', 'INDEX']);
    for (const [symbol, key, step] of [
      ['NIFTY', NIFTY, 50],
      ['BANKNIFTY', BANKNIFTY, 100],
    ] as const) {
      const chain = options(file, symbol);
      const expiries = [...new Set(chain.map((o) => o.expiry!))].sort((a, b) => a - b);
      assert.deepEqual(
        expiries.map((e) => new Date(e + IST_OFFSET_MS).toISOString().slice(0, 16)),
        ['2026-12-01T15:30', '2026-12-08T15:30', '2026-12-15T15:30', '2026-12-22T15:30'],
      );
      for (const o of chain) {
        assert.match(o.instrument_key, /^NSE_FO\|\d+$/);
        assert.equal(o.segment, 'NSE_FO');
        assert.equal(o.underlying_key, key);
        assert.equal(o.strike_price! % step, 0, `${o.trading_symbol} on the ${step} grid`);
        assert.ok(o.lot_size! > 0);
        assert.match(o.trading_symbol, new RegExp(`^${symbol} ${o.strike_price} (CE|PE) \\d\\d [A-Z]{3} \\d\\d$`));
      }
      // Each strike of each expiry has a CE and a PE, and the grid spans the index level widely.
      for (const e of expiries) {
        const ce = chain.filter((o) => o.expiry === e && o.instrument_type === 'CE').map((o) => o.strike_price!);
        const pe = chain.filter((o) => o.expiry === e && o.instrument_type === 'PE').map((o) => o.strike_price!);
        assert.deepEqual(ce.sort(), pe.sort());
        assert.ok(ce.length >= 81, `${symbol}: ${ce.length} strikes`);
      }
    }
    assert.deepEqual(
      file.map((i) => i.instrument_key),
      sim.instrumentFile().map((i) => i.instrument_key),
    );
  });

  it('streams a listed option, priced from its index, and re-prices the chain when setPrice moves the index', async () => {
    const file = sim.instrumentFile();
    const client = await FeedClient.open(sim.apiUrl, sim.token);
    try {
      const first = options(file, 'NIFTY').filter((o) => o.expiry === Math.min(...options(file, 'NIFTY').map((x) => x.expiry!)));
      const levelNow = async (): Promise<number> => {
        const at = await subscribe(client, [NIFTY], 'ltpc');
        return client.arrivals[at].frame!.updates.find((u) => u.key === NIFTY)!.ltp;
      };
      const level = await levelNow();
      const strike = Math.round(level / 50) * 50;
      const call = first.find((o) => o.instrument_type === 'CE' && o.strike_price === strike)!;
      const put = first.find((o) => o.instrument_type === 'PE' && o.strike_price === strike)!;
      const premium = async (key: string): Promise<number> => {
        const at = await subscribe(client, [key], 'option_greeks');
        return client.arrivals[at].frame!.updates.find((u) => u.key === key)!.ltp;
      };
      const callAtm = await premium(call.instrument_key);
      const putAtm = await premium(put.instrument_key);
      assert.ok(callAtm > 5 && callAtm < 1000 && putAtm > 5 && putAtm < 1000, `ATM premiums ${callAtm} / ${putAtm} at ${level}`);
      sim.setPrice(NIFTY, strike + 1000);
      // Trades after the move (live frames on the subscribed keys) re-price from the new level.
      const from = client.arrivals.length;
      const callLtp = await client.until('the call re-priced', () => {
        for (let i = client.arrivals.length - 1; i >= from; i--) {
          const u = client.arrivals[i].frame?.updates.find((x) => x.key === call.instrument_key);
          if (u && u.ltp > 900) return u.ltp;
        }
        return 0;
      });
      assert.ok(callLtp > callAtm + 500, `call ${callAtm} → ${callLtp}`);
      assert.throws(() => sim.setPrice(call.instrument_key, 10), /move the underlying/);
    } finally {
      client.close();
    }
  });

  it('rolls expiries with the clock, keeping the keys of contracts that remain', () => {
    const before = sim.instrumentFile();
    const keyOf = new Map(before.map((i) => [i.trading_symbol, i.instrument_key]));
    clock.set(Date.parse('2026-12-01T15:30:00+05:30'));
    const after = sim.instrumentFile();
    const expiries = [...new Set(options(after, 'NIFTY').map((o) => o.expiry!))].sort((a, b) => a - b);
    assert.equal(new Date(expiries[0] + IST_OFFSET_MS).toISOString().slice(0, 10), '2026-12-08', 'the expired week is gone at 15:30');
    assert.equal(new Date(expiries[3] + IST_OFFSET_MS).toISOString().slice(0, 10), '2026-12-29', 'a new week is listed');
    for (const i of after) if (keyOf.has(i.trading_symbol)) assert.equal(i.instrument_key, keyOf.get(i.trading_symbol), i.trading_symbol);
    const newKeys = after.filter((i) => !keyOf.has(i.trading_symbol)).map((i) => i.instrument_key);
    for (const k of newKeys) assert.ok(![...keyOf.values()].includes(k), `${k} is not reused`);
    clock.set(T0);
  });

  it('failInstrumentFile: 500 until switched off', async () => {
    sim.failInstrumentFile(true);
    const res = await fetch(sim.instrumentFileUrl);
    assert.equal(res.status, 500);
    assert.equal(((await res.json()) as { status: string }).status, 'error');
    sim.failInstrumentFile(false);
    assert.ok((await fetchFile(sim)).length > 100);
  });
});

describe('Upstox V3 simulator: a large instrument file for benchmarks', () => {
  it('pads the file to about instrumentFileSize instruments', async () => {
    const sim = await startSimulator({ ...FAST, instrumentFileSize: 100_000 });
    try {
      const file = await fetchFile(sim);
      assert.ok(Math.abs(file.length - 100_000) < 1000, `${file.length} instruments`);
      assert.equal(new Set(file.map((i) => i.instrument_key)).size, file.length);
      assert.ok(file.some((i) => i.trading_symbol === 'NIFTY'));
    } finally {
      await sim.close();
    }
  });
});
