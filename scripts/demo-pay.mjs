// A payment authorized with PAR + JAR + RAR, as a FAPI 2.0-style client does it, against the
// Worker `npm start` runs:
//
//   npm run demo:pay [-- AMOUNT CREDITOR]      (default: 123.50 EUR to Merchant A)
//
// The demo-fapi client (demo/tenant.json) signs a request object carrying
// `authorization_details` (RFC 9396) with its key (demo/fapi-client-key.json, ES256), pushes it
// to /oauth/par (RFC 9126) authenticating with private_key_jwt and with a DPoP proof (RFC 9449:
// the payments API takes DPoP-bound tokens only), and prints the short /authorize URL to open. Log in as Ada; the consent page says "Pay 123.50 EUR to Merchant A". The browser
// comes back to http://127.0.0.1:3001/callback, where this script listens, exchanges the code
// and prints the granted authorization_details and the access token's claims (verified with
// jose against the Worker's JWKS).
//
// `payWithRar` is also what tests/e2e/demo-pay.test.mjs runs, with a scripted browser.
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as client from 'openid-client';
import * as jose from 'jose';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..');
export const CALLBACK = 'http://127.0.0.1:3001/callback';
export const PAYMENTS_API = 'https://payments.gatehouse.local/';

/** The demo-fapi client's signing key (demo only). */
export async function demoKey() {
  const { _comment, ...jwk } = JSON.parse(readFileSync(join(ROOT, 'demo', 'fapi-client-key.json'), 'utf8'));
  return { key: await jose.importJWK(jwk, 'ES256'), kid: jwk.kid };
}

/**
 * Runs the whole flow. `open(url)` takes the user through /authorize and resolves with the
 * callback URL the browser was sent to.
 */
export async function payWithRar({ issuer, amount = '123.50', creditor = 'Merchant A', open }) {
  const key = await demoKey();
  const config = await client.discovery(new URL(issuer), 'demo-fapi', undefined, client.PrivateKeyJwt(key),
    { execute: [client.allowInsecureRequests] });
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const details = [{ type: 'payment_initiation', instructedAmount: { currency: 'EUR', amount }, creditorName: creditor }];
  // A fresh DPoP key for this run (non-extractable): the code and the tokens are bound to it.
  const dpopKey = await jose.generateKeyPair('ES256', { extractable: false });
  const DPoP = client.getDPoPHandle(config, dpopKey);
  // JAR: the request, signed; then PAR: pushed, leaving client_id and request_uri in the URL.
  const signed = await client.buildAuthorizationUrlWithJAR(config, {
    redirect_uri: CALLBACK, scope: 'openid payments', audience: PAYMENTS_API, state, nonce,
    authorization_details: JSON.stringify(details),
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  }, key);
  const url = await client.buildAuthorizationUrlWithPAR(config, signed.searchParams, { DPoP });
  const back = await open(url);
  const tokens = await client.authorizationCodeGrant(config, back, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce }, undefined, { DPoP });
  const jwks = jose.createRemoteJWKSet(new URL('.well-known/jwks.json', issuer));
  const { payload: access } = await jose.jwtVerify(tokens.access_token, jwks, { issuer, audience: PAYMENTS_API, typ: 'at+jwt' });
  const jkt = await jose.calculateJwkThumbprint(await jose.exportJWK(dpopKey.publicKey));
  return { url, details, tokens, access, jkt };
}

/** Waits for the browser at the callback; resolves with the URL it was sent to. */
function callbackServer() {
  let done;
  const arrived = new Promise((resolve) => { done = resolve; });
  const server = createServer((req, res) => {
    const url = new URL(req.url, CALLBACK);
    if (url.pathname !== '/callback') return res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('Back at the payments app: see the terminal. You can close this tab.\n');
    done(url);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(3001, '127.0.0.1', () => resolve({ arrived, close: () => server.close() }));
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const issuer = process.env.ISSUER || `http://127.0.0.1:${process.env.PORT || 8787}/`;
  const [amount, creditor] = process.argv.slice(2);
  const callback = await callbackServer();
  try {
    const result = await payWithRar({
      issuer, amount, creditor,
      open: async (url) => {
        console.log(`Open this URL in a browser and log in as ada@example.com / correct horse battery staple:\n\n  ${url}\n`);
        return callback.arrived;
      },
    });
    console.log('authorization_details granted (token response):');
    console.log(JSON.stringify(result.tokens.authorization_details, null, 2));
    console.log('\naccess token claims (verified with jose):');
    console.log(JSON.stringify(result.access, null, 2));
  } catch (e) {
    console.error(`failed: ${e.message}${e.error ? ` (${e.error}: ${e.error_description ?? ''})` : ''}`);
    process.exitCode = 1;
  } finally {
    callback.close();
  }
}
