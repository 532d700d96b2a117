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
  /** Feed reconnects after a lost socket, stale feed or rejected token. */
  reconnects = 0;
  /** Messages to /ticks clients skipped by conflation or lost when a slow client was dropped. */
  wsMessagesDropped = 0;
  /** /ticks clients disconnected for being too slow. */
  wsClientsDropped = 0;

  toJSON(): Record<string, number> {
    return { ...this } as unknown as Record<string, number>;
  }
}
