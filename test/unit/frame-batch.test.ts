/**
 * FrameBatch: the raw frames main hands to the storage worker. Whatever the frame sizes (views on
 * a shared pool, as ws gives them, larger than the buffers it starts with), the transferred
 * buffers hold exactly the bytes and receive times added, in order, and a transfer leaves the
 * batch usable and the pool untouched.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MessageChannel } from 'node:worker_threads';
import fc from 'fast-check';
import { FrameBatch, type TakenFrames } from '../../src/storage/worker/frame-batch.js';

/** What the worker does with a taken batch: split it back into frames. */
function unpack(t: TakenFrames): Array<{ bytes: number[]; at: number }> {
  const idx = new Float64Array(t.index);
  const out: Array<{ bytes: number[]; at: number }> = [];
  let start = 0;
  for (let i = 0; i < t.count; i++) {
    const end = idx[2 * i];
    out.push({ bytes: [...new Uint8Array(t.bytes, start, end - start)], at: idx[2 * i + 1] });
    start = end;
  }
  assert.equal(start, t.byteLength);
  return out;
}

describe('FrameBatch', () => {
  it('hands over exactly the frames added, in order, across growth and successive takes', () => {
    const frame = fc.record({ bytes: fc.uint8Array({ minLength: 0, maxLength: 70_000 }), at: fc.integer({ min: 0, max: 2 ** 45 }) });
    fc.assert(
      fc.property(fc.array(fc.array(frame, { maxLength: 80 }), { minLength: 1, maxLength: 4 }), (batches) => {
        const b = new FrameBatch();
        for (const frames of batches) {
          // Views at an offset into one larger buffer, as ws's pooled Buffers are.
          const pool = Buffer.alloc(frames.reduce((n, f) => n + f.bytes.length, 0) + 16);
          let off = 8;
          for (const f of frames) {
            pool.set(f.bytes, off);
            b.add(pool.subarray(off, off + f.bytes.length), f.at);
            off += f.bytes.length;
          }
          const poolBefore = Buffer.from(pool);
          const taken = b.take();
          if (frames.length === 0) {
            assert.equal(taken, undefined);
            continue;
          }
          assert.ok(taken);
          assert.deepEqual(
            unpack(taken),
            frames.map((f) => ({ bytes: [...f.bytes], at: f.at })),
          );
          assert.equal(b.count, 0);
          assert.equal(b.byteLength, 0);
          assert.deepEqual(pool, poolBefore, 'the source pool is never touched');
        }
      }),
      { numRuns: 60 },
    );
  });

  it('its buffers can be transferred (they are its own, not the shared pool), and it goes on after', () => {
    const b = new FrameBatch();
    const pooled = Buffer.from('a frame in a pooled buffer'); // small Buffer.from uses the shared pool
    b.add(pooled.subarray(2, 7), 1);
    const taken = b.take()!;
    const { port1, port2 } = new MessageChannel();
    try {
      port1.postMessage(taken, [taken.bytes, taken.index]);
      assert.equal(taken.bytes.byteLength, 0, 'moved, not copied');
      assert.equal(pooled.toString(), 'a frame in a pooled buffer', 'the pool is intact');
    } finally {
      port1.close();
      port2.close();
    }
    b.add(pooled.subarray(0, 1), 2);
    assert.deepEqual(unpack(b.take()!), [{ bytes: [...Buffer.from('a')], at: 2 }]);
  });
});
