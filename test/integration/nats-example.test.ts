/**
 * The README's example NATS consumer, run as a user runs it (`node nats-consumer.mjs`) against a
 * real nats-server fed by tickpipe's publisher; the README embeds the same file, checked here
 * line for line. Debian has no official Python NATS client (python3-nats), so the README ships
 * the Node one only.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { marketStatusJson } from '../../src/fanout/tick-json.js';
import { createLogger } from '../../src/logger.js';
import { NatsLink } from '../../src/nats/link.js';
import { NatsPublisher } from '../../src/nats/publisher.js';
import { startNatsServer } from '../helpers/nats-server.js';
import { until } from '../helpers/poll.js';
import { EQ, IDX } from '../helpers/server-fixture.js';
import { REPO_ROOT } from '../helpers/stately-relay.js';

const EXAMPLES = join(REPO_ROOT, 'test', 'examples');

describe('example NATS consumer', { timeout: 60_000 }, () => {
  it('the Node consumer (official client) prints ticks of every key and market status, with their subjects', async (t) => {
    const nats = await startNatsServer();
    t.after(() => nats.close());
    const logger = createLogger('silent');
    const link = new NatsLink({ servers: [nats.url], name: 't', reconnectBaseMs: 50, reconnectMaxMs: 500, pingIntervalMs: 1000, logger });
    t.after(() => link.close());
    const pub = new NatsPublisher({ link, stream: 'TICKPIPE', maxAgeS: 3600, maxInFlight: 1000, ackTimeoutMs: 2000, logger });
    link.start();
    await until('stream', () => pub.streamExists);
    let ts = 1_764_215_160_000;
    const timer = setInterval(() => {
      ts++;
      for (const [key, ltp] of [
        [EQ, 2500],
        [IDX, 51000],
      ] as const)
        pub.publishTick(key, ts, Buffer.from(JSON.stringify({ type: 'tick', key, ts, ltp, ltt: ts, ltq: 1, cp: ltp })));
      if (ts % 10 === 0) pub.publishMarketStatus(ts, Buffer.from(marketStatusJson({ NSE_EQ: 'NORMAL_OPEN' }, ts)));
    }, 20);
    t.after(() => clearInterval(timer));

    const child = spawn(process.execPath, [join(EXAMPLES, 'nats-consumer.mjs')], {
      cwd: EXAMPLES,
      env: { PATH: process.env['PATH'] ?? '', NATS_URL: nats.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    t.after(() => void child.kill('SIGKILL'));
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    await until(
      'ticks of both keys and a market status',
      () => {
        if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}: ${out}`);
        return out.includes(`tick ${EQ} `) && out.includes(`tick ${IDX} `) && out.includes('market_status ');
      },
      { timeoutMs: 20_000 },
    );
    assert.match(out, /tick NSE_INDEX\|Nifty Bank \d+ 51000 tickpipe\.tick\.NSE_INDEX\.Nifty~20Bank/);
    assert.match(out, /market_status \{"type":"market_status","segments":\{"NSE_EQ":"NORMAL_OPEN"\}/);
  });

  it('the README holds the example verbatim', () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const code = readFileSync(join(EXAMPLES, 'nats-consumer.mjs'), 'utf8').trimEnd();
    assert.ok(readme.includes(code), 'README.md does not contain test/examples/nats-consumer.mjs verbatim');
  });
});
