/**
 * Debian's headless Chromium as every browser test launches it. The background-networking flags
 * keep it from reaching for Google's hosts at start, which this machine's closed network refuses.
 */
import { type BrowserContext, chromium } from 'playwright-core';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A persistent context on a fresh `profile` directory; `extraArgs` after the common flags. */
export function launchChromium(
  profile: string,
  options: { extraArgs?: readonly string[]; viewport?: { width: number; height: number } } = {},
): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [...CHROMIUM_ARGS, ...(options.extraArgs ?? [])],
    ...(options.viewport ? { viewport: options.viewport } : {}),
  });
}
