// DPoP (RFC 9449) end to end against the built Worker: openid-client and oauth4webapi with
// their DPoP handles (a non-extractable ES256 key), bound codes (PAR, dpop_jkt), bound access
// and refresh tokens checked with jose, /userinfo with the DPoP scheme, introspection, one
// proof replayed concurrently, and a refusal after the ledger decided (undone on the Durable
// Object: the code and the refresh token stay usable).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import * as oauth from 'oauth4webapi';
import * as jose from 'jose';
import { importTenant, oauthError, startWorker } from './harness.mjs';
import { Browser } from './browser-jar.mjs';

const CB = 'https://dpop.example/cb';
const SECRET = 'dpop-secret-0123456789abcdefghijklmnopqrs';
const RS_SECRET = 'dpop-rs-secret-0123456789abcdefghijklmno';
const API = 'https://dpop-api.example/';
const ADA = { user_id: 'auth0|ada', email: 'ada@example.com', password: 'correct horse battery', name: 'Ada Lovelace' };
const insecure = { [oauth.allowInsecureRequests]: true };

let worker;
let jwks;

before(async () => {
  worker = await startWorker();
  jwks = jose.createRemoteJWKSet(new URL('/.well-known/jwks.json', worker.origin));
  await importTenant(worker, {
    apis: [{ identifier: API, name: 'DPoP API', signing_alg: 'ES256', allow_offline_access: true, require_dpop: true,
      scopes: [{ value: 'read', description: 'Read' }] }],
    clients: [
      { client_id: 'dpop-spa', name: 'DPoP SPA', app_type: 'spa', redirect_uris: [CB], grant_types: ['authorization_code', 'refresh_token'] },
      { client_id: 'dpop-web', name: 'DPoP Web', app_type: 'regular_web', client_secret: SECRET, redirect_uris: [CB] },
      { client_id: 'dpop-rs', name: 'DPoP API server', app_type: 'non_interactive', client_secret: RS_SECRET, grant_types: ['client_credentials'] },
    ],
    client_grants: [{ client_id: 'dpop-rs', audience: API, scope: ['read'] }],
    users: [ADA],
  });
});

after(async () => {
  await worker?.stop();
});

const keyPair = () => jose.generateKeyPair('ES256', { extractable: false });

test('openid-client: a public client pushes with a proof, and its tokens are bound to the key', async () => {
  const config = await client.discovery(new URL(worker.url), 'dpop-spa', undefined, client.None(), { execute: [client.allowInsecureRequests] });
  assert.deepEqual(config.serverMetadata().dpop_signing_alg_values_supported, ['RS256', 'ES256', 'PS256']);
  const pair = await keyPair();
  const DPoP = client.getDPoPHandle(config, pair);
  const jkt = await jose.calculateJwkThumbprint(await jose.exportJWK(pair.publicKey));
  const verifier = client.randomPKCECodeVerifier();
  const url = await client.buildAuthorizationUrlWithPAR(config, {
    redirect_uri: CB, scope: 'openid offline_access read', audience: API, state: 's-d',
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  }, { DPoP });
  const back = await new Browser(worker.origin, ADA).authorize(url);
  const tokens = await client.authorizationCodeGrant(config, back.url, { pkceCodeVerifier: verifier, expectedState: 's-d' }, undefined, { DPoP });
  assert.equal(tokens.token_type, 'dpop');
  const { payload } = await jose.jwtVerify(tokens.access_token, jwks, { issuer: worker.url, typ: 'at+jwt' });
  assert.equal(payload.cnf.jkt, jkt);
  // /userinfo with the DPoP scheme and a proof (openid-client adds ath).
  const info = await client.fetchUserInfo(config, tokens.access_token, ADA.user_id, { DPoP });
  assert.equal(info.sub, ADA.user_id);
  // The refresh token is bound: with the key it works, without it does not.
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP });
  assert.equal(refreshed.token_type, 'dpop');
  const stolen = await fetch(new URL('/oauth/token', worker.origin), {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', client_id: 'dpop-spa', refresh_token: refreshed.refresh_token }),
  });
  assert.deepEqual([stolen.status, (await stolen.json()).error], [400, 'invalid_grant']);
  // The bound access token is no bearer token.
  const bearer = await fetch(new URL('/userinfo', worker.origin), { headers: { authorization: `Bearer ${refreshed.access_token}` } });
  assert.equal(bearer.status, 401);
  // The API requires DPoP: a login without a proof gets no token for it.
  const v2 = client.randomPKCECodeVerifier();
  const plainUrl = client.buildAuthorizationUrl(config, { redirect_uri: CB, scope: 'openid read', audience: API, state: 's-p',
    code_challenge: await client.calculatePKCECodeChallenge(v2), code_challenge_method: 'S256' });
  const plainBack = await new Browser(worker.origin, ADA).authorize(plainUrl);
  const refused = await oauthError(client.authorizationCodeGrant(config, plainBack.url, { pkceCodeVerifier: v2, expectedState: 's-p' }));
  assert.equal(refused.error, 'invalid_dpop_proof');
});

test('oauth4webapi: dpop_jkt binds the code; the confidential client introspects cnf', async () => {
  const as = await oauth.processDiscoveryResponse(new URL(worker.url), await oauth.discoveryRequest(new URL(worker.url), insecure));
  const web = { client_id: 'dpop-web' };
  const pair = await keyPair();
  const DPoP = oauth.DPoP(web, pair);
  const jkt = await jose.calculateJwkThumbprint(await jose.exportJWK(pair.publicKey));
  const verifier = oauth.generateRandomCodeVerifier();
  const url = new URL(as.authorization_endpoint);
  url.search = new URLSearchParams({ client_id: 'dpop-web', redirect_uri: CB, response_type: 'code', scope: 'openid read', audience: API,
    state: 's-w', dpop_jkt: jkt, code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }).toString();
  const back = await new Browser(worker.origin, ADA).authorize(url);
  const params = oauth.validateAuthResponse(as, web, back.url, 's-w');
  // Another key cannot redeem the code.
  const thief = oauth.DPoP(web, await keyPair());
  const stolen = await oauthError(oauth.processAuthorizationCodeResponse(as, web,
    await oauth.authorizationCodeGrantRequest(as, web, oauth.ClientSecretBasic(SECRET), params, CB, verifier, { ...insecure, DPoP: thief })));
  assert.equal(stolen.error, 'invalid_grant');
  const tokens = await oauth.processAuthorizationCodeResponse(as, web,
    await oauth.authorizationCodeGrantRequest(as, web, oauth.ClientSecretBasic(SECRET), params, CB, verifier, { ...insecure, DPoP }));
  assert.equal(tokens.token_type, 'dpop');
  const info = await oauth.processUserInfoResponse(as, web, ADA.user_id, await oauth.userInfoRequest(as, web, tokens.access_token, { ...insecure, DPoP }));
  assert.equal(info.sub, ADA.user_id);
  const rs = { client_id: 'dpop-rs' };
  const introspected = await oauth.processIntrospectionResponse(as, rs,
    await oauth.introspectionRequest(as, rs, oauth.ClientSecretBasic(RS_SECRET), tokens.access_token, insecure));
  assert.deepEqual([introspected.token_type, introspected.cnf?.jkt], ['DPoP', jkt]);
});

test('one proof sent five times at once is accepted once', async () => {
  const pair = await keyPair();
  // One proof for a client-credentials token, replayed at once: its jti is decided once, on
  // the ledger.
  const proofFor = async () => {
    const jwk = await jose.exportJWK(pair.publicKey);
    return new jose.SignJWT({ htm: 'POST', htu: `${worker.url}oauth/token`, jti: crypto.randomUUID() })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk }).setIssuedAt().sign(pair.privateKey);
  };
  const proof = await proofFor();
  const ask = () => fetch(new URL('/oauth/token', worker.origin), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: proof,
      authorization: `Basic ${Buffer.from(`dpop-rs:${RS_SECRET}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials', audience: API }),
  });
  const answers = await Promise.all(Array.from({ length: 5 }, ask));
  const statuses = answers.map((r) => r.status).sort();
  assert.deepEqual(statuses, [200, 400, 400, 400, 400]);
});

test('oauth4webapi: a token request refused after the ledger decided (no proof for a DPoP-only API) leaves the code and the refresh token usable', async () => {
  // The code's use and the rotation are decided on the ledger before the tokens are minted;
  // the refusal that follows (the API requires DPoP) undoes them on the Durable Object.
  const as = await oauth.processDiscoveryResponse(new URL(worker.url), await oauth.discoveryRequest(new URL(worker.url), insecure));
  const web = { client_id: 'dpop-web' };
  const auth = oauth.ClientSecretBasic(SECRET);
  const DPoP = oauth.DPoP(web, await keyPair());
  const verifier = oauth.generateRandomCodeVerifier();
  const url = new URL(as.authorization_endpoint);
  url.search = new URLSearchParams({ client_id: 'dpop-web', redirect_uri: CB, response_type: 'code', scope: 'openid offline_access read',
    audience: API, state: 's-u', code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }).toString();
  const back = await new Browser(worker.origin, ADA).authorize(url);
  const params = oauth.validateAuthResponse(as, web, back.url, 's-u');
  const exchange = async (options) => oauth.processAuthorizationCodeResponse(as, web,
    await oauth.authorizationCodeGrantRequest(as, web, auth, params, CB, verifier, { ...insecure, ...options }));
  assert.equal((await oauthError(exchange({}))).error, 'invalid_dpop_proof');
  const tokens = await exchange({ DPoP });
  assert.equal(tokens.token_type, 'dpop', 'the same code, now with a proof');
  assert.ok(tokens.refresh_token);
  // A confidential client's refresh token is not bound; without a proof the API refuses.
  const refresh = async (options) => oauth.processRefreshTokenResponse(as, web,
    await oauth.refreshTokenGrantRequest(as, web, auth, tokens.refresh_token, { ...insecure, ...options }));
  assert.equal((await oauthError(refresh({}))).error, 'invalid_dpop_proof');
  const refreshed = await refresh({ DPoP });
  assert.equal(refreshed.token_type, 'dpop', 'the same refresh token, now with a proof');
  // The grant stands: the first access token is active, and the replaced refresh token is now
  // a reuse that ends it.
  const rs = { client_id: 'dpop-rs' };
  const active = async () => (await oauth.processIntrospectionResponse(as, rs,
    await oauth.introspectionRequest(as, rs, oauth.ClientSecretBasic(RS_SECRET), tokens.access_token, insecure))).active;
  assert.equal(await active(), true);
  assert.equal((await oauthError(refresh({ DPoP }))).error, 'invalid_grant');
  assert.equal(await active(), false);
});
