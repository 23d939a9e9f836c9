// Machine clients, end to end: the client credentials grant (RFC 6749 §4.4) with Auth0's client
// grants, against the built Worker under workerd, driven by openid-client and oauth4webapi; every
// token verified with jose against the Worker's JWKS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import * as oauth from 'oauth4webapi';
import * as jose from 'jose';
import { ADMIN_TOKEN, INITIAL_ACCESS_TOKEN, importTenant, oauthError, startWorker } from './harness.mjs';

const API = 'https://orders.machines.test/';
const API_RS = 'https://reports.machines.test/';
const POST_SECRET = 'm2m-post-secret-0123456789abcdefghijklmn';
const BASIC_SECRET = 'm2m-basic-secret-0123456789abcdefghijklm';
const WEB_SECRET = 'rs-web-secret-0123456789abcdefghijklmnopq';

let worker;
let issuer;
let jwks;
let jwtKey;

before(async () => {
  worker = await startWorker();
  issuer = worker.url;
  jwks = jose.createRemoteJWKSet(new URL('/.well-known/jwks.json', worker.origin));
  const { privateKey, publicKey } = await jose.generateKeyPair('ES256', { extractable: true });
  const pub = await jose.exportJWK(publicKey);
  jwtKey = { privateKey, kid: await jose.calculateJwkThumbprint(pub) };
  const tenant = {
    clients: [
      { client_id: 'm2m-post', name: 'Orders sync', app_type: 'non_interactive', token_endpoint_auth_method: 'client_secret_post', client_secret: POST_SECRET, grant_types: ['client_credentials'] },
      { client_id: 'm2m-basic', name: 'Reports job', app_type: 'non_interactive', client_secret: BASIC_SECRET, grant_types: ['client_credentials'] },
      { client_id: 'm2m-jwt', name: 'Key job', app_type: 'non_interactive', token_endpoint_auth_method: 'private_key_jwt', grant_types: ['client_credentials'], jwks: { keys: [{ ...pub, kid: jwtKey.kid, alg: 'ES256', use: 'sig' }] } },
      // A resource server that introspects (first-party, confidential), with no grant of its own.
      { client_id: 'rs', name: 'Orders API', app_type: 'regular_web', client_secret: WEB_SECRET, redirect_uris: ['https://rs.example/cb'] },
    ],
    apis: [
      { identifier: API, name: 'Orders', signing_alg: 'ES256', token_lifetime_seconds: 600, scopes: [{ value: 'read:orders' }, { value: 'write:orders' }] },
      { identifier: API_RS, name: 'Reports', signing_alg: 'RS256', token_lifetime_seconds: 900, scopes: [{ value: 'read:orders' }, { value: 'read:reports' }] },
    ],
    client_grants: [
      { client_id: 'm2m-post', audience: API, scope: ['read:orders', 'write:orders'] },
      { client_id: 'm2m-basic', audience: API_RS, scope: ['read:reports'] },
      { client_id: 'm2m-jwt', audience: API, scope: ['read:orders'] },
    ],
  };
  await importTenant(worker, tenant);
});

after(async () => {
  await worker?.stop();
});

const insecure = { execute: [client.allowInsecureRequests] };
const configFor = (clientId, auth) => client.discovery(new URL(issuer), clientId, undefined, auth, insecure);

async function verifyAccessToken(token, { audience, alg }) {
  const { payload, protectedHeader } = await jose.jwtVerify(token, jwks, {
    issuer,
    audience,
    typ: 'at+jwt', // RFC 9068 §4
    algorithms: [alg],
  });
  assert.equal(protectedHeader.alg, alg);
  return payload;
}

async function introspect(token) {
  const rs = await configFor('rs', client.ClientSecretBasic(WEB_SECRET));
  return client.tokenIntrospection(rs, token);
}

test('discovery lists client_credentials', async () => {
  const config = await configFor('m2m-post', client.ClientSecretPost(POST_SECRET));
  assert.ok(config.serverMetadata().grant_types_supported.includes('client_credentials'));
});

test('openid-client: client_secret_post, client_secret_basic and private_key_jwt each get an RFC 9068 token for their API', async () => {
  const post = await configFor('m2m-post', client.ClientSecretPost(POST_SECRET));
  const a = await client.clientCredentialsGrant(post, { audience: API });
  assert.equal(a.token_type.toLowerCase(), 'bearer');
  assert.equal(a.scope, 'read:orders write:orders', 'none asked: all the client grant holds');
  assert.equal(a.refresh_token, undefined);
  assert.equal(a.id_token, undefined);
  const claims = await verifyAccessToken(a.access_token, { audience: API, alg: 'ES256' });
  assert.equal(claims.sub, 'm2m-post@clients');
  assert.equal(claims.client_id, 'm2m-post');
  assert.equal(claims.azp, 'm2m-post');
  assert.equal(claims.gty, 'client-credentials');
  assert.equal(claims.scope, 'read:orders write:orders');
  assert.equal(claims.exp - claims.iat, 600, 'the API’s lifetime');

  // RFC 8707 resource, Basic authentication, an RS256 API.
  const basic = await configFor('m2m-basic', client.ClientSecretBasic(BASIC_SECRET));
  const b = await client.clientCredentialsGrant(basic, { resource: API_RS });
  const bClaims = await verifyAccessToken(b.access_token, { audience: API_RS, alg: 'RS256' });
  assert.equal(bClaims.sub, 'm2m-basic@clients');
  assert.equal(bClaims.scope, 'read:reports');

  const jwt = await configFor('m2m-jwt', client.PrivateKeyJwt({ key: jwtKey.privateKey, kid: jwtKey.kid }));
  const c = await client.clientCredentialsGrant(jwt, { audience: API, scope: 'read:orders' });
  assert.equal((await verifyAccessToken(c.access_token, { audience: API, alg: 'ES256' })).sub, 'm2m-jwt@clients');
});

test('oauth4webapi: client credentials with a narrower scope', async () => {
  const as = await oauth.processDiscoveryResponse(
    new URL(issuer),
    await oauth.discoveryRequest(new URL(issuer), { [oauth.allowInsecureRequests]: true }),
  );
  const c = { client_id: 'm2m-post' };
  const response = await oauth.clientCredentialsGrantRequest(as, c, oauth.ClientSecretPost(POST_SECRET), { audience: API, scope: 'read:orders' }, { [oauth.allowInsecureRequests]: true });
  const result = await oauth.processClientCredentialsResponse(as, c, response);
  assert.equal(result.scope, 'read:orders');
  assert.equal((await verifyAccessToken(result.access_token, { audience: API, alg: 'ES256' })).scope, 'read:orders');
});

test('Auth0’s SDK shape: a JSON body with client_secret and audience', async () => {
  const res = await fetch(new URL('/oauth/token', worker.origin), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ grant_type: 'client_credentials', client_id: 'm2m-post', client_secret: POST_SECRET, audience: API }),
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  const body = await res.json();
  assert.equal((await verifyAccessToken(body.access_token, { audience: API, alg: 'ES256' })).gty, 'client-credentials');
});

test('refusals: each with its RFC code and status', async () => {
  const post = await configFor('m2m-post', client.ClientSecretPost(POST_SECRET));
  const basic = await configFor('m2m-basic', client.ClientSecretBasic(BASIC_SECRET));
  const cases = [
    ['no audience', () => client.clientCredentialsGrant(post, {}), 400, 'invalid_request'],
    ['unknown audience', () => client.clientCredentialsGrant(post, { audience: 'https://nowhere.machines.test/' }), 400, 'invalid_target'],
    ['an API it has no client grant for', () => client.clientCredentialsGrant(post, { audience: API_RS }), 403, 'access_denied'],
    ['a scope its client grant lacks', () => client.clientCredentialsGrant(basic, { audience: API_RS, scope: 'read:orders' }), 400, 'invalid_scope'],
    ['no client grant for this API', () => client.clientCredentialsGrant(basic, { audience: API }), 403, 'access_denied'],
  ];
  for (const [why, call, status, error] of cases) {
    const e = await oauthError(call());
    assert.deepEqual([e.status, e.error], [status, error], why);
  }
  const raw = async (params, headers = {}) => {
    const res = await fetch(new URL('/oauth/token', worker.origin), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams({ grant_type: 'client_credentials', audience: API, ...params }),
    });
    return [res.status, (await res.json()).error, res.headers.get('www-authenticate')];
  };
  const [status, error, challenge] = await raw({ client_id: 'm2m-post', client_secret: 'not-the-secret-0123456789abcdefghij' });
  assert.deepEqual([status, error], [401, 'invalid_client'], 'wrong secret');
  assert.match(challenge, /^Basic /);
  // rs authenticates with Basic, not in the body; with Basic it may not use the grant.
  assert.deepEqual((await raw({ client_id: 'rs', client_secret: WEB_SECRET })).slice(0, 2), [401, 'invalid_client']);
  const rs = 'Basic ' + Buffer.from(`rs:${WEB_SECRET}`).toString('base64');
  assert.deepEqual((await raw({}, { authorization: rs })).slice(0, 2), [400, 'unauthorized_client']);
});

test('introspection and revocation; deleting the client grant makes its tokens inactive', async () => {
  const post = await configFor('m2m-post', client.ClientSecretPost(POST_SECRET));
  const first = (await client.clientCredentialsGrant(post, { audience: API })).access_token;
  const second = (await client.clientCredentialsGrant(post, { audience: API })).access_token;
  const live = await introspect(first);
  assert.equal(live.active, true);
  assert.equal(live.sub, 'm2m-post@clients');
  assert.equal(live.client_id, 'm2m-post');
  assert.equal(live.token_type, 'Bearer');
  await client.tokenRevocation(post, first);
  assert.equal((await introspect(first)).active, false, 'revoked');
  assert.equal((await introspect(second)).active, true, 'one token at a time: the client grant is shared');
  const del = await fetch(new URL(`/admin/client-grants?client_id=m2m-post&audience=${encodeURIComponent(API)}`, worker.origin), {
    method: 'DELETE',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  assert.equal(del.status, 204);
  assert.equal((await introspect(second)).active, false, 'the client grant is gone');
  const e = await oauthError(client.clientCredentialsGrant(post, { audience: API }));
  assert.deepEqual([e.status, e.error], [403, 'access_denied']);
});

test('a dynamically registered client receives its registered scope (RFC 7591 §2), and deleting it ends its tokens', async () => {
  const registered = await client.dynamicClientRegistration(
    new URL(issuer),
    { grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic', scope: 'read:orders' },
    client.ClientSecretBasic(),
    { ...insecure, initialAccessToken: INITIAL_ACCESS_TOKEN },
  );
  const meta = registered.clientMetadata();
  const config = await configFor(meta.client_id, client.ClientSecretBasic(meta.client_secret));
  for (const [api, alg] of [[API, 'ES256'], [API_RS, 'RS256']]) {
    const t = await client.clientCredentialsGrant(config, { audience: api });
    assert.equal(t.scope, 'read:orders');
    assert.equal((await verifyAccessToken(t.access_token, { audience: api, alg })).sub, `${meta.client_id}@clients`);
  }
  const e = await oauthError(client.clientCredentialsGrant(config, { audience: API, scope: 'write:orders' }));
  assert.deepEqual([e.status, e.error], [400, 'invalid_scope']);
  const token = (await client.clientCredentialsGrant(config, { audience: API })).access_token;
  assert.equal((await introspect(token)).active, true);
  const del = await fetch(meta.registration_client_uri, { method: 'DELETE', headers: { authorization: `Bearer ${meta.registration_access_token}` } });
  assert.equal(del.status, 204);
  assert.equal((await introspect(token)).active, false);
});
