// Headless Chromium for the page's tests and benchmark: Debian's chromium
// driven by playwright-core (never a browser download), a fresh profile per
// launch, and the page's console and CSP reports collected.
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(new URL('../../bindings/wasm/package.json', import.meta.url));
const { chromium } = require('playwright-core');

export const CHROMIUM = process.env.KVITTO_CHROMIUM ?? '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Launch Chromium with a fresh user data dir; `close()` removes it. */
export async function launch({ viewport = { width: 1280, height: 900 } } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'kvitto-chromium-'));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport,
    acceptDownloads: true,
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A page whose console errors, page errors and CSP violations are kept in `problems`. */
export async function openPage(context, url) {
  const page = context.pages()[0] ?? (await context.newPage());
  const problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || /Content Security Policy/i.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('dialog', (d) => {
    problems.push(`dialog: ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  await page.goto(url);
  await page.waitForFunction(() => document.body.dataset.ready === 'true' || document.body.dataset.ready === 'error', null, {
    timeout: 120_000,
  });
  return { page, problems };
}
