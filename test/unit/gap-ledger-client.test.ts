/**
 * The gap ledger's client on main (src/gaps/ledger-client.ts) with the worker side in-process:
 * requests to a LedgerHost, the periodic mark to a MarkWriter, as the storage worker applies
 * them. Main keeps the last-frame mark in memory and posts it at most every interval, only when
 * a frame came; the clean stop carries it to the file; the next start finds it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { isErrorCode } from '../../machines/rules/error-codes.js';
import { TickpipeError } from '../../src/errors.js';
import { LedgerClient } from '../../src/gaps/ledger-client.js';
import { LedgerHost } from '../../src/gaps/ledger-host.js';
import { createLogger } from '../../src/logger.js';
import { MarkWriter } from '../../src/storage/worker/mark-writer.js';
import { observeFor, until } from '../helpers/poll.js';

const dir = mkdtempSync(join(tmpdir(), 'tickpipe-ledger-client-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const logger = createLogger('silent');

function open(path: string, markIntervalMs: number) {
  const host = new LedgerHost(logger, { busyTimeoutMs: 20, retryMs: 30 });
  const marks = new MarkWriter(logger);
  const handed: number[] = [];
  const client = new LedgerClient(
    {
      ledger: (op) =>
        new Promise((resolve, reject) =>
          host.handle(op, (r) =>
            r.ok ? resolve(r.value) : reject(new TickpipeError(isErrorCode(r.code) ? r.code : 'UNEXPECTED', r.message)),
          ),
        ),
      writeMark: (p, at, keys) => {
        handed.push(at);
        marks.write(p, at, keys);
      },
    },
    { path, markIntervalMs },
  );
  const close = () => {
    host.close();
    marks.close();
  };
  return { client, handed, close };
}

const markOnDisk = (path: string) => {
  const db = new Database(path, { readonly: true });
  const row = db.prepare('SELECT last_frame_ms AS at, clean_stop AS clean FROM run WHERE id = 1').get() as {
    at: number | null;
    clean: number;
  };
  db.close();
  return row;
};

describe('gap ledger client (main thread)', () => {
  it('posts the mark at most every interval and only after a frame; a crash leaves the last one; a clean stop writes the newest', async () => {
    const path = join(dir, 'a', 'gaps.db');
    const a = open(path, 30);
    assert.deepEqual(await a.client.begin(), { outage: null, pending: [] });
    a.client.noteKeys(['NSE_EQ|A']);
    a.client.noteFrame(5000);
    await until('the mark on disk', () => markOnDisk(path).at === 5000);
    await observeFor(120); // several intervals without a frame
    assert.deepEqual(a.handed, [5000], 'posted once: no frame since');
    a.close(); // a crash: no clean stop

    const b = open(path, 0);
    assert.deepEqual((await b.client.begin()).outage, { at: 5000, keys: ['NSE_EQ|A'], reason: 'service crashed' });
    b.client.noteKeys(['NSE_EQ|A', 'NSE_EQ|B']);
    b.client.noteFrame(9000);
    await b.client.startOutageClosed();
    await b.client.cleanStop();
    assert.deepEqual(b.handed, [], 'the clean stop carries the mark itself');
    b.close();
    assert.deepEqual(markOnDisk(path), { at: 9000, clean: 1 });

    const c = open(path, 0);
    assert.deepEqual((await c.client.begin()).outage, { at: 9000, keys: ['NSE_EQ|A', 'NSE_EQ|B'], reason: 'service stopped' });
    c.close();
  });

  it('a run that never streamed keeps the previous mark through its clean stop', async () => {
    const path = join(dir, 'b', 'gaps.db');
    const a = open(path, 0);
    await a.client.begin();
    a.client.noteKeys(['NSE_EQ|A']);
    a.client.noteFrame(4000);
    await a.client.cleanStop();
    a.close();
    const b = open(path, 0);
    assert.equal((await b.client.begin()).outage?.at, 4000);
    await b.client.cleanStop(); // stopped before any frame
    b.close();
    const c = open(path, 0);
    assert.deepEqual((await c.client.begin()).outage, { at: 4000, keys: ['NSE_EQ|A'], reason: 'service stopped' });
    c.close();
  });
});
