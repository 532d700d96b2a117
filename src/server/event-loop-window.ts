/**
 * How busy and how late this thread's event loop has been over a window of time: the delay of a
 * sampling timer (perf_hooks.monitorEventLoopDelay) and the share of time spent running code
 * (performance.eventLoopUtilization). The loop that decodes frames also feeds /ticks, so its
 * delay is what a tick waits before it is sent.
 */
import { type EventLoopUtilization, type IntervalHistogram, monitorEventLoopDelay, performance } from 'node:perf_hooks';

/** Node's default sampling interval; a finer one wakes the loop more often for little gain. */
const RESOLUTION_MS = 10;

export interface EventLoopFigures {
  /** Length of the window the figures cover. */
  windowMs: number;
  /** Delay beyond the sampling interval, ms: 0 on an idle loop, the length of a block at worst. */
  delayP50Ms: number;
  delayP99Ms: number;
  delayMaxMs: number;
  /** Share of the window the loop spent running code (0..1). */
  utilisation: number;
}

const round3 = (n: number) => Math.round(n * 1000) / 1000;

export class EventLoopWindow {
  private readonly histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  private elu: EventLoopUtilization = performance.eventLoopUtilization();
  private startedAt = performance.now();

  /** `onRestart`: called each time the window starts afresh, for figures kept over the same window. */
  constructor(private readonly onRestart?: () => void) {
    // The histogram's timer is unref'd by Node: it never keeps the process alive.
    this.histogram.enable();
  }

  /**
   * The figures since the window began. The window then starts afresh, unless it is younger
   * than `minWindowMs`: frequent readers (a page polling /state) then see it grow to that length
   * instead of cutting it into slices too short to mean much.
   */
  take(minWindowMs = 0): EventLoopFigures {
    const now = performance.now();
    const windowMs = now - this.startedAt;
    const h = this.histogram;
    // Each sample is the timer's whole interval; the delay is what exceeds it (as
    // @fastify/under-pressure computes it). No sample at all: the loop was blocked for the window
    // but for its first two beats (the first after a reset records nothing), or the window is short.
    const beyond = (ns: number) => round3(h.count > 0 ? Math.max(0, ns / 1e6 - RESOLUTION_MS) : Math.max(0, windowMs - 2 * RESOLUTION_MS));
    const figures: EventLoopFigures = {
      windowMs: Math.round(windowMs),
      delayP50Ms: beyond(h.percentile(50)),
      delayP99Ms: beyond(h.percentile(99)),
      delayMaxMs: beyond(h.max),
      utilisation: round3(performance.eventLoopUtilization(this.elu).utilization),
    };
    if (windowMs >= minWindowMs) {
      // reset() also restarts the timer's clock: the first beat of the new window records
      // nothing, so a block that starts within 10 ms of the boundary is not seen as delay
      // (utilisation still counts it).
      h.reset();
      this.elu = performance.eventLoopUtilization();
      this.startedAt = now;
      this.onRestart?.();
    }
    return figures;
  }

  stop(): void {
    this.histogram.disable();
  }
}
