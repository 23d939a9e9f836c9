// Rich authorization requests (RFC 9396) end to end with oauth4webapi: authorization_details in
// a pushed request and in a signed request object, the consent page, the token response, the
// access token (verified with jose), introspection, and a refresh that narrows but never widens.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as oauth from 'oauth4webapi';
import * as jose from 'jose';
import { importTenant, oauthError, startWorker } from './harness.mjs';
import { Browser } from './browser-jar.mjs';

const CB = 'https://bank.example/cb';
const SECRET = 'rar-secret-0123456789abcdefghijklmnopqrst';
const RS_SECRET = 'rs-secret-0123456789abcdefghijklmnopqrstu';
const BANK = 'https://bank.example/api/';
const ADA = { user_id: 'auth0|ada', email: 'ada@example.com', password: 'correct horse battery', name: 'Ada Lovelace' };
const insecure = { [oauth.allowInsecureRequests]: true };

let worker;
let as;
let key;
const app = { client_id: 'rar-web' };
const auth = () => oauth.ClientSecretBasic(SECRET);

const payment = (amount, creditorName) => ({ type: 'payment_initiation', instructedAmount: { currency: 'EUR', amount }, creditorName });
const accounts = { type: 'account_information', actions: ['list_accounts'] };

before(async () => {
  worker = await startWorker();
  const pair = await jose.generateKeyPair('ES256', { extractable: true });
  key = { key: pair.privateKey, kid: 'rar-1' };
  await importTenant(worker, {
    apis: [{ identifier: BANK, name: 'Bank', signing_alg: 'ES256', allow_offline_access: true,
      scopes: [{ value: 'banking', description: 'Banking' }],
      authorization_details: [
        { type: 'payment_initiation', required: ['instructedAmount.amount', 'creditorName'],
          description: 'Pay {instructedAmount.amount} {instructedAmount.currency} to {creditorName}' },
        { type: 'account_information' }] }],
    clients: [
      { client_id: 'rar-web', name: 'Bank App', app_type: 'regular_web', client_secret: SECRET, redirect_uris: [CB],
        jwks: { keys: [{ ...(await jose.exportJWK(pair.publicKey)), kid: 'rar-1' }] } },
      // A resource server that introspects.
      { client_id: 'bank-rs', name: 'Bank API', app_type: 'non_interactive', client_secret: RS_SECRET, grant_types: ['client_credentials'] },
    ],
    users: [ADA],
  });
  as = await oauth.processDiscoveryResponse(new URL(worker.url), await oauth.discoveryRequest(new URL(worker.url), insecure));
});

after(async () => {
  await worker?.stop();
});

async function login(parameters, { signed }) {
  const verifier = oauth.generateRandomCodeVerifier();
  const params = {
    redirect_uri: CB, response_type: 'code', scope: 'openid banking offline_access', audience: BANK, state: 's-rar',
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...parameters,
  };
  const body = signed ? { request: await oauth.issueRequestObject(as, app, params, key) } : params;
  const pushed = await oauth.processPushedAuthorizationResponse(as, app, await oauth.pushedAuthorizationRequest(as, app, auth(), body, insecure));
  const url = new URL(as.authorization_endpoint);
  url.search = new URLSearchParams({ client_id: app.client_id, request_uri: pushed.request_uri }).toString();
  const browser = new Browser(worker.origin, ADA);
  const back = await browser.authorize(url);
  const callback = oauth.validateAuthResponse(as, app, back.url, 's-rar');
  const response = await oauth.authorizationCodeGrantRequest(as, app, auth(), callback, CB, verifier, insecure);
  return { tokens: await oauth.processAuthorizationCodeResponse(as, app, response), consent: browser.lastConsentPage };
}

async function introspect(token) {
  const r = await oauth.introspectionRequest(as, { client_id: 'bank-rs' }, oauth.ClientSecretBasic(RS_SECRET), token, insecure);
  return oauth.processIntrospectionResponse(as, { client_id: 'bank-rs' }, r);
}

test('details pushed, in a request object or not, reach the tokens; a refresh narrows only', async () => {
  const jwks = jose.createRemoteJWKSet(new URL('/.well-known/jwks.json', worker.origin));
  for (const signed of [false, true]) {
    const details = [payment('123.50', signed ? 'Merchant S' : 'Merchant P'), accounts];
    const { tokens, consent } = await login({ authorization_details: JSON.stringify(details) }, { signed });
    assert.match(consent, new RegExp(`Pay 123\\.50 EUR to ${signed ? 'Merchant S' : 'Merchant P'}`));
    assert.deepEqual(tokens.authorization_details, details);
    const { payload } = await jose.jwtVerify(tokens.access_token, jwks, { issuer: worker.url, typ: 'at+jwt' });
    assert.deepEqual(payload.authorization_details, details);
    assert.deepEqual((await introspect(tokens.access_token)).authorization_details, details);
    // Narrow to the payment alone.
    const narrowed = await oauth.processRefreshTokenResponse(as, app, await oauth.refreshTokenGrantRequest(as, app, auth(), tokens.refresh_token, {
      ...insecure, additionalParameters: { authorization_details: JSON.stringify([details[0]]) },
    }));
    assert.deepEqual(narrowed.authorization_details, [details[0]]);
    const { payload: p2 } = await jose.jwtVerify(narrowed.access_token, jwks, { issuer: worker.url });
    assert.deepEqual(p2.authorization_details, [details[0]]);
    // Widen: refused, and the refresh token stays usable.
    const wider = await oauthError(oauth.processRefreshTokenResponse(as, app, await oauth.refreshTokenGrantRequest(as, app, auth(), narrowed.refresh_token, {
      ...insecure, additionalParameters: { authorization_details: JSON.stringify([payment('99999.00', 'Mallory')]) },
    })));
    assert.deepEqual([wider.status, wider.error], [400, 'invalid_authorization_details']);
    const again = await oauth.processRefreshTokenResponse(as, app, await oauth.refreshTokenGrantRequest(as, app, auth(), narrowed.refresh_token, insecure));
    assert.deepEqual(again.authorization_details, details);
  }
});

test('malformed details are refused at push time, as JSON', async () => {
  for (const [why, details] of [
    ['unknown type', [{ type: 'crypto_transfer' }]],
    ['required field missing', [{ type: 'payment_initiation', instructedAmount: { currency: 'EUR' } }]],
    ['not an array', { type: 'account_information' }],
  ]) {
    const refused = await oauthError(oauth.processPushedAuthorizationResponse(as, app, await oauth.pushedAuthorizationRequest(as, app, auth(), {
      redirect_uri: CB, response_type: 'code', scope: 'openid', audience: BANK, authorization_details: JSON.stringify(details),
    }, insecure)));
    assert.deepEqual([refused.status, refused.error], [400, 'invalid_authorization_details'], why);
  }
});
