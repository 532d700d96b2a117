/**
 * The hot path: V3 `FeedResponse` bytes → plain per-instrument updates.
 *
 * Why not `FeedResponse.decode()` (static or reflection)? It allocates a message object for every
 * nested message (FullFeed, MarketFullFeed, LTPC, MarketLevel, five or thirty Quotes, OHLCs...)
 * and returns int64 as Long objects, which we then copy into the flat update anyway. Walking the
 * wire format once with protobufjs's own `Reader` and writing straight into the update is ~3x
 * faster (see test/bench/decode.bench.ts). Field numbers come from proto/MarketDataFeedV3.proto;
 * test/unit/codec.test.ts checks this walker against protobufjs's reflection decoder.
 */
import protobuf from 'protobufjs/minimal.js';
import { segmentOf as segmentFromKey } from '../../machines/rules/instrument-key.js';
import { FrameDecodeError } from '../errors.js';
import { type Candle, type DecodedFrame, FeedKind, type FrameType, type Greeks, MARKET_STATUS_NAMES, TickUpdate } from './feed-types.js';

type Reader = protobuf.Reader;
const { Reader } = protobuf;

const WT_VARINT = 0;
const WT_I64 = 1;
const WT_LEN = 2;
const TWO_POW_63 = 2 ** 63;
const TWO_POW_64 = 2 ** 64;

const segmentCache = new Map<string, string>();

/**
 * A DataView over the frame being decoded: `getFloat64` is a V8 intrinsic, several times faster
 * than protobufjs's byte-copying `ReadereadDouble(r)` (a quarter of the decode time in profiles).
 * Module state is safe: decoding is synchronous and never re-entrant.
 */
let view: DataView = new DataView(new ArrayBuffer(0));
/** Offset of the frame's first byte in `view` (ws hands us slices of pooled buffers). */
let base = 0;
/** One reader, re-pointed at each frame: saves an allocation per frame. */
const reader = Reader.create(Buffer.alloc(0));

function readDouble(r: Reader): number {
  const pos = r.pos;
  if (pos + 8 > r.len) throw new FrameDecodeError('truncated double');
  r.pos = pos + 8;
  return view.getFloat64(base + pos, true);
}

/** Decodes one frame; throws FrameDecodeError (never anything else) on malformed input. */
export function decodeFrame(bytes: Uint8Array): DecodedFrame {
  try {
    const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (view.buffer !== buf.buffer) view = new DataView(buf.buffer);
    base = buf.byteOffset;
    reader.buf = buf;
    reader.pos = 0;
    reader.len = buf.length;
    return readFeedResponse(reader);
  } catch (err) {
    if (err instanceof FrameDecodeError) throw err;
    throw new FrameDecodeError(`malformed FeedResponse (${bytes.length} bytes): ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** The instrument key's segment (machines/rules/instrument-key.ts), cached: keys repeat every frame. */
export function segmentOf(key: string): string {
  let seg = segmentCache.get(key);
  if (seg === undefined) {
    seg = segmentFromKey(key);
    if (segmentCache.size < 100_000) segmentCache.set(key, seg);
  }
  return seg;
}

function readFeedResponse(r: Reader): DecodedFrame {
  let type: FrameType = 0;
  let ts = 0;
  const updates: TickUpdate[] = [];
  let marketStatus: Record<string, string> | null = null;
  while (r.pos < r.len) {
    const tag = readTag(r);
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 1 && wt === WT_VARINT) type = r.uint32() as FrameType;
    else if (field === 2 && wt === WT_LEN) updates.push(readFeedEntry(r, r.uint32() + r.pos, updates.length));
    else if (field === 3 && wt === WT_VARINT) ts = readInt64(r);
    else if (field === 4 && wt === WT_LEN) marketStatus = readMarketInfo(r, r.uint32() + r.pos, marketStatus);
    else skip(r, field, wt);
  }
  for (let i = 0; i < updates.length; i++) updates[i].ts = ts;
  return { type, ts, updates, marketStatus };
}

/** A `map<string, Feed>` entry (the `index`-th of its frame): field 1 the key, field 2 the Feed. */
function readFeedEntry(r: Reader, end: number, index: number): TickUpdate {
  const u = new TickUpdate();
  while (r.pos < end) {
    const tag = readTag(r);
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 1 && wt === WT_LEN) u.key = readKey(r, index);
    else if (field === 2 && wt === WT_LEN) readFeed(r, r.uint32() + r.pos, u);
    else skip(r, field, wt);
  }
  checkEnd(r, end, 'feeds entry');
  if (u.key === '') throw new FrameDecodeError('feeds entry without an instrument key');
  u.segment = segmentOf(u.key);
  return u;
}

function readFeed(r: Reader, end: number, u: TickUpdate): void {
  while (r.pos < end) {
    const tag = readTag(r);
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 1 && wt === WT_LEN) {
      u.kind = FeedKind.Ltpc;
      readLtpc(r, r.uint32() + r.pos, u);
    } else if (field === 2 && wt === WT_LEN) readFullFeed(r, r.uint32() + r.pos, u);
    else if (field === 3 && wt === WT_LEN) {
      u.kind = FeedKind.FirstLevelGreeks;
      readFirstLevelWithGreeks(r, r.uint32() + r.pos, u);
    } else if (field === 4 && wt === WT_VARINT) u.requestMode = r.uint32();
    else skip(r, field, wt);
  }
  checkEnd(r, end, 'Feed');
}

function readFullFeed(r: Reader, end: number, u: TickUpdate): void {
  while (r.pos < end) {
    const tag = readTag(r);
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 1 && wt === WT_LEN) {
      u.kind = FeedKind.MarketFull;
      readMarketFullFeed(r, r.uint32() + r.pos, u);
    } else if (field === 2 && wt === WT_LEN) {
      u.kind = FeedKind.IndexFull;
      readIndexFullFeed(r, r.uint32() + r.pos, u);
    } else skip(r, field, wt);
  }
  checkEnd(r, end, 'FullFeed');
}

function readMarketFullFeed(r: Reader, end: number, u: TickUpdate): void {
  while (r.pos < end) {
    const tag = readTag(r);
    const field = tag >>> 3;
    const wt = tag & 7;
    switch (field) {
      case 1:
        expect(wt, WT_LEN, 'MarketFullFeed.ltpc');
        readLtpc(r, r.uint32() + r.pos, u);
        break;
      case 2:
        expect(wt, WT_LEN, 'MarketFullFeed.marketLevel');
        readMarketLevel(r, r.uint32() + r.pos, u);
        break;
      case 3:
        expect(wt, WT_LEN, 'MarketFullFeed.optionGreeks');
        u.greeks = readGreeks(r, r.uint32() + r.pos);
        break;
      case 4:
        expect(wt, WT_LEN, 'MarketFullFeed.marketOHLC');
        u.candles = readMarketOhlc(r, r.uint32() + r.pos);
        break;
      case 5:
        expect(wt, WT_I64, 'MarketFullFeed.atp');
        u.atp = readDouble(r);
        break;
      case 6:
        expect(wt, WT_VARINT, 'MarketFullFeed.vtt');
        u.vtt = readInt64(r);
        break;
      case 7:
        expect(wt, WT_I64, 'MarketFullFeed.oi');
        u.oi = readDouble(r);
        break;
      case 8:
        expect(wt, WT_I64, 'MarketFullFeed.iv');
        u.iv = readDouble(r);
        break;
      case 9:
        expect(wt, WT_I64, 'MarketFullFeed.tbq');
        u.tbq = readDouble(r);
        break;
      case 10:
        expect(wt, WT_I64, 'MarketFullFeed.tsq');
        u.tsq = readDouble(r);
        break;
      default:
        skip(r, field, wt);
    }
  }
  checkEnd(r, end, 'MarketFullFeed');
}

function readIndexFullFeed(r: Reader, end: number, u: TickUpdate): void {
  while (r.pos < end) {
    const tag = readTag(r);
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 1 && wt === WT_LEN) readLtpc(r, r.uint32() + r.pos, u);
    else if (field === 2 && wt === WT_LEN) u.candles = readMarketOhlc(r, r.uint32() + r.pos);
    else skip(r, field, wt);
  }
  checkEnd(r, end, 'IndexFullFeed');
}

function readFirstLevelWithGreeks(r: Reader, end: number, u: TickUpdate): void {
  while (r.pos < end) {
    const tag = readTag(r);
    const field = tag >>> 3;
    const wt = tag & 7;
    switch (field) {
      case 1:
        expect(wt, WT_LEN, 'FirstLevelWithGreeks.ltpc');
        readLtpc(r, r.uint32() + r.pos, u);
        break;
      case 2:
        expect(wt, WT_LEN, 'FirstLevelWithGreeks.firstDepth');
        u.depth = [];
        readQuote(r, r.uint32() + r.pos, u.depth);
        break;
      case 3:
        expect(wt, WT_LEN, 'FirstLevelWithGreeks.optionGreeks');
        u.greeks = readGreeks(r, r.uint32() + r.pos);
        break;
      case 4:
        expect(wt, WT_VARINT, 'FirstLevelWithGreeks.vtt');
        u.vtt = readInt64(r);
        break;
      case 5:
        expect(wt, WT_I64, 'FirstLevelWithGreeks.oi');
        u.oi = readDouble(r);
        break;
      case 6:
        expect(wt, WT_I64, 'FirstLevelWithGreeks.iv');
        u.iv = readDouble(r);
        break;
      default:
        skip(r, field, wt);
    }
  }
  checkEnd(r, end, 'FirstLevelWithGreeks');
}

function readLtpc(r: Reader, end: number, u: TickUpdate): void {
  while (r.pos < end) {
    const tag = readTag(r);
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 1 && wt === WT_I64) u.ltp = readDouble(r);
    else if (field === 2 && wt === WT_VARINT) u.ltt = readInt64(r);
    else if (field === 3 && wt === WT_VARINT) u.ltq = readInt64(r);
    else if (field === 4 && wt === WT_I64) u.cp = readDouble(r);
    else skip(r, field, wt);
  }
  checkEnd(r, end, 'LTPC');
}

function readMarketLevel(r: Reader, end: number, u: TickUpdate): void {
  const depth: number[] = [];
  while (r.pos < end) {
    const tag = readTag(r);
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 1 && wt === WT_LEN) readQuote(r, r.uint32() + r.pos, depth);
    else skip(r, field, wt);
  }
  checkEnd(r, end, 'MarketLevel');
  u.depth = depth;
}

/** Appends one level as `bidQ, bidP, askQ, askP` (absent fields are proto3 zeros). */
function readQuote(r: Reader, end: number, depth: number[]): void {
  let bidQ = 0;
  let bidP = 0;
  let askQ = 0;
  let askP = 0;
  while (r.pos < end) {
    const tag = readTag(r);
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 1 && wt === WT_VARINT) bidQ = readInt64(r);
    else if (field === 2 && wt === WT_I64) bidP = readDouble(r);
    else if (field === 3 && wt === WT_VARINT) askQ = readInt64(r);
    else if (field === 4 && wt === WT_I64) askP = readDouble(r);
    else skip(r, field, wt);
  }
  checkEnd(r, end, 'Quote');
  depth.push(bidQ, bidP, askQ, askP);
}

function readGreeks(r: Reader, end: number): Greeks {
  const g: Greeks = { delta: 0, theta: 0, gamma: 0, vega: 0, rho: 0 };
  while (r.pos < end) {
    const tag = readTag(r);
    const field = tag >>> 3;
    const wt = tag & 7;
    if (wt !== WT_I64 || field < 1 || field > 5) {
      skip(r, field, wt);
      continue;
    }
    const v = readDouble(r);
    if (field === 1) g.delta = v;
    else if (field === 2) g.theta = v;
    else if (field === 3) g.gamma = v;
    else if (field === 4) g.vega = v;
    else g.rho = v;
  }
  checkEnd(r, end, 'OptionGreeks');
  return g;
}

function readMarketOhlc(r: Reader, end: number): Candle[] {
  const candles: Candle[] = [];
  while (r.pos < end) {
    const tag = readTag(r);
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 1 && wt === WT_LEN) candles.push(readOhlc(r, r.uint32() + r.pos));
    else skip(r, field, wt);
  }
  checkEnd(r, end, 'MarketOHLC');
  return candles;
}

function readOhlc(r: Reader, end: number): Candle {
  const c: Candle = { interval: '', open: 0, high: 0, low: 0, close: 0, volume: 0, ts: 0 };
  while (r.pos < end) {
    const tag = readTag(r);
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 1 && wt === WT_LEN) c.interval = readShortString(r);
    else if (field === 2 && wt === WT_I64) c.open = readDouble(r);
    else if (field === 3 && wt === WT_I64) c.high = readDouble(r);
    else if (field === 4 && wt === WT_I64) c.low = readDouble(r);
    else if (field === 5 && wt === WT_I64) c.close = readDouble(r);
    else if (field === 6 && wt === WT_VARINT) c.volume = readInt64(r);
    else if (field === 7 && wt === WT_VARINT) c.ts = readInt64(r);
    else skip(r, field, wt);
  }
  checkEnd(r, end, 'OHLC');
  return c;
}

function readMarketInfo(r: Reader, end: number, into: Record<string, string> | null): Record<string, string> {
  const status = into ?? {};
  while (r.pos < end) {
    const tag = readTag(r);
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field !== 1 || wt !== WT_LEN) {
      skip(r, field, wt);
      continue;
    }
    const entryEnd = r.uint32() + r.pos;
    let segment = '';
    let code = 0;
    while (r.pos < entryEnd) {
      const t = r.uint32();
      if (t >>> 3 === 1 && (t & 7) === WT_LEN) segment = r.string();
      else if (t >>> 3 === 2 && (t & 7) === WT_VARINT) code = r.int32();
      else skip(r, t >>> 3, t & 7);
    }
    checkEnd(r, entryEnd, 'segmentStatus entry');
    status[segment] = MARKET_STATUS_NAMES[code] ?? `UNKNOWN_${code}`;
  }
  checkEnd(r, end, 'MarketInfo');
  return status;
}

/**
 * int64 varint → number. Exact up to 2^53, which covers every int64 Upstox sends (epoch ms,
 * quantities, volumes); avoids protobufjs's Long objects, which cost an allocation each.
 */
function readInt64(r: Reader): number {
  const buf = r.buf;
  const len = r.len;
  let pos = r.pos;
  // The first 28 bits with integer ops (most quantities fit), the rest with float arithmetic.
  let low = 0;
  for (let shift = 0; shift < 28; shift += 7) {
    if (pos >= len) throw new FrameDecodeError('truncated varint');
    const b = buf[pos++];
    low |= (b & 0x7f) << shift;
    if (b < 0x80) {
      r.pos = pos;
      return low;
    }
  }
  let result = low;
  let scale = 268_435_456; // 2^28
  for (let i = 4; i < 10; i++) {
    if (pos >= len) throw new FrameDecodeError('truncated varint');
    const b = buf[pos++];
    result += (b & 0x7f) * scale;
    if (b < 0x80) {
      r.pos = pos;
      return result >= TWO_POW_63 ? result - TWO_POW_64 : result;
    }
    scale *= 128;
  }
  throw new FrameDecodeError('varint longer than 10 bytes');
}

/**
 * Instrument keys already decoded, found again by their bytes: a feed sends the same few thousand
 * keys frame after frame. Reusing the string saves decoding a new one per update and, downstream,
 * hashing it afresh in every Map it is looked up in (the fan-out's, the storage's, segmentOf's).
 *
 * First the key the previous frame had at the same position (a byte comparison); then a hash
 * table of the bytes, since frames need not list keys in the same order: Upstox sends the
 * instruments that changed, and the simulator continues a rotation, so positions drift from
 * frame to frame (the position alone missed most keys in the e2e bench). A key not found is
 * decoded as usual and remembered; the table is bounded, a full probe run evicts its first entry.
 */
interface KnownKey {
  bytes: Uint8Array;
  key: string;
}
const keySlots: Array<KnownKey | undefined> = [];
/** Positions remembered: the largest V3 subscription. */
const KEY_SLOTS = 5000;
/** Open addressing, linear probing: twice the largest subscription, a power of two. */
const TABLE_SIZE = 16_384;
const PROBES = 8;
const keyTable: Array<KnownKey | undefined> = new Array<KnownKey | undefined>(TABLE_SIZE);

function sameBytes(known: Uint8Array, buf: Uint8Array, start: number, len: number): boolean {
  if (known.length !== len) return false;
  for (let i = 0; i < len; i++) if (known[i] !== buf[start + i]) return false;
  return true;
}

function readKey(r: Reader, index: number): string {
  const at = r.pos;
  const len = r.uint32();
  const start = r.pos;
  const end = start + len;
  if (end > r.len) throw new FrameDecodeError(`instrument key overruns the frame (${len} bytes at ${start})`);
  const buf = r.buf;
  const slot = keySlots[index];
  if (slot !== undefined && sameBytes(slot.bytes, buf, start, len)) {
    r.pos = end;
    return slot.key;
  }
  // FNV-1a over the bytes.
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i], 0x01000193);
  const home = (h >>> 0) & (TABLE_SIZE - 1);
  let free = -1;
  for (let p = 0; p < PROBES; p++) {
    const t = (home + p) & (TABLE_SIZE - 1);
    const known = keyTable[t];
    if (known === undefined) {
      free = t;
      break;
    }
    if (sameBytes(known.bytes, buf, start, len)) {
      if (index < KEY_SLOTS) keySlots[index] = known;
      r.pos = end;
      return known.key;
    }
  }
  // protobufjs's own UTF-8 reading, as before (it reads the length again: step back).
  r.pos = at;
  const key = r.string();
  // A copy: `buf` is the socket's, reused for later frames.
  const known: KnownKey = { bytes: new Uint8Array(buf.subarray(start, end)), key };
  keyTable[free >= 0 ? free : home] = known;
  if (index < KEY_SLOTS) keySlots[index] = known;
  return key;
}

/**
 * Candle intervals ('1d', 'I1', 'I30'...) repeat in every update: intern short ones by their bytes
 * instead of decoding a new string each time.
 */
const internedIntervals = new Map<number, string>();

function readShortString(r: Reader): string {
  const start = r.pos;
  const n = r.buf[start];
  if (n === undefined || n > 6 || start + 1 + n > r.len) return r.string();
  let code = n;
  for (let i = 0; i < n; i++) code = code * 256 + r.buf[start + 1 + i];
  let s = internedIntervals.get(code);
  if (s === undefined) {
    s = r.string();
    if (internedIntervals.size < 1000) internedIntervals.set(code, s);
    return s;
  }
  r.pos = start + 1 + n;
  return s;
}

/** A field's tag: one byte for every field number below 16, read here without a call into protobufjs. */
function readTag(r: Reader): number {
  const pos = r.pos;
  const b = r.buf[pos];
  if (b < 0x80 && pos < r.len) {
    r.pos = pos + 1;
    return b;
  }
  return r.uint32();
}

function skip(r: Reader, field: number, wt: number): void {
  if (field === 0) throw new FrameDecodeError(`invalid field number 0 at byte ${r.pos}`);
  if (wt === 4 || wt > 5) throw new FrameDecodeError(`invalid wire type ${wt} for field ${field} at byte ${r.pos}`);
  r.skipType(wt);
}

function expect(wt: number, want: number, what: string): void {
  if (wt !== want) throw new FrameDecodeError(`${what} has wire type ${wt}, expected ${want}`);
}

function checkEnd(r: Reader, end: number, what: string): void {
  if (r.pos !== end) throw new FrameDecodeError(`${what} overruns its length (at ${r.pos}, ends at ${end})`);
}
