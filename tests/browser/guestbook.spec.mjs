#!/usr/bin/env node
// Browser test of the sample guestbook: headless Chromium
// (Debian's /usr/bin/chromium) driven by playwright-core.
//
//   node guestbook.spec.mjs [BASE_URL] [OUT_DIR]
//
// BASE_URL defaults to $GUESTBOOK_URL, OUT_DIR to $BROWSER_TEST_OUT, then
// to ./test-output.  The guestbook must already be served at BASE_URL over
// plain HTTP with CRUMB_INSECURE_COOKIE=1 (tests/browser-test.sh starts
// the stack); this script starts nothing but the browser.
// CHROMIUM overrides the browser's path; CRUMB_COOKIE_NAME the session
// cookie's name (default: "id" or "__Host-id", whichever is set).
//
// Flow: anonymous front page (no cookie) -> /counter (a pre-login
// session cookie) -> sign in (cookie value changes, HttpOnly,
// SameSite=Lax) -> post an entry containing "<b>hi</b>" (shown as text)
// with the flash "Thanks for signing" once -> reload (flash gone) ->
// dark theme (class on <body>, kept after reload) -> sign out (login form
// back).  Then the /sessions page, with two more browser contexts, A and
// B, whose User-Agents differ, signed in as one user: A follows the front
// page's "your sessions" link (two rows, labelled with the two
// User-Agents, A's marked "this device") -> A signs B's session out from
// its row -> B reloads and sees the sign-in form -> B signs in again -> A
// uses "Sign out all other sessions" -> B is signed out again, A is not.
// A PNG screenshot after every step lands in OUT_DIR.  No page, in any
// context, may answer 5xx or report a CSP violation.  Exit code
// 0 when every assertion holds, 1 on the first failure (with a message and
// a failure screenshot), 2 on bad usage.

import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { chromium } from 'playwright-core';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // No --user-data-dir here: chromium.launch() refuses it, and gives every
  // launch a fresh, empty profile directory of its own (removed on close).
];
const TIMEOUT_MS = 15000;

const rawBase = process.argv[2] || process.env.GUESTBOOK_URL;
const outDir = resolve(process.argv[3] || process.env.BROWSER_TEST_OUT ||
    'test-output');
if (!rawBase) {
  console.error('usage: node guestbook.spec.mjs BASE_URL [OUT_DIR]  ' +
      '(or GUESTBOOK_URL / BROWSER_TEST_OUT in the environment)');
  process.exit(2);
}
const base = new URL(rawBase);
const url = (path) => new URL(path, base).href;

class AssertionFailed extends Error {}
function check(cond, msg) {
  if (!cond) throw new AssertionFailed(msg);
}

let stepNo = 0;
let currentStep = 'start';
let currentPage = null;     // the page of the running step
function log(msg) {
  console.log(`browser-test: ${msg}`);
}

// A name and a message unique to this run, so that entries left by an
// earlier run on the same state directory cannot satisfy the assertions.
const tag = randomBytes(4).toString('hex');
const NAME = `Zoë & Ada ${tag}`;
const MESSAGE = `Hello from the browser test <b>hi</b> ${tag}`;
const FLASH = 'Thanks for signing';
// The /sessions steps: a user of their own, and a User-Agent per device
// (short enough to be kept whole: labels are cut at CRUMB_LABEL_MAX, 64
// bytes).
const SESSIONS_USER = `Multi Device ${tag}`;
const UA_A = `Mozilla/5.0 (crumb browser test; device A ${tag})`;
const UA_B = `Mozilla/5.0 (crumb browser test; device B ${tag})`;

// Selectors: by form action and field name, as the guestbook's routes name
// them, not by the page's ids.
const SEL = {
  loginForm: 'form[action="/login"]',
  loginName: 'form[action="/login"] input[name="name"]',
  postForm: 'form[action="/post"]',
  postMessage: 'form[action="/post"] textarea[name="message"], ' +
      'form[action="/post"] input[name="message"]',
  logoutForm: 'form[action="/logout"]',
  themeForm: 'form[action="/theme"]',
  sessionRow: '#sessions tr.session',
  currentRow: '#sessions tr.session.current',
  otherRevoke: '#sessions tr.session:not(.current) ' +
      'form[action="/sessions/revoke"]',
  othersForm: 'form[action="/sessions/others"]',
  entries: '#entries',
  entry: '.entry',
};

async function main() {
  mkdirSync(outDir, { recursive: true });
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  log(`base ${base.href}, screenshots in ${outDir}, browser ${executablePath}`);

  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 60000,
  });
  let page;
  try {
    const context = await browser.newContext();
    page = await newPage(context);
    await run(context, page);
    await runSessions(browser);
    currentStep = 'end of run: server errors and CSP violations';
    check(serverErrors.length === 0,
        `server errors seen: ${[...new Set(serverErrors)].join('; ')}`);
    check(cspViolations.length === 0,
        `CSP violations: ${[...new Set(cspViolations)].join('; ')}`);
    log(`PASS: ${stepNo} steps, screenshots in ${outDir}`);
    return 0;
  } catch (e) {
    const what = e instanceof AssertionFailed ? 'assertion failed' : 'error';
    console.error(`browser-test: FAIL in step "${currentStep}": ${what}: ` +
        `${e.message}`);
    if (!(e instanceof AssertionFailed) && e.name !== 'TimeoutError' && e.stack)
      console.error(e.stack);
    const failed = currentPage || page;
    if (failed) {
      try {
        const p = join(outDir, 'failure.png');
        await failed.screenshot({ path: p, fullPage: true });
        console.error(`browser-test: page at failure (${failed.url()}): ${p}`);
      } catch (e2) {
        console.error(`browser-test: no failure screenshot: ${e2.message}`);
      }
    }
    return 1;
  } finally {
    await browser.close().catch((e) =>
      console.error(`browser-test: closing the browser: ${e.message}`));
  }
}

// Never a 5xx, whatever we do, and the Content-Security-Policy must let
// the pages' own style through: collected from every page of every
// context, checked at the end.
const serverErrors = [];
const cspViolations = [];

async function newPage(context) {
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT_MS);
  page.setDefaultNavigationTimeout(TIMEOUT_MS);
  page.on('response', (r) => {
    if (r.status() >= 500)
      serverErrors.push(`${r.request().method()} ${r.url()} -> ${r.status()}`);
  });
  page.on('pageerror', (e) => log(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text()))
      cspViolations.push(`${page.url()}: ${m.text()}`);
  });
  return page;
}

async function step(page, name, fn) {
  currentStep = name;
  currentPage = page;
  stepNo++;
  await fn();
  const file = join(outDir,
      `${String(stepNo).padStart(2, '0')}-${name.replace(/[^a-z0-9]+/gi, '-')}.png`);
  await page.screenshot({ path: file, fullPage: true });
  log(`ok ${stepNo} ${name} (${file})`);
}

// Loads a page by URL and checks its status.
async function visit(page, path, status = 200) {
  const resp = await page.goto(url(path), { waitUntil: 'load' });
  check(resp !== null, `no response for GET ${path}`);
  check(resp.status() === status,
      `GET ${path}: status ${resp.status()}, expected ${status}`);
  return resp;
}

// Submits a form by clicking a button in it; checks that the POST
// answers 303 and that the page it redirects to (dest) loads with 200.
async function submit(page, formSel, button, dest = '/') {
  const form = page.locator(formSel);
  check(await form.count() === 1,
      `expected one ${formSel}, found ${await form.count()}`);
  const action = new URL(await form.getAttribute('action'), page.url()).pathname;
  const posted = page.waitForResponse((r) =>
    r.request().method() === 'POST' && new URL(r.url()).pathname === action);
  const loaded = page.waitForEvent('load');
  await (button ?? form.locator('button[type="submit"], input[type="submit"], button:not([type])').first()).click();
  const resp = await posted;
  check(resp.status() === 303,
      `POST ${action}: status ${resp.status()}, expected 303` +
      ` (body: ${(await resp.text().catch(() => '')).slice(0, 300)})`);
  const loc = resp.headers()['location'];
  check(loc && new URL(loc, url(action)).pathname === dest,
      `POST ${action}: Location ${loc}, expected ${dest}`);
  await loaded;
  check(new URL(page.url()).pathname === dest,
      `after POST ${action} the page is ${page.url()}, expected ${dest}`);
}

async function reload(page) {
  const resp = await page.reload({ waitUntil: 'load' });
  check(resp !== null && resp.status() === 200,
      `reload: status ${resp && resp.status()}, expected 200`);
}

async function originCookies(context) {
  return context.cookies(base.href);
}

// The session cookie: CRUMB_COOKIE_NAME, else "__Host-id" or "id", else
// the only cookie there is.
async function sessionCookie(context) {
  const all = await originCookies(context);
  const names = process.env.CRUMB_COOKIE_NAME
    ? [process.env.CRUMB_COOKIE_NAME] : ['__Host-id', 'id'];
  for (const n of names) {
    const c = all.find((x) => x.name === n);
    if (c) return c;
  }
  if (!process.env.CRUMB_COOKIE_NAME && all.length === 1) return all[0];
  return null;
}

function describe(c) {
  return c ? `${c.name} (httpOnly=${c.httpOnly}, sameSite=${c.sameSite}, ` +
      `secure=${c.secure}, path=${c.path}, expires=${c.expires})` : 'none';
}

function checkAttributes(c, when) {
  check(c !== null, `${when}: no session cookie in the browser`);
  check(c.httpOnly === true, `${when}: session cookie is not HttpOnly: ${describe(c)}`);
  check(c.sameSite === 'Lax',
      `${when}: session cookie SameSite is ${c.sameSite}, expected Lax: ${describe(c)}`);
}

async function bodyClasses(page) {
  return page.evaluate(() => Array.from(document.body.classList));
}

async function signedInAs(page) {
  const user = page.locator('#user');
  if (await user.count() > 0) return (await user.textContent()).trim();
  return null;
}

async function run(context, page) {
  let preLogin = null;
  let loginCookie = null;

  await step(page, 'anonymous-front-page', async () => {
    await visit(page, '/');
    await page.locator(SEL.loginName).waitFor({ state: 'visible' });
    check(await page.locator(SEL.logoutForm).count() === 0,
        'anonymous page shows a sign-out form');
    check(await page.locator(SEL.postForm).count() === 0,
        'anonymous page shows the post form');
    const jar = await originCookies(context);
    check(jar.length === 0,
        `an anonymous visitor who stores nothing got cookies: ` +
        jar.map(describe).join(', '));
  });

  // A session before signing in, so that "the ID changes on login" has
  // something to change from.
  await step(page, 'counter-pre-login-session', async () => {
    const resp = await visit(page, '/counter');
    const ctype = resp.headers()['content-type'] || '';
    check(ctype.startsWith('application/json'),
        `/counter content type ${ctype}, expected application/json`);
    const body = JSON.parse(await resp.text());
    check(body.count === 1, `/counter for a new visitor: ${JSON.stringify(body)}, expected {"count":1}`);
    preLogin = await sessionCookie(context);
    checkAttributes(preLogin, 'after /counter');
  });

  await step(page, 'signed-in', async () => {
    await visit(page, '/');
    await page.locator(SEL.loginName).fill(NAME);
    await submit(page, SEL.loginForm);
    await page.locator(SEL.logoutForm).waitFor({ state: 'visible' });
    check(await page.locator(SEL.loginForm).count() === 0,
        'the login form is still shown after signing in');
    const who = await signedInAs(page);
    if (who !== null) {
      check(who === NAME, `signed in as "${who}", expected "${NAME}"`);
    } else {
      await page.getByText(NAME, { exact: true }).first()
          .waitFor({ state: 'visible' });
    }
    loginCookie = await sessionCookie(context);
    checkAttributes(loginCookie, 'after login');
    check(loginCookie.value !== preLogin.value,
        'the session cookie did not change value on login');
  });

  await step(page, 'posted-entry-with-flash', async () => {
    await page.locator(SEL.postMessage).fill(MESSAGE);
    await submit(page, SEL.postForm);
    const flash = page.getByText(FLASH, { exact: false });
    await flash.first().waitFor({ state: 'visible' });
    check(await flash.count() === 1,
        `flash "${FLASH}" shown ${await flash.count()} times, expected once`);
    await checkEntry(page);
  });

  await step(page, 'reloaded-flash-gone', async () => {
    await reload(page);
    const n = await page.getByText(FLASH, { exact: false }).count();
    check(n === 0, `flash "${FLASH}" still shown after a reload (${n} times)`);
    check(await signedInAs(page) === NAME || await page.locator(SEL.logoutForm).count() === 1,
        'no longer signed in after a reload');
    await checkEntry(page);
  });

  await step(page, 'dark-theme', async () => {
    const before = await bodyClasses(page);
    check(!before.includes('dark'), `body is already dark: class "${before.join(' ')}"`);
    const form = page.locator(SEL.themeForm);
    const darkButton = form.locator('button[name="theme"][value="dark"], ' +
        'input[type="submit"][name="theme"][value="dark"]');
    if (await darkButton.count() > 0) {
      await submit(page, SEL.themeForm, darkButton.first());
    } else {
      // A select or radio buttons named theme, then the form's button.
      const select = form.locator('select[name="theme"]');
      if (await select.count() > 0) await select.selectOption('dark');
      else await form.locator('input[name="theme"][value="dark"]').check();
      await submit(page, SEL.themeForm);
    }
    let cls = await bodyClasses(page);
    check(cls.includes('dark'), `after choosing dark, body class is "${cls.join(' ')}"`);
    await reload(page);
    cls = await bodyClasses(page);
    check(cls.includes('dark'), `after a reload, body class is "${cls.join(' ')}", expected dark`);
    check(!cls.includes('light'), `body class is "${cls.join(' ')}": both themes`);
    // The inline style sheet applies (its hash is in the CSP).
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    check(bg === 'rgb(17, 17, 17)',
        `dark body background is ${bg}, expected rgb(17, 17, 17): the style sheet was refused`);
    check(await page.locator(SEL.logoutForm).count() === 1,
        'signed out by switching the theme');
    const c = await sessionCookie(context);
    checkAttributes(c, 'after the theme change');
  });

  await step(page, 'signed-out', async () => {
    const before = await sessionCookie(context);
    await submit(page, SEL.logoutForm);
    await page.locator(SEL.loginName).waitFor({ state: 'visible' });
    check(await page.locator(SEL.logoutForm).count() === 0,
        'the sign-out form is still shown after signing out');
    check(await page.locator(SEL.postForm).count() === 0,
        'the post form is still shown after signing out');
    check(await signedInAs(page) === null, 'a user name is still shown after signing out');
    const after = await sessionCookie(context);
    check(after === null || after.value !== before.value,
        'the session cookie kept its value across sign-out');
    await reload(page);
    await page.locator(SEL.loginName).waitFor({ state: 'visible' });
    check(await page.locator(SEL.logoutForm).count() === 0,
        'signed in again after a reload following sign-out');
  });
}

// ---------------------------------------------------------------- sessions

async function signIn(page, name) {
  await visit(page, '/');
  await page.locator(SEL.loginName).fill(name);
  await submit(page, SEL.loginForm);
  await page.locator(SEL.logoutForm).waitFor({ state: 'visible' });
  const who = await signedInAs(page);
  check(who === name, `signed in as "${who}", expected "${name}"`);
}

// Reloads a page that was signed in and checks that it is not any more:
// the sign-in form, no sign-out or post form, no user name.
async function checkSignedOut(page, who) {
  await reload(page);
  await page.locator(SEL.loginName).waitFor({ state: 'visible' });
  check(await page.locator(SEL.logoutForm).count() === 0,
      `${who}: the sign-out form is still shown`);
  check(await page.locator(SEL.postForm).count() === 0,
      `${who}: the post form is still shown`);
  const name = await signedInAs(page);
  check(name === null, `${who}: still signed in as "${name}"`);
}

// The rows of /sessions as { label, current, here } (here: the row says
// "this device").
async function sessionRows(page) {
  return page.locator(SEL.sessionRow).evaluateAll((trs) => trs.map((tr) => ({
    label: (tr.querySelector('td.label')?.textContent ?? '').trim(),
    current: tr.classList.contains('current'),
    here: /this device/.test(tr.textContent),
  })));
}

// The list shows exactly these devices (by User-Agent), the first one
// being this one.
async function checkRows(page, here, ...others) {
  const rows = await sessionRows(page);
  const shown = JSON.stringify(rows);
  check(rows.length === 1 + others.length,
      `${rows.length} session rows, expected ${1 + others.length}: ${shown}`);
  const cur = rows.filter((r) => r.current);
  check(cur.length === 1, `${cur.length} rows marked current: ${shown}`);
  check(cur[0].here, `the current row does not say "this device": ${shown}`);
  check(rows.filter((r) => r.here).length === 1,
      `"this device" shown on more than one row: ${shown}`);
  check(cur[0].label === here,
      `the current row is labelled "${cur[0].label}", expected "${here}"`);
  const rest = rows.filter((r) => !r.current).map((r) => r.label).sort();
  check(JSON.stringify(rest) === JSON.stringify([...others].sort()),
      `the other rows are labelled ${JSON.stringify(rest)}, expected ` +
      JSON.stringify(others));
}

async function checkFlash(page, text) {
  const flash = page.locator('#flash');
  check(await flash.count() === 1, `no flash, expected "${text}"`);
  const got = (await flash.textContent()).trim();
  check(got === text, `flash "${got}", expected "${text}"`);
}

// The same user on two devices (contexts with their own cookie jars and
// User-Agents), seen and signed out from /sessions.  The contexts stay
// open to the end (browser.close() ends them), so that a failure
// screenshot can still be taken of the page that failed.
async function runSessions(browser) {
  const ctxA = await browser.newContext({ userAgent: UA_A });
  const ctxB = await browser.newContext({ userAgent: UA_B });
  const a = await newPage(ctxA);
  const b = await newPage(ctxB);

  await step(a, 'device-a-signed-in', async () => {
    await signIn(a, SESSIONS_USER);
    check(await a.evaluate(() => navigator.userAgent) === UA_A,
        'device A does not use its User-Agent');
  });

  await step(b, 'device-b-signed-in', async () => {
    await signIn(b, SESSIONS_USER);
    check(await b.evaluate(() => navigator.userAgent) === UA_B,
        'device B does not use its User-Agent');
    const ca = await sessionCookie(ctxA);
    const cb = await sessionCookie(ctxB);
    check(ca && cb && ca.value !== cb.value,
        'devices A and B share one session cookie');
  });

  await step(a, 'a-sessions-page-two-devices', async () => {
    await visit(a, '/');
    const link = a.getByRole('link', { name: 'your sessions' });
    check(await link.count() === 1,
        `${await link.count()} "your sessions" links on the front page`);
    const loaded = a.waitForResponse((r) =>
      new URL(r.url()).pathname === '/sessions' &&
      r.request().method() === 'GET');
    await link.click();
    const resp = await loaded;
    check(resp.status() === 200, `GET /sessions: status ${resp.status()}`);
    await a.waitForURL((u) => u.pathname === '/sessions');
    await a.locator(SEL.currentRow).waitFor({ state: 'visible' });
    await checkRows(a, UA_A, UA_B);
  });

  await step(a, 'a-signed-out-b-from-its-row', async () => {
    const row = a.locator(SEL.sessionRow).filter({ hasNot: a.locator('.here') });
    check((await row.locator('td.label').textContent()).trim() === UA_B,
        'the row to sign out is not device B\'s');
    await submit(a, SEL.otherRevoke, undefined, '/sessions');
    await checkFlash(a, 'Signed out one session');
    await checkRows(a, UA_A);
  });

  await step(b, 'b-reloaded-signed-out', async () => {
    await checkSignedOut(b, 'device B after A signed it out');
  });

  await step(b, 'b-signed-in-again', async () => {
    await signIn(b, SESSIONS_USER);
  });

  await step(a, 'a-signed-out-all-others', async () => {
    await visit(a, '/sessions');
    await checkRows(a, UA_A, UA_B);
    await submit(a, SEL.othersForm, undefined, '/sessions');
    await checkFlash(a, '1 other session signed out');
    await checkRows(a, UA_A);
  });

  await step(b, 'b-reloaded-signed-out-again', async () => {
    await checkSignedOut(b, 'device B after "sign out all other sessions"');
  });

  await step(a, 'a-still-signed-in', async () => {
    await visit(a, '/sessions');
    await checkRows(a, UA_A);
    await visit(a, '/');
    await a.locator(SEL.logoutForm).waitFor({ state: 'visible' });
    const who = await signedInAs(a);
    check(who === SESSIONS_USER,
        `device A: signed in as "${who}", expected "${SESSIONS_USER}"`);
  });
}

// Our entry is shown, newest first, with the markup as literal text.
async function checkEntry(page) {
  const scope = await page.locator(SEL.entries).count() > 0
    ? page.locator(SEL.entries) : page.locator('body');
  // Found by this run's tag alone, so that a failure to escape shows up
  // as a clear assertion below rather than as a timeout.
  const ours = scope.locator(SEL.entry).filter({ hasText: tag });
  await ours.first().waitFor({ state: 'visible' });
  check(await ours.count() === 1,
      `entry tagged ${tag} shown ${await ours.count()} times, expected once`);
  const bold = await scope.locator('b').count();
  check(bold === 0, `${bold} <b> element(s) inside the entries: ` +
      `the message's markup was not escaped (${await ours.innerHTML()})`);
  const text = await ours.textContent();
  check(text.includes(MESSAGE),
      `our entry does not show "${MESSAGE}" literally: "${text.trim()}"`);
  check(await ours.getByText('<b>hi</b>', { exact: false }).isVisible(),
      'the literal text "<b>hi</b>" is not visible in our entry');
  check(text.includes(NAME), `our entry does not name its author "${NAME}": "${text.trim()}"`);
  const first = scope.locator(SEL.entry).first();
  check((await first.textContent()).includes(tag),
      'our entry is not the first one (entries should be newest first)');
  const html = await ours.innerHTML();
  check(html.includes('&lt;b&gt;hi&lt;/b&gt;'),
      `entry HTML does not carry the escaped markup: ${html}`);
}

process.exitCode = await main();
