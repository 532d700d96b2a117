/**
 * Real Chromium against the real app: a page of another site, and a page whose host name is
 * rebound to 127.0.0.1 (DNS rebinding, simulated with Chromium's host resolver rules), can
 * neither read /ticks nor change the subscription; the same page served from the service's own
 * origin can do both, so the refusals are the Origin and Host checks and not the harness.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BrowserContext } from 'playwright-core';
import { launchChromium } from '../helpers/chromium.js';
import { EQ, type ServerFixture, liveFrame, startServerFixture } from '../helpers/server-fixture.js';

const NEW_KEY = 'NSE_EQ|INE040A01034';
const EXTRA_ARGS = [
  // evil.example and rebind.attacker.example resolve to loopback, as after a rebinding.
  '--host-resolver-rules=MAP evil.example 127.0.0.1, MAP rebind.attacker.example 127.0.0.1',
  // The attack pages are served by request interception, which Chromium's local network access
  // checks would treat as public pages reaching loopback; those checks are the browser's, and
  // this test is about the service's own.
  '--disable-features=LocalNetworkAccessChecks,BlockInsecurePrivateNetworkRequests,PrivateNetworkAccessSendPreflights,PrivateNetworkAccessRespectPreflightResults',
];

interface Outcome {
  ws: string;
  ticks: number;
  post: string;
}

/** The attacker's page: tries to read /ticks and to add a key, reports what happened. */
function attackPage(service: string): string {
  const wsUrl = service.replace('http', 'ws') + '/ticks?keys=*';
  return `<!doctype html><script>
window.outcome = (async () => {
  const out = { ws: 'pending', ticks: 0, post: 'pending' };
  await new Promise((resolve) => {
    const ws = new WebSocket(${JSON.stringify(wsUrl)});
    ws.onopen = () => { out.ws = 'open'; };
    ws.onmessage = (m) => { if (JSON.parse(m.data).type === 'tick') { out.ticks++; ws.close(); } };
    ws.onerror = () => { out.ws = out.ws === 'open' ? 'open' : 'error'; };
    ws.onclose = () => resolve();
    setTimeout(() => { ws.close(); resolve(); }, 3000);
  });
  try {
    const r = await fetch(${JSON.stringify(service + '/subscriptions')}, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ add: [${JSON.stringify(NEW_KEY)}] }),
    });
    out.post = String(r.status);
  } catch (err) {
    out.post = 'failed: ' + err.message;
  }
  return out;
})();
</script>`;
}

describe('a page of another origin in headless Chromium', () => {
  let f: ServerFixture;
  let context: BrowserContext;
  let profile: string;
  let port: string;

  before(async () => {
    f = await startServerFixture();
    f.fanout.publish(liveFrame({ [EQ]: 101 }));
    port = new URL(f.url).port;
    profile = mkdtempSync(join(tmpdir(), 'tickpipe-chromium-'));
    context = await launchChromium(profile, { extraArgs: EXTRA_ARGS });
  });
  after(async () => {
    await context?.close();
    await f?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  /** Serves the attack page at `pageOrigin` (intercepted, as the attacker's server would) and runs it. */
  async function run(pageOrigin: string, service: string): Promise<Outcome> {
    const page = await context.newPage();
    try {
      await page.route(`${pageOrigin}/attack.html`, (route) => route.fulfill({ contentType: 'text/html', body: attackPage(service) }));
      await page.goto(`${pageOrigin}/attack.html`);
      return await page.evaluate<Outcome>('window.outcome');
    } finally {
      await page.close();
    }
  }

  it('a page of another site can neither read /ticks nor change the subscription', async () => {
    const out = await run('http://evil.example:8080', `http://127.0.0.1:${port}`);
    assert.equal(out.ws, 'error');
    assert.equal(out.ticks, 0);
    assert.match(out.post, /^failed|^403$/, 'the POST never succeeds (CORS preflight, or the Origin check)');
    assert.ok(!(NEW_KEY in f.subscription), 'subscription unchanged');
  });

  it('a rebound page (same origin to the browser, foreign Host) gets 403 for both', async () => {
    const out = await run(`http://rebind.attacker.example:${port}`, `http://rebind.attacker.example:${port}`);
    assert.equal(out.ws, 'error');
    assert.equal(out.ticks, 0);
    assert.equal(out.post, '403', 'the POST reached the service and was refused');
    assert.ok(!(NEW_KEY in f.subscription), 'subscription unchanged');
  });

  it("the same page from the service's own origin reads ticks and changes the subscription", async () => {
    const out = await run(`http://127.0.0.1:${port}`, `http://127.0.0.1:${port}`);
    assert.equal(out.ws, 'open');
    assert.ok(out.ticks >= 1, 'got the snapshot tick');
    assert.equal(out.post, '200');
    assert.ok(NEW_KEY in f.subscription, 'the key was added');
  });

  it('the page of another site listed in ALLOWED_ORIGINS reads /ticks: the refusal above is the Origin check', async () => {
    const trusting = await startServerFixture({ allowedOrigins: ['http://evil.example:8080'] });
    try {
      trusting.fanout.publish(liveFrame({ [EQ]: 102 }));
      const out = await run('http://evil.example:8080', trusting.url);
      assert.equal(out.ws, 'open');
      assert.ok(out.ticks >= 1);
    } finally {
      await trusting.close();
    }
  });
});
