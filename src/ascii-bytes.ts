/**
 * Writers of ASCII text straight into a Buffer, through a DataView: constant text as 32-bit words,
 * numbers as ASCII digits four a store, exactly as `String(n)` writes them. Both byte-built texts
 * use them: the /ticks JSON messages (fanout/tick-frames.ts; test/unit/tick-frames.test.ts holds
 * them equal) and the line protocol's field values (influx/point-batch.ts;
 * test/unit/line-protocol-bytes.test.ts).
 */

// ---- the writers: each writes at `p` and returns the position after what it wrote, through a
// DataView of the frame's Buffer (two or four bytes a store: JS stores a byte at a time cost
// ~1-2 ns each, and a message is ~800 bytes). The caller reserved room first, plus SLACK for the
// word stores that run past the end of what they write; so they never check bounds. Positions
// are locals, not module state: a module-level cursor is a context slot written back every time.

/** Bytes a word store may write past the end of its text. */
export const SLACK = 4;

/** Constant text (field names, heads) as little-endian 32-bit words, written four bytes a store. */
export interface Text {
  readonly words: Uint32Array;
  readonly length: number;
}

export function text(s: string): Text {
  const bytes = Buffer.from(s, 'utf8');
  const padded = Buffer.alloc(Math.ceil(bytes.length / 4) * 4);
  bytes.copy(padded);
  const words = new Uint32Array(padded.length / 4);
  for (let i = 0; i < words.length; i++) words[i] = padded.readUInt32LE(i * 4);
  return { words, length: bytes.length };
}

export function put(v: DataView, p: number, t: Text): number {
  const w = t.words;
  for (let i = 0; i < w.length; i++) v.setUint32(p + 4 * i, w[i], true);
  return p + t.length;
}

/** ASCII text (the few non-constant strings: String(v) of unusual numbers). */
function ascii(v: DataView, p: number, s: string): number {
  for (let i = 0; i < s.length; i++) v.setUint8(p++, s.charCodeAt(i));
  return p;
}

/** 0..9999 as ASCII digits without leading zeros, little-endian in a 32-bit word (one store), and their lengths. */
const DIGITS4 = new Uint32Array(10_000);
const DIGITS4_LEN = new Uint8Array(10_000);
/** 0000..9999, four digits with leading zeros: the lower parts of longer numbers. */
const PAD4 = new Uint32Array(10_000);
/** `.01`..`.99` as written after a whole part (a trailing zero dropped), one store; index: the cents. */
const CENTS = new Uint32Array(100);
for (let i = 0; i < 10_000; i++) {
  const s = String(i);
  DIGITS4_LEN[i] = s.length;
  for (let k = 0; k < s.length; k++) DIGITS4[i] |= s.charCodeAt(k) << (8 * k);
  const z = s.padStart(4, '0');
  for (let k = 0; k < 4; k++) PAD4[i] |= z.charCodeAt(k) << (8 * k);
}
for (let i = 1; i < 100; i++) {
  const s = `.${String(i).padStart(2, '0')}`;
  for (let k = 0; k < 3; k++) CENTS[i] |= s.charCodeAt(k) << (8 * k);
}

/** The digits of an integer 0 <= n < 2^31, four a store. */
function smallDigits(v: DataView, p: number, n: number): number {
  if (n < 10_000) {
    v.setUint32(p, DIGITS4[n], true);
    return p + DIGITS4_LEN[n];
  }
  if (n < 100_000_000) {
    const hi = (n / 10_000) | 0;
    v.setUint32(p, DIGITS4[hi], true);
    p += DIGITS4_LEN[hi];
    v.setUint32(p, PAD4[n - hi * 10_000], true);
    return p + 4;
  }
  const hi = (n / 100_000_000) | 0;
  const mid = ((n - hi * 100_000_000) / 10_000) | 0;
  v.setUint32(p, DIGITS4[hi], true);
  p += DIGITS4_LEN[hi];
  v.setUint32(p, PAD4[mid], true);
  v.setUint32(p + 4, PAD4[n - hi * 100_000_000 - mid * 10_000], true);
  return p + 8;
}

/** The digits of a safe integer n >= 0. */
function digits(v: DataView, p: number, n: number): number {
  if (n < 2147483648) return smallDigits(v, p, n);
  // n < 2^53, so hi < 2^31 and the division's error (< 1e-7 of a unit) cannot cross an integer.
  const hi = Math.floor(n / 1e8);
  const lo = n - hi * 1e8;
  p = smallDigits(v, p, hi);
  const mid = (lo / 10_000) | 0;
  v.setUint32(p, PAD4[mid], true);
  v.setUint32(p + 4, PAD4[lo - mid * 10_000], true);
  return p + 8;
}

/**
 * A number exactly as `String(v)` writes it (`null` when not finite, as JSON has no NaN): the
 * rules of json-number.ts, with the digits written straight into the Buffer.
 * - a safe integer: its digits (String writes no exponent below 1e21; -0 is "0");
 * - at most two decimals below 1e13 (prices in paise): when c = round(v·100) has c/100 === v, v
 *   is the double nearest c/100 and no other decimal of two places or fewer reads back as v, so
 *   c/100 without trailing zeros is the shortest text that round-trips: what String writes;
 * - anything else through String(v).
 */
export function writeNumber(b: DataView, p: number, v: number): number {
  if (Math.floor(v) === v && v <= Number.MAX_SAFE_INTEGER && v >= -Number.MAX_SAFE_INTEGER) {
    if (v < 0) {
      b.setUint8(p++, 0x2d);
      v = -v;
    }
    return digits(b, p, v);
  }
  const c = Math.round(v * 100);
  if (c / 100 !== v || !(c < 1e15 && c > -1e15)) return ascii(b, p, Number.isFinite(v) ? String(v) : 'null');
  let n = c;
  if (n < 0) {
    b.setUint8(p++, 0x2d);
    n = -n;
  }
  const whole = Math.floor(n / 100);
  const cents = n - whole * 100;
  p = digits(b, p, whole);
  // Not an integer, so cents > 0: `.` and two digits, the second dropped when it is a 0.
  b.setUint32(p, CENTS[cents], true);
  return cents % 10 === 0 ? p + 2 : p + 3;
}
