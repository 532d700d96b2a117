import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SimulatedClock, createActor, fromPromise, waitFor } from 'xstate';
import { type BackfillInput, type FetchInput, type FetchOutput, type SettleParams, backfillMachine } from '../../machines/backfill.js';
import type { Gap } from '../../machines/rules/gaps.js';
import { DEFAULT_CALENDAR } from '../../machines/rules/trading-hours.js';

const ist = (s: string) => Date.parse(`${s}+05:30`);
const T0 = ist('2026-11-27T10:00:20'); // a Friday, market open
const A = 'NSE_EQ|INE002A01018';
const B = 'NSE_INDEX|Nifty Bank';
const C = 'NSE_FO|12345';

const INPUT: BackfillInput = {
  calendar: DEFAULT_CALENDAR,
  enabled: true,
  graceMs: 5000,
  batchKeys: 2,
  maxAttempts: 3,
  retryMs: 1000,
  retryMaxMs: 8000,
  rateLimitMs: 2000,
  rateLimitMaxMs: 60_000,
};

type Call<I, O> = { input: I; resolve: (o: O) => void; reject: (e: unknown) => void };

/** The machine with fetch/write the test answers one by one, and every recordGap/settleGap. */
function start(input: Partial<BackfillInput> = {}) {
  const clock = new SimulatedClock();
  const fetches: Array<Call<FetchInput, FetchOutput>> = [];
  const writes: Array<Call<{ gap: Gap }, { written: number; at: number }>> = [];
  const recorded: Array<{ gap: Gap; backfill: string }> = [];
  const settled: SettleParams[] = [];
  const actor = createActor(
    backfillMachine.provide({
      actors: {
        fetchCandles: fromPromise<FetchOutput, FetchInput>(
          ({ input }) => new Promise((resolve, reject) => fetches.push({ input, resolve, reject })),
        ),
        writeCandles: fromPromise<{ written: number; at: number }, { gap: Gap }>(
          ({ input }) => new Promise((resolve, reject) => writes.push({ input, resolve, reject })),
        ),
      },
      actions: {
        recordGap: (_, p: { gap: Gap; backfill: 'pending' | 'none' }) => void recorded.push(p),
        settleGap: (_, p: SettleParams) => void settled.push(p),
      },
    }),
    { clock, input: { ...INPUT, ...input } },
  );
  actor.start();
  const value = () => actor.getSnapshot().value as string;
  /** Simulated now: T0 plus what the clock advanced. */
  const now = () => T0 + clock.now();
  const outage = (from: number, to: number, keys = [A, B], reason = 'socket dropped' as const) => {
    actor.send({ type: 'FEED_DOWN', reason: 'test', at: from, keys, gapReason: reason });
    actor.send({ type: 'FEED_UP', at: to, keys });
  };
  return { clock, actor, fetches, writes, recorded, settled, value, now, outage };
}

const until = (actor: { getSnapshot(): { value: unknown } }, v: string) =>
  waitFor(actor as never, (s: { value: unknown }) => s.value === v, { timeout: 1000 });

describe('backfill machine', () => {
  it('records the gap, waits for its last minute to close, fetches and writes it, and is done', async () => {
    const t = start();
    assert.equal(t.value(), 'idle');
    const from = T0; // 10:00:20
    const to = T0 + 95_000; // 10:01:55
    t.outage(from, to);
    assert.deepEqual(t.recorded, [{ gap: { id: `${from}-${to}`, from, to, keys: [A, B], reason: 'socket dropped' }, backfill: 'pending' }]);
    assert.equal(t.value(), 'waiting');
    // The minute 10:01 closes at 10:02:00; plus 5 s grace: 10 s after `to`.
    t.clock.increment(9_999);
    assert.equal(t.value(), 'waiting');
    t.clock.increment(1);
    assert.equal(t.value(), 'fetching');
    assert.deepEqual(t.fetches[0].input.keys, [A, B]);
    t.fetches[0].resolve({ candles: 4, keyErrors: [], at: to + 11_000 });
    await until(t.actor, 'writing');
    t.writes[0].resolve({ written: 4, at: to + 11_100 });
    await until(t.actor, 'idle');
    assert.equal(t.settled.length, 1);
    assert.equal(t.settled[0].state, 'done');
    assert.equal(t.settled[0].candles, 4);
    assert.equal(t.settled[0].logError, false);
    assert.deepEqual(t.actor.getSnapshot().context.totals, { gaps: 1, done: 1, failed: 0, candles: 4 });
    t.actor.stop();
  });

  it("UPSTOX_CLOCK (Upstox's time from the frames) ends the wait once the minute has closed", () => {
    const t = start();
    t.outage(T0, T0 + 10_000, [A]);
    assert.equal(t.value(), 'waiting');
    t.actor.send({ type: 'UPSTOX_CLOCK', at: T0 + 44_999 });
    assert.equal(t.value(), 'waiting');
    t.actor.send({ type: 'UPSTOX_CLOCK', at: T0 + 45_000 }); // 10:01:05 = the minute 10:00 closed + 5 s grace
    assert.equal(t.value(), 'fetching');
    t.actor.stop();
  });

  it('a closed market is not a gap: an evening outage records nothing', () => {
    const t = start();
    t.outage(ist('2026-11-27T15:45:00'), ist('2026-11-27T18:00:00'));
    t.outage(ist('2026-11-28T10:00:00'), ist('2026-11-28T12:00:00')); // Saturday
    assert.deepEqual(t.recorded, []);
    assert.equal(t.value(), 'idle');
    t.actor.stop();
  });

  it('market_info at both ends of a same-day outage decides: closed is no gap, open is a gap whole', () => {
    const t = start();
    t.actor.send({ type: 'FEED_DOWN', reason: 'test', at: T0, keys: [A], gapReason: 'dead socket', open: { NSE_EQ: false } });
    t.actor.send({ type: 'FEED_UP', at: T0 + 60_000, keys: [A], open: { NSE_EQ: false } });
    assert.equal(t.recorded.length, 0);
    t.actor.send({ type: 'FEED_DOWN', reason: 'test', at: T0, keys: [A], gapReason: 'dead socket', open: { NSE_EQ: false } });
    t.actor.send({ type: 'FEED_UP', at: T0 + 60_000, keys: [A], open: { NSE_EQ: true } });
    assert.equal(t.recorded.length, 1, 'open at one end: a gap');
    // Open at both ends (a special session): a gap even where the table says closed.
    const sat = ist('2026-11-28T10:00:00');
    t.actor.send({ type: 'FEED_DOWN', reason: 'test', at: sat, keys: [A], gapReason: 'socket dropped', open: { NSE_EQ: true } });
    t.actor.send({ type: 'FEED_UP', at: sat + 60_000, keys: [A], open: { NSE_EQ: true } });
    assert.equal(t.recorded.length, 2);
    assert.deepEqual([t.recorded[1].gap.from, t.recorded[1].gap.to], [sat, sat + 60_000]);
    t.actor.stop();
  });

  it('only keys subscribed at both ends are in the gap; the first FEED_DOWN sets its start and reason', () => {
    const t = start();
    t.actor.send({ type: 'FEED_DOWN', reason: 'test', at: T0, keys: [A, B], gapReason: 'socket dropped' });
    t.actor.send({ type: 'FEED_DOWN', reason: 'test', at: T0 + 5000, keys: [A, B], gapReason: 'token rejected' });
    t.actor.send({ type: 'FEED_UP', at: T0 + 30_000, keys: [B, C] });
    assert.deepEqual(
      t.recorded.map((r) => r.gap),
      [{ id: `${T0}-${T0 + 30_000}`, from: T0, to: T0 + 30_000, keys: [B], reason: 'socket dropped' }],
    );
    t.actor.send({ type: 'FEED_UP', at: T0 + 40_000, keys: [B] });
    assert.equal(t.recorded.length, 1, 'FEED_UP without an open outage records nothing');
    t.actor.stop();
  });

  it('FEED_UP may say what kept the feed down (a rejected token), which becomes the reason', () => {
    const t = start();
    t.actor.send({ type: 'FEED_DOWN', reason: 'test', at: T0, keys: [A], gapReason: 'socket dropped' });
    t.actor.send({ type: 'FEED_UP', at: T0 + 90_000, keys: [A], gapReason: 'token rejected' });
    assert.equal(t.recorded[0].gap.reason, 'token rejected');
    t.actor.stop();
  });

  it('fetches in batches of batchKeys, writing each before the next', async () => {
    const t = start();
    t.outage(T0, T0 + 10_000, [A, B, C]);
    t.clock.increment(60_000);
    assert.deepEqual(t.fetches[0].input.keys, [A, C]);
    t.fetches[0].resolve({ candles: 2, keyErrors: [], at: T0 + 60_000 });
    await until(t.actor, 'writing');
    t.writes[0].resolve({ written: 2, at: T0 + 60_000 });
    await waitFor(t.actor, () => t.fetches.length === 2);
    assert.equal(t.value(), 'fetching');
    assert.deepEqual(t.fetches[1].input.keys, [B]);
    t.fetches[1].resolve({ candles: 1, keyErrors: [], at: T0 + 61_000 });
    await until(t.actor, 'writing');
    t.writes[1].resolve({ written: 1, at: T0 + 61_000 });
    await until(t.actor, 'idle');
    assert.equal(t.settled[0].state, 'done');
    assert.equal(t.settled[0].candles, 3);
    t.actor.stop();
  });

  it('a 429 storm: backs off 2 s, 4 s, 8 s, then fetches again and finishes', async () => {
    const t = start();
    t.outage(T0, T0 + 10_000, [A]);
    t.clock.increment(60_000);
    for (const wait of [2000, 4000, 8000]) {
      const n = t.fetches.length;
      t.fetches[n - 1].reject(Object.assign(new Error('rate limited'), { kind: 'rateLimited' }));
      await until(t.actor, 'rateLimited');
      t.clock.increment(wait - 1);
      assert.equal(t.value(), 'rateLimited', `still backing off before ${wait} ms`);
      t.clock.increment(1);
      assert.equal(t.value(), 'fetching');
      assert.equal(t.fetches.length, n + 1);
    }
    t.fetches[3].resolve({ candles: 1, keyErrors: [], at: T0 });
    await until(t.actor, 'writing');
    t.writes[0].resolve({ written: 1, at: T0 });
    await until(t.actor, 'idle');
    assert.equal(t.settled.length, 1, 'rate limits do not mark the gap');
    assert.equal(t.settled[0].state, 'done');
    t.actor.stop();
  });

  it('a rejected token marks the gap failed at once, logged once, retried a bounded number of times', async () => {
    const t = start();
    t.outage(T0, T0 + 10_000, [A]);
    t.clock.increment(60_000);
    const tokenError = () => Object.assign(new Error('the candle API rejected the access token'), { kind: 'token' });
    t.fetches[0].reject(tokenError());
    await until(t.actor, 'failed');
    assert.equal(t.settled[0].state, 'failed');
    assert.equal(t.settled[0].logError, true);
    assert.match(t.settled[0].detail, /rejected the access token; retry 1 of 2/);
    t.clock.increment(1000);
    assert.equal(t.value(), 'fetching');
    t.fetches[1].reject(tokenError());
    await until(t.actor, 'failed');
    t.clock.increment(1999);
    assert.equal(t.value(), 'failed', 'the retry delay doubles');
    t.clock.increment(1);
    t.fetches[2].reject(tokenError());
    await until(t.actor, 'idle');
    assert.equal(t.fetches.length, 3, 'maxAttempts = 3');
    const last = t.settled[t.settled.length - 1];
    assert.equal(last.state, 'failed');
    assert.match(last.detail, /gave up after 3 attempts/);
    assert.equal(t.settled.filter((s) => s.logError).length, 1, 'logged at error level exactly once');
    assert.deepEqual(t.actor.getSnapshot().context.totals, { gaps: 1, done: 0, failed: 1, candles: 0 });
    t.clock.increment(3_600_000);
    assert.equal(t.fetches.length, 3, 'no more attempts');
    t.actor.stop();
  });

  it('a transient failure keeps the gap pending and a later success marks it done', async () => {
    const t = start();
    t.outage(T0, T0 + 10_000, [A]);
    t.clock.increment(60_000);
    t.fetches[0].resolve({ candles: 1, keyErrors: [], at: T0 });
    await until(t.actor, 'writing');
    t.writes[0].reject(Object.assign(new Error('spool full'), { kind: 'transient' }));
    await until(t.actor, 'failed');
    assert.equal(t.settled[0].state, 'pending');
    assert.equal(t.settled[0].logError, false);
    t.clock.increment(1000);
    t.fetches[1].resolve({ candles: 1, keyErrors: [], at: T0 });
    await until(t.actor, 'writing');
    t.writes[1].resolve({ written: 1, at: T0 });
    await until(t.actor, 'idle');
    assert.equal(t.settled[1].state, 'done');
    t.actor.stop();
  });

  it('keys the API refuses fail the gap with their names; the other keys are written', async () => {
    const t = start();
    t.outage(T0, T0 + 10_000, [A, B]);
    t.clock.increment(60_000);
    t.fetches[0].resolve({ candles: 2, keyErrors: [{ key: B, message: '400 invalid key' }], at: T0 });
    await until(t.actor, 'writing');
    t.writes[0].resolve({ written: 2, at: T0 });
    await until(t.actor, 'idle');
    assert.equal(t.settled[0].state, 'failed');
    assert.equal(t.settled[0].logError, true);
    assert.match(t.settled[0].detail, /no candles for 1 key \(NSE_INDEX\|Nifty Bank: 400 invalid key\); 2 candles written/);
    t.actor.stop();
  });

  it('GAPS_PENDING resumes gaps pending in the ledger, oldest first, once the feed streams', async () => {
    const t = start();
    const g1: Gap = { id: 'g1', from: T0 - 600_000, to: T0 - 500_000, keys: [A], reason: 'service crashed' };
    const g2: Gap = { id: 'g2', from: T0 - 900_000, to: T0 - 800_000, keys: [B], reason: 'socket dropped' };
    t.actor.send({ type: 'GAPS_PENDING', at: T0, gaps: [g1, g2] });
    t.clock.increment(600_000);
    assert.equal(t.value(), 'waiting', 'before the feed has streamed in this run there may be no token');
    t.actor.send({ type: 'FEED_UP', at: T0, keys: [A, B] });
    assert.equal(t.value(), 'fetching', 'both are long ready');
    assert.equal(t.fetches[0].input.gap.id, 'g2');
    t.fetches[0].resolve({ candles: 1, keyErrors: [], at: T0 });
    await until(t.actor, 'writing');
    t.writes[0].resolve({ written: 1, at: T0 });
    await waitFor(t.actor, () => t.fetches.length === 2);
    assert.equal(t.fetches[1].input.gap.id, 'g1');
    assert.deepEqual(t.recorded, [], 'restored gaps are already recorded');
    t.actor.stop();
  });

  it('STORAGE_GAP (frames the full storage queue did not take) is recorded as "storage overloaded" and backfilled like an outage; outside trading hours it is nothing', () => {
    const t = start();
    t.actor.send({ type: 'FEED_UP', at: T0, keys: [A, B] });
    const from = T0 + 1_000;
    const to = T0 + 20_000;
    t.actor.send({ type: 'STORAGE_GAP', at: to + 10, from, to, keys: [A, B] });
    assert.deepEqual(t.recorded, [
      { gap: { id: `${from}-${to}`, from, to, keys: [A, B], reason: 'storage overloaded' }, backfill: 'pending' },
    ]);
    assert.equal(t.value(), 'waiting');
    t.actor.send({ type: 'UPSTOX_CLOCK', at: T0 + 45_000 }); // the minute 10:00 closed + 5 s grace
    assert.equal(t.value(), 'fetching');
    assert.deepEqual(t.fetches[0].input.keys, [A, B]);
    const evening = ist('2026-11-27T20:00:00');
    t.actor.send({ type: 'STORAGE_GAP', at: evening + 5_000, from: evening, to: evening + 5_000, keys: [A] });
    assert.equal(t.recorded.length, 1);
    assert.equal(t.actor.getSnapshot().context.totals.gaps, 1);
    t.actor.stop();
  });

  it('BACKFILL=off records gaps with backfill none and fetches nothing', () => {
    const t = start({ enabled: false });
    t.outage(T0, T0 + 10_000, [A]);
    assert.equal(t.recorded[0].backfill, 'none');
    t.clock.increment(600_000);
    assert.equal(t.value(), 'idle');
    assert.equal(t.fetches.length, 0);
    t.actor.stop();
  });

  it("HANDOVER_FOUND (a new HA leader) opens the outage at the previous leader's mark: clipped to trading hours, recorded with its reason, backfilled", async () => {
    const t = start();
    const mark = ist('2026-11-27T15:29:30');
    const firstFrame = ist('2026-11-27T15:31:10'); // after the close: the gap ends at 15:30
    t.actor.send({ type: 'HANDOVER_FOUND', at: mark, keys: [A, B, C], gapReason: 'leader failover', from: 'a' });
    // A reconnect reason on the new leader's first FEED_UP does not hide why the stream stopped.
    t.actor.send({ type: 'FEED_UP', at: firstFrame, keys: [A, B], gapReason: 'socket dropped' });
    const close = ist('2026-11-27T15:30:00');
    assert.deepEqual(t.recorded, [
      { gap: { id: `${mark}-${close}`, from: mark, to: close, keys: [A, B], reason: 'leader failover' }, backfill: 'pending' },
    ]);
    await until(t.actor, 'fetching');
    assert.deepEqual(t.fetches[0].input.keys, [A, B]);
    t.actor.stop();
  });

  it('HANDOVER_FOUND replaces the outage found at start (the group streamed since) but not a later one', () => {
    const t = start();
    // This standby's own last run ended long ago; the leader it takes over from streamed until `mark`.
    t.actor.send({ type: 'OUTAGE_FOUND', at: T0 - 3_600_000, keys: [A], gapReason: 'service stopped' });
    const mark = T0;
    t.actor.send({ type: 'HANDOVER_FOUND', at: mark, keys: [A], gapReason: 'leader handover', from: 'a' });
    t.actor.send({ type: 'FEED_UP', at: T0 + 4000, keys: [A] });
    assert.deepEqual(
      t.recorded.map((r) => [r.gap.from, r.gap.to, r.gap.reason]),
      [[mark, T0 + 4000, 'leader handover']],
    );
    // An outage already open that began after the mark is not moved back.
    t.actor.send({ type: 'FEED_DOWN', reason: 'test', at: T0 + 10_000, keys: [A], gapReason: 'socket dropped' });
    t.actor.send({ type: 'HANDOVER_FOUND', at: T0 + 5000, keys: [A], gapReason: 'leader failover', from: 'b' });
    t.actor.send({ type: 'FEED_UP', at: T0 + 12_000, keys: [A] });
    assert.deepEqual(t.recorded.at(-1)!.gap.reason, 'socket dropped');
    assert.equal(t.recorded.at(-1)!.gap.from, T0 + 10_000);
    t.actor.stop();
  });
});
