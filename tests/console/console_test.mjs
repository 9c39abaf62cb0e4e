// The web console in real headless Chromium (Debian's `chromium`, driven by
// playwright-core). Started by tests/bot/console_browser_test.cpp, which runs
// baton and passes:
//   BATON_URL              baton's base URL
//   BATON_LINK             a fresh one-time sign-in link for alice
//   BATON_LINK_EXPIRED     a link whose ten minutes are over
//   BATON_ROUTING_KEY      an integration key to send an alert with
//   BATON_CHROMIUM         the browser to run
//   BATON_CONSOLE_SCREENSHOTS  optional: a directory for a screenshot of each page
// Prints "ok - <step>" per step; exits 1 with the reason on the first failure.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const base = env('BATON_URL');
const link = env('BATON_LINK');
const expiredLink = env('BATON_LINK_EXPIRED');
const routingKey = env('BATON_ROUTING_KEY');
const shots = process.env.BATON_CONSOLE_SCREENSHOTS || '';
const TIMEOUT = 15000;

function ok(step) { console.log(`ok - ${step}`); }
function check(cond, what) { if (!cond) throw new Error(`check failed: ${what}`); }

async function shot(page, name) {
  if (!shots) return;
  mkdirSync(shots, { recursive: true });
  await page.evaluate(() => { document.getElementById('toast').hidden = true; });
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  ok(`screenshot ${name}.png`);
}

// launch() gives Chromium a fresh temporary profile (--user-data-dir) every run;
// nothing reaches the network but baton's loopback address.
const browser = await chromium.launch({
  executablePath: env('BATON_CHROMIUM'),
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});

try {
  const desktop = { viewport: { width: 1280, height: 860 }, timezoneId: 'America/New_York', locale: 'en-US' };
  const ctx = await browser.newContext(desktop);
  ctx.setDefaultTimeout(TIMEOUT);
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error' && !/status of (401|403|404|409|410)/.test(m.text())) errors.push(m.text()); });

  // --- An expired link is refused and signs nobody in.
  let res = await page.goto(expiredLink);
  check(res.status() === 410, `expired link answered ${res.status()}`);
  check(/expired/i.test(await page.textContent('h1')), 'the expired page says so');
  check((await ctx.cookies()).length === 0, 'no cookie from an expired link');
  ok('an expired link is refused');

  // --- Before signing in, the console says how to.
  await page.goto(`${base}/`);
  await page.waitForSelector('#signed-out');
  ok('signed out: the console explains how to sign in');

  // --- The one-time link: a confirmation page, then the session.
  res = await page.goto(link);
  check(res.status() === 200, `link page answered ${res.status()}`);
  await Promise.all([page.waitForURL(`${base}/`), page.click('button[type=submit]')]);
  await page.waitForSelector('#me');
  check((await page.textContent('#me')) === 'Alice Example', 'signed in as Alice');
  const cookie = (await ctx.cookies()).find((c) => c.name === 'baton_session');
  check(cookie && cookie.httpOnly && cookie.sameSite === 'Strict', 'an HttpOnly, SameSite=Strict session cookie');
  ok('a one-time link signs in');

  // --- The same link again, from another browser: refused.
  const other = await browser.newContext(desktop);
  const otherPage = await other.newPage();
  await otherPage.goto(link);
  const [again] = await Promise.all([otherPage.waitForNavigation(), otherPage.click('button[type=submit]')]);
  check(again.status() === 409, `a reused link answered ${again.status()}`);
  check(/already used/i.test(await otherPage.textContent('h1')), 'the reused page says so');
  check(!(await other.cookies()).some((c) => c.name === 'baton_session'), 'no session from a reused link');
  await other.close();
  ok('a reused link is refused');

  // --- An alert appears in the open page without a reload.
  await page.waitForSelector('#incident-list');
  await page.evaluate(() => { window.__notReloaded = true; });
  const before = await page.$$eval('#incident-list li[data-number]', (lis) => lis.map((li) => Number(li.dataset.number)));
  const alert = await fetch(`${base}/v2/enqueue`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ routing_key: routingKey, event_action: 'trigger', dedup_key: `browser-${Date.now()}`,
      payload: { summary: 'Checkout latency above 2 s', source: 'web-3', severity: 'critical' } }),
  });
  check(alert.status === 202, `the alert answered ${alert.status}`);
  const fresh = await page.waitForFunction((seen) => {
    const li = [...document.querySelectorAll('#incident-list li[data-number]')].find((x) => !seen.includes(Number(x.dataset.number)));
    return li ? Number(li.dataset.number) : null;
  }, before);
  const number = await fresh.jsonValue();
  check(await page.evaluate(() => window.__notReloaded === true), 'the page was not reloaded');
  check((await page.getAttribute(`#incident-list li[data-number="${number}"]`, 'data-state')) === 'triggered', 'the new incident is triggered');
  ok(`incident #${number} appeared live`);

  // --- Acknowledge it from the page.
  await page.click(`#incident-list li[data-number="${number}"] button.row`);
  await page.waitForSelector(`#incident-detail[data-number="${number}"] #btn-ack:not([disabled])`);
  await page.click('#btn-ack');
  await page.waitForSelector(`#incident-list li[data-number="${number}"][data-state="acknowledged"]`);
  await page.waitForSelector('#response-line');
  const line = await page.textContent('#response-line');
  check(/Acknowledged by Alice Example via console/.test(line), `the response line: ${line}`);
  check(await page.$('#timeline li[data-kind="acknowledged"]'), 'the timeline shows the acknowledgement');
  check(/Acknowledged/.test(await page.textContent(`#incident-list li[data-number="${number}"] .state`)), 'the state is a word too');
  ok('acknowledged from the page; the state changed');
  await shot(page, 'incidents');

  // --- A state change without the CSRF token is refused and changes nothing.
  const refused = await page.evaluate(async (n) => (await fetch(`/api/v1/incidents/${n}/resolve`, { method: 'POST' })).status, number);
  check(refused === 403, `a POST without X-CSRF-Token answered ${refused}`);
  const stillAcked = await page.evaluate(async (n) => (await (await fetch(`/api/v1/incidents/${n}`)).json()).state, number);
  check(stillAcked === 'acknowledged', `after the refused POST the incident is ${stillAcked}`);
  ok('a missing CSRF token is refused');

  // --- On call across the 2027-03-14 DST change, seen from New York and from Berlin.
  await page.goto(`${base}/#oncall?start=2027-03-10`);
  await page.waitForSelector('#schedule-primary svg.timeline-chart g.final-shift');
  const dst = await page.$('#schedule-primary text.dst[data-dst-day="2027-03-14"]');
  check(dst && (await dst.getAttribute('data-hours')) === '23', 'New York: 2027-03-14 is a 23-hour day');
  // The daily layer hands over at 09:00 New York time; carol's Saturdays run midnight to midnight.
  const ny = (await page.$$eval('#schedule-primary g.final-shift', (gs) => gs.map((g) => g.dataset.startLocal))).slice(1);
  check(ny.every((s) => s.endsWith('T09:00') || s.endsWith('T00:00')), `New York: handoffs at 09:00 or midnight local: ${ny}`);
  for (const want of ['2027-03-12T09:00', '2027-03-14T09:00', '2027-03-15T09:00'])
    check(ny.includes(want), `New York: a handoff at ${want}: ${ny}`);
  // Drawn where 09:00 is in each day column, before and after the change.
  const offsets = await page.$$eval('#schedule-primary g.final-shift rect', (rs) => {
    const dayW = (1000 - 96) / 14;
    return rs.map((r) => ((Number(r.getAttribute('x')) - 96) % dayW) / dayW).slice(1);
  });
  check(offsets.every((o) => Math.abs(o - 9 / 24) < 0.005 || o < 0.005 || o > 0.995),
    `handoffs drawn at 09:00 of their day: ${offsets.map((o) => o.toFixed(3))}`);
  ok('on call in New York: 09:00 handoffs on both sides of the DST change');
  await shot(page, 'oncall');

  const berlin = await browser.newContext({ ...desktop, timezoneId: 'Europe/Berlin' });
  await berlin.addCookies(await ctx.cookies());
  const bpage = await berlin.newPage();
  bpage.setDefaultTimeout(TIMEOUT);
  await bpage.goto(`${base}/#oncall?start=2027-03-10`);
  await bpage.waitForSelector('#schedule-primary g.final-shift');
  const be = await bpage.$$eval('#schedule-primary g.final-shift', (gs) => gs.map((g) => g.dataset.startLocal));
  check(be.includes('2027-03-12T15:00') && be.includes('2027-03-15T14:00'),
    `Berlin: 15:00 before the US change, 14:00 after it: ${be}`);
  check(!(await bpage.$('#schedule-primary text.dst')), 'Berlin has no DST change in this window');
  await berlin.close();
  ok('on call in Berlin: the same handoffs in the viewer\'s zone');

  // --- "I'll cover": an override from the page shows in the timeline.
  await page.click('#schedule-primary details:has(form.cover) > summary');
  await page.fill('#schedule-primary form.cover input[name=start]', '2027-03-12T18:00');
  await page.fill('#schedule-primary form.cover input[name=end]', '2027-03-13T08:00');
  await page.selectOption('#schedule-primary form.cover select[name=person]', 'carol');
  await page.click('#schedule-primary form.cover button[type=submit]');
  await page.waitForSelector('#schedule-primary g.final-shift[data-source="override"][data-person="carol"]');
  ok('an override added from the page shows on the timeline');

  // --- Response: charts from the report.
  await page.goto(`${base}/#response`);
  await page.waitForSelector('#report-totals, #report .error');
  if (await page.$('#report-totals')) {
    await page.waitForSelector('#chart-tta');
    check(await page.$('#chart-channels'), 'acknowledgements by channel');
    check(await page.$('#chart-load'), 'pager load per person');
    check(/console/.test(await page.textContent('#report-channels')), 'the console acknowledgement is counted');
    ok('the response page draws the report');
  } else {
    console.log(`note - the response report is not there: ${await page.textContent('#report .error')}`);
  }
  await shot(page, 'response');

  // --- Phone width and dark mode.
  const phone = await browser.newContext({ ...desktop, viewport: { width: 390, height: 844 }, colorScheme: 'dark', isMobile: true, hasTouch: true });
  await phone.addCookies(await ctx.cookies());
  const ppage = await phone.newPage();
  ppage.setDefaultTimeout(TIMEOUT);
  await ppage.goto(`${base}/#incidents/${number}`);
  await ppage.waitForSelector(`#incident-detail[data-number="${number}"]`);
  const overflow = await ppage.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, `no sideways scrolling at phone width (${overflow}px too wide)`);
  const bg = await ppage.evaluate(() => getComputedStyle(document.body).backgroundColor);
  check(bg === 'rgb(17, 20, 24)', `dark mode background: ${bg}`);
  ok('phone width, dark mode');
  await shot(ppage, 'phone-dark');
  await phone.close();

  check(errors.length === 0, `no script errors: ${errors.join(' | ')}`);
  ok('no script errors');
  await ctx.close();
} catch (e) {
  console.log(`not ok - ${e.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
