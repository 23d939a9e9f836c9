// Front-channel responses, end to end: implicit (OIDC Core §3.2) and hybrid (§3.3) response
// types, in the fragment and through form_post, against the built Worker under workerd, driven by
// openid-client and oauth4webapi with a cookie-jar browser; tokens and hashes verified with jose.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as client from 'openid-client';
import * as oauth from 'oauth4webapi';
import * as jose from 'jose';
import { importTenant, startWorker } from './harness.mjs';
import { Browser, hiddenInputs } from './browser-jar.mjs';

const API = 'https://notes.front.test/';
const RP_CB = 'https://rp.front.test/cb';
const ADA = { user_id: 'auth0|ada', email: 'ada@example.com', password: 'correct horse battery', name: 'Ada Lovelace' };

let worker;
let issuer;
let jwks;

before(async () => {
  worker = await startWorker();
  issuer = worker.url;
  jwks = jose.createRemoteJWKSet(new URL('/.well-known/jwks.json', worker.origin));
  await importTenant(worker, {
    clients: [{
      client_id: 'rp', name: 'Front Channel RP', app_type: 'spa', redirect_uris: [RP_CB],
      grant_types: ['authorization_code', 'implicit'],
      response_types: ['code', 'id_token', 'id_token token', 'code id_token', 'code token', 'code id_token token'],
    }],
    apis: [{ identifier: API, name: 'Notes', signing_alg: 'ES256', token_lifetime_seconds: 600, scopes: [{ value: 'read:notes' }] }],
    users: [ADA],
  });
});

after(async () => {
  await worker?.stop();
});

const insecure = [client.allowInsecureRequests];
const halfHash = (value) => createHash('sha256').update(value).digest().subarray(0, 16).toString('base64url');

test('discovery lists the response types and modes', async () => {
  const meta = (await client.discovery(new URL(issuer), 'rp', undefined, client.None(), { execute: insecure })).serverMetadata();
  assert.deepEqual(meta.response_types_supported, ['code', 'id_token', 'id_token token', 'code id_token', 'code token', 'code id_token token']);
  assert.deepEqual(meta.response_modes_supported, ['query', 'fragment', 'form_post', 'web_message']);
  assert.ok(meta.grant_types_supported.includes('implicit'));
});

test('implicit id_token in the fragment, validated by openid-client', async () => {
  const config = await client.discovery(new URL(issuer), 'rp', undefined, client.None(), {
    execute: [...insecure, client.useIdTokenResponseType],
  });
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, { redirect_uri: RP_CB, scope: 'openid profile', nonce });
  assert.equal(url.searchParams.get('response_type'), 'id_token');
  const back = await new Browser(worker.origin, ADA).authorize(url);
  assert.equal(back.url.origin + back.url.pathname, RP_CB);
  assert.ok(back.url.hash.includes('id_token='), 'the fragment carries it');
  const claims = await client.implicitAuthentication(config, back.url, nonce);
  assert.equal(claims.sub, ADA.user_id);
  assert.equal(claims.aud, 'rp');
  assert.equal(claims.name, ADA.name);
  assert.equal(claims.nonce, nonce);
});

test('implicit id_token token through form_post: at_hash binds the access token', async () => {
  const browser = new Browser(worker.origin, ADA);
  const url = new URL('/authorize', worker.origin);
  url.search = new URLSearchParams({
    client_id: 'rp', redirect_uri: RP_CB, response_type: 'id_token token', response_mode: 'form_post',
    scope: 'openid read:notes', audience: API, nonce: 'n-form', state: 's-form',
  }).toString();
  const done = await browser.authorize(url);
  assert.equal(done.status, 200);
  assert.match(done.page, new RegExp(`<form method="post" action="${RP_CB}">`));
  const posted = hiddenInputs(done.page);
  assert.equal(posted.state, 's-form');
  assert.equal(posted.token_type, 'Bearer');
  const { payload: id } = await jose.jwtVerify(posted.id_token, jwks, { issuer, audience: 'rp' });
  assert.equal(id.nonce, 'n-form');
  assert.equal(id.at_hash, halfHash(posted.access_token));
  assert.equal(id.s_hash, halfHash('s-form'));
  const { payload: at } = await jose.jwtVerify(posted.access_token, jwks, { issuer, audience: API, typ: 'at+jwt' });
  assert.equal(at.sub, ADA.user_id);
  assert.equal(at.scope, 'openid read:notes');
});

test('hybrid code id_token with openid-client (FAPI detached-signature checks: c_hash, s_hash)', async () => {
  const config = await client.discovery(new URL(issuer), 'rp', undefined, client.None(), {
    execute: [...insecure, client.useCodeIdTokenResponseType, client.enableDetachedSignatureResponseChecks],
  });
  const verifier = client.randomPKCECodeVerifier();
  const nonce = client.randomNonce();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: RP_CB, scope: 'openid profile', nonce, state,
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  });
  assert.equal(url.searchParams.get('response_type'), 'code id_token');
  const back = await new Browser(worker.origin, ADA).authorize(url);
  const tokens = await client.authorizationCodeGrant(config, back.url, {
    pkceCodeVerifier: verifier, expectedNonce: nonce, expectedState: state,
  });
  assert.equal(tokens.claims().sub, ADA.user_id);
  assert.ok(tokens.access_token);
});

test('hybrid code id_token token through form_post, validated by oauth4webapi', async () => {
  const as = await oauth.processDiscoveryResponse(new URL(issuer), await oauth.discoveryRequest(new URL(issuer), { [oauth.allowInsecureRequests]: true }));
  const rp = { client_id: 'rp' };
  const verifier = oauth.generateRandomCodeVerifier();
  const url = new URL(as.authorization_endpoint);
  url.search = new URLSearchParams({
    client_id: 'rp', redirect_uri: RP_CB, response_type: 'code id_token token', response_mode: 'form_post',
    scope: 'openid read:notes', audience: API, nonce: 'n-hybrid', state: 's-hybrid',
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  }).toString();
  const done = await new Browser(worker.origin, ADA).authorize(url);
  const posted = hiddenInputs(done.page);
  // oauth4webapi checks the ID token's signature, nonce, c_hash and s_hash against the response.
  const params = await oauth.validateCodeIdTokenResponse(as, rp, new URLSearchParams(posted), 'n-hybrid', 's-hybrid', undefined, { [oauth.allowInsecureRequests]: true });
  const { payload: id } = await jose.jwtVerify(posted.id_token, jwks, { issuer, audience: 'rp' });
  assert.equal(id.c_hash, halfHash(posted.code));
  assert.equal(id.at_hash, halfHash(posted.access_token));
  const response = await oauth.authorizationCodeGrantRequest(as, rp, oauth.None(), params, RP_CB, verifier, { [oauth.allowInsecureRequests]: true });
  const tokens = await oauth.processAuthorizationCodeResponse(as, rp, response, { expectedNonce: 'n-hybrid' });
  const { payload: at } = await jose.jwtVerify(tokens.access_token, jwks, { issuer, audience: API, typ: 'at+jwt' });
  assert.equal(at.gid, jose.decodeJwt(posted.access_token).gid, 'the front- and back-channel tokens are of one grant');
});

test('refusals go back in the fragment', async () => {
  const browser = new Browser(worker.origin, ADA);
  const refused = async (params) => {
    const url = new URL('/authorize', worker.origin);
    url.search = new URLSearchParams({ client_id: 'rp', redirect_uri: RP_CB, scope: 'openid', state: 's', ...params }).toString();
    const res = await browser.fetch(url);
    assert.equal(res.status, 302);
    const location = new URL(res.headers.get('location'));
    return new URLSearchParams(location.hash.slice(1)).get('error') ?? new URLSearchParams(location.search).get('error');
  };
  assert.equal(await refused({ response_type: 'id_token' }), 'invalid_request', 'no nonce');
  assert.equal(await refused({ response_type: 'id_token token', nonce: 'n', response_mode: 'query' }), 'invalid_request', 'tokens in a query');
  assert.equal(await refused({ response_type: 'id_token', nonce: 'n', prompt: 'none' }), 'login_required');
});
