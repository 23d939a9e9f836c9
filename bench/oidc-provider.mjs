// The reference side of bench/run.mjs: oidc-provider (the certified Node.js OpenID Provider) on
// a random loopback port, configured like the Gatehouse tenant the benchmark imports. Started by
// run.mjs as a child process (so it has its own event loop, as workerd has its own process); it
// reports { issuer } over IPC once it listens. Not meant to be run by hand.
//
// Equivalences with Gatehouse, and the differences that remain:
// - clients: a confidential client (client_secret_basic) and a public PKCE client, both
//   authorization_code + refresh_token; PKCE S256 required for the public one (oidc-provider's
//   default, as in Gatehouse).
// - the account: the same claims; its password is checked against PBKDF2-SHA256 with 100,000
//   iterations (what Gatehouse stores), by a minimal interaction route below (login form ->
//   interactionFinished). The clients are first-party: consent is granted without a page, as
//   Gatehouse skips consent for first-party clients.
// - keys: RS256 (RSA-2048) and ES256 (P-256), two of each published (Gatehouse publishes current +
//   next); ID tokens RS256 (both servers' default).
// - refresh tokens: issued with offline_access, rotated on every use (rotateRefreshToken: true);
//   a reused one revokes the grant (oidc-provider's behaviour, and Gatehouse's).
// - lifetimes: Gatehouse's (code 60 s, access token 24 h, ID token 10 h, refresh 30 d,
//   session 3 d, pending request 10 min).
// - storage: a plain in-memory Map adapter (below). oidc-provider's bundled MemoryAdapter is an
//   LRU of 1,000 entries whose grant index is rescanned on every write; under a benchmark it evicts
//   live sessions and refresh tokens, so it would measure its own failures. Gatehouse, in this
//   benchmark, stores in workerd's local KV and SQLite Durable Object simulation (Miniflare).
// - access tokens: oidc-provider issues opaque tokens for userinfo (looked up in the adapter);
//   Gatehouse issues ES256 JWT access tokens (RFC 9068), verified on use and checked against
//   revocation markers.
import http from 'node:http';
import { pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import * as jose from 'jose';
import Provider from 'oidc-provider';

const pbkdf2Async = promisify(pbkdf2);
const ITERATIONS = 100_000;

const cfg = JSON.parse(process.env.BENCH_OIDC_CONFIG || '{}');
const { user, clients } = cfg;
if (!user || !clients) throw new Error('bench/oidc-provider.mjs is started by bench/run.mjs');

// ---- storage: a Map with expiry, and the grant index oidc-provider needs to revoke a grant ------
const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);
const store = new Map(); // "Model:id" -> { payload, exp }
const grants = new Map(); // grantId -> Set of "Model:id"
const sessionUids = new Map(); // uid -> session id
const userCodes = new Map(); // userCode -> id

class MapAdapter {
  constructor(model) {
    this.model = model;
  }
  key(id) {
    return `${this.model}:${id}`;
  }
  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    store.set(key, { payload, exp: typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity });
    if (this.model === 'Session') sessionUids.set(payload.uid, id);
    if (payload.userCode) userCodes.set(payload.userCode, id);
    if (payload.grantId && GRANTABLE.has(this.model)) {
      let members = grants.get(payload.grantId);
      if (!members) grants.set(payload.grantId, (members = new Set()));
      members.add(key);
    }
  }
  async find(id) {
    const key = this.key(id);
    const entry = store.get(key);
    if (!entry) return undefined;
    if (entry.exp <= Date.now()) {
      store.delete(key);
      return undefined;
    }
    return entry.payload;
  }
  async findByUid(uid) {
    const id = sessionUids.get(uid);
    return id === undefined ? undefined : this.find(id);
  }
  async findByUserCode(userCode) {
    const id = userCodes.get(userCode);
    return id === undefined ? undefined : this.find(id);
  }
  async consume(id) {
    const entry = store.get(this.key(id));
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }
  async destroy(id) {
    store.delete(this.key(id));
  }
  async revokeByGrantId(grantId) {
    for (const key of grants.get(grantId) ?? []) store.delete(key);
    grants.delete(grantId);
  }
}

// Expired entries are dropped once a minute (the run is bounded; this only keeps memory flat).
setInterval(() => {
  const now = Date.now();
  for (const [key, entry] of store) if (entry.exp <= now) store.delete(key);
}, 60_000).unref();

// ---- keys -------------------------------------------------------------------------------------
async function signingKey(alg, options) {
  const { privateKey } = await jose.generateKeyPair(alg, { ...options, extractable: true });
  const jwk = await jose.exportJWK(privateKey);
  jwk.kid = await jose.calculateJwkThumbprint(jwk, 'sha256');
  return { ...jwk, alg, use: 'sig' };
}
const jwks = {
  keys: [
    await signingKey('RS256', { modulusLength: 2048 }),
    await signingKey('ES256'),
    await signingKey('RS256', { modulusLength: 2048 }),
    await signingKey('ES256'),
  ],
};

// ---- the account ------------------------------------------------------------------------------
const salt = randomBytes(16);
const passwordHash = await pbkdf2Async(user.password, salt, ITERATIONS, 32, 'sha256');
const emailKey = user.email.toLowerCase();

async function checkPassword(email, password) {
  const hash = await pbkdf2Async(String(password), salt, ITERATIONS, 32, 'sha256');
  return String(email).trim().toLowerCase() === emailKey && timingSafeEqual(hash, passwordHash);
}

const account = {
  accountId: user.user_id,
  async claims() {
    return {
      sub: user.user_id,
      email: user.email,
      email_verified: user.email_verified,
      name: user.name,
      given_name: user.given_name,
      family_name: user.family_name,
      nickname: user.email.split('@')[0],
    };
  },
};

// ---- the provider -----------------------------------------------------------------------------
const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  adapter: MapAdapter,
  clients,
  jwks,
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  findAccount: async (_ctx, sub) => (sub === user.user_id ? account : undefined),
  claims: {
    openid: ['sub'],
    profile: ['name', 'given_name', 'family_name', 'nickname'],
    email: ['email', 'email_verified'],
  },
  scopes: ['openid', 'offline_access', 'profile', 'email', 'read:messages'],
  // Gatehouse puts the granted profile/email claims in the ID token too.
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: false },
    userinfo: { enabled: true },
    introspection: {
      enabled: true,
      // Gatehouse: introspection is for confidential clients.
      allowedPolicy: async (_ctx, client) => client.clientAuthMethod !== 'none',
    },
    revocation: { enabled: true, allowedPolicy: async (ctx, client, token) => token.clientId === client.clientId },
    // The client-credentials row: an ES256 JWT access token for the bench API, as Gatehouse
    // issues for a client grant (RFC 8707 resource indicators pick the API).
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => undefined,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'read:messages',
        accessTokenFormat: 'jwt',
        accessTokenTTL: 3600,
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
  rotateRefreshToken: true,
  clientBasedCORS: () => false,
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: {
    AccessToken: 86_400,
    AuthorizationCode: 60,
    ClientCredentials: 86_400,
    IdToken: 36_000,
    RefreshToken: 30 * 86_400,
    Interaction: 600,
    Session: 3 * 86_400,
    Grant: 30 * 86_400,
    DeviceCode: 600,
    BackchannelAuthenticationRequest: 600,
    PreAuthorizedCode: 600,
  },
});
const callback = provider.callback();

// ---- the interaction route: a login form and first-party consent -------------------------------
const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(res, uid, status = 200, message = '') {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!doctype html><title>Log in</title>${message ? `<p role="alert">${escapeHtml(message)}</p>` : ''}
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
<input type="hidden" name="uid" value="${escapeHtml(uid)}">
<input name="username" type="email"><input name="password" type="password"><button>Continue</button>
</form>`);
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 64 * 1024) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

async function interaction(req, res) {
  const [, , uid, action] = new URL(req.url, issuer).pathname.split('/');
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    res.writeHead(400).end('interaction mismatch');
    return;
  }
  const { prompt, params, session } = details;
  if (prompt.name === 'login') {
    if (req.method === 'POST' && action === 'login') {
      const form = await readForm(req);
      if (!(await checkPassword(form.get('username') ?? '', form.get('password') ?? ''))) {
        loginPage(res, uid, 400, 'Wrong email or password.');
        return;
      }
      await provider.interactionFinished(req, res, { login: { accountId: user.user_id } }, { mergeWithLastSubmission: false });
      return;
    }
    loginPage(res, uid);
    return;
  }
  if (prompt.name === 'consent') {
    // First-party clients: grant what is asked, without a page (Gatehouse's behaviour).
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const missing = prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: details.grantId ? {} : { grantId } }, { mergeWithLastSubmission: true });
    return;
  }
  res.writeHead(400).end(`unexpected prompt ${prompt.name}`);
}

server.on('request', (req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((e) => {
      process.stderr.write(`oidc-provider bench interaction: ${e.stack || e}\n`);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(e.message || e));
    });
  } else {
    callback(req, res);
  }
});

process.on('disconnect', () => process.exit(0));
process.send({ issuer });
