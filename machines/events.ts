/**
 * Events that cross between the four actors. Each child sends them to its parent (the root
 * machine in pipeline.ts) with `sendParent`; the root routes them on. Data-plane outcomes arrive
 * already aggregated (at most a few per second): ticks never travel as events.
 *
 *   sender       event          receiver(s)            why
 *   connection   FEED_UP        writer                 the feed streams again
 *   connection   FEED_DOWN      writer                 flush what is buffered now rather than later
 *   writer       INFLUX_UP      drainer                the backlog may be replayed
 *   writer       INFLUX_DOWN    drainer                stop replaying; everything goes to the spool
 *   writer       LANDED         notifier               points InfluxDB acknowledged (live or drained)
 */

export interface FeedUpEvent {
  type: 'FEED_UP';
}
export interface FeedDownEvent {
  type: 'FEED_DOWN';
  reason: string;
}
export interface InfluxUpEvent {
  type: 'INFLUX_UP';
}
export interface InfluxDownEvent {
  type: 'INFLUX_DOWN';
  reason: string;
  /** Stable error code, e.g. INFLUX_UNAVAILABLE, INFLUX_UNAUTHORIZED. */
  code: string;
}
/** What landed in InfluxDB since the previous LANDED. */
export interface LandedEvent {
  type: 'LANDED';
  points: number;
  /** Smallest and largest point timestamp (ms) among them. */
  firstTs: number;
  lastTs: number;
  /** Instrument keys among them (deduplicated). */
  keys: string[];
}

export type PipelineEvent = FeedUpEvent | FeedDownEvent | InfluxUpEvent | InfluxDownEvent | LandedEvent;
