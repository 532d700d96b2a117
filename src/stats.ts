/**
 * Monotonic counters of the data plane. One mutable object, incremented in place by the code that
 * sees the event (no events, no locks: Node is single-threaded). `/state` and `/metrics` read it.
 */
export class Stats {
  /** Websocket frames received from Upstox (valid or not). */
  framesReceived = 0;
  /** Per-instrument updates decoded from those frames. */
  updatesReceived = 0;
  /** Frames that failed to decode; counted, logged at a bounded rate, skipped. */
  decodeErrors = 0;
  /** Points InfluxDB acknowledged (2xx), live or drained. */
  pointsWritten = 0;
  /** Points appended to the spool because they could not be written (yet). */
  pointsSpooled = 0;
  /** Points replayed from the spool and acknowledged. */
  pointsDrained = 0;
  /** Points InfluxDB rejected as invalid, kept in the dead-letter table. */
  pointsDeadLettered = 0;
  /** Points removed from a full spool by the spool's size policy (never silently). */
  pointsDroppedSpoolFull = 0;

  // The conservation law: whenever no write is in flight,
  // pointsBuilt = pointsLanded + pointsBuffered + spool.pendingPoints + pointsDeadLettered + Σ pointsDropped*.
  /** Points built from the feed, plus those found waiting in the spool at start (built by an earlier run). */
  pointsBuilt = 0;
  /** Of pointsBuilt, the points found in the spool when it was opened. */
  pointsRecoveredAtStart = 0;
  /** Points InfluxDB acknowledged, each once: counted when their spool row (or memory batch) is retired. */
  pointsLanded = 0;
  /** Points in memory, not yet in the spool: the batch being built and batches the spool could not take (a gauge). */
  pointsBuffered = 0;
  /** Points dropped because the spool could not be written (disk full, read-only) and the memory bound was reached. */
  pointsDroppedDiskFull = 0;
  /** Points still in memory (the spool unwritable) when the process stopped. */
  pointsDroppedShutdown = 0;
  /** Dead letters deleted to keep the table within DEAD_LETTER_MAX (the points were already counted as dead-lettered). */
  deadLettersPruned = 0;
  /**
   * Updates not handed to storage because the storage worker's queue was past STORAGE_QUEUE_MAX_MB
   * (the worker stalled), or because it had failed or was closing: /ticks still had them, InfluxDB will not. Never built, so outside the
   * conservation law of points; said at error level and in /ready.
   */
  updatesDroppedStorageQueue = 0;
  /**
   * Candle copies merged into the point their batch already held for the same candle (series and
   * timestamp): InfluxDB would have kept only the last of them, so each batch writes a candle once.
   * Not points (never built), so outside the conservation law.
   */
  candleUpdatesMerged = 0;
  /** Feed reconnects after a lost socket, stale feed or rejected token. */
  reconnects = 0;
  /** Messages to /ticks clients skipped by conflation or lost when a slow client was dropped. */
  wsMessagesDropped = 0;
  /** /ticks clients disconnected for being too slow. */
  wsClientsDropped = 0;

  toJSON(): Record<string, number> {
    return { ...this } as unknown as Record<string, number>;
  }

  /** Σ pointsDropped<Reason>: every named drop counter. */
  droppedTotal(): number {
    return this.pointsDroppedSpoolFull + this.pointsDroppedDiskFull + this.pointsDroppedShutdown;
  }

  /** pointsBuilt minus where every point is: 0 when the law holds (and no write is in flight). */
  unaccounted(pendingPoints: number): number {
    return this.pointsBuilt - (this.pointsLanded + this.pointsBuffered + pendingPoints + this.pointsDeadLettered + this.droppedTotal());
  }
}
