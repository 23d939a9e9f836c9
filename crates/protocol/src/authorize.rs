//! The authorization request a client sends (RFC 6749 §4.1.1, OIDC Core §3.1.2.1, with PKCE
//! S256, RFC 7636 §4.3): built the same way by the browser package and by the Worker's own
//! cookie-session client (the BFF).

use alloc::string::String;
use alloc::vec::Vec;

use crate::{form, pkce};

/// What an authorization code request with PKCE carries.
#[derive(Debug)]
pub struct AuthorizationRequest<'a> {
    /// The authorization endpoint, e.g. `https://auth.example/authorize` or `/authorize`.
    pub endpoint: &'a str,
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub scope: &'a str,
    pub state: &'a str,
    pub nonce: &'a str,
    pub code_challenge: &'a str,
}

impl AuthorizationRequest<'_> {
    /// The query's pairs: `response_type=code`, the fields above and
    /// `code_challenge_method=S256`, then `extras` (audience, prompt, …) in their order. The
    /// browser serialises them with `URLSearchParams` (the same URL Standard serializer).
    pub fn pairs<'a>(
        &'a self,
        extras: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let own = [
            ("client_id", self.client_id),
            ("response_type", "code"),
            ("redirect_uri", self.redirect_uri),
            ("scope", self.scope),
            ("state", self.state),
            ("nonce", self.nonce),
            ("code_challenge", self.code_challenge),
            ("code_challenge_method", pkce::METHOD),
        ];
        own.into_iter().chain(extras.iter().copied())
    }

    /// `{endpoint}?{pairs}`, form-encoded.
    pub fn url(&self, extras: &[(&str, &str)]) -> String {
        crate::concat(&[self.endpoint, "?", &form::encode(self.pairs(extras))])
    }
}

/// A login's `scope`: `openid` first and always (OIDC Core §3.1.2.1), the given scopes once each
/// (default `openid profile email`, as auth0-spa-js), and `offline_access` when the client
/// refreshes with refresh tokens (OIDC Core §11).
pub fn normalize_scope(scope: Option<&str>, offline_access: bool) -> String {
    let mut scopes: Vec<&str> = Vec::from(["openid"]);
    for s in scope.unwrap_or("openid profile email").split(' ').filter(|s| !s.is_empty()) {
        if !scopes.contains(&s) {
            scopes.push(s);
        }
    }
    if offline_access && !scopes.contains(&"offline_access") {
        scopes.push("offline_access");
    }
    scopes.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_carries_pkce_s256_and_the_extras_in_order() {
        let request = AuthorizationRequest {
            endpoint: "https://auth.example/authorize",
            client_id: "spa",
            redirect_uri: "https://app.example/cb?x=1",
            scope: "openid profile",
            state: "s",
            nonce: "n",
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        };
        assert_eq!(
            request.url(&[("audience", "https://api.example/"), ("prompt", "login")]),
            "https://auth.example/authorize?client_id=spa&response_type=code\
             &redirect_uri=https%3A%2F%2Fapp.example%2Fcb%3Fx%3D1&scope=openid+profile&state=s\
             &nonce=n&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
             &code_challenge_method=S256&audience=https%3A%2F%2Fapi.example%2F&prompt=login"
        );
    }

    #[test]
    fn scopes_always_start_with_openid_and_add_offline_access_for_refresh_tokens() {
        assert_eq!(normalize_scope(None, false), "openid profile email");
        assert_eq!(normalize_scope(None, true), "openid profile email offline_access");
        assert_eq!(normalize_scope(Some("email  read:x openid"), false), "openid email read:x");
        assert_eq!(normalize_scope(Some("offline_access"), true), "openid offline_access");
        assert_eq!(normalize_scope(Some(""), false), "openid");
    }
}
