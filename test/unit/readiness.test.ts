import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type StateDocument, buildReadiness } from '../../src/state-document.js';

const NOW = 1_732_000_000_000;
const EQ = 'NSE_EQ|INE002A01018';
const IDX = 'NSE_INDEX|Nifty Bank';

/** A /state document with a streaming connection whose last valid frame came `silentMs` ago. */
function doc(over: { silentMs?: number; subscription?: Record<string, string>; marketStatus?: Record<string, string>; value?: string }) {
  const actor = (value: unknown, context: Record<string, unknown> = {}) => ({ value, status: 'active', context });
  return {
    actors: {
      connection: actor(over.value ?? 'streaming', {
        reason: 'streaming 2 keys',
        subscription: over.subscription ?? { [EQ]: 'full', [IDX]: 'full' },
        marketStatus: over.marketStatus ?? {},
        staleFeedMs: 30_000,
        lastActivityAt: NOW - (over.silentMs ?? 100),
      }),
      writer: actor('influxUp'),
      drainer: actor('idle'),
      notifier: actor('disabled'),
    },
    spool: { pendingPoints: 0, pendingBatches: 0, bytes: 0, oldestAgeS: null, deadLetters: 0, error: null },
    stats: { decodeErrors: 42 },
    ticks: { clients: 0 },
    startedAt: new Date(NOW).toISOString(),
    uptimeS: 60,
  } satisfies StateDocument;
}

describe('readiness', () => {
  const opts = { instrumentsConfigured: true, now: NOW };

  it('is ready while valid frames flow', () => {
    assert.deepEqual(buildReadiness(doc({}), opts), { ready: true, reasons: [] });
  });

  it('is not ready when no valid frame came for the stale limit while a subscribed segment is open', () => {
    assert.equal(buildReadiness(doc({ silentMs: 30_000 }), opts).ready, true, 'at the limit: still ready');
    const r = buildReadiness(doc({ silentMs: 31_000, marketStatus: { NSE_EQ: 'NORMAL_CLOSE' } }), opts);
    assert.equal(r.ready, false);
    assert.deepEqual(r.reasons, ['no valid frame for 31 s while NSE_INDEX is open (STALE_FEED_MS 30000; decodeErrors 42)']);
  });

  it('a closed market is quiet, not unready', () => {
    const closed = { NSE_EQ: 'NORMAL_CLOSE', NSE_INDEX: 'CLOSING_END' };
    assert.equal(buildReadiness(doc({ silentMs: 3_600_000, marketStatus: closed }), opts).ready, true);
  });

  it('is not ready with an empty subscription when instruments are configured', () => {
    const r = buildReadiness(doc({ subscription: {} }), opts);
    assert.equal(r.ready, false);
    assert.match(r.reasons[0], /subscription is empty although instruments are configured/);
    assert.equal(buildReadiness(doc({ subscription: {} }), { ...opts, instrumentsConfigured: false }).ready, true);
  });

  it('says why the feed is not streaming', () => {
    const r = buildReadiness(doc({ value: 'backoff' }), opts);
    assert.equal(r.ready, false);
    assert.match(r.reasons[0], /feed is not streaming \(connection is backoff/);
  });
});
