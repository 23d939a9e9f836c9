// @auth0/auth0-spa-js 2.x, unmodified, logs in against the Worker in real headless Chromium:
// Auth0's fixed paths (/authorize, /oauth/token, /v2/logout), RS256 ID tokens, iss = domain + "/",
// CORS with its Auth0-Client header, rotating refresh tokens, logout.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as jose from 'jose';
import { ADMIN_TOKEN, startWorker } from './harness.mjs';
import { file, launchChromium, serveStatic } from './browser.mjs';

const API = 'https://api.spa-js.test/';
const EMAIL = 'grace@example.com';
const PASSWORD = 'hopper-compiler-1952';

let worker, app, browser;

before(async () => {
  worker = await startWorker();
  app = await serveStatic({
    '/': ['text/html; charset=utf-8', file('tests', 'e2e', 'pages', 'auth0-spa-js.html')],
    '/auth0-spa-js.production.js': ['text/javascript', file('node_modules', '@auth0', 'auth0-spa-js', 'dist', 'auth0-spa-js.production.js')],
  });
  const tenant = {
    clients: [{
      client_id: 'spa-js', name: 'auth0-spa-js App', app_type: 'spa', redirect_uris: [`${app.origin}/`],
      web_origins: [app.origin], allowed_logout_urls: [`${app.origin}/`],
    }],
    apis: [{ identifier: API, name: 'Messages', scopes: [{ value: 'read:messages', description: 'Read' }],
      signing_alg: 'ES256', token_lifetime_seconds: 600, allow_offline_access: true }],
    users: [{ user_id: 'auth0|grace', email: EMAIL, password: PASSWORD, name: 'Grace Hopper', email_verified: true }],
  };
  const r = await fetch(`${worker.origin}/admin/tenant`, {
    method: 'PUT', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(tenant),
  });
  assert.equal(r.status, 200);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await app?.close();
  await worker?.stop();
});

async function ready(page) {
  await page.waitForFunction(() => window.ready, null, { timeout: 15000 });
  return page.evaluate(() => window.ready);
}

test('auth0-spa-js logs in, gets and refreshes tokens, and logs out', async () => {
  const page = await browser.newPage();
  const calls = [];
  page.on('request', (req) => { if (req.url().startsWith(worker.origin)) calls.push(`${req.method()} ${new URL(req.url()).pathname}`); });
  const query = new URLSearchParams({ domain: worker.origin, clientId: 'spa-js', audience: API });
  await page.goto(`${app.origin}/?${query}`);
  assert.equal(await ready(page), 'ok');

  // loginWithRedirect → Gatehouse's hosted login page.
  await page.evaluate(() => window.app.login());
  await page.waitForURL(`${worker.origin}/login?**`);
  assert.match(await page.title(), /Log in/);
  await page.fill('#username', EMAIL);
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForURL(`${app.origin}/**`), page.click('button[type=submit]')]);
  assert.equal(await ready(page), 'ok', 'handleRedirectCallback accepted the response');

  const user = await page.evaluate(() => window.app.user());
  assert.equal(user.sub, 'auth0|grace');
  assert.equal(user.email, EMAIL);
  assert.equal(user.name, 'Grace Hopper');
  const claims = await page.evaluate(() => window.app.claims());
  assert.equal(claims.iss, worker.url, 'iss is the domain followed by "/"');
  assert.equal(claims.aud, 'spa-js');

  const jwks = jose.createRemoteJWKSet(new URL('/.well-known/jwks.json', worker.origin));
  const first = await page.evaluate(() => window.app.token());
  const { payload, protectedHeader } = await jose.jwtVerify(first.access_token, jwks, { issuer: worker.url, audience: API, typ: 'at+jwt' });
  assert.equal(protectedHeader.alg, 'ES256');
  assert.equal(payload.client_id, 'spa-js');
  assert.match(payload.scope, /read:messages/);
  const id = await jose.jwtVerify(first.id_token, jwks, { issuer: worker.url, audience: 'spa-js' });
  assert.equal(id.protectedHeader.alg, 'RS256');

  // A refresh through the rotating refresh token (cacheMode 'off' forces it).
  const refreshed = await page.evaluate(() => window.app.token({ cacheMode: 'off' }));
  assert.notEqual(refreshed.access_token, first.access_token);
  await jose.jwtVerify(refreshed.access_token, jwks, { issuer: worker.url, audience: API });
  assert.ok(calls.filter((c) => c === 'POST /oauth/token').length >= 2, calls.join(', '));

  // Logout goes through /v2/logout and back to the app; the Gatehouse session is over.
  const back = page.waitForResponse((r) => r.url().startsWith(`${worker.origin}/v2/logout`));
  await page.evaluate(() => window.app.logout());
  const logout = await back;
  assert.equal(logout.status(), 302);
  assert.equal(logout.headers().location, `${app.origin}/`);
  await page.waitForLoadState('load');
  assert.equal(await ready(page), 'ok');
  assert.equal(await page.evaluate(() => window.app.isAuthenticated()), false);
  await page.evaluate(() => window.app.login());
  await page.waitForURL(`${worker.origin}/login?**`);
  await page.close();
});

test('auth0-spa-js with its defaults (no refresh tokens) renews tokens silently through a hidden iframe', async () => {
  const page = await browser.newPage();
  const authorizeCalls = [];
  page.on('request', (req) => {
    const url = new URL(req.url());
    if (url.origin === worker.origin && url.pathname === '/authorize') authorizeCalls.push(url.searchParams);
  });
  const query = new URLSearchParams({ domain: worker.origin, clientId: 'spa-js', audience: API, refresh: 'false' });
  await page.goto(`${app.origin}/?${query}`);
  assert.equal(await ready(page), 'ok');
  await page.evaluate(() => window.app.login());
  await page.waitForURL(`${worker.origin}/login?**`);
  await page.fill('#username', EMAIL);
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForURL(`${app.origin}/**`), page.click('button[type=submit]')]);
  assert.equal(await ready(page), 'ok');
  const first = await page.evaluate(() => window.app.token());
  assert.equal(first.refresh_token, undefined, 'no refresh token: the SDK renews through the iframe');

  // The top window must not navigate while the SDK renews the token.
  const navigations = [];
  page.on('framenavigated', (frame) => { if (frame === page.mainFrame()) navigations.push(frame.url()); });
  const before = authorizeCalls.length;
  const silent = await page.evaluate(() => window.app.token({ cacheMode: 'off' }));
  assert.deepEqual(navigations, [], 'the page stayed where it was');
  const iframeCall = authorizeCalls.slice(before).find((p) => p.get('response_mode') === 'web_message');
  assert.ok(iframeCall, 'the SDK asked /authorize with response_mode=web_message');
  assert.equal(iframeCall.get('prompt'), 'none');
  assert.notEqual(silent.access_token, first.access_token);
  const jwks = jose.createRemoteJWKSet(new URL('/.well-known/jwks.json', worker.origin));
  const { payload } = await jose.jwtVerify(silent.access_token, jwks, { issuer: worker.url, audience: API, typ: 'at+jwt' });
  assert.equal(payload.sub, 'auth0|grace');
  const id = await jose.jwtVerify(silent.id_token, jwks, { issuer: worker.url, audience: 'spa-js' });
  assert.equal(id.payload.sub, 'auth0|grace');
  await page.close();
});
