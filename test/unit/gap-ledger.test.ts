import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { GapLedger, ledgerPathBeside } from '../../src/gaps/ledger.js';

const dir = mkdtempSync(join(tmpdir(), 'tickpipe-ledger-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(dir, `run${++n}`, 'gaps.db');
const open = (path: string) => new GapLedger({ path });

describe('gap ledger', () => {
  it('lives beside the spool', () => {
    assert.equal(ledgerPathBeside('/var/lib/tickpipe/spool.db'), '/var/lib/tickpipe/gaps.db');
    assert.equal(ledgerPathBeside(':memory:'), ':memory:');
  });

  it('a first start finds no outage; a clean stop is found as "service stopped" from the last frame', () => {
    const path = fresh();
    const l1 = open(path);
    assert.equal(l1.begin(), null);
    l1.noteKeys(['NSE_EQ|A', 'NSE_EQ|B']);
    l1.noteFrame(1000);
    l1.noteFrame(2000);
    l1.cleanStop();
    l1.close();
    const l2 = open(path);
    assert.deepEqual(l2.begin(), { at: 2000, keys: ['NSE_EQ|A', 'NSE_EQ|B'], reason: 'service stopped' });
    l2.close();
  });

  it('no clean stop: "service crashed" from the last flushed mark (frames after it are not on disk)', () => {
    const path = fresh();
    const l1 = open(path);
    l1.begin();
    l1.noteKeys(['NSE_EQ|A']);
    l1.noteFrame(5000);
    l1.flushMark();
    l1.noteFrame(6000); // never flushed: lost with the crash
    l1.close(); // what a SIGKILL leaves: no clean-stop record
    const l2 = open(path);
    assert.deepEqual(l2.begin(), { at: 5000, keys: ['NSE_EQ|A'], reason: 'service crashed' });
    l2.close();
  });

  it('an outage found at start and not yet closed by a frame is found again with its first reason', () => {
    const path = fresh();
    const l1 = open(path);
    l1.begin();
    l1.noteKeys(['NSE_EQ|A']);
    l1.noteFrame(5000);
    l1.cleanStop();
    l1.close();
    const l2 = open(path);
    assert.equal(l2.begin()?.reason, 'service stopped');
    l2.close(); // crashed before streaming again
    const l3 = open(path);
    assert.deepEqual(l3.begin(), { at: 5000, keys: ['NSE_EQ|A'], reason: 'service stopped' });
    l3.startOutageClosed();
    l3.noteFrame(9000);
    l3.close(); // crashes after streaming, mark not flushed: the same outage would be found twice...
    const l4 = open(path);
    assert.deepEqual(l4.begin(), { at: 5000, keys: ['NSE_EQ|A'], reason: 'service crashed' }, '...now as a crash');
    l4.close();
  });

  it('records gaps durably, settles them, lists newest first with ?since, resumes pending ones', () => {
    const path = fresh();
    const l1 = open(path);
    l1.begin();
    l1.record({ id: '1000-61000', from: 1000, to: 61_000, keys: ['NSE_EQ|A'], reason: 'socket dropped' }, 'pending');
    l1.record({ id: '200000-320000', from: 200_000, to: 320_000, keys: ['NSE_EQ|A', 'NSE_EQ|B'], reason: 'service stopped' }, 'pending');
    l1.settle('1000-61000', 'done', '2 candles', 2);
    l1.record({ id: '1000-61000', from: 1000, to: 61_000, keys: ['X|Y'], reason: 'dead socket' }, 'pending');
    l1.close();
    const l2 = open(path);
    const rows = l2.list();
    assert.deepEqual(
      rows.map((r) => [r.id, r.backfill, r.candles]),
      [
        ['200000-320000', 'pending', 0],
        ['1000-61000', 'done', 2],
      ],
      'newest first; recording an existing gap again keeps its state',
    );
    assert.equal(rows[1].reason, 'socket dropped');
    assert.deepEqual(
      l2.list({ since: 100_000 }).map((r) => r.id),
      ['200000-320000'],
    );
    assert.deepEqual(
      l2.pending().map((g) => g.id),
      ['200000-320000'],
    );
    const totals = l2.totals();
    assert.equal(totals.candles, 2);
    assert.deepEqual(
      totals.byReason.sort((a, b) => a.reason.localeCompare(b.reason)),
      [
        { reason: 'service stopped', gaps: 1, seconds: 120 },
        { reason: 'socket dropped', gaps: 1, seconds: 60 },
      ],
    );
    l2.close();
  });
});
