// The README's PAR + JAR + RAR walkthrough (`npm run demo:pay`), run as it is against the built
// Worker with the demo tenant: openid-client signs the request object with the demo-fapi key,
// pushes it with private_key_jwt, the user consents to the payment in words, and the granted
// authorization_details come back in the token response and in the access token (jose).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import { ADMIN_TOKEN, startWorker } from './harness.mjs';
import { Browser } from './browser-jar.mjs';
import { tenantFile } from '../../scripts/admin.mjs';
import { CALLBACK, PAYMENTS_API, demoKey, payWithRar } from '../../scripts/demo-pay.mjs';

const ADA = { email: 'ada@example.com', password: 'correct horse battery staple' };
let worker;

before(async () => {
  worker = await startWorker();
  const r = await fetch(`${worker.origin}/admin/tenant`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: tenantFile(worker.origin, undefined, 'http://127.0.0.1:5173'),
  });
  assert.equal(r.status, 200, await r.text());
});

after(async () => {
  await worker?.stop();
});

test('demo:pay authorizes one payment, shown to the user in words', async () => {
  const meta = await (await fetch(new URL('/.well-known/openid-configuration', worker.origin))).json();
  assert.deepEqual(meta.authorization_details_types_supported, ['payment_initiation']);
  // Two payments by the same user: each asks for consent, each token carries only its own.
  const browser = new Browser(worker.origin, ADA);
  for (const [amount, creditor] of [['123.50', 'Merchant A'], ['9.99', 'Merchant B']]) {
    browser.lastConsentPage = undefined;
    const result = await payWithRar({
      issuer: worker.url, amount, creditor,
      open: async (url) => {
        assert.deepEqual([...url.searchParams.keys()].sort(), ['client_id', 'request_uri']);
        const back = await browser.authorize(url);
        assert.equal(back.url.origin + back.url.pathname, CALLBACK);
        return back.url;
      },
    });
    assert.match(browser.lastConsentPage ?? '', new RegExp(`Pay ${amount.replace('.', '\\.')} EUR to ${creditor}`));
    assert.deepEqual(result.tokens.authorization_details, result.details);
    assert.deepEqual(result.access.authorization_details, result.details);
    assert.deepEqual(result.access.aud, [PAYMENTS_API, `${worker.url}userinfo`]);
    assert.equal(result.access.scope, 'openid payments');
    // Sender-constrained (RFC 9449): bound to this run's DPoP key.
    assert.equal(result.tokens.token_type, 'dpop');
    assert.equal(result.access.cnf.jkt, result.jkt);
  }
});

test('demo-fapi may not skip the signed, pushed request, nor ask for another type', async () => {
  const key = await demoKey();
  const config = await client.discovery(new URL(worker.url), 'demo-fapi', undefined, client.PrivateKeyJwt(key),
    { execute: [client.allowInsecureRequests] });
  const base = { redirect_uri: CALLBACK, scope: 'openid payments', audience: PAYMENTS_API,
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' };
  // Pushed but unsigned: require_signed_request_object.
  await assert.rejects(client.buildAuthorizationUrlWithPAR(config, base), (e) => e.error === 'invalid_request');
  // Signed but not pushed: require_pushed_authorization_requests.
  const direct = await client.buildAuthorizationUrlWithJAR(config, base, key);
  const page = await new Browser(worker.origin, ADA).fetch(direct);
  assert.equal(page.status, 400);
  assert.match(await page.text(), /<strong>invalid_request<\/strong>/);
  assert.equal(page.headers.get('location'), null);
  // Signed and pushed, with a detail of a type the API does not accept.
  const other = await client.buildAuthorizationUrlWithJAR(config, {
    ...base, authorization_details: JSON.stringify([{ type: 'account_information' }]),
  }, key);
  await assert.rejects(client.buildAuthorizationUrlWithPAR(config, other.searchParams), (e) => e.error === 'invalid_authorization_details');
});
