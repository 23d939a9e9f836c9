//! Deployment configuration: the Worker reads it from wrangler.toml vars and secrets.

use crate::b64;
use crate::http::Request;
use crate::secret::{SecretBytes, SecretString};

/// Defaults, each with the rule that motivates it.
pub mod defaults {
    /// Retired signing keys stay in the JWKS this long after rotation, so every token they
    /// signed can still be verified until it expires (RFC 7517 §5; OIDC Core §10.1.1 on
    /// rotation). It must cover the longest token lifetime Gatehouse issues (Auth0's access
    /// token default is 86,400 s) plus clock-skew leeway.
    pub const RETIRED_KEY_GRACE_SECONDS: i64 = 86_400 + 300;
    /// PBKDF2-HMAC-SHA256 iterations for user passwords: the most Cloudflare's WebCrypto allows
    /// (100,000), below OWASP's 600,000 for this KDF — the price of running in a Worker.
    pub const PASSWORD_ITERATIONS: u32 = 100_000;
    /// How long a reader may serve the signing-key set from its KV copy before re-reading the
    /// Durable Object (bounds how stale a rotation can look).
    pub const KEY_SET_CACHE_SECONDS: u64 = 600;
    /// How long one Worker isolate reuses the key set it read (it is read on every signature and
    /// every token check; a rotation reaches other isolates within this time, and the promoted
    /// key was already published as "next").
    pub const KEY_SET_ISOLATE_CACHE_SECONDS: u64 = 30;
    /// `Cache-Control: max-age` of discovery and the JWKS. Next keys are published a whole
    /// rotation ahead, so a cached JWKS already holds the key that will sign next.
    pub const METADATA_MAX_AGE_SECONDS: u64 = 600;
}

/// The cookie-session ("backend for frontend") configuration: the Worker itself runs the code
/// flow for a registered client, keeps the tokens, and proxies API calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BffConfig {
    /// `BFF_CLIENT_ID`: the registered client the Worker logs in as (redirect URI
    /// `{issuer}bff/callback`; its `web_origins` may use the session).
    pub client_id: String,
    /// `BFF_API_URL`: where `/bff/api/*` is forwarded, with the access token.
    pub api_url: String,
    /// `BFF_AUDIENCE`: the API's identifier, for access tokens.
    pub audience: Option<String>,
    /// `BFF_SCOPE`: what the Worker asks for (default `openid profile email offline_access`).
    pub scope: String,
}

/// Why a configuration could not be used.
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

/// The deployment's configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// `ISSUER`: the issuer identifier. Unset: the request's origin followed by `/` (Auth0's
    /// form, which auth0-spa-js compares the ID token's `iss` against).
    pub issuer: Option<String>,
    /// `KEY_ENCRYPTION_KEY` (secret): 32 bytes, base64url. Seals private signing keys at rest.
    pub key_encryption_key: Option<SecretBytes>,
    /// `ADMIN_TOKEN` (secret): bearer token for the operator endpoints under `/admin/`.
    /// Unset: those endpoints do not exist (404).
    pub admin_token: Option<SecretString>,
    /// `INITIAL_ACCESS_TOKEN` (secret): RFC 7591 §3 initial access token for dynamic client
    /// registration. Unset: `/oidc/register` does not exist.
    pub initial_access_token: Option<SecretString>,
    /// "SPAs with cookies": the cookie-session endpoints under `/bff/`. Unset: they do not exist.
    pub bff: Option<BffConfig>,
    /// `REGISTERED_CLIENT_CREDENTIALS` (`true` by default, `false` to turn off): whether a
    /// dynamically registered client, which has no client grant, may receive through client
    /// credentials the scopes it registered (RFC 7591 §2 `scope`) on the APIs that define them —
    /// so that standard clients work without Auth0's management API.
    pub registered_client_credentials: bool,
    /// `REQUIRE_PUSHED_AUTHORIZATION_REQUESTS` (`false` by default): every client must push its
    /// authorization requests (RFC 9126 §5, discovery's `require_pushed_authorization_requests`).
    pub require_pushed_authorization_requests: bool,
    /// `DPOP_NONCES` (`false` by default): DPoP proofs must carry a nonce this server issued
    /// (RFC 9449 §8, §9), which bounds how long a proof made in advance stays usable.
    pub dpop_nonces: bool,
    /// `DEVICE_CODE_INTERVAL_SECONDS` (1–60, default 5, RFC 8628 §3.2): how long devices wait
    /// between polls.
    pub device_code_interval_seconds: i64,
    /// `CIBA_INTERVAL_SECONDS` (1–60, default 5, CIBA Core §7.3): how long poll- and ping-mode
    /// clients wait between token requests.
    pub ciba_interval_seconds: i64,
    pub retired_key_grace_seconds: i64,
    pub password_iterations: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            issuer: None,
            key_encryption_key: None,
            admin_token: None,
            initial_access_token: None,
            bff: None,
            retired_key_grace_seconds: defaults::RETIRED_KEY_GRACE_SECONDS,
            password_iterations: defaults::PASSWORD_ITERATIONS,
            registered_client_credentials: true,
            require_pushed_authorization_requests: false,
            dpop_nonces: false,
            device_code_interval_seconds: crate::grant::device_code::DEFAULT_INTERVAL_SECONDS,
            ciba_interval_seconds: crate::grant::ciba::INTERVAL_SECONDS,
        }
    }
}

impl Config {
    /// Reads the configuration through `var` (the Worker passes its vars and secrets).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let set = |name: &str| var(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let issuer = match set("ISSUER") {
            Some(issuer) => Some(validate_issuer(&issuer)?),
            None => None,
        };
        let key_encryption_key = match set("KEY_ENCRYPTION_KEY") {
            Some(text) => Some(parse_kek(&text)?),
            None => None,
        };
        let config = Self {
            issuer,
            key_encryption_key,
            admin_token: set("ADMIN_TOKEN").map(SecretString::new),
            initial_access_token: set("INITIAL_ACCESS_TOKEN").map(SecretString::new),
            registered_client_credentials: match set("REGISTERED_CLIENT_CREDENTIALS").as_deref() {
                None | Some("true") => true,
                Some("false") => false,
                Some(_) => {
                    return Err(ConfigError(
                        "REGISTERED_CLIENT_CREDENTIALS must be true or false".into(),
                    ))
                }
            },
            device_code_interval_seconds: match set("DEVICE_CODE_INTERVAL_SECONDS") {
                None => crate::grant::device_code::DEFAULT_INTERVAL_SECONDS,
                Some(v) => {
                    v.parse::<i64>().ok().filter(|n| (1..=60).contains(n)).ok_or_else(|| {
                        ConfigError("DEVICE_CODE_INTERVAL_SECONDS must be 1..=60".into())
                    })?
                }
            },
            // `PASSWORD_ITERATIONS` (10,000–100,000, default 100,000): for new password hashes
            // (stored hashes keep their own count). Fewer cost less CPU per login (Workers' free
            // plan allows 10 ms a request) and resist guessing less.
            password_iterations: match set("PASSWORD_ITERATIONS") {
                None => defaults::PASSWORD_ITERATIONS,
                Some(v) => v
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (10_000..=defaults::PASSWORD_ITERATIONS).contains(n))
                    .ok_or_else(|| {
                        ConfigError("PASSWORD_ITERATIONS must be 10000..=100000".into())
                    })?,
            },
            ciba_interval_seconds: match set("CIBA_INTERVAL_SECONDS") {
                None => crate::grant::ciba::INTERVAL_SECONDS,
                Some(v) => v
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (1..=60).contains(n))
                    .ok_or_else(|| ConfigError("CIBA_INTERVAL_SECONDS must be 1..=60".into()))?,
            },
            require_pushed_authorization_requests: match set(
                "REQUIRE_PUSHED_AUTHORIZATION_REQUESTS",
            )
            .as_deref()
            {
                None | Some("false") => false,
                Some("true") => true,
                Some(_) => {
                    return Err(ConfigError(
                        "REQUIRE_PUSHED_AUTHORIZATION_REQUESTS must be true or false".into(),
                    ))
                }
            },
            dpop_nonces: match set("DPOP_NONCES").as_deref() {
                None | Some("false") => false,
                Some("true") => true,
                Some(_) => return Err(ConfigError("DPOP_NONCES must be true or false".into())),
            },
            bff: match (set("BFF_CLIENT_ID"), set("BFF_API_URL")) {
                (Some(client_id), Some(api_url)) => Some(BffConfig {
                    client_id,
                    api_url: api_url.trim_end_matches('/').to_string(),
                    audience: set("BFF_AUDIENCE"),
                    scope: set("BFF_SCOPE")
                        .unwrap_or_else(|| "openid profile email offline_access".into()),
                }),
                _ => None,
            },
            ..Self::default()
        };
        // Nonces are sealed under the key: without it, every DPoP request would fail.
        if config.dpop_nonces && config.key_encryption_key.is_none() {
            return Err(ConfigError("DPOP_NONCES=true needs KEY_ENCRYPTION_KEY".into()));
        }
        Ok(config)
    }

    /// The issuer identifier for this request.
    pub fn issuer_for(&self, request: &Request) -> String {
        match &self.issuer {
            Some(issuer) => issuer.clone(),
            None => format!("{}/", request.origin),
        }
    }
}

/// An issuer is an https URL (or http on loopback, for local development) with no query or
/// fragment (OIDC Discovery §3, RFC 8414 §2).
fn validate_issuer(issuer: &str) -> Result<String, ConfigError> {
    let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"].iter().any(|p| {
        issuer.strip_prefix(p).is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
    });
    // Endpoints are served at the root, so the issuer has no path (other than "/").
    let path = issuer.splitn(4, '/').nth(3).unwrap_or("");
    if !(issuer.starts_with("https://") || loopback)
        || issuer.contains(['?', '#'])
        || !path.is_empty()
    {
        return Err(ConfigError(
            "ISSUER must be an https URL (or http on loopback) without query or fragment".into(),
        ));
    }
    Ok(issuer.to_string())
}

fn parse_kek(text: &str) -> Result<SecretBytes, ConfigError> {
    match b64::decode(text) {
        Some(bytes) if bytes.len() == 32 => Ok(SecretBytes::new(bytes)),
        _ => Err(ConfigError(
            "KEY_ENCRYPTION_KEY must be 32 bytes, base64url without padding".into(),
        )),
    }
}

/// Joins the issuer and an endpoint path: `http://h/` + `oauth/token` → `http://h/oauth/token`.
pub fn endpoint_url(issuer: &str, path: &str) -> String {
    format!("{}/{}", issuer.trim_end_matches('/'), path.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn issuer_defaults_to_origin_with_slash() {
        let c = Config::from_vars(vars(&[])).unwrap();
        let r = Request::from_url("GET", "http://127.0.0.1:8787/.well-known/jwks.json").unwrap();
        assert_eq!(c.issuer_for(&r), "http://127.0.0.1:8787/");
        let c = Config::from_vars(vars(&[("ISSUER", "https://auth.example.com/")])).unwrap();
        assert_eq!(c.issuer_for(&r), "https://auth.example.com/");
        assert_eq!(
            endpoint_url("https://a.example/", "/oauth/token"),
            "https://a.example/oauth/token"
        );
        assert_eq!(endpoint_url("https://a.example/t1", "jwks"), "https://a.example/t1/jwks");
    }

    #[test]
    fn refuses_bad_issuers_and_keys() {
        for bad in [
            "http://example.com/",
            "https://a.example/?x",
            "https://a#b",
            "ftp://x",
            "http://127.0.0.1.evil/",
        ] {
            assert!(Config::from_vars(vars(&[("ISSUER", bad)])).is_err(), "{bad}");
        }
        assert!(Config::from_vars(vars(&[("ISSUER", "http://localhost:8787/")])).is_ok());
        assert!(Config::from_vars(vars(&[("KEY_ENCRYPTION_KEY", "c2hvcnQ")])).is_err());
        let kek = b64::encode([7u8; 32]);
        let c =
            Config::from_vars(vars(&[("KEY_ENCRYPTION_KEY", &kek), ("ADMIN_TOKEN", "t")])).unwrap();
        assert_eq!(c.key_encryption_key.unwrap().expose(), &[7u8; 32]);
        assert!(format!("{:?}", c.admin_token).contains("redacted"));
        // DPoP nonces are sealed under the key.
        assert!(Config::from_vars(vars(&[("DPOP_NONCES", "true")])).is_err());
        assert!(Config::from_vars(vars(&[("DPOP_NONCES", "yes"), ("KEY_ENCRYPTION_KEY", &kek)]))
            .is_err());
        let c = Config::from_vars(vars(&[("DPOP_NONCES", "true"), ("KEY_ENCRYPTION_KEY", &kek)]));
        assert!(c.unwrap().dpop_nonces);
    }

    #[test]
    fn bounded_numbers() {
        let read = |name: &str, value: &str| Config::from_vars(vars(&[(name, value)]));
        assert_eq!(read("PASSWORD_ITERATIONS", "20000").unwrap().password_iterations, 20_000);
        assert_eq!(Config::from_vars(vars(&[])).unwrap().password_iterations, 100_000);
        for bad in ["9999", "100001", "lots", "-1"] {
            assert!(read("PASSWORD_ITERATIONS", bad).is_err(), "{bad}");
        }
        assert_eq!(read("CIBA_INTERVAL_SECONDS", "1").unwrap().ciba_interval_seconds, 1);
        for bad in ["0", "61", "x"] {
            assert!(read("CIBA_INTERVAL_SECONDS", bad).is_err(), "{bad}");
        }
    }
}
