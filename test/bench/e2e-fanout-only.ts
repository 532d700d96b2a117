/**
 * The e2e benchmark's "storage off" side: the service's data plane without storage, in a
 * process of its own. It authorizes against the simulator, subscribes to the keys in full mode,
 * decodes each frame with the real codec and publishes it through the real Fanout and Fastify
 * /ticks route (test/helpers/server-fixture.ts, which also serves /metrics): the fan-out alone,
 * the limit of the current design. The service itself has no switch to turn storage off
 * (without INFLUX_URL every point waits in the spool), and none is added for a benchmark.
 *
 *   node e2e-fanout-only.js <apiUrl> <token> <key,key,...>   prints {"url": "http://..."}
 */
import WebSocket from 'ws';
import { authorizeFeed } from '../../src/upstox/authorize.js';
import { decodeFrame } from '../../src/upstox/codec.js';
import { startServerFixture } from '../helpers/server-fixture.js';

const [apiUrl, token, keys] = process.argv.slice(2);
if (!apiUrl || !token || !keys) throw new Error('usage: e2e-fanout-only.js <apiUrl> <token> <key,key,...>');
// The service's slow-client settings (Fanout's defaults), not the fixture's small test ones: with
// a 64 KiB soft limit a 200-update frame (~160 KB) is uncorked part-way and written update by
// update, a syscall each, which the service never does.
const server = await startServerFixture({ softLimitBytes: 256 * 1024, slowClientTimeoutMs: 10_000 });
const feedUrl = await authorizeFeed(apiUrl, token, 10_000);
const feed = new WebSocket(feedUrl);
feed.on('open', () => {
  const sub = { guid: 'e2e-fanout-only', method: 'sub', data: { mode: 'full', instrumentKeys: keys.split(',') } };
  feed.send(Buffer.from(JSON.stringify(sub)));
});
feed.on('message', (data: Buffer) => {
  const arrivedAt = performance.now();
  const frame = decodeFrame(data);
  server.stats.framesReceived++;
  server.stats.updatesReceived += frame.updates.length;
  server.fanout.publish(frame);
  // The service's tick-path timing (src/upstox/feed-socket.ts), so the two sides compare.
  server.metrics.observeFrame(frame.ts, arrivedAt);
});
feed.on('error', (err) => {
  console.error(`fan-out only: feed socket failed: ${err.message}`);
  process.exit(1);
});
process.once('SIGTERM', () => {
  feed.terminate();
  void server.close().then(() => process.exit(0));
});
process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
