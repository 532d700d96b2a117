/**
 * The in-memory index of the instrument master: only the fields the service uses, for lookups by
 * key (symbol tags), by `SEGMENT:TRADING_SYMBOL` name (INSTRUMENTS, subscriptions) and by
 * underlying (option chains). Built once per file; immutable afterwards, so a refresh swaps the
 * whole index and readers never see a half-built one.
 */
import type { OptionRow, Underlying } from '../../machines/rules/option-chain.js';

export type { OptionRow, Underlying } from '../../machines/rules/option-chain.js';

/** What the service keeps of one instrument (the file has ~20 fields; these are the useful ones). */
export interface Instrument {
  key: string;
  symbol: string;
  segment: string;
  type: string;
  underlyingKey?: string;
  underlyingSymbol?: string;
  /** Expiry as Upstox gives it (ms since the epoch). */
  expiry?: number;
  strike?: number;
  lotSize?: number;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}
function num(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v !== '' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : undefined;
}

/** One parsed object of the file → the fields we keep; null when it lacks a key or a symbol. */
export function pickInstrument(o: Record<string, unknown>): Instrument | null {
  const key = str(o.instrument_key);
  const symbol = str(o.trading_symbol);
  if (!key || !symbol) return null;
  const inst: Instrument = {
    key,
    symbol,
    segment: str(o.segment) ?? key.slice(0, Math.max(0, key.indexOf('|'))),
    type: str(o.instrument_type) ?? '',
  };
  const underlyingKey = str(o.underlying_key);
  const underlyingSymbol = str(o.underlying_symbol);
  const expiry = num(o.expiry);
  const strike = num(o.strike_price);
  const lotSize = num(o.lot_size);
  if (underlyingKey) inst.underlyingKey = underlyingKey;
  if (underlyingSymbol) inst.underlyingSymbol = underlyingSymbol;
  if (expiry !== undefined) inst.expiry = expiry;
  if (strike !== undefined) inst.strike = strike;
  if (lotSize !== undefined) inst.lotSize = lotSize;
  return inst;
}

/** The lookup name of an instrument: `SEGMENT:TRADING_SYMBOL`, upper-cased (names match case-insensitively). */
function nameOf(segment: string, symbol: string): string {
  return `${segment}:${symbol}`.toUpperCase();
}

export class MasterIndex {
  private readonly byKey = new Map<string, Instrument>();
  /** Upper-cased name → keys (more than one: the name is ambiguous). */
  private readonly byName = new Map<string, string[]>();
  /** Upper-cased underlying symbol → underlying key → its options. */
  private readonly optionsByUnderlying = new Map<string, Map<string, OptionRow[]>>();

  add(inst: Instrument): void {
    if (this.byKey.has(inst.key)) return;
    this.byKey.set(inst.key, inst);
    const name = nameOf(inst.segment, inst.symbol);
    const keys = this.byName.get(name);
    if (keys) keys.push(inst.key);
    else this.byName.set(name, [inst.key]);
    if ((inst.type === 'CE' || inst.type === 'PE') && inst.underlyingSymbol && inst.underlyingKey) {
      if (inst.expiry === undefined || inst.strike === undefined) return;
      const u = inst.underlyingSymbol.toUpperCase();
      let byKey = this.optionsByUnderlying.get(u);
      if (!byKey) this.optionsByUnderlying.set(u, (byKey = new Map<string, OptionRow[]>()));
      let rows = byKey.get(inst.underlyingKey);
      if (!rows) byKey.set(inst.underlyingKey, (rows = []));
      rows.push({ key: inst.key, side: inst.type, expiry: inst.expiry, strike: inst.strike });
    }
  }

  get size(): number {
    return this.byKey.size;
  }

  get(key: string): Instrument | undefined {
    return this.byKey.get(key);
  }

  /** The trading symbol of a key, for the `symbol` tag; undefined when the master does not know it. */
  symbolOf(key: string): string | undefined {
    return this.byKey.get(key)?.symbol;
  }

  keysNamed(name: string): readonly string[] {
    return this.byName.get(name.toUpperCase()) ?? [];
  }

  names(): IterableIterator<string> {
    return this.byName.keys();
  }

  /** Every underlying key with options under this symbol (more than one: ambiguous, e.g. two exchanges). */
  underlyings(symbol: string): Underlying[] {
    const byKey = this.optionsByUnderlying.get(symbol.toUpperCase());
    if (!byKey) return [];
    return [...byKey].map(([key, options]) => ({ symbol: symbol.toUpperCase(), key, options }));
  }

  underlyingSymbols(): IterableIterator<string> {
    return this.optionsByUnderlying.keys();
  }
}
