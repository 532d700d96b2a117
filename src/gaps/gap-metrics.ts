/**
 * Gap metrics for /metrics, read from the ledger at scrape time (so they survive restarts, like
 * the ledger): gaps and gap seconds by reason, candles backfilled, gaps by backfill state.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { GapLedger } from './ledger.js';

export function registerGapMetrics(registry: Registry, ledger: Pick<GapLedger, 'totals' | 'countsByState'>): void {
  new Counter({
    name: 'tickpipe_gaps_total',
    help: 'Gaps recorded (time a subscribed key was not streamed during trading hours), by reason',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const r of ledger.totals().byReason) this.inc({ reason: r.reason }, r.gaps);
    },
  });
  new Counter({
    name: 'tickpipe_gap_seconds_total',
    help: 'Seconds of trading time covered by recorded gaps, by reason',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const r of ledger.totals().byReason) this.inc({ reason: r.reason }, r.seconds);
    },
  });
  new Counter({
    name: 'tickpipe_backfilled_candles_total',
    help: '1-minute candles fetched from the Upstox candle API and written for gaps',
    registers: [registry],
    collect() {
      this.reset();
      const n = ledger.totals().candles;
      if (n > 0) this.inc(n);
    },
  });
  new Gauge({
    name: 'tickpipe_gaps',
    help: 'Recorded gaps by backfill state (pending, done, failed, none)',
    labelNames: ['backfill'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [backfill, n] of Object.entries(ledger.countsByState())) this.set({ backfill }, n);
    },
  });
}
