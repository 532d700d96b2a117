/**
 * The gap ledger's host (src/gaps/ledger-host.ts, on the storage worker's thread in the service)
 * against a real lock: another connection holding `BEGIN EXCLUSIVE` on gaps.db, as a backup tool
 * or an open `sqlite3` would. Updates wait in order and complete once the lock is released; the
 * spell is logged once with its code; reads go on meanwhile (WAL).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { LedgerHost, type LedgerReply } from '../../src/gaps/ledger-host.js';
import type { LedgerOp } from '../../src/gaps/ledger-protocol.js';
import type { GapRow } from '../../src/gaps/ledger.js';
import { capturingLogger } from '../helpers/log-capture.js';
import { observeFor, until } from '../helpers/poll.js';

const dir = mkdtempSync(join(tmpdir(), 'tickpipe-ledger-host-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function setup(name: string) {
  const path = join(dir, name, 'gaps.db');
  const { logger, logs } = capturingLogger();
  const host = new LedgerHost(logger, { busyTimeoutMs: 20, retryMs: 30 });
  const replies: Array<{ op: string; r: LedgerReply }> = [];
  const send = (op: LedgerOp) => new Promise<LedgerReply>((resolve) => host.handle(op, (r) => (replies.push({ op: op.m, r }), resolve(r))));
  return { path, logs, host, replies, send };
}

const gap = (id: string, from: number) => ({ id, from, to: from + 60_000, keys: ['NSE_EQ|A'], reason: 'socket dropped' as const });

describe('gap ledger host (storage worker thread)', () => {
  it('with gaps.db locked by another connection, updates wait in order, are logged once, and complete once it is released', async () => {
    const t = setup('locked');
    assert.equal((await t.send({ m: 'begin', path: t.path })).ok, true);
    const other = new Database(t.path);
    other.exec('BEGIN EXCLUSIVE');
    const done = [
      t.send({ m: 'record', gap: gap('1', 60_000), backfill: 'pending', detail: 'waiting' }),
      t.send({ m: 'settle', id: '1', backfill: 'done', detail: '1 candle', candles: 1 }),
      t.send({ m: 'record', gap: gap('2', 600_000), backfill: 'pending', detail: 'waiting' }),
    ];
    // Several retries happen while locked; none is answered, and the spell is said once.
    await until('a few retries', () => t.logs.some((l) => l.code === 'GAP_LEDGER_BUSY'));
    await observeFor(100); // about three retry periods, none answered
    assert.equal(t.replies.length, 1, 'only the begin is answered while locked');
    const busy = t.logs.filter((l) => l.level === 50);
    assert.equal(busy.length, 1, 'the lock is logged once');
    assert.equal(busy[0].code, 'GAP_LEDGER_BUSY');
    // Reads are not queued behind the lock (WAL): GET /gaps answers what is on disk.
    const listed = await t.send({ m: 'list' });
    assert.deepEqual(listed, { ok: true, value: [] });

    other.exec('COMMIT');
    const results = await Promise.all(done);
    assert.ok(results.every((r) => r.ok));
    assert.deepEqual(
      t.replies.map((r) => r.op),
      ['begin', 'list', 'record', 'settle', 'record'],
      'answered in the order posted',
    );
    const rows = ((await t.send({ m: 'list' })) as { value: GapRow[] }).value;
    assert.deepEqual(
      rows.map((r) => [r.id, r.backfill, r.candles]),
      [
        ['2', 'pending', 0],
        ['1', 'done', 1],
      ],
    );
    const summary = (results[2] as { value: { summary: { counts: Record<string, number> } } }).value.summary;
    assert.deepEqual(summary.counts, { pending: 1, done: 1, failed: 0, none: 0 }, 'each write carries the summary /metrics shows');
    assert.ok(t.logs.some((l) => l.level === 30 && /writable again/.test(l.msg)));
    t.host.close();
    other.close();
  });

  it('a lock still held at shutdown: the waiting updates are answered GAP_LEDGER_BUSY and said; the close does not hang', async () => {
    const t = setup('shutdown');
    await t.send({ m: 'begin', path: t.path });
    const other = new Database(t.path);
    other.exec('BEGIN EXCLUSIVE');
    const stop = t.send({ m: 'cleanStop', lastFrameMs: 5000, keys: ['NSE_EQ|A'] });
    await until('the lock seen', () => t.logs.some((l) => l.code === 'GAP_LEDGER_BUSY'));
    t.host.close();
    const r = await stop;
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.code, 'GAP_LEDGER_BUSY');
    assert.match(t.logs.at(-1)?.msg ?? '', /still locked by another process at shutdown: 1 update/);
    const after = await t.send({ m: 'get', id: 'x' });
    assert.equal(!after.ok && after.code, 'GAP_LEDGER_FAILED', 'closed: answered at once');
    other.exec('ROLLBACK');
    other.close();
  });

  it('the clean stop writes the mark main kept, then the record the next start reads', async () => {
    const t = setup('clean');
    assert.deepEqual(((await t.send({ m: 'begin', path: t.path })) as { value: { outage: unknown } }).value.outage, null);
    assert.equal((await t.send({ m: 'cleanStop', lastFrameMs: 7000, keys: ['NSE_EQ|A'] })).ok, true);
    t.host.close();
    const t2 = setup('clean');
    const begun = (await t2.send({ m: 'begin', path: t.path })) as { value: { outage: unknown } };
    assert.deepEqual(begun.value.outage, { at: 7000, keys: ['NSE_EQ|A'], reason: 'service stopped' });
    t2.host.close();
  });
});
