// Pushed authorization requests (RFC 9126), end to end: openid-client and oauth4webapi push the
// request to /oauth/par, the browser goes to /authorize with only client_id and request_uri, and
// the code is exchanged; the ID token verified with jose.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import * as oauth from 'oauth4webapi';
import * as jose from 'jose';
import { importTenant, oauthError, startWorker } from './harness.mjs';
import { Browser } from './browser-jar.mjs';

const CB = 'https://par.example/cb';
const SECRET = 'par-secret-0123456789abcdefghijklmnopqrst';
const ADA = { user_id: 'auth0|ada', email: 'ada@example.com', password: 'correct horse battery', name: 'Ada Lovelace' };

let worker;
let issuer;

before(async () => {
  worker = await startWorker();
  issuer = worker.url;
  await importTenant(worker, {
    clients: [
      { client_id: 'par-web', name: 'PAR Web', app_type: 'regular_web', client_secret: SECRET, redirect_uris: [CB], require_pushed_authorization_requests: true },
      { client_id: 'par-spa', name: 'PAR SPA', app_type: 'spa', redirect_uris: [CB] },
    ],
    users: [ADA],
  });
});

after(async () => {
  await worker?.stop();
});

test('openid-client pushes the request; /authorize takes client_id and request_uri only', async () => {
  const config = await client.discovery(new URL(issuer), 'par-web', undefined, client.ClientSecretBasic(SECRET), { execute: [client.allowInsecureRequests] });
  assert.equal(config.serverMetadata().pushed_authorization_request_endpoint, `${issuer}oauth/par`);
  const verifier = client.randomPKCECodeVerifier();
  const nonce = client.randomNonce();
  const state = client.randomState();
  const url = await client.buildAuthorizationUrlWithPAR(config, {
    redirect_uri: CB, scope: 'openid profile', nonce, state,
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  });
  assert.deepEqual([...url.searchParams.keys()].sort(), ['client_id', 'request_uri']);
  const browser = new Browser(worker.origin, ADA);
  const back = await browser.authorize(url);
  const tokens = await client.authorizationCodeGrant(config, back.url, { pkceCodeVerifier: verifier, expectedNonce: nonce, expectedState: state });
  const jwks = jose.createRemoteJWKSet(new URL('/.well-known/jwks.json', worker.origin));
  const { payload } = await jose.jwtVerify(tokens.id_token, jwks, { issuer, audience: 'par-web' });
  assert.equal(payload.sub, ADA.user_id);
  assert.equal(payload.nonce, nonce);
  // The request_uri is used once.
  const again = await browser.fetch(url);
  assert.equal(again.status, 400);
  assert.equal(again.headers.get('location'), null);
  // This client must push: a plain request is refused.
  const plain = new URL('/authorize', worker.origin);
  plain.search = new URLSearchParams({ client_id: 'par-web', redirect_uri: CB, response_type: 'code', scope: 'openid' }).toString();
  assert.equal((await browser.fetch(plain)).status, 400);
});

test('oauth4webapi pushes as a public client; errors come back as JSON at push time', async () => {
  const as = await oauth.processDiscoveryResponse(new URL(issuer), await oauth.discoveryRequest(new URL(issuer), { [oauth.allowInsecureRequests]: true }));
  const spa = { client_id: 'par-spa' };
  const verifier = oauth.generateRandomCodeVerifier();
  const pushed = await oauth.processPushedAuthorizationResponse(as, spa, await oauth.pushedAuthorizationRequest(as, spa, oauth.None(), {
    redirect_uri: CB, response_type: 'code', scope: 'openid', state: 's1',
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  }, { [oauth.allowInsecureRequests]: true }));
  assert.match(pushed.request_uri, /^urn:ietf:params:oauth:request_uri:/);
  assert.equal(pushed.expires_in, 60);
  const url = new URL(as.authorization_endpoint);
  url.search = new URLSearchParams({ client_id: 'par-spa', request_uri: pushed.request_uri }).toString();
  const back = await new Browser(worker.origin, ADA).authorize(url);
  const params = oauth.validateAuthResponse(as, spa, back.url, 's1');
  const response = await oauth.authorizationCodeGrantRequest(as, spa, oauth.None(), params, CB, verifier, { [oauth.allowInsecureRequests]: true });
  const tokens = await oauth.processAuthorizationCodeResponse(as, spa, response);
  assert.ok(tokens.id_token);
  // Refused at push time, as JSON: an unregistered redirect URI, and a public client without PKCE.
  const refused = await oauthError(oauth.processPushedAuthorizationResponse(as, spa, await oauth.pushedAuthorizationRequest(as, spa, oauth.None(), {
    redirect_uri: 'https://evil.example/cb', response_type: 'code', scope: 'openid',
  }, { [oauth.allowInsecureRequests]: true })));
  assert.deepEqual([refused.status, refused.error], [400, 'invalid_request']);
  const noPkce = await oauthError(oauth.processPushedAuthorizationResponse(as, spa, await oauth.pushedAuthorizationRequest(as, spa, oauth.None(), {
    redirect_uri: CB, response_type: 'code', scope: 'openid',
  }, { [oauth.allowInsecureRequests]: true })));
  assert.deepEqual([noPkce.status, noPkce.error], [400, 'invalid_request']);
});
