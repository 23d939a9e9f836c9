// The foundation, end to end: the built Worker under workerd, driven over HTTP by real clients.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import * as jose from 'jose';
import { ADMIN_TOKEN, startWorker, tempDir, untilAnswered } from './harness.mjs';

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

let worker;
before(async () => {
  worker = await startWorker();
});
after(async () => {
  await worker?.stop();
});

const get = (path, init) => fetch(new URL(path, worker.origin), init);
const admin = (method, path, token = ADMIN_TOKEN, body) =>
  fetch(new URL(path, worker.origin), {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body,
  });

test('openid-client discovers the Worker; the issuer is the origin followed by "/"', async () => {
  const config = await client.discovery(new URL(worker.url), 'any-client', undefined, undefined, {
    execute: [client.allowInsecureRequests],
  });
  const metadata = config.serverMetadata();
  assert.equal(metadata.issuer, worker.url);
  assert.equal(metadata.jwks_uri, `${worker.origin}/.well-known/jwks.json`);
  assert.deepEqual(metadata.id_token_signing_alg_values_supported, ['RS256', 'ES256']);
  assert.equal(metadata.authorization_endpoint, `${worker.origin}/authorize`);
  assert.equal(metadata.token_endpoint, `${worker.origin}/oauth/token`);
  assert.equal(metadata.device_authorization_endpoint, `${worker.origin}/oauth/device/code`);
  // Nothing unimplemented is advertised.
  assert.equal(metadata.pushed_authorization_request_endpoint, `${worker.origin}/oauth/par`);
  assert.equal(metadata.require_pushed_authorization_requests, false);
  assert.equal(metadata.backchannel_authentication_endpoint, `${worker.origin}/bc-authorize`);
  for (const absent of ['id_token_encryption_alg_values_supported', 'backchannel_authentication_request_signing_alg_values_supported']) {
    assert.equal(metadata[absent], undefined, absent);
  }
});

test('RFC 8414 metadata is discoverable too', async () => {
  const config = await client.discovery(new URL(worker.url), 'any-client', undefined, undefined, {
    execute: [client.allowInsecureRequests],
    algorithm: 'oauth2',
  });
  assert.equal(config.serverMetadata().issuer, worker.url);
});

test('the JWKS holds RSA and P-256 public keys whose kids are their RFC 7638 thumbprints', async () => {
  const res = await get('/.well-known/jwks.json');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('cache-control'), /^public, max-age=\d+/);
  assert.equal(res.headers.get('access-control-allow-origin'), '*');
  const { keys } = await res.json();
  assert.equal(keys.filter((k) => k.kty === 'RSA').length, 2, 'current and next RSA keys');
  assert.equal(keys.filter((k) => k.kty === 'EC' && k.crv === 'P-256').length, 2, 'current and next P-256 keys');
  for (const key of keys) {
    for (const member of PRIVATE_MEMBERS) assert.equal(key[member], undefined, `${key.kid} publishes ${member}`);
    assert.equal(key.kid, await jose.calculateJwkThumbprint(key, 'sha256'));
    assert.equal(key.use, 'sig');
    assert.equal(key.alg, key.kty === 'RSA' ? 'RS256' : 'ES256');
    await jose.importJWK(key, key.alg); // a usable public key
    if (key.kty === 'RSA') assert.ok(Buffer.from(key.n, 'base64url').length >= 256, 'RSA keys are ≥ 2048 bits');
  }
});

test('signed_metadata (RFC 8414 §2.1) is an RS256 JWT that jose verifies against the JWKS', async () => {
  const doc = await (await get('/.well-known/oauth-authorization-server')).json();
  const jwks = jose.createLocalJWKSet(await (await get('/.well-known/jwks.json')).json());
  const { payload, protectedHeader } = await jose.jwtVerify(doc.signed_metadata, jwks, {
    issuer: worker.url,
    algorithms: ['RS256'],
  });
  assert.equal(protectedHeader.alg, 'RS256');
  assert.equal(payload.jwks_uri, doc.jwks_uri);
  assert.ok(Math.abs(payload.iat - Date.now() / 1000) < 60);
  // A flipped signature byte is refused.
  const [h, p, s] = doc.signed_metadata.split('.');
  const sig = Buffer.from(s, 'base64url');
  sig[0] ^= 1;
  await assert.rejects(jose.jwtVerify(`${h}.${p}.${sig.toString('base64url')}`, jwks), /signature/);
});

test('unknown paths are JSON 404s; wrong methods are 405 with Allow', async () => {
  for (const path of ['/', '/nope', '/.well-known/jwks.json/', '/%00', '/%E2%80%AE', '/.well-known%2F..%2Fadmin%2Fkeys', '/' + 'a'.repeat(8000)]) {
    const res = await get(path);
    assert.equal(res.status, 404, path.slice(0, 40));
    assert.equal((await res.json()).error, 'not_found');
  }
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
    const res = await get('/.well-known/openid-configuration', { method, body: method === 'DELETE' ? undefined : 'x' });
    assert.equal(res.status, 405, method);
    assert.equal(res.headers.get('allow'), 'GET, HEAD, OPTIONS');
  }
  const head = await get('/.well-known/jwks.json', { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal((await head.arrayBuffer()).byteLength, 0);
  const preflight = await get('/.well-known/jwks.json', {
    method: 'OPTIONS',
    headers: { origin: 'https://spa.example', 'access-control-request-method': 'GET' },
  });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get('access-control-allow-origin'), '*');
});

test('hostile input gets a 4xx, never a 5xx', async () => {
  const big = 'x'.repeat(2 * 1024 * 1024);
  const cases = [
    () => untilAnswered(() => admin('PUT', '/admin/tenant', ADMIN_TOKEN, big)),
    () => admin('PUT', '/admin/tenant', ADMIN_TOKEN, '{"clients":[{"client_id":"\u0000\u202e"}]}'),
    () => admin('PUT', '/admin/tenant', ADMIN_TOKEN, '{"users":[{"user_id":"u","email":"a@b","password":"x"}]}'),
    () => admin('PUT', '/admin/tenant', ADMIN_TOKEN, '[]'),
    () => admin('PUT', '/admin/tenant', 'wrong', '{}'),
    () => admin('POST', '/admin/keys/rotate', 'Bearer'),
    () => get('/admin/keys', { headers: { authorization: 'Basic ' + Buffer.from('a:b').toString('base64') } }),
  ];
  for (const [i, call] of cases.entries()) {
    const res = await call();
    assert.ok(res.status >= 400 && res.status < 500, `case ${i}: ${res.status}`);
    const body = await res.json();
    assert.ok(typeof body.error === 'string', `case ${i} has an error code`);
  }
  // Unknown query parameters on metadata are ignored.
  assert.equal((await get('/.well-known/jwks.json?' + 'q=%00&'.repeat(2000))).status, 200);
});

test('the tenant import hashes passwords with PBKDF2 inside workerd and stores no plaintext', async () => {
  const res = await admin(
    'PUT',
    '/admin/tenant',
    ADMIN_TOKEN,
    JSON.stringify({ users: [{ user_id: 'auth0|u1', email: 'Ada@Example.com', password: 'correct horse battery' }] }),
  );
  assert.equal(res.status, 200);
  assert.deepEqual((await res.json()).imported, { clients: 0, apis: 0, users: 1, client_grants: 0 });
  const kv = await worker.mf.getKVNamespace('GATEHOUSE_KV');
  const user = await kv.get('user/auth0|u1', 'json');
  assert.equal(user.password.alg, 'pbkdf2-sha256');
  assert.equal(user.password.iterations, 100000);
  assert.ok(!JSON.stringify(user).includes('correct horse'));
  assert.equal(await kv.get('user-email/ada@example.com'), 'auth0|u1');
});

test('rotation: the operator promotes the next key; retired keys stay published', async () => {
  assert.equal((await admin('POST', '/admin/keys/rotate', 'not-the-token')).status, 401);
  const before = (await (await get('/.well-known/jwks.json')).json()).keys;
  const listed = await (await admin('GET', '/admin/keys')).json();
  const nextRsa = listed.keys.find((k) => k.alg === 'RS256' && k.status === 'next').kid;
  const res = await admin('POST', '/admin/keys/rotate');
  assert.equal(res.status, 200);
  const state = await res.json();
  assert.equal(state.generation, listed.generation + 1);
  const after = (await (await get('/.well-known/jwks.json')).json()).keys;
  assert.equal(after.length, before.length + 2);
  for (const key of before) assert.ok(after.some((k) => k.kid === key.kid), `${key.kid} still published`);
  // New tokens are signed by the promoted key.
  const doc = await (await get('/.well-known/oauth-authorization-server')).json();
  assert.equal(jose.decodeProtectedHeader(doc.signed_metadata).kid, nextRsa);
  await jose.jwtVerify(doc.signed_metadata, jose.createLocalJWKSet({ keys: after }), { issuer: worker.url });
});

test('signing keys are created exactly once when many requests race on a fresh deployment', async () => {
  const fresh = await startWorker();
  try {
    const bodies = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        fetch(`${fresh.origin}${i % 2 ? '/.well-known/jwks.json' : '/.well-known/oauth-authorization-server'}`).then(
          async (r) => ({ status: r.status, body: await r.json() }),
        ),
      ),
    );
    const jwks = (await (await fetch(`${fresh.origin}/.well-known/jwks.json`)).json()).keys;
    assert.equal(jwks.length, 4);
    const kids = new Set(jwks.map((k) => k.kid));
    const local = jose.createLocalJWKSet({ keys: jwks });
    for (const { status, body } of bodies) {
      assert.equal(status, 200);
      if (body.keys) assert.deepEqual(new Set(body.keys.map((k) => k.kid)), kids);
      else await jose.jwtVerify(body.signed_metadata, local, { issuer: fresh.url });
    }
    const listed = await (
      await fetch(`${fresh.origin}/admin/keys`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
    ).json();
    assert.equal(listed.generation, 1);
  } finally {
    await fresh.stop();
  }
});

test('keys persist across restarts; another key-encryption key cannot open them', async () => {
  const tmp = tempDir();
  try {
    const first = await startWorker({ persistDir: tmp.dir });
    const keys1 = (await (await fetch(`${first.origin}/.well-known/jwks.json`)).json()).keys;
    await first.stop();
    const second = await startWorker({ persistDir: tmp.dir, kek: first.kek });
    const keys2 = (await (await fetch(`${second.origin}/.well-known/jwks.json`)).json()).keys;
    assert.deepEqual(keys2, keys1);
    const doc = await (await fetch(`${second.origin}/.well-known/oauth-authorization-server`)).json();
    await jose.jwtVerify(doc.signed_metadata, jose.createLocalJWKSet({ keys: keys2 }), { issuer: second.url });
    await second.stop();
    const wrong = await startWorker({ persistDir: tmp.dir });
    const res = await fetch(`${wrong.origin}/.well-known/oauth-authorization-server`);
    assert.equal(res.status, 500);
    assert.deepEqual(await res.json(), {
      error: 'server_error',
      error_description: 'the server could not complete the request',
    });
    await wrong.stop();
  } finally {
    tmp.remove();
  }
});
