/**
 * Instrument-key syntax, one home: `SEGMENT|identifier`, e.g. `NSE_EQ|INE002A01018` or
 * `NSE_INDEX|Nifty Bank`. Used by configuration, the instrument list, the subscription planner,
 * the codec and the market-hours rule.
 */

const SYNTAX = /^[A-Z][A-Z0-9_]*\|[^|,\s][^|,]*$/;

export function isInstrumentKey(key: string): boolean {
  return SYNTAX.test(key) && key === key.trim();
}

/** The keys that are not instrument keys, in order. */
export function invalidInstrumentKeys(keys: readonly string[]): string[] {
  return keys.filter((k) => !isInstrumentKey(k));
}

/** The key's segment (`NSE_EQ|INE...` → `NSE_EQ`); a key without `|` is its own segment. */
export function segmentOf(key: string): string {
  const bar = key.indexOf('|');
  return bar < 0 ? key : key.slice(0, bar);
}

/** What to tell a user whose key is not one. */
export const INSTRUMENT_KEY_HINT = 'expected SEGMENT|id, e.g. NSE_EQ|INE002A01018';
