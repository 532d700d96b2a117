/**
 * The tick path over a window of time, for /state and the inspector page (the cumulative
 * histograms in /metrics are for Prometheus): per feed frame, the time from its Upstox timestamp
 * to its arrival, and from its arrival to its ticks written to the /ticks sockets. Node's
 * recordable histograms (perf_hooks.createHistogram) keep exact percentiles at a fixed cost per
 * record, in whole microseconds.
 */
import { type RecordableHistogram, createHistogram } from 'node:perf_hooks';

export interface TickPathFigures {
  /** Frames timed in the window. */
  frames: number;
  /** ms, null without a frame in the window. */
  feedDelayP99Ms: number | null;
  handlingP50Ms: number | null;
  handlingP99Ms: number | null;
}

/** createHistogram records integers from 1: a microsecond floor keeps a 0 µs frame recordable. */
const us = (ms: number) => Math.max(1, Math.round(ms * 1000));
const ms = (h: RecordableHistogram, p: number) => (h.count > 0 ? Math.round(h.percentile(p) / 10) / 100 : null);

export class TickPathWindow {
  private readonly feedDelay = createHistogram();
  private readonly handling = createHistogram();

  /** `feedDelayMs` null: the frame carried no Upstox time. */
  record(feedDelayMs: number | null, handlingMs: number): void {
    this.handling.record(us(handlingMs));
    if (feedDelayMs !== null) this.feedDelay.record(us(feedDelayMs));
  }

  /** The figures since the last reset. */
  figures(): TickPathFigures {
    return {
      frames: this.handling.count,
      feedDelayP99Ms: ms(this.feedDelay, 99),
      handlingP50Ms: ms(this.handling, 50),
      handlingP99Ms: ms(this.handling, 99),
    };
  }

  reset(): void {
    this.feedDelay.reset();
    this.handling.reset();
  }
}
