/**
 * What the chain machines need from the outside world, as actors the composition root provides:
 * master lookups (resolve the underlying, plan a chain) and the change of the live subscription,
 * applied whole or refused whole within the V3 limits.
 */
import { fromPromise } from 'xstate';
import type { ChainApplied, ChainPlanRequest, ChainSubscriptionChange } from '../../machines/events.js';
import type { FeedMode, SubscriptionLimits } from '../config.js';
import { SubscriptionError, TickpipeError } from '../errors.js';
import { planSubscriptionChange } from '../../machines/rules/subscriptions.js';
import { type ChainPlan, expiries, planChain, selectExpiry } from '../../machines/rules/option-chain.js';
import type { MasterIndex } from './master-index.js';
import { editDistance } from './names.js';

/** The underlying key of a chain's symbol: exactly one underlying with options, or why not. */
function underlyingKeyOf(master: MasterIndex | undefined, symbol: string): string {
  if (!master) throw new TickpipeError('CHAIN_INVALID', `OPTION_CHAINS ${symbol}: the instrument master is not loaded`);
  const found = master.underlyings(symbol);
  if (found.length === 1) return found[0].key;
  if (found.length > 1) {
    throw new TickpipeError('CHAIN_INVALID', `OPTION_CHAINS ${symbol} is ambiguous: options of ${found.map((u) => u.key).join(', ')}`);
  }
  const close = [...master.underlyingSymbols()]
    .map((s) => ({ s, d: editDistance(symbol.toUpperCase(), s, 3) }))
    .filter((x) => x.d <= 3)
    .sort((a, b) => a.d - b.d)
    .slice(0, 3)
    .map((x) => x.s);
  const hint = close.length > 0 ? `; did you mean ${close.join(', ')}?` : '';
  throw new TickpipeError(
    'CHAIN_INVALID',
    `OPTION_CHAINS ${symbol}: no options with this underlying_symbol in the instrument master${hint}`,
  );
}

function planFromMaster(master: MasterIndex | undefined, req: ChainPlanRequest): ChainPlan {
  const u = master?.underlyings(req.spec.underlying).find((x) => x.key === req.underlyingKey);
  if (!u)
    throw new TickpipeError('CHAIN_INVALID', `OPTION_CHAINS ${req.spec.underlying}: ${req.underlyingKey} has no options in the master`);
  let expiry = req.expiry;
  if (expiry === undefined) {
    const picked = selectExpiry(expiries(u.options), req.spec.expiry, req.now);
    if ('error' in picked)
      throw new TickpipeError('CHAIN_INVALID', `OPTION_CHAINS ${req.spec.underlying}:${req.spec.n}:${req.spec.expiry}: ${picked.error}`);
    expiry = picked.expiry;
  }
  const plan = planChain(u, expiry, req.spec.n, req.price);
  if ('error' in plan) throw new TickpipeError('CHAIN_INVALID', plan.error);
  return plan;
}

/** The master-backed actors of the chain machine. */
export function chainMasterActors(master: () => MasterIndex | undefined) {
  return {
    resolveUnderlying: fromPromise<string, { underlying: string }>(async ({ input }) => underlyingKeyOf(master(), input.underlying)),
    planChain: fromPromise<ChainPlan, ChainPlanRequest>(async ({ input }) => planFromMaster(master(), input)),
  };
}

/**
 * Chain changes against the live subscription. A chain removes only keys it added itself: a key
 * that INSTRUMENTS or a user subscribed stays when the chain moves away from it.
 */
export class ChainSubscriptions {
  private readonly owned = new Map<string, Set<string>>();

  constructor(
    private readonly limits: SubscriptionLimits,
    private readonly defaultMode: FeedMode,
  ) {}

  /** The whole subscription after the change, or a SubscriptionError naming every refused key. */
  plan(current: Readonly<Record<string, FeedMode>>, req: ChainSubscriptionChange): Record<string, FeedMode> {
    return this.planned(current, req).subscription;
  }

  private planned(
    current: Readonly<Record<string, FeedMode>>,
    req: ChainSubscriptionChange,
  ): { subscription: Record<string, FeedMode>; removed: string[] } {
    const mine = this.owned.get(req.chain) ?? new Set<string>();
    const othersOwn = (k: string) => [...this.owned].some(([chain, keys]) => chain !== req.chain && keys.has(k));
    const remove = req.remove.filter((k) => mine.has(k) && !othersOwn(k) && k in current);
    const add = req.add.filter((k) => !(k in current));
    const r = planSubscriptionChange(current, { add, remove, mode: req.mode }, this.limits, this.defaultMode);
    if (r.refused.length > 0) {
      const shown = r.refused.slice(0, 3).map((x) => `${x.key} (${x.reason})`);
      throw new SubscriptionError(
        `chain ${req.chain}: change of +${add.length}/-${remove.length} keys refused as a whole, nothing applied: ${shown.join('; ')}${r.refused.length > 3 ? ` and ${r.refused.length - 3} more` : ''}; lower N or remove other keys`,
      );
    }
    return { subscription: r.subscription, removed: remove };
  }

  /** Records what a planned change did, once it is applied. */
  commit(current: Readonly<Record<string, FeedMode>>, req: ChainSubscriptionChange): void {
    const mine = this.owned.get(req.chain) ?? new Set<string>();
    for (const k of req.remove) mine.delete(k);
    for (const k of req.add) if (!(k in current)) mine.add(k);
    this.owned.set(req.chain, mine);
  }

  /** The `applySubscription` actor over a subscription that `get`/`set` read and replace. */
  actor(get: () => Readonly<Record<string, FeedMode>>, set: (next: Record<string, FeedMode>) => void) {
    return fromPromise<ChainApplied, ChainSubscriptionChange>(async ({ input }) => {
      const current = get();
      const { subscription, removed } = this.planned(current, input);
      this.commit(current, input);
      set(subscription);
      return { removed };
    });
  }
}
