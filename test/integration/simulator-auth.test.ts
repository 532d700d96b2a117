import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startSimulator, type Simulator } from '../../src/sim/index.js';
import { authorize, authorizedUri, FeedClient, upgradeStatus } from '../helpers/feed-client.js';
import { EQ, FAST, INDEX } from '../helpers/sim-fixtures.js';

describe('Upstox V3 simulator: authorize', () => {
  let sim: Simulator;
  before(async () => {
    sim = await startSimulator({ ...FAST, token: 'good-token', instruments: [EQ, INDEX] });
  });
  after(() => sim.close());

  it('answers a valid token with a one-time ws:// redirect URI', async () => {
    const res = await authorize(sim.apiUrl, 'good-token');
    assert.equal(res.status, 200);
    const body = (await res.json()) as { status: string; data: { authorized_redirect_uri: string; authorizedRedirectUri: string } };
    assert.equal(body.status, 'success');
    assert.match(body.data.authorized_redirect_uri, /^ws:\/\/127\.0\.0\.1:\d+\/v3\/feed\/market-data-feed\?code=\w+$/);
    assert.equal(body.data.authorizedRedirectUri, body.data.authorized_redirect_uri);
    const client = await FeedClient.connect(body.data.authorized_redirect_uri);
    assert.equal(await upgradeStatus(body.data.authorized_redirect_uri), 403, 'second use of the code');
    client.close();
  });

  it('answers a wrong or missing token with 401 UDAPI100050', async () => {
    for (const token of ['bad-token', undefined]) {
      const res = await authorize(sim.apiUrl, token);
      assert.equal(res.status, 401);
      const body = (await res.json()) as { status: string; errors: Array<{ errorCode: string; error_code: string; message: string }> };
      assert.equal(body.status, 'error');
      assert.equal(body.errors[0].errorCode, 'UDAPI100050');
      assert.equal(body.errors[0].error_code, 'UDAPI100050');
      assert.equal(body.errors[0].message, 'Invalid token used to access API');
    }
    assert.equal(await upgradeStatus(sim.apiUrl.replace('http', 'ws') + '/v3/feed/market-data-feed?code=made-up'), 403);
  });

  it('fails authorize on demand with 429 (Retry-After) and 500, then succeeds', async () => {
    const before = sim.stats();
    sim.failAuthorize(429, 2, 7);
    for (let i = 0; i < 2; i++) {
      const res = await authorize(sim.apiUrl, 'good-token');
      assert.equal(res.status, 429);
      assert.equal(res.headers.get('retry-after'), '7');
      await res.body?.cancel();
    }
    sim.failAuthorize(500, 1);
    assert.equal((await authorize(sim.apiUrl, 'good-token')).status, 500);
    assert.equal((await authorize(sim.apiUrl, 'good-token')).status, 200);
    const after = sim.stats();
    assert.equal(after.authorizeCalls - before.authorizeCalls, 4);
    assert.equal(after.authorizeRejected - before.authorizeRejected, 3);
  });

  it('serves the token and instruments URLs', async () => {
    assert.deepEqual(await (await fetch(sim.tokenUrl)).json(), { access_token: 'good-token' });
    assert.deepEqual(await (await fetch(sim.instrumentsUrl)).json(), { instruments: [EQ, INDEX] });
  });

  it('accepts a direct connection with a bearer token, as V3 does', async () => {
    const uri = sim.apiUrl.replace('http', 'ws') + '/v3/feed/market-data-feed';
    const client = await FeedClient.connect(uri, { authorization: `Bearer ${sim.token}` });
    await client.until('market_info', () => client.frames.length > 0);
    client.close();
    assert.equal(await upgradeStatus(uri), 401);
  });

  it('refuses upgrades with 503 while told to, and authorize keeps working', async () => {
    sim.refuseConnections(true);
    const uri = await authorizedUri(sim.apiUrl, sim.token);
    assert.equal(await upgradeStatus(uri), 503);
    sim.refuseConnections(false);
    const client = await FeedClient.connect(uri);
    await client.until('market_info', () => client.frames.length > 0);
    client.close();
  });
});
