/**
 * Upstox's daily instrument file, in its shape (a gzipped JSON array of objects named as in
 * https://upstox.com/developer/api-documentation/instruments): the simulator's equities, the two
 * indices, a crude future, and weekly NIFTY and BANKNIFTY options (CE and PE) for the next
 * expiries relative to the market clock. Option keys get stable numeric ids (NSE_FO|60001...)
 * for the simulator's lifetime, and each listed option is declared to the market so its premium
 * follows its index (option-model.ts).
 */
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import type { Market } from './market.js';
import type { OptionSpec } from './option-model.js';

const gzip = promisify(gzipCb);
const DAY_MS = 86_400_000;
const IST_OFFSET_MS = 19_800_000;
/** 15:30 IST, the F&O close, as ms after IST midnight. */
const EXPIRY_TIME_MS = (15 * 60 + 30) * 60_000;
/** Weekly options expire on Tuesdays (NSE's weekly expiry day since September 2025). */
const EXPIRY_WEEKDAY = 2;
/** Expiries listed: the next four weeks. */
const EXPIRIES = 4;
/** Strikes listed on each side of the index's previous close and of the level setPrice last gave it (a stable grid). */
const STRIKES_EACH_SIDE = 40;
const FIRST_OPTION_ID = 60_001;

/** One element of complete.json.gz (fields Upstox leaves out for a type are left out here too). */
export interface UpstoxInstrument {
  segment: string;
  name: string;
  exchange: string;
  instrument_type: string;
  instrument_key: string;
  exchange_token: string;
  trading_symbol: string;
  lot_size?: number;
  tick_size?: number;
  isin?: string;
  expiry?: number;
  weekly?: boolean;
  strike_price?: number;
  underlying_key?: string;
  underlying_symbol?: string;
  underlying_type?: string;
  minimum_lot?: number;
}

interface Underlying {
  key: string;
  symbol: string;
  step: number;
  lot: number;
}

export const UNDERLYINGS: readonly Underlying[] = [
  { key: 'NSE_INDEX|Nifty 50', symbol: 'NIFTY', step: 50, lot: 75 },
  { key: 'NSE_INDEX|Nifty Bank', symbol: 'BANKNIFTY', step: 100, lot: 35 },
];

const EQUITIES: readonly [string, string, string, string][] = [
  ['INE002A01018', 'RELIANCE', 'RELIANCE INDUSTRIES LTD', '2885'],
  ['INE467B01029', 'TCS', 'TATA CONSULTANCY SERV LT', '11536'],
  ['INE009A01021', 'INFY', 'INFOSYS LIMITED', '1594'],
  ['INE040A01034', 'HDFCBANK', 'HDFC BANK LTD', '1333'],
  ['INE090A01021', 'ICICIBANK', 'ICICI BANK LTD.', '4963'],
  ['INE062A01020', 'SBIN', 'STATE BANK OF INDIA', '3045'],
];

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];

/** The next `count` weekly expiries (15:30 IST on Tuesdays) strictly after `now`, epoch ms. */
export function nextExpiries(now: number, count = EXPIRIES): number[] {
  const istMidnight = Math.floor((now + IST_OFFSET_MS) / DAY_MS) * DAY_MS - IST_OFFSET_MS;
  const weekday = new Date(istMidnight + IST_OFFSET_MS).getUTCDay();
  let t = istMidnight + ((EXPIRY_WEEKDAY - weekday + 7) % 7) * DAY_MS + EXPIRY_TIME_MS;
  if (t <= now) t += 7 * DAY_MS;
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(t + i * 7 * DAY_MS);
  return out;
}

/** `NIFTY 24600 CE 02 DEC 25`, Upstox's trading_symbol for an option. */
function optionSymbol(symbol: string, strike: number, type: string, expiry: number): string {
  const d = new Date(expiry + IST_OFFSET_MS);
  const dd = String(d.getUTCDate()).padStart(2, '0');
  const yy = String(d.getUTCFullYear() % 100).padStart(2, '0');
  return `${symbol} ${strike} ${type} ${dd} ${MONTHS[d.getUTCMonth()]} ${yy}`;
}

function fixed(): UpstoxInstrument[] {
  const out: UpstoxInstrument[] = EQUITIES.map(([isin, symbol, name, token]) => ({
    segment: 'NSE_EQ',
    name,
    exchange: 'NSE',
    isin,
    instrument_type: 'EQ',
    instrument_key: `NSE_EQ|${isin}`,
    exchange_token: token,
    trading_symbol: symbol,
    lot_size: 1,
    tick_size: 5,
  }));
  out.push(index('NSE_INDEX|Nifty 50', 'Nifty 50', 'NIFTY'), index('NSE_INDEX|Nifty Bank', 'Nifty Bank', 'BANKNIFTY'), {
    segment: 'MCX_FO',
    name: 'CRUDE OIL',
    exchange: 'MCX',
    instrument_type: 'FUT',
    instrument_key: 'MCX_FO|457534',
    exchange_token: '457534',
    trading_symbol: 'CRUDEOIL FUT 16 DEC 26',
    expiry: Date.parse('2026-12-16T23:30:00+05:30'),
    lot_size: 100,
    tick_size: 100,
    underlying_key: 'MCX_COM|294',
    underlying_symbol: 'CRUDEOIL',
    underlying_type: 'COM',
    minimum_lot: 100,
  });
  return out;
}

function index(key: string, name: string, symbol: string): UpstoxInstrument {
  return {
    segment: 'NSE_INDEX',
    name,
    exchange: 'NSE',
    instrument_type: 'INDEX',
    instrument_key: key,
    exchange_token: name,
    trading_symbol: symbol,
  };
}

/** The options listed and their ids: an id, once given to a contract, is never reused. */
export class InstrumentBook {
  private readonly ids = new Map<string, number>();
  private nextId = FIRST_OPTION_ID;
  private cachedPadding: string | undefined;
  private cachedGz: { real: string; gz: Promise<Buffer> } | undefined;

  constructor(
    private readonly market: Market,
    private readonly padTo: number,
  ) {}

  /** Every instrument of the file at market time `now`. */
  list(now: number): UpstoxInstrument[] {
    const out = fixed();
    for (const u of UNDERLYINGS) {
      const index = this.market.get(u.key);
      const strikes = new Set<number>();
      for (const level of [index.cp, index.anchor]) {
        const atm = Math.round(level / u.step) * u.step;
        for (let i = -STRIKES_EACH_SIDE; i <= STRIKES_EACH_SIDE; i++) if (atm + i * u.step > 0) strikes.add(atm + i * u.step);
      }
      const sorted = [...strikes].sort((a, b) => a - b);
      for (const expiry of nextExpiries(now)) {
        for (const strike of sorted)
          for (const type of ['CE', 'PE'] as const) out.push(this.option(u, { underlying: u.key, strike, type, expiry }));
      }
    }
    return out;
  }

  /** The gzipped file; unchanged content reuses the last compression (a large file takes a while). */
  gzipped(now: number): Promise<Buffer> {
    const list = this.list(now);
    const real = JSON.stringify(list);
    // Keyed by the real part: the padding never changes, and comparing 25 MB strings is slow.
    if (this.cachedGz?.real !== real) {
      const padding = this.padding(list.length);
      this.cachedGz = { real, gz: gzip(padding ? `${real.slice(0, -1)},${padding}]` : real) };
    }
    return this.cachedGz.gz;
  }

  private option(u: Underlying, spec: OptionSpec): UpstoxInstrument {
    const contract = `${u.symbol}|${spec.expiry}|${spec.strike}|${spec.type}`;
    let id = this.ids.get(contract);
    if (id === undefined) {
      id = this.nextId++;
      this.ids.set(contract, id);
    }
    const key = `NSE_FO|${id}`;
    this.market.defineOption(key, spec);
    return {
      segment: 'NSE_FO',
      name: u.symbol,
      exchange: 'NSE',
      expiry: spec.expiry,
      weekly: true,
      instrument_key: key,
      exchange_token: String(id),
      trading_symbol: optionSymbol(u.symbol, spec.strike, spec.type, spec.expiry),
      tick_size: 5,
      lot_size: u.lot,
      instrument_type: spec.type,
      underlying_key: u.key,
      underlying_type: 'INDEX',
      underlying_symbol: u.symbol,
      strike_price: spec.strike,
      minimum_lot: u.lot,
    };
  }

  /**
   * Filler instruments up to padTo in all (BSE equities named SIMPADnnnnnn), as JSON without
   * brackets; built once. They are real keys to the feed but nobody's option.
   */
  private padding(realCount: number): string {
    if (this.padTo <= 0) return '';
    if (this.cachedPadding === undefined) {
      const n = Math.max(0, this.padTo - realCount);
      const parts: string[] = [];
      for (let i = 0; i < n; i++) {
        const id = String(i + 1).padStart(6, '0');
        parts.push(
          JSON.stringify({
            segment: 'BSE_EQ',
            name: `SIM PADDING ${id} LTD`,
            exchange: 'BSE',
            isin: `INE${id}PAD`,
            instrument_type: 'EQ',
            instrument_key: `BSE_EQ|INE${id}PAD`,
            exchange_token: String(900_000 + i),
            trading_symbol: `SIMPAD${id}`,
            lot_size: 1,
            tick_size: 1,
          }),
        );
      }
      this.cachedPadding = parts.join(',');
    }
    return this.cachedPadding;
  }
}
