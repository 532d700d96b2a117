/**
 * The subscription planner: applies a change request to the current subscription within the V3
 * limits, deciding per key. Pure, so the API answers exactly what the connection will send. The
 * shapes of a change are shared by the connection actor (which owns the live subscription), this
 * planner and `POST /subscriptions`.
 *
 * Limits (README, `SUB_LIMIT_*` in Configuration): when every key is in one mode, that mode's
 * `alone` limit applies; when modes are mixed, each mode's `combined` limit applies to its own
 * keys.
 */
import { INSTRUMENT_KEY_HINT, invalidInstrumentKeys } from './instrument-key.js';

export const FEED_MODES = ['ltpc', 'full', 'option_greeks', 'full_d30'] as const;
export type FeedMode = (typeof FEED_MODES)[number];

/** V3 subscription limits per mode: `alone` when every key is in one mode, `combined` otherwise. */
export interface ModeLimit {
  alone: number;
  combined: number;
}
export type SubscriptionLimits = Record<FeedMode, ModeLimit>;

/** Instrument key → the mode it is subscribed in. */
export type Subscription = Record<string, FeedMode>;

export interface SubscriptionChangeRequest {
  add?: string[];
  remove?: string[];
  /** Mode for the added keys; when given without `add`, every current key moves to it. */
  mode?: FeedMode;
}

export interface RefusedKey {
  key: string;
  /** Why, in words a user can act on (e.g. "over the full-mode limit of 2000 keys"). */
  reason: string;
}

export interface SubscriptionChangeResult {
  /** The whole subscription after the change: key → mode. */
  subscription: Subscription;
  accepted: string[];
  removed: string[];
  refused: RefusedKey[];
}

/** One request the socket sends to move between subscriptions. */
export interface SubscriptionRequest {
  method: 'sub' | 'unsub' | 'change_mode';
  mode?: FeedMode;
  keys: string[];
}

type Counts = Record<FeedMode, number>;

function countModes(sub: Record<string, FeedMode>): Counts {
  const c: Counts = { ltpc: 0, full: 0, option_greeks: 0, full_d30: 0 };
  for (const k in sub) c[sub[k]]++;
  return c;
}

/** The limit the key in `mode` breaks, described; null when the counts are within limits. */
function overLimit(c: Counts, limits: SubscriptionLimits, mode: FeedMode): string | null {
  const modesInUse = (Object.keys(c) as FeedMode[]).filter((m) => c[m] > 0).length;
  const limit = modesInUse > 1 ? limits[mode].combined : limits[mode].alone;
  if (c[mode] <= limit) return null;
  return modesInUse > 1 ? `over the ${mode} limit of ${limit} keys when modes are combined` : `over the ${mode} limit of ${limit} keys`;
}

function withinAll(c: Counts, limits: SubscriptionLimits): boolean {
  return (Object.keys(c) as FeedMode[]).every((m) => c[m] === 0 || overLimit(c, limits, m) === null);
}

export function planSubscriptionChange(
  current: Readonly<Record<string, FeedMode>>,
  req: SubscriptionChangeRequest,
  limits: SubscriptionLimits,
  defaultMode: FeedMode,
): SubscriptionChangeResult {
  const sub: Record<string, FeedMode> = { ...current };
  const accepted: string[] = [];
  const removed: string[] = [];
  const refused: RefusedKey[] = [];
  for (const key of new Set(req.remove ?? [])) {
    if (key in sub) {
      delete sub[key];
      removed.push(key);
    } else {
      refused.push({ key, reason: 'not subscribed, nothing to remove' });
    }
  }
  const counts = countModes(sub);
  /** Moves `key` to `mode` if the limits allow; says why not otherwise. */
  const tryPut = (key: string, mode: FeedMode): string | null => {
    const old = sub[key];
    if (old === mode) return null;
    if (old) counts[old]--;
    counts[mode]++;
    const problem =
      overLimit(counts, limits, mode) ?? (withinAll(counts, limits) ? null : 'would push another mode over its combined limit');
    if (problem) {
      counts[mode]--;
      if (old) counts[old]++;
      return problem;
    }
    sub[key] = mode;
    return null;
  };
  const mode = req.mode ?? defaultMode;
  if (req.mode && !req.add) {
    for (const key of Object.keys(sub)) {
      const problem = tryPut(key, req.mode);
      if (problem) refused.push({ key, reason: `stays in ${sub[key]}: ${problem}` });
      else accepted.push(key);
    }
  }
  const adds = [...new Set(req.add ?? [])];
  const invalid = new Set(invalidInstrumentKeys(adds));
  for (const key of adds) {
    if (invalid.has(key)) {
      refused.push({ key, reason: `not an instrument key: ${INSTRUMENT_KEY_HINT}` });
      continue;
    }
    const problem = tryPut(key, mode);
    if (problem) refused.push({ key, reason: problem });
    else accepted.push(key);
  }
  return { subscription: sub, accepted, removed, refused };
}

/** Requests the socket must send to go from `from` to `to`: unsub, sub by mode, change_mode by mode. */
export function subscriptionDiff(from: Readonly<Record<string, FeedMode>>, to: Readonly<Record<string, FeedMode>>): SubscriptionRequest[] {
  const unsub = Object.keys(from).filter((k) => !(k in to));
  const sub = new Map<FeedMode, string[]>();
  const change = new Map<FeedMode, string[]>();
  for (const [k, m] of Object.entries(to)) {
    const target = !(k in from) ? sub : from[k] !== m ? change : null;
    if (!target) continue;
    const list = target.get(m) ?? [];
    list.push(k);
    target.set(m, list);
  }
  const out: SubscriptionRequest[] = [];
  if (unsub.length) out.push({ method: 'unsub', keys: unsub });
  for (const [m, keys] of sub) out.push({ method: 'sub', mode: m, keys });
  for (const [m, keys] of change) out.push({ method: 'change_mode', mode: m, keys });
  return out;
}
