/**
 * NATS publishing end to end: the real service (`node dist/src/main.js`) between the simulator,
 * VictoriaMetrics and a real nats-server, read by a JetStream consumer as a strategy would.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { tickSubject } from '../../src/nats/subject.js';
import { type HaFixture, sentBetween, startHaFixture, storedTicks } from '../helpers/ha-fixture.js';
import { readStream } from '../helpers/nats-consumer.js';
import { until } from '../helpers/poll.js';

const streaming = (s: any) => s.actors.connection.value === 'streaming';

/** VictoriaMetrics makes what it acknowledged searchable within about a second: poll until `ok`. */
async function storedWhen(fx: HaFixture, ok: (stored: Set<string>) => boolean): Promise<Set<string>> {
  let stored = new Set<string>();
  await until(
    'InfluxDB to hold the ticks',
    async () => {
      stored = await storedTicks(fx.vm);
      return ok(stored);
    },
    { timeoutMs: 30_000, intervalMs: 250 },
  ).catch(() => undefined);
  return stored;
}

describe('NATS publishing end to end', { timeout: 120_000 }, () => {
  let fx: HaFixture;
  before(async () => {
    fx = await startHaFixture();
  });
  after(async () => {
    await fx.close();
  });

  it('every tick that landed in InfluxDB reached a JetStream consumer exactly once, with its subject and message id', async (t) => {
    const svc = await fx.start('pub');
    // `published` counts market_status messages too: 250 of them hold well over 200 ticks (waiting
    // for 200 let a stop land at exactly 200 ticks, and the check below failed on a loaded machine).
    await svc.waitForState('publishing', (s) => streaming(s) && s.nats?.published > 250, 30_000);
    const stopped = await svc.stop('SIGTERM');
    assert.equal(stopped.code, 0, svc.output().slice(-2000));
    const all = await readStream(fx.nats.url, 'TICKPIPE');
    t.after(() => all.close());
    const tickIds = () => all.messages.filter((m) => m.subject.startsWith('tickpipe.tick.')).map((m) => m.msgId!);
    const stored = await storedWhen(fx, (st) => {
      const ids = new Set(tickIds());
      return st.size >= 200 && ids.size === st.size && [...st].every((id) => ids.has(id));
    });
    const ids = tickIds();
    assert.ok(stored.size >= 200, `ticks landed: ${stored.size}`);
    assert.equal(new Set(ids).size, ids.length, 'no tick delivered twice');
    assert.deepEqual(new Set(ids), stored, 'the same ticks as InfluxDB, each once');
    for (const m of all.messages.filter((x) => x.subject.startsWith('tickpipe.tick.')).slice(0, 50)) {
      assert.equal(m.subject, tickSubject(m.payload['key'] as string));
      assert.equal(m.msgId, `${m.payload['key'] as string}@${m.payload['ts'] as number}`);
      assert.equal(m.payload['type'], 'tick');
    }
    const sent = sentBetween(fx.sent, 0, Infinity);
    for (const id of ids) assert.ok(sent.has(id), `${id} was never sent`);
    assert.ok(
      all.messages.some((m) => m.subject === 'tickpipe.market_status'),
      'market status published',
    );
  });

  it('NATS killed and restarted mid-stream: InfluxDB loses nothing, what was not published is counted and /ready says so, publishing resumes', async () => {
    const svc = await fx.start('outage');
    await svc.waitForState('publishing', (s) => streaming(s) && s.nats?.connected && s.nats.published > 50, 30_000);
    const from = Date.now();
    await fx.nats.kill();
    // Down for a while: at 200 ticks/s, 400 unpublished ticks are about two seconds.
    const down = await svc.waitForState(
      'NATS down noticed and counted',
      (s) => !s.nats.connected && s.nats.failed + s.nats.dropped > 400,
      20_000,
    );
    assert.ok(streaming(down), 'the feed goes on');
    const ready = (await (await fetch(`${svc.baseUrl}/ready`)).json()) as { ready: boolean; reasons: string[] };
    assert.equal(ready.ready, false);
    assert.ok(
      ready.reasons.some((r) => /NATS/.test(r)),
      JSON.stringify(ready),
    );
    const metrics = await (await fetch(`${svc.baseUrl}/metrics`)).text();
    assert.match(metrics, /tickpipe_nats_connected 0/);
    assert.match(metrics, /tickpipe_nats_dropped_total \d+/);
    await fx.nats.start();
    const back = await svc.waitForState('reconnected', (s) => s.nats.connected, 20_000);
    await svc.waitForState('publishing again', (s) => s.nats.published > back.nats.published + 50, 20_000);
    const to = Date.now();
    assert.equal((await svc.stop('SIGTERM')).code, 0);
    // Every tick sent while the service streamed, NATS down included, is in InfluxDB (the last
    // second left out: frames the simulator wrote while the service was closing its socket).
    const expected = [...sentBetween(fx.sent, from, to - 1000)];
    assert.ok(expected.length > 100, `ticks sent in the window: ${expected.length}`);
    const stored = await storedWhen(fx, (st) => expected.every((id) => st.has(id)));
    const missing = expected.filter((id) => !stored.has(id));
    assert.deepEqual(missing.slice(0, 10), [], `${missing.length} of ${expected.length} ticks missing from InfluxDB`);
  });
});
