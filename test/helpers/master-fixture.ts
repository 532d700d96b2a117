/**
 * Instrument files in Upstox's shape (complete.json.gz) for tests and the benchmark: equities,
 * the NIFTY and BANKNIFTY indices, and weekly CE/PE options on both for a few expiries.
 * Field names as in Upstox's instrument JSON (instrument_key, trading_symbol, segment,
 * instrument_type, underlying_key, underlying_symbol, expiry in ms, strike_price, lot_size...).
 */
import { gzipSync } from 'node:zlib';

const IST_OFFSET_MS = 5.5 * 3600 * 1000;

/** Upstox's expiry instant: 23:59:59 IST on the expiry date (YYYY-MM-DD). */
export function upstoxExpiry(date: string): number {
  return Date.parse(`${date}T23:59:59Z`) - IST_OFFSET_MS;
}

export interface FixtureOptions {
  /** Expiry dates (YYYY-MM-DD) of the weekly options. */
  expiries: string[];
  /** Strikes each side of the centre, per expiry and underlying. */
  strikesEachSide?: number;
  /** Extra equities to pad the file (the benchmark uses ~100,000 instruments). */
  equities?: number;
}

export const NIFTY_KEY = 'NSE_INDEX|Nifty 50';
export const BANKNIFTY_KEY = 'NSE_INDEX|Nifty Bank';
export const RELIANCE_KEY = 'NSE_EQ|INE002A01018';

const UNDERLYINGS = [
  { symbol: 'NIFTY', key: NIFTY_KEY, centre: 24000, step: 50, lot: 75 },
  { symbol: 'BANKNIFTY', key: BANKNIFTY_KEY, centre: 52000, step: 100, lot: 30 },
];

/** Key of the fixture's option (stable, so tests can name the keys they expect). */
export function optionKey(symbol: string, date: string, strike: number, side: 'CE' | 'PE'): string {
  return `NSE_FO|${symbol}${date.replaceAll('-', '')}${strike}${side}`;
}

export function masterRecords(opts: FixtureOptions): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [
    {
      segment: 'NSE_EQ',
      name: 'RELIANCE INDUSTRIES LTD',
      exchange: 'NSE',
      isin: 'INE002A01018',
      instrument_type: 'EQ',
      instrument_key: RELIANCE_KEY,
      lot_size: 1,
      freeze_quantity: 100000.0,
      exchange_token: '2885',
      tick_size: 10.0,
      trading_symbol: 'RELIANCE',
      short_name: 'Reliance Industries',
    },
    {
      segment: 'NSE_EQ',
      name: 'TATA STEEL',
      instrument_type: 'EQ',
      instrument_key: 'NSE_EQ|INE081A01020',
      trading_symbol: 'TATASTEEL',
      lot_size: 1,
    },
    {
      segment: 'NSE_EQ',
      name: 'TATA MOTORS',
      instrument_type: 'EQ',
      instrument_key: 'NSE_EQ|INE155A01022',
      trading_symbol: 'TATAMOTORS',
      lot_size: 1,
    },
    // The same trading symbol twice in one segment: a name that is ambiguous.
    { segment: 'BSE_EQ', name: 'TWIN A', instrument_type: 'EQ', instrument_key: 'BSE_EQ|TWIN0001', trading_symbol: 'TWIN', lot_size: 1 },
    { segment: 'BSE_EQ', name: 'TWIN B', instrument_type: 'EQ', instrument_key: 'BSE_EQ|TWIN0002', trading_symbol: 'TWIN', lot_size: 1 },
    {
      segment: 'NSE_INDEX',
      name: 'Nifty 50',
      exchange: 'NSE',
      instrument_type: 'INDEX',
      instrument_key: NIFTY_KEY,
      exchange_token: 'Nifty 50',
      trading_symbol: 'NIFTY',
    },
    {
      segment: 'NSE_INDEX',
      name: 'Nifty Bank',
      exchange: 'NSE',
      instrument_type: 'INDEX',
      instrument_key: BANKNIFTY_KEY,
      exchange_token: 'Nifty Bank',
      trading_symbol: 'BANKNIFTY',
    },
  ];
  for (let i = 0; i < (opts.equities ?? 0); i++) {
    const isin = `INE${String(i).padStart(6, '0')}X1`;
    out.push({
      segment: i % 2 ? 'BSE_EQ' : 'NSE_EQ',
      name: `PADDING COMPANY ${i} LIMITED`,
      exchange: i % 2 ? 'BSE' : 'NSE',
      isin,
      instrument_type: 'EQ',
      instrument_key: `${i % 2 ? 'BSE_EQ' : 'NSE_EQ'}|${isin}`,
      lot_size: 1,
      freeze_quantity: 100000.0,
      exchange_token: String(100000 + i),
      tick_size: 5.0,
      trading_symbol: `PAD${i}`,
      short_name: `Padding ${i}`,
      qty_multiplier: 1.0,
    });
  }
  const each = opts.strikesEachSide ?? 30;
  for (const u of UNDERLYINGS) {
    for (const date of opts.expiries) {
      const [y, m, d] = date.split('-');
      const month = new Date(`${date}T00:00:00Z`).toLocaleString('en', { month: 'short', timeZone: 'UTC' }).toUpperCase();
      for (let s = -each; s <= each; s++) {
        const strike = u.centre + s * u.step;
        for (const side of ['CE', 'PE'] as const) {
          out.push({
            segment: 'NSE_FO',
            name: u.symbol,
            exchange: 'NSE',
            expiry: upstoxExpiry(date),
            weekly: true,
            instrument_key: optionKey(u.symbol, date, strike, side),
            exchange_token: `${y}${m}${d}${strike}`,
            trading_symbol: `${u.symbol} ${strike} ${side} ${d} ${month} ${y.slice(2)}`,
            tick_size: 5.0,
            lot_size: u.lot,
            instrument_type: side,
            freeze_quantity: 1800.0,
            underlying_key: u.key,
            underlying_type: 'INDEX',
            underlying_symbol: u.symbol,
            strike_price: strike,
            minimum_lot: u.lot,
            qty_multiplier: 1.0,
          });
        }
      }
    }
  }
  return out;
}

export function masterJson(opts: FixtureOptions): string {
  return JSON.stringify(masterRecords(opts));
}

export function masterGzip(opts: FixtureOptions): Buffer {
  return gzipSync(masterJson(opts));
}
