/**
 * The whole service as a user runs it (`node dist/src/main.js`), between the real simulator and a
 * real VictoriaMetrics: every tick the simulator sent is read back, exactly once, per key, through
 * outages of InfluxDB and a restart of the service. And the notification receiver is told what
 * landed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { type NotifyReceiver, startNotifyReceiver } from '../helpers/notify-receiver.js';
import { observeFor, until } from '../helpers/poll.js';
import { assertStateConserved } from '../helpers/storage-fixture.js';
import { freePort } from '../helpers/ports.js';
import { type ServiceProcess, startServiceProcess } from '../helpers/service-process.js';
import { type TestStore, startTestStore } from '../helpers/test-store.js';

const KEYS = ['NSE_EQ|INE002A01018', 'NSE_EQ|INE467B01029', 'NSE_INDEX|Nifty Bank', 'NSE_FO|NIFTY25DEC24000CE'];

describe('pipeline end to end: simulator → service → VictoriaMetrics', { timeout: 180_000 }, () => {
  let vm: TestStore;
  let sim: Simulator;
  let receiver: NotifyReceiver;
  let dir: string;
  let svc: ServiceProcess | undefined;
  let env: Record<string, string>;

  before(async () => {
    [vm, sim, receiver] = await Promise.all([
      startTestStore(),
      startSimulator({ updatesPerSecond: 400, frameIntervalMs: 20, pingIntervalMs: 200, seed: 11 }),
      startNotifyReceiver(),
    ]);
    dir = mkdtempSync(join(tmpdir(), 'tickpipe-e2e-'));
    env = {
      UPSTOX_API_URL: sim.apiUrl,
      INSTRUMENT_MASTER_URL: sim.instrumentFileUrl,
      UPSTOX_TOKEN_URL: sim.tokenUrl,
      INSTRUMENTS: KEYS.join(','),
      ...vm.influxEnv,
      SPOOL_PATH: join(dir, 'spool.db'),
      HTTP_PORT: String(await freePort()),
      NOTIFY_URL: receiver.url,
      NOTIFY_INTERVAL_S: '1',
      NOTIFY_RETRY_S: '1',
      FLUSH_INTERVAL_MS: '200',
      INFLUX_TIMEOUT_MS: '1500',
      INFLUX_PROBE_BASE_MS: '100',
      INFLUX_PROBE_MAX_MS: '400',
      // The simulator is stalled on purpose between phases: that is not a dead feed here.
      STALE_FEED_MS: '120000',
      STALE_FEED_CLOSED_MS: '120000',
    };
    svc = startServiceProcess(env);
  });

  after(async () => {
    await svc?.stop('SIGKILL');
    await Promise.all([vm.close(), sim.close(), receiver.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  const writerValue = (s: any) =>
    typeof s.actors.writer.value === 'string' ? s.actors.writer.value : Object.keys(s.actors.writer.value)[0];

  /** Stalls the feed, waits until everything sent is in VictoriaMetrics, and compares per key. */
  async function expectEverythingLanded(what: string): Promise<void> {
    sim.stall();
    const sent = sim.stats().updatesByKey;
    await svc!.waitForState(
      `${what}: spool empty and writer up`,
      (s) => s.spool.pendingPoints === 0 && writerValue(s) === 'influxUp',
      30_000,
    );
    await until(
      `${what}: every tick in VictoriaMetrics`,
      async () => {
        const got = await vm.timestampsByKey('tick_ltp');
        return KEYS.every((k) => (got.get(k)?.length ?? 0) === (sent[k] ?? 0));
      },
      { timeoutMs: 15_000, intervalMs: 250 },
    ).catch(async (err) => {
      const got = await vm.timestampsByKey('tick_ltp');
      throw new Error(
        `${(err as Error).message}\nsent ${JSON.stringify(sent)}\ngot ${JSON.stringify(Object.fromEntries([...got].map(([k, v]) => [k, v.length])))}`,
      );
    });
    const got = await vm.timestampsByKey('tick_ltp');
    for (const k of KEYS) assert.equal(new Set(got.get(k)).size, got.get(k)!.length, `${k}: no timestamp twice`);
    sim.resume();
  }

  it('streams into InfluxDB: every tick lands once, candles and market status too', async () => {
    const s = await svc!.waitForState(
      'streaming and influxUp',
      (st) => st.actors.connection.value === 'streaming' && writerValue(st) === 'influxUp',
    );
    assert.equal(s.actors.notifier.value !== undefined, true);
    await until('some ticks', async () => (sim.stats().updatesSent ?? 0) > 200);
    await expectEverythingLanded('steady state');
    const candles = await vm.exportSeries('{__name__="candle_close"}');
    assert.ok(
      candles.some((c) => c.metric['interval'] === 'I1' && c.metric['instrument_key'] === KEYS[0]),
      'minute candles',
    );
    const status = await vm.exportSeries('{__name__="market_status_status"}');
    assert.ok(status.some((c) => c.metric['segment'] === 'NSE_EQ'));
  });

  it('survives InfluxDB stopped mid-stream and restarted: spooled, drained, nothing lost or doubled', async () => {
    await vm.stop();
    await svc!.waitForState('writer influxDown', (s) => writerValue(s) === 'influxDown', 15_000);
    const down = await svc!.waitForState('spool growing', (s) => s.spool.pendingPoints > 500, 15_000);
    assert.equal(down.actors.drainer.value, 'paused');
    assert.match(JSON.stringify(down.actors.writer.context.reason), /InfluxDB|reach|answer/);
    await vm.start();
    await expectEverythingLanded('after the outage');
    const st = await svc!.state();
    assert.ok(st.stats.pointsDrained > 0, 'the backlog was replayed by the drainer');
  });

  it('survives a frozen InfluxDB (SIGSTOP): writes time out instead of hanging, nothing lost', async () => {
    vm.pause();
    try {
      await svc!.waitForState('writer influxDown after a timeout', (s) => writerValue(s) === 'influxDown', 20_000);
    } finally {
      vm.resume();
    }
    await expectEverythingLanded('after the freeze');
  });

  it('tells the notification endpoint what landed, retrying with accumulated counts after failures', async () => {
    receiver.setStatus(500);
    const attempts = receiver.attempts();
    await until('a failed notification', () => receiver.attempts() > attempts + 1, { timeoutMs: 10_000 });
    receiver.setStatus(200);
    sim.stall();
    assertStateConserved(await svc!.waitForState('spool empty', (s) => s.spool.pendingPoints === 0, 20_000), 'after the outage');
    // Once everything has landed and been notified, the counts add up exactly.
    await until(
      'notified points equal written points',
      async () => {
        const st = await svc!.state();
        const notified = receiver.received.reduce((n, r) => n + (r['points'] as number), 0);
        return notified === st.stats.pointsWritten;
      },
      { timeoutMs: 15_000, intervalMs: 200 },
    );
    const last = receiver.received[receiver.received.length - 1];
    assert.equal(last['message'], 'Data feed has been successfully transferred to InfluxDB');
    assert.ok((last['firstTs'] as number) <= (last['lastTs'] as number));
    assert.ok(Array.isArray(last['keys']));
    const count = receiver.received.length;
    await until('the notifier idle', async () => (await svc!.state()).actors.notifier.value === 'idle', { timeoutMs: 5000 });
    // Absence can only be observed: two and a half notification intervals with the feed stalled.
    await observeFor(2500);
    assert.equal(receiver.received.length, count, 'no notification while nothing new lands');
    assert.equal((await svc!.state()).actors.notifier.value, 'idle');
    sim.resume();
  });

  it('loses nothing received before SIGTERM: exits 0, restarts on the same spool and delivers', async () => {
    await vm.stop();
    await svc!.waitForState('spooling', (s) => writerValue(s) === 'influxDown' && s.spool.pendingPoints > 200, 20_000);
    sim.stall();
    const received = (await svc!.state()).stats.updatesReceived;
    assert.ok(received > 0);
    const t0 = Date.now();
    const exit = await svc!.stop('SIGTERM');
    assert.equal(exit.code, 0, `clean exit; output:\n${svc!.output().slice(-2000)}`);
    assert.ok(Date.now() - t0 < 10_000, 'within 10 s');
    await vm.start();
    svc = startServiceProcess(env);
    await expectEverythingLanded('after a restart');
  });
});
