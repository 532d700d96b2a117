import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createActor, setup } from 'xstate';
import type { InspectActorEvent, InspectEvent, InspectSnapshotEvent } from '../../src/inspector/events.js';
import { InspectionHub } from '../../src/inspector/hub.js';
import { PLANTED_CODE, PLANTED_SECRET, startInspectedSystem, type InspectedSystem } from '../helpers/inspector/stand-in-system.js';
import { until } from '../helpers/poll.js';

const NAMED = ['connection', 'writer', 'drainer', 'notifier'];

function record(hub: InspectionHub): { events: InspectEvent[]; json: string[] } {
  const events: InspectEvent[] = [];
  const json: string[] = [];
  hub.subscribe((ev, text) => {
    events.push(ev);
    json.push(text);
  });
  return { events, json };
}

const actorsIn = (events: InspectEvent[]) => events.filter((e): e is InspectActorEvent => e.type === '@xstate.actor');
const snapshotsOf = (events: InspectEvent[], sessionId: string) =>
  events.filter((e): e is InspectSnapshotEvent => e.type === '@xstate.snapshot' && e.sessionId === sessionId);
const streaming = (events: InspectEvent[]) =>
  events.some((e) => e.type === '@xstate.snapshot' && JSON.stringify(e.snapshot.value ?? '').includes('streaming'));

describe('InspectionHub', () => {
  const systems: InspectedSystem[] = [];
  after(() => systems.forEach((s) => s.stop()));
  function start(hub = new InspectionHub()) {
    const rec = record(hub);
    const sys = startInspectedSystem({ hub });
    systems.push(sys);
    return { sys, hub, ...rec };
  }

  it('registers the root and the four named actors in the @statelyai/inspect format', async () => {
    const { events } = start();
    await until('the connection streams', () => streaming(events));
    const actors = actorsIn(events);
    const root = actors.find((a) => a.name === 'pipeline');
    assert.ok(root, 'root registered');
    assert.equal(root.parentId, undefined);
    for (const name of NAMED) {
      const a = actors.find((x) => x.systemId === name);
      assert.ok(a, `${name} registered`);
      assert.equal(a.name, name);
      assert.equal(a.parentId, root.sessionId);
      assert.equal(a.rootId, root.sessionId);
      assert.match(a._version, /^\d+\.\d+\.\d+/);
      assert.equal(typeof a.createdAt, 'string');
      const def = JSON.parse(a.definition ?? '{}') as { id: string; states: Record<string, unknown>; context?: unknown };
      assert.equal(def.id, name);
      assert.equal(def.context, undefined, 'static context is not part of the definition');
    }
    const writerDef = JSON.parse(actors.find((a) => a.systemId === 'writer')!.definition!) as { states: Record<string, unknown> };
    assert.deepEqual(Object.keys(writerDef.states), ['influxUp', 'influxDown']);
    // The root's registration arrives before its children's.
    assert.ok(actors.indexOf(root) < actors.findIndex((a) => a.systemId === 'writer'));
  });

  it('emits snapshots and the events between actors when the writer goes down and back', async () => {
    const { sys, events } = start();
    await until('the connection streams', () => streaming(events));
    const writer = actorsIn(events).find((a) => a.systemId === 'writer')!;
    const drainer = actorsIn(events).find((a) => a.systemId === 'drainer')!;
    await until('writer influxUp', () => snapshotsOf(events, writer.sessionId).at(-1)?.snapshot.value === 'influxUp');
    sys.setWriterDown(true);
    await until('writer influxDown', () => snapshotsOf(events, writer.sessionId).some((s) => s.event.type === 'WRITE_FAILED'));
    const down = snapshotsOf(events, writer.sessionId).find((s) => s.event.type === 'WRITE_FAILED')!;
    assert.deepEqual(down.snapshot.value, { influxDown: 'waiting' });
    const ctx = down.snapshot.context as { reason: string; code: string; lastFailure: { code: string } };
    assert.match(ctx.reason, /ECONNREFUSED/);
    assert.equal(ctx.code, 'INFLUX_UNAVAILABLE', 'stable error codes survive the secret filter');
    assert.equal(ctx.lastFailure.code, 'INFLUX_UNAVAILABLE');
    const sent = events.find(
      (e) =>
        e.type === '@xstate.event' &&
        e.event.type === 'INFLUX_DOWN' &&
        e.sourceId === writer.sessionId &&
        String((e.event as { reason?: unknown }).reason).includes('ECONNREFUSED'),
    );
    assert.ok(sent, 'INFLUX_DOWN from the writer to its parent is inspected');
    await until('drainer paused', () => snapshotsOf(events, drainer.sessionId).some((s) => s.snapshot.value === 'paused'));
    sys.setWriterDown(false);
    await until('writer influxUp again', () => {
      const snaps = snapshotsOf(events, writer.sessionId);
      return JSON.stringify(snaps.at(-1)?.snapshot.value).includes('influxUp');
    });
  });

  it('never lets secrets, one-time codes or long lists out', async () => {
    const { events, json } = start();
    await until('the connection streams', () => streaming(events));
    const all = json.join('\n');
    assert.ok(!all.includes(PLANTED_SECRET), 'the token (context and promise output) is not sent');
    assert.ok(!all.includes(PLANTED_CODE), 'the one-time redirect code is not sent');
    const conn = actorsIn(events).find((a) => a.systemId === 'connection')!;
    const last = snapshotsOf(events, conn.sessionId).at(-1)!;
    const ctx = last.snapshot.context as { instruments: string[]; subscription: Record<string, string>; reconnects: number };
    assert.equal(ctx.instruments.length, 6, 'a long list is cut');
    assert.equal(ctx.instruments[5], '… 1995 more (2000 in all)');
    assert.ok(Object.keys(ctx.subscription).length <= 16, 'a large object is cut');
    assert.equal(ctx.reconnects, 0);
    const outputs = events
      .filter((e) => e.type === '@xstate.event' && e.sessionId === conn.sessionId && e.event.type.startsWith('xstate.done.actor'))
      .map((e) => (e as { event: { output?: unknown } }).event.output);
    assert.deepEqual(outputs, ['[redacted]', '[redacted]'], 'I/O results (token, redirect URI) reach the inspector sanitised');
    // Every message stays small: no event carries a subscription list or a frame.
    for (const text of json) assert.ok(text.length < 20_000, `event of ${text.length} chars`);
  });

  it('replays live actors with their latest snapshots to a late client, and forgets finished ones', async () => {
    const { sys, hub, events } = start(new InspectionHub({ historySize: 5 }));
    await until('the connection streams', () => streaming(events));
    await until('writer influxUp', () =>
      events.some((e) => e.type === '@xstate.snapshot' && e.snapshot.value === 'influxUp' && e.event.type !== 'WRITE_FAILED'),
    );
    sys.setWriterDown(true);
    sys.land(10);
    await until('writer down seen', () => events.some((e) => e.type === '@xstate.snapshot' && e.event.type === 'WRITE_FAILED'));
    const replay = hub.replay();
    const regs = actorsIn(replay);
    assert.deepEqual(
      regs.map((a) => a.systemId ?? a.name),
      // Started in this order; the feed socket is the connection's live child, chains runs beside it.
      ['pipeline', 'writer', 'drainer', 'notifier', 'backfill', 'connection', 'chains', 'socket'],
      'only live actors; finished promise actors are gone',
    );
    assert.ok(
      replay.slice(0, regs.length).every((e) => e.type === '@xstate.actor'),
      'registrations come first',
    );
    const writer = regs.find((a) => a.systemId === 'writer')!;
    assert.deepEqual(writer.snapshot.value, { influxDown: 'waiting' }, 'registration carries the latest snapshot');
    assert.ok(replay.length <= regs.length + 5 + 5, 'history is bounded');
    for (const a of regs) {
      const last = snapshotsOf(replay, a.sessionId).at(-1);
      if (last) assert.deepEqual(last.snapshot.value, a.snapshot.value, `${a.name}: the last word is the current state`);
    }
    sys.stop();
    hub.flush();
    assert.deepEqual(actorsIn(hub.replay()), [], 'a stopped system leaves nothing to replay');
  });

  it('bounds the work queued per burst and survives a throwing listener', async () => {
    const hub = new InspectionHub({ maxQueued: 10 });
    const seen: string[] = [];
    hub.subscribe(() => {
      throw new Error('listener bug');
    });
    hub.subscribe((ev) => seen.push(ev.type));
    const m = setup({}).createMachine({ id: 'tiny', initial: 'a', states: { a: { on: { GO: 'b' } }, b: { on: { GO: 'a' } } } });
    const actor = createActor(m, { inspect: hub.inspect }).start();
    for (let i = 0; i < 50; i++) actor.send({ type: 'GO' });
    hub.flush();
    assert.equal(seen.length, 10);
    assert.ok(hub.counts.dropped > 0);
    assert.equal(hub.counts.listenerErrors, 10);
    actor.stop();
  });
});
