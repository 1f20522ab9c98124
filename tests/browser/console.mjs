// Drives the console (/console/) in Debian's headless Chromium through playwright-core, as a
// person would: picks actions, fills their forms, runs them, reads the outcome.
// Usage: node tests/browser/console.mjs CONFIG_JSON
//   {"demo": URL, "kitchen": URL|null, "key": KEY, "downloads": DIR,
//    "screenshot": PNG|null, "aria": YML|null}
// Prints one JSON object of observations on stdout; tests/test_console.py asserts on it.
// With only "demo" and "screenshot", it just takes the README's screenshot (scripts/screenshot-console).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const config = JSON.parse(process.argv[2]);
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
// The same flags as tests/browser/drive.mjs.
const args = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const TIMEOUT_MS = 30_000;
const PREFIXES = ['', 'go_', 'node_'];
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const seen = { console: [], requests: [], axeRuns: [] };

async function openConsole(page, base) {
  await page.goto(`${base}/console/`, { timeout: TIMEOUT_MS });
  await page.locator('#list-status').filter({ hasText: /action\(s\)|failed/ }).waitFor();
  return page.locator('#list-status').textContent();
}

async function choose(page, name) {
  await page.locator(`button.action[data-action="${name}"]`).click();
  await page.locator('#action-heading').waitFor();
}

async function run(page) {
  await page.evaluate(() => document.getElementById('outcome').replaceChildren());
  await page.locator('#run button.run').click();
  await page.locator('#outcome-status').waitFor();
  return outcome(page);
}

async function text(locator) {
  return (await locator.count()) ? (await locator.first().textContent()).trim() : null;
}

async function outcome(page) {
  const frame = page.locator('#outcome-html');
  return {
    status: await text(page.locator('#outcome-status')),
    message: await text(page.locator('#outcome-message')),
    html: (await frame.count()) ? await frame.getAttribute('srcdoc') : null,
    sandbox: (await frame.count()) ? await frame.getAttribute('sandbox') : null,
    download: await text(page.locator('#download')),
    request: JSON.parse(await page.locator('#raw-request').textContent()),
    curl: await page.locator('#raw-curl').textContent(),
    response: await page.locator('#raw-response').textContent(),
    requestId: await text(page.locator('#request-id')),
    elapsed: await text(page.locator('#elapsed')),
    formErrors: await page.locator('#form-errors li').allTextContents(),
  };
}

function field(page, name) {
  return page.locator(`#run [data-field="${name}"]`);
}

async function fieldErrors(page, name) {
  const wrapper = field(page, name);
  const input = wrapper.locator('input, select, textarea').first();
  const errors = wrapper.locator('ul.errors');
  return {
    errors: await errors.locator('li').allTextContents(),
    invalid: await input.getAttribute('aria-invalid'),
    describedBy: (await input.getAttribute('aria-describedby')).split(' ').includes(await errors.getAttribute('id')),
  };
}

async function selectLabels(page, name) {
  return (await field(page, name).locator('select option').allTextContents()).slice(1);
}

async function waitForOption(page, name, label) {
  await field(page, name).locator('select option', { hasText: label }).waitFor({ state: 'attached' });
}

async function axe(page, context) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  seen.axeRuns.push(context);
  return result.violations.map((v) => ({ context, id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help }));
}

function structure(snapshot) {
  // Time and request id change from run to run; the rest is the structure.
  return snapshot.replace(/\d+ ms/g, 'N ms').replace(/(term: Request id\n\s*- definition: ).*/g, '$1ID');
}

// Every example action of one language, through the form.
async function shop(page, prefix, downloads) {
  const seenHere = {};
  await choose(page, `${prefix}mail_users`);
  await page.getByLabel('Several records (ids)').check();
  await page.getByLabel('Record id(s), comma-separated').fill('1, 2');
  await page.getByLabel('subject', { exact: true }).fill('Hello');
  await page.getByLabel('urgent', { exact: true }).check();
  seenHere.mail_several = await run(page);
  await page.getByLabel('All records except these (inverseIds)').check();
  await page.getByLabel('Record id(s), comma-separated').fill('1');
  seenHere.mail_except = await run(page);
  await page.getByLabel('One record (id)').check();
  await page.getByLabel('Record id(s), comma-separated').fill('3');
  seenHere.mail_one = await run(page);
  await page.getByLabel('Record id(s), comma-separated').fill('99');
  seenHere.mail_unknown = await run(page);
  seenHere.mail_unknown.subject = await fieldErrors(page, 'subject');

  await choose(page, `${prefix}adjust_wallet`);
  await page.getByLabel('Record id(s), comma-separated').fill('1');
  await page.getByLabel('amount', { exact: true }).fill('-5');
  seenHere.wallet_refused = await run(page);
  seenHere.wallet_refused.amount = await fieldErrors(page, 'amount');
  seenHere.wallet_refused.focused = await page.evaluate(() => document.activeElement.name);
  await page.getByLabel('amount', { exact: true }).fill('5.00');
  seenHere.wallet = await run(page);
  seenHere.wallet.amount = await fieldErrors(page, 'amount');
  seenHere.wallet.frameText = (await page.frameLocator('#outcome-html').locator('body').textContent()).trim();

  await choose(page, `${prefix}export_users`);
  seenHere.export = await run(page);
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#download').click()]);
  const saved = join(downloads, `${prefix}users.csv`);
  await download.saveAs(saved);
  seenHere.export.saved = saved;
  seenHere.export.suggested = download.suggestedFilename();

  await choose(page, `${prefix}ship_order`);
  await page.getByLabel('Record id(s), comma-separated').fill('42');
  await page.getByLabel('carrier', { exact: true }).selectOption({ label: 'DHL' });
  await page.getByLabel('country', { exact: true }).selectOption({ label: 'United Kingdom' });
  await waitForOption(page, 'city', 'Leeds');
  seenHere.cities_uk = await selectLabels(page, 'city');
  await page.getByLabel('city', { exact: true }).selectOption({ label: 'Leeds' });
  seenHere.ship = await run(page);
  await page.getByLabel('country', { exact: true }).selectOption({ label: 'Italy' });
  await waitForOption(page, 'city', 'Rome');
  seenHere.cities_italy = await selectLabels(page, 'city');
  seenHere.city_after_change = await page.getByLabel('city', { exact: true }).inputValue();
  await page.getByLabel('city', { exact: true }).selectOption({ label: 'Rome' });
  await page.getByLabel('country', { exact: true }).selectOption({ label: 'United Kingdom' });
  await waitForOption(page, 'city', 'Leeds');
  seenHere.ship_city_dropped = await run(page);
  seenHere.ship_city_dropped.city = await fieldErrors(page, 'city');

  await choose(page, `${prefix}refresh_stats`);
  seenHere.refresh = await run(page);
  return seenHere;
}

async function demo(context, base, observations) {
  const page = await context.newPage();
  page.on('console', (m) => seen.console.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => seen.console.push(`pageerror: ${e.message}`));
  page.on('request', (r) => seen.requests.push(r.url()));
  await page.setViewportSize({ width: 1280, height: 800 });
  observations.demo_list = await openConsole(page, base);
  observations.groups = await page.locator('#groups h3').allTextContents();
  observations.buttons = await page.locator('button.action').evaluateAll(
    (buttons) => buttons.map((b) => ({ name: b.dataset.action, text: b.textContent })));
  await choose(page, 'mail_users');
  observations.details = await page.locator('.details').first().innerText();
  observations.shops = {};
  for (const prefix of PREFIXES) observations.shops[prefix || 'python'] = await shop(page, prefix, config.downloads);
  observations.axe = [];
  await choose(page, 'adjust_wallet');
  await page.getByLabel('Record id(s), comma-separated').fill('1');
  await page.getByLabel('amount', { exact: true }).fill('0');
  await run(page);
  observations.axe.push(...await axe(page, 'demo: field error'));
  await screenshotState(page);
  observations.axe.push(...await axe(page, 'demo: ship_order with outcome'));
  observations.structure = structure(await page.locator('body').ariaSnapshot());
  observations.wide = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
  await page.setViewportSize({ width: 390, height: 800 });
  observations.narrow = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
  observations.axe.push(...await axe(page, 'demo: narrow window'));
  await page.close();
}

// The state the README's screenshot shows: ship_order filled in and run.
async function screenshotState(page) {
  await page.setViewportSize({ width: 1280, height: 800 });
  await choose(page, 'ship_order');
  await page.getByLabel('Record id(s), comma-separated').fill('42');
  await page.getByLabel('carrier', { exact: true }).selectOption({ label: 'DHL' });
  await page.getByLabel('country', { exact: true }).selectOption({ label: 'United Kingdom' });
  await waitForOption(page, 'city', 'Leeds');
  await page.getByLabel('city', { exact: true }).selectOption({ label: 'Leeds' });
  await run(page);
  await page.locator('#outcome details').first().evaluate((d) => { d.open = true; });
  // Choosing the city asks for the form's options again: the picture shows them loaded.
  await page.waitForFunction(() => !document.body.innerText.includes('Loading options…'));
  if (config.screenshot) await page.screenshot({ path: config.screenshot });
  if (config.aria) writeFileSync(config.aria, structure(await page.locator('body').ariaSnapshot()) + '\n');
}

async function kitchen(context, base, observations) {
  const page = await context.newPage();
  page.on('console', (m) => seen.console.push(`${m.type()}: ${m.text()}`));
  page.on('request', (r) => seen.requests.push(r.url()));
  observations.kitchen_unauthorised = await openConsole(page, base);
  // The key goes in by keyboard, and submitting it reloads the actions.
  await page.getByLabel('Authorization').fill(config.key);
  await page.getByLabel('Authorization').press('Enter');
  await page.locator('#list-status').filter({ hasText: 'action(s)' }).waitFor();
  observations.kitchen_list = await page.locator('#list-status').textContent();
  observations.stored = await page.evaluate(() => ({ ...window.sessionStorage }));
  observations.local = await page.evaluate(() => window.localStorage.length);

  await choose(page, 'every_field');
  observations.conflicts = await page.locator('.conflicts li').allTextContents();
  observations.badges = await page.locator('button.action .badge').allTextContents();
  observations.description = await text(page.locator('.description'));
  observations.fields = await page.locator('#run .field').evaluateAll((wrappers) => wrappers.map((w) => {
    const input = w.querySelector('input, select, textarea');
    return {
      name: w.dataset.field, tag: input.tagName.toLowerCase(), type: input.type,
      label: w.querySelector('label').textContent, required: input.required,
      star: w.querySelector('.required') !== null,
      value: input.type === 'checkbox' ? input.checked : input.value, note: w.querySelector('.type').textContent,
    };
  }));
  // An empty required title: the server's field error lands next to it.
  observations.kitchen_empty = await run(page);
  observations.title_error = await fieldErrors(page, 'title');
  // Bad JSON is caught before sending.
  await page.getByLabel('data', { exact: true }).fill('{oops');
  const before = seen.requests.length;
  await page.locator('#run button.run').click();
  observations.data_error = await fieldErrors(page, 'data');
  observations.sent_with_bad_json = seen.requests.length - before;
  await page.getByLabel('Title', { exact: true }).fill('Hi');
  await page.getByLabel('notes', { exact: true }).fill('two\nlines');
  await page.getByLabel('count', { exact: true }).fill('7');
  await page.getByLabel('ratio', { exact: true }).fill('0.5');
  await page.getByLabel('price', { exact: true }).fill('12.30');
  await page.getByLabel('active', { exact: true }).uncheck();
  await page.getByLabel('day', { exact: true }).fill('2026-12-01');
  await page.getByLabel('at', { exact: true }).fill('13:45:10');
  await page.getByLabel('when', { exact: true }).fill('2026-12-01T13:45:10');
  await page.getByLabel('data', { exact: true }).fill('{"b": [1, 2]}');
  await page.getByLabel('size', { exact: true }).selectOption({ label: 'Two (a number)' });
  await page.getByLabel('owner', { exact: true }).fill('17');
  observations.every_field = await run(page);
  observations.axe = [...await axe(page, 'kitchen: every field')];

  // Hostile html, run with the keyboard only: Enter on the action, Tab to Run, Enter.
  await page.locator('button.action[data-action="hostile_html"]').focus();
  await page.keyboard.press('Enter');
  let tabs = 0;
  while (!(await page.evaluate(() => document.activeElement.classList.contains('run'))) && tabs < 20) {
    await page.keyboard.press('Tab');
    tabs += 1;
  }
  observations.tabs_to_run = tabs;
  await page.keyboard.press('Enter');
  await page.locator('#outcome-html').waitFor();
  const frame = page.frameLocator('#outcome-html');
  observations.hostile = await outcome(page);
  observations.hostile.frameText = (await frame.locator('body').textContent()).trim();
  await frame.locator('a').click().catch(() => {});
  await frame.locator('img').waitFor({ state: 'attached' });
  observations.parent_pwned = await page.evaluate(() => window.__pwned ?? null);
  const child = page.frames().find((f) => f !== page.mainFrame());
  observations.frame_pwned = await child.evaluate(() => window.__pwned ?? null).catch((e) => `not evaluated: ${e.message}`);
  observations.axe.push(...await axe(page, 'kitchen: html result'));

  await page.getByRole('button', { name: 'Forget' }).click();
  await page.locator('#list-status').filter({ hasText: 'failed' }).waitFor();
  observations.forgotten = await page.evaluate(() => ({ ...window.sessionStorage }));
  // The form stays; without the key the bridge answers a JSON 401, shown with its status.
  observations.unauthorised_run = await run(page);
  observations.urls = [page.url()];
  await page.close();
}

const profile = mkdtempSync(join(tmpdir(), 'jetbridge-console-'));
let context;
const observations = {};
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath, headless: true, args, timeout: TIMEOUT_MS, acceptDownloads: true,
  });
  context.setDefaultTimeout(TIMEOUT_MS);
  if (config.kitchen) await kitchen(context, config.kitchen, observations);
  if (config.downloads) {
    await demo(context, config.demo, observations);
  } else {
    const page = await context.newPage();
    await openConsole(page, config.demo);
    await screenshotState(page);
  }
  observations.console = seen.console;
  observations.requests = seen.requests;
  observations.axe_runs = seen.axeRuns;
  process.stdout.write(JSON.stringify(observations));
} finally {
  if (context) await context.close();
  rmSync(profile, { recursive: true, force: true });
}
