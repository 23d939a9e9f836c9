//! gatehouse-spa: the browser side of Gatehouse. A login client for single-page apps
//! (authorization code + PKCE, ID token validation with WebCrypto, a token cache with rotating
//! refresh tokens), built on the core's PKCE and JOSE code.
#![forbid(unsafe_code)]

mod browser;
pub mod client;
mod cookie_session;
pub mod id_token;

pub use client::{create_gatehouse_client, GatehouseClient};
pub use cookie_session::{create_cookie_session, CookieSession};

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** Options of `createGatehouseClient`. */
export interface GatehouseClientOptions {
  /** The authorization server, e.g. "auth.example.com" (https assumed) or "http://127.0.0.1:8787". */
  domain: string;
  /** The application's client_id. */
  clientId: string;
  /** The expected ID token issuer; default `${domain}/`. */
  issuer?: string;
  /** Defaults for every login and token request. */
  authorizationParams?: AuthorizationParams;
  /** Where tokens are kept: "memory" (default) or "localstorage" (shared by tabs). */
  cacheLocation?: "memory" | "localstorage";
  /** Ask for offline_access and refresh with rotating refresh tokens (default true). */
  useRefreshTokens?: boolean;
  /** Clock-skew leeway in seconds for ID token times, and how early tokens are refreshed (default 60). */
  leeway?: number;
}
export interface AuthorizationParams {
  /** Default: the page's origin followed by "/". */
  redirect_uri?: string;
  /** The API (audience) the access token is for. */
  audience?: string;
  /** Space-separated scopes; "openid" is always added. Default "openid profile email". */
  scope?: string;
  prompt?: "none" | "login" | "consent";
  login_hint?: string;
  max_age?: number;
}
export interface LoginOptions {
  authorizationParams?: AuthorizationParams;
  /** Anything to get back from `handleRedirectCallback`. */
  appState?: unknown;
}
export interface RedirectLoginResult {
  appState?: unknown;
}
export interface GetTokenSilentlyOptions {
  /** "off" skips the cache and refreshes. */
  cacheMode?: "on" | "off";
  authorizationParams?: Pick<AuthorizationParams, "audience" | "scope">;
}
export interface LogoutOptions {
  /** A registered post-logout redirect URI. */
  returnTo?: string;
  /** Only forget the tokens here; do not end the server session. */
  localOnly?: boolean;
}
/** The user's claims from the ID token. */
export interface User {
  sub: string;
  name?: string;
  given_name?: string;
  family_name?: string;
  nickname?: string;
  picture?: string;
  email?: string;
  email_verified?: boolean;
  [claim: string]: unknown;
}
export interface IdTokenClaims extends User {
  iss: string;
  aud: string | string[];
  exp: number;
  iat: number;
  nonce?: string;
  /** The raw ID token. */
  __raw: string;
}
/** Cookie mode: what `CookieSession.session()` answers. */
export interface CookieSessionState {
  authenticated: boolean;
  user?: User;
}
/** Errors are `Error`s named "GatehouseError" with an OAuth-style `error` code, e.g.
 * "login_required", "invalid_state", "invalid_nonce", "invalid_signature", "expired". */
export interface GatehouseError extends Error {
  error: string;
  error_description: string;
}
"#;

use gatehouse_core::authorization::pkce::{PkceCodeChallenge, PkceCodeVerifier};
use wasm_bindgen::prelude::*;

use browser::BrowserRng;

/// A PKCE verifier and its S256 challenge (RFC 7636 §4.1, §4.2).
#[wasm_bindgen]
#[derive(Debug)]
pub struct PkcePair {
    verifier: PkceCodeVerifier,
    challenge: PkceCodeChallenge,
}

#[wasm_bindgen]
impl PkcePair {
    /// `code_verifier`: keep it in the transaction state; send it to the token endpoint.
    #[wasm_bindgen(getter, js_name = codeVerifier)]
    pub fn code_verifier(&self) -> String {
        self.verifier.secret().to_string()
    }

    /// `code_challenge`: send it with the authorization request.
    #[wasm_bindgen(getter, js_name = codeChallenge)]
    pub fn code_challenge(&self) -> String {
        self.challenge.as_str().to_string()
    }

    /// Always `S256` (`plain` is not offered).
    #[wasm_bindgen(getter, js_name = codeChallengeMethod)]
    pub fn code_challenge_method(&self) -> String {
        self.challenge.method().to_string()
    }
}

/// A fresh PKCE pair: 32 random octets from the browser's CSPRNG as a 43-character verifier.
#[wasm_bindgen(js_name = createPkcePair)]
pub fn create_pkce_pair() -> PkcePair {
    let verifier = PkceCodeVerifier::new_random(&BrowserRng);
    let challenge = verifier.challenge();
    PkcePair { verifier, challenge }
}

/// The S256 challenge of a verifier; throws on a verifier that RFC 7636 §4.1 does not allow.
#[wasm_bindgen(js_name = pkceChallenge)]
pub fn pkce_challenge(code_verifier: &str) -> Result<String, JsError> {
    let verifier = PkceCodeVerifier::parse(code_verifier).ok_or_else(|| {
        JsError::new("code_verifier must be 43-128 unreserved characters (RFC 7636 §4.1)")
    })?;
    Ok(verifier.challenge().as_str().to_string())
}
