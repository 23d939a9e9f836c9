// Login flows, end to end: the built Worker under workerd, a browser simulated with a cookie jar
// over fetch (the hosted login and consent pages), and real third-party clients (openid-client,
// jose) on the other side. Every token is verified against the Worker's published JWKS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as client from 'openid-client';
import * as jose from 'jose';
import { ADMIN_TOKEN, INITIAL_ACCESS_TOKEN, startWorker, untilAnswered } from './harness.mjs';
import { Browser as CookieBrowser, hiddenInputs } from './browser-jar.mjs';

const API = 'https://api.login.test/';
const API_RS = 'https://rs256.login.test/';
const SPA_ORIGIN = 'http://127.0.0.1:4000';
const SPA_CB = `${SPA_ORIGIN}/cb`;
const SPA_CB2 = `${SPA_ORIGIN}/other-cb`;
const SPA_BYE = `${SPA_ORIGIN}/bye`;
const BASIC_CB = 'https://basic.example/cb';
const POST_CB = 'https://post.example/cb';
const JWT_CB = 'https://jwt.example/cb';
const THIRD_CB = 'https://third.example/cb';
const DCR_CB = 'http://127.0.0.1:4100/cb';
const BASIC_SECRET = 'basic-secret-0123456789abcdefghijklmnop';
const POST_SECRET = 'post-secret-0123456789abcdefghijklmnopqr';
// RFC 6749 §2.3.1: id and secret are form-encoded inside Basic credentials; this one needs it.
const THIRD_SECRET = 'third: secret+with%special/chars?&=0123456789 ü';

const ADA = { user_id: 'auth0|ada', email: 'ada@example.com', password: 'correct horse battery', name: 'Ada Lovelace', given_name: 'Ada', family_name: 'Lovelace', email_verified: true };
const BOB = { user_id: 'auth0|bob', email: 'bob@example.com', password: 'bob-password-1', name: 'Bob', email_verified: false };
const CAROL = { user_id: 'auth0|carol', email: 'carol@example.com', password: 'carol-password-1', name: 'Carol' };

let worker;
let issuer;
let jwks; // jose remote JWK set of the Worker
let jwtKey; // the private_key_jwt client's key pair

before(async () => {
  worker = await startWorker();
  issuer = worker.url;
  jwks = jose.createRemoteJWKSet(new URL('/.well-known/jwks.json', worker.origin));
  const { privateKey, publicKey } = await jose.generateKeyPair('ES256', { extractable: true });
  const pub = await jose.exportJWK(publicKey);
  jwtKey = { privateKey, kid: await jose.calculateJwkThumbprint(pub), pub };
  const tenant = {
    clients: [
      {
        client_id: 'spa',
        name: 'Test SPA',
        app_type: 'spa',
        token_endpoint_auth_method: 'none',
        redirect_uris: [SPA_CB, SPA_CB2],
        web_origins: [SPA_ORIGIN],
        allowed_logout_urls: [SPA_BYE],
      },
      {
        client_id: 'web-basic',
        name: 'Basic Web App',
        app_type: 'regular_web',
        token_endpoint_auth_method: 'client_secret_basic',
        client_secret: BASIC_SECRET,
        redirect_uris: [BASIC_CB],
        allowed_logout_urls: ['https://basic.example/'],
      },
      {
        client_id: 'web-post',
        name: 'Post Web App',
        app_type: 'regular_web',
        token_endpoint_auth_method: 'client_secret_post',
        client_secret: POST_SECRET,
        redirect_uris: [POST_CB],
        id_token_signed_response_alg: 'ES256',
      },
      {
        client_id: 'web-jwt',
        name: 'Key Web App',
        app_type: 'regular_web',
        token_endpoint_auth_method: 'private_key_jwt',
        redirect_uris: [JWT_CB],
        jwks: { keys: [{ ...pub, kid: jwtKey.kid, alg: 'ES256', use: 'sig' }] },
      },
      {
        client_id: 'third-party',
        name: 'Third Party App',
        app_type: 'regular_web',
        client_secret: THIRD_SECRET,
        redirect_uris: [THIRD_CB],
        is_first_party: false,
      },
    ],
    apis: [
      {
        identifier: API,
        name: 'Things API',
        scopes: [
          { value: 'read:things', description: 'Read your things' },
          { value: 'write:things', description: 'Change your things' },
        ],
        signing_alg: 'ES256',
        token_lifetime_seconds: 600,
        allow_offline_access: true,
      },
      { identifier: API_RS, name: 'RSA API', signing_alg: 'RS256', token_lifetime_seconds: 900 },
    ],
    users: [ADA, BOB, CAROL],
  };
  const res = await fetch(new URL('/admin/tenant', worker.origin), {
    method: 'PUT',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(tenant),
  });
  assert.equal(res.status, 200, await res.clone().text());
  assert.deepEqual((await res.json()).imported, { clients: 5, apis: 2, users: 3, client_grants: 0 });
});

after(async () => {
  await worker?.stop();
});

// ---- helpers -------------------------------------------------------------------------------

/** A browser that logs in as Ada unless told otherwise. */
class Browser extends CookieBrowser {
  constructor() {
    super(worker.origin, ADA);
  }
}

const insecure = { execute: [client.allowInsecureRequests] };

/** Every HTTP exchange openid-client makes, for header assertions. */
const exchanges = [];
const recordingFetch = async (url, options) => {
  const res = await fetch(url, options);
  exchanges.push({ url: new URL(url), method: options.method, status: res.status, headers: res.headers });
  return res;
};
const lastExchange = (path) => exchanges.findLast((e) => e.url.pathname === path);

async function configFor(clientId, metadata, auth) {
  return client.discovery(new URL(issuer), clientId, metadata, auth, {
    ...insecure,
    [client.customFetch]: recordingFetch,
  });
}

/** A query string; undefined values are left out. */
function query(params) {
  return new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined)).toString();
}

function b64url(buf) {
  return Buffer.from(buf).toString('base64url');
}

function atHash(accessToken) {
  return b64url(createHash('sha256').update(accessToken).digest().subarray(0, 16));
}

/** Starts an authorization request with PKCE, state and nonce. */
async function authRequest(config, params = {}) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const all = {
    scope: 'openid profile email',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...params,
  };
  const url = client.buildAuthorizationUrl(config, Object.fromEntries(Object.entries(all).filter(([, v]) => v !== undefined)));
  return { url, verifier, state, nonce: all.nonce };
}

/** The protocol error a rejected openid-client call carries: { error, status }. */
async function oauthError(promise) {
  const err = await promise.then(
    () => assert.fail('expected the call to be refused'),
    (e) => e,
  );
  if (err instanceof assert.AssertionError) throw err;
  if (err instanceof client.ResponseBodyError) return { error: err.error, status: err.status, err };
  if (err instanceof client.WWWAuthenticateChallengeError) {
    const challenge = err.cause?.[0];
    let error = challenge?.parameters?.error;
    if (!error) {
      try {
        error = (await err.response.json()).error;
      } catch {}
    }
    return { error, status: err.status, err };
  }
  if (err instanceof client.AuthorizationResponseError) return { error: err.error, status: undefined, err };
  throw err;
}

async function verifyIdToken(token, clientId, alg = 'RS256') {
  const { payload, protectedHeader } = await jose.jwtVerify(token, jwks, {
    issuer,
    audience: clientId,
    algorithms: [alg],
  });
  assert.equal(protectedHeader.alg, alg);
  assert.ok(protectedHeader.kid, 'ID tokens name their key');
  assert.notEqual(protectedHeader.typ?.toLowerCase(), 'at+jwt');
  assert.equal(payload.azp, clientId);
  return payload;
}

async function verifyAccessToken(token, { audience, alg }) {
  const { payload, protectedHeader } = await jose.jwtVerify(token, jwks, {
    issuer,
    audience,
    typ: 'at+jwt',
    algorithms: [alg],
  });
  assert.equal(protectedHeader.alg, alg);
  assert.equal(protectedHeader.typ, 'at+jwt');
  assert.equal(typeof payload.jti, 'string');
  assert.ok(payload.jti.length >= 16);
  assert.equal(typeof payload.sub, 'string');
  assert.ok(payload.exp > payload.iat);
  return payload;
}

const now = () => Math.floor(Date.now() / 1000);

async function userinfoStatus(accessToken) {
  const res = await fetch(new URL('/userinfo', worker.origin), { headers: { authorization: `Bearer ${accessToken}` } });
  return { status: res.status, challenge: res.headers.get('www-authenticate'), body: await res.json() };
}

async function post(path, fields, headers = {}) {
  return fetch(new URL(path, worker.origin), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: typeof fields === 'string' ? fields : new URLSearchParams(fields).toString(),
  });
}

const basic = (id, secret) =>
  'Basic ' + Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64');

/** A JSON error response: status, code, and no caching. */
async function expectJsonError(res, status, code, label = '') {
  const text = await res.text();
  assert.equal(res.status, status, `${label}: ${res.status} ${text.slice(0, 300)}`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/, `${label}: content-type`);
  const body = JSON.parse(text);
  assert.equal(body.error, code, `${label}: ${text.slice(0, 300)}`);
  assert.equal(typeof body.error_description, 'string', label);
  return body;
}

/** An HTML error page (never a redirect). */
async function expectErrorPage(res, status, code, label = '') {
  const html = await res.text();
  assert.equal(res.status, status, `${label}: ${res.status} ${html.slice(0, 300)}`);
  assert.equal(res.headers.get('location'), null, `${label}: no redirect`);
  assert.match(res.headers.get('content-type') ?? '', /^text\/html/, label);
  assert.ok(html.includes(`<strong>${code}</strong>`), `${label}: page names ${code}`);
  assert.match(res.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/, label);
  return html;
}

/** An unsigned (`alg: none`) JWT. */
function unsignedJwt(header, payload, signature = '') {
  return `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}.${signature}`;
}

/** A client assertion for the private_key_jwt client (RFC 7523 §3). */
async function clientAssertion(claims = {}, { key = jwtKey.privateKey, kid = jwtKey.kid, alg = 'ES256' } = {}) {
  const t = now();
  return new jose.SignJWT({ jti: crypto.randomUUID(), ...claims })
    .setProtectedHeader({ alg, kid })
    .setIssuer(claims.iss ?? 'web-jwt')
    .setSubject(claims.sub ?? 'web-jwt')
    .setAudience(claims.aud ?? `${issuer}oauth/token`)
    .setIssuedAt(t)
    .setExpirationTime(claims.exp ?? t + 60)
    .sign(key);
}

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** Logs in a fresh browser with the SPA and returns its tokens (offline_access, the API). */
async function spaTokens(extra = {}) {
  const config = await configFor('spa', undefined, client.None());
  const browser = new Browser();
  const req = await authRequest(config, {
    redirect_uri: SPA_CB,
    scope: 'openid profile email offline_access read:things',
    audience: API,
    ...extra,
  });
  const { url } = await browser.authorize(req.url);
  const tokens = await client.authorizationCodeGrant(config, url, {
    pkceCodeVerifier: req.verifier,
    expectedState: req.state,
    expectedNonce: req.nonce,
  });
  return { config, browser, tokens, req, callback: url };
}

// ---- 1. public SPA client ------------------------------------------------------------------

test('SPA (public client, PKCE): hosted login, tokens, userinfo, refresh rotation with reuse detection, revocation', async () => {
  const config = await configFor('spa', undefined, client.None());
  const browser = new Browser();
  const req = await authRequest(config, {
    redirect_uri: SPA_CB,
    scope: 'openid profile email offline_access read:things unknown:scope',
    audience: API,
  });
  assert.equal(req.url.origin + req.url.pathname, `${worker.origin}/authorize`);

  // Step by step, as the browser sees it.
  const first = await browser.fetch(req.url);
  assert.equal(first.status, 302);
  const loginUrl = new URL(first.headers.get('location'), worker.origin);
  assert.equal(loginUrl.pathname, '/login');
  const id = loginUrl.searchParams.get('req');
  assert.match(id, /^[A-Za-z0-9_-]{16,64}$/);
  const tx = browser.setCookies.find((c) => c.name.startsWith('gatehouse_tx_'));
  assert.ok(tx, 'a flow cookie binds the login form to this browser');
  for (const attr of ['Path=/', 'HttpOnly', 'SameSite=Lax']) assert.ok(tx.attrs.includes(attr), `${attr} in ${tx.line}`);

  const page = await browser.fetch(loginUrl);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type'), /^text\/html/);
  assert.equal(page.headers.get('cache-control'), 'no-store');
  assert.equal(page.headers.get('x-frame-options'), 'DENY');
  const html = await page.text();
  assert.ok(html.includes('Test SPA'), 'the login page names the client');
  const form = hiddenInputs(html);
  assert.equal(form.req, id);
  assert.ok(form.csrf);

  // A wrong password re-renders the form with the generic message.
  const wrong = await browser.submit('/login', { ...form, username: ADA.email, password: 'not the password' });
  assert.equal(wrong.status, 400);
  assert.ok((await wrong.text()).includes('Wrong email or password.'));
  assert.equal(browser.jar.has('gatehouse_session'), false);
  // An unknown account gets the very same answer.
  const nobody = await browser.submit('/login', { ...form, username: 'nobody@example.com', password: ADA.password });
  assert.equal(nobody.status, 400);
  assert.ok((await nobody.text()).includes('Wrong email or password.'));

  const loggedIn = await browser.submit('/login', { ...form, username: ADA.email.toUpperCase(), password: ADA.password });
  assert.equal(loggedIn.status, 303);
  assert.equal(loggedIn.headers.get('location'), `/authorize/resume?req=${id}`);
  const session = browser.setCookies.findLast((c) => c.name === 'gatehouse_session');
  assert.ok(session?.value.length >= 43, 'a session cookie with a long random id');
  for (const attr of ['Path=/', 'HttpOnly', 'SameSite=Lax']) assert.ok(session.attrs.includes(attr), attr);

  const resumed = await browser.fetch(`/authorize/resume?req=${id}`);
  assert.equal(resumed.status, 302, 'a first-party client skips consent');
  const callback = new URL(resumed.headers.get('location'));
  assert.equal(callback.origin + callback.pathname, SPA_CB);
  assert.equal(callback.searchParams.get('state'), req.state);
  assert.equal(callback.searchParams.get('iss'), issuer, 'RFC 9207 iss');
  assert.ok(callback.searchParams.get('code'));
  assert.equal(browser.jar.has(tx.name), false, 'the flow cookie is cleared when the code is issued');
  // One request, one code: the finished request cannot be resumed again.
  await expectErrorPage(await browser.fetch(`/authorize/resume?req=${id}`), 400, 'invalid_request', 'resumed twice');

  const tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: req.verifier,
    expectedState: req.state,
    expectedNonce: req.nonce,
  });
  const tokenExchange = lastExchange('/oauth/token');
  assert.equal(tokenExchange.status, 200);
  assert.equal(tokenExchange.headers.get('cache-control'), 'no-store');
  assert.equal(tokens.token_type.toLowerCase(), 'bearer');
  assert.equal(tokens.expires_in, 600);
  assert.deepEqual(tokens.scope.split(' ').sort(), ['email', 'offline_access', 'openid', 'profile', 'read:things']);
  assert.ok(tokens.refresh_token, 'offline_access yields a refresh token');

  const idt = await verifyIdToken(tokens.id_token, 'spa', 'RS256');
  assert.equal(idt.sub, ADA.user_id);
  assert.equal(idt.nonce, req.nonce);
  assert.equal(idt.at_hash, atHash(tokens.access_token));
  assert.ok(Math.abs(idt.auth_time - now()) < 60);
  assert.equal(idt.name, ADA.name);
  assert.equal(idt.given_name, 'Ada');
  assert.equal(idt.family_name, 'Lovelace');
  assert.equal(idt.email, ADA.email);
  assert.equal(idt.email_verified, true);
  assert.deepEqual(tokens.claims(), idt, 'openid-client read the same claims');

  const at = await verifyAccessToken(tokens.access_token, { audience: API, alg: 'ES256' });
  assert.deepEqual(at.aud, [API, `${issuer}userinfo`]);
  assert.equal(at.client_id, 'spa');
  assert.equal(at.sub, ADA.user_id);
  assert.equal(at.exp - at.iat, 600);
  assert.deepEqual(at.scope.split(' ').sort(), ['email', 'offline_access', 'openid', 'profile', 'read:things']);

  const info = await client.fetchUserInfo(config, tokens.access_token, ADA.user_id);
  assert.equal(info.sub, ADA.user_id);
  assert.equal(info.email, ADA.email);
  assert.equal(info.name, ADA.name);
  assert.equal(lastExchange('/userinfo').headers.get('cache-control'), 'no-store');
  // RFC 6750 §2.2: the token may come in a form body too.
  const byBody = await post('/userinfo', { access_token: tokens.access_token });
  assert.equal(byBody.status, 200);
  assert.equal((await byBody.json()).sub, ADA.user_id);
  // The SPA's registered web origin may call the token endpoint from the browser; others may not.
  const preflight = (origin) =>
    fetch(new URL('/oauth/token', worker.origin), {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
  const allowed = await preflight(SPA_ORIGIN);
  assert.equal(allowed.status, 204);
  assert.equal(allowed.headers.get('access-control-allow-origin'), SPA_ORIGIN);
  const foreign = await preflight('https://evil.example');
  assert.equal(foreign.headers.get('access-control-allow-origin'), null);

  // Refresh: the refresh token rotates.
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  assert.equal(lastExchange('/oauth/token').headers.get('cache-control'), 'no-store');
  assert.ok(refreshed.refresh_token);
  assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
  assert.notEqual(refreshed.access_token, tokens.access_token);
  const at2 = await verifyAccessToken(refreshed.access_token, { audience: API, alg: 'ES256' });
  assert.notEqual(at2.jti, at.jti);
  assert.equal(at2.sub, ADA.user_id);
  const idt2 = await verifyIdToken(refreshed.id_token, 'spa', 'RS256');
  assert.equal(idt2.sub, ADA.user_id);
  assert.equal(idt2.auth_time, idt.auth_time, 'a refresh does not re-authenticate');
  assert.equal(idt2.at_hash, atHash(refreshed.access_token));

  // A narrower scope may be asked for on refresh; the grant keeps its whole scope.
  const narrower = await client.refreshTokenGrant(config, refreshed.refresh_token, { scope: 'openid read:things' });
  assert.equal(narrower.scope, 'openid read:things');
  assert.equal((await verifyAccessToken(narrower.access_token, { audience: API, alg: 'ES256' })).scope, 'openid read:things');
  const current = await client.refreshTokenGrant(config, narrower.refresh_token);
  assert.equal(current.scope.split(' ').length, 5, 'refreshing without scope returns the whole grant');

  // Presenting a rotated-out refresh token again revokes the whole grant (RFC 9700 §4.14.2).
  const reused = await oauthError(client.refreshTokenGrant(config, tokens.refresh_token));
  assert.deepEqual([reused.status, reused.error], [400, 'invalid_grant']);
  const dead = await oauthError(client.refreshTokenGrant(config, current.refresh_token));
  assert.deepEqual([dead.status, dead.error], [400, 'invalid_grant'], 'the newest refresh token died with its grant');
  const revokedInfo = await userinfoStatus(current.access_token);
  assert.equal(revokedInfo.status, 401, 'access tokens of a revoked grant are refused');
  assert.match(revokedInfo.challenge, /error="invalid_token"/);

  // Single sign-on: the session is still there, so a second request goes straight to the client.
  const again = await authRequest(config, { redirect_uri: SPA_CB, scope: 'openid offline_access', audience: API });
  const { url, trail } = await browser.authorize(again.url);
  assert.deepEqual(trail, [], 'no login page with a live session');
  const second = await client.authorizationCodeGrant(config, url, {
    pkceCodeVerifier: again.verifier,
    expectedState: again.state,
    expectedNonce: again.nonce,
  });
  assert.ok(second.refresh_token);
  assert.equal((await verifyIdToken(second.id_token, 'spa')).auth_time, idt.auth_time);

  // RFC 7009: revoking the access token kills it; revoking the refresh token kills the grant.
  assert.equal((await userinfoStatus(second.access_token)).status, 200);
  await client.tokenRevocation(config, second.access_token, { token_type_hint: 'access_token' });
  assert.equal(lastExchange('/oauth/revoke').status, 200);
  const afterRevoke = await userinfoStatus(second.access_token);
  assert.equal(afterRevoke.status, 401);
  assert.equal(afterRevoke.body.error, 'invalid_token');
  const fresh = await client.refreshTokenGrant(config, second.refresh_token);
  assert.equal((await userinfoStatus(fresh.access_token)).status, 200);
  await client.tokenRevocation(config, fresh.refresh_token);
  const gone = await oauthError(client.refreshTokenGrant(config, fresh.refresh_token));
  assert.deepEqual([gone.status, gone.error], [400, 'invalid_grant']);
  assert.equal((await userinfoStatus(fresh.access_token)).status, 401, 'the grant’s access tokens die with it');
  // Revoking garbage or an already revoked token is still a 200 (RFC 7009 §2.2).
  await client.tokenRevocation(config, 'no-such-token');
  await client.tokenRevocation(config, fresh.refresh_token);
});

test('SPA: without an audience the access token is for /userinfo only, and scopes pick the claims', async () => {
  const config = await configFor('spa', undefined, client.None());
  const browser = new Browser();
  const req = await authRequest(config, { redirect_uri: SPA_CB2, scope: 'openid email' });
  const { url } = await browser.authorize(req.url);
  assert.equal(url.origin + url.pathname, SPA_CB2);
  const tokens = await client.authorizationCodeGrant(config, url, {
    pkceCodeVerifier: req.verifier,
    expectedState: req.state,
    expectedNonce: req.nonce,
  });
  assert.equal(tokens.refresh_token, undefined, 'no offline_access, no refresh token');
  const at = await verifyAccessToken(tokens.access_token, { audience: `${issuer}userinfo`, alg: 'ES256' });
  assert.equal(at.aud, `${issuer}userinfo`);
  const idt = await verifyIdToken(tokens.id_token, 'spa');
  assert.equal(idt.email, ADA.email);
  assert.equal(idt.name, undefined, 'no profile scope, no name');
  const info = await client.fetchUserInfo(config, tokens.access_token, ADA.user_id);
  assert.deepEqual(Object.keys(info).sort(), ['email', 'email_verified', 'sub']);

  // An API that does not allow offline access drops offline_access; its tokens use its algorithm.
  const rs = await authRequest(config, { redirect_uri: SPA_CB, scope: 'openid offline_access', resource: API_RS });
  const back = await browser.authorize(rs.url);
  const rsTokens = await client.authorizationCodeGrant(config, back.url, {
    pkceCodeVerifier: rs.verifier,
    expectedState: rs.state,
    expectedNonce: rs.nonce,
  });
  assert.equal(rsTokens.refresh_token, undefined);
  assert.equal(rsTokens.scope, 'openid');
  const rsAt = await verifyAccessToken(rsTokens.access_token, { audience: API_RS, alg: 'RS256' });
  assert.deepEqual(rsAt.aud, [API_RS, `${issuer}userinfo`]);
  assert.equal(rsTokens.expires_in, 900);

  // Without openid: no ID token, and the access token is for the API alone (not for /userinfo).
  const apiOnly = await authRequest(config, { redirect_uri: SPA_CB, scope: 'read:things', audience: API, nonce: undefined });
  const apiBack = await browser.authorize(apiOnly.url);
  const apiTokens = await client.authorizationCodeGrant(config, apiBack.url, { pkceCodeVerifier: apiOnly.verifier, expectedState: apiOnly.state });
  assert.equal(apiTokens.id_token, undefined);
  assert.equal(apiTokens.scope, 'read:things');
  const apiAt = await verifyAccessToken(apiTokens.access_token, { audience: API, alg: 'ES256' });
  assert.equal(apiAt.aud, API);
  const notForUserinfo = await userinfoStatus(apiTokens.access_token);
  assert.equal(notForUserinfo.status, 401);
  assert.match(notForUserinfo.challenge, /error="invalid_token"/);
});

test('a refused refresh request (scope wider than the grant) does not consume the refresh token', async () => {
  const { config, tokens } = await spaTokens();
  // RFC 6749 §6: the requested scope MUST NOT include any scope not originally granted.
  const wider = await oauthError(client.refreshTokenGrant(config, tokens.refresh_token, { scope: 'openid write:things' }));
  assert.deepEqual([wider.status, wider.error], [400, 'invalid_scope']);
  // The request failed, so no new refresh token reached the client: the one it holds is still the
  // current one (RFC 6749 §5.2, §6), and using it is not a replay.
  const next = await client.refreshTokenGrant(config, tokens.refresh_token);
  assert.ok(next.refresh_token);
  assert.equal((await userinfoStatus(next.access_token)).status, 200);
});

test('refresh tokens are bound to their client; the token endpoint also takes JSON bodies (as Auth0 does)', async () => {
  const { tokens } = await spaTokens();
  const foreign = await post('/oauth/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }, { authorization: basic('web-basic', BASIC_SECRET) });
  await expectJsonError(foreign, 400, 'invalid_grant', 'another client’s refresh token');
  const res = await fetch(new URL('/oauth/token', worker.origin), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ grant_type: 'refresh_token', client_id: 'spa', refresh_token: tokens.refresh_token }),
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  const body = await res.json();
  await verifyAccessToken(body.access_token, { audience: API, alg: 'ES256' });
  assert.notEqual(body.refresh_token, tokens.refresh_token);
});

test('exactly once under concurrency: one of 8 parallel code exchanges wins (the replays revoke it); one of 8 parallel refreshes wins', async () => {
  const config = await configFor('spa', undefined, client.None());
  const browser = new Browser();
  const req = await authRequest(config, { redirect_uri: SPA_CB, scope: 'openid offline_access', audience: API });
  const { url } = await browser.authorize(req.url);
  const exchange = {
    grant_type: 'authorization_code',
    client_id: 'spa',
    code: url.searchParams.get('code'),
    code_verifier: req.verifier,
    redirect_uri: SPA_CB,
  };
  const results = await Promise.all(Array.from({ length: 8 }, () => post('/oauth/token', exchange).then(async (r) => ({ status: r.status, body: await r.json() }))));
  const won = results.filter((r) => r.status === 200);
  assert.equal(won.length, 1, JSON.stringify(results.map((r) => r.status)));
  for (const r of results.filter((r) => r.status !== 200)) assert.deepEqual([r.status, r.body.error], [400, 'invalid_grant']);
  assert.equal((await userinfoStatus(won[0].body.access_token)).status, 401, 'replays revoke the winner’s tokens');

  const { tokens } = await spaTokens();
  const refresh = { grant_type: 'refresh_token', client_id: 'spa', refresh_token: tokens.refresh_token };
  const refreshes = await Promise.all(Array.from({ length: 8 }, () => post('/oauth/token', refresh).then(async (r) => ({ status: r.status, body: await r.json() }))));
  assert.equal(refreshes.filter((r) => r.status === 200).length, 1, JSON.stringify(refreshes.map((r) => r.status)));
  for (const r of refreshes.filter((r) => r.status !== 200)) assert.deepEqual([r.status, r.body.error], [400, 'invalid_grant']);
});

// ---- 2. confidential clients ---------------------------------------------------------------

test('confidential clients: client_secret_basic, client_secret_post (ES256 ID tokens) and private_key_jwt each complete a code flow', async () => {
  const browser = new Browser();

  const basicConfig = await configFor('web-basic', undefined, client.ClientSecretBasic(BASIC_SECRET));
  const b = await authRequest(basicConfig, { redirect_uri: BASIC_CB, scope: 'openid profile offline_access read:things', audience: API });
  const bBack = await browser.authorize(b.url);
  assert.deepEqual(bBack.trail, ['/login', '/authorize/resume']);
  const bTokens = await client.authorizationCodeGrant(basicConfig, bBack.url, {
    pkceCodeVerifier: b.verifier,
    expectedState: b.state,
    expectedNonce: b.nonce,
  });
  const basicExchange = lastExchange('/oauth/token');
  assert.equal(basicExchange.headers.get('cache-control'), 'no-store');
  await verifyIdToken(bTokens.id_token, 'web-basic', 'RS256');
  assert.equal((await verifyAccessToken(bTokens.access_token, { audience: API, alg: 'ES256' })).client_id, 'web-basic');
  assert.ok(bTokens.refresh_token);

  // client_secret_post, without PKCE (allowed for confidential clients), ES256 ID tokens.
  const postConfig = await configFor('web-post', { id_token_signed_response_alg: 'ES256' }, client.ClientSecretPost(POST_SECRET));
  const state = client.randomState();
  const nonce = client.randomNonce();
  const pUrl = client.buildAuthorizationUrl(postConfig, { redirect_uri: POST_CB, scope: 'openid email', state, nonce });
  const pBack = await browser.authorize(pUrl);
  assert.deepEqual(pBack.trail, [], 'same browser: single sign-on');
  const pTokens = await client.authorizationCodeGrant(postConfig, pBack.url, { expectedState: state, expectedNonce: nonce });
  const pIdt = await verifyIdToken(pTokens.id_token, 'web-post', 'ES256');
  assert.equal(pIdt.nonce, nonce);
  assert.equal(pIdt.at_hash, atHash(pTokens.access_token));
  assert.equal(pTokens.refresh_token, undefined);
  await client.fetchUserInfo(postConfig, pTokens.access_token, ADA.user_id);

  // private_key_jwt with a jose-generated ES256 key.
  const jwtConfig = await configFor('web-jwt', undefined, client.PrivateKeyJwt({ key: jwtKey.privateKey, kid: jwtKey.kid }));
  const j = await authRequest(jwtConfig, { redirect_uri: JWT_CB, scope: 'openid offline_access', audience: API });
  const jBack = await new Browser().authorize(j.url);
  assert.deepEqual(jBack.trail, ['/login', '/authorize/resume']);
  const jTokens = await client.authorizationCodeGrant(jwtConfig, jBack.url, {
    pkceCodeVerifier: j.verifier,
    expectedState: j.state,
    expectedNonce: j.nonce,
  });
  await verifyIdToken(jTokens.id_token, 'web-jwt', 'RS256');
  assert.equal((await verifyAccessToken(jTokens.access_token, { audience: API, alg: 'ES256' })).client_id, 'web-jwt');
  const jRefreshed = await client.refreshTokenGrant(jwtConfig, jTokens.refresh_token);
  assert.notEqual(jRefreshed.refresh_token, jTokens.refresh_token);

  // Introspection (RFC 7662) by a confidential client.
  const live = await client.tokenIntrospection(basicConfig, bTokens.access_token);
  assert.equal(lastExchange('/oauth/introspect').headers.get('cache-control'), 'no-store');
  assert.equal(live.active, true);
  assert.equal(live.client_id, 'web-basic');
  assert.equal(live.sub, ADA.user_id);
  assert.equal(live.iss, issuer);
  assert.equal(live.token_type, 'Bearer', 'RFC 7662 §2.2: the RFC 6749 §7.1 token type');
  assert.deepEqual(live.aud, [API, `${issuer}userinfo`]);
  assert.ok(live.exp > now());
  const ofOther = await client.tokenIntrospection(basicConfig, pTokens.access_token);
  assert.equal(ofOther.active, true);
  assert.equal(ofOther.client_id, 'web-post');
  const rt = await client.tokenIntrospection(basicConfig, bTokens.refresh_token);
  assert.equal(rt.active, true);
  assert.equal(rt.token_type, undefined, 'RFC 7662 §2.2 token_type names access token types only');
  assert.equal(rt.client_id, 'web-basic');
  assert.equal((await client.tokenIntrospection(basicConfig, jRefreshed.refresh_token)).active, false, 'another client’s refresh token is not described');
  await client.tokenRevocation(basicConfig, bTokens.access_token);
  assert.deepEqual(await client.tokenIntrospection(basicConfig, bTokens.access_token), { active: false });
  await client.tokenRevocation(basicConfig, bTokens.refresh_token);
  assert.deepEqual(await client.tokenIntrospection(basicConfig, bTokens.refresh_token), { active: false });
  assert.deepEqual(await client.tokenIntrospection(basicConfig, 'garbage'), { active: false });
  assert.deepEqual(await client.tokenIntrospection(basicConfig, pTokens.id_token), { active: false }, 'an ID token is not an access token');
  assert.deepEqual(await client.tokenIntrospection(jwtConfig, jTokens.refresh_token), { active: false }, 'rotated out');
  assert.equal((await client.tokenIntrospection(jwtConfig, jRefreshed.access_token)).active, true);

  // A client cannot revoke another client's tokens.
  await client.tokenRevocation(postConfig, jRefreshed.access_token).catch(() => {});
  await client.tokenRevocation(postConfig, jRefreshed.refresh_token).catch(() => {});
  assert.equal(lastExchange('/oauth/revoke').status < 500, true);
  assert.equal((await client.tokenIntrospection(jwtConfig, jRefreshed.access_token)).active, true, 'still active');
  assert.equal((await client.tokenIntrospection(jwtConfig, jRefreshed.refresh_token)).active, true, 'still active');

  // Public clients may not introspect.
  const spaConfig = await configFor('spa', undefined, client.None());
  const spaIntrospect = await oauthError(client.tokenIntrospection(spaConfig, pTokens.access_token));
  assert.deepEqual([spaIntrospect.status, spaIntrospect.error], [401, 'invalid_client']);
});

test('client authentication failures are 401 invalid_client with WWW-Authenticate', async () => {
  const rt = 'AAAAAAAAAAAAAAAAAAAAAA.' + 'A'.repeat(43); // a well-formed, unknown refresh token
  const refresh = { grant_type: 'refresh_token', refresh_token: rt };
  const cases = [
    ['wrong secret (basic)', post('/oauth/token', refresh, { authorization: basic('web-basic', 'wrong-secret-0123456789abcdefghijkl') })],
    ['unknown client (basic)', post('/oauth/token', refresh, { authorization: basic('nobody', BASIC_SECRET) })],
    ['basic client using post', post('/oauth/token', { ...refresh, client_id: 'web-basic', client_secret: BASIC_SECRET })],
    ['post client using basic', post('/oauth/token', refresh, { authorization: basic('web-post', POST_SECRET) })],
    ['two methods at once', post('/oauth/token', { ...refresh, client_id: 'web-post', client_secret: POST_SECRET }, { authorization: basic('web-post', POST_SECRET) })],
    ['confidential client without credentials', post('/oauth/token', { ...refresh, client_id: 'web-basic' })],
    ['no client at all', post('/oauth/token', refresh)],
    ['basic client_id differs from the body', post('/oauth/token', { ...refresh, client_id: 'spa' }, { authorization: basic('web-basic', BASIC_SECRET) })],
    ['public client with a secret', post('/oauth/token', { ...refresh, client_id: 'spa', client_secret: 'x'.repeat(40) })],
  ];
  for (const [label, pending] of cases) {
    const res = await pending;
    assert.match(res.headers.get('www-authenticate') ?? '', /^Basic /, label);
    await expectJsonError(res, 401, 'invalid_client', label);
  }
  // The right credentials get past client authentication: the unknown refresh token is what fails.
  const ok = await post('/oauth/token', refresh, { authorization: basic('web-basic', BASIC_SECRET) });
  await expectJsonError(ok, 400, 'invalid_grant', 'good credentials');
  const okPost = await post('/oauth/token', { ...refresh, client_id: 'web-post', client_secret: POST_SECRET });
  await expectJsonError(okPost, 400, 'invalid_grant', 'good post credentials');
});

test('private_key_jwt: aud, exp, iss/sub, signature and single-use jti are enforced', async () => {
  const rt = 'AAAAAAAAAAAAAAAAAAAAAA.' + 'A'.repeat(43);
  const send = (assertion, extra = {}) =>
    post('/oauth/token', {
      grant_type: 'refresh_token',
      refresh_token: rt,
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: assertion,
      ...extra,
    });
  // A good assertion passes client authentication (then the refresh token fails) ...
  const good = await clientAssertion();
  await expectJsonError(await send(good), 400, 'invalid_grant', 'good assertion');
  // ... once: its jti may not be used again.
  await expectJsonError(await send(good), 401, 'invalid_client', 'replayed jti');
  // aud may be the issuer too.
  await expectJsonError(await send(await clientAssertion({ aud: issuer })), 400, 'invalid_grant', 'aud = issuer');
  // ... but not a list (audience injection, draft-ietf-oauth-rfc7523bis): 401.
  await expectJsonError(await send(await clientAssertion({ aud: [`${issuer}oauth/token`, 'https://other.example/'] })), 401, 'invalid_client', 'aud list');
  const { privateKey: otherKey } = await jose.generateKeyPair('ES256');
  const t = now();
  const bad = [
    ['wrong aud', await clientAssertion({ aud: 'https://elsewhere.example/oauth/token' })],
    ['expired', await clientAssertion({ exp: t - 10 })],
    ['lives more than an hour', await clientAssertion({ exp: t + 7200 })],
    ['iss differs from sub', await clientAssertion({ iss: 'web-jwt', sub: 'web-basic' })],
    ['another client’s id', await clientAssertion({ iss: 'web-basic', sub: 'web-basic' })],
    ['signed by another key', await clientAssertion({}, { key: otherKey })],
    ['signed by another key, no kid', await clientAssertion({}, { key: otherKey, kid: undefined })],
    ['HS256 with the public key as secret', await clientAssertion({}, { alg: 'HS256', key: new TextEncoder().encode(JSON.stringify(jwtKey.pub)) })],
    ['alg none', unsignedJwt({ alg: 'none' }, { iss: 'web-jwt', sub: 'web-jwt', aud: `${issuer}oauth/token`, exp: t + 60, jti: 'n1' })],
    ['alg none with a signature', unsignedJwt({ alg: 'none', kid: jwtKey.kid }, { iss: 'web-jwt', sub: 'web-jwt', aud: issuer, exp: t + 60, jti: 'n2' }, 'AAAA')],
    ['garbage', 'not.a.jwt'],
    ['two parts', 'eyJhbGciOiJFUzI1NiJ9.e30'],
  ];
  for (const [label, assertion] of bad) {
    const res = await send(assertion);
    assert.ok(res.headers.get('www-authenticate'), label);
    await expectJsonError(res, 401, 'invalid_client', label);
  }
  // Without jti.
  const noJti = await new jose.SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid: jwtKey.kid })
    .setIssuer('web-jwt')
    .setSubject('web-jwt')
    .setAudience(issuer)
    .setExpirationTime(t + 60)
    .sign(jwtKey.privateKey);
  await expectJsonError(await send(noJti), 401, 'invalid_client', 'no jti');
  await expectJsonError(await send(await clientAssertion(), { client_assertion_type: 'urn:example:other' }), 401, 'invalid_client', 'wrong assertion type');
  await expectJsonError(await send(await clientAssertion(), { client_id: 'web-basic' }), 401, 'invalid_client', 'client_id differs from iss');
});

// ---- 3. code and PKCE misuse ---------------------------------------------------------------

test('a replayed code is refused and revokes what the first exchange issued', async () => {
  const { config, tokens, req, callback } = await spaTokens();
  assert.equal((await userinfoStatus(tokens.access_token)).status, 200);
  const replay = await oauthError(
    client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: req.verifier, expectedState: req.state, expectedNonce: req.nonce }),
  );
  assert.deepEqual([replay.status, replay.error], [400, 'invalid_grant']);
  const info = await userinfoStatus(tokens.access_token);
  assert.equal(info.status, 401, 'the first exchange’s access token is revoked');
  assert.match(info.challenge, /error="invalid_token"/);
  const refresh = await oauthError(client.refreshTokenGrant(config, tokens.refresh_token));
  assert.deepEqual([refresh.status, refresh.error], [400, 'invalid_grant'], 'and its refresh token');
});

test('PKCE and redirect_uri are bound to the code', async () => {
  const config = await configFor('spa', undefined, client.None());
  const browser = new Browser();
  const code = async (params = {}) => {
    const req = await authRequest(config, { redirect_uri: SPA_CB, ...params });
    const { url } = await browser.authorize(req.url);
    return { ...req, callback: url };
  };

  // Wrong verifier.
  const a = await code();
  const wrong = await oauthError(
    client.authorizationCodeGrant(config, a.callback, { pkceCodeVerifier: client.randomPKCECodeVerifier(), expectedState: a.state, expectedNonce: a.nonce }),
  );
  assert.deepEqual([wrong.status, wrong.error], [400, 'invalid_grant']);
  // A refused presentation does not burn the code (whoever holds a stolen code cannot spend it
  // for its client); the right verifier still redeems it, once. (Guessing a 256-bit verifier
  // within the code's 60 s is hopeless.)
  const tokens = await client.authorizationCodeGrant(config, a.callback, { pkceCodeVerifier: a.verifier, expectedState: a.state, expectedNonce: a.nonce });
  assert.ok(tokens.access_token);

  // Missing verifier.
  const b = await code();
  const missing = await post('/oauth/token', { grant_type: 'authorization_code', client_id: 'spa', code: b.callback.searchParams.get('code'), redirect_uri: SPA_CB });
  await expectJsonError(missing, 400, 'invalid_grant', 'no code_verifier');

  // The callback arrived at another registered redirect URI than the request named.
  const c = await code();
  const moved = new URL(c.callback);
  moved.pathname = '/other-cb';
  const mismatch = await oauthError(
    client.authorizationCodeGrant(config, moved, { pkceCodeVerifier: c.verifier, expectedState: c.state, expectedNonce: c.nonce }),
  );
  assert.deepEqual([mismatch.status, mismatch.error], [400, 'invalid_grant']);
  // redirect_uri left out of the token request although the authorization request had it.
  const d = await code();
  const omitted = await post('/oauth/token', { grant_type: 'authorization_code', client_id: 'spa', code: d.callback.searchParams.get('code'), code_verifier: d.verifier });
  await expectJsonError(omitted, 400, 'invalid_grant', 'redirect_uri omitted');

  // A code issued to the SPA cannot be redeemed by another client.
  const e = await code();
  const stolen = await post(
    '/oauth/token',
    { grant_type: 'authorization_code', code: e.callback.searchParams.get('code'), code_verifier: e.verifier, redirect_uri: SPA_CB },
    { authorization: basic('web-basic', BASIC_SECRET) },
  );
  await expectJsonError(stolen, 400, 'invalid_grant', 'code of another client');

  // A verifier without a challenge is a downgrade attempt (RFC 9700 §4.8.2).
  const noPkce = await configFor('web-basic', undefined, client.ClientSecretBasic(BASIC_SECRET));
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(noPkce, { redirect_uri: BASIC_CB, scope: 'openid', state });
  const back = await browser.authorize(url);
  const downgrade = await oauthError(
    client.authorizationCodeGrant(noPkce, back.url, { pkceCodeVerifier: client.randomPKCECodeVerifier(), expectedState: state }),
  );
  assert.deepEqual([downgrade.status, downgrade.error], [400, 'invalid_grant']);
});

// ---- authorization request errors ----------------------------------------------------------

test('authorization errors: pages before the client and redirect_uri are trusted, redirects with state and iss after', async () => {
  const browser = new Browser();
  const authorize = (params) => browser.fetch(`/authorize?${query(params)}`);
  const challenge = await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier());
  const base = { client_id: 'spa', redirect_uri: SPA_CB, response_type: 'code', scope: 'openid', state: 's-1', code_challenge: challenge, code_challenge_method: 'S256' };

  await expectErrorPage(await authorize({ ...base, client_id: 'no-such-client' }), 400, 'invalid_client', 'unknown client');
  await expectErrorPage(await authorize({ ...base, client_id: undefined }), 400, 'invalid_request', 'no client_id');
  for (const uri of [`${SPA_CB}/x`, `${SPA_CB}?x=1`, SPA_CB.toUpperCase(), 'https://evil.example/cb', `${SPA_CB}#frag`, `${SPA_CB} `]) {
    await expectErrorPage(await authorize({ ...base, redirect_uri: uri }), 400, 'invalid_request', `redirect_uri ${uri}`);
  }
  // Two registered redirect URIs: redirect_uri may not be left out.
  await expectErrorPage(await authorize({ ...base, redirect_uri: undefined }), 400, 'invalid_request', 'missing redirect_uri');

  const backTo = async (params, error, label) => {
    const res = await authorize(params);
    assert.equal(res.status, 302, label);
    const location = new URL(res.headers.get('location'));
    assert.equal(location.origin + location.pathname, SPA_CB, label);
    assert.equal(location.searchParams.get('error'), error, `${label}: ${location}`);
    assert.equal(location.searchParams.get('iss'), issuer, label);
    return location;
  };
  let loc = await backTo({ ...base, response_type: 'token' }, 'unsupported_response_type', 'implicit');
  assert.equal(loc.searchParams.get('state'), 's-1');
  loc = await backTo({ ...base, code_challenge: undefined, code_challenge_method: undefined }, 'invalid_request', 'public client without PKCE');
  assert.equal(loc.searchParams.get('state'), 's-1');
  await backTo({ ...base, code_challenge_method: 'plain' }, 'invalid_request', 'plain PKCE');
  await expectErrorPage(await authorize({ ...base, request: 'eyJhbGciOiJub25lIn0.e30.' }), 400, 'invalid_request_object', 'unsigned request object');
  await backTo({ ...base, request_uri: 'urn:x' }, 'request_uri_not_supported', 'request_uri');
  await backTo({ ...base, audience: 'https://unknown.example/' }, 'invalid_target', 'unknown audience');
  await backTo({ ...base, prompt: 'none login' }, 'invalid_request', 'prompt none with others');
  await backTo({ ...base, scope: 'openid \u0001' }, 'invalid_scope', 'control character in scope');
  await backTo({ ...base, prompt: 'none' }, 'login_required', 'prompt=none without a session');
  // state comes back exactly as sent, however exotic.
  const exotic = 'a&b=c#d %2F ü\u{1F600}?';
  loc = await backTo({ ...base, response_type: 'token', state: exotic }, 'unsupported_response_type', 'exotic state');
  assert.equal(loc.searchParams.get('state'), exotic);
  assert.equal(loc.hash, '');
  // Fragment response mode is honoured for errors too.
  const frag = await authorize({ ...base, response_type: 'token', response_mode: 'fragment' });
  const fragUrl = new URL(frag.headers.get('location'));
  const fragParams = new URLSearchParams(fragUrl.hash.slice(1));
  assert.equal(fragParams.get('error'), 'unsupported_response_type');
  assert.equal(fragParams.get('iss'), issuer);
});

test('consent: a third-party client asks once; deny returns access_denied', async () => {
  const config = await configFor('third-party', undefined, client.ClientSecretBasic(THIRD_SECRET));
  const browser = new Browser();
  const denied = await authRequest(config, { redirect_uri: THIRD_CB, scope: 'openid profile read:things', audience: API });
  const no = await browser.authorize(denied.url, { decision: 'deny' });
  assert.deepEqual(no.trail, ['/login', '/authorize/resume', '/consent']);
  assert.equal(no.url.searchParams.get('error'), 'access_denied');
  assert.equal(no.url.searchParams.get('state'), denied.state);
  assert.equal(no.url.searchParams.get('iss'), issuer);
  assert.equal(no.url.searchParams.get('code'), null);
  const err = await oauthError(client.authorizationCodeGrant(config, no.url, { pkceCodeVerifier: denied.verifier, expectedState: denied.state }));
  assert.equal(err.error, 'access_denied');

  // The consent page says what is asked for.
  const ask = await authRequest(config, { redirect_uri: THIRD_CB, scope: 'openid profile read:things', audience: API });
  const first = await browser.fetch(ask.url);
  const consentUrl = new URL(first.headers.get('location'), worker.origin);
  assert.equal(consentUrl.pathname, '/consent', 'logged in already: straight to consent');
  const page = await (await browser.fetch(consentUrl)).text();
  for (const text of ['Third Party App', ADA.email, 'Things API', 'read:things', 'Read your things']) assert.ok(page.includes(text), text);
  const form = hiddenInputs(page);
  // The consent form is bound to this browser.
  const stranger = new Browser();
  await expectErrorPage(await stranger.submit('/consent', { ...form, decision: 'allow' }), 403, 'access_denied', 'foreign browser');
  const allowed = await browser.submit('/consent', { ...form, decision: 'allow' });
  assert.equal(allowed.status, 303);
  const back = new URL(allowed.headers.get('location'));
  const tokens = await client.authorizationCodeGrant(config, back, { pkceCodeVerifier: ask.verifier, expectedState: ask.state, expectedNonce: ask.nonce });
  await verifyIdToken(tokens.id_token, 'third-party');

  // Remembered: the same scopes do not ask again; prompt=consent does; a wider request does.
  const again = await authRequest(config, { redirect_uri: THIRD_CB, scope: 'openid read:things', audience: API });
  assert.deepEqual((await browser.authorize(again.url)).trail, []);
  const forced = await authRequest(config, { redirect_uri: THIRD_CB, scope: 'openid', prompt: 'consent' });
  assert.deepEqual((await browser.authorize(forced.url)).trail, ['/consent']);
  const wider = await authRequest(config, { redirect_uri: THIRD_CB, scope: 'openid write:things', audience: API });
  const silent = client.buildAuthorizationUrl(config, { ...Object.fromEntries(wider.url.searchParams), prompt: 'none' });
  const none = await browser.authorize(silent);
  assert.equal(none.url.searchParams.get('error'), 'consent_required');
});

test('login: the form is bound to the browser; after 10 failures per account from one IP in 5 minutes, 429', async () => {
  // Keep the whole burst inside one rate-limit window (windows are aligned to 300 s).
  const left = 300 - ((Date.now() / 1000) % 300);
  if (left < 15) await new Promise((r) => setTimeout(r, left * 1000 + 500));
  const config = await configFor('spa', undefined, client.None());
  const browser = new Browser();
  // A session id planted by an attacker is not adopted (no session fixation).
  const planted = 'A'.repeat(43);
  browser.jar.set('gatehouse_session', planted);
  const req = await authRequest(config, { redirect_uri: SPA_CB });
  // The authorization request may be POSTed as a form too (OIDC Core §3.1.2.1).
  const started = await browser.submit('/authorize', Object.fromEntries(req.url.searchParams));
  assert.equal(started.status, 302);
  const loginUrl = new URL(started.headers.get('location'), worker.origin);
  assert.equal(loginUrl.pathname, '/login');
  const form = hiddenInputs(await (await browser.fetch(loginUrl)).text());

  // Without the flow cookie (another browser, a cross-site form) the form is refused.
  await expectErrorPage(await new Browser().submit('/login', { ...form, username: BOB.email, password: BOB.password }), 403, 'access_denied', 'no flow cookie');
  await expectErrorPage(await browser.submit('/login', { ...form, csrf: (form.csrf[0] === 'x' ? 'y' : 'x') + form.csrf.slice(1), username: BOB.email, password: BOB.password }), 403, 'access_denied', 'wrong csrf');
  await expectErrorPage(await browser.submit('/login', { ...form, req: 'unknown', username: BOB.email, password: BOB.password }), 400, 'invalid_request', 'unknown req');

  // Successful logins do not count.
  for (let i = 0; i < 3; i++) {
    const ok = await Object.assign(new Browser(), { jar: new Map(browser.jar) }).submit('/login', { ...form, username: BOB.email, password: BOB.password });
    assert.equal(ok.status, 303);
  }
  for (let i = 1; i <= 10; i++) {
    // Attempts from one IP (two tabs): the limit is per account and IP, as Auth0 counts.
    const from = i % 2 ? browser : Object.assign(new Browser(), { jar: browser.jar, ip: browser.ip });
    const res = await from.submit('/login', { ...form, username: BOB.email, password: `wrong-${i}-password` });
    assert.equal(res.status, 400, `attempt ${i}`);
    assert.ok((await res.text()).includes('Wrong email or password.'));
  }
  const limited = await browser.submit('/login', { ...form, username: BOB.email, password: BOB.password });
  assert.equal(limited.status, 429, 'the right password no longer helps');
  assert.ok((await limited.text()).includes('Too many attempts'));
  assert.equal(browser.jar.get('gatehouse_session'), planted, 'no session was started');
  // Bob himself, from elsewhere, is not locked out by someone failing on purpose.
  const bob = await Object.assign(new Browser(), { jar: new Map(browser.jar) }).submit('/login', { ...form, username: BOB.email, password: BOB.password });
  assert.equal(bob.status, 303);
  // Another account is not affected.
  const ada = await browser.submit('/login', { ...form, username: ADA.email, password: ADA.password });
  assert.equal(ada.status, 303);
  assert.ok(browser.jar.get('gatehouse_session'));
  assert.notEqual(browser.jar.get('gatehouse_session'), planted);
});

test('login: the failure limit also holds for parallel guesses', async () => {
  const left = 300 - ((Date.now() / 1000) % 300);
  if (left < 15) await new Promise((r) => setTimeout(r, left * 1000 + 500));
  const config = await configFor('spa', undefined, client.None());
  const browser = new Browser();
  const req = await authRequest(config, { redirect_uri: SPA_CB });
  const loginUrl = new URL((await browser.fetch(req.url)).headers.get('location'), worker.origin);
  const form = hiddenInputs(await (await browser.fetch(loginUrl)).text());
  // 30 wrong guesses at once from one address: no more than 10 may be checked against the
  // password hash; the rest must be turned away with 429.
  const statuses = await Promise.all(
    Array.from({ length: 30 }, (_, i) =>
      Object.assign(new Browser(), { jar: browser.jar, ip: browser.ip })
        .submit('/login', { ...form, username: CAROL.email, password: `guess-number-${i}` })
        .then((r) => r.status),
    ),
  );
  const checked = statuses.filter((s) => s === 400).length;
  assert.equal(statuses.filter((s) => s !== 400 && s !== 429).length, 0, statuses.join(' '));
  assert.ok(checked <= 10, `${checked} of 30 parallel guesses were checked (limit: 10 failures per account and IP)`);
  const right = await browser.submit('/login', { ...form, username: CAROL.email, password: CAROL.password });
  assert.equal(right.status, 429);
});

// ---- 4. dynamic client registration ----------------------------------------------------------

test('dynamic registration (RFC 7591) with openid-client, consent, tokens, and RFC 7592 management', async () => {
  const registrationEndpoint = new URL('/oidc/register', worker.origin);
  const metadata = {
    client_name: 'Registered App',
    redirect_uris: [DCR_CB],
    post_logout_redirect_uris: ['http://127.0.0.1:4100/bye'],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'ES256',
  };
  // The initial access token is required.
  const anonymous = await fetch(registrationEndpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(metadata) });
  assert.equal(anonymous.status, 401);
  assert.match(anonymous.headers.get('www-authenticate'), /^Bearer/);
  await oauthError(
    client.dynamicClientRegistration(new URL(issuer), metadata, client.ClientSecretBasic(), { ...insecure, initialAccessToken: 'wrong' }),
  ).then(({ status }) => assert.equal(status, 401));

  const config = await client.dynamicClientRegistration(new URL(issuer), metadata, client.ClientSecretBasic(), {
    ...insecure,
    initialAccessToken: INITIAL_ACCESS_TOKEN,
  });
  const registered = config.clientMetadata();
  assert.ok(registered.client_id);
  assert.ok(registered.client_secret?.length >= 32);
  assert.ok(registered.registration_access_token);
  assert.equal(registered.registration_client_uri, `${issuer}oidc/register/${registered.client_id}`);
  assert.equal(registered.client_name, 'Registered App');
  assert.deepEqual(registered.redirect_uris, [DCR_CB]);
  assert.equal(registered.id_token_signed_response_alg, 'ES256');

  // A registered client is third-party: the user is asked.
  const browser = new Browser();
  const req = await authRequest(config, { redirect_uri: DCR_CB, scope: 'openid email offline_access' });
  const { url, trail } = await browser.authorize(req.url);
  assert.deepEqual(trail, ['/login', '/authorize/resume', '/consent']);
  const tokens = await client.authorizationCodeGrant(config, url, { pkceCodeVerifier: req.verifier, expectedState: req.state, expectedNonce: req.nonce });
  const idt = await verifyIdToken(tokens.id_token, registered.client_id, 'ES256');
  assert.equal(idt.email, ADA.email);
  assert.ok(tokens.refresh_token);
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  await verifyIdToken(refreshed.id_token, registered.client_id, 'ES256');
  assert.equal((await client.tokenIntrospection(config, refreshed.access_token)).active, true);

  // RFC 7592: read, update and delete with the registration access token.
  const manage = (method, token = registered.registration_access_token, body) =>
    fetch(registered.registration_client_uri, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body && JSON.stringify(body),
    });
  const read = await manage('GET');
  assert.equal(read.status, 200);
  assert.equal(read.headers.get('cache-control'), 'no-store');
  const readBody = await read.json();
  assert.equal(readBody.client_id, registered.client_id);
  assert.equal(readBody.client_name, 'Registered App');
  assert.deepEqual(readBody.redirect_uris, [DCR_CB]);
  assert.equal(readBody.registration_client_uri, registered.registration_client_uri);

  assert.equal((await manage('GET', 'wrong-token')).status, 401);
  assert.equal((await manage('GET', registered.client_secret)).status, 401, 'the client secret is not the registration token');
  const otherClient = await fetch(`${issuer}oidc/register/spa`, { headers: { authorization: `Bearer ${registered.registration_access_token}` } });
  assert.equal(otherClient.status, 401, 'a registration token manages its own client only');

  const updated = await manage('PUT', undefined, { ...metadata, client_id: registered.client_id, client_name: 'Renamed App', redirect_uris: [DCR_CB, 'http://127.0.0.1:4100/cb2'] });
  assert.equal(updated.status, 200);
  const updatedBody = await updated.json();
  assert.equal(updatedBody.client_name, 'Renamed App');
  assert.deepEqual(updatedBody.redirect_uris, [DCR_CB, 'http://127.0.0.1:4100/cb2']);
  assert.equal((await (await manage('GET')).json()).client_name, 'Renamed App');
  await expectJsonError(await manage('PUT', undefined, { ...metadata, client_name: 'No Id' }), 400, 'invalid_request', 'PUT without client_id');
  await expectJsonError(await manage('PUT', undefined, { ...metadata, client_id: registered.client_id, redirect_uris: ['http://evil.example/cb'] }), 400, 'invalid_redirect_uri', 'PUT with a bad redirect_uri');
  await expectJsonError(await manage('PUT', undefined, { ...metadata, client_id: registered.client_id, registration_access_token: 'mine' }), 400, 'invalid_request', 'PUT setting the token');

  // RP-initiated logout back to the registered post_logout_redirect_uri.
  const logout = await browser.fetch(client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token, post_logout_redirect_uri: 'http://127.0.0.1:4100/bye', state: 'z' }));
  assert.equal(logout.status, 302);
  assert.equal(logout.headers.get('location'), 'http://127.0.0.1:4100/bye?state=z');

  const deleted = await manage('DELETE');
  assert.equal(deleted.status, 204);
  assert.equal((await manage('GET')).status, 401, 'gone');
  const afterDelete = await oauthError(client.refreshTokenGrant(config, refreshed.refresh_token));
  assert.deepEqual([afterDelete.status, afterDelete.error], [401, 'invalid_client']);
  await expectErrorPage(await browser.fetch(client.buildAuthorizationUrl(config, { redirect_uri: DCR_CB, scope: 'openid' })), 400, 'invalid_client', 'deleted client at /authorize');
});

test('dynamic registration refuses bad metadata', async () => {
  const register = (body, contentType = 'application/json') =>
    fetch(new URL('/oidc/register', worker.origin), {
      method: 'POST',
      headers: { authorization: `Bearer ${INITIAL_ACCESS_TOKEN}`, 'content-type': contentType },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const cases = [
    [{ redirect_uris: ['javascript:alert(1)'] }, 'invalid_redirect_uri'],
    [{ redirect_uris: ['http://evil.example/cb'] }, 'invalid_redirect_uri'],
    [{ redirect_uris: ['https://app.example/cb#frag'] }, 'invalid_redirect_uri'],
    [{ redirect_uris: ['https://app.example/c\u0000b'] }, 'invalid_redirect_uri'],
    [{ redirect_uris: [] }, 'invalid_redirect_uri'],
    [{ redirect_uris: 'https://app.example/cb' }, 'invalid_client_metadata'],
    [{ redirect_uris: ['https://app.example/cb'], grant_types: ['implicit'] }, 'invalid_client_metadata'],
    [{ redirect_uris: ['https://app.example/cb'], response_types: ['token'] }, 'invalid_client_metadata'],
    [{ redirect_uris: ['https://app.example/cb'], token_endpoint_auth_method: 'client_secret_jwt' }, 'invalid_client_metadata'],
    [{ redirect_uris: ['https://app.example/cb'], token_endpoint_auth_method: 'private_key_jwt' }, 'invalid_client_metadata'],
    [{ redirect_uris: ['https://app.example/cb'], id_token_signed_response_alg: 'none' }, 'invalid_client_metadata'],
    [{ redirect_uris: ['https://app.example/cb'], id_token_signed_response_alg: 'HS256' }, 'invalid_client_metadata'],
    [{ redirect_uris: ['https://app.example/cb'], jwks: { keys: 'x' } }, 'invalid_client_metadata'],
    ['[]', 'invalid_client_metadata'],
    ['{"redirect_uris":', 'invalid_client_metadata'],
  ];
  for (const [body, code] of cases) {
    await expectJsonError(await register(body), 400, code, JSON.stringify(body).slice(0, 80));
  }
  await expectJsonError(await register({ redirect_uris: ['https://app.example/cb'] }, 'application/x-www-form-urlencoded'), 400, 'invalid_client_metadata', 'form body');
});

// ---- 5. logout -------------------------------------------------------------------------------

test('logout: /oidc/logout with id_token_hint returns to a registered URI with state and ends the session', async () => {
  const { config, browser, tokens } = await spaTokens();
  const oldSession = browser.jar.get('gatehouse_session');
  assert.ok(oldSession);

  // Unregistered return URIs are refused with a page, and the session survives.
  for (const uri of ['https://evil.example/', `${SPA_BYE}/`, `${SPA_BYE}?x=1`, SPA_CB]) {
    const res = await browser.fetch(client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token, post_logout_redirect_uri: uri, state: 'st' }));
    await expectErrorPage(res, 400, 'invalid_request', uri);
  }
  await expectErrorPage(
    await browser.fetch(client.buildEndSessionUrl(config, { client_id: 'web-basic', id_token_hint: tokens.id_token, post_logout_redirect_uri: SPA_BYE })),
    400,
    'invalid_request',
    'client_id contradicts the hint',
  );
  assert.equal(browser.jar.get('gatehouse_session'), oldSession);

  const endSession = client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token, post_logout_redirect_uri: SPA_BYE, state: 'bye-state' });
  assert.equal(endSession.pathname, '/oidc/logout');
  const res = await browser.fetch(endSession);
  assert.equal(res.status, 302);
  const location = new URL(res.headers.get('location'));
  assert.equal(location.origin + location.pathname, SPA_BYE);
  assert.equal(location.searchParams.get('state'), 'bye-state');
  const cleared = browser.setCookies.findLast((c) => c.name === 'gatehouse_session');
  assert.equal(cleared.value, '');
  assert.ok(cleared.attrs.includes('Max-Age=0'), cleared.line);
  assert.equal(browser.jar.has('gatehouse_session'), false);

  // The session is over: prompt=none now says login_required ...
  const silent = await authRequest(config, { redirect_uri: SPA_CB, prompt: 'none' });
  const none = await browser.authorize(silent.url);
  assert.equal(none.url.searchParams.get('error'), 'login_required');
  assert.equal(none.url.searchParams.get('state'), silent.state);
  assert.equal(none.url.searchParams.get('iss'), issuer);
  // ... also for a browser that kept the old cookie: the server ended the session itself.
  const stale = new Browser();
  stale.jar.set('gatehouse_session', oldSession);
  const staleTry = await stale.authorize((await authRequest(config, { redirect_uri: SPA_CB, prompt: 'none' })).url);
  assert.equal(staleTry.url.searchParams.get('error'), 'login_required');

  // client_id instead of a hint works too; no return URI: a logged-out page.
  const byId = await browser.fetch(client.buildEndSessionUrl(config, { post_logout_redirect_uri: SPA_BYE }));
  assert.equal(byId.status, 302, 'openid-client adds client_id');
  assert.equal(byId.headers.get('location'), SPA_BYE);
  const plain = await browser.fetch('/oidc/logout');
  assert.equal(plain.status, 200);
  assert.ok((await plain.text()).includes('logged out'));
  // POST form logout (RP-Initiated Logout §2).
  const posted = await browser.submit('/oidc/logout', { id_token_hint: tokens.id_token, post_logout_redirect_uri: SPA_BYE, state: 'p' });
  assert.equal(posted.status, 302);
  assert.equal(posted.headers.get('location'), `${SPA_BYE}?state=p`);
  // An expired hint is still a good hint, but one not signed by this server is not.
  const forged = await new jose.SignJWT({ aud: 'spa', sub: ADA.user_id })
    .setProtectedHeader({ alg: 'ES256', kid: jose.decodeProtectedHeader(tokens.id_token).kid })
    .setIssuer(issuer)
    .setExpirationTime('1h')
    .sign((await jose.generateKeyPair('ES256')).privateKey);
  await expectErrorPage(
    await browser.fetch(`/oidc/logout?${new URLSearchParams({ id_token_hint: forged, post_logout_redirect_uri: SPA_BYE })}`),
    400,
    'invalid_request',
    'forged hint',
  );
});

test('logout: /v2/logout returns only to an allowed logout URL', async () => {
  const { browser } = await spaTokens();
  await expectErrorPage(await browser.fetch(`/v2/logout?${new URLSearchParams({ client_id: 'spa', returnTo: 'https://evil.example/' })}`), 400, 'invalid_request', 'not allowed');
  await expectErrorPage(await browser.fetch(`/v2/logout?${new URLSearchParams({ returnTo: SPA_BYE })}`), 400, 'invalid_request', 'no client_id');
  await expectErrorPage(await browser.fetch(`/v2/logout?${new URLSearchParams({ client_id: 'web-basic', returnTo: SPA_BYE })}`), 400, 'invalid_request', 'another client’s URL');
  assert.ok(browser.jar.has('gatehouse_session'), 'refused logouts keep the session');
  const res = await browser.fetch(`/v2/logout?${new URLSearchParams({ client_id: 'spa', returnTo: SPA_BYE })}`);
  assert.equal(res.status, 302);
  assert.equal(res.headers.get('location'), SPA_BYE);
  assert.equal(browser.jar.has('gatehouse_session'), false);
  // Without returnTo: a logged-out page (and the cookie cleared again).
  const plain = await browser.fetch('/v2/logout');
  assert.equal(plain.status, 200);
  assert.ok(plain.headers.getSetCookie().some((c) => c.startsWith('gatehouse_session=;') && c.includes('Max-Age=0')));
  const config = await configFor('spa', undefined, client.None());
  const none = await browser.authorize((await authRequest(config, { redirect_uri: SPA_CB, prompt: 'none' })).url);
  assert.equal(none.url.searchParams.get('error'), 'login_required');
});

test('max_age=0 and prompt=login re-authenticate a logged-in user (OIDC Core §3.1.2.1)', async () => {
  const config = await configFor('spa', undefined, client.None());
  const browser = new Browser();
  // Prepare the requests first, so the one with max_age=0 follows the login within milliseconds.
  const login = await authRequest(config, { redirect_uri: SPA_CB });
  const zero = await authRequest(config, { redirect_uri: SPA_CB, max_age: '0' });
  const forced = await authRequest(config, { redirect_uri: SPA_CB, prompt: 'login' });
  const recent = await authRequest(config, { redirect_uri: SPA_CB, max_age: '3600' });
  assert.deepEqual((await browser.authorize(login.url)).trail, ['/login', '/authorize/resume']);
  // "Note that max_age=0 is equivalent to prompt=login." — however recent the login.
  for (const [label, req] of [['max_age=0', zero], ['prompt=login', forced]]) {
    const first = await browser.fetch(req.url);
    assert.equal(first.status, 302, label);
    const location = new URL(first.headers.get('location'), worker.origin);
    assert.equal(location.origin + location.pathname, `${worker.origin}/login`, `${label} must re-authenticate: ${location}`);
  }
  const sso = await browser.authorize(recent.url);
  assert.deepEqual(sso.trail, [], 'a recent login satisfies max_age=3600');
  const tokens = await client.authorizationCodeGrant(config, sso.url, {
    pkceCodeVerifier: recent.verifier,
    expectedState: recent.state,
    expectedNonce: recent.nonce,
    maxAge: 3600,
  });
  assert.ok(now() - tokens.claims().auth_time <= 60);
});

// ---- 6. hostile input --------------------------------------------------------------------------

test('hostile input at the token, userinfo, revocation and introspection endpoints: 4xx JSON, never 5xx', async () => {
  const { tokens } = await spaTokens();
  const jwk = (await (await fetch(new URL('/.well-known/jwks.json', worker.origin))).json()).keys;
  const esKid = jwk.find((k) => k.alg === 'ES256').kid;
  const rsKey = jwk.find((k) => k.alg === 'RS256');
  const t = now();
  const claims = { iss: issuer, sub: ADA.user_id, aud: [API, `${issuer}userinfo`], iat: t, exp: t + 600, jti: 'j', client_id: 'spa', scope: 'openid email' };
  const [h, p] = tokens.access_token.split('.');
  const big = 'x'.repeat(8 * 1024 + 1);
  const form = (o) => new URLSearchParams(o).toString();
  const token = (body, headers = {}) => post('/oauth/token', body, headers);
  const spaCode = { grant_type: 'authorization_code', client_id: 'spa', code: 'abc', code_verifier: 'v'.repeat(43), redirect_uri: SPA_CB };
  const withAssertion = (assertion) =>
    token({ grant_type: 'refresh_token', refresh_token: 'x', client_assertion_type: ASSERTION_TYPE, client_assertion: assertion });
  const pkjwtClaims = () => ({ iss: 'web-jwt', sub: 'web-jwt', aud: issuer, exp: t + 60, jti: crypto.randomUUID() });
  const userinfoWith = (bearer) => fetch(new URL('/userinfo', worker.origin), { headers: { authorization: `Bearer ${bearer}` } });
  const json = (body) => fetch(new URL('/oauth/token', worker.origin), { method: 'POST', headers: { 'content-type': 'application/json' }, body });

  const cases = [
    // duplicated parameters
    ['duplicate grant_type', () => token(form(spaCode) + '&grant_type=refresh_token'), 400, 'invalid_request'],
    ['duplicate client_id', () => token(form(spaCode) + '&client_id=spa'), 400, 'invalid_request'],
    ['duplicate code', () => token(form(spaCode) + '&code=def'), 400, 'invalid_request'],
    ['duplicate client_secret', () => token(form({ grant_type: 'refresh_token', refresh_token: 'x', client_id: 'web-post', client_secret: POST_SECRET }) + `&client_secret=${POST_SECRET}`), 400, 'invalid_request'],
    // oversized values
    ['oversized code', () => token({ ...spaCode, code: big }), 400, 'invalid_request'],
    ['oversized client_id', () => token({ ...spaCode, client_id: big }), 400, 'invalid_request'],
    ['oversized parameter name', () => token(form(spaCode) + `&${'n'.repeat(300)}=1`), 400, 'invalid_request'],
    ['oversized JSON value', () => json(JSON.stringify({ ...spaCode, code: big })), 400, 'invalid_request'],
    ['too many parameters', () => token(form(spaCode) + Array.from({ length: 70 }, (_, i) => `&p${i}=1`).join('')), 400, 'invalid_request'],
    ['a 2 MiB body', () => untilAnswered(() => token('a=' + 'x'.repeat(2 * 1024 * 1024))), 400, 'invalid_request'],
    // wrong content types
    ['text/plain body', () => token(form(spaCode), { 'content-type': 'text/plain' }), 400, 'invalid_request'],
    ['multipart body', () => fetch(new URL('/oauth/token', worker.origin), { method: 'POST', body: Object.entries(spaCode).reduce((f, [k, v]) => (f.append(k, v), f), new FormData()) }), 400, 'invalid_request'],
    ['no content type', () => fetch(new URL('/oauth/token', worker.origin), { method: 'POST', body: new Blob([form(spaCode)]) }), 400, 'invalid_request'],
    ['JSON array', () => json('[1,2]'), 400, 'invalid_request'],
    ['JSON nested object', () => json(JSON.stringify({ ...spaCode, code: { $ne: 1 } })), 400, 'invalid_request'],
    ['broken JSON', () => json('{"grant_type":'), 400, 'invalid_request'],
    ['form sent as JSON', () => json(form(spaCode)), 400, 'invalid_request'],
    // unicode and control characters
    ['RTL override client_id', () => token({ ...spaCode, client_id: 'sp\u202ea' }), 401, 'invalid_client'],
    ['NUL client_id', () => token({ ...spaCode, client_id: 'spa\u0000' }), 401, 'invalid_client'],
    ['newline client_id', () => token({ ...spaCode, client_id: 'spa\r\nx-injected: 1' }), 401, 'invalid_client'],
    ['emoji client_id (long)', () => token({ ...spaCode, client_id: '😀'.repeat(100) }), 401, 'invalid_client'],
    ['client_id with a slash', () => token({ ...spaCode, client_id: '../client/spa' }), 401, 'invalid_client'],
    ['invalid UTF-8 client_id', () => token(form(spaCode).replace('client_id=spa', 'client_id=%FF%FE')), 401, 'invalid_client'],
    ['control characters in code', () => token({ ...spaCode, code: 'a\u0000b\u0007c' }), 400, 'invalid_grant'],
    ['unicode code', () => token({ ...spaCode, code: 'ｃｏｄｅ\u202e' }), 400, 'invalid_grant'],
    ['redirect_uri with CRLF', () => token({ ...spaCode, redirect_uri: `${SPA_CB}\r\nLocation: https://evil.example/` }), 400, 'invalid_grant'],
    ['refresh token with NULs', () => token({ grant_type: 'refresh_token', client_id: 'spa', refresh_token: '\u0000'.repeat(22) + '.' + '\u0000'.repeat(43) }), 400, 'invalid_grant'],
    ['unknown grant_type', () => token({ ...spaCode, grant_type: 'urn:example:not-a-grant' }), 400, 'unsupported_grant_type'],
    ['a grant the client does not list', () => token({ ...spaCode, grant_type: 'password' }), 400, 'unauthorized_client'],
    ['no grant_type', () => token({ client_id: 'spa' }), 400, 'invalid_request'],
    // broken client authentication
    ['Basic not base64', () => token({ grant_type: 'refresh_token', refresh_token: 'x' }, { authorization: 'Basic !!!***' }), 401, 'invalid_client'],
    ['Basic without colon', () => token({ grant_type: 'refresh_token', refresh_token: 'x' }, { authorization: 'Basic ' + Buffer.from('web-basic').toString('base64') }), 401, 'invalid_client'],
    ['Basic not UTF-8', () => token({ grant_type: 'refresh_token', refresh_token: 'x' }, { authorization: 'Basic ' + Buffer.from([0xff, 0x3a, 0xfe]).toString('base64') }), 401, 'invalid_client'],
    ['Authorization without scheme', () => token({ grant_type: 'refresh_token', refresh_token: 'x' }, { authorization: 'garbage' }), 401, 'invalid_client'],
    ['garbage client assertion', () => withAssertion('\u0000.\u0001.\u0002'), 401, 'invalid_client'],
    ['huge client assertion', () => withAssertion('e'.repeat(8000) + '.e30.AA'), 401, 'invalid_client'],
    ['alg none client assertion', () => withAssertion(unsignedJwt({ alg: 'none' }, pkjwtClaims())), 401, 'invalid_client'],
    ['alg NONE client assertion', () => withAssertion(unsignedJwt({ alg: 'NONE' }, pkjwtClaims())), 401, 'invalid_client'],
    ['alg none with the client’s kid', () => withAssertion(unsignedJwt({ alg: 'none', kid: jwtKey.kid }, pkjwtClaims(), 'AAAA')), 401, 'invalid_client'],
    ['crit client assertion', () => withAssertion(unsignedJwt({ alg: 'ES256', crit: ['exp'], exp: 1 }, pkjwtClaims(), 'AAAA')), 401, 'invalid_client'],
    // userinfo
    ['userinfo: garbage bearer', () => userinfoWith('garbage'), 401, 'invalid_token'],
    ['userinfo: alg none access token', () => userinfoWith(unsignedJwt({ alg: 'none', typ: 'at+jwt' }, claims)), 401, 'invalid_token'],
    ['userinfo: alg none with the real header kid', () => userinfoWith(unsignedJwt({ ...jose.decodeProtectedHeader(tokens.access_token), alg: 'none' }, claims)), 401, 'invalid_token'],
    ['userinfo: real header, forged payload', () => userinfoWith(`${h}.${b64url(JSON.stringify({ ...claims, sub: BOB.user_id }))}.${tokens.access_token.split('.')[2]}`), 401, 'invalid_token'],
    ['userinfo: HS256 keyed with the RSA public key', async () => {
      const forged = await new jose.SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: rsKey.kid }).sign(new TextEncoder().encode(JSON.stringify(rsKey)));
      return userinfoWith(forged);
    }, 401, 'invalid_token'],
    ['userinfo: signed by another key under the Worker’s kid', async () => {
      const forged = await new jose.SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: esKid }).sign((await jose.generateKeyPair('ES256')).privateKey);
      return userinfoWith(forged);
    }, 401, 'invalid_token'],
    ['userinfo: the ID token as access token', () => userinfoWith(tokens.id_token), 401, 'invalid_token'],
    ['userinfo: 40 KiB token', () => userinfoWith('a'.repeat(40 * 1024)), 401, 'invalid_token'],
    ['userinfo: token twice (header and body)', () => post('/userinfo', { access_token: tokens.access_token }, { authorization: `Bearer ${tokens.access_token}` }), 400, 'invalid_request'],
    ['userinfo: Basic scheme', () => fetch(new URL('/userinfo', worker.origin), { headers: { authorization: basic('spa', 'x') } }), 400, 'invalid_request'],
    ['userinfo: no token', () => fetch(new URL('/userinfo', worker.origin)), 401, 'invalid_token'],
    ['userinfo: duplicated body token', () => post('/userinfo', `access_token=${tokens.access_token}&access_token=${tokens.access_token}`), 400, 'invalid_request'],
    // revocation
    ['revoke: no token', () => post('/oauth/revoke', { client_id: 'spa' }), 400, 'invalid_request'],
    ['revoke: duplicated token', () => post('/oauth/revoke', 'client_id=spa&token=a&token=b'), 400, 'invalid_request'],
    ['revoke: text/plain', () => post('/oauth/revoke', 'client_id=spa&token=a', { 'content-type': 'text/plain' }), 400, 'invalid_request'],
    ['revoke: unknown client', () => post('/oauth/revoke', { client_id: 'sp\u0000a', token: 'x' }), 401, 'invalid_client'],
    // introspection
    ['introspect: no client', () => post('/oauth/introspect', { token: tokens.access_token }), 401, 'invalid_client'],
    ['introspect: JSON body', () => post('/oauth/introspect', JSON.stringify({ token: 'x' }), { 'content-type': 'application/json', authorization: basic('web-basic', BASIC_SECRET) }), 400, 'invalid_request'],
    ['introspect: duplicated token', () => post('/oauth/introspect', 'token=a&token=b', { authorization: basic('web-basic', BASIC_SECRET) }), 400, 'invalid_request'],
    ['introspect: no token', () => post('/oauth/introspect', '', { authorization: basic('web-basic', BASIC_SECRET) }), 400, 'invalid_request'],
    ['introspect: oversized token', () => post('/oauth/introspect', { token: big }, { authorization: basic('web-basic', BASIC_SECRET) }), 400, 'invalid_request'],
  ];
  for (const [label, call, status, code] of cases) {
    const res = await call();
    assert.ok(res.status < 500, `${label}: ${res.status}`);
    const body = await expectJsonError(res, status, code, label);
    assert.ok(!JSON.stringify(body).includes('\u0000'), `${label}: nothing unprintable is echoed`);
    if (status === 401) assert.ok(res.headers.get('www-authenticate'), `${label}: WWW-Authenticate`);
  }

  // Introspection answers active:false for anything it did not issue (RFC 7662 §2.2).
  const inactive = [
    'garbage',
    '\u0000\u202e',
    unsignedJwt({ alg: 'none', typ: 'at+jwt' }, claims),
    unsignedJwt({ alg: 'none', typ: 'at+jwt' }, claims, 'AAAA'),
    `${h}.${p}.${b64url(Buffer.alloc(64))}`,
    tokens.id_token,
    'AAAAAAAAAAAAAAAAAAAAAA.' + 'A'.repeat(43),
    'a.b.c.d.e',
  ];
  for (const tok of inactive) {
    const res = await post('/oauth/introspect', { token: tok }, { authorization: basic('web-basic', BASIC_SECRET) });
    assert.equal(res.status, 200, tok.slice(0, 40));
    assert.deepEqual(await res.json(), { active: false }, tok.slice(0, 40));
  }
  // Nothing above hurt the real tokens.
  assert.equal((await userinfoStatus(tokens.access_token)).status, 200);
});

test('hostile input at /authorize, the login pages, logout and registration: 4xx pages or JSON, never 5xx', async () => {
  const browser = new Browser();
  const challenge = await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier());
  const base = { client_id: 'spa', redirect_uri: SPA_CB, response_type: 'code', scope: 'openid', state: 's', code_challenge: challenge, code_challenge_method: 'S256' };
  const q = (params) => `/authorize?${query(params)}`;
  const big = 'x'.repeat(8 * 1024 + 1);
  const t = now();
  const pages = [
    ['duplicated client_id', q(base) + '&client_id=spa', 400, 'invalid_request'],
    ['duplicated redirect_uri', q(base) + `&redirect_uri=${encodeURIComponent(SPA_CB)}`, 400, 'invalid_request'],
    ['NUL client_id', q({ ...base, client_id: 'spa\u0000' }), 400, 'invalid_client'],
    ['RTL client_id', q({ ...base, client_id: '\u202espa' }), 400, 'invalid_client'],
    ['invalid UTF-8 client_id', q(base).replace('client_id=spa', 'client_id=%C0%AF'), 400, 'invalid_client'],
    ['oversized client_id', q({ ...base, client_id: big }), 400, 'invalid_request'],
    ['client_id with path tricks', q({ ...base, client_id: '../admin' }), 400, 'invalid_client'],
    ['redirect_uri with CRLF', q({ ...base, redirect_uri: `${SPA_CB}\r\nSet-Cookie: x=1` }), 400, 'invalid_request'],
    ['redirect_uri with NUL', q({ ...base, redirect_uri: `${SPA_CB}\u0000` }), 400, 'invalid_request'],
    ['unicode redirect_uri', q({ ...base, redirect_uri: `http://127.0.0.１:4000/cb` }), 400, 'invalid_request'],
    ['oversized redirect_uri', q({ ...base, redirect_uri: SPA_CB + '?' + big }), 400, 'invalid_request'],
    ['too many parameters', q(base) + Array.from({ length: 70 }, (_, i) => `&p${i}=1`).join(''), 400, 'invalid_request'],
    ['POST /authorize as JSON', null, 400, 'invalid_request'],
    ['login page: unknown req', '/login?req=nope', 400, 'invalid_request'],
    ['login page: req with path tricks', '/login?req=..%2F..%2Fclient%2Fspa', 400, 'invalid_request'],
    ['login page: duplicated req', '/login?req=a&req=b', 400, 'invalid_request'],
    ['consent page: unknown req', `/consent?req=${'A'.repeat(64)}`, 400, 'invalid_request'],
    ['resume: unknown req', '/authorize/resume?req=%00', 400, 'invalid_request'],
    ['logout: alg none id_token_hint', `/oidc/logout?${new URLSearchParams({ id_token_hint: unsignedJwt({ alg: 'none' }, { iss: issuer, aud: 'spa', sub: ADA.user_id, exp: t + 60 }), post_logout_redirect_uri: SPA_BYE })}`, 400, 'invalid_request'],
    ['logout: garbage id_token_hint', `/oidc/logout?${new URLSearchParams({ id_token_hint: '\u0000garbage\u202e' })}`, 400, 'invalid_request'],
    ['logout: duplicated post_logout_redirect_uri', `/oidc/logout?client_id=spa&post_logout_redirect_uri=${encodeURIComponent(SPA_BYE)}&post_logout_redirect_uri=${encodeURIComponent(SPA_BYE)}`, 400, 'invalid_request'],
    ['logout: unicode post_logout_redirect_uri', `/oidc/logout?${new URLSearchParams({ client_id: 'spa', post_logout_redirect_uri: `${SPA_BYE}\u202e` })}`, 400, 'invalid_request'],
    ['logout: NUL client_id', `/oidc/logout?${new URLSearchParams({ client_id: 'spa\u0000', post_logout_redirect_uri: SPA_BYE })}`, 400, 'invalid_request'],
    ['logout: oversized hint', `/oidc/logout?${new URLSearchParams({ id_token_hint: big })}`, 400, 'invalid_request'],
    ['v2 logout: CRLF returnTo', `/v2/logout?${new URLSearchParams({ client_id: 'spa', returnTo: `${SPA_BYE}\r\nX: y` })}`, 400, 'invalid_request'],
  ];
  for (const [label, path, status, code] of pages) {
    const res = path
      ? await browser.fetch(path)
      : await browser.fetch('/authorize', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(base) });
    assert.ok(res.status < 500, `${label}: ${res.status}`);
    const html = await expectErrorPage(res, status, code, label);
    assert.ok(!html.includes('\u0000') && !html.includes('\u202e'), `${label}: control characters are not echoed`);
  }
  // The login form with hostile credentials: the generic answer, never a 5xx.
  const config = await configFor('spa', undefined, client.None());
  const xss = '"><script>alert(1)</script>';
  const pending = await authRequest(config, { redirect_uri: SPA_CB, login_hint: xss });
  const loginUrl = new URL((await browser.fetch(pending.url)).headers.get('location'), worker.origin);
  const loginHtml = await (await browser.fetch(loginUrl)).text();
  assert.ok(!loginHtml.includes('<script>'), 'login_hint is escaped');
  assert.ok(loginHtml.includes('&quot;&gt;&lt;script&gt;'), 'and shown');
  const form = hiddenInputs(loginHtml);
  const credentials = [
    [`ada@example.com\u0000`, ADA.password],
    ['\u202eada@example.com', ADA.password],
    ['a'.repeat(1000) + '@example.com', 'x'],
    ['ÅDA@EXAMPLE.COM', ADA.password],
    [ADA.email, '😀'.repeat(2000)],
    [xss, xss],
  ];
  for (const [username, password] of credentials) {
    const from = Object.assign(new Browser(), { jar: browser.jar });
    const res = await from.submit('/login', { ...form, username, password });
    const html = await res.text();
    assert.equal(res.status, 400, `${username.slice(0, 30)}: ${res.status}`);
    assert.ok(html.includes('Wrong email or password.'), username.slice(0, 30));
    assert.ok(!html.includes('<script>'), 'the username is escaped when shown again');
  }
  await expectErrorPage(await browser.submit('/login', { ...form, username: ADA.email, password: big }), 400, 'invalid_request', 'oversized password');
  await expectErrorPage(await browser.submit('/login', `${new URLSearchParams({ ...form, username: ADA.email, password: ADA.password })}&password=other`), 400, 'invalid_request', 'duplicated password');
  const jsonLogin = await browser.fetch('/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...form, username: ADA.email, password: ADA.password }) });
  await expectErrorPage(jsonLogin, 400, 'invalid_request', 'JSON login');
  assert.equal(browser.jar.has('gatehouse_session'), false, 'none of that logged anyone in');

  // After the client and redirect_uri check out, hostile values come back to the client.
  const redirected = [
    ['oversized state', q({ ...base, state: 's'.repeat(3000) }), 'invalid_request'],
    ['oversized nonce', q({ ...base, nonce: 'n'.repeat(600) }), 'invalid_request'],
    ['duplicated response_type', q(base) + '&response_type=code', 'invalid_request'],
    ['duplicated scope', q(base) + '&scope=email', 'invalid_request'],
    ['unicode scope', q({ ...base, scope: 'openid ｐｒｏｆｉｌｅ' }), 'invalid_scope'],
    ['NUL in code_challenge', q({ ...base, code_challenge: challenge.slice(0, 42) + '\u0000' }), 'invalid_request'],
    ['bad max_age', q({ ...base, max_age: '-1' }), 'invalid_request'],
    ['bad prompt', q({ ...base, prompt: 'sudo' }), 'invalid_request'],
    ['bad response_mode', q({ ...base, response_mode: 'form_post\u0000' }), 'invalid_request'],
    ['audience with a fragment', q({ ...base, audience: `${API}#x` }), 'invalid_target'],
    ['audience and resource disagree', q({ ...base, audience: API, resource: API_RS }), 'invalid_target'],
  ];
  for (const [label, path, code] of redirected) {
    const res = await browser.fetch(path);
    assert.equal(res.status, 302, label);
    const location = new URL(res.headers.get('location'));
    assert.equal(location.origin + location.pathname, SPA_CB, label);
    assert.equal(location.searchParams.get('error'), code, `${label}: ${location.search.slice(0, 200)}`);
    assert.equal(location.searchParams.get('iss'), issuer, label);
  }
  // Registration management with hostile ids and tokens.
  const regCases = [
    ['unicode client id', `/oidc/register/${encodeURIComponent('\u202e\u0000')}`, 'Bearer x', 401, 'invalid_token'],
    ['unknown client id', '/oidc/register/nobody', 'Bearer x', 401, 'invalid_token'],
    ['no bearer', '/oidc/register/spa', undefined, 401, 'invalid_token'],
    ['Basic scheme', '/oidc/register/spa', basic('spa', 'x'), 401, 'invalid_token'],
    ['initial access token is not a registration token', '/oidc/register/spa', `Bearer ${INITIAL_ACCESS_TOKEN}`, 401, 'invalid_token'],
  ];
  for (const [label, path, authorization, status, code] of regCases) {
    const res = await fetch(new URL(path, worker.origin), { headers: authorization ? { authorization } : {} });
    await expectJsonError(res, status, code, label);
  }
  const regPost = await fetch(new URL('/oidc/register', worker.origin), {
    method: 'POST',
    headers: { authorization: `Bearer ${INITIAL_ACCESS_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ redirect_uris: ['https://app.example/cb'], client_name: 'x'.repeat(70 * 1024) }),
  });
  assert.ok(regPost.status >= 400 && regPost.status < 500, `oversized registration: ${regPost.status}`);
});
