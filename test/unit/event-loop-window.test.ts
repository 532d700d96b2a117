import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EventLoopWindow } from '../../src/server/event-loop-window.js';

/** Holds the event loop (a synchronous block): every timer due meanwhile fires that much later. */
function block(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}
const turn = () => new Promise((r) => setTimeout(r, 20));

describe('EventLoopWindow', () => {
  it('sees a block as delay and as utilisation, then starts a fresh window', async () => {
    const w = new EventLoopWindow();
    try {
      w.take();
      // After a reset the sampling timer's first beat only restarts its clock: let it beat.
      await turn();
      block(60);
      await turn();
      const seen = w.take();
      assert.ok(seen.delayMaxMs >= 30, `max delay ${seen.delayMaxMs} ms after a 60 ms block`);
      assert.ok(seen.utilisation > 0.3 && seen.utilisation <= 1, `utilisation ${seen.utilisation}`);
      assert.ok(seen.delayP50Ms <= seen.delayP99Ms && seen.delayP99Ms <= seen.delayMaxMs);
      // The next window starts after the block: whatever it sees, it is not that 60 ms block again.
      await turn();
      assert.ok(w.take().windowMs < seen.windowMs + 1000);
    } finally {
      w.stop();
    }
  });

  it('with a minimum length, keeps growing the window for frequent readers instead of slicing it', async () => {
    const w = new EventLoopWindow();
    try {
      w.take();
      // After a reset the sampling timer's first beat only restarts its clock: let it beat.
      await turn();
      block(60);
      await turn();
      const first = w.take(60_000);
      const second = w.take(60_000);
      assert.ok(first.delayMaxMs >= 30, `the block is seen (${first.delayMaxMs} ms)`);
      assert.ok(second.delayMaxMs >= first.delayMaxMs, 'a second read inside the minimum still includes the block');
      assert.ok(second.windowMs >= first.windowMs, 'the same window, grown');
    } finally {
      w.stop();
    }
  });
});
