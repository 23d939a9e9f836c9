// Gatehouse against oidc-provider, on this machine, with the same load tool and the same load.
//
//   npm run bench                     # 10 s per row and server
//   npm run bench -- --quick          # 2 s per row and server
//   BENCH_SECONDS=30 npm run bench    # any duration (wins over --quick)
//   BENCH_ROWS=refresh,authcode ...   # only some rows (discovery, jwks, userinfo, introspection,
//                                     # clientcredentials, codeexchange, refresh, authcode, login,
//                                     # growth: the measured ones again after adding
//                                     # BENCH_GROWTH (100000) users, clients and grants)
//   BENCH_JSON=out.json npm run bench # also write the figures as JSON (rows, columns, counts)
//
// Starts the built Worker under workerd (Miniflare, tests/e2e/harness.mjs) and oidc-provider
// (bench/oidc-provider.mjs, a child process), both on 127.0.0.1 with random ports, and configures
// both alike (a public PKCE client, a confidential client_secret_basic client, one user). On each
// it logs two browsers in (a real login: form, password, session cookie), takes the tokens the
// rows need, then measures one row at a time, one server at a time: 16 connections, a short
// warm-up, then a bounded run. Plain requests are driven by autocannon; the authorization-code
// loop (GET authorize with the session cookie -> code -> POST token with the PKCE verifier) by 16
// concurrent fetch workers. Only successful responses count towards rps (userinfo must return
// the user, introspection "active": true, a refresh a new refresh token); everything else is
// counted and described. Nothing leaves 127.0.0.1. The Worker must already be built
// (`npm run build`); this script builds nothing.
import autocannon from 'autocannon';
import { fork } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { ADMIN_TOKEN, startWorker } from '../tests/e2e/harness.mjs';
import { ROOT, WORKER_WASM, run, workerBuilt } from '../scripts/lib.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
for (const a of args) {
  if (a !== '--quick') {
    console.error(`usage: node bench/run.mjs [--quick]   (BENCH_SECONDS=n sets the seconds per row)`);
    process.exit(2);
  }
}
const QUICK = args.includes('--quick');
const ROW_NAMES = ['discovery', 'jwks', 'userinfo', 'introspection', 'clientcredentials', 'codeexchange', 'refresh', 'authcode', 'login', 'growth'];
/** The rows the data-growth row measures again (BENCH_ROWS=growth,userinfo,… for some). */
const GROWTH_ROWS = ['userinfo', 'introspection', 'clientcredentials', 'codeexchange', 'refresh', 'authcode'];
// BENCH_ROWS=jwks,refresh measures only those rows (for looking into one).
const only = process.env.BENCH_ROWS ? process.env.BENCH_ROWS.split(',').map((r) => r.trim()) : null;
if (only && !only.every((r) => ROW_NAMES.includes(r))) {
  console.error(`BENCH_ROWS: a comma-separated list of ${ROW_NAMES.join(', ')}`);
  process.exit(2);
}
const SECONDS = process.env.BENCH_SECONDS ? Number(process.env.BENCH_SECONDS) : QUICK ? 2 : 10;
if (!(SECONDS > 0 && SECONDS <= 600)) {
  console.error(`BENCH_SECONDS must be a number of seconds in (0, 600], not ${process.env.BENCH_SECONDS}`);
  process.exit(2);
}
const WARMUP_SECONDS = Math.min(1, SECONDS / 4);
/** How many users, clients and live grants the growth row adds. */
const GROWTH = Number(process.env.BENCH_GROWTH ?? 100_000);
if (!(Number.isInteger(GROWTH) && GROWTH >= 0 && GROWTH <= 1_000_000)) {
  console.error(`BENCH_GROWTH must be a whole number from 0 to 1000000, not ${process.env.BENCH_GROWTH}`);
  process.exit(2);
}
const CONNECTIONS = 16;
/** Refresh tokens minted per server before the refresh row: one chain per connection, the rest
 *  replace chains broken by a failed request. */
const REFRESH_CHAINS = 64;
const REQUEST_TIMEOUT_SECONDS = 10;

const REDIRECT_URI = 'http://127.0.0.1/bench/callback';
/** The loop's scope, and the scope that also asks for a refresh token. */
const SCOPE = 'openid profile email';
const SCOPE_OFFLINE = 'openid profile email offline_access';
const USER = {
  user_id: 'bench|ada',
  email: 'ada@example.com',
  email_verified: true,
  password: 'correct horse battery staple',
  name: 'Ada Lovelace',
  given_name: 'Ada',
  family_name: 'Lovelace',
};
const SPA = { client_id: 'bench-spa', name: 'Bench SPA' };
const WEB = {
  client_id: 'bench-web',
  name: 'Bench Web App',
  client_secret: 'bench-web-secret-' + randomBytes(24).toString('base64url'),
};
/** A machine client (client credentials) with a grant for the bench API on both servers. */
const M2M = {
  client_id: 'bench-m2m',
  name: 'Bench Machine',
  client_secret: 'bench-m2m-secret-' + randomBytes(24).toString('base64url'),
};
const BENCH_API = 'https://api.bench.local/';

// ---- bounded in time, and always cleaned up ---------------------------------------------------
const cleanups = [];
async function cleanup() {
  while (cleanups.length) {
    try {
      await cleanups.pop()();
    } catch {
      // best effort
    }
  }
}
// 9 rows x 2 servers (and 4 for the peer) x (warm-up + run), plus start-up, minting and the probe;
// the growth row: its seeding (about 4.5 ms a record on this machine; 10 ms allowed) and 6 rows.
const ROW_MS = (SECONDS + WARMUP_SECONDS + REQUEST_TIMEOUT_SECONDS) * 1000;
const BUDGET_MS = 24 * ROW_MS + 300_000 + (GROWTH > 0 ? GROWTH * 10 + 6 * ROW_MS + 120_000 : 0);
const watchdog = setTimeout(async () => {
  console.error(`\n✗ the benchmark overran its ${Math.round(BUDGET_MS / 1000)} s budget; stopping`);
  await cleanup();
  process.exit(1);
}, BUDGET_MS);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    await cleanup();
    process.exit(130);
  });
}

// ---- a minimal browser: manual redirects, a cookie jar -----------------------------------------
class Browser {
  jar = new Map();

  /** `ip`: the client IP this browser's requests claim (`CF-Connecting-IP`, which Gatehouse's
   *  login limits count by); none: the loopback address. */
  constructor(ip) {
    this.ip = ip;
  }

  cookieHeader(filter = () => true) {
    return [...this.jar].filter(([name]) => filter(name)).map(([n, v]) => `${n}=${v}`).join('; ');
  }

  remember(res) {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const gone =
        attrs.some((a) => /^\s*max-age\s*=\s*(0|-\d+)\s*$/i.test(a)) ||
        attrs.some((a) => /^\s*expires\s*=/i.test(a) && Date.parse(a.split('=')[1]) < Date.now());
      if (gone || value === '') this.jar.delete(name);
      else this.jar.set(name, value);
    }
  }

  async request(url, { method = 'GET', form, headers = {} } = {}) {
    const res = await fetch(url, {
      method,
      redirect: 'manual',
      headers: {
        ...(this.ip ? { 'cf-connecting-ip': this.ip } : {}),
        ...(this.jar.size ? { cookie: this.cookieHeader() } : {}),
        ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        ...headers,
      },
      body: form ? new URLSearchParams(form).toString() : undefined,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_SECONDS * 1000),
    });
    this.remember(res);
    return res;
  }
}

const unescapeHtml = (s) =>
  s.replace(/&(#\d+|amp|lt|gt|quot|#x[0-9a-f]+);/gi, (m, e) =>
    e[0] === '#'
      ? String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : Number(e.slice(1)))
      : { amp: '&', lt: '<', gt: '>', quot: '"' }[e.toLowerCase()],
  );

/** The login form on a page: its action and hidden inputs. */
function parseLoginForm(html) {
  const form = /<form\b[^>]*\baction="([^"]*)"[^>]*>([\s\S]*?)<\/form>/i.exec(html);
  if (!form) throw new Error(`no form on the login page: ${html.slice(0, 200)}`);
  const fields = {};
  for (const input of form[2].matchAll(/<input\b[^>]*>/gi)) {
    if (!/\btype="hidden"/i.test(input[0])) continue;
    const name = /\bname="([^"]*)"/i.exec(input[0])?.[1];
    const value = /\bvalue="([^"]*)"/i.exec(input[0])?.[1] ?? '';
    if (name) fields[unescapeHtml(name)] = unescapeHtml(value);
  }
  return { action: unescapeHtml(form[1]), fields };
}

function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

function authorizeUrl(server, clientId, { challenge }, state, nonce, offline = false) {
  const url = new URL(server.meta.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: REDIRECT_URI,
    scope: offline ? SCOPE_OFFLINE : SCOPE,
    state,
    nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    // oidc-provider follows OIDC Core §11 to the letter: offline_access is dropped unless
    // prompt=consent. Gatehouse (like Auth0) grants it to a client allowed refresh tokens.
    ...(offline && server.offlineNeedsPromptConsent ? { prompt: 'consent' } : {}),
  }).toString();
  return url;
}

/** The code in a redirect to the client, checking state (and iss, RFC 9207, when sent). */
function codeFrom(server, location, state) {
  if (!location?.startsWith(REDIRECT_URI + '?')) return null;
  const params = new URL(location).searchParams;
  if (params.get('error')) throw new Error(`authorization error: ${params.get('error')}: ${params.get('error_description')}`);
  if (params.get('state') !== state) throw new Error('state mismatch');
  if (params.has('iss') && params.get('iss') !== server.meta.issuer) throw new Error('iss mismatch');
  return params.get('code');
}

const basic = (client) =>
  'Basic ' +
  Buffer.from(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret)}`).toString('base64');

async function exchangeCode(server, client, code, verifier, offline = false) {
  const form = { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT_URI };
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  if (client.client_secret) headers.authorization = basic(client);
  else form.client_id = client.client_id;
  const res = await fetch(server.meta.token_endpoint, {
    method: 'POST',
    headers,
    body: new URLSearchParams(form).toString(),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_SECONDS * 1000),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`token endpoint: ${res.status} ${text.slice(0, 300)}`);
  const tokens = JSON.parse(text);
  for (const t of ['access_token', ...(server.idTokens === false ? [] : ['id_token']), ...(offline ? ['refresh_token'] : [])]) {
    if (!tokens[t]) throw new Error(`token endpoint: no ${t} in ${text.slice(0, 300)}`);
  }
  return tokens;
}

/**
 * An authorization-code + PKCE flow in `browser`, logging in (once: both servers rate-limit or
 * at least cost a PBKDF2 per login) if the server asks, following the server's own redirects
 * (login, consent) until it redirects to the client with a code; then the code exchange.
 */
async function codeFlow(server, browser, client, { offline = false, exchange = true } = {}) {
  const p = pkce();
  const state = randomBytes(12).toString('base64url');
  const nonce = randomBytes(12).toString('base64url');
  let url = authorizeUrl(server, client.client_id, p, state, nonce, offline);
  let res = await browser.request(url);
  for (let hop = 0; hop < 12; hop++) {
    if ([301, 302, 303, 307].includes(res.status)) {
      const location = res.headers.get('location');
      const code = codeFrom(server, location, state);
      await res.arrayBuffer();
      if (code) return exchange ? exchangeCode(server, client, code, p.verifier, offline) : { code, verifier: p.verifier };
      url = new URL(location, url);
      res = await browser.request(url);
    } else if (res.status === 200 && /html/.test(res.headers.get('content-type') || '')) {
      const { action, fields } = parseLoginForm(await res.text());
      url = new URL(action, url);
      res = await browser.request(url, {
        method: 'POST',
        form: { ...fields, username: USER.email, password: USER.password },
      });
    } else {
      throw new Error(`${server.name}: unexpected ${res.status} at ${url}: ${(await res.text()).slice(0, 300)}`);
    }
  }
  throw new Error(`${server.name}: too many redirects`);
}

// ---- the two servers --------------------------------------------------------------------------
async function startGatehouse() {
  // DEBUG_COUNTS: each response says what it cost (KV reads, ledger round trips, signatures).
  const worker = await startWorker({ vars: { DEBUG_COUNTS: 'true' } });
  cleanups.push(() => worker.stop());
  const tenant = {
    clients: [
      {
        ...SPA,
        app_type: 'spa',
        token_endpoint_auth_method: 'none',
        redirect_uris: [REDIRECT_URI],
        grant_types: ['authorization_code', 'refresh_token'],
      },
      {
        ...WEB,
        app_type: 'regular_web',
        token_endpoint_auth_method: 'client_secret_basic',
        redirect_uris: [REDIRECT_URI],
        grant_types: ['authorization_code', 'refresh_token'],
      },
      { ...M2M, app_type: 'non_interactive', token_endpoint_auth_method: 'client_secret_basic', grant_types: ['client_credentials'] },
    ],
    client_grants: [{ client_id: M2M.client_id, audience: BENCH_API, scope: ['read:messages'] }],
    apis: [
      {
        identifier: 'https://api.bench.local/',
        name: 'Bench API',
        scopes: [{ value: 'read:messages', description: 'Read your messages' }],
        signing_alg: 'ES256',
        token_lifetime_seconds: 3600,
        allow_offline_access: true,
      },
    ],
    users: [USER],
  };
  const res = await fetch(`${worker.origin}/admin/tenant`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(tenant),
  });
  if (res.status !== 200) throw new Error(`Gatehouse tenant import: ${res.status} ${await res.text()}`);
  await res.arrayBuffer();
  return { name: 'Gatehouse', origin: worker.origin, issuer: worker.url, mf: worker.mf };
}

// ---- data growth ----------------------------------------------------------------------------

/** The ledger group of a grant (crates/core/src/grant/mod.rs `GrantGroup`: FNV-1a of the grant
 *  id, modulo 32); its Durable Object is named after the group. */
function grantGroup(id) {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(id)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return `grant:${h % 32}`;
}

/** Adds GROWTH users, clients and live grants to Gatehouse's stores, as copies of the bench's
 *  own records (so they are in the Worker's own format, whatever it is): users and clients
 *  written to KV, grants to their groups' ledger objects. Returns the seconds it took. */
async function seedGrowth(server) {
  const started = Date.now();
  const kv = await server.mf.getKVNamespace('GATEHOUSE_KV');
  const ledger = await server.mf.getDurableObjectNamespace('GATEHOUSE_LEDGER');
  const user = await kv.get(`user/${USER.user_id}`);
  const client = await kv.get(`client/${SPA.client_id}`);
  if (!user || !client) throw new Error('growth: the bench user or client is not in KV');
  const command = async (group, body) => {
    const stub = ledger.get(ledger.idFromName(group));
    const res = await stub.fetch('https://ledger.internal/', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const answer = await res.json();
    if (res.status !== 200) throw new Error(`growth: ledger ${res.status} ${JSON.stringify(answer)}`);
    return answer;
  };
  const now = Math.floor(Date.now() / 1000);
  await refillChains(server);
  const gid = server.refreshPool.at(-1).split('.')[0];
  const { value: grant } = await command(grantGroup(gid), { op: 'get', key: `${grantGroup(gid)}#${gid}`, now });
  if (!grant?.startsWith('{"live"')) throw new Error(`growth: no live grant record to copy (${grant?.slice(0, 40)})`);
  const batch = 500;
  for (let start = 0; start < GROWTH; start += batch) {
    const writes = [];
    for (let i = start; i < Math.min(GROWTH, start + batch); i++) {
      const id = `growth|${i}`;
      const email = `growth${i}@example.com`;
      writes.push(kv.put(`user/${id}`, user.replace(USER.user_id, id).replace(USER.email, email)));
      writes.push(kv.put(`user-email/${email}`, id));
      writes.push(kv.put(`client/growth-${i}`, client.replaceAll(`"${SPA.client_id}"`, `"growth-${i}"`)));
    }
    await Promise.all(writes);
  }
  // Grants: 30 per all-or-none write (the Durable Object's SQL takes 100 parameters at most).
  const byGroup = new Map();
  for (let i = 0; i < GROWTH; i++) {
    const id = randomBytes(16).toString('base64url');
    const group = grantGroup(id);
    if (!byGroup.has(group)) byGroup.set(group, []);
    byGroup.get(group).push({ key: `${group}#${id}`, expected: null, new: grant.replaceAll(gid, id), exp: now + 30 * 86400 });
  }
  await Promise.all(
    [...byGroup].map(async ([group, swaps]) => {
      for (let i = 0; i < swaps.length; i += 30) {
        const { ok } = await command(group, { op: 'cas_all', swaps: swaps.slice(i, i + 30), now });
        if (!ok) throw new Error('growth: a grant id collided');
      }
    }),
  );
  return (Date.now() - started) / 1000;
}

/** The edge peer: @cloudflare/workers-oauth-provider under the same Miniflare, on KV
 *  (bench/workers-oauth-provider-peer.mjs). Its resource (the API its tokens are for) is on its
 *  own loopback origin, so the port is chosen first. It has the rows it implements: an API call
 *  checking its access token (beside userinfo), refresh, and the code loop. */
async function startPeer() {
  const { Miniflare } = await import('miniflare');
  const { createServer } = await import('node:net');
  const port = await new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
  const resource = `http://127.0.0.1:${port}/api/`;
  const library = join(ROOT, 'node_modules', '@cloudflare', 'workers-oauth-provider', 'dist', 'oauth-provider.js');
  const script = readFileSync(join(HERE, 'workers-oauth-provider-peer.mjs'), 'utf8').replace("'https://api.bench.local/'", JSON.stringify(resource));
  const mf = new Miniflare({
    modules: [
      { type: 'ESModule', path: 'peer.mjs', contents: script },
      { type: 'ESModule', path: 'oauth-provider.js', contents: readFileSync(library, 'utf8') },
    ],
    compatibilityDate: '2026-04-26',
    kvNamespaces: ['OAUTH_KV'],
    host: '127.0.0.1',
    port,
    cf: false,
  });
  const origin = (await mf.ready).origin;
  cleanups.push(() => mf.dispose());
  const created = await fetch(`${origin}/setup`, {
    method: 'POST',
    body: JSON.stringify({ redirectUris: [REDIRECT_URI], tokenEndpointAuthMethod: 'none', clientName: 'Bench SPA' }),
  });
  const client = await created.json();
  const meta = await (await fetch(`${origin}/.well-known/oauth-authorization-server`)).json();
  const server = { name: 'workers-oauth-provider', origin, meta, spa: { client_id: client.clientId }, idTokens: false, sessionCookie: '', resource };
  const browser = new Browser();
  server.tokens = { api: (await codeFlow(server, browser, server.spa, { offline: true })).access_token };
  server.refreshPool = [];
  while (server.refreshPool.length < REFRESH_CHAINS) server.refreshPool.push((await codeFlow(server, browser, server.spa, { offline: true })).refresh_token);
  return server;
}

/** The rows the peer has, and its request for the userinfo row: a call to its API. */
const PEER_ROWS = ['userinfo', 'codeexchange', 'refresh', 'authcode'];
function peerSpec(server, row) {
  if (row === 'refresh') return refreshSpec(server);
  if (row === 'codeexchange') return codeExchangeSpec(server);
  return {
    request: { method: 'GET', path: new URL(server.resource).pathname + 'messages', headers: { authorization: `Bearer ${server.tokens.api}` } },
    ok: (status, body) => status === 200 && body.includes(USER.user_id),
  };
}

async function startOidcProvider() {
  const clients = [
    {
      client_id: SPA.client_id,
      token_endpoint_auth_method: 'none',
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    },
    {
      client_id: WEB.client_id,
      client_secret: WEB.client_secret,
      token_endpoint_auth_method: 'client_secret_basic',
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    },
    {
      client_id: M2M.client_id,
      client_secret: M2M.client_secret,
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: 'read:messages',
    },
  ];
  const child = fork(join(HERE, 'oidc-provider.mjs'), [], {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'production', BENCH_OIDC_CONFIG: JSON.stringify({ user: USER, clients }) },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    }
  });
  const { issuer } = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('oidc-provider did not start within 60 s')), 60_000);
    child.once('message', (m) => {
      clearTimeout(timer);
      resolve(m);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`oidc-provider exited (${code}) before it listened`));
    });
  });
  return { name: 'oidc-provider', origin: new URL(issuer).origin, issuer, pid: child.pid, offlineNeedsPromptConsent: true };
}

/** Discovery, a logged-in session, and the tokens each row needs. */
async function prepare(server) {
  const res = await fetch(new URL('/.well-known/openid-configuration', server.origin));
  if (res.status !== 200) throw new Error(`${server.name} discovery: ${res.status}`);
  server.meta = await res.json();
  for (const k of ['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'introspection_endpoint', 'jwks_uri']) {
    if (!server.meta[k]) throw new Error(`${server.name} discovery has no ${k}`);
    if (new URL(server.meta[k]).hostname !== '127.0.0.1') throw new Error(`${server.name} ${k} is not on 127.0.0.1`);
  }
  // Browser A: the session the authorization-code loop reuses; its tokens feed userinfo and
  // introspection. Browser B: its own session and grants for the refresh chains, so that a refresh
  // gone wrong (reuse detection revokes a grant) cannot touch what the other rows use.
  const a = new Browser();
  const spaTokens = await codeFlow(server, a, SPA, { offline: true });
  const webTokens = await codeFlow(server, a, WEB, { offline: true });
  server.sessionCookie = a.cookieHeader((name) => /session/i.test(name));
  if (!server.sessionCookie) throw new Error(`${server.name}: no session cookie after login`);
  server.tokens = { userinfo: spaTokens.access_token, introspect: webTokens.access_token };
  // Shared by the warm-up and the measured run: a token, once sent, is never sent again.
  server.refreshPool = [];
  await refillChains(server);
  return server;
}

/** Fills the refresh pool up to REFRESH_CHAINS chains (a run's requests still in flight when it
 *  stops take their chains with them), in a browser of their own. */
async function refillChains(server) {
  const b = new Browser();
  // One flow at a time: a browser runs one interaction at a time (oidc-provider keys it by cookie).
  while (server.refreshPool.length < REFRESH_CHAINS) server.refreshPool.push((await codeFlow(server, b, SPA, { offline: true })).refresh_token);
}

// ---- measuring --------------------------------------------------------------------------------
function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** The rows driven by autocannon: one request shape, a check of each response. */
function rowSpecs(server) {
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  return {
    discovery: {
      request: { method: 'GET', path: new URL(server.meta.issuer).pathname.replace(/\/$/, '') + '/.well-known/openid-configuration' },
      ok: (status) => status === 200,
    },
    jwks: {
      request: { method: 'GET', path: new URL(server.meta.jwks_uri).pathname },
      ok: (status) => status === 200,
    },
    userinfo: {
      request: {
        method: 'GET',
        path: new URL(server.meta.userinfo_endpoint).pathname,
        headers: { authorization: `Bearer ${server.tokens.userinfo}` },
      },
      ok: (status, body) => status === 200 && body.includes(USER.email),
    },
    introspection: {
      request: {
        method: 'POST',
        path: new URL(server.meta.introspection_endpoint).pathname,
        headers: { ...form, authorization: basic(WEB) },
        body: new URLSearchParams({ token: server.tokens.introspect }).toString(),
      },
      ok: (status, body) => status === 200 && /"active"\s*:\s*true/.test(body),
    },
    // An RFC 9068 ES256 access token for the API, per request.
    clientcredentials: {
      request: {
        method: 'POST',
        path: new URL(server.meta.token_endpoint).pathname,
        headers: { ...form, authorization: basic(M2M) },
        body: new URLSearchParams({ grant_type: 'client_credentials', resource: BENCH_API, scope: 'read:messages' }).toString(),
      },
      ok: (status, body) => status === 200 && body.includes('access_token'),
    },
    refresh: refreshSpec(server),
    codeexchange: codeExchangeSpec(server),
  };
}

/**
 * Refresh tokens rotate, so every request needs a token no request has used. Each response's new
 * refresh token goes back into the pool the next request takes from: 16 connections keep 16
 * grant chains going for as long as the run lasts (a client refreshing as it should). A failed
 * request loses its chain; a spare replaces it. When no spare is left the run stops early and
 * says so.
 */
function refreshSpec(server) {
  const pool = server.refreshPool;
  return tokenSpec(
    server,
    () => pool.shift(),
    (token) => ({ grant_type: 'refresh_token', refresh_token: token ?? 'the-refresh-token-pool-ran-out' }),
    (status, body) => {
      if (status !== 200) return false;
      let next;
      try {
        next = JSON.parse(body).refresh_token;
      } catch {
        return false;
      }
      if (!next) return false;
      pool.push(next);
      return true;
    },
  );
}

/** A token-endpoint row whose every request spends one item of a pool (`take`), as the public
 *  client: `form(item)` is its body (`item` undefined once the pool is empty, when the run
 *  stops early and says so). */
function tokenSpec(server, take, form, ok) {
  const spec = {
    exhaustedAt: null,
    request: {
      method: 'POST',
      path: new URL(server.meta.token_endpoint).pathname,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      setupRequest(req) {
        const item = take();
        if (item === undefined) spec.unusable++;
        if (item === undefined && spec.exhaustedAt === null) {
          spec.exhaustedAt = performance.now();
          // Not from inside autocannon's request loop (nor before autocannon() has returned).
          setImmediate(() => spec.instance?.stop());
        }
        req.body = new URLSearchParams({ client_id: (server.spa ?? SPA).client_id, ...form(item) }).toString();
        return req;
      },
    },
    ok,
  };
  return spec;
}

/** One code from the logged-in session (the loop's GET authorize), with its PKCE verifier. */
async function mintCode(server) {
  const p = pkce();
  const state = randomBytes(12).toString('base64url');
  const res = await fetch(authorizeUrl(server, (server.spa ?? SPA).client_id, p, state, 'n'), {
    redirect: 'manual',
    headers: { cookie: server.sessionCookie },
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_SECONDS * 1000),
  });
  await res.arrayBuffer();
  const code = [302, 303].includes(res.status) ? codeFrom(server, res.headers.get('location'), state) : null;
  if (!code) throw new Error(`${server.name}: no code (${res.status})`);
  return { code, verifier: p.verifier };
}

/** Codes for the code-exchange row, minted just before it: enough for the row at 3,000 a
 *  second, or as many as 35 s of minting give (codes live a minute). A server that redeems them
 *  faster than that runs out, stops early and says so; its rate still counts. */
async function mintCodes(server, seconds) {
  const wanted = Math.ceil((seconds + 1) * 3000);
  const until = performance.now() + 35_000;
  const pool = [];
  const worker = async () => {
    while (pool.length < wanted && performance.now() < until) pool.push(await mintCode(server));
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  server.codePool = pool;
}

/** The code exchange alone: each request redeems one code minted beforehand (the loop's codes),
 *  with its PKCE verifier. When the codes run out the run stops early and says so. */
function codeExchangeSpec(server) {
  return tokenSpec(
    server,
    () => server.codePool?.shift(),
    (next) => ({
      grant_type: 'authorization_code',
      code: next?.code ?? 'the-code-pool-ran-out',
      code_verifier: next?.verifier ?? 'x',
      redirect_uri: REDIRECT_URI,
    }),
    (status, body) => status === 200 && body.includes('access_token'),
  );
}

async function runAutocannon(server, spec, seconds) {
  let good = 0;
  const bad = new Map(); // "status: body" -> count
  const request = {
    ...spec.request,
    onResponse(status, body) {
      if (spec.ok(status, body)) good++;
      else {
        const key = `${status}: ${String(body).slice(0, 160)}`;
        bad.set(key, (bad.get(key) || 0) + 1);
      }
    },
  };
  const started = performance.now();
  spec.exhaustedAt = null;
  spec.unusable = 0;
  const result = await new Promise((resolve, reject) => {
    spec.instance = autocannon(
      {
        url: server.origin,
        connections: CONNECTIONS,
        pipelining: 1,
        duration: seconds,
        timeout: REQUEST_TIMEOUT_SECONDS,
        // autocannon acts on stop() at its next sample; sample often so that it stops soon.
        sampleInt: 100,
        requests: [request],
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
  });
  spec.instance = null;
  const elapsed = result.duration || (performance.now() - started) / 1000;
  return {
    rps: good / elapsed,
    p50: result.latency.p50,
    p99: result.latency.p99,
    good,
    total: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    bad,
    elapsed,
    note:
      spec.exhaustedAt != null
        ? `no unused token or code was left after ${((spec.exhaustedAt - started) / 1000).toFixed(1)} s ` +
          `(${good} successful requests); the run stopped early; the ${spec.unusable} requests sent ` +
          'meanwhile carried nothing valid and count as failed'
        : '',
  };
}

/** The authorization-code + PKCE loop with a logged-in session: GET /authorize (session cookie)
 *  → 302 to the client with a code → POST the token endpoint with the code_verifier. */
async function oneCodeLoop(server) {
  const p = pkce();
  const state = randomBytes(12).toString('base64url');
  const nonce = randomBytes(12).toString('base64url');
  const res = await fetch(authorizeUrl(server, (server.spa ?? SPA).client_id, p, state, nonce), {
    redirect: 'manual',
    headers: { cookie: server.sessionCookie },
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_SECONDS * 1000),
  });
  const body = await res.text();
  const location = res.headers.get('location');
  const code = [302, 303].includes(res.status) ? codeFrom(server, location, state) : null;
  if (!code) throw new Error(`authorize: ${res.status} ${location ?? body.slice(0, 160)}`);
  await exchangeCode(server, server.spa ?? SPA, code, p.verifier);
}

async function runCodeLoop(server, seconds, iteration = oneCodeLoop) {
  const latencies = [];
  const bad = new Map();
  let good = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const workerLoop = async () => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      try {
        await iteration(server);
        good++;
      } catch (e) {
        const key = String(e.message || e).slice(0, 200);
        bad.set(key, (bad.get(key) || 0) + 1);
      }
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, workerLoop));
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((x, y) => x - y);
  const failed = [...bad.values()].reduce((n, c) => n + c, 0);
  return {
    rps: good / elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    good,
    total: good + failed,
    non2xx: failed,
    errors: 0,
    timeouts: 0,
    bad,
    elapsed,
    note: '',
  };
}

let loginIp = 0;
/** One whole login in a new browser: GET authorize → the login page → POST the password
 *  (PBKDF2-SHA256, 100,000 iterations on both servers) → back to authorize → code → token; five
 *  requests. Each from its own IP, as in life: one account's attempts from one IP are limited
 *  (10 failures, counted before the password is checked, so a burst of parallel logins of one
 *  account from one IP is refused as a burst of guesses would be). */
async function oneLogin(server) {
  loginIp = (loginIp + 1) % 65_000;
  await codeFlow(server, new Browser(`10.${loginIp >> 8}.${loginIp & 255}.1`), SPA);
}

const ROWS = [
  ['discovery', 'GET /.well-known/openid-configuration'],
  ['jwks', 'GET JWKS'],
  ['userinfo', 'GET userinfo (Bearer)'],
  ['introspection', 'POST introspection (basic)'],
  ['clientcredentials', 'POST token (client_credentials)'],
  ['codeexchange', 'POST token (authorization_code)'],
  ['refresh', 'POST token (refresh_token)'],
  ['authcode', 'authorize+token loop (it/s)'],
  ['login', 'login + code + token (it/s)'],
];

/** What one request of the row costs Gatehouse (its `gatehouse-counts` header, DEBUG_COUNTS):
 *  KV reads, ledger round trips, signatures. The loop: the authorize request, then the token one. */
async function sampleCounts(server, row) {
  const counted = (res) => res.headers.get('gatehouse-counts') ?? '?';
  if (row === 'login') {
    // The password's POST alone.
    const browser = new Browser();
    const p = pkce();
    let res = await browser.request(authorizeUrl(server, SPA.client_id, p, 's', 'n'));
    res = await browser.request(new URL(res.headers.get('location'), server.origin));
    const { action, fields } = parseLoginForm(await res.text());
    res = await browser.request(new URL(action, server.origin), { method: 'POST', form: { ...fields, username: USER.email, password: USER.password } });
    await res.arrayBuffer();
    return `POST /login: ${counted(res)}`;
  }
  if (row === 'codeexchange') {
    const { code, verifier } = await mintCode(server);
    const form = { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT_URI, client_id: SPA.client_id };
    const token = await fetch(server.meta.token_endpoint, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });
    await token.arrayBuffer();
    return counted(token);
  }
  if (row === 'authcode') {
    const p = pkce();
    const state = randomBytes(12).toString('base64url');
    const res = await fetch(authorizeUrl(server, SPA.client_id, p, state, 'n'), { redirect: 'manual', headers: { cookie: server.sessionCookie } });
    await res.arrayBuffer();
    const code = codeFrom(server, res.headers.get('location'), state);
    const form = { grant_type: 'authorization_code', code, code_verifier: p.verifier, redirect_uri: REDIRECT_URI, client_id: SPA.client_id };
    const token = await fetch(server.meta.token_endpoint, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });
    await token.arrayBuffer();
    return `${counted(res)} + ${counted(token)}`;
  }
  const spec = rowSpecs(server)[row];
  const req = spec.request.setupRequest ? spec.request.setupRequest({ ...spec.request }) : spec.request;
  const res = await fetch(new URL(req.path, server.origin), { method: req.method, headers: req.headers, body: req.body });
  const body = await res.text();
  spec.ok(res.status, body); // a refresh puts its new token back in the pool
  return counted(res);
}

async function measure(server, row, seconds) {
  if (row === 'codeexchange') await mintCodes(server, seconds);
  if (row === 'authcode') return runCodeLoop(server, seconds);
  if (row === 'login') return runCodeLoop(server, seconds, oneLogin);
  if (server.resource) return runAutocannon(server, peerSpec(server, row), seconds);
  return runAutocannon(server, rowSpecs(server)[row], seconds);
}

// ---- atomicity ------------------------------------------------------------------------------------
/** The same refresh token, and the same code, sent twice at once, `trials` times each: how many
 *  trials let both requests succeed (a single-use decision that is not atomic would). */
async function atomicityProbe(server, trials = 20) {
  const browser = new Browser();
  const post = (form, client) => {
    const headers = { 'content-type': 'application/x-www-form-urlencoded' };
    if (client.client_secret) headers.authorization = basic(client);
    else form.client_id = client.client_id;
    return fetch(server.meta.token_endpoint, { method: 'POST', headers, body: new URLSearchParams(form).toString() })
      .then(async (r) => { await r.arrayBuffer(); return r.status; });
  };
  let refreshBoth = 0;
  let codeBoth = 0;
  let neither = 0; // trials in which no request succeeded: a broken probe, not atomicity
  for (let i = 0; i < trials; i++) {
    const spa = server.spa ?? SPA;
    const { code, verifier } = await codeFlow(server, browser, spa, { exchange: false });
    const form = () => ({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT_URI });
    const codes = await Promise.all([0, 1].map(() => post(form(), spa)));
    if (codes.every((s) => s === 200)) codeBoth++;
    if (!codes.includes(200)) neither++;
  }
  for (let i = 0; i < trials; i++) {
    const spa = server.spa ?? SPA;
    const { refresh_token } = await codeFlow(server, browser, spa, { offline: true });
    const twice = await Promise.all([0, 1].map(() => post({ grant_type: 'refresh_token', refresh_token }, spa)));
    if (twice.every((s) => s === 200)) refreshBoth++;
    if (!twice.includes(200)) neither++;
  }
  return { trials, refreshBoth, codeBoth, neither };
}

// ---- output -----------------------------------------------------------------------------------
const fmt = (n, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : '-');
// autocannon's histogram has 1 ms resolution (whole numbers); the loop's times are exact.
const ms = (n) => (!Number.isFinite(n) ? '-' : Number.isInteger(n) ? String(n) : n < 10 ? n.toFixed(2) : n.toFixed(1));
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? (a / b).toFixed(2) + '×' : '-');
const failures = (r) => r.total - r.good + r.errors + r.timeouts;

function table(rows, floor) {
  const header = [
    'row',
    'Gatehouse rps',
    'p50 ms',
    'p99 ms',
    'floor rps',
    'oidc-provider rps',
    'p50 ms',
    'p99 ms',
    'workers-oauth-provider rps',
    'p50 ms',
    'p99 ms',
    'rps G/floor',
    'rps G/O',
    'rps G/W',
    'p99 G/O',
    'G failed',
    'O failed',
    'W failed',
    'G per request (KV, ledger, signatures)',
  ];
  const lat = (r, p) => (r.total ? ms(r[p]) : '-');
  const failed = (r) => (failures(r) || r.note ? `${failures(r)}${r.note ? ' stopped' : ''} ✗` : '0');
  // The floor answers one plain request; the loop makes two requests an iteration.
  const floorFor = (row) => floor.rps / ({ authcode: 2, login: 5 }[row] ?? 1);
  const none = { rps: NaN, total: 0 };
  const lines = rows.map(({ row, label, g, o, w = none, counts }) => [
    label,
    fmt(g.rps),
    lat(g, 'p50'),
    lat(g, 'p99'),
    fmt(floorFor(row)),
    fmt(o.rps),
    lat(o, 'p50'),
    lat(o, 'p99'),
    fmt(w.rps),
    lat(w, 'p50'),
    lat(w, 'p99'),
    ratio(g.rps, floorFor(row)),
    ratio(g.rps, o.rps),
    ratio(g.rps, w.rps),
    g.total && o.total ? ratio(g.p99, o.p99) : '-',
    failed(g),
    failed(o),
    w.total ? failed(w) : '-',
    counts ?? '-',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const render = (cells) =>
    '| ' + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ') + ' |';
  const rule = '|' + widths.map((w, i) => '-'.repeat(w + 1) + (i ? ':' : '-')).join('|') + '|';
  return [render(header), rule, ...lines.map(render)].join('\n');
}

function describeFailures(label, name, r) {
  const out = [];
  if (r.errors || r.timeouts) out.push(`  ${label} / ${name}: ${r.errors} connection errors, ${r.timeouts} timeouts`);
  for (const [what, count] of [...r.bad].sort((x, y) => y[1] - x[1]).slice(0, 5)) {
    out.push(`  ${label} / ${name}: ${count} × ${what.replace(/\s+/g, ' ')}`);
  }
  if (r.note) out.push(`  ${label} / ${name}: ${r.note}`);
  return out;
}

// ---- main -------------------------------------------------------------------------------------
const NOOP_DIR = join(HERE, 'noop-worker');
const NOOP_SHIM = join(NOOP_DIR, 'build', 'worker', 'shim.mjs');

/** The floors: a no-op JavaScript Worker, or (`rust`) the same answer from a no-op workers-rs
 *  Worker (bench/noop-worker, built here once), under the same Miniflare and load. */
async function workerdFloor({ rust = false } = {}) {
  const { Miniflare } = await import('miniflare');
  if (rust && !existsSync(NOOP_SHIM)) run('worker-build', ['--release'], { cwd: NOOP_DIR });
  const script = rust
    ? {
        scriptPath: NOOP_SHIM,
        modulesRules: [
          { type: 'ESModule', include: ['**/*.js', '**/*.mjs'] },
          { type: 'CompiledWasm', include: ['**/*.wasm'] },
        ],
      }
    : { script: 'export default { fetch() { return new Response(\'{"issuer":"x"}\', { headers: { "content-type": "application/json" } }); } }' };
  const mf = new Miniflare({
    modules: true,
    ...script,
    compatibilityDate: '2026-04-26',
    host: '127.0.0.1',
    port: 0,
    cf: false,
  });
  try {
    const url = (await mf.ready).origin + '/';
    const { default: autocannon } = await import('autocannon');
    const r = await autocannon({ url, connections: CONNECTIONS, duration: SECONDS });
    return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99 };
  } finally {
    await mf.dispose();
  }
}

async function main() {
  if (!workerBuilt()) {
    console.error('✗ the Worker is not built: run `npm run build` first');
    process.exit(1);
  }
  const wasm = readFileSync(WORKER_WASM);
  const pkg = (name) => JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
  console.log(
    `gatehouse bench: ${SECONDS} s per row and server (+${WARMUP_SECONDS} s warm-up), ${CONNECTIONS} connections; ` +
      `node ${process.versions.node}, ${cpus().length} CPUs, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}; ` +
      `miniflare ${pkg('miniflare')}, oidc-provider ${pkg('oidc-provider')}, autocannon ${pkg('autocannon')}`,
  );
  const [gatehouse, reference] = await Promise.all([startGatehouse(), startOidcProvider()]);
  console.log(`Gatehouse (workerd via Miniflare) at ${gatehouse.origin}; oidc-provider (pid ${reference.pid}) at ${reference.origin}`);
  await prepare(gatehouse);
  await prepare(reference);
  const peer = await startPeer();
  console.log(`workers-oauth-provider (workerd via Miniflare, KV) at ${peer.origin}`);
  console.log(`logged in on all; minted ${REFRESH_CHAINS} refresh tokens each; measuring…`);

  // The floor of this harness, first: a no-op JavaScript Worker under the same Miniflare/workerd.
  const floor = await workerdFloor();
  console.log(`workerd floor (a no-op JS Worker, same Miniflare, ${CONNECTIONS} connections): ${fmt(floor.rps)} rps`);
  // And what the workers-rs glue alone leaves of it (every Rust Worker pays it per request).
  const rustFloor = await workerdFloor({ rust: true });
  console.log(`workers-rs floor (the same answer from a no-op Rust Worker): ${fmt(rustFloor.rps)} rps, ${ratio(rustFloor.rps, floor.rps)} the JS floor`);
  const results = [];
  for (const [row, label] of ROWS.filter(([row]) => !only || only.includes(row))) {
    const pair = { row };
    for (const server of [gatehouse, reference, ...(PEER_ROWS.includes(row) ? [peer] : [])]) {
      // The code row's minting warms the server up; a warm-up would spend its codes.
      if (row !== 'codeexchange') await measure(server, row, WARMUP_SECONDS);
      const r = await measure(server, row, SECONDS);
      pair[server === gatehouse ? 'g' : server === reference ? 'o' : 'w'] = r;
      // Counted on one request after the row's run: what a warm isolate pays (its copies of
      // tenant records are filled), as the rps figures do.
      // (A pause first: a request still in flight from the run would count in this one's
      // signatures, which the isolate counts as a whole.)
      if (server === gatehouse) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        pair.counts = await sampleCounts(gatehouse, row).catch((e) => `? (${e.message})`);
      }
      process.stdout.write(`  ${label.padEnd(40)} ${server.name.padEnd(14)} ${fmt(r.rps).padStart(6)} /s` + (failures(r) ? `  (${failures(r)} failed)` : '') + '\n');
    }
    results.push({ label, ...pair });
  }

  console.log('\n' + table(results, floor));
  console.log(
    `\nfloor: a no-op JS Worker under the same Miniflare, ${CONNECTIONS} connections, ${SECONDS} s: ` +
      `${fmt(floor.rps)} rps, p50 ${floor.p50} ms, p99 ${floor.p99} ms (the loops' floors: per request of an iteration, 2 and 5).` +
      `\nworkers-rs floor: the same answer from a no-op workers-rs Worker (bench/noop-worker): ${fmt(rustFloor.rps)} rps, ` +
      `${ratio(rustFloor.rps, floor.rps)} the JS floor — no Rust Worker gets above it, whatever it does after its glue.` +
      '\nper request: KV reads that reached KV (not the isolate\'s copy), ledger (Durable Object) round trips, signatures;' +
      '\n  counted by the Worker\'s host adapters (DEBUG_COUNTS=true, off in production) on one request made after the row\'s run (a warm isolate).',
  );
  // The data-growth row: the same Gatehouse rows again with GROWTH more users, clients and
  // live grants in its stores; what a request costs must not grow with the data.
  let growth = null;
  const again = results.filter(({ row }) => GROWTH_ROWS.includes(row));
  if ((!only || only.includes('growth')) && GROWTH > 0 && again.length === 0) {
    console.log(`\ndata growth: no rows to measure again (name some with it: BENCH_ROWS=userinfo,refresh,growth); not seeded`);
  } else if ((!only || only.includes('growth')) && GROWTH > 0) {
    const seconds = await seedGrowth(gatehouse);
    console.log(`\ndata growth: added ${fmt(GROWTH)} users, ${fmt(GROWTH)} clients and ${fmt(GROWTH)} live grants in ${seconds.toFixed(0)} s; the rows again:`);
    growth = [];
    for (const { row, label, g, counts } of again) {
      if (row === 'refresh') await refillChains(gatehouse);
      if (row !== 'codeexchange') await measure(gatehouse, row, WARMUP_SECONDS);
      const after = await measure(gatehouse, row, SECONDS);
      await new Promise((resolve) => setTimeout(resolve, 500));
      const countsAfter = await sampleCounts(gatehouse, row).catch((e) => `? (${e.message})`);
      growth.push({ row, label, before: g, after, counts, countsAfter });
      process.stdout.write(`  ${label.padEnd(40)} ${gatehouse.name.padEnd(14)} ${fmt(after.rps).padStart(6)} /s` + (failures(after) ? `  (${failures(after)} failed)` : '') + '\n');
    }
    const head = ['row', 'before rps', 'p99 ms', `+${fmt(GROWTH)} each rps`, 'p99 ms', 'after/before', 'failed before', 'failed after', 'per request before', 'per request after'];
    const lines = growth.map(({ label, before, after, counts, countsAfter }) => [
      label, fmt(before.rps), fmt(before.p99), fmt(after.rps), fmt(after.p99), `${(after.rps / before.rps).toFixed(2)}×`,
      failures(before) ? `${failures(before)} ✗` : '0', failures(after) ? `${failures(after)} ✗` : '0', counts ?? '-', countsAfter,
    ]);
    const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
    const line = (cells) => '| ' + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ') + ' |';
    console.log([line(head), '|' + widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|', ...lines.map(line)].join('\n'));
  }
  const probes = [];
  for (const server of [gatehouse, reference, peer]) {
    probes.push({ name: server.name, ...(await atomicityProbe(server).catch((e) => ({ trials: 0, error: e.message }))) });
  }
  console.log(
    '\natomicity: the same refresh token, and the same code, sent twice at once; trials in which both succeeded' +
      '\n(workers-oauth-provider keeps the previous refresh token usable until the new one is used, by design, so its' +
      '\nrefresh figure is its policy; two redemptions of one code are not):',
  );
  for (const p of probes) {
    console.log(p.error ? `  ${p.name.padEnd(14)} not measured: ${p.error}` : `  ${p.name.padEnd(14)} refresh ${p.refreshBoth}/${p.trials}, code ${p.codeBoth}/${p.trials}` + (p.neither ? `  (✗ ${p.neither} trials where neither succeeded)` : ''));
  }
  if (process.env.BENCH_JSON) {
    const column = (r) => ({ rps: r.rps, p50_ms: r.p50, p99_ms: r.p99, failed: failures(r) });
    const json = {
      seconds: SECONDS,
      connections: CONNECTIONS,
      floor: { rps: floor.rps, p50_ms: floor.p50, p99_ms: floor.p99 },
      workers_rs_floor: { rps: rustFloor.rps, p50_ms: rustFloor.p50, p99_ms: rustFloor.p99 },
      rows: results.map(({ row, label, g, o, w, counts }) => ({
        row,
        label,
        gatehouse: column(g),
        oidc_provider: column(o),
        workers_oauth_provider: w ? column(w) : null,
        floor_rps: floor.rps / ({ authcode: 2, login: 5 }[row] ?? 1),
        gatehouse_counts: counts,
      })),
      growth: growth && {
        added: { users: GROWTH, clients: GROWTH, grants: GROWTH },
        rows: growth.map(({ row, before, after, counts, countsAfter }) => ({
          row,
          before: column(before),
          after: column(after),
          counts_before: counts,
          counts_after: countsAfter,
        })),
      },
      worker_wasm_bytes: { raw: wasm.length, gzip: gzipSync(wasm, { level: 9 }).length },
      atomicity: probes,
    };
    writeFileSync(process.env.BENCH_JSON, JSON.stringify(json, null, 2) + '\n');
    console.log(`\nfigures written to ${process.env.BENCH_JSON}`);
  }
  console.log(
    [
      '',
      'rps: successful responses (loop: successful iterations) per second; p50/p99: latency of every request, in ms',
      '  (autocannon, 1 ms resolution; loop: of every iteration = GET authorize + POST token, by fetch).',
      'failed: non-2xx, bad 2xx (userinfo without the email, introspection not active, refresh without a new refresh',
      '  token), connection errors, timeouts.',
      `loop scope: "${SCOPE}" on both (no refresh token in the loop: oidc-provider grants offline_access only with`,
      '  prompt=consent, which forces its consent step). Refresh: public client, rotating tokens, one chain per connection.',
      'Gatehouse: workerd via Miniflare with local KV and SQLite Durable Object simulation; ES256 JWT access tokens.',
      'oidc-provider: a child Node.js process, in-memory Map adapter; opaque access tokens. ID tokens: RS256 on both.',
      'workers-oauth-provider: @cloudflare/workers-oauth-provider under the same Miniflare, on KV; its /authorize approves at',
      '  once (no login page: the library leaves that to the application); the userinfo row is its API call checking the token.',
      'All servers and the load generator share this machine.',
    ].join('\n'),
  );
  const notes = results.flatMap(({ label, g, o, w }) => [
    ...describeFailures(label, 'Gatehouse', g),
    ...describeFailures(label, 'oidc-provider', o),
    ...(w ? describeFailures(label, 'workers-oauth-provider', w) : []),
  ]);
  if (notes.length) console.log('\nfailures:\n' + notes.join('\n'));
  console.log(
    `\nindex_bg.wasm: ${wasm.length.toLocaleString('en')} bytes raw, ${gzipSync(wasm, { level: 9 }).length.toLocaleString('en')} bytes gzip -9`,
  );
  return notes.length === 0;
}

let ok = false;
try {
  ok = await main();
} catch (e) {
  console.error(`\n✗ ${e.stack || e}`);
} finally {
  clearTimeout(watchdog);
  await cleanup();
}
process.exit(ok ? 0 : 1);
