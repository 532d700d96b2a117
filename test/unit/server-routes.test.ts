import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { InjectOptions } from 'fastify';
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
