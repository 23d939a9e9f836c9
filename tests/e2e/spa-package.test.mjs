// The browser package (pkg/, as built) in headless Chromium, against an authorization server whose
// answers the test writes: Playwright intercepts the requests to https://as.test and answers with
// ID tokens signed by `jose`, good and bad. What runs is the package's own code (index.js and the
// wasm rules) with the browser's real WebCrypto; each refusal must come back with its error code,
// and nothing may be cached. The real Worker drives the package in demo-spa.test.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as jose from 'jose';
import { launchChromium, serveStatic, file } from './browser.mjs';

const AS = 'https://as.test';
const ISSUER = `${AS}/`;
let app, browser, es, rs, other;

before(async () => {
  const page = ['text/html', '<!doctype html><title>app</title><body></body>'];
  app = await serveStatic({
    '/': page,
    '/pkg/index.js': ['text/javascript', file('pkg', 'index.js')],
    '/pkg/gatehouse_spa.js': ['text/javascript', file('pkg', 'gatehouse_spa.js')],
    '/pkg/gatehouse_spa_bg.wasm': ['application/wasm', file('pkg', 'gatehouse_spa_bg.wasm')],
  });
  browser = await launchChromium();
  const pair = async (alg, kid) => {
    const { publicKey, privateKey } = await jose.generateKeyPair(alg, { extractable: true });
    return { alg, kid, privateKey, jwk: { ...(await jose.exportJWK(publicKey)), kid, alg, use: 'sig' } };
  };
  [es, rs, other] = [await pair('ES256', 'es-1'), await pair('RS256', 'rs-1'), await pair('ES256', 'es-1')];
});

after(async () => {
  await browser?.close();
  await app?.close();
});

const cors = { 'access-control-allow-origin': '*', 'content-type': 'application/json' };

/** A page of the app with the authorization server's answers scripted:
 *  `idToken(nonce, request)` makes the token endpoint's ID token, `jwks()` the JWKS (per fetch),
 *  `callback(params)` may change the authorization response's query. */
async function scripted({ idToken, jwks = () => [es.jwk, rs.jwk], callback = (p) => p, token = {} }) {
  const context = await browser.newContext();
  const seen = { jwks: 0, token: [], revoke: [] };
  let nonce;
  await context.route(`${AS}/**`, async (route, request) => {
    const url = new URL(request.url());
    if (url.pathname === '/authorize') {
      nonce = url.searchParams.get('nonce');
      seen.authorize = url;
      const params = callback(new URLSearchParams({ code: 'code-1', state: url.searchParams.get('state'), iss: ISSUER }));
      return route.fulfill({ status: 302, headers: { location: `${url.searchParams.get('redirect_uri')}?${params}` } });
    }
    if (url.pathname === '/.well-known/jwks.json') {
      seen.jwks += 1;
      const keys = jwks(seen.jwks);
      if (typeof keys === 'number') return route.fulfill({ status: keys, headers: cors, body: '{}' });
      return route.fulfill({ status: 200, headers: cors, body: JSON.stringify({ keys }) });
    }
    if (url.pathname === '/oauth/token') {
      const form = new URLSearchParams(request.postData());
      seen.token.push(form);
      const body = typeof token === 'function' ? await token(form, nonce) : {
        access_token: `at-${seen.token.length}`, token_type: 'Bearer', expires_in: 3600, scope: 'openid profile',
        refresh_token: `rt-${seen.token.length}`, id_token: await idToken(nonce, form), ...token,
      };
      return route.fulfill({ status: body.error ? 400 : 200, headers: cors, body: JSON.stringify(body) });
    }
    if (url.pathname === '/oauth/revoke') {
      seen.revoke.push(new URLSearchParams(request.postData()));
      return route.fulfill({ status: 200, headers: cors, body: '' });
    }
    if (url.pathname === '/oidc/logout') {
      seen.logout = url;
      return route.fulfill({ status: 200, headers: { 'content-type': 'text/html' }, body: 'logged out' });
    }
    return route.fulfill({ status: 404, headers: cors, body: '{}' });
  });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${app.origin}/`);
  return { page, seen, errors, close: () => context.close() };
}

/** Logs in through the scripted server: loginWithRedirect, then handleRedirectCallback on the
 *  callback page. Answers 'ok' or the GatehouseError's code, with what the client then knows. */
async function login(page, options = {}) {
  const setup = `
    const { default: init, createGatehouseClient } = await import('/pkg/index.js');
    await init();
    window.cache = window.cache || new Map();
    const cache = { get: (k) => window.cache.get(k), set: (k, v) => void window.cache.set(k, v),
      remove: (k) => void window.cache.delete(k), allKeys: () => [...window.cache.keys()] };
    const options = ${JSON.stringify(options)};
    if (options.cache === 'custom') options.cache = cache;
    if (options.cache === 'custom-no-keys') options.cache = { ...cache, allKeys: undefined };
    const client = await createGatehouseClient({ domain: '${AS}', clientId: 'spa', cacheLocation: 'localstorage',
      authorizationParams: { redirect_uri: location.origin + '/cb', audience: 'https://api.test/', ui_locales: 'fr' },
      ...options });`;
  await Promise.all([
    page.waitForURL(`${app.origin}/cb?**`),
    page.evaluate(`(async () => { ${setup} await client.loginWithRedirect({ appState: { to: '/x' } }); })()`),
  ]);
  return page.evaluate(`(async () => { ${setup}
    window.client = client;
    const outcome = await client.handleRedirectCallback().then((r) => r.appState.to === '/x' ? 'ok' : 'no appState', (e) => e.error);
    return { outcome, user: await client.getUser(), stored: Object.keys(localStorage).filter((k) => k.startsWith('@@gatehouse@@')) };
  })()`);
}

const sign = (key, claims, header = {}) =>
  new jose.SignJWT(claims).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header }).sign(key.privateKey);
const now = () => Math.floor(Date.now() / 1000);
const claims = (nonce, extra = {}) => ({ iss: ISSUER, sub: 'user-1', aud: 'spa', exp: now() + 600, iat: now(), nonce, name: 'Ada', ...extra });

test('a good ID token, ES256 or RS256: logged in, claims checked, tokens cached', async () => {
  for (const key of [es, rs]) {
    const s = await scripted({ idToken: (nonce) => sign(key, claims(nonce)) });
    const r = await login(s.page);
    assert.equal(r.outcome, 'ok', key.alg);
    assert.equal(r.user.sub, 'user-1');
    assert.equal(r.user.name, 'Ada');
    assert.equal(r.user.nonce, undefined, 'getUser leaves the token claims out');
    assert.equal(r.stored.length, 2, 'the user and the token entry');
    // The authorization request: PKCE S256, the pass-through parameter, the audience.
    const q = s.seen.authorize.searchParams;
    assert.equal(q.get('code_challenge_method'), 'S256');
    assert.equal(q.get('ui_locales'), 'fr');
    assert.equal(q.get('audience'), 'https://api.test/');
    assert.equal(q.get('scope'), 'openid profile email offline_access');
    // The token request carries the verifier whose S256 is the challenge.
    const form = s.seen.token[0];
    assert.equal(form.get('grant_type'), 'authorization_code');
    const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(form.get('code_verifier')));
    assert.equal(Buffer.from(digest).toString('base64url'), q.get('code_challenge'));
    assert.deepEqual(s.errors, []);
    await s.close();
  }
});

test('each refused ID token or response has its error code, and nothing is cached', async () => {
  const cases = [
    ['invalid_signature', { idToken: (n) => sign(other, claims(n)) }],
    ['unknown_kid', { idToken: (n) => sign(es, claims(n), { kid: 'es-9' }) }],
    ['unsupported_alg', { idToken: (n) => `${jose.base64url.encode('{"alg":"none"}')}.${jose.base64url.encode(JSON.stringify(claims(n)))}.` }],
    ['unsupported_alg', { idToken: (n) => new jose.SignJWT(claims(n)).setProtectedHeader({ alg: 'HS256', kid: 'es-1' }).sign(new Uint8Array(32)) }],
    ['invalid_nonce', { idToken: () => sign(es, claims('another nonce')) }],
    ['invalid_iss', { idToken: (n) => sign(es, claims(n, { iss: 'https://evil.test/' })) }],
    ['invalid_aud', { idToken: (n) => sign(es, claims(n, { aud: 'another-client' })) }],
    ['invalid_azp', { idToken: (n) => sign(es, claims(n, { aud: ['spa', 'api'] })) }],
    ['expired', { idToken: (n) => sign(es, claims(n, { exp: now() - 120 })) }],
    ['invalid_iat', { idToken: (n) => sign(es, claims(n, { iat: now() + 600 })) }],
    ['invalid_id_token', { idToken: (n) => sign(es, claims(n, { sub: '' })) }],
    // RFC 9207: a response without the issuer, or from another one, is refused before the code is used.
    ['invalid_iss', { idToken: (n) => sign(es, claims(n)), callback: (p) => (p.delete('iss'), p) }],
    ['invalid_iss', { idToken: (n) => sign(es, claims(n)), callback: (p) => (p.set('iss', 'https://evil.test/'), p) }],
    ['invalid_state', { idToken: (n) => sign(es, claims(n)), callback: (p) => (p.set('state', 'forged'), p) }],
    ['access_denied', { idToken: (n) => sign(es, claims(n)), callback: (p) => new URLSearchParams({ error: 'access_denied', state: p.get('state'), iss: ISSUER }) }],
    ['invalid_grant', { token: () => ({ error: 'invalid_grant', error_description: 'the code was used' }) }],
    ['invalid_response', { token: () => ({ token_type: 'Bearer' }) }],
    ['network_error', { idToken: (n) => sign(es, claims(n)), jwks: () => 500 }],
    ['invalid_jwks', { idToken: (n) => sign(es, claims(n)), jwks: () => ({}) }],
  ];
  for (const [code, script] of cases) {
    const s = await scripted(script);
    const r = await login(s.page);
    assert.equal(r.outcome, code, `${code}: ${JSON.stringify(r)}`);
    assert.equal(r.user, undefined);
    assert.deepEqual(r.stored, [], `${code}: nothing is cached`);
    if (script.callback) assert.equal(s.seen.token.length, 0, `${code}: a refused response's code is never exchanged`);
    else assert.equal(s.seen.token.length, 1, code);
    if (code === 'unknown_kid') assert.equal(s.seen.jwks, 2, 'an unknown kid refetches the JWKS once');
    await s.close();
  }
});

test('a rotated signing key: the JWKS is fetched again once and the new key verifies', async () => {
  const s = await scripted({ idToken: (n) => sign(rs, claims(n)), jwks: (count) => (count === 1 ? [es.jwk] : [es.jwk, rs.jwk]) });
  assert.equal((await login(s.page)).outcome, 'ok');
  assert.equal(s.seen.jwks, 2);
  await s.close();
});

test('refresh, detailedResponse, a custom cache, checkSession, and a refreshed ID token about another user', async () => {
  let sub = 'user-1';
  const s = await scripted({ idToken: (n) => sign(es, claims(n, { sub })) });
  const r = await login(s.page, { cache: 'custom' });
  assert.equal(r.outcome, 'ok');
  assert.deepEqual(r.stored, [], 'a custom cache: nothing in localStorage');
  const result = await s.page.evaluate(async () => {
    const keys = [...window.cache.keys()].sort();
    const first = await window.client.getTokenSilently({ detailedResponse: true });
    const refreshed = await window.client.getTokenSilently({ cacheMode: 'off' });
    const cachedOnly = await window.client.getTokenSilently({ cacheMode: 'cache-only' });
    return { keys, first, refreshed, cachedOnly };
  });
  assert.deepEqual(result.keys, ['@@gatehouse@@::spa::@@user@@', '@@gatehouse@@::spa::https://api.test/::openid profile email offline_access']);
  assert.equal(result.first.access_token, 'at-1');
  assert.equal(result.first.scope, 'openid profile');
  assert.ok(result.first.expires_in > 3500 && result.first.expires_in <= 3600);
  assert.equal(result.refreshed, 'at-2');
  assert.equal(result.cachedOnly, 'at-2');
  const refresh = s.seen.token[1];
  assert.equal(refresh.get('grant_type'), 'refresh_token');
  assert.equal(refresh.get('refresh_token'), 'rt-1');
  assert.equal(refresh.get('client_id'), 'spa');
  // OIDC Core §12.2: a refreshed ID token about someone else is refused, and nothing replaces the old.
  sub = 'user-2';
  const refused = await s.page.evaluate(() => window.client.getTokenSilently({ cacheMode: 'off' }).then(() => 'ok', (e) => e.error));
  assert.equal(refused, 'invalid_id_token');
  assert.equal(await s.page.evaluate(() => window.client.getTokenSilently({ cacheMode: 'cache-only' })), 'at-2');
  // checkSession: a client with nothing cached is "not logged in", which is not an error.
  const check = await s.page.evaluate(async () => {
    const { createGatehouseClient } = await import('/pkg/index.js');
    const fresh = await createGatehouseClient({ domain: 'https://as.test', clientId: 'spa' });
    return fresh.checkSession().then(() => 'resolved', (e) => e.error);
  });
  assert.equal(check, 'resolved');
  assert.deepEqual(s.errors, []);
  await s.close();
});

test('max_age: the ID token must carry a recent enough auth_time (OIDC Core §3.1.3.7 item 13)', async () => {
  const cases = [
    ['ok', (n) => sign(es, claims(n, { auth_time: now() - 100 }))],
    ['invalid_auth_time', (n) => sign(es, claims(n, { auth_time: now() - 400 }))],
    ['invalid_auth_time', (n) => sign(es, claims(n))],
  ];
  for (const [code, idToken] of cases) {
    const s = await scripted({ idToken });
    const r = await login(s.page, { authorizationParams: { redirect_uri: `${app.origin}/cb`, max_age: 300 } });
    assert.equal(r.outcome, code);
    assert.equal(s.seen.authorize.searchParams.get('max_age'), '300');
    await s.close();
  }
});

test('logout: tokens forgotten first, refresh tokens revoked, RP-initiated logout with id_token_hint', async () => {
  const s = await scripted({ idToken: (n) => sign(es, claims(n)) });
  assert.equal((await login(s.page)).outcome, 'ok');
  await Promise.all([
    s.page.waitForURL(`${AS}/oidc/logout?**`),
    s.page.evaluate(() => window.client.logout({ logoutParams: { returnTo: `${location.origin}/bye` } })),
  ]);
  assert.equal(s.seen.revoke.length, 1);
  assert.equal(s.seen.revoke[0].get('token'), 'rt-1');
  assert.equal(s.seen.revoke[0].get('token_type_hint'), 'refresh_token');
  const q = s.seen.logout.searchParams;
  assert.equal(q.get('client_id'), 'spa');
  assert.equal(q.get('post_logout_redirect_uri'), `${app.origin}/bye`);
  assert.equal((await jose.decodeJwt(q.get('id_token_hint'))).sub, 'user-1');
  await s.close();
});

test('a logout while a refresh is on its way: the refresh stores nothing afterwards', async () => {
  let release;
  const gate = new Promise((r) => (release = r));
  let n = 0;
  const s = await scripted({
    token: async (form, nonce) => {
      n += 1;
      if (form.get('grant_type') === 'refresh_token') await gate;
      return { access_token: `at-${n}`, token_type: 'Bearer', expires_in: 3600, refresh_token: `rt-${n}`, id_token: await sign(es, claims(nonce)) };
    },
  });
  assert.equal((await login(s.page)).outcome, 'ok');
  await s.page.evaluate(() => { window.pending = window.client.getTokenSilently({ cacheMode: 'off' }).then((t) => t, (e) => e.error); });
  await s.page.waitForFunction(() => true);
  while (s.seen.token.length < 2) await new Promise((r) => setTimeout(r, 20));
  const loggedOut = s.page.evaluate(() => window.client.logout({ localOnly: true }));
  await new Promise((r) => setTimeout(r, 200));
  release();
  await loggedOut;
  const after = await s.page.evaluate(async () => ({
    refresh: await window.pending,
    authenticated: await window.client.isAuthenticated(),
    stored: Object.keys(localStorage).filter((k) => k.startsWith('@@gatehouse@@')),
  }));
  assert.equal(after.refresh, 'login_required');
  assert.equal(after.authenticated, false);
  assert.deepEqual(after.stored, []);
  assert.deepEqual(s.seen.revoke.map((f) => f.get('token')), ['rt-1']);
  await s.close();
});

test('a custom cache without allKeys: another instance (a reload) still finds and forgets every entry', async () => {
  const s = await scripted({ idToken: (n) => sign(es, claims(n)) });
  assert.equal((await login(s.page, { cache: 'custom-no-keys' })).outcome, 'ok');
  const left = await s.page.evaluate(async () => {
    const { createGatehouseClient } = await import('/pkg/index.js');
    const cache = { get: (k) => window.cache.get(k), set: (k, v) => void window.cache.set(k, v), remove: (k) => void window.cache.delete(k) };
    const reloaded = await createGatehouseClient({ domain: 'https://as.test', clientId: 'spa', cache });
    const before = await reloaded.isAuthenticated();
    await reloaded.logout({ localOnly: true });
    return { before, left: [...window.cache.keys()] };
  });
  assert.equal(left.before, true);
  assert.deepEqual(left.left, []);
  assert.deepEqual(s.seen.revoke.map((f) => f.get('token')), ['rt-1']);
  await s.close();
});

test('a refresh whose answer is refused after the server rotated: the replaced refresh token is never sent again', async () => {
  let kid = 'es-1';
  const s = await scripted({ idToken: (n) => sign(es, claims(n), { kid }), jwks: (count) => (count === 1 ? [es.jwk] : 500) });
  assert.equal((await login(s.page)).outcome, 'ok');
  kid = 'es-2'; // the refreshed ID token names a key the JWKS cannot be fetched for
  const r = await s.page.evaluate(async () => ({
    first: await window.client.getTokenSilently({ cacheMode: 'off' }).then(() => 'ok', (e) => e.error),
    cached: await window.client.getTokenSilently({ cacheMode: 'cache-only' }),
    second: await window.client.getTokenSilently({ cacheMode: 'off' }).then(() => 'ok', (e) => e.error),
  }));
  assert.equal(r.first, 'network_error');
  assert.equal(r.cached, 'at-1', 'the access token stays while it lives');
  assert.equal(r.second, 'missing_refresh_token');
  assert.deepEqual(s.seen.token.map((f) => f.get('refresh_token')), [null, 'rt-1'], 'rt-1 is sent once');
  await s.close();
});
