import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { InspectionHub } from '../../src/inspector/hub.js';
import { InspectClient } from '../helpers/inspector/client.js';
import { PLANTED_SECRET, startInspectedSystem } from '../helpers/inspector/stand-in-system.js';
import { freePort } from '../helpers/ports.js';
import { startRelay, type RelayProcess } from '../helpers/stately-relay.js';

const NAMED = ['connection', 'writer', 'drainer', 'notifier'];
const has = (v: unknown, s: string) => String(JSON.stringify(v)).includes(s);

describe('INSPECT: forwarding to a real @statelyai/inspect relay', () => {
  const cleanups: Array<() => unknown> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('a client of the relay sees the four actors and the writer going influxDown, also after the relay restarts', async () => {
    const port = await freePort();
    let relay: RelayProcess = await startRelay(port);
    cleanups.push(() => relay.stop());
    const viewer = await InspectClient.connect(relay.url);
    cleanups.push(() => viewer.close());

    const hub = new InspectionHub({ relayUrl: relay.url });
    cleanups.push(() => hub.stop());
    const sys = startInspectedSystem({ hub });
    cleanups.push(() => sys.stop());

    await viewer.until('the four actors', () => NAMED.every((n) => viewer.actor(n)));
    for (const name of NAMED) {
      const a = viewer.actor(name)!;
      assert.equal(a.name, name, 'the Stately inspector shows the actor by its systemId');
      assert.equal(typeof a.definition, 'string');
      assert.ok(JSON.parse(a.definition!).states, `${name} carries its statechart`);
      assert.match(a._version, /^\d+\.\d+\.\d+/);
    }
    await viewer.until('writer influxUp through the relay', () => has(viewer.values('writer').at(-1), 'influxUp'));
    sys.setWriterDown(true);
    await viewer.until('writer influxDown through the relay', () => has(viewer.values('writer').at(-1), 'influxDown'));
    const writer = viewer.actor('writer')!;
    // The transition into influxDown goes through the relay labelled with its event. (The last
    // value alone can be a late registration of the writer's initial influxDown.probing.)
    const downEvents = () =>
      viewer.messages.flatMap((m) =>
        m.type === '@xstate.snapshot' && m.sessionId === writer.sessionId && has(m.snapshot.value, 'influxDown') ? [m.event.type] : [],
      );
    await viewer.until('the WRITE_FAILED transition through the relay', () => downEvents().includes('WRITE_FAILED'));
    assert.ok(!viewer.messages.some((m) => JSON.stringify(m).includes(PLANTED_SECRET)), 'sanitised before it leaves');

    // The relay restarts (a new process on the same port): the forwarder reconnects by itself
    // and re-announces the actors with their current state.
    await relay.stop();
    await viewer.until('the old relay is gone', () => viewer.closed);
    relay = await startRelay(port);
    const later = await InspectClient.connect(relay.url);
    cleanups.push(() => later.close());
    await later.until(
      'the actors again, writer still down',
      () => NAMED.every((n) => later.actor(n)) && has(later.actor('writer')!.snapshot.value, 'influxDown'),
      20_000,
    );
    sys.setWriterDown(false);
    await later.until('writer influxUp through the new relay', () => has(later.values('writer').at(-1), 'influxUp'));
    assert.ok(hub.forwarder && hub.forwarder.counts.connects >= 2);
  });
});
