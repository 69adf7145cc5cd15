import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import type { TestApp } from './app';
import { signIn, type TestSession } from './session';

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

/**
 * Signs `email` in through a one-time link (the session helper) and hands the session cookie to
 * the browser context, so pages open signed in.
 */
export async function signInBrowser(context: BrowserContext, t: TestApp, email: string): Promise<TestSession> {
  const session = await signIn(t, email);
  const [name, value] = session.cookie.split(/=(.*)/s);
  await context.addCookies([{ name, value, url: t.url }]);
  return session;
}
