import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { startStandInService, type InspectedService } from '../helpers/inspector/stand-in-service.js';
import { launchChromium } from '../helpers/chromium.js';
import { REPO_ROOT } from '../helpers/stately-relay.js';

const ARTIFACTS = join(REPO_ROOT, 'test-artifacts');
const NAMED = ['connection', 'writer', 'drainer', 'notifier', 'backfill'];

const card = (name: string) => `#actors .card[data-actor="${name}"]`;
const active = (name: string, path: string) => `${card(name)}:not(.stale) .chart .state.active[data-path="${path}"]`;

describe('the /inspector page in headless Chromium', () => {
  let service: InspectedService;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  const foreign: string[] = [];
  const pageErrors: string[] = [];

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    service = await startStandInService({ apiToken: 'page-token' });
    profile = mkdtempSync(join(tmpdir(), 'tickpipe-chromium-'));
    context = await launchChromium(profile, { viewport: { width: 1366, height: 768 } });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('request', (req) => {
      const url = req.url();
      if (!url.startsWith(service.baseUrl) && !url.startsWith('ws://127.0.0.1') && !url.startsWith('data:')) foreign.push(url);
    });
    page.on('pageerror', (err) => pageErrors.push(err.message));
  });
  after(async () => {
    await context?.close();
    await service?.stop();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('shows the five statecharts, live, with ?token= for /inspect', async () => {
    await page.goto(`${service.baseUrl}/inspector?token=page-token`);
    for (const name of NAMED) {
      await page.waitForSelector(`${card(name)}:not(.stale) .chart .state`, { timeout: 10_000 });
    }
    assert.deepEqual(await page.$$eval('#actors .card', (cards) => cards.map((c) => c.getAttribute('data-actor'))), NAMED);
    await page.waitForSelector(active('connection', 'streaming'));
    await page.waitForSelector(active('writer', 'influxUp'));
    assert.equal(await page.getAttribute(card('writer'), 'data-health'), 'ok');
    assert.equal(await page.getAttribute('#link', 'data-status'), 'connected');
    const states = await page.$$eval(`${card('writer')} .chart .state[data-path]`, (els) => els.map((e) => e.getAttribute('data-path')));
    assert.deepEqual(states, [
      'influxUp',
      'influxDown',
      'influxDown.probing',
      'influxDown.waiting',
      'influxDown.refused',
      'influxDown.unconfigured',
    ]);
    assert.match(
      (await page.textContent(card('writer'))) ?? '',
      /WRITE_FAILED\s*→\s*influxDown/,
      'transitions are labelled with their events',
    );
    await page.screenshot({ path: join(ARTIFACTS, 'inspector-up.png') });
  });

  it("shows the event loop's delay beside the actors, from /state", async () => {
    await page.waitForSelector('#runtime:not([hidden])', { timeout: 10_000 });
    const text = (await page.textContent('#runtime')) ?? '';
    assert.match(text, /event loop: delay p99 \d+\.\d ms · max \d+ ms · \d+% busy/);
    const p99 = Number(await page.getAttribute('#runtime', 'data-delay-p99-ms'));
    assert.ok(Number.isFinite(p99) && p99 >= 0, `a delay in ms (${p99})`);
    assert.match((await page.getAttribute('#runtime', 'data-level')) ?? '', /^(ok|warn|bad)$/);
  });

  it('turns the writer to influxDown within 5 s, red at a glance, and back when it recovers', async () => {
    await service.setWriterDown(true);
    await page.waitForSelector(active('writer', 'influxDown'), { timeout: 5_000 });
    await page.waitForSelector(`${card('writer')}[data-health="bad"]`, { timeout: 5_000 });
    assert.match((await page.textContent(`${card('writer')} [data-role="state"]`)) ?? '', /^influxDown/);
    // The real writer keeps its failure as `code` and `lastFailure` (shown in the context panel).
    assert.match((await page.textContent(`${card('writer')} .reason`)) ?? '', /ECONNREFUSED/);
    assert.match((await page.textContent(card('writer'))) ?? '', /INFLUX_UNAVAILABLE/);
    await page.waitForSelector(`#summary .chip.level-bad`);
    await page.waitForSelector(active('drainer', 'paused'), { timeout: 5_000 });
    await page.screenshot({ path: join(ARTIFACTS, 'inspector-influx-down.png') });

    await service.setWriterDown(false);
    await page.waitForSelector(active('writer', 'influxUp'), { timeout: 5_000 });
    await page.waitForSelector(`${card('writer')}[data-health="ok"]`, { timeout: 5_000 });
    assert.match((await page.textContent(`${card('writer')} .log`)) ?? '', /influxDown\.\w+ → influxUp/, 'the log shows the transition');
    await page.screenshot({ path: join(ARTIFACTS, 'inspector-influx-up.png') });
  });

  it('says it is disconnected while the service is away, and reconnects by itself', async () => {
    await service.stopOnly();
    await page.waitForSelector('#link[data-status="disconnected"]', { timeout: 10_000 });
    assert.match((await page.textContent('#link')) ?? '', /disconnected, retrying/);
    await page.waitForSelector(`${card('writer')}.stale`);
    await page.screenshot({ path: join(ARTIFACTS, 'inspector-disconnected.png') });

    await service.startAgain();
    await page.waitForSelector('#link[data-status="connected"]', { timeout: 15_000 });
    for (const name of NAMED) await page.waitForSelector(`${card(name)}:not(.stale) .chart .state.active`, { timeout: 10_000 });
    await page.waitForSelector(active('writer', 'influxUp'));
    assert.equal(await page.$$eval('#actors .card', (cards) => cards.length), 5, 'the same five cards, not duplicates');
    await page.screenshot({ path: join(ARTIFACTS, 'inspector-reconnected.png') });
  });

  it('loaded nothing from anywhere but the service, and threw no errors', () => {
    assert.deepEqual(foreign, []);
    assert.deepEqual(pageErrors, []);
  });
});
