// DPoP server nonces (RFC 9449 §8, §9) against the built Worker with DPOP_NONCES=true:
// openid-client's DPoP handle learns the nonce from use_dpop_nonce and retries, at PAR, the
// token endpoint and /userinfo; a proof without a nonce, or with a forged one, is refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import * as jose from 'jose';
import { importTenant, startWorker } from './harness.mjs';
import { Browser } from './browser-jar.mjs';

const CB = 'https://nonce.example/cb';
const ADA = { user_id: 'auth0|ada', email: 'ada@example.com', password: 'correct horse battery', name: 'Ada Lovelace' };

let worker;

before(async () => {
  worker = await startWorker({ vars: { DPOP_NONCES: 'true' } });
  await importTenant(worker, {
    clients: [{ client_id: 'nonce-spa', name: 'Nonce SPA', app_type: 'spa', redirect_uris: [CB], grant_types: ['authorization_code', 'refresh_token'] }],
    users: [ADA],
  });
});

after(async () => {
  await worker?.stop();
});

async function proof(pair, htu, extra = {}) {
  const jwk = await jose.exportJWK(pair.publicKey);
  return new jose.SignJWT({ htm: 'POST', htu, jti: crypto.randomUUID(), ...extra })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk }).setIssuedAt().sign(pair.privateKey);
}

test('openid-client retries with the server nonce at PAR, the token endpoint and userinfo', async () => {
  const config = await client.discovery(new URL(worker.url), 'nonce-spa', undefined, client.None(), { execute: [client.allowInsecureRequests] });
  const pair = await jose.generateKeyPair('ES256', { extractable: false });
  const DPoP = client.getDPoPHandle(config, pair);
  const verifier = client.randomPKCECodeVerifier();
  const url = await client.buildAuthorizationUrlWithPAR(config, {
    redirect_uri: CB, scope: 'openid offline_access', state: 's-n',
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  }, { DPoP });
  const back = await new Browser(worker.origin, ADA).authorize(url);
  const tokens = await client.authorizationCodeGrant(config, back.url, { pkceCodeVerifier: verifier, expectedState: 's-n' }, undefined, { DPoP });
  assert.equal(tokens.token_type, 'dpop');
  assert.equal((await client.fetchUserInfo(config, tokens.access_token, ADA.user_id, { DPoP })).sub, ADA.user_id);
  assert.equal((await client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP })).token_type, 'dpop');
});

test('a proof without a current nonce gets use_dpop_nonce and a DPoP-Nonce to use', async () => {
  const pair = await jose.generateKeyPair('ES256');
  const par = `${worker.url}oauth/par`;
  const push = async (dpop) => fetch(par, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', dpop },
    body: new URLSearchParams({ client_id: 'nonce-spa', redirect_uri: CB, response_type: 'code', scope: 'openid',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' }),
  });
  const first = await push(await proof(pair, par));
  assert.deepEqual([first.status, (await first.json()).error], [400, 'use_dpop_nonce']);
  const nonce = first.headers.get('dpop-nonce');
  assert.ok(nonce);
  const forged = await push(await proof(pair, par, { nonce: 'not-ours' }));
  assert.deepEqual([forged.status, (await forged.json()).error], [400, 'use_dpop_nonce']);
  const ok = await push(await proof(pair, par, { nonce }));
  assert.equal(ok.status, 201);
  assert.ok(ok.headers.get('dpop-nonce'));
});
