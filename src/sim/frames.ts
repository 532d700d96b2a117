/**
 * Whole `FeedResponse` frames: timestamps, encoding, market_info, and deliberately broken bytes.
 */
import { MARKET_STATUS_NAMES } from '../upstox/feed-types.js';
import { feedSchema } from '../upstox/proto-schema.js';

export const TYPE_INITIAL_FEED = 0;
export const TYPE_LIVE_FEED = 1;
export const TYPE_MARKET_INFO = 2;

/**
 * currentTs source, strictly increasing across every frame of one simulator: the service writes
 * one InfluxDB point per (key, currentTs), so two frames sharing a millisecond would merge their
 * points. When frames come faster than the clock ticks, the timestamp runs ahead by 1 ms each.
 */
export class FrameClock {
  private last = 0;
  constructor(private readonly now: () => number = Date.now) {}

  next(): number {
    const t = this.now();
    this.last = t > this.last ? t : this.last + 1;
    return this.last;
  }
}

/**
 * Encodes a plain FeedResponse. It goes straight to `FeedResponse.encode` (skipping the
 * `fromObject` pass of encodeFeedResponse) because the simulator builds exact wire shapes:
 * numbers for enums and int64, defaults already left out.
 */
export function encodeFrame(type: number, currentTs: number, feeds?: Record<string, unknown>, marketInfo?: unknown): Buffer {
  const msg: Record<string, unknown> = { currentTs };
  // initial_feed is type 0, the proto3 default, so absent on the wire as on the real feed.
  if (type !== TYPE_INITIAL_FEED) msg.type = type;
  if (feeds) msg.feeds = feeds;
  if (marketInfo) msg.marketInfo = marketInfo;
  const bytes = feedSchema().FeedResponse.encode(msg).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * A frame of `feeds` whose currentTs is taken from `clock` after the feeds are encoded, the moment
 * before it is sent: encoding a large frame (about 1 ms for 200 full-mode instruments) is the
 * simulator's work, and counting it would charge it to the latency of the service receiving the
 * frame. Concatenated protobuf messages merge field by field, so the feeds (field 2) are encoded
 * alone and the type (1) and currentTs (3) around them: the bytes are exactly encodeFrame's.
 */
export function encodeStampedFrame(type: number, feeds: Record<string, unknown>, clock: FrameClock): { frame: Buffer; ts: number } {
  const { FeedResponse } = feedSchema();
  const body = FeedResponse.encode({ feeds }).finish();
  const ts = clock.next();
  const head = type === TYPE_INITIAL_FEED ? EMPTY : FeedResponse.encode({ type }).finish();
  const tail = FeedResponse.encode({ currentTs: ts }).finish();
  return { frame: Buffer.concat([head, body, tail]), ts };
}
const EMPTY = new Uint8Array(0);

/** Throws a TypeError naming the bad value when a status is not a V3 MarketStatus name. */
export function statusCode(segment: string, status: string): number {
  const code = (MARKET_STATUS_NAMES as readonly string[]).indexOf(status);
  if (code < 0)
    throw new TypeError(`unknown market status ${JSON.stringify(status)} for ${segment}; use one of ${MARKET_STATUS_NAMES.join(', ')}`);
  return code;
}

export function marketInfoFrame(currentTs: number, status: ReadonlyMap<string, string>): Buffer {
  const segmentStatus: Record<string, number> = {};
  for (const [segment, name] of status) segmentStatus[segment] = statusCode(segment, name);
  return encodeFrame(TYPE_MARKET_INFO, currentTs, undefined, { segmentStatus });
}

/**
 * Bytes that are not a FeedResponse: they start with field number 0, which no protobuf
 * message may contain, so any decoder must reject them (a truncated valid frame would not do:
 * some truncations still parse).
 */
export function malformedFrame(n: number): Buffer {
  return Buffer.from([0x00, 0x07, 0xff, n & 0xff, ...Buffer.from('not a FeedResponse')]);
}
