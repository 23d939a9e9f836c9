// Client-Initiated Backchannel Authentication (OpenID CIBA Core 1.0), end to end: poll with
// openid-client, ping with oauth4webapi, push with fetch and jose, against the built Worker under
// workerd. The user answers at /approve through a cookie-jar browser; pings, pushes and the
// operator's webhook reach a small HTTP server on loopback, which checks what the Worker sent.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createHash } from 'node:crypto';
import * as client from 'openid-client';
import * as oauth from 'oauth4webapi';
import * as jose from 'jose';
import { importTenant, oauthError, startWorker } from './harness.mjs';
import { Browser } from './browser-jar.mjs';

const CIBA = 'urn:openid:params:grant-type:ciba';
const API = 'https://ledger.ciba.test/';
const POLL_SECRET = 'ciba-poll-secret-0123456789abcdefghijklm';
const PING_SECRET = 'ciba-ping-secret-0123456789abcdefghijklm';
const PUSH_SECRET = 'ciba-push-secret-0123456789abcdefghijklm';
const ADA = { user_id: 'auth0|ada', email: 'ada@example.com', password: 'correct horse battery', name: 'Ada Lovelace' };
const BOB = { user_id: 'auth0|bob', email: 'bob@example.com', password: 'bob-password-1', name: 'Bob' };

let worker;
let issuer;
let jwks;
let receiver;
let hintKey;
const received = []; // { path, headers, body }
const waiters = [];

/** Resolves with the next notification POSTed to `path` that satisfies `match`. */
function nextAt(path, match = () => true, timeoutMs = 10_000) {
  const found = received.find((r) => r.path === path && match(r));
  if (found) return Promise.resolve(found);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`nothing at ${path}`)), timeoutMs);
    waiters.push({ path, match, resolve: (r) => { clearTimeout(timer); resolve(r); } });
  });
}

before(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      const entry = { path: req.url, headers: req.headers, body, json: JSON.parse(body || 'null') };
      received.push(entry);
      for (const w of waiters.splice(0)) {
        if (w.path === entry.path && w.match(entry)) w.resolve(entry);
        else waiters.push(w);
      }
      res.writeHead(204).end();
    });
  });
  await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const at = (path) => `http://127.0.0.1:${receiver.address().port}${path}`;
  // Clients poll every second here (the default is 5 s), so the tests wait less.
  worker = await startWorker({ vars: { CIBA_INTERVAL_SECONDS: '1' } });
  issuer = worker.url;
  jwks = jose.createRemoteJWKSet(new URL('/.well-known/jwks.json', worker.origin));
  hintKey = await jose.generateKeyPair('ES256');
  const publicJwk = { ...(await jose.exportJWK(hintKey.publicKey)), kid: 'hint-1', alg: 'ES256' };
  const ciba = (client_id, name, secret, mode, extra = {}) => ({
    client_id, name, app_type: 'regular_web', client_secret: secret, grant_types: [CIBA, 'refresh_token'],
    backchannel_token_delivery_mode: mode, ...extra,
  });
  await importTenant(worker, {
    clients: [
      ciba('call-centre', 'Call Centre', POLL_SECRET, 'poll', { jwks: { keys: [publicJwk] } }),
      ciba('bank', 'Ping Bank', PING_SECRET, 'ping', { token_endpoint_auth_method: 'client_secret_post', backchannel_client_notification_endpoint: at('/ping') }),
      ciba('shop', 'Push Shop', PUSH_SECRET, 'push', { backchannel_client_notification_endpoint: at('/push') }),
    ],
    apis: [{ identifier: API, name: 'Ledger', signing_alg: 'ES256', token_lifetime_seconds: 600, allow_offline_access: true, scopes: [{ value: 'read:ledger' }] }],
    users: [ADA, BOB],
    ciba: { notify_url: at('/hook') },
  });
});

after(async () => {
  await worker?.stop();
  receiver?.close();
});

const insecure = { execute: [client.allowInsecureRequests] };
const configFor = (clientId, auth) => client.discovery(new URL(issuer), clientId, undefined, auth, insecure);
const halfHash = (value) => createHash('sha256').update(value).digest().subarray(0, 16).toString('base64url');

/** The webhook for a request: its signature checked against the JWKS, its body returned. */
async function webhookFor(authReqId) {
  const hook = await nextAt('/hook', (r) => r.json?.auth_req_id === authReqId);
  const { payload, protectedHeader } = await jose.compactVerify(hook.headers['gatehouse-signature'], jwks);
  assert.equal(protectedHeader.typ, 'gatehouse-ciba+jwt');
  assert.equal(new TextDecoder().decode(payload), hook.body, 'the signature covers the body as sent');
  assert.equal(hook.json.iss, issuer);
  return hook.json;
}

/** The user opens the approval link in their browser, logs in as asked and answers. */
async function answer(approveUrl, user = ADA, decision = 'allow') {
  const browser = new Browser(worker.origin, user);
  const url = new URL(approveUrl);
  return browser.follow(await browser.fetch(url), url, { decision });
}

const post = (path, fields, headers = {}) =>
  fetch(new URL(path, worker.origin), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields),
  });
const basic = (id, secret) => ({ authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` });

test('discovery lists CIBA exactly', async () => {
  const meta = (await configFor('call-centre', client.ClientSecretBasic(POLL_SECRET))).serverMetadata();
  assert.equal(meta.backchannel_authentication_endpoint, `${issuer}bc-authorize`);
  assert.deepEqual(meta.backchannel_token_delivery_modes_supported, ['poll', 'ping', 'push']);
  assert.equal(meta.backchannel_user_code_parameter_supported, false);
  assert.ok(meta.grant_types_supported.includes(CIBA));
});

test('poll mode with openid-client: the user approves at /approve while the client polls', async () => {
  const config = await configFor('call-centre', client.ClientSecretBasic(POLL_SECRET));
  const started = await client.initiateBackchannelAuthentication(config, {
    scope: 'openid profile offline_access read:ledger', audience: API, login_hint: ADA.email, binding_message: 'W4SCT',
  });
  assert.ok(started.auth_req_id.length >= 22, '≥ 128 bits');
  assert.equal(started.expires_in, 300);
  assert.equal(started.interval, 1);
  const hook = await webhookFor(started.auth_req_id);
  assert.deepEqual(
    [hook.user_id, hook.client_id, hook.client_name, hook.binding_message, hook.scope],
    [ADA.user_id, 'call-centre', 'Call Centre', 'W4SCT', 'openid profile offline_access read:ledger'],
  );
  assert.ok(hook.approve_url.startsWith(`${issuer}approve?request=`));
  const polling = client.pollBackchannelAuthenticationGrant(config, started);
  const done = await answer(hook.approve_url);
  assert.equal(done.status, 200);
  assert.match(done.page, /Approved/);
  assert.ok(done.trail.includes('/login') && done.trail.includes('/consent'), done.trail.join(' '));
  const tokens = await polling;
  const access = (await jose.jwtVerify(tokens.access_token, jwks, { issuer, audience: API, typ: 'at+jwt' })).payload;
  assert.deepEqual([access.sub, access.client_id, access.scope], [ADA.user_id, 'call-centre', 'openid profile offline_access read:ledger']);
  const id = tokens.claims();
  assert.deepEqual([id.sub, id.aud, id.name], [ADA.user_id, 'call-centre', ADA.name]);
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  assert.equal(refreshed.claims().sub, ADA.user_id);
  // Spent, and Auth0's iss_sub hint names the same user.
  const again = await post('/oauth/token', { grant_type: CIBA, auth_req_id: started.auth_req_id }, basic('call-centre', POLL_SECRET));
  assert.deepEqual([again.status, (await again.json()).error], [400, 'invalid_grant']);
  const bySub = await client.initiateBackchannelAuthentication(config, {
    scope: 'openid', login_hint: JSON.stringify({ format: 'iss_sub', iss: issuer, sub: BOB.user_id }),
  });
  assert.equal((await webhookFor(bySub.auth_req_id)).user_id, BOB.user_id);
});

test('poll mode: denied is access_denied; another account cannot approve; the list shows each user’s own', async () => {
  const config = await configFor('call-centre', client.ClientSecretBasic(POLL_SECRET));
  const denied = await client.initiateBackchannelAuthentication(config, { scope: 'openid', login_hint: ADA.email });
  const deniedHook = await webhookFor(denied.auth_req_id);
  assert.match((await answer(deniedHook.approve_url, ADA, 'deny')).page, /Request denied/);
  const e = await oauthError(client.pollBackchannelAuthenticationGrant(config, denied));
  assert.deepEqual([e.status, e.error], [403, 'access_denied']);
  // Bob opens Ada's link and logs in as himself: refused; the request waits for Ada.
  const started = await client.initiateBackchannelAuthentication(config, { scope: 'openid', login_hint: ADA.email, binding_message: 'ADA-1' });
  const hook = await webhookFor(started.auth_req_id);
  const byBob = await answer(hook.approve_url, BOB);
  assert.equal(byBob.status, 403);
  assert.match(byBob.page, /another account/);
  const pending = await post('/oauth/token', { grant_type: CIBA, auth_req_id: started.auth_req_id }, basic('call-centre', POLL_SECRET));
  assert.equal((await pending.json()).error, 'authorization_pending');
  // Ada's list, after the list's own login.
  const ada = new Browser(worker.origin, ADA);
  const form = await (await ada.fetch('/approve')).text();
  const csrf = form.match(/name="csrf" value="([^"]+)"/)[1];
  const login = await ada.submit('/approve', { csrf, username: ADA.email, password: ADA.password });
  assert.deepEqual([login.status, login.headers.get('location')], [303, '/approve']);
  const list = await (await ada.fetch('/approve')).text();
  assert.ok(list.includes('ADA-1') && list.includes('Call Centre'), list);
  const path = new URL(hook.approve_url).pathname + new URL(hook.approve_url).search;
  assert.ok(list.includes(path.replace('&', '&amp;')), 'the list links to the request');
  const done = await ada.follow(await ada.fetch(path), new URL(path, worker.origin));
  assert.match(done.page, /Approved/);
  assert.ok(!done.trail.includes('/login'), 'already logged in as Ada');
  const tokens = await client.pollBackchannelAuthenticationGrant(config, started);
  assert.equal(tokens.claims().sub, ADA.user_id);
});

test('ping mode with oauth4webapi: pinged with the bearer token, then the token endpoint', async () => {
  const opts = { [oauth.allowInsecureRequests]: true };
  const as = await oauth.processDiscoveryResponse(new URL(issuer), await oauth.discoveryRequest(new URL(issuer), opts));
  const bank = { client_id: 'bank' };
  const auth = oauth.ClientSecretPost(PING_SECRET);
  const token = 'ping-token-' + Math.random().toString(36).slice(2);
  const res = await oauth.backchannelAuthenticationRequest(as, bank, auth, {
    scope: 'openid read:ledger', audience: API, login_hint: ADA.email, client_notification_token: token,
  }, opts);
  const started = await oauth.processBackchannelAuthenticationResponse(as, bank, res);
  assert.equal(started.interval, 1);
  const hook = await webhookFor(started.auth_req_id);
  await answer(hook.approve_url);
  const ping = await nextAt('/ping', (r) => r.json.auth_req_id === started.auth_req_id);
  assert.equal(ping.headers.authorization, `Bearer ${token}`);
  assert.deepEqual(ping.json, { auth_req_id: started.auth_req_id });
  const grant = await oauth.backchannelAuthenticationGrantRequest(as, bank, auth, started.auth_req_id, opts);
  const tokens = await oauth.processBackchannelAuthenticationGrantResponse(as, bank, grant);
  assert.equal(oauth.getValidatedIdTokenClaims(tokens).sub, ADA.user_id);
  await jose.jwtVerify(tokens.id_token, jwks, { issuer, audience: 'bank' });
  // Denied: pinged as well, and the token endpoint says access_denied.
  const again = await oauth.processBackchannelAuthenticationResponse(as, bank, await oauth.backchannelAuthenticationRequest(
    as, bank, auth, { scope: 'openid', login_hint: ADA.email, client_notification_token: token }, opts));
  await answer((await webhookFor(again.auth_req_id)).approve_url, ADA, 'deny');
  await nextAt('/ping', (r) => r.json.auth_req_id === again.auth_req_id);
  const refused = await oauth.backchannelAuthenticationGrantRequest(as, bank, auth, again.auth_req_id, opts);
  const e = await oauthError(oauth.processBackchannelAuthenticationGrantResponse(as, bank, refused));
  assert.equal(e.error, 'access_denied');
});

test('push mode: the token response is pushed with an ID token that binds it (§10.3.1); a denial is pushed as an error', async () => {
  const token = 'push-token-' + Math.random().toString(36).slice(2);
  const start = async () => {
    const res = await post('/bc-authorize', {
      scope: 'openid offline_access read:ledger', audience: API, login_hint: ADA.email, client_notification_token: token,
    }, basic('shop', PUSH_SECRET));
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.interval, undefined, 'push clients do not poll');
    return body.auth_req_id;
  };
  const id = await start();
  const refused = await post('/oauth/token', { grant_type: CIBA, auth_req_id: id }, basic('shop', PUSH_SECRET));
  assert.deepEqual([refused.status, (await refused.json()).error], [400, 'unauthorized_client']);
  await answer((await webhookFor(id)).approve_url);
  const push = await nextAt('/push', (r) => r.json.auth_req_id === id);
  assert.equal(push.headers.authorization, `Bearer ${token}`);
  const { access_token, refresh_token, id_token, token_type } = push.json;
  assert.equal(token_type, 'Bearer');
  const claims = (await jose.jwtVerify(id_token, jwks, { issuer, audience: 'shop' })).payload;
  assert.equal(claims['urn:openid:params:jwt:claim:auth_req_id'], id);
  assert.equal(claims.at_hash, halfHash(access_token));
  assert.equal(claims['urn:openid:params:jwt:claim:rt_hash'], halfHash(refresh_token));
  await jose.jwtVerify(access_token, jwks, { issuer, audience: API, typ: 'at+jwt' });
  const denied = await start();
  await answer((await webhookFor(denied)).approve_url, ADA, 'deny');
  const error = await nextAt('/push', (r) => r.json.auth_req_id === denied);
  assert.deepEqual(error.json, { auth_req_id: denied, error: 'access_denied', error_description: 'the user denied the request' });
});

test('push mode: a request that expires unanswered is pushed expired_token, from the ledger’s alarm (§12)', async () => {
  const token = 'push-expiry-' + Math.random().toString(36).slice(2);
  const res = await post('/bc-authorize', {
    scope: 'openid', login_hint: ADA.email, client_notification_token: token, requested_expiry: '2',
  }, basic('shop', PUSH_SECRET));
  const { auth_req_id } = await res.json();
  const approveUrl = (await webhookFor(auth_req_id)).approve_url;
  const pushed = await nextAt('/push', (r) => r.json.auth_req_id === auth_req_id, 15_000);
  assert.equal(pushed.headers.authorization, `Bearer ${token}`);
  assert.deepEqual(pushed.json, { auth_req_id, error: 'expired_token', error_description: 'the request expired before the user answered' });
  // Ended: the link opens nothing.
  const late = await answer(approveUrl);
  assert.equal(late.status, 400);
  assert.match(late.page, /expired or was already answered/);
});

test('login_hint_token: a JWT the client signs (jose) naming the user by an RFC 9493 subject identifier', async () => {
  const config = await configFor('call-centre', client.ClientSecretBasic(POLL_SECRET));
  const hint = (subId, jti = crypto.randomUUID(), exp = '60s') => new jose.SignJWT({ sub_id: subId })
    .setProtectedHeader({ alg: 'ES256', kid: 'hint-1' })
    .setIssuer('call-centre').setAudience(issuer).setIssuedAt().setExpirationTime(exp).setJti(jti)
    .sign(hintKey.privateKey);
  const started = await client.initiateBackchannelAuthentication(config, {
    scope: 'openid', login_hint_token: await hint({ format: 'email', email: BOB.email }),
  });
  assert.equal((await webhookFor(started.auth_req_id)).user_id, BOB.user_id);
  const replayed = await hint({ format: 'iss_sub', iss: issuer, sub: ADA.user_id }, 'once');
  assert.ok((await client.initiateBackchannelAuthentication(config, { scope: 'openid', login_hint_token: replayed })).auth_req_id);
  const again = await oauthError(client.initiateBackchannelAuthentication(config, { scope: 'openid', login_hint_token: replayed }));
  assert.deepEqual([again.status, again.error], [400, 'invalid_request']);
  const expired = await oauthError(client.initiateBackchannelAuthentication(config, {
    scope: 'openid', login_hint_token: await hint({ format: 'email', email: ADA.email }, undefined, Math.floor(Date.now() / 1000) - 5),
  }));
  assert.deepEqual([expired.status, expired.error], [400, 'expired_login_hint_token']);
});

test('refusals of /bc-authorize, with CIBA Core §13 codes and statuses', async () => {
  const config = await configFor('call-centre', client.ClientSecretBasic(POLL_SECRET));
  const cases = [
    [{ scope: 'openid', login_hint: 'nobody@example.com' }, 400, 'unknown_user_id'],
    [{ scope: 'openid' }, 400, 'invalid_request'],
    [{ scope: 'openid', login_hint: ADA.email, id_token_hint: 'a.b.c' }, 400, 'invalid_request'],
    [{ scope: 'profile', login_hint: ADA.email }, 400, 'invalid_request'],
    [{ scope: 'openid', login_hint: ADA.email, binding_message: 'x'.repeat(65) }, 400, 'invalid_binding_message'],
    [{ scope: 'openid', login_hint: ADA.email, requested_expiry: '0' }, 400, 'invalid_request'],
  ];
  for (const [params, status, error] of cases) {
    const e = await oauthError(client.initiateBackchannelAuthentication(config, params));
    assert.deepEqual([e.status, e.error], [status, error], JSON.stringify(params));
  }
  const wrong = await post('/bc-authorize', { scope: 'openid', login_hint: ADA.email }, basic('call-centre', 'not-the-secret'));
  assert.deepEqual([wrong.status, (await wrong.json()).error], [401, 'invalid_client']);
  const ping = await post('/bc-authorize', { client_id: 'bank', client_secret: PING_SECRET, scope: 'openid', login_hint: ADA.email });
  assert.deepEqual([ping.status, (await ping.json()).error], [400, 'invalid_request'], 'ping needs client_notification_token');
});

test('20 parallel token requests for an approved request yield exactly one token response', async () => {
  const config = await configFor('call-centre', client.ClientSecretBasic(POLL_SECRET));
  const started = await client.initiateBackchannelAuthentication(config, { scope: 'openid', login_hint: ADA.email });
  await answer((await webhookFor(started.auth_req_id)).approve_url);
  const answers = await Promise.all(Array.from({ length: 20 }, () =>
    post('/oauth/token', { grant_type: CIBA, auth_req_id: started.auth_req_id }, basic('call-centre', POLL_SECRET))));
  const bodies = await Promise.all(answers.map((r) => r.json()));
  assert.equal(answers.filter((r) => r.status === 200).length, 1, JSON.stringify(bodies.map((b) => b.error ?? 'tokens')));
  for (const b of bodies) if (!b.access_token) assert.equal(b.error, 'invalid_grant');
});
