/**
 * One option chain (an OPTION_CHAINS entry): keeps the CE and PE of ATM ± N strikes of the chosen
 * expiry subscribed, plus the underlying, as the underlying's price moves and expiries pass.
 *
 *   resolving ─▶ subscribingUnderlying ─▶ active: waitingForUnderlying ─PRICE─▶ planning ─▶ applying ─▶ tracking
 *                                                  tracking ─PRICE outside ±1.5 strikes─▶ planning   (re-centre)
 *                                                  tracking ─after untilRoll (15:30 IST on expiry)─▶ rolling ─▶ applying
 *                                                  applying ─refused (V3 limits)─▶ refused (old chain kept, nothing half-applied)
 *   a fixed YYYY-MM-DD expiry that passes (or has passed at start) ─▶ expired (its options and, if
 *   the chain added it, the underlying released in one change; the chain then stays there)
 *
 * Prices arrive from the `watchPrice` callback actor (sampled by the data plane, at most about
 * once a second, never per tick). Time enters only through events (`at`), so the machine runs
 * the same on XState's SimulatedClock. The master lookups and the subscription change are
 * provided actors; the plan rules themselves are pure (machines/rules/option-chain.ts).
 */
import { assign, fromCallback, fromPromise, setup } from 'xstate';
import type {
  ChainApplied,
  ChainChange,
  ChainEvent,
  ChainExpired,
  ChainPlanRequest,
  ChainSubscriptionChange,
  ChangeKind,
} from './events.js';
import type { FeedMode } from './rules/subscriptions.js';
import { type ChainPlan, type ChainSpec, expiryCutoff, fixedExpiryCutoff, needsRecentre } from './rules/option-chain.js';

export type { ChainApplied, ChainChange, ChainEvent, ChainExpired, ChainPlanRequest, ChainSubscriptionChange };

export interface ChainInput {
  spec: ChainSpec;
  /** Mode of the options (OPTION_CHAIN_MODE). */
  mode: FeedMode;
  /** Mode of the underlying (FEED_MODE). */
  underlyingMode: FeedMode;
}

interface ChainContext extends ChainInput {
  underlyingKey: string | null;
  ltp: number | null;
  /** Time of the latest event that carried it: the machine's notion of now. */
  at: number | null;
  atm: number | null;
  step: number;
  expiry: number | null;
  /** Option keys currently subscribed for this chain (the underlying is kept apart). */
  optionKeys: string[];
  pending: (ChainPlan & { kind: ChangeKind }) | null;
  lastError: { code: string; message: string } | null;
  reason: string;
}

function errorOf(e: unknown, code: string): { code: string; message: string } {
  const err = e as { code?: unknown; message?: unknown };
  return { code: typeof err?.code === 'string' ? err.code : code, message: typeof err?.message === 'string' ? err.message : String(e) };
}

const notProvided = (name: string) => () => {
  throw new Error(`${name} not provided`);
};

export const chainMachine = setup({
  types: {
    context: {} as ChainContext,
    input: {} as ChainInput,
    events: {} as ChainEvent,
  },
  actors: {
    /** The underlying's key for the spec's symbol (unknown or ambiguous: rejects with why). */
    resolveUnderlying: fromPromise<string, { underlying: string }>(async () => notProvided('resolveUnderlying')()),
    planChain: fromPromise<ChainPlan, ChainPlanRequest>(async () => notProvided('planChain')()),
    /** Applies the change as a whole or refuses it as a whole (V3 limits), with the reason. */
    applySubscription: fromPromise<ChainApplied, ChainSubscriptionChange>(async () => notProvided('applySubscription')()),
    watchPrice: fromCallback<ChainEvent, { key: string }>(() => notProvided('watchPrice')()),
  },
  actions: {
    /** Logs a centre, re-centre or roll once at info (provided). */
    logChange: (_, _params: ChainChange) => {},
    /** Logs once at info that a fixed expiry passed and what the chain unsubscribed (provided). */
    logExpired: (_, _params: ChainExpired) => {},
    /** Says something a person must act on (provided). */
    alert: (_, _params: { message: string }) => {},
  },
  guards: {
    outsideBand: ({ context, event }) =>
      event.type === 'PRICE' && context.atm !== null && needsRecentre(context.atm, context.step, event.ltp),
    neverApplied: ({ context }) => context.atm === null,
    /** A fixed YYYY-MM-DD expiry: when it passes there is nothing to roll to. */
    fixedExpiry: ({ context }) => fixedExpiryCutoff(context.spec.expiry) !== null,
    fixedExpiryPassed: ({ context }) => {
      const cutoff = fixedExpiryCutoff(context.spec.expiry);
      return cutoff !== null && context.at !== null && context.at >= cutoff;
    },
  },
  delays: {
    /** Until 15:30 IST on the expiry day, measured from the latest event's time. */
    untilRoll: ({ context }) =>
      context.expiry === null || context.at === null ? 0 : Math.max(0, expiryCutoff(context.expiry) - context.at),
  },
}).createMachine({
  id: 'chain',
  context: ({ input }) => ({
    ...input,
    underlyingKey: null,
    ltp: null,
    at: null,
    atm: null,
    step: 0,
    expiry: null,
    optionKeys: [],
    pending: null,
    lastError: null,
    reason: `resolving ${input.spec.underlying}`,
  }),
  initial: 'resolving',
  on: {
    MASTER_UPDATED: { actions: assign({ at: ({ event }) => event.at }) },
  },
  states: {
    resolving: {
      invoke: {
        src: 'resolveUnderlying',
        input: ({ context }) => ({ underlying: context.spec.underlying }),
        onDone: {
          target: 'subscribingUnderlying',
          actions: assign({ underlyingKey: ({ event }) => event.output, reason: ({ event }) => `subscribing ${event.output}` }),
        },
        onError: {
          target: 'failed',
          actions: [
            assign({ lastError: ({ event }) => errorOf(event.error, 'CHAIN_INVALID'), reason: 'underlying not found' }),
            { type: 'alert', params: ({ event }) => ({ message: errorOf(event.error, 'CHAIN_INVALID').message }) },
          ],
        },
      },
    },
    subscribingUnderlying: {
      invoke: {
        src: 'applySubscription',
        input: ({ context }) => ({
          chain: context.spec.underlying,
          add: [context.underlyingKey!],
          remove: [],
          mode: context.underlyingMode,
        }),
        onDone: { target: 'active', actions: assign({ lastError: null }) },
        onError: {
          target: 'failed',
          actions: [
            assign({ lastError: ({ event }) => errorOf(event.error, 'SUBSCRIPTION_REFUSED'), reason: 'underlying refused' }),
            { type: 'alert', params: ({ event }) => ({ message: errorOf(event.error, 'SUBSCRIPTION_REFUSED').message }) },
          ],
        },
      },
    },
    /** Resolution or the underlying's subscription failed; a new master may fix it. */
    failed: {
      on: { MASTER_UPDATED: { target: 'resolving', actions: assign({ at: ({ event }) => event.at }) } },
    },
    active: {
      invoke: { id: 'price', src: 'watchPrice', input: ({ context }) => ({ key: context.underlyingKey! }) },
      on: {
        PRICE: { actions: assign({ ltp: ({ event }) => event.ltp, at: ({ event }) => event.at }) },
      },
      initial: 'waitingForUnderlying',
      states: {
        waitingForUnderlying: {
          entry: assign({ reason: ({ context }) => `waiting for a price of ${context.underlyingKey}` }),
          on: {
            PRICE: { target: 'planning', actions: assign({ ltp: ({ event }) => event.ltp, at: ({ event }) => event.at }) },
          },
        },
        planning: {
          invoke: {
            src: 'planChain',
            input: ({ context }) => ({
              spec: context.spec,
              underlyingKey: context.underlyingKey!,
              price: context.ltp!,
              now: context.at!,
              // A re-centre keeps the expiry; the first plan and a new master select by the spec.
              ...(context.expiry !== null && context.at! < expiryCutoff(context.expiry) ? { expiry: context.expiry } : {}),
            }),
            onDone: {
              target: 'applying',
              actions: assign({
                pending: ({ context, event }) => ({
                  ...event.output,
                  kind: context.atm === null ? 'centred' : event.output.expiry !== context.expiry ? 'rolled' : 'recentred',
                }),
              }),
            },
            onError: [
              // Started (or re-planned) after its fixed expiry: release the underlying too.
              { guard: 'fixedExpiryPassed', target: '#chain.expired' },
              { target: 'noExpiry', actions: assign({ lastError: ({ event }) => errorOf(event.error, 'CHAIN_INVALID') }) },
            ],
          },
        },
        rolling: {
          entry: assign({ reason: 'rolling to the next expiry' }),
          invoke: {
            src: 'planChain',
            // At the cutoff itself: the expiry just passed no longer counts.
            input: ({ context }) => ({
              spec: context.spec,
              underlyingKey: context.underlyingKey!,
              price: context.ltp ?? context.atm!,
              now: expiryCutoff(context.expiry!),
            }),
            onDone: {
              target: 'applying',
              actions: assign({
                at: ({ context }) => expiryCutoff(context.expiry!),
                pending: ({ event }) => ({ ...event.output, kind: 'rolled' as const }),
              }),
            },
            onError: {
              target: 'noExpiry',
              actions: assign({
                at: ({ context }) => expiryCutoff(context.expiry!),
                lastError: ({ event }) => errorOf(event.error, 'CHAIN_INVALID'),
              }),
            },
          },
        },
        applying: {
          invoke: {
            src: 'applySubscription',
            input: ({ context }) => {
              const next = new Set(context.pending!.optionKeys);
              const old = new Set(context.optionKeys);
              return {
                chain: context.spec.underlying,
                add: context.pending!.optionKeys.filter((k) => !old.has(k)),
                remove: context.optionKeys.filter((k) => !next.has(k)),
                mode: context.mode,
              };
            },
            onDone: {
              target: 'tracking',
              actions: [
                {
                  type: 'logChange',
                  params: ({ context }) => ({
                    chain: context.spec.underlying,
                    kind: context.pending!.kind,
                    ltp: context.ltp,
                    from: context.atm === null ? null : { atm: context.atm, expiry: context.expiry! },
                    to: { atm: context.pending!.atm, expiry: context.pending!.expiry },
                  }),
                },
                assign(({ context }) => ({
                  atm: context.pending!.atm,
                  step: context.pending!.step,
                  expiry: context.pending!.expiry,
                  optionKeys: context.pending!.optionKeys,
                  pending: null,
                  lastError: null,
                })),
              ],
            },
            onError: {
              target: 'refused',
              actions: [
                assign({ lastError: ({ event }) => errorOf(event.error, 'SUBSCRIPTION_REFUSED'), pending: null }),
                { type: 'alert', params: ({ event }) => ({ message: errorOf(event.error, 'SUBSCRIPTION_REFUSED').message }) },
              ],
            },
          },
        },
        tracking: {
          entry: assign({ reason: ({ context }) => `tracking ${context.optionKeys.length} options around ${context.atm}` }),
          on: {
            PRICE: [
              { guard: 'outsideBand', target: 'planning', actions: assign({ ltp: ({ event }) => event.ltp, at: ({ event }) => event.at }) },
              { actions: assign({ ltp: ({ event }) => event.ltp, at: ({ event }) => event.at }) },
            ],
            MASTER_UPDATED: { target: 'planning', actions: assign({ at: ({ event }) => event.at }) },
          },
          after: { untilRoll: [{ guard: 'fixedExpiry', target: '#chain.expired' }, { target: 'rolling' }] },
        },
        /** The change would pass the V3 limits: refused whole; the previous chain (if any) stays. */
        refused: {
          entry: assign({ reason: 'chain refused by the subscription limits' }),
          on: {
            PRICE: [
              // Still tracking an older chain: a later move tries again (a user may have freed room).
              { guard: 'outsideBand', target: 'planning', actions: assign({ ltp: ({ event }) => event.ltp, at: ({ event }) => event.at }) },
              { actions: assign({ ltp: ({ event }) => event.ltp, at: ({ event }) => event.at }) },
            ],
            MASTER_UPDATED: { target: 'planning', actions: assign({ at: ({ event }) => event.at }) },
          },
        },
        /** No expiry matches the spec (a date the master does not list, or it lists none yet). */
        noExpiry: {
          entry: assign({ reason: ({ context }) => context.lastError?.message ?? 'no expiry' }),
          on: { MASTER_UPDATED: { target: 'planning', actions: assign({ at: ({ event }) => event.at }) } },
        },
      },
    },
    /**
     * The fixed expiry has passed: nothing will ever match the spec again, so the chain gives back
     * what it added, in one change like a re-centre (ChainSubscriptions removes only keys this
     * chain added: an underlying INSTRUMENTS also lists stays). Outside `active`, so the price
     * watch stops. A refused release (not expected: it only removes) is shown and alerted.
     */
    expired: {
      entry: assign(({ context }) => ({
        at: fixedExpiryCutoff(context.spec.expiry),
        reason: `the ${context.spec.expiry} expiry has passed; releasing its options`,
      })),
      invoke: {
        src: 'applySubscription',
        input: ({ context }) => ({
          chain: context.spec.underlying,
          add: [],
          remove: [...context.optionKeys, ...(context.underlyingKey ? [context.underlyingKey] : [])],
          mode: context.mode,
        }),
        onDone: {
          actions: [
            {
              type: 'logExpired',
              params: ({ context, event }) => ({
                chain: context.spec.underlying,
                expiry: context.spec.expiry,
                removed: event.output.removed,
              }),
            },
            assign(({ context, event }) => ({
              optionKeys: [],
              lastError: null,
              reason: `the ${context.spec.expiry} expiry has passed; ${event.output.removed.length} keys unsubscribed`,
            })),
          ],
        },
        onError: {
          actions: [
            assign({ lastError: ({ event }) => errorOf(event.error, 'SUBSCRIPTION_REFUSED') }),
            { type: 'alert', params: ({ event }) => ({ message: errorOf(event.error, 'SUBSCRIPTION_REFUSED').message }) },
          ],
        },
      },
    },
  },
});
