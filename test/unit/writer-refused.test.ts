/**
 * The writer machine: a 400 about the request itself (outcome `badRequest`) is a
 * refusal a person must fix, like 401/403/404: influxDown.refused with the server's message, an
 * alert, no probing storm; a spool that cannot be written is kept in context for /state.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SimulatedClock, fromPromise, waitFor } from 'xstate';
import { writerMachine } from '../../machines/writer.js';
import { harness } from '../helpers/parent-harness.js';

function start() {
  const clock = new SimulatedClock();
  const alerts: string[] = [];
  const calls: string[] = [];
  const logic = writerMachine.provide({
    actors: { probe: fromPromise<void>(() => Promise.resolve()) },
    actions: {
      openRoute: () => void calls.push('openRoute'),
      closeRoute: () => void calls.push('closeRoute'),
      alert: (_, p) => void alerts.push(p.message),
    },
  });
  const h = harness(
    logic,
    { configured: true, probeBaseMs: 100, probeMaxMs: 1000, now: () => clock.now(), random: () => 0.5 },
    { clock, systemId: 'writer' },
  );
  return { clock, alerts, calls, child: () => h.child() };
}

describe('writer: request-level rejection and spool errors', () => {
  it('badRequest: influxDown.refused with the message and an alert; the route reopens only after the refused delay', async () => {
    const w = start();
    await waitFor(w.child(), (s) => s.matches('influxUp'));
    const message = 'InfluxDB refused the write request itself (400): Please provide either orgID or org; check INFLUX_ORG';
    w.child().send({ type: 'WRITE_FAILED', outcome: 'badRequest', code: 'INFLUX_BAD_REQUEST', message });
    assert.deepEqual(w.child().getSnapshot().value, { influxDown: 'refused' });
    const ctx = w.child().getSnapshot().context;
    assert.equal(ctx.code, 'INFLUX_BAD_REQUEST');
    assert.equal(ctx.reason, message);
    assert.deepEqual(w.alerts, [message]);
    w.clock.increment(14_999);
    assert.deepEqual(w.child().getSnapshot().value, { influxDown: 'refused' }, 'no retry before 15 s');
    w.clock.increment(1);
    assert.equal(w.child().getSnapshot().value, 'influxUp');
  });

  it('SPOOL_FAILED and SPOOL_OK set and clear spoolError in any state', async () => {
    const w = start();
    await waitFor(w.child(), (s) => s.matches('influxUp'));
    w.child().send({ type: 'SPOOL_FAILED', message: 'SQLITE_FULL: database or disk is full' });
    assert.equal(w.child().getSnapshot().context.spoolError, 'SQLITE_FULL: database or disk is full');
    assert.equal(w.child().getSnapshot().value, 'influxUp', 'a full disk is not an InfluxDB outage');
    w.child().send({ type: 'SPOOL_OK' });
    assert.equal(w.child().getSnapshot().context.spoolError, null);
  });
});
