// JWT-secured authorization requests (RFC 9101), alone and pushed (RFC 9126 §3, FAPI 2.0's
// shape), end to end: openid-client and oauth4webapi sign the request object with the client's
// key (ES256, PS256), the browser goes through the hosted login, the code is exchanged, and the
// ID token is verified with jose.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import * as oauth from 'oauth4webapi';
import * as jose from 'jose';
import { importTenant, oauthError, startWorker } from './harness.mjs';
import { Browser } from './browser-jar.mjs';

const CB = 'https://jar.example/cb';
const SECRET = 'jar-secret-0123456789abcdefghijklmnopqrst';
const ADA = { user_id: 'auth0|ada', email: 'ada@example.com', password: 'correct horse battery', name: 'Ada Lovelace' };
const insecure = { [oauth.allowInsecureRequests]: true };

let worker;
let issuer;
let es256;
let ps256;

before(async () => {
  worker = await startWorker();
  issuer = worker.url;
  es256 = await jose.generateKeyPair('ES256', { extractable: true });
  ps256 = await jose.generateKeyPair('PS256', { extractable: true });
  const publicJwk = async (pair, kid) => ({ ...(await jose.exportJWK(pair.publicKey)), kid });
  await importTenant(worker, {
    clients: [
      // Must sign every request (RFC 9101 §10.5).
      { client_id: 'jar-web', name: 'JAR Web', app_type: 'regular_web', client_secret: SECRET, redirect_uris: [CB],
        jwks: { keys: [await publicJwk(es256, 'es-1')] }, require_signed_request_object: true },
      // A public client pinned to PS256.
      { client_id: 'jar-spa', name: 'JAR SPA', app_type: 'spa', redirect_uris: [CB],
        jwks: { keys: [await publicJwk(ps256, 'ps-1')] }, request_object_signing_alg: 'PS256' },
    ],
    users: [ADA],
  });
});

after(async () => {
  await worker?.stop();
});

async function idToken(tokens, audience, nonce) {
  const jwks = jose.createRemoteJWKSet(new URL('/.well-known/jwks.json', worker.origin));
  const { payload } = await jose.jwtVerify(tokens.id_token, jwks, { issuer, audience });
  assert.equal(payload.sub, ADA.user_id);
  if (nonce) assert.equal(payload.nonce, nonce);
  return payload;
}

test('discovery describes request objects', async () => {
  const meta = await (await fetch(new URL('/.well-known/openid-configuration', worker.origin))).json();
  assert.equal(meta.request_parameter_supported, true);
  assert.equal(meta.request_uri_parameter_supported, false);
  assert.deepEqual(meta.request_object_signing_alg_values_supported, ['RS256', 'ES256', 'PS256']);
});

test('openid-client: JAR alone, then JAR pushed (PAR + JAR)', async () => {
  const config = await client.discovery(new URL(issuer), 'jar-web', undefined, client.ClientSecretBasic(SECRET), { execute: [client.allowInsecureRequests] });
  const key = { key: es256.privateKey, kid: 'es-1' };
  for (const pushed of [false, true]) {
    const verifier = client.randomPKCECodeVerifier();
    const nonce = client.randomNonce();
    const state = client.randomState();
    let url = await client.buildAuthorizationUrlWithJAR(config, {
      redirect_uri: CB, scope: 'openid profile', nonce, state,
      code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    }, key);
    assert.deepEqual([...url.searchParams.keys()].sort(), ['client_id', 'request']);
    const request = url.searchParams.get('request');
    assert.equal(jose.decodeProtectedHeader(request).typ, 'oauth-authz-req+jwt');
    if (pushed) {
      url = await client.buildAuthorizationUrlWithPAR(config, url.searchParams);
      assert.deepEqual([...url.searchParams.keys()].sort(), ['client_id', 'request_uri']);
    }
    const browser = new Browser(worker.origin, ADA);
    const back = await browser.authorize(url);
    const tokens = await client.authorizationCodeGrant(config, back.url, { pkceCodeVerifier: verifier, expectedNonce: nonce, expectedState: state });
    await idToken(tokens, 'jar-web', nonce);
    // The same request object again: its jti was spent (at /authorize, or at push time).
    if (pushed) {
      const again = await oauthError(client.buildAuthorizationUrlWithPAR(config, { request }));
      assert.equal(again.error, 'invalid_request_object');
    } else {
      const again = await browser.fetch(url);
      assert.equal(again.status, 400);
      assert.equal(again.headers.get('location'), null);
      assert.match(await again.text(), /invalid_request_object/);
    }
  }
  // This client must sign: plain parameters are refused, at /authorize and at push time.
  const plain = client.buildAuthorizationUrl(config, { redirect_uri: CB, scope: 'openid', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' });
  const page = await new Browser(worker.origin, ADA).fetch(plain);
  assert.equal(page.status, 400);
  assert.match(await page.text(), /<strong>invalid_request<\/strong>/);
  assert.equal(page.headers.get('location'), null);
  const pushedPlain = await oauthError(client.buildAuthorizationUrlWithPAR(config, { redirect_uri: CB, scope: 'openid', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' }));
  assert.equal(pushedPlain.error, 'invalid_request');
});

test('oauth4webapi: a PS256 request object from a public client, direct and pushed', async () => {
  const as = await oauth.processDiscoveryResponse(new URL(issuer), await oauth.discoveryRequest(new URL(issuer), insecure));
  const spa = { client_id: 'jar-spa' };
  const key = { key: ps256.privateKey, kid: 'ps-1' };
  for (const pushed of [false, true]) {
    const verifier = oauth.generateRandomCodeVerifier();
    const request = await oauth.issueRequestObject(as, spa, {
      redirect_uri: CB, response_type: 'code', scope: 'openid', state: 's-ps',
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    }, key);
    assert.equal(jose.decodeProtectedHeader(request).alg, 'PS256');
    const url = new URL(as.authorization_endpoint);
    if (pushed) {
      const response = await oauth.processPushedAuthorizationResponse(as, spa,
        await oauth.pushedAuthorizationRequest(as, spa, oauth.None(), { request }, insecure));
      url.search = new URLSearchParams({ client_id: 'jar-spa', request_uri: response.request_uri }).toString();
    } else {
      url.search = new URLSearchParams({ client_id: 'jar-spa', request }).toString();
    }
    const back = await new Browser(worker.origin, ADA).authorize(url);
    const params = oauth.validateAuthResponse(as, spa, back.url, 's-ps');
    const response = await oauth.authorizationCodeGrantRequest(as, spa, oauth.None(), params, CB, verifier, insecure);
    await idToken(await oauth.processAuthorizationCodeResponse(as, spa, response), 'jar-spa');
  }
  // ES256 is not this client's algorithm; alg none never is.
  const es = await oauth.issueRequestObject(as, spa, { redirect_uri: CB, response_type: 'code', scope: 'openid' }, { key: es256.privateKey });
  const refused = await oauthError(oauth.processPushedAuthorizationResponse(as, spa,
    await oauth.pushedAuthorizationRequest(as, spa, oauth.None(), { request: es }, insecure)));
  assert.deepEqual([refused.status, refused.error], [400, 'invalid_request_object']);
  const unsigned = new jose.UnsecuredJWT({ client_id: 'jar-spa', response_type: 'code', redirect_uri: CB, scope: 'openid' })
    .setIssuer('jar-spa').setAudience(issuer).setExpirationTime('1m').setJti('u-1').encode();
  const url = new URL(as.authorization_endpoint);
  url.search = new URLSearchParams({ client_id: 'jar-spa', request: unsigned }).toString();
  const page = await new Browser(worker.origin, ADA).fetch(url);
  assert.equal(page.status, 400);
  assert.match(await page.text(), /<strong>invalid_request_object<\/strong>/);
  assert.equal(page.headers.get('location'), null);
});

test('one request object, pushed twice at once: exactly one request_uri', async () => {
  const as = await oauth.processDiscoveryResponse(new URL(issuer), await oauth.discoveryRequest(new URL(issuer), insecure));
  const spa = { client_id: 'jar-spa' };
  for (let trial = 0; trial < 5; trial++) {
    const request = await oauth.issueRequestObject(as, spa, {
      redirect_uri: CB, response_type: 'code', scope: 'openid',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
    }, { key: ps256.privateKey, kid: 'ps-1' });
    const push = () => fetch(as.pushed_authorization_request_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: 'jar-spa', request }),
    });
    const answers = await Promise.all([push(), push(), push()]);
    const statuses = answers.map((r) => r.status).sort();
    assert.deepEqual(statuses, [201, 400, 400], `trial ${trial}`);
  }
});
