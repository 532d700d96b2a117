import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SimulatedClock, fromCallback, fromPromise, waitFor } from 'xstate';
import { type ConnectionInput, connectionMachine } from '../../machines/connection.js';
import type { FeedSocketInput, SocketCommand, SocketEvent } from '../../machines/events.js';
import { harness } from '../helpers/parent-harness.js';
import { connectionTestInput } from '../helpers/pipeline-fakes.js';

const EQ = 'NSE_EQ|INE002A01018';
const IDX = 'NSE_INDEX|Nifty Bank';

function input(over: Partial<ConnectionInput> = {}): ConnectionInput {
  // Full jitter draws from `random`: pinned to the top of the range so delays are exact.
  return connectionTestInput({ instruments: [EQ, IDX], random: () => 0.999, ...over });
}

/** Fakes whose outcomes the test decides, with a record of every call. */
function fakes() {
  const f = {
    authorizeCalls: 0,
    tokenFetches: 0,
    authorizeOutcomes: [] as Array<'ok' | 'rejected' | '429' | '500'>,
    tokenOutcomes: [] as Array<'ok' | 'fail'>,
    sockets: [] as Array<{ url: string; commands: SocketCommand[]; emit: (e: SocketEvent) => void; stopped: boolean }>,
    alerts: [] as string[],
    reconnects: 0,
  };
  const logic = connectionMachine.provide({
    actors: {
      authorize: fromPromise(async () => {
        f.authorizeCalls++;
        const o = f.authorizeOutcomes.shift() ?? 'ok';
        if (o === 'rejected') throw Object.assign(new Error('Invalid token used to access API'), { code: 'TOKEN_REJECTED' });
        if (o === '429') throw Object.assign(new Error('too many requests'), { code: 'AUTHORIZE_FAILED', retryAfterS: 7 });
        if (o === '500') throw Object.assign(new Error('authorize answered 500'), { code: 'AUTHORIZE_FAILED' });
        return `ws://sim/feed?code=${f.authorizeCalls}`;
      }),
      fetchToken: fromPromise(async () => {
        f.tokenFetches++;
        if ((f.tokenOutcomes.shift() ?? 'ok') === 'fail') throw Object.assign(new Error('token URL down'), { code: 'TOKEN_FETCH_FAILED' });
      }),
      loadInstruments: fromPromise(async () => [EQ]),
      feedSocket: fromCallback<SocketCommand, FeedSocketInput>(({ input: i, sendBack, receive }) => {
        const s = { url: i.url, commands: [] as SocketCommand[], emit: (e: SocketEvent) => sendBack(e), stopped: false };
        f.sockets.push(s);
        receive((c) => s.commands.push(c));
        return () => {
          s.stopped = true;
        };
      }),
    },
    actions: {
      alert: (_, p) => f.alerts.push(p.message),
      countReconnect: () => {
        f.reconnects++;
      },
    },
  });
  return { f, logic };
}

/** Upstox's time of the frames (FEED_ALIVE carries it): where gaps start and end. */
const FRAME_TS = 1_795_000_000_000;

function start(over: Partial<ConnectionInput> = {}, arrange: (f: ReturnType<typeof fakes>['f']) => void = () => {}) {
  const clock = new SimulatedClock();
  const { f, logic } = fakes();
  arrange(f);
  const h = harness(logic, input(over), { clock, systemId: 'connection' });
  const value = () => h.child().getSnapshot().value as string;
  const ctx = () => h.child().getSnapshot().context;
  const socket = () => f.sockets[f.sockets.length - 1];
  /** Drives the current socket to streaming. */
  const stream = async () => {
    await waitFor(h.child(), (s) => s.value === 'connecting');
    socket().emit({ type: 'SOCKET_OPEN' });
    socket().emit({ type: 'FEED_ALIVE', ts: FRAME_TS });
    assert.equal(value(), 'streaming');
  };
  return { clock, f, h, value, ctx, socket, stream };
}

describe('connection machine', () => {
  it('authorizes, connects, subscribes every key in its mode, streams, and tells the parent', async () => {
    const t = start();
    await t.stream();
    assert.equal(t.f.authorizeCalls, 1);
    assert.equal(t.socket().url, 'ws://sim/feed?code=1');
    assert.deepEqual(t.socket().commands, [{ type: 'SEND', method: 'sub', mode: 'full', keys: [EQ, IDX] }]);
    assert.deepEqual(t.h.sent(), [{ type: 'FEED_UP', at: FRAME_TS, keys: [EQ, IDX], open: { NSE_EQ: true, NSE_INDEX: true } }]);
    assert.equal(t.value(), 'streaming', 'value is exactly "streaming"');
  });

  it('reconnects with capped exponential backoff and full jitter, authorizing again each time', async () => {
    const t = start();
    await t.stream();
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      t.socket().emit({ type: 'SOCKET_CLOSED', code: 1006, reason: '' });
      assert.equal(t.value(), 'backoff');
      const attempt = t.ctx().attempt;
      const expected = Math.floor(0.999 * Math.min(1000, 100 * 2 ** attempt));
      t.clock.increment(expected - 1);
      assert.equal(t.value(), 'backoff', `still waiting before ${expected} ms`);
      t.clock.increment(1);
      await waitFor(t.h.child(), (s) => s.value === 'connecting');
      delays.push(expected);
      t.socket().emit({ type: 'SOCKET_OPEN' });
      t.socket().emit({ type: 'FEED_ALIVE' });
    }
    assert.deepEqual(delays, [199, 399, 799, 999, 999, 999], 'doubles, then capped at RECONNECT_MAX_MS');
    assert.equal(t.f.authorizeCalls, 7, 'every reconnect authorizes again');
    assert.equal(t.f.reconnects, 6);
    assert.equal(t.h.sent().filter((e) => e.type === 'FEED_DOWN').length, 6);
  });

  it('tells the gap ledger where each outage began and ended (Upstox time), which keys, and why', async () => {
    const t = start();
    await t.stream();
    t.socket().emit({ type: 'FEED_ALIVE', ts: FRAME_TS + 5000 });
    t.socket().emit({ type: 'MARKET_STATUS', segments: { NSE_EQ: 'NORMAL_CLOSE', NSE_INDEX: 'NORMAL_OPEN' } });
    t.socket().emit({ type: 'SOCKET_CLOSED', code: 1006, reason: '' });
    const downs = () => t.h.sent().filter((e) => e.type === 'FEED_DOWN');
    assert.deepEqual(
      { ...downs()[0], reason: '' },
      {
        type: 'FEED_DOWN',
        reason: '',
        at: FRAME_TS + 5000,
        keys: [EQ, IDX],
        gapReason: 'socket dropped',
        open: { NSE_EQ: false, NSE_INDEX: true },
      },
      'from the last frame, not from when the drop was noticed',
    );
    // The reconnect meets a rejected token, accepted again later: that is what kept the feed down.
    t.f.authorizeOutcomes.push('rejected');
    t.clock.increment(1000);
    await waitFor(t.h.child(), (s) => s.value === 'tokenRejected');
    t.clock.increment(30_000);
    await waitFor(t.h.child(), (s) => s.value === 'connecting' && t.f.authorizeCalls === 3);
    t.socket().emit({ type: 'SOCKET_OPEN' });
    t.socket().emit({ type: 'FEED_ALIVE', ts: FRAME_TS + 90_000 });
    const up = t.h.sent().filter((e) => e.type === 'FEED_UP')[1];
    assert.deepEqual(up, {
      type: 'FEED_UP',
      at: FRAME_TS + 90_000,
      keys: [EQ, IDX],
      open: { NSE_EQ: false, NSE_INDEX: true },
      gapReason: 'token rejected',
    });
    // A silent feed is a dead socket.
    t.clock.increment(3000);
    assert.equal(downs()[1]?.gapReason, 'dead socket');
    assert.equal(downs()[1]?.at, FRAME_TS + 90_000);
  });

  it('resets the backoff after a stable period of streaming', async () => {
    const t = start();
    await t.stream();
    for (let i = 0; i < 3; i++) {
      t.socket().emit({ type: 'SOCKET_CLOSED', code: 1006, reason: '' });
      t.clock.increment(1000);
      await waitFor(t.h.child(), (s) => s.value === 'connecting');
      t.socket().emit({ type: 'SOCKET_OPEN' });
      t.socket().emit({ type: 'FEED_ALIVE' });
    }
    assert.equal(t.ctx().attempt, 3);
    for (let ms = 0; ms < 5000; ms += 1000) {
      t.clock.increment(1000);
      t.socket().emit({ type: 'FEED_ALIVE' });
    }
    assert.equal(t.ctx().attempt, 0, 'stable for RECONNECT_STABLE_MS');
    t.socket().emit({ type: 'SOCKET_CLOSED', code: 1006, reason: '' });
    assert.equal(t.ctx().attempt, 1);
  });

  it('resubscribes every key in its current mode after a reconnect', async () => {
    const t = start();
    await t.stream();
    t.h.child().send({ type: 'SET_SUBSCRIPTION', subscription: { [EQ]: 'ltpc', 'NSE_EQ|INE467B01029': 'full' } });
    assert.deepEqual(t.socket().commands.slice(1), [
      { type: 'SEND', method: 'unsub', keys: [IDX] },
      { type: 'SEND', method: 'sub', mode: 'full', keys: ['NSE_EQ|INE467B01029'] },
      { type: 'SEND', method: 'change_mode', mode: 'ltpc', keys: [EQ] },
    ]);
    t.socket().emit({ type: 'SOCKET_CLOSED', code: 1006, reason: '' });
    t.clock.increment(1000);
    await waitFor(t.h.child(), (s) => s.value === 'connecting');
    t.socket().emit({ type: 'SOCKET_OPEN' });
    assert.deepEqual(t.socket().commands, [
      { type: 'SEND', method: 'sub', mode: 'ltpc', keys: [EQ] },
      { type: 'SEND', method: 'sub', mode: 'full', keys: ['NSE_EQ|INE467B01029'] },
    ]);
  });

  it('treats a silent feed as dead, but FEED_ALIVE keeps it streaming', async () => {
    const t = start();
    await t.stream();
    for (let i = 0; i < 10; i++) {
      t.clock.increment(2000);
      t.socket().emit({ type: 'FEED_ALIVE' });
    }
    assert.equal(t.value(), 'streaming', '20 s with a sign of life every 2 s');
    t.clock.increment(2999);
    assert.equal(t.value(), 'streaming');
    t.clock.increment(1);
    assert.equal(t.value(), 'backoff');
    assert.equal(t.ctx().lastError?.code, 'FEED_STALE');
    assert.ok(t.f.sockets[0].stopped, 'the dead socket is closed');
  });

  /**
   * Advances the clock in steps (timers set while a big jump is flushed would be scheduled from its
   * end), calling `each` after every step.
   */
  function advance(t: ReturnType<typeof start>, ms: number, each: () => void = () => {}, step = 100) {
    for (let done = 0; done < ms; done += step) {
      t.clock.increment(Math.min(step, ms - done));
      each();
    }
  }
  /** A socket that answers every ping it has not answered yet with a pong. */
  function answerPings(t: ReturnType<typeof start>) {
    let answered = 0;
    return () => {
      const pings = t.socket().commands.filter((c) => c.type === 'PING').length;
      for (; answered < pings; answered++) t.socket().emit({ type: 'FEED_PONG' });
    };
  }
  const pings = (t: ReturnType<typeof start>) => t.socket().commands.filter((c) => c.type === 'PING').length;

  it('waits longer before calling a closed market stale, and answered pings keep a quiet night going', async () => {
    const t = start();
    await t.stream();
    t.socket().emit({ type: 'MARKET_STATUS', segments: { NSE_EQ: 'NORMAL_CLOSE', NSE_INDEX: 'CLOSING_END' } });
    t.socket().emit({ type: 'FEED_ALIVE' });
    // Ten minutes without a frame: the pings are answered, so the socket is alive and stays.
    advance(t, 600_000, answerPings(t), 1000);
    assert.equal(t.value(), 'streaming', 'no reconnect loop at night');
    assert.equal(t.f.sockets.length, 1);
    assert.equal(pings(t), 120, 'a ping every FEED_PING_INTERVAL_MS');
  });

  it('finds a dead socket (no pong, frame or ping) within interval + timeout, day or night', async () => {
    for (const closed of [false, true]) {
      const t = start({ staleFeedMs: 60_000, staleFeedClosedMs: 600_000 });
      await t.stream();
      if (closed) t.socket().emit({ type: 'MARKET_STATUS', segments: { NSE_EQ: 'NORMAL_CLOSE', NSE_INDEX: 'NORMAL_CLOSE' } });
      // Streaming began at t=0 (the ping timer starts when the socket opens): the first ping goes
      // out at 5 s, its deadline passes at 10 s.
      advance(t, 4900);
      assert.equal(pings(t), 0);
      advance(t, 100);
      assert.equal(pings(t), 1);
      advance(t, 4900);
      assert.equal(t.value(), 'streaming');
      advance(t, 100);
      assert.equal(t.value(), 'backoff', closed ? 'at night too' : 'in market hours');
      assert.equal(t.ctx().lastError?.code, 'FEED_PONG_TIMEOUT');
      assert.match(t.ctx().lastError?.message ?? '', /no answer to a ping within 5000 ms/);
      assert.ok(t.f.sockets[0].stopped, 'the dead socket is closed');
      assert.deepEqual(
        { ...t.h.sent().at(-1), at: 0, keys: [], open: {} },
        { type: 'FEED_DOWN', reason: t.ctx().lastError?.message, at: 0, keys: [], open: {}, gapReason: 'dead socket' },
      );
      t.h.stop();
    }
  });

  it('counts anything from the socket as an answer, and ignores pongs while the market is open', async () => {
    const t = start({ staleFeedMs: 60_000 });
    await t.stream();
    // Data frames every second: the pings go out and are answered by the data itself.
    advance(t, 30_000, () => t.socket().emit({ type: 'FEED_ALIVE' }), 1000);
    assert.equal(t.value(), 'streaming');
    assert.equal(pings(t), 6);
    // Only pongs now, segment open: the socket is alive but no data comes; stale at STALE_FEED_MS.
    const answer = answerPings(t);
    answer();
    advance(t, 59_000, answer, 1000);
    assert.equal(t.value(), 'streaming');
    advance(t, 1000, answer, 1000);
    assert.equal(t.value(), 'backoff');
    assert.equal(t.ctx().lastError?.code, 'FEED_STALE');
  });

  it('a socket sending only frames that do not decode goes stale while the market is open', async () => {
    const t = start();
    await t.stream();
    const answer = answerPings(t);
    advance(
      t,
      2900,
      () => {
        t.socket().emit({ type: 'FEED_GARBAGE' });
        answer();
      },
      100,
    );
    assert.equal(t.value(), 'streaming');
    advance(t, 100);
    assert.equal(t.value(), 'backoff');
    assert.equal(t.ctx().lastError?.code, 'FEED_STALE');
    assert.match(
      t.ctx().lastError?.message ?? '',
      /no frame decoded for 3000 ms while a subscribed segment is open \(frames arrive, but none decodes\)/,
    );
  });

  it('one open segment keeps the short timeout', async () => {
    const t = start();
    await t.stream();
    t.socket().emit({ type: 'MARKET_STATUS', segments: { NSE_EQ: 'NORMAL_CLOSE', NSE_INDEX: 'NORMAL_OPEN' } });
    t.socket().emit({ type: 'FEED_ALIVE' });
    t.clock.increment(3000);
    assert.equal(t.value(), 'backoff');
  });

  it('fetches a fresh token when the token is rejected and a token URL is set', async () => {
    const t = start({ hasTokenUrl: true });
    await t.stream();
    t.f.authorizeOutcomes.push('rejected');
    t.socket().emit({ type: 'SOCKET_CLOSED', code: 1008, reason: 'access token expired' });
    t.clock.increment(1000);
    await waitFor(t.h.child(), (s) => s.value === 'connecting');
    assert.equal(t.f.tokenFetches, 1, 'fetched at the first rejection');
    assert.equal(t.f.authorizeCalls, 3);
  });

  it('backs off between token fetches when the token URL fails', async () => {
    const t = start({ hasAccessToken: false, hasTokenUrl: true }, (f) => f.tokenOutcomes.push('fail', 'fail', 'fail'));
    await waitFor(t.h.child(), (s) => s.value === 'tokenBackoff');
    assert.equal(t.f.tokenFetches, 1);
    t.clock.increment(Math.floor(0.999 * Math.min(4000, 400 * 2)));
    await waitFor(t.h.child(), (s) => s.value === 'tokenBackoff' && s.context.tokenAttempt === 2);
    assert.equal(t.f.tokenFetches, 2);
    const wait = Math.floor(0.999 * Math.min(4000, 400 * 2 ** 2));
    t.clock.increment(wait - 1);
    assert.equal(t.f.tokenFetches, 2, 'its own backoff');
    t.clock.increment(1);
    await waitFor(t.h.child(), (s) => s.context.tokenAttempt === 3);
    assert.equal(t.f.tokenFetches, 3);
    assert.match(t.ctx().reason, /token URL down/);
  });

  it('without a token URL, says loudly that the token was rejected and retries slowly', async () => {
    const t = start({}, (f) => f.authorizeOutcomes.push('rejected', 'rejected'));
    await waitFor(t.h.child(), (s) => s.value === 'tokenRejected');
    assert.equal(t.f.alerts.length, 1);
    assert.match(t.f.alerts[0], /UPSTOX_ACCESS_TOKEN/);
    t.clock.increment(30_000);
    await waitFor(t.h.child(), (s) => s.value === 'tokenRejected' && t.f.authorizeCalls === 2);
    assert.equal(t.f.alerts.length, 2);
  });

  it('honours Retry-After (seconds) on 429 and backs off on 500', async () => {
    const t = start({}, (f) => f.authorizeOutcomes.push('429', '500'));
    await waitFor(t.h.child(), (s) => s.value === 'backoff');
    t.clock.increment(6999);
    assert.equal(t.value(), 'backoff');
    t.clock.increment(1);
    await waitFor(t.h.child(), (s) => s.value === 'backoff' && t.f.authorizeCalls === 2);
    t.clock.increment(1000);
    await waitFor(t.h.child(), (s) => s.value === 'connecting');
  });

  it('refreshes the token every day ahead of the expiry without dropping the socket', async () => {
    // A long stale timeout so that the day can pass in one step of the simulated clock.
    const t = start({ hasTokenUrl: true, staleFeedMs: 10 * 86_400_000, staleFeedClosedMs: 10 * 86_400_000 });
    await t.stream();
    t.clock.increment(24 * 3600 * 1000);
    await waitFor(t.h.child(), () => t.f.tokenFetches === 1);
    assert.equal(t.value(), 'streaming');
    assert.equal(t.f.sockets.length, 1);
  });

  it('loads instruments from the URL when none are given', async () => {
    const t = start({ instruments: null });
    await waitFor(t.h.child(), (s) => s.value === 'connecting');
    assert.deepEqual(t.ctx().subscription, { [EQ]: 'full' });
  });

  it('refuses initial keys beyond the subscription limits, loudly, and streams the rest', async () => {
    const many = Array.from({ length: 60 }, (_, i) => `NSE_FO|${1000 + i}`);
    const t = start({ instruments: many, mode: 'full_d30' });
    await waitFor(t.h.child(), (s) => s.value === 'connecting');
    assert.equal(Object.keys(t.ctx().subscription).length, 50);
    assert.equal(t.f.alerts.length, 1);
    assert.match(t.f.alerts[0], /10 instrument key\(s\) refused.*limit of 50/);
  });

  it('stops: closes the socket and tells the parent the feed is down', async () => {
    const t = start();
    await t.stream();
    t.h.child().send({ type: 'STOP' });
    assert.equal(t.value(), 'stopped');
    assert.ok(t.socket().stopped);
    assert.deepEqual(
      t.h
        .sent()
        .map((e) => e.type)
        .filter((type) => !type.startsWith('xstate.')),
      ['FEED_UP', 'FEED_DOWN'],
    );
  });
});
