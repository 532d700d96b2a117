/**
 * The live /ticks messages of one DecodedFrame, written as complete websocket text frames (RFC
 * 6455: FIN, opcode 1, unmasked; valid only without permessage-deflate, which /ticks does not
 * negotiate) back to back into one Buffer: the bytes a '*' client is sent, in as few writes as
 * the slow-client policy allows; each update's message a view into them for the bus, and copied
 * for the clients of some keys (fanout.ts).
 *
 * Why not tickJson + textFrame per update: building the JSON as a chain of string pieces, then
 * flattening it (Buffer.byteLength) and converting it to UTF-8 (Buffer.write), and concatenating
 * the frames took ~45% of the main thread in the e2e profile at 10,000 updates/s (issue 13).
 * Here numbers are written as ASCII digits straight into the Buffer (src/ascii-bytes.ts), and the per-key head
 * (`{"type":"tick","key":...,"symbol":...,"ts":`) and the candle intervals are bytes built once.
 * The bytes are exactly `tickJson(u, false, symbolField)`'s (test/unit/tick-frames.test.ts holds
 * them equal for any update, and holds the number writer equal to `String(n)`).
 */
import { type Candle, FeedKind, type TickUpdate } from '../upstox/feed-types.js';
import { SLACK, type Text, put, text, writeNumber } from '../ascii-bytes.js';

/** Upper bound of one `,"name":value` pair: a name up to `,"bid_price_30":` (16 bytes) and a number of up to 25 chars. */
const FIELD_MAX = 48;

const name = text;
const LTP = name(',"ltp":');
const LTT = name(',"ltt":');
const LTQ = name(',"ltq":');
const CP = name(',"cp":');
const ATP = name(',"atp":');
const VTT = name(',"vtt":');
const OI = name(',"oi":');
const IV = name(',"iv":');
const TBQ = name(',"tbq":');
const TSQ = name(',"tsq":');
const DELTA = name(',"delta":');
const THETA = name(',"theta":');
const GAMMA = name(',"gamma":');
const VEGA = name(',"vega":');
const RHO = name(',"rho":');
const CANDLES = name(',"candles":[');
const HIGH = name(',"high":');
const LOW = name(',"low":');
const CLOSE = name(',"close":');
const VOLUME = name(',"volume":');
const TS = name(',"ts":');

/** `,"bid_qty_N":`, `,"bid_price_N":`, `,"ask_qty_N":`, `,"ask_price_N":` of level N at [4(N-1) .. 4(N-1)+3], built as needed. */
const LEVEL_NAMES: Text[] = [];
function levelName(i: number): Text {
  let n = LEVEL_NAMES[i];
  if (n === undefined) {
    const level = (i >> 2) + 1;
    n = name(`,"${['bid_qty', 'bid_price', 'ask_qty', 'ask_price'][i & 3]}_${level}":`);
    if (i < 4000) LEVEL_NAMES[i] = n;
  }
  return n;
}

/** `{"interval":"I1","open":` per interval ('I1', '1d', ...), built once (bounded: intervals are few). */
const candleHeads = new Map<string, Text>();
function candleHead(interval: string): Text {
  let head = candleHeads.get(interval);
  if (head === undefined) {
    head = text('{"interval":' + JSON.stringify(interval) + ',"open":');
    if (candleHeads.size < 1000) candleHeads.set(interval, head);
  }
  return head;
}

/** The most bytes `u`'s message may take after its head (a bound, not an estimate). */
function maxBytes(u: TickUpdate): number {
  let n = 16 * FIELD_MAX + u.depth.length * FIELD_MAX + 64;
  const c = u.candles;
  // A candle's head: `{"interval":"..","open":` with at most 6 bytes per UTF-16 unit (`\u001f`; UTF-8 takes at most 3).
  if (c !== null) for (let i = 0; i < c.length; i++) n += 6 * FIELD_MAX + 64 + 6 * c[i].interval.length;
  return n;
}

/** `u`'s message after its head: the fields of its feed kind, depth, greeks, candles, and `}`. */
function writeBody(b: DataView, p: number, u: TickUpdate): number {
  p = writeNumber(b, p, u.ts);
  p = writeNumber(b, put(b, p, LTP), u.ltp);
  p = writeNumber(b, put(b, p, LTT), u.ltt);
  p = writeNumber(b, put(b, p, LTQ), u.ltq);
  p = writeNumber(b, put(b, p, CP), u.cp);
  const kind = u.kind;
  if (kind === FeedKind.MarketFull) {
    p = writeNumber(b, put(b, p, ATP), u.atp);
    p = writeNumber(b, put(b, p, VTT), u.vtt);
    p = writeNumber(b, put(b, p, OI), u.oi);
    p = writeNumber(b, put(b, p, IV), u.iv);
    p = writeNumber(b, put(b, p, TBQ), u.tbq);
    p = writeNumber(b, put(b, p, TSQ), u.tsq);
  } else if (kind === FeedKind.FirstLevelGreeks) {
    p = writeNumber(b, put(b, p, VTT), u.vtt);
    p = writeNumber(b, put(b, p, OI), u.oi);
    p = writeNumber(b, put(b, p, IV), u.iv);
  }
  const d = u.depth;
  // Whole levels only, as tickJson writes them.
  const n = d.length & ~3;
  for (let i = 0; i < n; i++) p = writeNumber(b, put(b, p, levelName(i)), d[i]);
  const g = u.greeks;
  if (g !== null) {
    p = writeNumber(b, put(b, p, DELTA), g.delta);
    p = writeNumber(b, put(b, p, THETA), g.theta);
    p = writeNumber(b, put(b, p, GAMMA), g.gamma);
    p = writeNumber(b, put(b, p, VEGA), g.vega);
    p = writeNumber(b, put(b, p, RHO), g.rho);
  }
  const c = u.candles;
  if (c !== null && c.length > 0) {
    p = put(b, p, CANDLES);
    for (let i = 0; i < c.length; i++) {
      if (i > 0) b.setUint8(p++, 0x2c);
      p = writeCandle(b, p, c[i]);
    }
    b.setUint8(p++, 0x5d);
  }
  b.setUint8(p++, 0x7d);
  return p;
}

function writeCandle(b: DataView, p: number, k: Candle): number {
  p = writeNumber(b, put(b, p, candleHead(k.interval)), k.open);
  p = writeNumber(b, put(b, p, HIGH), k.high);
  p = writeNumber(b, put(b, p, LOW), k.low);
  p = writeNumber(b, put(b, p, CLOSE), k.close);
  p = writeNumber(b, put(b, p, VOLUME), k.volume);
  p = writeNumber(b, put(b, p, TS), k.ts);
  b.setUint8(p++, 0x7d);
  return p;
}

/** `{"type":"tick","key":"NSE_EQ|...","symbol":"...","ts":`: a live tick's bytes up to its time. */
export function tickHead(key: string, symbolField: string): Text {
  return text('{"type":"tick","key":' + JSON.stringify(key) + symbolField + ',"ts":');
}

const EMPTY = Buffer.alloc(0);

/**
 * One frame's messages. Reused from frame to frame, except `buf`: a fresh Buffer per frame,
 * since its bytes (and views of them) are queued on sockets and handed to the bus.
 */
export class TickFrames {
  buf: Buffer = EMPTY;
  private view = new DataView(EMPTY.buffer, EMPTY.byteOffset, 0);
  /** Bytes written to `buf`. */
  bytes = 0;
  /** Frames written this frame; frame i is `buf[starts[i], ends[i])`, its payload from `payloads[i]`. */
  count = 0;
  private starts = new Int32Array(256);
  private payloads = new Int32Array(256);
  private ends = new Int32Array(256);
  /** The previous frame's size: the first guess for the next one's. */
  private lastBytes = 64 * 1024;

  /** Starts a frame of (up to) `updates` messages. */
  begin(updates: number): void {
    if (updates > this.starts.length) {
      const n = Math.max(updates, this.starts.length * 2);
      this.starts = new Int32Array(n);
      this.payloads = new Int32Array(n);
      this.ends = new Int32Array(n);
    }
    // Allocated by the first add(): a frame nobody wants a message of costs no Buffer.
    this.buf = EMPTY;
    this.view = new DataView(EMPTY.buffer, EMPTY.byteOffset, 0);
    this.bytes = 0;
    this.count = 0;
  }

  /** Appends `u`'s message as a websocket text frame; `head` from tickHead(). Returns its index. */
  add(u: TickUpdate, head: Text): number {
    // Header (up to 10 bytes) + head + body.
    this.reserve(10 + head.length + maxBytes(u) + SLACK);
    const out = this.buf;
    const start = this.bytes;
    // Most messages are 126..65535 bytes long: a 4-byte header; the others move the payload.
    let payload = start + 4;
    let at = writeBody(this.view, put(this.view, payload, head), u);
    const len = at - payload;
    if (len < 126) {
      out.copyWithin(start + 2, payload, at);
      at -= 2;
      payload -= 2;
      out[start] = 0x81;
      out[start + 1] = len;
    } else if (len < 65_536) {
      out[start] = 0x81;
      out[start + 1] = 126;
      out[start + 2] = len >>> 8;
      out[start + 3] = len & 0xff;
    } else {
      out.copyWithin(start + 10, payload, at);
      at += 6;
      payload += 6;
      out[start] = 0x81;
      out[start + 1] = 127;
      out.writeUInt32BE(Math.floor(len / 2 ** 32), start + 2);
      out.writeUInt32BE(len >>> 0, start + 6);
    }
    const i = this.count++;
    this.starts[i] = start;
    this.payloads[i] = payload;
    this.ends[i] = at;
    this.bytes = at;
    return i;
  }

  /** Ends the frame: its size guides the next frame's first Buffer. */
  end(): void {
    if (this.bytes > 0) this.lastBytes = this.bytes;
  }

  start(i: number): number {
    return this.starts[i];
  }

  endOf(i: number): number {
    return this.ends[i];
  }

  /** Frame i: header and payload, what goes on the wire. */
  wire(i: number): Buffer {
    return this.buf.subarray(this.starts[i], this.ends[i]);
  }

  /** Frame i's payload alone (the JSON), for ws.send and the bus. */
  payload(i: number): Buffer {
    return this.buf.subarray(this.payloads[i], this.ends[i]);
  }

  private reserve(n: number): void {
    const need = this.bytes + n;
    if (need <= this.buf.length) return;
    let size = this.buf.length > 0 ? this.buf.length * 2 : Math.max(4096, Math.ceil(this.lastBytes * 1.25));
    while (size < need) size *= 2;
    // A new Buffer, never a reused one: views of the earlier messages may already be queued.
    const grown = Buffer.allocUnsafe(size);
    this.buf.copy(grown, 0, 0, this.bytes);
    this.buf = grown;
    this.view = new DataView(grown.buffer, grown.byteOffset, grown.length);
  }
}
