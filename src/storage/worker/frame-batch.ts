/**
 * Raw frames on their way to the storage worker, in the cheapest form main can hand over: the
 * bytes copied back to back into one buffer of its own, with an index of (end offset, receivedAt)
 * per frame. Both buffers are then transferred to the worker (moved, not cloned).
 *
 * Why copy at all: ws hands a frame as a Buffer that may be a view on a larger pooled
 * ArrayBuffer; posting it would clone (or, transferred, steal) the whole pool. One memcpy of the
 * frame is the cheapest safe hand-over, and it is all main does per frame for storage.
 */

/** The smallest buffers a batch starts with (a typical frame is a few KB). */
const MIN_BYTES = 64 * 1024;
const MIN_FRAMES = 64;

export interface TakenFrames {
  bytes: ArrayBuffer;
  index: ArrayBuffer;
  count: number;
  byteLength: number;
}

export class FrameBatch {
  private bytes = newBytes(MIN_BYTES);
  private used = 0;
  private index = new Float64Array(2 * MIN_FRAMES);
  private n = 0;

  get count(): number {
    return this.n;
  }

  get byteLength(): number {
    return this.used;
  }

  add(raw: Uint8Array, receivedAt: number): void {
    const end = this.used + raw.byteLength;
    if (end > this.bytes.byteLength) {
      const bigger = newBytes(pow2AtLeast(end));
      bigger.set(this.bytes.subarray(0, this.used));
      this.bytes = bigger;
    }
    this.bytes.set(raw, this.used);
    this.used = end;
    if (2 * (this.n + 1) > this.index.length) {
      const bigger = new Float64Array(this.index.length * 2);
      bigger.set(this.index);
      this.index = bigger;
    }
    this.index[2 * this.n] = end;
    this.index[2 * this.n + 1] = receivedAt;
    this.n++;
  }

  /**
   * Hands the frames over (the buffers are the caller's to transfer) and starts afresh with
   * buffers sized for a batch like this one, so a steady rate settles on one size without growing.
   */
  take(): TakenFrames | undefined {
    if (this.n === 0) return undefined;
    const taken = {
      bytes: this.bytes.buffer as ArrayBuffer,
      index: this.index.buffer,
      count: this.n,
      byteLength: this.used,
    };
    this.bytes = newBytes(Math.max(MIN_BYTES, pow2AtLeast(this.used)));
    this.index = new Float64Array(Math.max(2 * MIN_FRAMES, pow2AtLeast(2 * this.n)));
    this.used = 0;
    this.n = 0;
    return taken;
  }
}

/** A buffer with an ArrayBuffer of its own (never the shared pool), not zero-filled: every byte sent is written first. */
function newBytes(size: number): Buffer {
  return Buffer.allocUnsafeSlow(size);
}

function pow2AtLeast(n: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, n)));
}
