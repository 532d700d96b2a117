/**
 * The /inspector page in real headless Chromium against the real service: VictoriaMetrics is
 * killed (SIGKILL) and the page shows the writer's real machine go influxDown within 5 s, then influxUp
 * after VictoriaMetrics is back. Screenshots of each moment go to test-artifacts/.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { type LiveService, startLiveService } from '../helpers/live-service.js';
import { launchChromium } from '../helpers/chromium.js';
import { until } from '../helpers/poll.js';
import { REPO_ROOT } from '../helpers/stately-relay.js';

const ARTIFACTS = join(REPO_ROOT, 'test-artifacts');
const NAMED = ['connection', 'writer', 'drainer', 'notifier', 'backfill'];
const card = (name: string) => `#actors .card[data-actor="${name}"]`;
const active = (name: string, path: string) => `${card(name)}:not(.stale) .chart .state.active[data-path="${path}"]`;

describe('the /inspector page on the real service, VictoriaMetrics killed and restarted', { timeout: 120_000 }, () => {
  let live: LiveService;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  const pageErrors: string[] = [];

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    live = await startLiveService();
    profile = mkdtempSync(join(tmpdir(), 'tickpipe-chromium-'));
    context = await launchChromium(profile, { viewport: { width: 1366, height: 768 } });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (err) => pageErrors.push(err.message));
  });
  after(async () => {
    await context?.close();
    await live?.stop();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it("draws the five real machines with their states and the writer's transitions", async () => {
    await page.goto(`${live.baseUrl}/inspector`);
    for (const name of NAMED) await page.waitForSelector(`${card(name)}:not(.stale) .chart .state.active`, { timeout: 10_000 });
    assert.deepEqual(await page.$$eval('#actors .card', (cards) => cards.map((c) => c.getAttribute('data-actor'))), NAMED);
    await page.waitForSelector(active('connection', 'streaming'));
    await page.waitForSelector(active('writer', 'influxUp'));
    const states = await page.$$eval(`${card('writer')} .chart .state`, (els) => els.map((e) => e.getAttribute('data-path')));
    for (const s of ['influxUp', 'influxDown', 'influxDown.probing', 'influxDown.waiting', 'influxDown.refused', 'influxDown.unconfigured'])
      assert.ok(states.includes(s), `writer chart lacks ${s}: ${states.join(', ')}`);
    assert.match((await page.textContent(card('writer'))) ?? '', /WRITE_FAILED/, 'transitions are labelled with their events');
    // The service's own event loop beside the actors (GET /state's runtime).
    await page.waitForSelector('#runtime:not([hidden])', { timeout: 10_000 });
    assert.match((await page.textContent('#runtime')) ?? '', /event loop: delay p99 \d+\.\d ms/);
    // ...with the service's share of a tick's latency, the feed streaming.
    await until(
      'the tick path in the badge',
      async () => /frame to \/ticks p99 \d+\.\d ms/.test((await page.textContent('#runtime')) ?? ''),
      { timeoutMs: 10_000 },
    );
    // ...and the storage worker's thread beside it.
    assert.match((await page.textContent('#runtime')) ?? '', /storage worker \d+% busy, \d+ frames queued/);
    await page.screenshot({ path: join(ARTIFACTS, 'live-inspector-up.png') });
  });

  it('shows the writer influxDown within 5 s of VictoriaMetrics being killed, and influxUp after it is back', async () => {
    await live.vm.kill();
    await page.waitForSelector(active('writer', 'influxDown'), { timeout: 5_000 });
    await page.waitForSelector(`${card('writer')}[data-health="bad"]`, { timeout: 5_000 });
    assert.equal(await live.writerValue(), 'influxDown', 'the page agrees with /state');
    await page.screenshot({ path: join(ARTIFACTS, 'live-inspector-influx-down.png') });

    await live.vm.start();
    await page.waitForSelector(active('writer', 'influxUp'), { timeout: 15_000 });
    await page.waitForSelector(`${card('writer')}[data-health="ok"]`, { timeout: 5_000 });
    assert.match((await page.textContent(`${card('writer')} .log`)) ?? '', /influxDown\.\w+ → influxUp/);
    await page.screenshot({ path: join(ARTIFACTS, 'live-inspector-influx-up-again.png') });
  });

  it('reconnects by itself when the service restarts', async () => {
    await live.stopOnly();
    await page.waitForSelector('#link[data-status="disconnected"]', { timeout: 10_000 });
    await live.startAgain();
    await page.waitForSelector('#link[data-status="connected"]', { timeout: 15_000 });
    await page.waitForSelector(active('connection', 'streaming'), { timeout: 15_000 });
    assert.equal(await page.$$eval('#actors .card', (cards) => cards.length), 5);
    assert.deepEqual(pageErrors, []);
  });

  it('lists a dropped feed under "Recent gaps", from the gap ledger', async () => {
    live.sim.dropConnections();
    const row = '#gaps tbody tr[data-backfill]';
    await page.waitForSelector(`${row} td.reason:text-is("socket dropped")`, { timeout: 15_000 });
    const gaps = (await (await fetch(`${live.baseUrl}/gaps`)).json()) as { gaps: Array<{ reason: string; backfill: string }> };
    const shown = await page.$$eval(row, (rows) =>
      rows.map((r) => [r.querySelector('.reason')?.textContent, r.getAttribute('data-backfill')]),
    );
    assert.deepEqual(shown[0], [gaps.gaps[0].reason, gaps.gaps[0].backfill], 'the page shows the ledger, newest first');
    assert.equal(await page.isHidden('#gaps .empty'), true);
    await page.screenshot({ path: join(ARTIFACTS, 'live-inspector-gaps.png'), fullPage: true });
    assert.deepEqual(pageErrors, []);
  });
});
