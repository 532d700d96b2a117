/**
 * Everything the backfill actor needs, built from Config: the ledger beside the spool (its SQLite
 * on the storage worker's thread, reached through `port`), Upstox's clock, the paced candle
 * client, the provided machine and its input. The composition root calls `noteFrame` per frame
 * (two assignments), awaits `begin` once the actor runs, and calls `stop` just before the storage
 * worker's close.
 */
import type { Actor } from 'xstate';
import type { BackfillInput } from '../../machines/backfill.js';
import type { pipelineMachine } from '../../machines/pipeline.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { CandleClient } from '../upstox/candles.js';
import { RateLimiter } from '../upstox/rate-limiter.js';
import { type BackfillSink, provideBackfill } from './backfill-impl.js';
import { ledgerPathBeside } from './ledger.js';
import { LedgerClient, type LedgerPort } from './ledger-client.js';
import { describeError, errorCode } from '../../machines/rules/error-info.js';
import { ServerClock } from './server-clock.js';

export interface GapServiceDeps {
  config: Config;
  logger: Logger;
  token: () => string | undefined;
  sink: BackfillSink;
  /** The subscription now (its keys go into the mark; a new object means it changed). */
  subscription: () => Readonly<Record<string, unknown>>;
  /** The storage worker, where the ledger's SQLite runs (src/gaps/ledger-client.ts). */
  port: LedgerPort;
}

/** CLOCK events while a gap waits: often enough to start within a second of the minute closing. */
const CLOCK_MS = 1000;

export function createGapService({ config, logger, token, sink, subscription, port }: GapServiceDeps) {
  const g = config.gaps;
  const ledger = new LedgerClient(port, { path: ledgerPathBeside(config.spool.path), markIntervalMs: g.markIntervalMs });
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
    /**
     * Once the root runs, before the feed starts: gaps still pending from an earlier run, and the
     * outage the last run's end left. Rejects (GAP_LEDGER_FAILED) when gaps.db cannot be opened;
     * while another process locks it, waits until it is released.
     */
    async begin(root: Actor<typeof pipelineMachine>): Promise<void> {
      const backfill = () => root.getSnapshot().children.backfill?.getSnapshot();
      const { outage: found, pending } = await ledger.begin();
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
          ledger.startOutageClosed().catch((err: unknown) => {
            // The next start then reports this outage again (from its first frame): said, not fatal.
            log.error(
              { code: errorCode(err, 'GAP_LEDGER_FAILED') },
              `the gap ledger did not take the end of the start outage: ${describeError(err)}`,
            );
          });
        }
        const sub = subscription();
        if (sub !== keysOf) {
          keysOf = sub;
          ledger.noteKeys(Object.keys(sub));
        }
      }, CLOCK_MS);
      ticker.unref();
    },
    /**
     * Just before the storage worker's close, which waits for it (bounded): the last mark and the
     * clean-stop record, so that the next start says "service stopped". Resolves once written.
     */
    stop(): Promise<void> {
      if (ticker) clearInterval(ticker);
      return ledger.cleanStop().catch((err: unknown) => {
        log.error(
          { code: errorCode(err, 'GAP_LEDGER_FAILED') },
          `the clean stop could not be recorded in the gap ledger (${describeError(err)}); the next start will say "service crashed"`,
        );
      });
    },
  };
}
