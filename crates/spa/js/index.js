// @gatehouse/spa: log in to a Gatehouse authorization server from a single-page app, with the
// shape of @auth0/auth0-spa-js. This file does what the browser does best (fetch, storage, locks,
// crypto.subtle); every protocol rule comes from the WebAssembly module (gatehouse_spa.js), which
// is compiled from the same Rust crate whose rules the Worker applies (crates/protocol).
import init, * as rules from './gatehouse_spa.js';

export { init as default };
export { initSync } from './gatehouse_spa.js';

/** Claims that describe the token rather than the user (left out of `getUser`). */
const TOKEN_CLAIMS = ['iss', 'aud', 'exp', 'iat', 'nbf', 'nonce', 'at_hash', 'c_hash', 'azp', 'auth_time'];
/** What `checkSession` treats as "not logged in" rather than a failure (as auth0-spa-js). */
const NOT_LOGGED_IN = ['login_required', 'missing_refresh_token', 'consent_required', 'interaction_required'];

/** A GatehouseError: `error` is the OAuth error code (or the package's own), with a description. */
function error(code, description = '') {
  return Object.assign(new Error(`${code}: ${description}`), { name: 'GatehouseError', error: code, error_description: description });
}
const oauthError = (body, fallback) => error(body?.error ?? fallback, body?.error_description ?? '');
const now = () => Math.floor(Date.now() / 1000);
const random = (n) => crypto.getRandomValues(new Uint8Array(n));

async function request(url, init) {
  try {
    return await fetch(url, init);
  } catch (e) {
    throw error('network_error', `${url}: ${e.message}`);
  }
}

/** POSTs a form (URLSearchParams is the URL Standard's urlencoded serializer, RFC 6749 App. B). */
async function postForm(url, params) {
  const res = await request(url, { method: 'POST', body: new URLSearchParams(params) });
  return [res.status, await res.json().catch(() => undefined)];
}

/** The S256 challenge of a verifier (RFC 7636 §4.2): crypto.subtle's SHA-256, the shared rule. */
export async function pkceChallenge(verifier) {
  await init();
  if (!rules.isPkceVerifier(verifier)) throw error('invalid_request', 'code_verifier must be 43-128 unreserved characters (RFC 7636 §4.1)');
  return rules.pkceChallengeFromDigest(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
}

/** A fresh verifier (32 random octets, RFC 7636 §4.1) and its challenge. */
export async function createPkcePair() {
  await init();
  const codeVerifier = rules.pkceVerifier(random(32));
  return { codeVerifier, codeChallenge: await pkceChallenge(codeVerifier), codeChallengeMethod: 'S256' };
}

/** The caches: the same interface as a custom `cache` option (auth0-spa-js's ICache). */
function memoryCache() {
  const m = new Map();
  return { get: (k) => m.get(k), set: (k, v) => void m.set(k, v), remove: (k) => void m.delete(k), allKeys: () => [...m.keys()] };
}
function storageCache(store) {
  return {
    get(k) {
      try {
        return JSON.parse(store.getItem(k)) ?? undefined;
      } catch {
        return undefined;
      }
    },
    set: (k, v) => store.setItem(k, JSON.stringify(v)),
    remove: (k) => store.removeItem(k),
    allKeys: () => Object.keys(store),
  };
}
/** The login transaction's store: this tab's sessionStorage. */
const session = () => storageCache(sessionStorage);

/** One refresh per name across the tabs of an origin (Web Locks API), or directly without it. */
const withLock = (name, task) => (navigator.locks?.request ? navigator.locks.request(name, task) : task());

class GatehouseClient {
  #o;
  #jwks;
  #inFlight = new Map();
  /** Bumped by logout: a refresh that started before it never writes after it. */
  #epoch = 0;

  constructor(o) {
    this.#o = o;
  }

  #key(audience, scope) {
    return `${this.#o.prefix}${audience ?? 'default'}::${scope}`;
  }

  get #userKey() {
    return `${this.#o.prefix}@@user@@`;
  }

  /** For a custom cache without allKeys: the list of this client's keys, kept in the cache
   * itself (as auth0-spa-js does), so that logout finds every entry after a reload too. */
  get #manifestKey() {
    return `${this.#o.prefix}@@keys@@`;
  }

  /** The audience and scope a call asks for: its authorizationParams, else the client's. */
  #target(params = {}) {
    const { audience, scope, refresh } = this.#o;
    return [params.audience ?? audience, params.scope ? rules.normalizeScope(params.scope, refresh) : scope];
  }

  async #put(key, value) {
    const { cache } = this.#o;
    if (!cache.allKeys) {
      const keys = await this.#keys();
      if (!keys.includes(key)) await cache.set(this.#manifestKey, [...keys.filter((k) => k !== this.#manifestKey), key]);
    }
    await cache.set(key, value);
  }

  /** Every key of this client in the cache. */
  async #keys() {
    const { cache, prefix } = this.#o;
    if (cache.allKeys) return (await cache.allKeys()).filter((k) => k.startsWith(prefix));
    const listed = await cache.get(this.#manifestKey);
    return [...(Array.isArray(listed) ? listed : []), this.#manifestKey];
  }

  async #clear() {
    for (const k of await this.#keys()) await this.#o.cache.remove(k);
  }

  /** The issuer's JWKS keys (RFC 7517 §5), fetched once, and again for an unknown kid. */
  async #jwksKeys(refetch) {
    if (this.#jwks && !refetch) return this.#jwks;
    const url = `${this.#o.domain}/.well-known/jwks.json`;
    const res = await request(url);
    if (!res.ok) throw error('network_error', `${url}: HTTP ${res.status}`);
    const keys = (await res.json())?.keys;
    if (!Array.isArray(keys)) throw error('invalid_jwks', 'the JWKS has no keys array');
    return (this.#jwks = keys);
  }

  /** OIDC Core §3.1.3.7: the rules (wasm) say which keys can have signed it; WebCrypto checks. */
  async #validate(idToken, nonce, max_age) {
    let token;
    try {
      token = rules.prepareIdToken(idToken, await this.#jwksKeys(false));
    } catch (e) {
      if (e.error !== 'unknown_kid') throw e;
      token = rules.prepareIdToken(idToken, await this.#jwksKeys(true)); // a rotated key
    }
    let verified = false;
    for (const jwk of token.keys) {
      try {
        const key = await crypto.subtle.importKey('jwk', jwk, token.keyAlgorithm, false, ['verify']);
        verified = await crypto.subtle.verify(token.verifyAlgorithm, key, token.signature, token.signingInput);
      } catch {
        // A key WebCrypto refuses to import cannot have made the signature.
      }
      if (verified) break;
    }
    if (!verified) throw error('invalid_signature', "the ID token's signature does not verify");
    const { issuer, clientId: client_id, leeway } = this.#o;
    rules.checkIdTokenClaims(token.claims, { issuer, client_id, nonce, now: now(), leeway, max_age });
    return token.claims;
  }

  /** Keeps a token response (its ID token validated first) and returns the cache entry; not
   * when a logout came meanwhile (`epoch`). */
  async #store(key, body, { nonce, maxAge, previous, epoch = this.#epoch } = {}) {
    if (typeof body?.access_token !== 'string') throw error('invalid_response', 'no access_token');
    const lifetime = typeof body.expires_in === 'number' ? body.expires_in : 0;
    const entry = { access_token: body.access_token, expires_at: now() + lifetime, lifetime, scope: body.scope ?? '' };
    if (typeof body.id_token === 'string') {
      const claims = await this.#validate(body.id_token, nonce, maxAge);
      // OIDC Core §12.2: a refreshed ID token is about the same user, from the same issuer.
      if (previous?.claims) rules.checkRefreshedIdToken(previous.claims, claims);
      if (epoch !== this.#epoch) throw error('login_required', 'logged out meanwhile');
      await this.#put(this.#userKey, { id_token: body.id_token, claims });
      Object.assign(entry, { id_token: body.id_token, claims });
    } else if (previous) {
      // A refresh may leave the ID token out: keep the one we had.
      Object.assign(entry, { id_token: previous.id_token, claims: previous.claims });
    }
    const refreshToken = body.refresh_token ?? previous?.refresh_token;
    if (refreshToken) entry.refresh_token = refreshToken;
    if (epoch !== this.#epoch) throw error('login_required', 'logged out meanwhile');
    await this.#put(key, entry);
    return entry;
  }

  /** Whether an entry's access token lives long enough to hand out: refreshed `leeway` seconds
   * early, or at half its lifetime when that is shorter (so short-lived tokens are still used). */
  #fresh(entry) {
    const margin = Math.min(this.#o.leeway, Math.trunc((entry?.lifetime ?? 0) / 2));
    return typeof entry?.access_token === 'string' && entry.expires_at - margin > now();
  }

  /** One refresh-token grant; the caller serialises. `forcedPast`: with cacheMode 'off', the
   * access token the caller saw; another one in the cache means another caller (or tab) already
   * refreshed, and that result is used. The shared cache is never written with a stale copy: a
   * stale refresh token written over a rotated one would present a used token and revoke the
   * grant (RFC 9700 §4.14.2). */
  async #refresh(key, forcedPast) {
    const epoch = this.#epoch;
    const entry = await this.#o.cache.get(key);
    if (!entry) throw error('login_required', 'not logged in');
    if (forcedPast !== undefined ? entry.access_token !== forcedPast : this.#fresh(entry)) return entry;
    const rt = entry.refresh_token;
    if (!rt) throw error('missing_refresh_token', 'no refresh token: log in again');
    const { domain, clientId: client_id } = this.#o;
    const [status, body] = await postForm(`${domain}/oauth/token`, { grant_type: 'refresh_token', client_id, refresh_token: rt });
    if (status !== 200) {
      if (body?.error === 'invalid_grant') {
        // Another tab may have rotated it first (its write can reach this tab's localStorage a
        // moment after the lock): use its result if it is there.
        const latest = await this.#o.cache.get(key);
        if (latest?.refresh_token && latest.refresh_token !== rt) return latest;
        await this.#clear();
      }
      throw oauthError(body, 'refresh_failed');
    }
    try {
      return await this.#store(key, body, { previous: entry, epoch });
    } catch (e) {
      // The server rotated the refresh token, but its answer was refused (or its JWKS could not
      // be fetched): the replaced token must never be sent again, or the server takes it for a
      // stolen one and revokes the grant (RFC 9700 §4.14.2). The access token stays while it lives.
      if (body.refresh_token && epoch === this.#epoch) {
        const { refresh_token, ...kept } = entry;
        await this.#put(key, kept);
      }
      throw e;
    }
  }

  /** Saves the login transaction (PKCE verifier, state, nonce) and returns the /authorize URL. */
  async #authorizeUrl(options = {}) {
    const params = options.authorizationParams ?? {};
    const [audience, scope] = this.#target(params);
    const { domain, clientId: client_id, defaults } = this.#o;
    const redirect_uri = params.redirect_uri ?? this.#o.redirectUri;
    const { codeVerifier: code_verifier, codeChallenge: code_challenge } = await createPkcePair();
    const [state, nonce] = [rules.base64url(random(32)), rules.base64url(random(32))];
    // OIDC Core §3.1.3.7 item 13: with max_age, the ID token's auth_time is checked.
    const max_age = Number(params.max_age ?? defaults.max_age ?? NaN);
    const tx = { state, nonce, code_verifier, redirect_uri, scope, audience: audience ?? null, appState: options.appState };
    session().set(this.#o.txKey, Number.isFinite(max_age) ? { ...tx, max_age } : tx);
    const request = { client_id, redirect_uri, scope, state, nonce, code_challenge, audience };
    return `${domain}/authorize?${new URLSearchParams(rules.authorizeParams(request, defaults, params))}`;
  }

  /** Sends the browser to /authorize with PKCE (S256) and a fresh state and nonce. */
  async loginWithRedirect(options) {
    location.assign(await this.#authorizeUrl(options));
  }

  /** On the callback page: checks state and iss (RFC 9207), exchanges the code with the PKCE
   * verifier, validates the ID token, caches the tokens. */
  async handleRedirectCallback(url = location.href) {
    const query = new URL(url).searchParams;
    const tx = session().get(this.#o.txKey);
    if (!tx) throw error('missing_transaction', 'no login is in progress in this tab');
    session().remove(this.#o.txKey);
    if (query.get('state') !== tx.state) throw error('invalid_state', 'state does not match the login request');
    // RFC 9207 §2.4: Gatehouse advertises iss on responses, so it must be there.
    if (query.get('iss') !== this.#o.issuer) throw error('invalid_iss', 'the response does not come from the expected issuer (RFC 9207)');
    if (query.get('error')) throw error(query.get('error'), query.get('error_description') ?? '');
    const code = query.get('code');
    if (!code) throw error('invalid_response', 'no code in the response');
    const { domain, clientId: client_id } = this.#o;
    const form = { grant_type: 'authorization_code', client_id, code, code_verifier: tx.code_verifier, redirect_uri: tx.redirect_uri };
    const [status, body] = await postForm(`${domain}/oauth/token`, form);
    if (status !== 200) throw oauthError(body, 'token_exchange_failed');
    await this.#store(this.#key(tx.audience ?? undefined, tx.scope), body, { nonce: tx.nonce, maxAge: tx.max_age });
    return { appState: tx.appState };
  }

  /** An access token for the audience and scope: cached while it lives, else by the rotating
   * refresh token, one refresh at a time per audience and scope (across tabs too). cacheMode
   * 'off' refreshes, 'cache-only' never does; detailedResponse answers the whole entry. */
  async getTokenSilently(options = {}) {
    const [audience, scope] = this.#target(options.authorizationParams);
    const key = this.#key(audience, scope);
    const cached = await this.#o.cache.get(key);
    let entry = options.cacheMode !== 'off' && this.#fresh(cached) ? cached : undefined;
    if (!entry && options.cacheMode === 'cache-only') return undefined;
    if (!entry) {
      let pending = this.#inFlight.get(key);
      if (!pending) {
        const forcedPast = options.cacheMode === 'off' ? cached?.access_token : undefined;
        pending = withLock(`gatehouse-refresh:${key}`, () => this.#refresh(key, forcedPast));
        this.#inFlight.set(key, pending);
        pending.then(
          () => this.#inFlight.delete(key),
          () => this.#inFlight.delete(key),
        );
      }
      entry = await pending;
    }
    if (!options.detailedResponse) return entry.access_token;
    const { access_token, id_token, scope: granted } = entry;
    return { access_token, id_token, scope: granted, expires_in: Math.max(0, entry.expires_at - now()) };
  }

  /** Like getTokenSilently, but "not logged in" is not an error (auth0-spa-js's checkSession). */
  async checkSession(options) {
    try {
      await this.getTokenSilently(options);
    } catch (e) {
      if (!NOT_LOGGED_IN.includes(e.error)) throw e;
    }
  }

  async #user() {
    const entry = await this.#o.cache.get(this.#userKey);
    return entry?.claims ? entry : undefined;
  }

  /** The user's claims from the ID token, or undefined when not logged in. */
  async getUser() {
    const entry = await this.#user();
    if (!entry) return undefined;
    const user = { ...entry.claims };
    for (const name of TOKEN_CLAIMS) delete user[name];
    return user;
  }

  /** All the ID token's claims, and the raw token as __raw. */
  async getIdTokenClaims() {
    const entry = await this.#user();
    return entry && { ...entry.claims, __raw: entry.id_token };
  }

  async isAuthenticated() {
    return !!(await this.#user());
  }

  /** Forgets every token, revokes the refresh tokens (RFC 7009), then ends the server session
   * with RP-Initiated Logout (id_token_hint, post_logout_redirect_uri). */
  async logout(options = {}) {
    this.#epoch += 1;
    const { cache, domain, clientId: client_id } = this.#o;
    const user = await this.#user();
    const tokens = [];
    for (const k of await this.#keys()) {
      // Under each entry's refresh lock: a refresh under way (in this tab or another) ends first,
      // and what it stored is forgotten here; one in this tab stores nothing (the epoch).
      await withLock(`gatehouse-refresh:${k}`, async () => {
        const token = (await cache.get(k))?.refresh_token;
        if (token) tokens.push(token);
        await cache.remove(k);
      });
    }
    // Best effort: the server session ends below either way.
    for (const token of tokens) await postForm(`${domain}/oauth/revoke`, { token, client_id, token_type_hint: 'refresh_token' }).catch(() => {});
    if (options.localOnly || options.openUrl === false) return;
    const query = new URLSearchParams({ client_id });
    if (user?.id_token) query.set('id_token_hint', user.id_token);
    const returnTo = options.logoutParams?.returnTo ?? options.returnTo;
    if (returnTo) query.set('post_logout_redirect_uri', returnTo);
    location.assign(`${domain}/oidc/logout?${query}`);
  }

  /** fetch with `Authorization: Bearer <access token>` (from getTokenSilently). */
  async fetch(input, init = {}) {
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${await this.getTokenSilently()}`);
    return fetch(input, { ...init, headers });
  }
}

/** Creates a login client. `domain` is the authorization server (https:// is assumed without a
 * scheme); the issuer is `${domain}/` unless `issuer` is given. */
export async function createGatehouseClient(options = {}) {
  await init(); // once: a no-op when the page already called it
  const { clientId, cacheLocation = 'memory', leeway = 60 } = options;
  if (!options.domain) throw error('invalid_options', 'domain is required');
  if (!clientId) throw error('invalid_options', 'clientId is required');
  const domain = (/^https?:\/\//.test(options.domain) ? options.domain : `https://${options.domain}`).replace(/\/+$/, '');
  const defaults = options.authorizationParams ?? {};
  let cache = options.cache;
  if (!cache && cacheLocation === 'memory') cache = memoryCache();
  if (!cache && cacheLocation === 'localstorage') cache = storageCache(localStorage);
  if (!cache) throw error('invalid_options', 'cacheLocation must be memory or localstorage');
  const refresh = options.useRefreshTokens ?? true;
  return new GatehouseClient({
    domain,
    refresh,
    clientId,
    issuer: options.issuer ?? `${domain}/`,
    redirectUri: defaults.redirect_uri ?? `${location.origin}/`,
    audience: defaults.audience,
    scope: rules.normalizeScope(defaults.scope, refresh),
    defaults,
    cache,
    leeway,
    prefix: `@@gatehouse@@::${clientId}::`,
    txKey: `gatehouse.tx.${clientId}`,
  });
}

/** Cookie mode ("SPAs with cookies"): the Worker runs the login and keeps the tokens; the page
 * holds only an HttpOnly session cookie and calls the API through the Worker's /bff/api. */
export function createCookieSession(options = {}) {
  if (!options.domain) throw error('invalid_options', 'domain is required');
  const domain = options.domain.replace(/\/+$/, '');
  // The session cookie, and the header the Worker requires against CSRF.
  const call = (path, init = {}) => {
    const headers = new Headers(init.headers);
    headers.set('gatehouse-csrf', '1');
    return request(domain + path, { ...init, headers, credentials: 'include' });
  };
  return {
    /** Goes to the Worker's login; it comes back to returnTo (default: this page). */
    login(returnTo = location.href) {
      location.assign(`${domain}/bff/login?${new URLSearchParams({ returnTo })}`);
    },
    /** { authenticated, user? }: never a token. */
    session: async () => (await call('/bff/session')).json(),
    /** fetch to the API through the Worker: path is appended to /bff/api. */
    fetch: (path, init) => call(`/bff/api${path.startsWith('/') ? '' : '/'}${path}`, init),
    /** Ends the session at the Worker, then goes to returnTo if it is allowed (else reloads). */
    async logout(returnTo = '') {
      const res = await call('/bff/logout', { method: 'POST', body: new URLSearchParams({ returnTo }) });
      const json = await res.json();
      if (!res.ok) throw oauthError(json, 'logout_failed');
      if (json.return_to) location.assign(json.return_to);
      else location.reload();
    },
  };
}
