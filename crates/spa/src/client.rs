//! The login client: `createGatehouseClient`, then `loginWithRedirect`, `handleRedirectCallback`
//! and `getTokenSilently` (the shape of `@auth0/auth0-spa-js`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use gatehouse_core::authorization::pkce::PkceCodeVerifier;
use gatehouse_core::http::params::encode;
use gatehouse_core::jose::jwk::{Jwk, JwkSet};
use js_sys::{Object, Promise, Reflect, JSON};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

use crate::browser::{self, error, number, set, string, BrowserRng, Store};
use crate::id_token::{self, Expected};

/// Claims that describe the token rather than the user (left out of `getUser`).
const TOKEN_CLAIMS: [&str; 10] =
    ["iss", "aud", "exp", "iat", "nbf", "nonce", "at_hash", "c_hash", "azp", "auth_time"];

struct Inner {
    domain: String,
    issuer: String,
    client_id: String,
    redirect_uri: String,
    audience: Option<String>,
    scope: String,
    store: Option<Store>,
    leeway: i64,
    memory: RefCell<HashMap<String, JsValue>>,
    jwks: RefCell<Option<Vec<Jwk>>>,
    in_flight: RefCell<HashMap<String, Promise>>,
}

/// A Gatehouse login client for one application (client id) and one authorization server.
#[wasm_bindgen]
pub struct GatehouseClient {
    inner: Rc<Inner>,
}

impl std::fmt::Debug for GatehouseClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatehouseClient")
            .field("client_id", &self.inner.client_id)
            .finish_non_exhaustive()
    }
}

fn get(object: &JsValue, name: &str) -> JsValue {
    Reflect::get(object, &name.into()).unwrap_or(JsValue::UNDEFINED)
}

/// `scope` with `openid` always, and `offline_access` when refresh tokens are used.
pub fn normalize_scope(scope: Option<String>, refresh: bool) -> String {
    let mut scopes: Vec<String> = vec!["openid".into()];
    for s in
        scope.unwrap_or_else(|| "openid profile email".into()).split(' ').filter(|s| !s.is_empty())
    {
        if !scopes.iter().any(|x| x == s) {
            scopes.push(s.to_string());
        }
    }
    if refresh && !scopes.iter().any(|s| s == "offline_access") {
        scopes.push("offline_access".into());
    }
    scopes.join(" ")
}

impl Inner {
    fn from_options(options: &JsValue) -> Result<Self, JsValue> {
        let domain = string(options, "domain")
            .ok_or_else(|| error("invalid_options", "domain is required"))?;
        let domain = if domain.starts_with("https://") || domain.starts_with("http://") {
            domain
        } else {
            format!("https://{domain}")
        };
        let domain = domain.trim_end_matches('/').to_string();
        let client_id = string(options, "clientId")
            .ok_or_else(|| error("invalid_options", "clientId is required"))?;
        let params = get(options, "authorizationParams");
        let origin = browser::window()?.location().origin()?;
        let refresh = get(options, "useRefreshTokens").as_bool().unwrap_or(true);
        let store = match string(options, "cacheLocation").as_deref() {
            None | Some("memory") => None,
            Some("localstorage") => Some(Store::Local),
            Some(_) => {
                return Err(error(
                    "invalid_options",
                    "cacheLocation must be memory or localstorage",
                ))
            }
        };
        Ok(Self {
            issuer: string(options, "issuer").unwrap_or_else(|| format!("{domain}/")),
            domain,
            client_id,
            redirect_uri: string(&params, "redirect_uri").unwrap_or_else(|| format!("{origin}/")),
            audience: string(&params, "audience"),
            scope: normalize_scope(string(&params, "scope"), refresh),
            store,
            leeway: number(options, "leeway").map(|l| l as i64).unwrap_or(60),
            memory: RefCell::default(),
            jwks: RefCell::default(),
            in_flight: RefCell::default(),
        })
    }

    /// The audience and scope a call asks for: its `authorizationParams`, else the defaults.
    fn target(&self, params: &JsValue) -> (Option<String>, String) {
        let audience = string(params, "audience").or_else(|| self.audience.clone());
        let refresh = self.scope.contains("offline_access");
        let scope = string(params, "scope")
            .map(|s| normalize_scope(Some(s), refresh))
            .unwrap_or_else(|| self.scope.clone());
        (audience, scope)
    }

    fn transaction_key(&self) -> String {
        format!("gatehouse.tx.{}", self.client_id)
    }

    fn cache_key(&self, audience: Option<&str>, scope: &str) -> String {
        format!("@@gatehouse@@::{}::{}::{}", self.client_id, audience.unwrap_or("default"), scope)
    }

    fn cache_get(&self, key: &str) -> Option<JsValue> {
        match &self.store {
            Some(store) => browser::load(store, key),
            None => self.memory.borrow().get(key).cloned(),
        }
    }

    fn cache_put(&self, key: &str, entry: &JsValue) -> Result<(), JsValue> {
        match &self.store {
            Some(store) => browser::save(store, key, entry),
            None => {
                self.memory.borrow_mut().insert(key.to_string(), entry.clone());
                Ok(())
            }
        }
    }

    fn cache_clear(&self) {
        let prefix = format!("@@gatehouse@@::{}::", self.client_id);
        if let Some(store) = &self.store {
            for key in browser::keys_with_prefix(store, &prefix) {
                browser::remove(store, &key);
            }
        }
        self.memory.borrow_mut().clear();
    }

    /// The user's entry (the latest ID token and its claims), whatever audience or scope the
    /// login asked for — as auth0-spa-js keeps `@@user@@`.
    fn user_key(&self) -> String {
        format!("@@gatehouse@@::{}::@@user@@", self.client_id)
    }

    /// A copy of the cached ID token claims, with the user entry they came from.
    fn claims(&self) -> Option<(Object, JsValue)> {
        let entry = self.cache_get(&self.user_key())?;
        let claims = get(&entry, "claims");
        if claims.is_undefined() {
            return None;
        }
        Some((Object::assign(&Object::new(), claims.unchecked_ref()), entry))
    }

    /// Every token entry of this client (for logout: each refresh token is revoked).
    fn entries(&self) -> Vec<JsValue> {
        let prefix = format!("@@gatehouse@@::{}::", self.client_id);
        match &self.store {
            Some(store) => browser::keys_with_prefix(store, &prefix)
                .iter()
                .filter_map(|k| browser::load(store, k))
                .collect(),
            None => self
                .memory
                .borrow()
                .iter()
                .filter(|(k, _)| k.starts_with(&prefix))
                .map(|(_, v)| v.clone())
                .collect(),
        }
    }

    async fn keys(&self, refetch: bool) -> Result<Vec<Jwk>, JsValue> {
        if !refetch {
            if let Some(keys) = self.jwks.borrow().clone() {
                return Ok(keys);
            }
        }
        let json = browser::get_json(&format!("{}/.well-known/jwks.json", self.domain)).await?;
        let text: String = JSON::stringify(&json)?.into();
        let set = JwkSet::parse(text.as_bytes())
            .ok_or_else(|| error("invalid_jwks", "the JWKS does not parse"))?;
        *self.jwks.borrow_mut() = Some(set.keys.clone());
        Ok(set.keys)
    }

    /// Validates an ID token; refetches the JWKS once for an unknown `kid` (key rotation).
    async fn validate(&self, token: &str, nonce: Option<&str>) -> Result<JsValue, JsValue> {
        let refuse = |(code, description): id_token::Refusal| error(code, &description);
        let mut claims = None;
        for refetch in [false, true] {
            let jws = id_token::parse(token).map_err(refuse)?;
            match id_token::verify_signature(jws, &self.keys(refetch).await?).await {
                Ok(c) => {
                    claims = Some(c);
                    break;
                }
                Err(("unknown_kid", _)) if !refetch => continue,
                Err(e) => return Err(refuse(e)),
            }
        }
        let claims = claims.ok_or_else(|| error("unknown_kid", "no key matches the ID token"))?;
        let expected = Expected {
            issuer: &self.issuer,
            client_id: &self.client_id,
            nonce,
            now: browser::now(),
            leeway: self.leeway,
        };
        id_token::check_claims(&claims, &expected).map_err(refuse)?;
        let text = serde_json::to_string(&claims)
            .map_err(|e| error("invalid_id_token", &e.to_string()))?;
        JSON::parse(&text)
    }

    /// Stores a token response (after validating its ID token) and returns the cache entry.
    async fn store_tokens(
        &self,
        key: &str,
        body: &JsValue,
        nonce: Option<&str>,
        previous: Option<&JsValue>,
    ) -> Result<JsValue, JsValue> {
        let access = string(body, "access_token")
            .ok_or_else(|| error("invalid_response", "no access_token"))?;
        let entry = Object::new();
        set(&entry, "access_token", access);
        set(
            &entry,
            "expires_at",
            browser::now() as f64 + number(body, "expires_in").unwrap_or(0.0),
        );
        set(&entry, "lifetime", number(body, "expires_in").unwrap_or(0.0));
        set(&entry, "scope", string(body, "scope").unwrap_or_default());
        match string(body, "id_token") {
            Some(id) => {
                let claims = self.validate(&id, nonce).await?;
                // OIDC Core §12.2: a refreshed ID token is about the same user, from the same issuer.
                if let Some(prev) = previous.map(|p| get(p, "claims")).filter(|c| !c.is_undefined())
                {
                    if string(&claims, "sub") != string(&prev, "sub")
                        || string(&claims, "iss") != string(&prev, "iss")
                    {
                        return Err(error(
                            "invalid_id_token",
                            "the refreshed ID token is about another user",
                        ));
                    }
                }
                let user = Object::new();
                set(&user, "id_token", id.as_str());
                set(&user, "claims", claims.clone());
                self.cache_put(&self.user_key(), &user.into())?;
                set(&entry, "id_token", id);
                set(&entry, "claims", claims);
            }
            None => {
                // A refresh may leave the ID token out: keep the one we had.
                if let Some(prev) = previous {
                    set(&entry, "id_token", get(prev, "id_token"));
                    set(&entry, "claims", get(prev, "claims"));
                }
            }
        }
        let refresh = string(body, "refresh_token")
            .or_else(|| previous.and_then(|p| string(p, "refresh_token")));
        if let Some(rt) = refresh {
            set(&entry, "refresh_token", rt);
        }
        let entry: JsValue = entry.into();
        self.cache_put(key, &entry)?;
        Ok(entry)
    }

    /// One refresh-token grant; the caller serialises.
    /// `forced_past`: with `cacheMode: 'off'`, the access token the caller saw; a different one
    /// in the cache means another caller (or tab) refreshed meanwhile, and that result is used.
    /// The shared cache is never written with a stale copy: a stale refresh token written back
    /// over a rotated one would present a used token and revoke the grant.
    async fn refresh(
        self: Rc<Self>,
        key: String,
        forced_past: Option<String>,
    ) -> Result<JsValue, JsValue> {
        let entry = self.cache_get(&key).ok_or_else(|| error("login_required", "not logged in"))?;
        let current = string(&entry, "access_token");
        let refreshed_meanwhile = forced_past.is_some() && current != forced_past;
        // Another tab may have refreshed while we waited for the lock.
        if refreshed_meanwhile || (forced_past.is_none() && fresh(&entry, self.leeway)) {
            return Ok(get(&entry, "access_token"));
        }
        let rt = string(&entry, "refresh_token")
            .ok_or_else(|| error("missing_refresh_token", "no refresh token: log in again"))?;
        let (status, body) = browser::post_form(
            &format!("{}/oauth/token", self.domain),
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &self.client_id),
                ("refresh_token", &rt),
            ],
        )
        .await?;
        if status != 200 {
            if string(&body, "error").as_deref() == Some("invalid_grant") {
                // Another tab may have rotated the token first (its write can reach this tab's
                // localStorage a moment after the lock): use its result if it is there.
                if let Some(latest) = self.cache_get(&key) {
                    if string(&latest, "refresh_token").is_some_and(|r| r != rt) {
                        return Ok(get(&latest, "access_token"));
                    }
                }
                self.cache_clear();
            }
            return Err(browser::oauth_error(&body, "refresh_failed"));
        }
        let stored = self.store_tokens(&key, &body, None, Some(&entry)).await?;
        Ok(get(&stored, "access_token"))
    }
}

/// The authorization request URL (RFC 6749 §4.1.1 with PKCE S256, RFC 7636 §4.3).
#[derive(Debug)]
pub struct AuthorizationRequest<'a> {
    pub domain: &'a str,
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub scope: &'a str,
    pub state: &'a str,
    pub nonce: &'a str,
    pub code_challenge: &'a str,
}

impl AuthorizationRequest<'_> {
    /// `{domain}/authorize?…`, form-encoded, with `extras` (audience, prompt, …) appended.
    pub fn url(&self, extras: &[(&str, String)]) -> String {
        let mut pairs: Vec<(&str, &str)> = vec![
            ("client_id", self.client_id),
            ("response_type", "code"),
            ("redirect_uri", self.redirect_uri),
            ("scope", self.scope),
            ("state", self.state),
            ("nonce", self.nonce),
            ("code_challenge", self.code_challenge),
            ("code_challenge_method", "S256"),
        ];
        pairs.extend(extras.iter().map(|(k, v)| (*k, v.as_str())));
        format!("{}/authorize?{}", self.domain, encode(pairs))
    }
}

/// Whether an entry's access token lives long enough to hand out: refreshed `leeway` seconds
/// early, or at half its lifetime when that is shorter (so short-lived tokens are still used).
fn fresh(entry: &JsValue, leeway: i64) -> bool {
    let lifetime = number(entry, "lifetime").map(|l| l as i64).unwrap_or(0);
    let margin = leeway.min(lifetime / 2);
    number(entry, "expires_at").is_some_and(|at| at as i64 - margin > browser::now())
        && string(entry, "access_token").is_some()
}

/// Runs `task` under the Web Locks API lock `name` when it exists (one refresh across tabs that
/// share a localStorage cache), else directly.
async fn with_lock(
    name: &str,
    task: impl FnOnce() -> Promise + 'static,
) -> Result<JsValue, JsValue> {
    let navigator = get(&js_sys::global(), "navigator");
    let locks = get(&navigator, "locks");
    let request = get(&locks, "request");
    if let Some(request) = request.dyn_ref::<js_sys::Function>() {
        let callback = Closure::once_into_js(move |_lock: JsValue| task());
        let promise: Promise = request.call2(&locks, &name.into(), &callback)?.dyn_into()?;
        JsFuture::from(promise).await
    } else {
        JsFuture::from(task()).await
    }
}

#[wasm_bindgen]
impl GatehouseClient {
    /// Sends the browser to the authorization server's `/authorize` with PKCE (S256), a fresh
    /// `state` and `nonce` kept in sessionStorage until the callback.
    #[wasm_bindgen(js_name = loginWithRedirect, unchecked_return_type = "Promise<void>")]
    pub fn login_with_redirect(
        &self,
        #[wasm_bindgen(unchecked_param_type = "LoginOptions | undefined")] options: JsValue,
    ) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let params = get(&options, "authorizationParams");
            let (audience, scope) = inner.target(&params);
            let verifier = PkceCodeVerifier::new_random(&BrowserRng);
            let (state, nonce) = (browser::random_token(), browser::random_token());
            let tx = Object::new();
            set(&tx, "state", state.as_str());
            set(&tx, "nonce", nonce.as_str());
            set(&tx, "code_verifier", verifier.secret());
            set(&tx, "redirect_uri", inner.redirect_uri.as_str());
            set(&tx, "scope", scope.as_str());
            set(&tx, "audience", audience.clone().map(JsValue::from).unwrap_or(JsValue::NULL));
            set(&tx, "appState", get(&options, "appState"));
            browser::save(&Store::Session, &inner.transaction_key(), &tx.into())?;
            let challenge = verifier.challenge();
            let mut extras: Vec<(&str, String)> = Vec::new();
            if let Some(a) = audience {
                extras.push(("audience", a));
            }
            for extra in ["prompt", "login_hint", "max_age"] {
                if let Some(v) = string(&params, extra)
                    .or_else(|| number(&params, extra).map(|n| (n as i64).to_string()))
                {
                    extras.push((extra, v));
                }
            }
            let request = AuthorizationRequest {
                domain: &inner.domain,
                client_id: &inner.client_id,
                redirect_uri: &inner.redirect_uri,
                scope: &scope,
                state: &state,
                nonce: &nonce,
                code_challenge: challenge.as_str(),
            };
            let url = request.url(&extras);
            browser::window()?.location().assign(&url)?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Completes the login on the callback page: checks `state` (and `iss`, RFC 9207), exchanges
    /// the code with the PKCE verifier, validates the ID token, caches the tokens.
    #[wasm_bindgen(js_name = handleRedirectCallback, unchecked_return_type = "Promise<RedirectLoginResult>")]
    pub fn handle_redirect_callback(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | undefined")] url: JsValue,
    ) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let href = match url.as_string() {
                Some(u) => u,
                None => browser::window()?.location().href()?,
            };
            let parsed = web_sys::Url::new(&href)?;
            let query = parsed.search_params();
            let tx = browser::load(&Store::Session, &inner.transaction_key()).ok_or_else(|| {
                error("missing_transaction", "no login is in progress in this tab")
            })?;
            browser::remove(&Store::Session, &inner.transaction_key());
            if query.get("state") != string(&tx, "state") {
                return Err(error("invalid_state", "state does not match the login request"));
            }
            // RFC 9207 §2.4: Gatehouse advertises iss on responses, so it must be there.
            if query.get("iss").as_deref() != Some(inner.issuer.as_str()) {
                return Err(error(
                    "invalid_iss",
                    "the response does not come from the expected issuer (RFC 9207)",
                ));
            }
            if let Some(code) = query.get("error") {
                return Err(error(&code, &query.get("error_description").unwrap_or_default()));
            }
            let code = query
                .get("code")
                .ok_or_else(|| error("invalid_response", "no code in the response"))?;
            let verifier = string(&tx, "code_verifier").unwrap_or_default();
            let redirect_uri = string(&tx, "redirect_uri").unwrap_or_default();
            let (status, body) = browser::post_form(
                &format!("{}/oauth/token", inner.domain),
                &[
                    ("grant_type", "authorization_code"),
                    ("client_id", &inner.client_id),
                    ("code", &code),
                    ("code_verifier", &verifier),
                    ("redirect_uri", &redirect_uri),
                ],
            )
            .await?;
            if status != 200 {
                return Err(browser::oauth_error(&body, "token_exchange_failed"));
            }
            let audience = string(&tx, "audience");
            let scope = string(&tx, "scope").unwrap_or_default();
            let key = inner.cache_key(audience.as_deref(), &scope);
            inner.store_tokens(&key, &body, string(&tx, "nonce").as_deref(), None).await?;
            let result = Object::new();
            set(&result, "appState", get(&tx, "appState"));
            Ok(result.into())
        })
    }

    /// An access token for the audience and scope: from the cache while it lives, else by the
    /// rotating refresh token — one refresh at a time per audience and scope (across tabs too,
    /// with the localStorage cache, through the Web Locks API).
    #[wasm_bindgen(js_name = getTokenSilently, unchecked_return_type = "Promise<string>")]
    pub fn get_token_silently(
        &self,
        #[wasm_bindgen(unchecked_param_type = "GetTokenSilentlyOptions | undefined")]
        options: JsValue,
    ) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let params = get(&options, "authorizationParams");
            let (audience, scope) = inner.target(&params);
            let key = inner.cache_key(audience.as_deref(), &scope);
            let forced = string(&options, "cacheMode").as_deref() == Some("off");
            let cached = inner.cache_get(&key);
            if !forced {
                if let Some(entry) = cached.as_ref().filter(|e| fresh(e, inner.leeway)) {
                    return Ok(get(entry, "access_token"));
                }
            }
            let forced_past =
                if forced { cached.as_ref().and_then(|e| string(e, "access_token")) } else { None };
            let existing = inner.in_flight.borrow().get(&key).cloned();
            if let Some(pending) = existing {
                return JsFuture::from(pending).await;
            }
            let task_inner = inner.clone();
            let task_key = key.clone();
            let task = move || future_to_promise(task_inner.refresh(task_key, forced_past));
            let lock_name = format!("gatehouse-refresh:{key}");
            let promise = future_to_promise(async move { with_lock(&lock_name, task).await });
            inner.in_flight.borrow_mut().insert(key.clone(), promise.clone());
            let outcome = JsFuture::from(promise).await;
            inner.in_flight.borrow_mut().remove(&key);
            outcome
        })
    }

    /// The user's claims from the ID token, or `undefined` when not logged in.
    #[wasm_bindgen(js_name = getUser, unchecked_return_type = "Promise<User | undefined>")]
    pub fn get_user(&self) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let Some((user, _)) = inner.claims() else { return Ok(JsValue::UNDEFINED) };
            for name in TOKEN_CLAIMS {
                let _ = Reflect::delete_property(&user, &name.into());
            }
            Ok(user.into())
        })
    }

    /// All the ID token's claims, and the raw token as `__raw`.
    #[wasm_bindgen(js_name = getIdTokenClaims, unchecked_return_type = "Promise<IdTokenClaims | undefined>")]
    pub fn get_id_token_claims(&self) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let Some((claims, entry)) = inner.claims() else { return Ok(JsValue::UNDEFINED) };
            set(&claims, "__raw", get(&entry, "id_token"));
            Ok(claims.into())
        })
    }

    #[wasm_bindgen(js_name = isAuthenticated, unchecked_return_type = "Promise<boolean>")]
    pub fn is_authenticated(&self) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move { Ok(inner.claims().is_some().into()) })
    }

    /// Revokes the refresh token (RFC 7009), forgets every token, then ends the server session
    /// with RP-Initiated Logout (`id_token_hint`, `post_logout_redirect_uri`).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn logout(
        &self,
        #[wasm_bindgen(unchecked_param_type = "LogoutOptions | undefined")] options: JsValue,
    ) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let user = inner.cache_get(&inner.user_key());
            for rt in inner.entries().iter().filter_map(|e| string(e, "refresh_token")) {
                // Best effort: the server session ends below either way.
                let _ = browser::post_form(
                    &format!("{}/oauth/revoke", inner.domain),
                    &[
                        ("token", &rt),
                        ("client_id", &inner.client_id),
                        ("token_type_hint", "refresh_token"),
                    ],
                )
                .await;
            }
            inner.cache_clear();
            let mut pairs: Vec<(&str, String)> = vec![("client_id", inner.client_id.clone())];
            if let Some(id) = user.as_ref().and_then(|e| string(e, "id_token")) {
                pairs.push(("id_token_hint", id));
            }
            if let Some(to) = string(&options, "returnTo") {
                pairs.push(("post_logout_redirect_uri", to));
            }
            if get(&options, "localOnly").as_bool() == Some(true) {
                return Ok(JsValue::UNDEFINED);
            }
            let url = format!(
                "{}/oidc/logout?{}",
                inner.domain,
                encode(pairs.iter().map(|(k, v)| (*k, v.as_str())))
            );
            browser::window()?.location().assign(&url)?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// `fetch` with `Authorization: Bearer <access token>` (from `getTokenSilently`).
    #[wasm_bindgen(unchecked_return_type = "Promise<Response>")]
    pub fn fetch(
        &self,
        #[wasm_bindgen(unchecked_param_type = "RequestInfo | URL")] input: JsValue,
        #[wasm_bindgen(unchecked_param_type = "RequestInit | undefined")] init: JsValue,
    ) -> Promise {
        let token = self.get_token_silently(JsValue::UNDEFINED);
        future_to_promise(async move {
            let token = JsFuture::from(token).await?;
            let token = token.as_string().unwrap_or_default();
            let init = if init.is_undefined() {
                Object::new()
            } else {
                Object::assign(&Object::new(), init.unchecked_ref())
            };
            // new Headers(init.headers) accepts a Headers, a record or pairs alike.
            let given = get(&init, "headers");
            let headers = if given.is_undefined() {
                web_sys::Headers::new()?
            } else {
                web_sys::Headers::new_with_headers(given.unchecked_ref())?
            };
            headers.set("authorization", &format!("Bearer {token}"))?;
            set(&init, "headers", headers);
            let window = browser::window()?;
            let fetch = get(&window, "fetch").dyn_into::<js_sys::Function>()?;
            let promise: Promise = fetch.call2(&window, &input, &init)?.dyn_into()?;
            JsFuture::from(promise).await
        })
    }
}

/// Creates a client. `domain` is the authorization server (`https://` is assumed without a
/// scheme); the issuer is `${domain}/` unless `issuer` is given.
#[wasm_bindgen(js_name = createGatehouseClient, unchecked_return_type = "Promise<GatehouseClient>")]
pub fn create_gatehouse_client(
    #[wasm_bindgen(unchecked_param_type = "GatehouseClientOptions")] options: JsValue,
) -> Promise {
    future_to_promise(async move {
        let inner = Inner::from_options(&options)?;
        Ok(GatehouseClient { inner: Rc::new(inner) }.into())
    })
}
