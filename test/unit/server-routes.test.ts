import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { InjectOptions } from 'fastify';
import fc from 'fast-check';
import { EQ, type ServerFixture, startServerFixture } from '../helpers/server-fixture.js';

describe('HTTP routes', () => {
  let f: ServerFixture;
  let secured: ServerFixture;
  before(async () => {
    f = await startServerFixture({ listen: false });
    secured = await startServerFixture({ listen: false, apiToken: 's3cret-token' });
  });
  after(async () => {
    await f.close();
    await secured.close();
  });

  it('GET /health answers ok', async () => {
    const r = await f.app.inject('/health');
    assert.equal(r.statusCode, 200);
    assert.deepEqual(r.json(), { status: 'ok' });
  });

  it('GET /ready answers 200, or 503 with the reasons', async () => {
    assert.equal((await f.app.inject('/ready')).statusCode, 200);
    f.ready.ready = false;
    f.ready.reasons = ['feed is not streaming (connection: backoff)'];
    const r = await f.app.inject('/ready');
    assert.equal(r.statusCode, 503);
    assert.deepEqual(r.json().reasons, ['feed is not streaming (connection: backoff)']);
    f.ready.ready = true;
    f.ready.reasons = [];
  });

  it('GET /state passes the state document through', async () => {
    const r = await f.app.inject('/state');
    assert.equal(r.statusCode, 200);
    const s = r.json();
    assert.equal(s.actors.writer.value, 'influxUp');
    assert.equal(s.spool.pendingPoints, 7);
    assert.equal(typeof s.stats.framesReceived, 'number');
  });

  it('GET /metrics is Prometheus text with the counters, actor states and histogram', async () => {
    f.stats.framesReceived = 42;
    const r = await f.app.inject('/metrics');
    assert.equal(r.statusCode, 200);
    assert.match(String(r.headers['content-type']), /text\/plain/);
    assert.match(r.body, /^tickpipe_frames_received_total 42$/m);
    assert.match(r.body, /^tickpipe_spool_pending_points 7$/m);
    assert.match(r.body, /^tickpipe_actor_state\{actor="writer",state="influxUp"\} 1$/m);
    assert.match(r.body, /^tickpipe_actor_state\{actor="connection",state="online.streaming"\} 1$/m);
    assert.match(r.body, /# TYPE tickpipe_influx_write_seconds histogram/);
    assert.match(r.body, /^process_cpu_seconds_total/m);
  });

  it('GET /metrics and /state show how late and busy the event loop was, a block included', async () => {
    const gauge = (body: string, name: string) => {
      const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(body);
      assert.ok(m, `${name} is exported`);
      return Number(m[1]);
    };
    await f.app.inject('/metrics'); // starts a fresh window
    await new Promise((r) => setTimeout(r, 20)); // whose first timer beat only starts its clock
    // Hold the loop for 60 ms: the 10 ms sampling timer fires at least 50 ms late.
    const until = performance.now() + 60;
    while (performance.now() < until);
    await new Promise((r) => setTimeout(r, 20));
    const body = (await f.app.inject('/metrics')).body;
    const [p50, p99, max] = ['p50', 'p99', 'max'].map((q) => gauge(body, `tickpipe_event_loop_delay_${q}_seconds`));
    assert.ok(max >= 0.03, `the block shows in the max delay (${max} s)`);
    assert.ok(0 <= p50 && p50 <= p99 && p99 <= max, `ordered quantiles ${p50} <= ${p99} <= ${max}`);
    const elu = gauge(body, 'tickpipe_event_loop_utilisation');
    assert.ok(elu > 0 && elu <= 1, `utilisation ${elu} in (0, 1]`);
    assert.ok(gauge(body, 'process_cpu_seconds_total') > 0, 'CPU seconds (all threads) from the default metrics');

    const { runtime } = (await f.app.inject('/state')).json<{ runtime: Record<string, number> }>();
    assert.deepEqual(Object.keys(runtime).sort(), [
      'eventLoopDelayMaxMs',
      'eventLoopDelayP50Ms',
      'eventLoopDelayP99Ms',
      'eventLoopUtilisation',
      'feedDelayP99Ms',
      'frameHandlingP50Ms',
      'frameHandlingP99Ms',
      'framesTimed',
      'windowS',
    ]);
    assert.ok(runtime['eventLoopDelayMaxMs'] >= 30, `the block shows in /state too (${runtime['eventLoopDelayMaxMs']} ms)`);
    assert.ok(runtime['eventLoopUtilisation'] > 0 && runtime['eventLoopUtilisation'] <= 1);
    assert.ok(runtime['eventLoopDelayP99Ms'] <= runtime['eventLoopDelayMaxMs']);
  });

  it("times each frame: /metrics' histograms and /state's runtime, the feed delay only for frames with an Upstox time", async () => {
    const count = async (name: string) => {
      const m = new RegExp(`^${name}_count (\\S+)$`, 'm').exec((await f.app.inject('/metrics')).body);
      assert.ok(m, `${name} is exported`);
      return Number(m[1]);
    };
    const [handled, delayed] = [await count('tickpipe_frame_handling_seconds'), await count('tickpipe_feed_delay_seconds')];
    // Arrived 2 ms ago, stamped by Upstox 3 ms ago (in whole ms: 0 to 2 ms before its arrival).
    f.metrics.observeFrame(Date.now() - 3, performance.now() - 2);
    f.metrics.observeFrame(0, performance.now() - 2);
    assert.equal(await count('tickpipe_frame_handling_seconds'), handled + 2);
    assert.equal(await count('tickpipe_feed_delay_seconds'), delayed + 1, 'a frame without currentTs has no feed delay');
    const { runtime } = (await f.app.inject('/state')).json<{ runtime: Record<string, number | null> }>();
    assert.ok(runtime['framesTimed']! >= 2, `${runtime['framesTimed']} frames timed`);
    assert.ok(
      runtime['frameHandlingP99Ms']! >= 2 && runtime['frameHandlingP99Ms']! < 1000,
      `handling p99 ${runtime['frameHandlingP99Ms']} ms`,
    );
    assert.ok(runtime['frameHandlingP50Ms']! <= runtime['frameHandlingP99Ms']!);
    assert.ok(runtime['feedDelayP99Ms']! >= 0 && runtime['feedDelayP99Ms']! < 100, `feed delay p99 ${runtime['feedDelayP99Ms']} ms`);
  });

  it('POST /subscriptions changes the subscription and answers it', async () => {
    const r = await f.app.inject({ method: 'POST', url: '/subscriptions', payload: { add: ['NSE_EQ|INE040A01034'], mode: 'ltpc' } });
    assert.equal(r.statusCode, 200);
    assert.equal(r.json().subscription['NSE_EQ|INE040A01034'], 'ltpc');
    assert.deepEqual(r.json().accepted, ['NSE_EQ|INE040A01034']);
  });

  it('rejects a bad body with 400 and a message naming the problem', async () => {
    for (const payload of [{ add: 'NSE_EQ|X' }, { mode: 'fast' }, {}, { add: [1] }, { bogus: [] }]) {
      const r = await f.app.inject({ method: 'POST', url: '/subscriptions', payload });
      assert.equal(r.statusCode, 400, JSON.stringify(payload));
      assert.ok(r.json().message.length > 5);
    }
    const notJson = await f.app.inject({
      method: 'POST',
      url: '/subscriptions',
      payload: '{nope',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(notJson.statusCode, 400);
  });

  it('answers 422 when the change cannot be applied at all', async () => {
    const r = await f.app.inject({ method: 'POST', url: '/subscriptions', payload: { add: ['NSE_EQ|BOOM'] } });
    assert.equal(r.statusCode, 422);
    assert.match(r.json().message, /limit/);
  });

  it('without API_TOKEN, only loopback clients may mutate', async () => {
    const r = await f.app.inject({ method: 'POST', url: '/subscriptions', payload: { remove: [EQ] }, remoteAddress: '192.168.1.20' });
    assert.equal(r.statusCode, 403);
    assert.match(r.json().message, /API_TOKEN/);
    assert.equal((await f.app.inject({ url: '/state', remoteAddress: '192.168.1.20' })).statusCode, 200, 'reading is open');
  });

  it('with API_TOKEN, mutating needs the token', async () => {
    const body = { method: 'POST' as const, url: '/subscriptions', payload: { remove: ['NSE_EQ|NONE'] } };
    assert.equal((await secured.app.inject(body)).statusCode, 401);
    assert.equal((await secured.app.inject({ ...body, headers: { authorization: 'Bearer wrong' } })).statusCode, 401);
    const ok = await secured.app.inject({ ...body, headers: { authorization: 'Bearer s3cret-token' }, remoteAddress: '10.0.0.9' });
    assert.equal(ok.statusCode, 200);
  });
});

describe('HTTP refusals have one body shape', () => {
  let f: ServerFixture;
  let secured: ServerFixture;
  before(async () => {
    f = await startServerFixture({ listen: false });
    secured = await startServerFixture({ listen: false, apiToken: 's3cret-token' });
  });
  after(async () => {
    await f.close();
    await secured.close();
  });

  const cases: Array<{
    what: string;
    fixture: () => ServerFixture;
    req: InjectOptions;
    status: number;
    code: string;
  }> = [
    {
      what: 'schema violation',
      fixture: () => f,
      req: { method: 'POST', url: '/subscriptions', payload: { mode: 'fast' } },
      status: 400,
      code: 'FST_ERR_VALIDATION',
    },
    {
      what: 'body that is not JSON',
      fixture: () => f,
      req: { method: 'POST', url: '/subscriptions', payload: '{nope', headers: { 'content-type': 'application/json' } },
      status: 400,
      code: 'FST_ERR_CTP_INVALID_JSON_BODY',
    },
    {
      what: 'no token',
      fixture: () => secured,
      req: { method: 'POST', url: '/subscriptions', payload: { remove: [EQ] } },
      status: 401,
      code: 'API_TOKEN_MISSING',
    },
    {
      what: 'wrong token',
      fixture: () => secured,
      req: { method: 'POST', url: '/subscriptions', payload: { remove: [EQ] }, headers: { authorization: 'Bearer nope' } },
      status: 401,
      code: 'API_TOKEN_WRONG',
    },
    {
      what: 'remote client without API_TOKEN',
      fixture: () => f,
      req: { method: 'POST', url: '/subscriptions', payload: { remove: [EQ] }, remoteAddress: '192.168.1.20' },
      status: 403,
      code: 'REMOTE_MUTATION_FORBIDDEN',
    },
    {
      what: 'change nothing of which applies',
      fixture: () => f,
      req: { method: 'POST', url: '/subscriptions', payload: { add: ['NSE_EQ|BOOM'] } },
      status: 422,
      code: 'SUBSCRIPTION_REFUSED',
    },
    { what: 'unknown route', fixture: () => f, req: { url: '/nope?token=x' }, status: 404, code: 'ROUTE_NOT_FOUND' },
    {
      what: 'unknown inspector asset',
      fixture: () => f,
      req: { url: '/inspector/nope.js' },
      status: 404,
      code: 'INSPECTOR_ASSET_NOT_FOUND',
    },
  ];
  for (const c of cases) {
    it(`${c.what}: ${c.status} {statusCode, code, error, message}`, async () => {
      const r = await c.fixture().app.inject(c.req);
      assert.equal(r.statusCode, c.status);
      const body = r.json();
      assert.deepEqual(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode']);
      assert.equal(body.statusCode, c.status);
      assert.equal(body.code, c.code);
      assert.equal(typeof body.error, 'string');
      assert.ok(body.message.length > 5, body.message);
      assert.doesNotMatch(r.body, /\bat .*\.js:\d+/, 'no stack trace');
      if (c.status === 401) assert.equal(r.headers['www-authenticate'], 'Bearer');
    });
  }

  it('an unexpected failure is a 500 with the same shape, and neither its message nor its stack', async () => {
    const r = await f.app.inject({ method: 'POST', url: '/subscriptions', payload: { add: ['NSE_EQ|CRASH'] } });
    assert.equal(r.statusCode, 500);
    assert.deepEqual(Object.keys(r.json()).sort(), ['code', 'error', 'message', 'statusCode']);
    assert.equal(r.json().code, 'INTERNAL_ERROR');
    assert.doesNotMatch(r.body, /undefined reading|server-fixture/);
  });
});

describe('Origin and Host checks on HTTP requests', () => {
  let f: ServerFixture;
  before(async () => {
    f = await startServerFixture({ listen: false, allowedOrigins: ['https://dash.example'], allowedHosts: ['tickpipe.lan'] });
  });
  after(() => f.close());
  const change = (headers: Record<string, string>) =>
    f.app.inject({ method: 'POST', url: '/subscriptions', payload: { remove: ['NSE_EQ|NONE'] }, headers });

  it('refuses a mutating request from a foreign Origin, leaving the subscription alone', async () => {
    const before = { ...f.subscription };
    for (const origin of ['https://evil.example', 'null', 'http://localhost:3001']) {
      const r = await f.app.inject({
        method: 'POST',
        url: '/subscriptions',
        payload: { remove: [EQ] },
        headers: { origin, host: 'localhost:3000' },
      });
      assert.equal(r.statusCode, 403, origin);
      assert.equal(r.json().code, 'ORIGIN_FORBIDDEN');
    }
    assert.deepEqual(f.subscription, before);
    assert.equal((await change({ origin: 'http://localhost:3000', host: 'localhost:3000' })).statusCode, 200, 'own origin');
    assert.equal((await change({ origin: 'https://dash.example', host: 'localhost:3000' })).statusCode, 200, 'ALLOWED_ORIGINS');
    assert.equal((await change({})).statusCode, 200, 'no Origin: a script');
    const read = await f.app.inject({ url: '/state', headers: { origin: 'https://evil.example' } });
    assert.equal(read.statusCode, 200, 'a GET is not checked: without CORS headers a foreign page cannot read it');
  });

  it('refuses any request whose Host is a name not listed (DNS rebinding)', async () => {
    for (const host of ['rebind.attacker.example:3000', 'rebind.attacker.example', 'localhost.attacker.example']) {
      const r = await f.app.inject({ url: '/health', headers: { host } });
      assert.equal(r.statusCode, 403, host);
      assert.equal(r.json().code, 'HOST_FORBIDDEN');
      assert.match(r.json().message, /ALLOWED_HOSTS/);
    }
    const r = await change({ host: 'rebind.attacker.example:3000', origin: 'http://rebind.attacker.example:3000' });
    assert.equal(r.statusCode, 403);
    for (const host of ['127.0.0.1:3000', '[::1]:3000', 'localhost', 'LOCALHOST:3000', '192.168.1.5:3000', 'TickPipe.LAN:3000']) {
      assert.equal((await f.app.inject({ url: '/health', headers: { host } })).statusCode, 200, host);
    }
  });
});

describe('POST /subscriptions fuzzed', () => {
  let f: ServerFixture;
  before(async () => {
    f = await startServerFixture({ listen: false });
  });
  after(() => f.close());

  it('answers every body with 200 or a 4xx in the one shape, and stays healthy', async () => {
    const keys = fc.array(fc.oneof(fc.constantFrom(EQ, 'NSE_EQ|NEW1', 'NSE_EQ|BOOM', ''), fc.string({ maxLength: 250 })), {
      maxLength: 30,
    });
    const body = fc.oneof(
      fc.record(
        {
          add: fc.oneof(keys, fc.anything()),
          remove: fc.oneof(keys, fc.anything()),
          mode: fc.oneof(fc.constantFrom('ltpc', 'full'), fc.anything()),
        },
        { requiredKeys: [] },
      ),
      fc.json().map((j) => ({ raw: j })),
      fc.string({ maxLength: 300 }).map((s) => ({ raw: s })),
    );
    const contentType = fc.constantFrom(
      'application/json',
      'text/plain',
      'application/x-www-form-urlencoded',
      'application/json; charset=utf-8',
    );
    await fc.assert(
      fc.asyncProperty(body, contentType, async (b, type) => {
        const payload = 'raw' in b && Object.keys(b).length === 1 ? String(b.raw) : JSON.stringify(b);
        const r = await f.app.inject({ method: 'POST', url: '/subscriptions', payload, headers: { 'content-type': type } });
        assert.ok(r.statusCode === 200 || (r.statusCode >= 400 && r.statusCode < 500), `${r.statusCode} for ${payload.slice(0, 80)}`);
        const json = r.json();
        if (r.statusCode === 200) assert.equal(typeof json.subscription, 'object');
        else {
          assert.deepEqual(Object.keys(json).sort(), ['code', 'error', 'message', 'statusCode']);
          assert.equal(json.statusCode, r.statusCode);
          assert.doesNotMatch(r.body, /\bat .*\.js:\d+/);
        }
      }),
      { numRuns: 300, seed: 7 },
    );
    assert.equal((await f.app.inject('/health')).statusCode, 200);
  });
});
