/**
 * The `chains` actor: the instrument master's daily life and the option chains that depend on it.
 *
 *   loadingMaster ─▶ ready ─after refreshDelay (MASTER_REFRESH_IST)─▶ refreshingMaster ─▶ ready
 *         └────(no copy at all)─▶ masterUnavailable ─after retryDelay─▶ refreshingMaster
 *
 * On the first master it spawns one `chain` actor per OPTION_CHAINS entry (systemId
 * `chain:NIFTY`...), and tells them MASTER_UPDATED after every successful refresh (new expiries
 * appear each week). A failed refresh keeps the copy in use: `master.lastError` says why and
 * `master.state` is `stale` (shown in /state and /ready).
 */
import { assign, enqueueActions, fromPromise, setup } from 'xstate';
import type { ChainSpec } from './rules/option-chain.js';
import { type ChainInput, chainMachine } from './chain.js';

export interface ChainsInput {
  chains: ReadonlyArray<Omit<ChainInput, 'spec'> & { spec: ChainSpec }>;
  /** Until a copy exists, a download is tried again this often. */
  retryMs: number;
}

/** What the master actors resolve with: the master's status and the instant it was taken. */
export interface MasterReport {
  /** `fresh`: today's copy; `stale`: an older copy (a download failed); `unavailable`: none. */
  state: 'loading' | 'fresh' | 'stale' | 'unavailable';
  /** When the copy in use was downloaded (ms), null without one. */
  fetchedAt: number | null;
  instruments: number;
  /** Why the last download failed (kept until one succeeds). */
  lastError: { code: string; message: string } | null;
  at: number;
}

interface ChainsContext extends ChainsInput {
  master: MasterReport | null;
  spawned: boolean;
  reason: string;
}

function unexpected(error: unknown): MasterReport {
  const message = error instanceof Error ? error.message : String(error);
  return { state: 'unavailable', fetchedAt: null, instruments: 0, lastError: { code: 'UNEXPECTED', message }, at: 0 };
}

const chainIdOf = (spec: ChainSpec): string => `chain:${spec.underlying}`;

export const chainsMachine = setup({
  types: {
    context: {} as ChainsContext,
    input: {} as ChainsInput,
    events: {} as { type: 'REFRESH_MASTER' },
  },
  actors: {
    /** The copy loaded at start (cache or download); never rejects: the report says what happened. */
    loadMaster: fromPromise<MasterReport>(async () => {
      throw new Error('loadMaster not provided');
    }),
    /** A fresh download; never rejects: a failure is in `lastError`, and the old copy stays. */
    refreshMaster: fromPromise<MasterReport>(async () => {
      throw new Error('refreshMaster not provided');
    }),
    chain: chainMachine,
  },
  actions: {
    alert: (_, _params: { message: string }) => {},
  },
  guards: {
    hasCopy: ({ event }) => (event as { output?: MasterReport }).output?.state !== 'unavailable',
  },
  delays: {
    /** Until the next MASTER_REFRESH_IST (provided: it needs the clock). */
    refreshDelay: () => 24 * 3600_000,
    retryDelay: ({ context }) => context.retryMs,
  },
}).createMachine({
  id: 'chains',
  context: ({ input }) => ({ ...input, master: null, spawned: false, reason: 'loading the instrument master' }),
  initial: 'loadingMaster',
  states: {
    loadingMaster: {
      invoke: {
        src: 'loadMaster',
        onDone: [
          { guard: 'hasCopy', target: 'ready', actions: assign({ master: ({ event }) => event.output }) },
          { target: 'masterUnavailable', actions: assign({ master: ({ event }) => event.output }) },
        ],
        // The provided loader reports failures in its output; a throw is a bug, shown the same way.
        onError: { target: 'masterUnavailable', actions: assign({ master: ({ event }) => unexpected(event.error) }) },
      },
    },
    ready: {
      entry: [
        assign({ reason: ({ context }) => `master of ${context.master?.instruments ?? 0} instruments (${context.master?.state})` }),
        enqueueActions(({ context, enqueue }) => {
          if (context.spawned) return;
          for (const c of context.chains) enqueue.spawnChild('chain', { id: chainIdOf(c.spec), systemId: chainIdOf(c.spec), input: c });
          enqueue.assign({ spawned: true });
        }),
      ],
      after: { refreshDelay: 'refreshingMaster' },
      on: { REFRESH_MASTER: 'refreshingMaster' },
    },
    refreshingMaster: {
      entry: assign({ reason: 'downloading the instrument master' }),
      invoke: {
        src: 'refreshMaster',
        onDone: [
          {
            guard: ({ event }) => event.output.lastError === null,
            target: 'ready',
            actions: [
              assign({ master: ({ event }) => event.output }),
              enqueueActions(({ context, event, enqueue }) => {
                // Before the first copy there are no chain actors yet; `ready` spawns them.
                if (!context.spawned) return;
                for (const c of context.chains) enqueue.sendTo(chainIdOf(c.spec), { type: 'MASTER_UPDATED', at: event.output.at });
              }),
            ],
          },
          // Failed: keep the copy in use (if any) and say so; the next scheduled refresh tries again.
          {
            guard: 'hasCopy',
            target: 'ready',
            actions: [
              assign({ master: ({ event }) => event.output }),
              {
                type: 'alert',
                params: ({ event }) => ({
                  message: `instrument master refresh failed, keeping the cached copy: ${event.output.lastError?.message}`,
                }),
              },
            ],
          },
          { target: 'masterUnavailable', actions: assign({ master: ({ event }) => event.output }) },
        ],
        onError: { target: 'masterUnavailable', actions: assign({ master: ({ event }) => unexpected(event.error) }) },
      },
    },
    /** No copy at all: names cannot be resolved and chains cannot start until a download works. */
    masterUnavailable: {
      entry: [
        assign({ reason: ({ context }) => `no instrument master: ${context.master?.lastError?.message ?? 'not downloaded'}` }),
        {
          type: 'alert',
          params: ({ context }) => ({ message: `no instrument master: ${context.master?.lastError?.message ?? 'not downloaded'}` }),
        },
      ],
      after: { retryDelay: 'refreshingMaster' },
      on: { REFRESH_MASTER: 'refreshingMaster' },
    },
  },
});
