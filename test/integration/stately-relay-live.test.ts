/**
 * INSPECT against a real `@statelyai/inspect` relay, with the real service: a client of the
 * relay sees the four actors by systemId, and the writer's snapshots go influxDown when
 * VictoriaMetrics is stopped and influxUp when it is back. Nothing secret leaves the process.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { InspectClient } from '../helpers/inspector/client.js';
import { type LiveService, startLiveService } from '../helpers/live-service.js';
import { freePort } from '../helpers/ports.js';
import { type RelayProcess, startRelay } from '../helpers/stately-relay.js';

const NAMED = ['connection', 'writer', 'drainer', 'notifier'];
const has = (v: unknown, s: string) => String(JSON.stringify(v)).includes(s);

describe('INSPECT=<relay> on the real service', { timeout: 120_000 }, () => {
  let relay: RelayProcess | undefined;
  let viewer: InspectClient | undefined;
  let live: LiveService | undefined;
  after(async () => {
    viewer?.close();
    await live?.stop();
    await relay?.stop();
  });

  it('shows the four actors in the relay, and the writer going influxDown and back with VictoriaMetrics', async () => {
    const port = await freePort();
    relay = await startRelay(port);
    viewer = await InspectClient.connect(relay.url);
    live = await startLiveService({ INSPECT: relay.url, UPSTOX_ACCESS_TOKEN: 'planted-secret-token-9d1' });
    await viewer.until('the four actors', () => NAMED.every((n) => viewer!.actor(n)), 20_000);
    for (const name of NAMED) assert.ok(JSON.parse(viewer.actor(name)!.definition!).states, `${name} carries its statechart`);
    await viewer.until('the connection streaming', () => viewer!.values('connection').some((v) => has(v, 'streaming')), 20_000);

    await live.vm.kill();
    await viewer.until('writer influxDown through the relay', () => viewer!.values('writer').some((v) => has(v, 'influxDown')), 10_000);
    await live.vm.start();
    await viewer.until('writer influxUp again', () => has(viewer!.values('writer').at(-1), 'influxUp'), 20_000);
    assert.ok(
      !viewer.messages.some((m) => JSON.stringify(m).includes('planted-secret-token-9d1')),
      'the access token never reaches the inspector',
    );
    assert.ok(!viewer.messages.some((m) => /"ltp":/.test(JSON.stringify(m))), 'no per-tick data reaches the inspector');
  });
});
