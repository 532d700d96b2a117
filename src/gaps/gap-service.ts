/**
 * Everything the backfill actor needs, built from Config: the ledger beside the spool, Upstox's
 * clock, the paced candle client, the provided machine and its input. The composition root calls
 * `noteFrame` per frame (two assignments), `begin` once the actor runs, and `stop` last.
 */
import type { Actor } from 'xstate';
import type { BackfillInput } from '../../machines/backfill.js';
import type { pipelineMachine } from '../../machines/pipeline.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { CandleClient } from '../upstox/candles.js';
import { RateLimiter } from '../upstox/rate-limiter.js';
import { type BackfillSink, provideBackfill } from './backfill-impl.js';
import { GapLedger, ledgerPathBeside } from './ledger.js';
import { ServerClock } from './server-clock.js';

export interface GapServiceDeps {
  config: Config;
  logger: Logger;
  token: () => string | undefined;
  sink: BackfillSink;
  /** The subscription now (its keys go into the mark; a new object means it changed). */
  subscription: () => Readonly<Record<string, unknown>>;
  /** Writes the periodic last-frame mark off the main thread (src/gaps/ledger.ts LedgerOptions.writeMark). */
  writeMark?: (path: string, lastFrameMs: number, keysJson: string) => void;
}

/** CLOCK events while a gap waits: often enough to start within a second of the minute closing. */
const CLOCK_MS = 1000;

export function createGapService({ config, logger, token, sink, subscription, writeMark }: GapServiceDeps) {
  const g = config.gaps;
  const ledger = new GapLedger({
    path: ledgerPathBeside(config.spool.path),
    markIntervalMs: g.markIntervalMs,
    ...(writeMark ? { writeMark } : {}),
  });
  const clock = new ServerClock();
  const client = new CandleClient({
    apiUrl: config.upstox.apiUrl,
    token,
    timeoutMs: config.upstox.httpTimeoutMs,
    limiter: new RateLimiter([
      { max: g.perSecond, windowMs: 1000 },
      { max: g.perMinute, windowMs: 60_000 },
    ]),
    now: () => clock.now(),
  });
  const log = logger.child({ actor: 'backfill' });
  const logic = provideBackfill({ ledger, client, sink, logger: log, now: () => clock.now() });
  const input: BackfillInput = {
    calendar: g.calendar,
    enabled: g.backfill,
    graceMs: g.graceMs,
    batchKeys: g.batchKeys,
    maxAttempts: g.maxAttempts,
    retryMs: g.retryMs,
    retryMaxMs: g.retryMaxMs,
    rateLimitMs: g.rateLimitMs,
    rateLimitMaxMs: g.rateLimitMaxMs,
  };
  let ticker: NodeJS.Timeout | undefined;
  let startOutageOpen = false;

  return {
    ledger,
    clock,
    logic,
    input,
    /** Per frame. */
    noteFrame(currentTs: number): void {
      clock.noteFrame(currentTs);
      ledger.noteFrame(clock.lastFrameAt());
    },
    /** Once the root runs: gaps still pending from an earlier run, and the outage the last run's end left. */
    begin(root: Actor<typeof pipelineMachine>): void {
      const backfill = () => root.getSnapshot().children.backfill?.getSnapshot();
      const found = ledger.begin();
      const pending = ledger.pending();
      if (pending.length > 0) {
        log.info({ gaps: pending.length }, `resuming the backfill of ${pending.length} gap(s) from the ledger`);
        root.send({ type: 'GAPS_PENDING', at: clock.now(), gaps: pending });
      }
      if (found) {
        startOutageOpen = true;
        log.info(
          { from: found.at, keys: found.keys.length, reason: found.reason },
          `${found.reason === 'service crashed' ? 'the last run did not stop cleanly' : 'the last run stopped'}; last frame seen at ${new Date(found.at).toISOString()}`,
        );
        root.send({ type: 'OUTAGE_FOUND', at: found.at, keys: found.keys, gapReason: found.reason });
      }
      let keysOf: unknown = undefined;
      ticker = setInterval(() => {
        const snap = backfill();
        if (snap?.matches('waiting')) root.send({ type: 'UPSTOX_CLOCK', at: clock.now() });
        // Streaming resumed: the outage found at start is a recorded gap now, no longer a mark.
        if (startOutageOpen && snap && snap.context.down === null) {
          startOutageOpen = false;
          ledger.startOutageClosed();
        }
        const sub = subscription();
        if (sub !== keysOf) {
          keysOf = sub;
          ledger.noteKeys(Object.keys(sub));
        }
      }, CLOCK_MS);
      ticker.unref();
    },
    /** Last: a clean stop is recorded so that the next start says "service stopped". */
    stop(): void {
      if (ticker) clearInterval(ticker);
      ledger.cleanStop();
      ledger.close();
    },
  };
}
