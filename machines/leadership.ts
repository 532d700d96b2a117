/**
 * Leadership (HA_GROUP): which instance of a group ingests. The lease is a key with a TTL in a
 * NATS key-value bucket (src/nats/lease.ts), written only by compare-and-set; this machine
 * decides when to take it, renew it and give it up. Only the leader's root starts the
 * connection actor (LEAD → START_FEED, STEP_DOWN → STOP_FEED in machines/pipeline.ts).
 *
 *   electing ──acquired──▶ leader ──renew failed until the fence deadline──▶ fenced ─▶ standby
 *      ▲  └──held elsewhere / NATS away──▶ standby                                    │
 *      └────── poll (lease expired?) or LEASE_RELEASED (the leader stepped down) ─────┘
 *   STOP (graceful shutdown) from anywhere ─▶ stopping (flush, delete the lease) ─▶ stopped
 *
 * No overlap: a lease written at time t (as sent) can only expire elsewhere at t + TTL or later.
 * The leader counts its term from the send time of its last successful write and fences itself
 * `fenceMarginMs` before that: it stops ingesting (STEP_DOWN) while the lease is still its own,
 * so a standby can never start while the old leader still ingests, whatever the network does.
 */
import { assign, fromCallback, fromPromise, setup } from 'xstate';
import type { HandoverFoundEvent, LeadEvent, LeaderMark, LeadershipEvent, StepDownEvent } from './events.js';

/** A successful acquire or renew: the lease's new revision and how long the write took. */
export interface LeaseWrite {
  acquired: true;
  revision: number;
  elapsedMs: number;
  /** On acquire: how the lease had become free (deleted by its leader, or expired by TTL). */
  freedBy?: 'release' | 'expiry';
}
export type LeaseAcquire = LeaseWrite | { acquired: false; holder: string | null; mark?: LeaderMark | null };

export interface LeaseTiming {
  ttlMs: number;
  /** A leader renews this often. */
  renewEveryMs: number;
  /** After a failed renew, the next try comes this soon. */
  retryMs: number;
  /** A leader stops ingesting this long before its lease could expire elsewhere. */
  fenceMarginMs: number;
  /** A standby tries to take the lease this often (expiry by TTL sends no event). */
  pollMs: number;
  /** Timeout of one lease request (src/nats/lease.ts). */
  requestTimeoutMs: number;
}

/**
 * Every interval from the TTL. A quarter TTL between renewals gives a leader three tries before
 * its fence deadline at three quarters; the quarter TTL of margin absorbs an event loop stalled
 * that long. With the default TTL of 10 s a SIGKILLed leader's lease is free at most 10 s after
 * the kill and a standby polling every second streams again within about 11 s (the contract
 * asks for 15 s).
 */
export function leaseTiming(ttlMs: number): LeaseTiming {
  return {
    ttlMs,
    renewEveryMs: Math.floor(ttlMs / 4),
    retryMs: Math.max(50, Math.floor(ttlMs / 10)),
    fenceMarginMs: Math.floor(ttlMs / 4),
    pollMs: Math.max(100, Math.min(1000, Math.floor(ttlMs / 10))),
    requestTimeoutMs: Math.max(100, Math.floor(ttlMs / 5)),
  };
}

export interface LeadershipInput {
  timing: LeaseTiming;
  /** This instance's name in the lease. */
  instance: string;
  group: string;
  /** The clock for `leaderSince` (injected like the other machines' `now`). */
  now: () => number;
}

export type { LeaderMark, LeadershipEvent };

interface LeadershipContext extends LeadershipInput {
  /** Revision of the lease this instance last wrote; null when it holds none. */
  revision: number | null;
  /** How long the last successful lease write took (the term runs from its send time). */
  lastWriteMs: number;
  /** Who leads, as far as this instance knows. */
  holder: string | null;
  leaderSince: number | null;
  lastError: string | null;
  /** Why the last step-down happened. */
  reason: string;
  terms: number;
  /** Another leader's newest mark as read from the lease (what a takeover's gap starts from). */
  seen: LeaderMark | null;
  /** The lease just taken had been given back by its leader (deleted), not expired. */
  released: boolean;
}

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

const base = setup({
  types: {
    context: {} as LeadershipContext,
    events: {} as LeadershipEvent,
    input: {} as LeadershipInput,
  },
  actors: {
    acquire: fromPromise<LeaseAcquire>(async () => {
      throw new Error('acquire not provided');
    }),
    renew: fromPromise<LeaseWrite, { revision: number }>(async () => {
      throw new Error('renew not provided');
    }),
    release: fromPromise<void, { revision: number }>(async () => {
      throw new Error('release not provided');
    }),
    /** Sends LEASE_RELEASED whenever the lease is deleted (a leader stepping down). */
    watchReleases: fromCallback<LeadershipEvent>(() => () => {}),
    /** Data plane: puts what is buffered into the spool (provided; the feed is already stopped). */
    flush: fromPromise<void>(async () => {}),
  },
  delays: {
    renewDelay: ({ context }) => context.timing.renewEveryMs,
    retryDelay: ({ context }) => context.timing.retryMs,
    pollDelay: ({ context }) => context.timing.pollMs,
    requestTimeout: ({ context }) => context.timing.requestTimeoutMs,
    /** From now to `fenceMarginMs` before the lease could expire: it was sent `lastWriteMs` ago. */
    fenceDelay: ({ context }) => Math.max(0, context.timing.ttlMs - context.timing.fenceMarginMs - context.lastWriteMs),
  },
  guards: {
    acquired: ({ event }) => (event as unknown as { output: LeaseAcquire }).output.acquired,
    leaseLost: ({ event }) => (event as unknown as { error: { code?: string } }).error?.code === 'LEASE_LOST',
  },
});

/** Messages to the root: LEAD starts the feed, STEP_DOWN stops it. */
const leadershipSetup = base.extend({
  actions: {
    announceLeader: base.enqueueActions(({ context, enqueue }) => {
      // First the outage between the previous leader's last frame and ours, then the feed starts.
      const prev = context.seen;
      if (prev && prev.instance !== context.instance && prev.at > 0) {
        const handover: HandoverFoundEvent = {
          type: 'HANDOVER_FOUND',
          at: prev.at,
          keys: prev.keys,
          gapReason: context.released ? 'leader handover' : 'leader failover',
          from: prev.instance,
        };
        enqueue.sendParent(handover);
      }
      enqueue.assign({ seen: null, released: false });
      const lead: LeadEvent = { type: 'LEAD', instance: context.instance };
      enqueue.sendParent(lead);
    }),
    announceStepDown: base.enqueueActions(({ context, enqueue }) => {
      const down: StepDownEvent = { type: 'STEP_DOWN', reason: context.reason };
      enqueue.sendParent(down);
    }),
  },
});

export const leadershipMachine = leadershipSetup.createMachine({
  id: 'leadership',
  context: ({ input }) => ({
    ...input,
    revision: null,
    lastWriteMs: 0,
    holder: null,
    leaderSince: null,
    lastError: null,
    reason: '',
    terms: 0,
    seen: null,
    released: false,
  }),
  initial: 'electing',
  on: {
    STOP: '.stopping',
  },
  states: {
    electing: {
      invoke: {
        src: 'acquire',
        onDone: [
          {
            guard: 'acquired',
            target: 'leader',
            actions: assign(({ context, event }) => {
              const w = event.output as LeaseWrite;
              return {
                revision: w.revision,
                lastWriteMs: w.elapsedMs,
                holder: context.instance,
                lastError: null,
                released: w.freedBy === 'release',
              };
            }),
          },
          {
            target: 'standby',
            actions: assign({
              holder: ({ event }) => (event.output.acquired ? null : event.output.holder),
              // A mark read now replaces an older one; none read (unreadable, empty) keeps it.
              seen: ({ context, event }) => (!event.output.acquired && event.output.mark ? event.output.mark : context.seen),
              lastError: null,
            }),
          },
        ],
        onError: { target: 'standby', actions: assign({ lastError: ({ event }) => errorText(event.error) }) },
      },
      // A request lost in a partition may never answer.
      after: { requestTimeout: { target: 'standby', actions: assign({ lastError: 'the lease request timed out' }) } },
    },
    standby: {
      invoke: { src: 'watchReleases' },
      on: { LEASE_RELEASED: 'electing' },
      after: { pollDelay: 'electing' },
    },
    leader: {
      entry: [assign({ leaderSince: ({ context }) => context.now(), terms: ({ context }) => context.terms + 1 }), 'announceLeader'],
      initial: 'term',
      states: {
        // Re-entered after every successful write, which restarts the fence timer from it.
        term: {
          after: {
            fenceDelay: {
              target: '#leadership.fenced',
              actions: assign({ reason: ({ context }) => `lease not renewed in time (${context.lastError ?? 'no answer'})` }),
            },
          },
          initial: 'holding',
          states: {
            holding: { after: { renewDelay: 'renewing' } },
            retrying: { after: { retryDelay: 'renewing' } },
            renewing: {
              invoke: {
                src: 'renew',
                input: ({ context }) => ({ revision: context.revision! }),
                onDone: {
                  target: '#leadership.leader.term',
                  reenter: true,
                  actions: assign({
                    revision: ({ event }) => event.output.revision,
                    lastWriteMs: ({ event }) => event.output.elapsedMs,
                    lastError: null,
                  }),
                },
                onError: [
                  {
                    guard: 'leaseLost',
                    target: '#leadership.fenced',
                    actions: assign({
                      revision: null,
                      lastError: ({ event }) => errorText(event.error),
                      reason: ({ event }) => `lease lost: ${errorText(event.error)}`,
                    }),
                  },
                  { target: 'retrying', actions: assign({ lastError: ({ event }) => errorText(event.error) }) },
                ],
              },
            },
          },
        },
      },
    },
    // Stops ingesting (the root stops the feed on STEP_DOWN), spools what is buffered, gives
    // the lease back if it is still ours, then waits as a standby.
    fenced: {
      entry: [assign({ leaderSince: null, holder: null }), 'announceStepDown'],
      initial: 'flushing',
      states: {
        flushing: {
          invoke: { src: 'flush', onDone: 'releasing', onError: 'releasing' },
        },
        releasing: {
          always: { guard: ({ context }) => context.revision === null, target: '#leadership.standby' },
          invoke: {
            src: 'release',
            input: ({ context }) => ({ revision: context.revision! }),
            onDone: { target: '#leadership.standby', actions: assign({ revision: null }) },
            onError: {
              target: '#leadership.standby',
              actions: assign({ revision: null, lastError: ({ event }) => errorText(event.error) }),
            },
          },
          // Partitioned, the delete may never answer: the lease then expires by itself.
          after: { requestTimeout: { target: '#leadership.standby', actions: assign({ revision: null }) } },
        },
      },
    },
    stopping: {
      entry: [assign({ reason: 'graceful shutdown', leaderSince: null }), 'announceStepDown'],
      initial: 'flushing',
      states: {
        flushing: {
          invoke: { src: 'flush', onDone: 'releasing', onError: 'releasing' },
        },
        releasing: {
          always: { guard: ({ context }) => context.revision === null, target: '#leadership.stopped' },
          invoke: {
            src: 'release',
            input: ({ context }) => ({ revision: context.revision! }),
            onDone: { target: '#leadership.stopped', actions: assign({ revision: null }) },
            onError: {
              target: '#leadership.stopped',
              actions: assign({ revision: null, lastError: ({ event }) => errorText(event.error) }),
            },
          },
          // Partitioned, the delete may never answer: the lease then expires by itself.
          after: { requestTimeout: { target: '#leadership.stopped', actions: assign({ revision: null }) } },
        },
      },
      on: { STOP: {} },
    },
    stopped: { type: 'final' },
  },
});
