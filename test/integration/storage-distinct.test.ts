/**
 * Two updates of one key in one millisecond are two points on the wire (microsecond
 * timestamps with an in-millisecond sequence), both acknowledged; read back at ms precision they
 * carry the frame's currentTs. What the store keeps of them: InfluxDB 2 keeps both (distinct
 * timestamps); VictoriaMetrics stores milliseconds, and with deduplication on (as in these tests,
 * -dedup.minScrapeInterval=1ms) keeps one sample per ms. A frame without currentTs is stamped with
 * its receive time.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { until } from '../helpers/poll.js';
import { storageSuite, tickFrame } from '../helpers/storage-fixture.js';

describe('distinct updates in one millisecond', { timeout: 60_000 }, () => {
  const suite = storageSuite('tickpipe-stordistinct-');

  it('both sent and acknowledged, read back at the frame time; a frame without currentTs at its receive time', async () => {
    await suite.withStorage('distinct', {}, async (fx, gate) => {
      const K = 'NSE_EQ|SAMEMS';
      const T = 1_737_100_000_000;
      await fx.waitWriter('influxUp');
      fx.storage.writePath.pushFrame(tickFrame(T, { [K]: 101 }));
      fx.storage.writePath.pushFrame(tickFrame(T, { [K]: 102 }));
      fx.storage.writePath.pushFrame(tickFrame(T + 1, { [K]: 103 }));
      fx.storage.writePath.pushFrame({ ...tickFrame(0, { [K]: 104 }), ts: 0 }, T + 7);
      await fx.waitSpoolEmpty();
      const acked = gate
        .log()
        .filter((w) => w.answer === 204)
        .flatMap((w) => w.body.split('\n'))
        .filter((l) => l.includes(K))
        .map((l) => ({ ltp: Number(/ltp=([\d.]+)/.exec(l)![1]), us: Number(l.slice(l.lastIndexOf(' ') + 1)) }));
      assert.deepEqual(acked, [
        { ltp: 101, us: T * 1000 },
        { ltp: 102, us: T * 1000 + 1 },
        { ltp: 103, us: (T + 1) * 1000 },
        { ltp: 104, us: (T + 7) * 1000 },
      ]);
      const keepsMicros = Boolean(process.env['INFLUX_TEST_URL']);
      await until(
        'the points read back',
        async () => (await suite.vm.exportSeries(`{__name__="tick_ltp",instrument_key="${K}"}`)).length === 1,
        { timeoutMs: 15_000, intervalMs: 250 },
      );
      const [series] = await suite.vm.exportSeries(`{__name__="tick_ltp",instrument_key="${K}"}`);
      const atT = series.values.filter((_, i) => series.timestamps[i] === T);
      assert.deepEqual([...new Set(series.timestamps)].sort(), [T, T + 1, T + 7], 'read at ms precision: the frame times');
      if (keepsMicros) assert.deepEqual(atT.sort(), [101, 102], 'InfluxDB keeps both');
      else assert.ok(atT.length >= 1 && atT.every((v) => v === 101 || v === 102), `VictoriaMetrics keeps ${JSON.stringify(atT)} at T`);
    });
  });
});
