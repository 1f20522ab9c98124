// Drives Debian's headless Chromium (never a downloaded browser) through playwright-core.
// Usage: node tests/browser/drive.mjs URL [URL...]
// Opens each page in one fresh profile, waits for window.__results and prints, as one JSON
// array on stdout, {url, results, console} per page. CHROMIUM overrides the browser path.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const args = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const TIMEOUT_MS = 30_000;

async function visit(context, url) {
  const page = await context.newPage();
  const messages = [];
  page.on('console', (message) => messages.push(`${message.type()}: ${message.text()}`));
  page.on('pageerror', (error) => messages.push(`pageerror: ${error.message}`));
  await page.goto(url, { timeout: TIMEOUT_MS });
  await page.waitForFunction(() => window.__results !== undefined, null, { timeout: TIMEOUT_MS });
  const results = await page.evaluate(() => window.__results);
  await page.close();
  return { url, results, console: messages };
}

const profile = mkdtempSync(join(tmpdir(), 'jetbridge-chromium-'));
let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath, headless: true, args, timeout: TIMEOUT_MS,
  });
  const visits = [];
  for (const url of process.argv.slice(2)) {
    visits.push(await visit(context, url));
  }
  process.stdout.write(JSON.stringify(visits));
} finally {
  if (context) await context.close();
  rmSync(profile, { recursive: true, force: true });
}
