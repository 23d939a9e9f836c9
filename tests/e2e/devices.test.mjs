// Devices and trusted clients, end to end: the device authorization grant (RFC 8628) with the
// user's part at /activate through a cookie-jar browser, and the resource owner password grant
// (RFC 6749 §4.3, Auth0's password-realm), against the built Worker under workerd, driven by
// openid-client and oauth4webapi; tokens verified with jose against the Worker's JWKS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import * as oauth from 'oauth4webapi';
import * as jose from 'jose';
import { importTenant, oauthError, startWorker } from './harness.mjs';
import { Browser } from './browser-jar.mjs';

const API = 'https://media.devices.test/';
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const REALM_GRANT = 'http://auth0.com/oauth/grant-type/password-realm';
const KIOSK_SECRET = 'kiosk-secret-0123456789abcdefghijklmnopq';
const BACKEND_SECRET = 'backend-secret-0123456789abcdefghijklmno';
const ADA = { user_id: 'auth0|ada', email: 'ada@example.com', password: 'correct horse battery', name: 'Ada Lovelace' };
const BOB = { user_id: 'partner|bob', email: 'bob@example.com', password: 'bob-password-1', name: 'Bob', connection: 'partners' };

let worker;
let issuer;
let jwks;

before(async () => {
  // Devices poll every second here (the default is 5 s), so the tests wait less.
  worker = await startWorker({ vars: { DEVICE_CODE_INTERVAL_SECONDS: '1', DEBUG_COUNTS: 'true' } });
  issuer = worker.url;
  jwks = jose.createRemoteJWKSet(new URL('/.well-known/jwks.json', worker.origin));
  const tenant = {
    clients: [
      { client_id: 'tv', name: 'Living Room TV', app_type: 'native', grant_types: [DEVICE_GRANT, 'refresh_token'] },
      { client_id: 'kiosk', name: 'Lobby Kiosk', app_type: 'regular_web', client_secret: KIOSK_SECRET, grant_types: [DEVICE_GRANT] },
      { client_id: 'backend', name: 'Trusted Backend', app_type: 'regular_web', client_secret: BACKEND_SECRET, grant_types: ['password', REALM_GRANT, 'refresh_token'] },
    ],
    apis: [{ identifier: API, name: 'Media', signing_alg: 'ES256', token_lifetime_seconds: 600, allow_offline_access: true, scopes: [{ value: 'play' }] }],
    users: [ADA, BOB],
  };
  await importTenant(worker, tenant);
});

after(async () => {
  await worker?.stop();
});

const insecure = { execute: [client.allowInsecureRequests] };
const configFor = (clientId, auth) => client.discovery(new URL(issuer), clientId, undefined, auth, insecure);

async function verify(token, audience, typ) {
  const { payload } = await jose.jwtVerify(token, jwks, { issuer, audience, typ });
  return payload;
}

const poll = (deviceCode, clientId = 'tv') =>
  fetch(new URL('/oauth/token', worker.origin), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: DEVICE_GRANT, client_id: clientId, device_code: deviceCode }),
  });

test('discovery lists the device authorization endpoint and the grants', async () => {
  const meta = (await configFor('tv', client.None())).serverMetadata();
  assert.equal(meta.device_authorization_endpoint, `${issuer}oauth/device/code`);
  for (const g of [DEVICE_GRANT, 'password', REALM_GRANT]) assert.ok(meta.grant_types_supported.includes(g), g);
});

test('device flow with openid-client: the user approves at /activate while the device polls', async () => {
  const config = await configFor('tv', client.None());
  const codes = await client.initiateDeviceAuthorization(config, { scope: 'openid profile offline_access play', audience: API });
  assert.match(codes.user_code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
  assert.equal(codes.verification_uri, `${issuer}activate`);
  assert.equal(codes.verification_uri_complete, `${issuer}activate?user_code=${codes.user_code}`);
  assert.equal(codes.expires_in, 900);
  assert.equal(codes.interval, 1);
  // Not approved yet: authorization_pending (oauth4webapi's view of the same poll).
  const as = await oauth.processDiscoveryResponse(new URL(issuer), await oauth.discoveryRequest(new URL(issuer), { [oauth.allowInsecureRequests]: true }));
  const pending = await oauth.deviceCodeGrantRequest(as, { client_id: 'tv' }, oauth.None(), codes.device_code, { [oauth.allowInsecureRequests]: true });
  const e = await oauthError(oauth.processGenericTokenEndpointResponse(as, { client_id: 'tv' }, pending));
  assert.equal(e.error, 'authorization_pending');
  // The device polls (openid-client honours interval and slow_down) while the user activates.
  const polling = client.pollDeviceAuthorizationGrant(config, codes);
  const user = new Browser(worker.origin, ADA);
  const done = await user.activate(codes.user_code.toLowerCase().replace('-', ''));
  assert.equal(done.status, 200);
  assert.match(done.page, /Return to it to continue/);
  assert.ok(done.trail.includes('/login') && done.trail.some((p) => p === '/consent'), `login and confirmation: ${done.trail}`);
  const tokens = await polling;
  const access = await verify(tokens.access_token, API, 'at+jwt');
  assert.equal(access.sub, ADA.user_id);
  assert.equal(access.client_id, 'tv');
  assert.equal(access.scope, 'openid profile offline_access play');
  const id = tokens.claims();
  assert.equal(id.sub, ADA.user_id);
  assert.equal(id.aud, 'tv');
  assert.equal(id.name, ADA.name);
  assert.ok(tokens.refresh_token);
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  assert.equal((await verify(refreshed.access_token, API, 'at+jwt')).sub, ADA.user_id);
  // The device code is spent.
  const again = await poll(codes.device_code);
  assert.deepEqual([again.status, (await again.json()).error], [400, 'invalid_grant']);
});

test('device flow: denied, and a confidential device client authenticates', async () => {
  const kiosk = await configFor('kiosk', client.ClientSecretBasic(KIOSK_SECRET));
  const codes = await client.initiateDeviceAuthorization(kiosk, { scope: 'openid' });
  const denied = await new Browser(worker.origin, ADA).activate(codes.user_code, { decision: 'deny' });
  assert.match(denied.page, /Request denied/);
  const e = await oauthError(client.pollDeviceAuthorizationGrant(kiosk, codes));
  assert.deepEqual([e.status, e.error], [403, 'access_denied']);
  // Without its secret the kiosk gets nothing.
  const res = await fetch(new URL('/oauth/device/code', worker.origin), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: 'kiosk' }),
  });
  assert.deepEqual([res.status, (await res.json()).error], [401, 'invalid_client']);
});

test('device codes are limited per network: 30, then 429 too_many_requests', async () => {
  const ask = (ip) => fetch(new URL('/oauth/device/code', worker.origin), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'cf-connecting-ip': ip },
    body: new URLSearchParams({ client_id: 'tv', scope: 'openid' }),
  });
  const statuses = [];
  for (let i = 0; i < 30; i++) statuses.push((await ask('203.0.113.77')).status);
  assert.deepEqual([...new Set(statuses)], [200]);
  const over = await ask('203.0.113.77');
  assert.deepEqual([over.status, (await over.json()).error], [429, 'too_many_requests']);
  assert.equal((await ask('203.0.113.78')).status, 200);
});

test('device flow: polling too fast is slow_down; a wrong code at /activate is refused; guessing is limited', async () => {
  const config = await configFor('tv', client.None());
  const codes = await client.initiateDeviceAuthorization(config, { scope: 'openid' });
  const first = await (await poll(codes.device_code)).json();
  const second = await (await poll(codes.device_code)).json();
  assert.equal(first.error, 'authorization_pending');
  assert.equal(second.error, 'slow_down', 'RFC 8628 §3.5');
  const guesser = new Browser(worker.origin, ADA);
  const statuses = [];
  for (let i = 0; i < 6; i++) statuses.push((await guesser.submit('/activate', { user_code: 'BBBB-BBBB' })).status);
  assert.deepEqual(statuses, [400, 400, 400, 400, 400, 429], 'five wrong codes per browser, then 429');
  assert.equal((await guesser.submit('/activate', { user_code: codes.user_code })).status, 429, 'nothing is looked up while limited');
});

test('device flow: 40 parallel guesses at /activate from one IP: exactly 20 are looked up', async () => {
  const guess = () => fetch(new URL('/activate', worker.origin), {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'cf-connecting-ip': '203.0.113.99' },
    body: 'user_code=BBBB-BBBB',
  });
  const statuses = (await Promise.all(Array.from({ length: 40 }, guess))).map((r) => r.status);
  assert.equal(statuses.filter((s) => s === 400).length, 20, statuses.join(' '));
  assert.equal(statuses.filter((s) => s === 429).length, 20);
});

test('device flow: 20 parallel polls of an approved code yield exactly one token response', async () => {
  const config = await configFor('tv', client.None());
  const codes = await client.initiateDeviceAuthorization(config, { scope: 'openid' });
  await new Browser(worker.origin, ADA).activate(codes.user_code);
  await new Promise((resolve) => setTimeout(resolve, 1100));
  const answers = await Promise.all(Array.from({ length: 20 }, () => poll(codes.device_code)));
  const bodies = await Promise.all(answers.map((r) => r.json()));
  const ok = answers.filter((r) => r.status === 200);
  assert.equal(ok.length, 1, JSON.stringify(bodies.map((b) => b.error ?? 'tokens')));
  for (const [i, r] of answers.entries()) {
    if (r.status !== 200) assert.ok(['invalid_grant', 'slow_down'].includes(bodies[i].error), bodies[i].error);
  }
});

test('a password attempt’s limits (per account and per IP, this window and the last) are one ledger round trip', async () => {
  const res = await fetch(new URL('/oauth/token', worker.origin), {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`backend:${BACKEND_SECRET}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'password', username: BOB.email, password: 'not-his' }),
  });
  assert.deepEqual([res.status, (await res.json()).error], [400, 'invalid_grant']);
  // One for the client's deletion mark (client authentication), one for the limits (was 1 + 8).
  assert.match(res.headers.get('gatehouse-counts'), /\bledger=2\b/, res.headers.get('gatehouse-counts'));
});

test('password grant with openid-client and Auth0’s password-realm', async () => {
  const backend = await configFor('backend', client.ClientSecretBasic(BACKEND_SECRET));
  const tokens = await client.genericGrantRequest(backend, 'password', {
    username: ADA.email, password: ADA.password, scope: 'openid offline_access play', audience: API,
  });
  const access = await verify(tokens.access_token, API, 'at+jwt');
  assert.equal(access.sub, ADA.user_id);
  assert.equal(access.gty, 'password');
  assert.equal(tokens.claims().sub, ADA.user_id);
  assert.ok(tokens.refresh_token);
  const realm = await client.genericGrantRequest(backend, REALM_GRANT, {
    username: BOB.email, password: BOB.password, realm: 'partners', scope: 'openid',
  });
  assert.equal(realm.claims().sub, BOB.user_id);
  const wrongRealm = await oauthError(client.genericGrantRequest(backend, REALM_GRANT, {
    username: ADA.email, password: ADA.password, realm: 'partners',
  }));
  assert.deepEqual([wrongRealm.status, wrongRealm.error], [400, 'invalid_grant']);
  const wrong = await oauthError(client.genericGrantRequest(backend, 'password', { username: ADA.email, password: 'nope' }));
  const unknown = await oauthError(client.genericGrantRequest(backend, 'password', { username: 'nobody@example.com', password: 'nope' }));
  assert.deepEqual([wrong.status, wrong.error, wrong.e.error_description], [400, 'invalid_grant', 'Wrong email or password.']);
  assert.deepEqual([unknown.status, unknown.error, unknown.e.error_description], [wrong.status, wrong.error, wrong.e.error_description]);
  // Auth0's Node SDK shape: JSON, client_secret in the body, the end user's IP forwarded.
  const res = await fetch(new URL('/oauth/token', worker.origin), {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'auth0-forwarded-for': '192.0.2.44' },
    body: JSON.stringify({ grant_type: 'password', client_id: 'backend', client_secret: BACKEND_SECRET, username: ADA.email, password: ADA.password }),
  });
  assert.equal(res.status, 401, 'backend authenticates with Basic: the body secret is refused');
  // A client that does not list the grant.
  const tv = await configFor('tv', client.None());
  const e = await oauthError(client.genericGrantRequest(tv, 'password', { username: ADA.email, password: ADA.password }));
  assert.deepEqual([e.status, e.error], [400, 'unauthorized_client']);
});
