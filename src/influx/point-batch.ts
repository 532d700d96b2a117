/**
 * A batch of line protocol written straight into one growable Buffer: the bytes that are spooled
 * (one BLOB) and sent (the request body) as they are. Lines are separated by `\n` (no trailing
 * newline), so the body is byte for byte what `lines.join('\n')` gave before.
 *
 * Why bytes and not an array of strings: each line was a chain of concatenated string pieces that
 * `join` had to flatten, and the joined text was converted again by SQLite and by the HTTP client;
 * at 20,000 updates/s that was ~30% of the service's CPU and most of its garbage (issue 13).
 *
 * The writers below keep a cursor in module state (`out`, `at`) for the duration of one point:
 * the builder reserves the point's worst-case size first, so they never check bounds.
 */

import { SLACK, type Text, put, text, writeNumber } from '../ascii-bytes.js';
import type { Candle } from '../upstox/feed-types.js';

const NL = 0x0a;
const SPACE = 0x20;

/**
 * A candle point held back until its batch is sealed. The feed repeats each candle (the day's, the
 * minute's) in every update of its instrument, each time with the latest values, and InfluxDB keeps
 * only the last write of a series at a timestamp (field by field): every earlier copy in a batch
 * would be written, spooled and sent only to be overwritten. So the first copy takes a place in the
 * batch and later copies update it in place (line-protocol.ts); at 50 updates per instrument per
 * second that turns 3 points per update into about 1 (issue 13), and InfluxDB ends up with exactly
 * what the copies would have left (test/unit/line-protocol-bytes.test.ts).
 */
export interface HeldCandle extends Omit<Candle, 'interval'> {
  /** The batch holding it; null once written (sealed), when it can no longer change. */
  batch: PointBatch | null;
  /** `candle,<tags>` of its series (the interval among them). */
  prefix: Buffer;
}

/**
 * Buffers of batches already spooled, for the next batches: spooling copies a batch's bytes into
 * SQLite, and a fresh megabyte-sized Buffer per flush is external memory that makes V8 collect
 * more often.
 */
const spare: Buffer[] = [];
const SPARE_MAX = 4;

/** A Buffer nothing reads any more, for the next batches (when it is big enough to be worth keeping). */
function giveBack(buf: Buffer): void {
  if (buf.length >= 64 * 1024 && spare.length < SPARE_MAX) spare.push(buf);
}

/**
 * Sizes above 64 KiB rounded up to 256 KiB: a batch is sized like the previous one plus an eighth,
 * and a given-back Buffer of a similar batch then fits the next, rather than missing by a few bytes.
 */
function roundSize(n: number): number {
  return n <= 64 * 1024 ? n : Math.ceil(n / (256 * 1024)) * 256 * 1024;
}

/** A DataView of a Buffer (all of it), for the word stores of ascii-bytes.ts. */
function viewOf(b: Buffer): DataView {
  return new DataView(b.buffer, b.byteOffset, b.length);
}

export class PointBatch {
  buf: Buffer;
  /** `buf` as a DataView, made when `buf` is. */
  view: DataView;
  /** Bytes used in `buf`. */
  bytes = 0;
  points = 0;
  firstTs = Number.POSITIVE_INFINITY;
  lastTs = Number.NEGATIVE_INFINITY;
  readonly keys = new Set<string>();
  /** Candle points held back until seal(), in the order they were first seen (see HeldCandle). */
  readonly held: HeldCandle[] = [];
  /** keepBytes() was called for `buf`. */
  private bytesKept = false;

  /** `capacity`: a first guess of the size (the previous batch's, say); it grows by doubling. */
  constructor(capacity = 64 * 1024) {
    const size = roundSize(Math.max(1024, capacity));
    const i = spare.findIndex((b) => b.length >= size);
    this.buf = i >= 0 ? spare.splice(i, 1)[0] : Buffer.allocUnsafe(size);
    this.view = viewOf(this.buf);
  }

  /**
   * Something keeps a view of the bytes (the spool, to send them without reading them back from
   * SQLite): recycle() must not hand them to another batch. Returns how to give the Buffer back
   * once nothing reads it any more (the spool calls it when the row is deleted after InfluxDB took
   * it): then the next batches are built in it. Without that, each batch was a fresh Buffer of
   * megabytes, promoted before its row was retired; in the storage worker, whose heap is ~8 MB,
   * that external memory started a full GC every second or two.
   */
  keepBytes(): () => void {
    this.bytesKept = true;
    const buf = this.buf;
    return () => giveBack(buf);
  }

  /**
   * Hands the batch's buffer to the next batches, unless keepBytes() was called: then it only lets
   * go of it. Only for a batch nothing reads any more but through keepBytes (its bytes copied into
   * the spool, no request sending them); the batch is empty afterwards.
   */
  recycle(): void {
    if (!this.bytesKept) giveBack(this.buf);
    this.bytesKept = false;
    this.buf = Buffer.alloc(0);
    this.view = viewOf(this.buf);
    this.bytes = 0;
    this.points = 0;
  }

  /** Makes room for `n` more bytes. */
  reserve(n: number): void {
    const need = this.bytes + n;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.buf.copy(grown, 0, 0, this.bytes);
    this.buf = grown;
    this.view = viewOf(grown);
  }

  /** Counts a point whose bytes were just written. */
  counted(ts: number): void {
    this.points++;
    if (ts < this.firstTs) this.firstTs = ts;
    if (ts > this.lastTs) this.lastTs = ts;
  }

  /** Appends one whole line of text (feed_gap records, lines built elsewhere). */
  add(line: string, ts: number): void {
    this.reserve(line.length * 3 + 1);
    if (this.points > 0) this.buf[this.bytes++] = NL;
    this.bytes += this.buf.write(line, this.bytes, 'utf8');
    this.counted(ts);
  }

  /**
   * Writes the held candles (with their latest values) after the points already written; a held
   * candle's later copies no longer merge into it. Called before the batch is counted, spooled or
   * sent; body() calls it too, so nothing can read a batch with candles still held.
   */
  seal(): void {
    const held = this.held;
    for (let i = 0; i < held.length; i++) {
      const h = held[i];
      h.batch = null;
      beginPoint(this, h.prefix.length + 24 + 5 * FIELD_MAX);
      writeBytes(h.prefix);
      writeByte(SPACE);
      floatField(OPEN, h.open);
      floatField(HIGH, h.high);
      floatField(LOW, h.low);
      floatField(CLOSE, h.close);
      intField(VOLUME, h.volume);
      writeByte(SPACE);
      // Microseconds, exactly ts·1000: a candle's updates (and its backfilled copy) replace each other.
      writeNumberText(h.ts * 1000);
      endPoint(this, h.ts);
    }
    held.length = 0;
  }

  /** The line protocol: a view of the bytes written (no copy). Seals the batch first. */
  body(): Buffer {
    if (this.held.length > 0) this.seal();
    return this.buf.subarray(0, this.bytes);
  }

  /** The lines as strings: for tests and diagnostics, never on the hot path. */
  toLines(): string[] {
    return this.points === 0 ? [] : this.body().toString('utf8').split('\n');
  }
}

const OPEN = text('open=');
const HIGH = text('high=');
const LOW = text('low=');
const CLOSE = text('close=');
const VOLUME = text('volume=');

// ---- the cursor and its writers (one point at a time) ----

let out: Buffer = Buffer.alloc(0);
let view: DataView = viewOf(out);
let at = 0;
/** A field was written in the current point: the next one needs a comma. */
let fieldWritten = false;

/** Starts writing a point into `b` (room for `max` bytes): the line separator, then the caller's parts. */
export function beginPoint(b: PointBatch, max: number): number {
  // SLACK: the word stores of ascii-bytes.ts may write up to 3 bytes past their text.
  b.reserve(max + 1 + SLACK);
  out = b.buf;
  view = b.view;
  at = b.bytes;
  if (b.points > 0) out[at++] = NL;
  fieldWritten = false;
  return at;
}

/** Ends the point: commits the bytes written to `b` (a point never ended leaves no trace: `b.bytes` only moves here). */
export function endPoint(b: PointBatch, ts: number): void {
  b.bytes = at;
  b.counted(ts);
}

/** Whether the point being written has a field (a point with none is not written). */
export function hasField(): boolean {
  return fieldWritten;
}

export function writeBytes(src: Uint8Array): void {
  out.set(src, at);
  at += src.length;
}

/** Writes ASCII text (names, number strings) a char at a time: cheaper than a call into C++ for short strings. */
export function writeAscii(s: string): void {
  for (let i = 0; i < s.length; i++) out[at++] = s.charCodeAt(i);
}

export function writeByte(c: number): void {
  out[at++] = c;
}

/** Text that may not be ASCII (string field values). The caller reserved 3 bytes per char. */
export function writeUtf8(s: string): void {
  at += out.write(s, at, 'utf8');
}

/**
 * A number exactly as `String(v)` writes it, the digits straight into the buffer where that pays
 * (safe integers, whole paise), `String(v)` otherwise: ascii-bytes.ts writeNumber, shared with the
 * /ticks messages (which write JSON's `null` for what is not finite; here String's text, though
 * the fields below never write such a number: InfluxDB takes no NaN or Infinity). A property test
 * (test/unit/line-protocol-bytes.test.ts) holds it equal to String(v).
 */
export function writeNumberText(v: number): void {
  if (Number.isFinite(v)) at = writeNumber(view, at, v);
  else writeAscii(String(v));
}

/** `,name=v` (no comma before the first field), skipping a non-finite v. `name` includes the `=`. */
export function floatField(name: Text, v: number): void {
  if (!Number.isFinite(v)) return;
  if (fieldWritten) out[at++] = 0x2c;
  fieldWritten = true;
  at = writeNumber(view, put(view, at, name), v);
}

/** `,name=<trunc(v)>i`, skipping a non-finite v. `name` includes the `=`. */
export function intField(name: Text, v: number): void {
  if (!Number.isFinite(v)) return;
  if (fieldWritten) out[at++] = 0x2c;
  fieldWritten = true;
  at = writeNumber(view, put(view, at, name), Math.trunc(v));
  out[at++] = 0x69;
}

/** Upper bound of the bytes one field takes: comma, a name up to 16 bytes, `=`, a number of up to 25 chars, `i`. */
export const FIELD_MAX = 48;
