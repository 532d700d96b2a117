/**
 * Instrument names: `SEGMENT:TRADING_SYMBOL` (`NSE_EQ:RELIANCE`, `NSE_INDEX:NIFTY`) resolved
 * case-insensitively against the master, with close-match suggestions for a name that is unknown
 * or ambiguous. Keys (`SEGMENT|id`) pass through untouched.
 */
import type { MasterIndex } from './master-index.js';

/** A name, as opposed to a key: `SEGMENT:SYMBOL`, segment letters, digits and `_`, no `|`. */
export function isInstrumentName(s: string): boolean {
  return /^[A-Za-z][A-Za-z0-9_]*:[^|,]*\S$/.test(s) && !s.includes('|');
}

export type Resolution = { ok: true; key: string } | { ok: false; reason: string };

/** Levenshtein distance, giving up (returning max + 1) once it must exceed `max`: cheap over 100,000 names. */
export function editDistance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let prev = new Array<number>(b.length + 1);
  let cur = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a.charCodeAt(i - 1) === b.charCodeAt(j - 1) ? 0 : 1;
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
      if (cur[j] < rowMin) rowMin = cur[j];
    }
    if (rowMin > max) return max + 1;
    [prev, cur] = [cur, prev];
  }
  return prev[b.length] <= max ? prev[b.length] : max + 1;
}

/** Up to `limit` names of the master closest to `name` (same segment first), nearest first. */
export function closeMatches(master: MasterIndex, name: string, limit = 3): string[] {
  const wanted = name.toUpperCase();
  const max = Math.max(2, Math.floor(wanted.length / 4));
  const found: Array<{ name: string; d: number }> = [];
  const segment = wanted.slice(0, wanted.indexOf(':') + 1);
  for (const candidate of master.names()) {
    const d = editDistance(wanted, candidate, max) + (candidate.startsWith(segment) ? 0 : 0.5);
    if (d <= max) found.push({ name: candidate, d });
  }
  found.sort((x, y) => x.d - y.d || x.name.localeCompare(y.name));
  return found.slice(0, limit).map((f) => f.name);
}

/** Resolves one entry (a key or a name) to a key, or says why not in words a user can act on. */
export function resolveInstrument(master: MasterIndex | undefined, entry: string): Resolution {
  if (!isInstrumentName(entry)) return { ok: true, key: entry };
  if (!master) return { ok: false, reason: `${entry} is a name, but the instrument master is not loaded; use its key (SEGMENT|id)` };
  const keys = master.keysNamed(entry);
  if (keys.length === 1) return { ok: true, key: keys[0] };
  if (keys.length > 1) {
    return { ok: false, reason: `${entry} is ambiguous: it names ${keys.slice(0, 5).join(', ')}; use one of these keys instead` };
  }
  const close = closeMatches(master, entry);
  const hint = close.length > 0 ? `; did you mean ${close.join(', ')}?` : '; names are SEGMENT:TRADING_SYMBOL, e.g. NSE_EQ:RELIANCE';
  return { ok: false, reason: `${entry} is not in the instrument master${hint}` };
}

/** Resolves a list; `keys` keeps the order (duplicates removed), `problems` one line per bad entry. */
export function resolveAll(master: MasterIndex | undefined, entries: readonly string[]): { keys: string[]; problems: string[] } {
  const keys = new Set<string>();
  const problems: string[] = [];
  for (const e of entries) {
    const r = resolveInstrument(master, e);
    if (r.ok) keys.add(r.key);
    else problems.push(r.reason);
  }
  return { keys: [...keys], problems };
}
