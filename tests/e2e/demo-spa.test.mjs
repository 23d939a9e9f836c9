// The demo SPA (www/, using the browser package from pkg/) in real headless Chromium: log in
// through the hosted login page, call the demo API with the access token, refresh, log out.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN_TOKEN, startWorker } from './harness.mjs';
import { launchChromium } from './browser.mjs';
import { startDemo } from '../../scripts/demo-server.mjs';
import { tenantFile } from '../../scripts/admin.mjs';
import { ROOT } from '../../scripts/lib.mjs';

let worker, demo, browser;

before(async () => {
  assert.ok(existsSync(join(ROOT, 'pkg', 'gatehouse_spa_bg.wasm')), 'the browser package is built (npm test builds it)');
  // The demo first (the Worker proxies its cookie-session API calls to it), then the Worker.
  demo = await startDemo({});
  worker = await startWorker({
    vars: {
      BFF_CLIENT_ID: 'demo-bff',
      BFF_API_URL: `${demo.origin}/api/`,
      BFF_AUDIENCE: 'https://api.gatehouse.local/',
      BFF_SCOPE: 'openid profile email offline_access read:messages',
      // The demo TV polls every second here (5 s by default).
      DEVICE_CODE_INTERVAL_SECONDS: '1',
    },
  });
  demo.setWorker(worker.origin);
  const r = await fetch(`${worker.origin}/admin/tenant`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: tenantFile(worker.origin, undefined, demo.origin),
  });
  assert.equal(r.status, 200);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await demo?.close();
  await worker?.stop();
});

const ready = (page) => page.waitForSelector('body[data-ready="true"]', { timeout: 15000 });

test('the demo SPA logs in with PKCE, calls the API, refreshes and logs out', async () => {
  const page = await (await browser.newContext()).newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${demo.origin}/`);
  await ready(page);
  assert.equal(await page.isVisible('#login'), true);

  await page.click('#login');
  await page.waitForURL(`${worker.origin}/login?**`);
  await page.fill('#username', 'ada@example.com');
  await page.fill('#password', 'correct horse battery staple');
  await Promise.all([page.waitForURL(`${demo.origin}/`), page.click('button[type=submit]')]);
  await ready(page);
  assert.equal(await page.textContent('#status'), 'Logged in.', await page.textContent('#status'));
  assert.equal(await page.textContent('#name'), 'Ada Lovelace');
  const claims = JSON.parse(await page.textContent('#user'));
  assert.equal(claims.iss, `${worker.origin}/`);
  assert.equal(claims.aud, 'demo-spa');
  assert.equal(claims.email, 'ada@example.com');
  // The code and state are gone from the address bar; the transaction is cleared.
  assert.equal(page.url(), `${demo.origin}/`);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('gatehouse.tx.demo-spa')), null);

  await page.click('#call-api');
  await page.waitForFunction(() => document.getElementById('api-result').textContent.startsWith('HTTP'));
  const api = await page.textContent('#api-result');
  assert.match(api, /^HTTP 200/, api);
  assert.match(api, /"for": "demo\|ada"/);

  const before = await page.getAttribute('#token-info', 'data-jti');
  await page.click('#refresh');
  await page.waitForFunction((jti) => document.getElementById('token-info').dataset.jti !== jti, before);
  // The refreshed token works too.
  await page.evaluate(() => { document.getElementById('api-result').textContent = ''; });
  await page.click('#call-api');
  await page.waitForFunction(() => document.getElementById('api-result').textContent.startsWith('HTTP'));
  assert.match(await page.textContent('#api-result'), /^HTTP 200/);

  // Concurrent getTokenSilently calls share one refresh (rotating refresh tokens allow only
  // one), in this tab and across tabs sharing the localStorage cache (Web Locks).
  const refreshes = [];
  const count = (r) => { if (r.method() === 'POST' && r.url() === `${worker.origin}/oauth/token`) refreshes.push(r.url()); };
  page.on('request', count);
  const tokens = await page.evaluate(() =>
    Promise.all([1, 2, 3].map(() => window.gatehouseDemo.auth.getTokenSilently({ cacheMode: 'off' }))));
  assert.equal(new Set(tokens).size, 1, 'one token for the three calls');
  assert.equal(refreshes.length, 1, 'one refresh for three concurrent calls');
  const second = await page.context().newPage();
  second.on('request', count);
  await second.goto(`${demo.origin}/`);
  await ready(second);
  refreshes.length = 0;
  const both = await Promise.all([page, second].map((p) =>
    p.evaluate(() => window.gatehouseDemo.auth.getTokenSilently({ cacheMode: 'off' }).then((t) => t, (e) => `error: ${e.error}`))));
  assert.ok(both.every((t) => !t.startsWith('error')), both.join(' | '));
  assert.ok(refreshes.length >= 1 && refreshes.length <= 2, `${refreshes.length} refreshes`);
  await second.close();
  page.off('request', count);

  // A reload keeps the login (localStorage cache); logout ends it here and at the server.
  await page.reload();
  await ready(page);
  await page.waitForSelector('#logout:not([hidden])', { timeout: 5000 });
  const logout = page.waitForResponse((r) => r.url().startsWith(`${worker.origin}/oidc/logout`));
  await page.click('#logout');
  const response = await logout;
  assert.equal(response.status(), 302);
  assert.equal(response.headers().location, `${demo.origin}/`);
  await page.waitForURL(`${demo.origin}/`);
  await ready(page);
  await page.waitForSelector('#login:not([hidden])', { timeout: 5000 });
  assert.equal(await page.evaluate(() => Object.keys(localStorage).length), 0, 'tokens forgotten');
  await page.click('#login');
  await page.waitForURL(`${worker.origin}/login?**`, { timeout: 10000 });
  assert.deepEqual(errors, []);
  await page.close();
});

test('cookie mode: the Worker holds the tokens; the page gets an HttpOnly cookie and calls the API through it', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${demo.origin}/`);
  await ready(page);
  await page.click('#login-cookie');
  await page.waitForURL(`${worker.origin}/login?**`);
  await page.fill('#username', 'ada@example.com');
  await page.fill('#password', 'correct horse battery staple');
  await Promise.all([page.waitForURL(`${demo.origin}/`), page.click('button[type=submit]')]);
  await ready(page);
  await page.waitForSelector('body[data-mode="cookie"]', { timeout: 10000 });
  const user = JSON.parse(await page.textContent('#cookie-user'));
  assert.equal(user.email, 'ada@example.com');
  assert.equal(user.sub, 'demo|ada');
  // No token reached the page: nothing in web storage, and the session cookie is HttpOnly.
  assert.equal(await page.evaluate(() => localStorage.length + sessionStorage.length), 0);
  const cookie = (await context.cookies(worker.origin)).find((c) => c.name === 'gatehouse_bff');
  assert.ok(cookie, 'the session cookie is set');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Lax');

  await page.click('#cookie-call-api');
  await page.waitForFunction(() => document.getElementById('cookie-api-result').textContent.startsWith('HTTP'));
  const api = await page.textContent('#cookie-api-result');
  assert.match(api, /^HTTP 200/, api);
  assert.match(api, /"client": "demo-bff"/);

  // CSRF: the cookie alone is not enough; the Gatehouse-CSRF header is required, and a foreign
  // origin gets no CORS permission to add it.
  const jar = `gatehouse_bff=${cookie.value}`;
  const bare = await fetch(`${worker.origin}/bff/api/messages`, { headers: { cookie: jar } });
  assert.equal(bare.status, 403);
  const preflight = await fetch(`${worker.origin}/bff/api/messages`, {
    method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-headers': 'gatehouse-csrf' },
  });
  assert.equal(preflight.headers.get('access-control-allow-origin'), null);
  const ok = await fetch(`${worker.origin}/bff/session`, { headers: { cookie: jar, 'gatehouse-csrf': '1' } });
  assert.equal((await ok.json()).authenticated, true);

  // Logout: the Worker forgets the session, revokes the refresh token and ends the login; the
  // page is told where to go, and never sees a token.
  const logout = page.waitForResponse((r) => r.url() === `${worker.origin}/bff/logout`);
  await page.click('#logout');
  assert.equal((await logout).status(), 200);
  await page.waitForURL(`${demo.origin}/`);
  await ready(page);
  await page.waitForSelector('body[data-mode="none"]', { timeout: 10000 });
  const after = await fetch(`${worker.origin}/bff/session`, { headers: { cookie: jar, 'gatehouse-csrf': '1' } });
  assert.equal((await after.json()).authenticated, false, 'the old cookie opens nothing');
  await context.close();
});

test('the demo TV: a device code shown on one screen, approved at /activate in another tab', async () => {
  const context = await browser.newContext();
  const tv = await context.newPage();
  const errors = [];
  tv.on('pageerror', (e) => errors.push(String(e)));
  await tv.goto(`${demo.origin}/device.html`);
  await tv.waitForSelector('body[data-user-code]', { timeout: 15000 });
  const code = await tv.getAttribute('body', 'data-user-code');
  assert.match(code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
  const link = await tv.getAttribute('#verify', 'href');
  assert.equal(link, `${worker.origin}/activate?user_code=${code}`);
  // The phone: the link opens /activate with the code filled in; log in; confirm.
  const phone = await context.newPage();
  await phone.goto(link);
  assert.equal(await phone.inputValue('#user_code'), code);
  await Promise.all([phone.waitForURL(`${worker.origin}/login?**`), phone.click('button[type=submit]')]);
  await phone.fill('#username', 'ada@example.com');
  await phone.fill('#password', 'correct horse battery staple');
  await Promise.all([phone.waitForURL(`${worker.origin}/consent?**`), phone.click('button[type=submit]')]);
  assert.match(await phone.textContent('main'), new RegExp(`shows the code ${code}`));
  await phone.click('button[value=allow]');
  await phone.waitForSelector('text=You\'re all set', { timeout: 10000 });
  // The TV notices on its next poll and calls the demo API with its access token.
  await tv.waitForSelector('body[data-outcome="signed-in"]', { timeout: 20000 });
  const result = await tv.textContent('#tv-result');
  assert.match(result, /^HTTP 200/, result);
  assert.match(result, /"for": "demo\|ada"/);
  assert.match(result, /"client": "demo-device"/);
  assert.deepEqual(errors, []);
  await context.close();
});
