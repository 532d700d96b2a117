/**
 * Option premiums that follow their underlying: the Bachelier (normal) model, which is enough
 * for a simulator and needs no log of a possibly tiny price. An option whose spec is known (the
 * instrument file's weekly chains) is re-priced from its underlying's level at each of its
 * trades, so moving the index with setPrice moves the whole chain consistently.
 */

export interface OptionSpec {
  underlying: string;
  strike: number;
  type: 'CE' | 'PE';
  /** Expiry instant, epoch ms (15:30 IST on expiry day). */
  expiry: number;
}

const YEAR_MS = 365 * 86_400_000;
/** Annualised volatility as a fraction of the underlying's level (index-like). */
export const DEFAULT_VOL = 0.14;

/** Standard normal CDF (Abramowitz–Stegun 26.2.17, error < 7.5e-8). */
export function normCdf(x: number): number {
  const t = 1 / (1 + 0.2316419 * Math.abs(x));
  const d = 0.3989422804014327 * Math.exp((-x * x) / 2);
  const p = d * t * (0.31938153 + t * (-0.356563782 + t * (1.781477937 + t * (-1.821255978 + t * 1.330274429))));
  return x >= 0 ? 1 - p : p;
}

/** Fair premium of `spec` with the underlying at `level`, at time `now`; never below 0.05. */
export function fairPremium(spec: OptionSpec, level: number, now: number, vol = DEFAULT_VOL): number {
  // A minute of time value at least, so an option at expiry is worth its intrinsic value, not less.
  const years = Math.max(spec.expiry - now, 60_000) / YEAR_MS;
  const sd = level * vol * Math.sqrt(years);
  const diff = spec.type === 'CE' ? level - spec.strike : spec.strike - level;
  const d = diff / sd;
  const premium = diff * normCdf(d) + sd * 0.3989422804014327 * Math.exp((-d * d) / 2);
  return Math.max(0.05, premium);
}
