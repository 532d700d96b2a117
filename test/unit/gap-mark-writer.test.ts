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
  it('the mark MarkWriter puts in the file (its own connection) is what the next start finds', () => {
    const path = join(dir, 'a', 'gaps.db');
    const writer = new MarkWriter(logger);
    const l1 = new GapLedger({ path });
    l1.begin();
    writer.write(path, 5000, '["NSE_EQ|A"]');
    // A crash: the last mark written is what is on disk.
    l1.close();
    writer.close();
    const l2 = new GapLedger({ path });
    assert.deepEqual(l2.begin(), { at: 5000, keys: ['NSE_EQ|A'], reason: 'service crashed' });
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
