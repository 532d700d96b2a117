/**
 * The option-chain rules, pure: which expiry a spec means at a given instant, which strike is at
 * the money, which keys a chain of ATM ± N strikes needs, when a price move is large enough to
 * re-centre (hysteresis), and when an expiry has passed. The chains actor applies them.
 */

type OptionSide = 'CE' | 'PE';

/** One option of the instrument master, as the chain rules need it. */
export interface OptionRow {
  key: string;
  side: OptionSide;
  /** Expiry as Upstox gives it (ms since the epoch). */
  expiry: number;
  strike: number;
}

/** The options of one underlying (for example all NIFTY CE/PE in NSE_FO). */
export interface Underlying {
  symbol: string;
  key: string;
  options: readonly OptionRow[];
}

/** `next` (nearest not expired), `next2` (the one after), `monthly` (last of its month), or a date `YYYY-MM-DD`. */
export type ExpirySpec = 'next' | 'next2' | 'monthly' | `${number}-${number}-${number}`;

export interface ChainSpec {
  /** Underlying symbol as written in OPTION_CHAINS (NIFTY, BANKNIFTY). */
  underlying: string;
  /** Strikes on each side of the ATM strike. */
  n: number;
  expiry: ExpirySpec;
}

/** Re-centre when the price is more than this many strikes from the centre. */
export const RECENTRE_STRIKES = 1.5;

const IST_OFFSET_MS = 5.5 * 3600 * 1000;
const DAY_MS = 86_400_000;
/** Trading ends 15:30 IST; an option has expired from then on, on its expiry day. */
const CLOSE_IST_MS = (15 * 60 + 30) * 60_000;

/** The IST calendar date (YYYY-MM-DD) of an instant. */
export function istDate(ms: number): string {
  return new Date(ms + IST_OFFSET_MS).toISOString().slice(0, 10);
}

/** 15:30 IST on the expiry's IST date: the instant from which it counts as expired. */
export function expiryCutoff(expiryMs: number): number {
  const day = Math.floor((expiryMs + IST_OFFSET_MS) / DAY_MS);
  return day * DAY_MS - IST_OFFSET_MS + CLOSE_IST_MS;
}

/** For a fixed `YYYY-MM-DD` spec, the instant it expires (15:30 IST that day); null for next/next2/monthly. */
export function fixedExpiryCutoff(spec: ExpirySpec): number | null {
  return /^\d{4}-\d{2}-\d{2}$/.test(spec) ? expiryCutoff(Date.parse(`${spec}T00:00:00+05:30`)) : null;
}

/** Distinct expiries of the options, earliest first. */
export function expiries(options: readonly OptionRow[]): number[] {
  return [...new Set(options.map((o) => o.expiry))].sort((a, b) => a - b);
}

/** The expiry a spec means at `now`, or a reason there is none. */
export function selectExpiry(all: readonly number[], spec: ExpirySpec, now: number): { expiry: number } | { error: string } {
  const live = all.filter((e) => expiryCutoff(e) > now);
  if (spec === 'next' || spec === 'next2') {
    const e = live[spec === 'next' ? 0 : 1];
    return e !== undefined
      ? { expiry: e }
      : { error: `no ${spec === 'next' ? '' : 'second '}expiry after ${istDate(now)} in the instrument master` };
  }
  if (spec === 'monthly') {
    // The last expiry of a month is the one no later expiry shares its month with.
    const monthly = live.find((e) => !all.some((o) => o > e && istDate(o).slice(0, 7) === istDate(e).slice(0, 7)));
    return monthly !== undefined ? { expiry: monthly } : { error: `no monthly expiry after ${istDate(now)} in the instrument master` };
  }
  const match = all.find((e) => istDate(e) === spec);
  if (match === undefined) return { error: `no expiry on ${spec}; the master lists ${all.slice(0, 6).map(istDate).join(', ')}` };
  if (expiryCutoff(match) <= now) return { error: `the ${spec} expiry has passed` };
  return { expiry: match };
}

/** Distinct strikes of one expiry, ascending. */
function strikesOf(options: readonly OptionRow[], expiry: number): number[] {
  return [...new Set(options.filter((o) => o.expiry === expiry).map((o) => o.strike))].sort((a, b) => a - b);
}

/** Index of the strike nearest `price` (the lower one on a tie). */
export function atmIndex(strikes: readonly number[], price: number): number {
  let best = 0;
  for (let i = 1; i < strikes.length; i++) if (Math.abs(strikes[i] - price) < Math.abs(strikes[best] - price)) best = i;
  return best;
}

/** The strike spacing around index i (NIFTY's spacing widens away from the money). */
function localStep(strikes: readonly number[], i: number): number {
  const lo = strikes[Math.max(0, i - 1)];
  const hi = strikes[Math.min(strikes.length - 1, i + 1)];
  const span = Math.min(strikes.length - 1, i + 1) - Math.max(0, i - 1);
  return span > 0 ? (hi - lo) / span : 0;
}

export interface ChainPlan {
  underlyingKey: string;
  expiry: number;
  /** The ATM strike the chain is centred on. */
  atm: number;
  /** Strike spacing at the centre (for the hysteresis band). */
  step: number;
  /** CE and PE keys of the strikes ATM-N..ATM+N (fewer at the edge of the listed strikes). */
  optionKeys: string[];
  strikes: number[];
}

/** The chain around `price` for one expiry of an underlying. */
export function planChain(u: Underlying, expiry: number, n: number, price: number): ChainPlan | { error: string } {
  const strikes = strikesOf(u.options, expiry);
  if (strikes.length === 0) return { error: `${u.symbol} has no options for ${istDate(expiry)}` };
  const i = atmIndex(strikes, price);
  const window = strikes.slice(Math.max(0, i - n), i + n + 1);
  const wanted = new Set(window);
  const optionKeys = u.options
    .filter((o) => o.expiry === expiry && wanted.has(o.strike))
    .sort((a, b) => a.strike - b.strike || a.side.localeCompare(b.side))
    .map((o) => o.key);
  return { underlyingKey: u.key, expiry, atm: strikes[i], step: localStep(strikes, i), optionKeys, strikes: window };
}

/** True when `price` has left the band of ±1.5 strikes around the centre. */
export function needsRecentre(centre: number, step: number, price: number): boolean {
  return step > 0 && Math.abs(price - centre) > RECENTRE_STRIKES * step;
}

/** Parses `UNDERLYING:N[:EXPIRY]` entries; problems are phrased for the configuration error. */
export function parseChainSpecs(raw: string, maxN = 100): { specs: ChainSpec[]; problems: string[] } {
  const specs: ChainSpec[] = [];
  const problems: string[] = [];
  for (const entry of raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [underlying, nText, expiry = 'next', ...rest] = entry.split(':').map((s) => s.trim());
    const n = Number(nText);
    const okExpiry = ['next', 'next2', 'monthly'].includes(expiry.toLowerCase()) || /^\d{4}-\d{2}-\d{2}$/.test(expiry);
    if (
      !underlying ||
      !/^[A-Za-z0-9&_-]+$/.test(underlying) ||
      rest.length > 0 ||
      !/^\d+$/.test(nText ?? '') ||
      n < 0 ||
      n > maxN ||
      !okExpiry
    ) {
      problems.push(
        `OPTION_CHAINS entry ${JSON.stringify(entry)} is not UNDERLYING:N or UNDERLYING:N:EXPIRY (N 0-${maxN}; EXPIRY next, next2, monthly or YYYY-MM-DD), e.g. NIFTY:10 or BANKNIFTY:5:next2`,
      );
      continue;
    }
    if (specs.some((s) => s.underlying === underlying.toUpperCase())) {
      problems.push(`OPTION_CHAINS lists ${underlying.toUpperCase()} twice; keep one entry per underlying`);
      continue;
    }
    specs.push({ underlying: underlying.toUpperCase(), n, expiry: expiry.toLowerCase() as ExpirySpec });
  }
  return { specs, problems };
}
