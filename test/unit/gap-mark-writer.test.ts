import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { GapLedger } from '../../src/gaps/ledger.js';
import { MarkWriter } from '../../src/storage/worker/mark-writer.js';

const dir = mkdtempSync(join(tmpdir(), 'tickpipe-mark-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const logger = pino({ level: 'silent' });

describe('the last-frame mark written off the main thread', () => {
  it('the ledger hands the periodic mark to writeMark and does not write it itself; the mark that writer puts in the file is what the next start finds', () => {
    const path = join(dir, 'a', 'gaps.db');
    const writer = new MarkWriter(logger);
    const handed: Array<[string, number, string]> = [];
    const l1 = new GapLedger({
      path,
      markIntervalMs: 0,
      writeMark: (p, at, keys) => {
        handed.push([p, at, keys]);
        writer.write(p, at, keys);
      },
    });
    l1.begin();
    l1.noteKeys(['NSE_EQ|A']);
    l1.noteFrame(5000);
    l1.flushMark();
    l1.flushMark(); // nothing new: not handed again
    assert.deepEqual(handed, [[path, 5000, '["NSE_EQ|A"]']]);
    l1.noteFrame(7000);
    // A crash: the last handed mark (5000) is what is on disk.
    l1.close();
    writer.close();
    const l2 = new GapLedger({ path, markIntervalMs: 0 });
    assert.deepEqual(l2.begin(), { at: 5000, keys: ['NSE_EQ|A'], reason: 'service crashed' });
    l2.close();
  });

  it('cleanStop writes the last mark through its own connection (the worker may be closed by then)', () => {
    const path = join(dir, 'b', 'gaps.db');
    let handed = 0;
    const l1 = new GapLedger({ path, markIntervalMs: 0, writeMark: () => handed++ });
    l1.begin();
    l1.noteKeys(['NSE_EQ|B']);
    l1.noteFrame(9000);
    l1.cleanStop();
    l1.close();
    assert.equal(handed, 0);
    const l2 = new GapLedger({ path, markIntervalMs: 0 });
    assert.deepEqual(l2.begin(), { at: 9000, keys: ['NSE_EQ|B'], reason: 'service stopped' });
    l2.close();
  });

  it('a mark that cannot be written is said once and never throws (the file is gone)', () => {
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (l: string) => lines.push(l) });
    const writer = new MarkWriter(log);
    const missing = join(dir, 'nowhere', 'gaps.db');
    writer.write(missing, 1, '[]');
    writer.write(missing, 2, '[]');
    assert.equal(lines.filter((l) => l.includes('cannot write the gap ledger')).length, 1);
    writer.close();
  });
});
