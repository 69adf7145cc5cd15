import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env.SLUICE_TEST_CHROMIUM ?? '/usr/bin/chromium';

/**
 * Debian's Chromium, installed on first use when missing and we are root (a fresh CI machine);
 * otherwise the error says how to install it.
 */
export function ensureChromium(): string {
  if (fs.existsSync(CHROMIUM)) return CHROMIUM;
  if (process.getuid?.() === 0) {
    const opts = { stdio: 'inherit' as const, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeout: 15 * 60_000 };
    execFileSync('apt-get', ['update'], opts);
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'], opts);
    if (fs.existsSync(CHROMIUM)) return CHROMIUM;
  }
  throw new Error(`Chromium not found at ${CHROMIUM}: install it (apt-get install -y chromium) or set SLUICE_TEST_CHROMIUM`);
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: ensureChromium(),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}
