import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { type AnyActorRef, SimulatedClock, createActor, fromCallback, fromPromise, waitFor } from 'xstate';
import { type ChainChange, type ChainEvent, type ChainExpired, chainMachine } from '../../machines/chain.js';
import { type ChainsInput, type MasterReport, chainsMachine } from '../../machines/chains.js';
import type { FeedMode, SubscriptionLimits } from '../../src/config.js';
import { ChainSubscriptions, chainMasterActors } from '../../src/instruments/chain-actors.js';
import type { MasterIndex } from '../../src/instruments/master-index.js';
import { parseMasterText } from '../../src/instruments/master-parse.js';
import { NIFTY_KEY, masterJson, optionKey } from '../helpers/master-fixture.js';

const LIMITS: SubscriptionLimits = {
  ltpc: { alone: 5000, combined: 2000 },
  option_greeks: { alone: 3000, combined: 2000 },
  full: { alone: 2000, combined: 1500 },
  full_d30: { alone: 50, combined: 50 },
};
const ist = (s: string) => Date.parse(`${s}+05:30`);
const DATES = ['2026-12-01', '2026-12-08'];

async function fixtureIndex(dates = DATES): Promise<MasterIndex> {
  return (await parseMasterText(Readable.from([masterJson({ expiries: dates, strikesEachSide: 30 })]))).index;
}

interface Rig {
  clock: SimulatedClock;
  actor: ReturnType<typeof createActor<typeof chainsMachine>>;
  subscription: Record<string, FeedMode>;
  changes: ChainChange[];
  expired: ChainExpired[];
  alerts: string[];
  price(ltp: number): void;
  chain(): AnyActorRef;
  master: { index: MasterIndex | undefined; report: MasterReport };
}

async function rig(opts: {
  start: number;
  n?: number;
  limits?: SubscriptionLimits;
  initial?: Record<string, FeedMode>;
  expiry?: 'next' | 'next2' | '2026-12-01';
}): Promise<Rig> {
  const clock = new SimulatedClock();
  clock.set(opts.start);
  const master = {
    index: (await fixtureIndex()) as MasterIndex | undefined,
    report: { state: 'fresh', fetchedAt: opts.start, instruments: 0, lastError: null, at: opts.start } as MasterReport,
  };
  const r = {
    clock,
    subscription: { ...(opts.initial ?? {}) },
    changes: [] as ChainChange[],
    expired: [] as ChainExpired[],
    alerts: [] as string[],
    master,
    sendPrice: undefined as ((e: ChainEvent) => void) | undefined,
  };
  const subs = new ChainSubscriptions(opts.limits ?? LIMITS, 'full');
  const input: ChainsInput = {
    chains: [
      { spec: { underlying: 'NIFTY', n: opts.n ?? 2, expiry: opts.expiry ?? 'next' }, mode: 'option_greeks', underlyingMode: 'full' },
    ],
    retryMs: 600_000,
  };
  const actor = createActor(
    chainsMachine.provide({
      actors: {
        loadMaster: fromPromise(async () => ({ ...master.report, at: clock.now() })),
        refreshMaster: fromPromise(async () => ({ ...master.report, at: clock.now() })),
        chain: chainMachine.provide({
          actors: {
            ...chainMasterActors(() => master.index),
            applySubscription: subs.actor(
              () => r.subscription,
              (next) => (r.subscription = next),
            ),
            watchPrice: fromCallback<ChainEvent, { key: string }>(({ sendBack, input: watched }) => {
              assert.equal(watched.key, NIFTY_KEY);
              r.sendPrice = sendBack;
            }),
          },
          actions: {
            logChange: (_: unknown, params: ChainChange) => r.changes.push(params),
            logExpired: (_: unknown, params: ChainExpired) => r.expired.push(params),
            alert: (_: unknown, params: { message: string }) => r.alerts.push(params.message),
          },
        }),
      },
      delays: { refreshDelay: 3_600_000 },
    }),
    { input, clock },
  );
  actor.start();
  const chain = () => actor.getSnapshot().children['chain:NIFTY'] as AnyActorRef;
  await waitFor(actor, (s) => s.value === 'ready');
  return Object.assign(r, {
    actor,
    chain,
    price(ltp: number) {
      assert.ok(r.sendPrice, 'the price watcher runs');
      r.sendPrice({ type: 'PRICE', ltp, at: clock.now() });
    },
  });
}

const optionKeysOf = (sub: Record<string, FeedMode>) =>
  Object.keys(sub)
    .filter((k) => k.startsWith('NSE_FO|'))
    .sort();
const chainKeys = (date: string, strikes: number[]) =>
  strikes.flatMap((s) => [optionKey('NIFTY', date, s, 'CE'), optionKey('NIFTY', date, s, 'PE')]).sort();
const stateOf = (r: Rig) => JSON.stringify(r.chain().getSnapshot().value);

describe('chains actor', () => {
  it('subscribes the underlying, waits for its price, then centres ATM ± N on the next expiry', async () => {
    const r = await rig({ start: ist('2026-11-30T10:00:00') });
    await waitFor(r.chain(), (s) => s.matches({ active: 'waitingForUnderlying' }));
    assert.deepEqual(r.subscription, { [NIFTY_KEY]: 'full' });
    r.price(24030);
    await waitFor(r.chain(), (s) => s.matches({ active: 'tracking' }));
    assert.deepEqual(optionKeysOf(r.subscription), chainKeys('2026-12-01', [23950, 24000, 24050, 24100, 24150]));
    assert.equal(r.subscription[optionKey('NIFTY', '2026-12-01', 24050, 'CE')], 'option_greeks');
    assert.deepEqual(r.changes, [
      { chain: 'NIFTY', kind: 'centred', ltp: 24030, from: null, to: { atm: 24050, expiry: r.chain().getSnapshot().context.expiry } },
    ]);
  });

  it('does not re-centre inside ±1.5 strikes, and re-centres once beyond, logging old and new centre', async () => {
    const r = await rig({ start: ist('2026-11-30T10:00:00') });
    await waitFor(r.chain(), (s) => s.matches({ active: 'waitingForUnderlying' }));
    r.price(24000);
    await waitFor(r.chain(), (s) => s.matches({ active: 'tracking' }));
    const before = { ...r.subscription };
    r.price(24074); // 1.48 strikes up: inside the band
    r.price(23926);
    assert.equal(stateOf(r), '{"active":"tracking"}');
    assert.deepEqual(r.subscription, before);
    assert.equal(r.chain().getSnapshot().context.ltp, 23926);
    r.price(24080); // 1.6 strikes: re-centre on 24100
    await waitFor(r.chain(), (s) => s.matches({ active: 'tracking' }) && s.context.atm === 24100);
    assert.deepEqual(optionKeysOf(r.subscription), chainKeys('2026-12-01', [24000, 24050, 24100, 24150, 24200]));
    assert.equal(r.changes.length, 2);
    assert.deepEqual(r.changes[1], {
      chain: 'NIFTY',
      kind: 'recentred',
      ltp: 24080,
      from: { atm: 24000, expiry: r.chain().getSnapshot().context.expiry },
      to: { atm: 24100, expiry: r.chain().getSnapshot().context.expiry },
    });
  });

  it('rolls to the next expiry at 15:30 IST on expiry day, on the clock alone', async () => {
    const r = await rig({ start: ist('2026-12-01T15:00:00') });
    await waitFor(r.chain(), (s) => s.matches({ active: 'waitingForUnderlying' }));
    r.price(24000);
    await waitFor(r.chain(), (s) => s.matches({ active: 'tracking' }));
    assert.deepEqual(optionKeysOf(r.subscription), chainKeys('2026-12-01', [23900, 23950, 24000, 24050, 24100]));
    r.clock.increment(30 * 60_000 - 1);
    assert.equal(stateOf(r), '{"active":"tracking"}');
    r.clock.increment(1);
    await waitFor(r.chain(), (s) => s.matches({ active: 'tracking' }) && r.changes.length === 2);
    assert.deepEqual(optionKeysOf(r.subscription), chainKeys('2026-12-08', [23900, 23950, 24000, 24050, 24100]));
    assert.equal(r.changes[1]?.kind, 'rolled');
    assert.equal(r.changes[1]?.from?.atm, 24000);
    assert.equal(r.subscription[NIFTY_KEY], 'full', 'the underlying stays');
  });

  it('a fixed expiry that passes releases the options and the underlying it added, once, and stays expired', async () => {
    const other = optionKey('NIFTY', '2026-12-01', 24000, 'CE');
    const r = await rig({ start: ist('2026-12-01T15:00:00'), expiry: '2026-12-01', initial: { [other]: 'full' } });
    await waitFor(r.chain(), (s) => s.matches({ active: 'waitingForUnderlying' }));
    r.price(24000);
    await waitFor(r.chain(), (s) => s.matches({ active: 'tracking' }));
    const added = chainKeys('2026-12-01', [23900, 23950, 24000, 24050, 24100]).filter((k) => k !== other);
    assert.deepEqual(optionKeysOf(r.subscription), chainKeys('2026-12-01', [23900, 23950, 24000, 24050, 24100]));
    r.clock.increment(30 * 60_000 - 1);
    assert.equal(stateOf(r), '{"active":"tracking"}');
    r.clock.increment(1);
    await waitFor(r.chain(), (s) => s.matches('expired') && r.expired.length === 1);
    // Only what the chain added goes: the key INSTRUMENTS listed stays, with its own mode.
    assert.deepEqual(r.subscription, { [other]: 'full' });
    assert.equal(r.expired.length, 1);
    assert.deepEqual(
      { ...r.expired[0], removed: [...(r.expired[0]?.removed ?? [])].sort() },
      {
        chain: 'NIFTY',
        expiry: '2026-12-01',
        removed: [...added, NIFTY_KEY].sort(),
      },
    );
    assert.equal(r.changes.length, 1, 'no roll is logged');
    assert.deepEqual(r.chain().getSnapshot().context.optionKeys, []);
    assert.match(r.chain().getSnapshot().context.reason, /the 2026-12-01 expiry has passed; 10 keys unsubscribed/);
    // Nothing brings it back: a new master, more time.
    r.actor.send({ type: 'REFRESH_MASTER' });
    r.clock.increment(7 * 86_400_000);
    await waitFor(r.actor, (s) => s.value === 'ready');
    assert.equal(stateOf(r), '"expired"');
    assert.deepEqual(r.subscription, { [other]: 'full' });
    assert.equal(r.expired.length, 1, 'logged once');
    assert.equal(r.alerts.length, 0);
  });

  it('a fixed expiry that passes keeps the underlying when something else subscribed it', async () => {
    const r = await rig({ start: ist('2026-12-01T15:00:00'), expiry: '2026-12-01', initial: { [NIFTY_KEY]: 'ltpc' } });
    await waitFor(r.chain(), (s) => s.matches({ active: 'waitingForUnderlying' }));
    r.price(24000);
    await waitFor(r.chain(), (s) => s.matches({ active: 'tracking' }));
    r.clock.increment(30 * 60_000);
    await waitFor(r.chain(), (s) => s.matches('expired') && r.expired.length === 1);
    assert.deepEqual(r.subscription, { [NIFTY_KEY]: 'ltpc' });
    assert.equal(r.expired[0]?.removed.length, 10);
    assert.ok(!r.expired[0]?.removed.includes(NIFTY_KEY));
  });

  it('a fixed expiry already passed at start gives back the underlying it subscribed', async () => {
    const r = await rig({ start: ist('2026-12-02T10:00:00'), expiry: '2026-12-01' });
    await waitFor(r.chain(), (s) => s.matches({ active: 'waitingForUnderlying' }));
    assert.deepEqual(r.subscription, { [NIFTY_KEY]: 'full' });
    r.price(24000);
    await waitFor(r.chain(), (s) => s.matches('expired') && r.expired.length === 1);
    assert.deepEqual(r.subscription, {});
    assert.deepEqual(r.expired, [{ chain: 'NIFTY', expiry: '2026-12-01', removed: [NIFTY_KEY] }]);
  });

  it('refuses a chain beyond the V3 limits as a whole, subscribing none of its options', async () => {
    const tight: SubscriptionLimits = { ...LIMITS, option_greeks: { alone: 3000, combined: 4 } };
    const r = await rig({ start: ist('2026-11-30T10:00:00'), limits: tight });
    await waitFor(r.chain(), (s) => s.matches({ active: 'waitingForUnderlying' }));
    r.price(24000);
    await waitFor(r.chain(), (s) => s.matches({ active: 'refused' }));
    assert.deepEqual(r.subscription, { [NIFTY_KEY]: 'full' });
    const err = r.chain().getSnapshot().context.lastError;
    assert.equal(err.code, 'SUBSCRIPTION_REFUSED');
    assert.match(
      err.message,
      /chain NIFTY: change of \+10\/-0 keys refused as a whole, nothing applied: .*over the option_greeks limit of 4 keys when modes are combined/,
    );
    assert.equal(r.alerts.length, 1);
    assert.equal(r.changes.length, 0);
  });

  it('keeps a key INSTRUMENTS subscribed when the chain moves away from it', async () => {
    const mine = optionKey('NIFTY', '2026-12-01', 23900, 'CE');
    const r = await rig({ start: ist('2026-11-30T10:00:00'), initial: { [mine]: 'full' } });
    await waitFor(r.chain(), (s) => s.matches({ active: 'waitingForUnderlying' }));
    r.price(24000);
    await waitFor(r.chain(), (s) => s.matches({ active: 'tracking' }));
    r.price(24300);
    await waitFor(r.chain(), (s) => s.matches({ active: 'tracking' }) && s.context.atm === 24300);
    assert.equal(r.subscription[mine], 'full');
  });

  it('an unknown underlying fails with close matches and is retried after a master refresh', async () => {
    const clock = new SimulatedClock();
    clock.set(ist('2026-11-30T10:00:00'));
    const index = await fixtureIndex();
    const actor = createActor(
      chainsMachine.provide({
        actors: {
          loadMaster: fromPromise<MasterReport>(async () => ({
            state: 'fresh',
            fetchedAt: 0,
            instruments: 1,
            lastError: null,
            at: clock.now(),
          })),
          refreshMaster: fromPromise<MasterReport>(async () => ({
            state: 'fresh',
            fetchedAt: 0,
            instruments: 1,
            lastError: null,
            at: clock.now(),
          })),
          chain: chainMachine.provide({
            actors: {
              ...chainMasterActors(() => index),
              applySubscription: fromPromise(async () => ({ removed: [] as string[] })),
              watchPrice: fromCallback(() => {}),
            },
          }),
        },
        delays: { refreshDelay: 1000 },
      }),
      {
        input: {
          chains: [{ spec: { underlying: 'NIFTTY', n: 2, expiry: 'next' }, mode: 'option_greeks', underlyingMode: 'full' }],
          retryMs: 1000,
        },
        clock,
      },
    );
    actor.start();
    await waitFor(actor, (s) => s.value === 'ready');
    const chain = actor.getSnapshot().children['chain:NIFTTY'] as AnyActorRef;
    await waitFor(chain, (s) => s.value === 'failed');
    assert.match(chain.getSnapshot().context.lastError.message, /NIFTTY: no options .*did you mean NIFTY/);
    clock.increment(1000);
    await waitFor(chain, (s) => s.value === 'failed' && s.context.at === clock.now());
  });

  it('a failed refresh keeps the copy in use and reports it stale; without any copy, it retries', async () => {
    const clock = new SimulatedClock();
    clock.set(ist('2026-11-30T08:00:00'));
    let next: MasterReport = {
      state: 'unavailable',
      fetchedAt: null,
      instruments: 0,
      lastError: { code: 'MASTER_FETCH_FAILED', message: 'refused' },
      at: 0,
    };
    const alerts: string[] = [];
    const actor = createActor(
      chainsMachine.provide({
        actors: {
          loadMaster: fromPromise(async () => ({ ...next, at: clock.now() })),
          refreshMaster: fromPromise(async () => ({ ...next, at: clock.now() })),
        },
        actions: { alert: (_, p: { message: string }) => alerts.push(p.message) },
        delays: { refreshDelay: 3_600_000 },
      }),
      { input: { chains: [], retryMs: 60_000 }, clock },
    );
    actor.start();
    await waitFor(actor, (s) => s.value === 'masterUnavailable');
    assert.match(alerts[0], /no instrument master: refused/);
    next = { state: 'fresh', fetchedAt: clock.now(), instruments: 10, lastError: null, at: 0 };
    clock.increment(60_000);
    await waitFor(actor, (s) => s.value === 'ready');
    next = { state: 'stale', fetchedAt: 1, instruments: 10, lastError: { code: 'MASTER_FETCH_FAILED', message: 'HTTP 503' }, at: 0 };
    clock.increment(3_600_000);
    await waitFor(actor, (s) => s.value === 'ready' && s.context.master?.state === 'stale');
    assert.match(alerts[1], /refresh failed, keeping the cached copy: HTTP 503/);
  });
});
