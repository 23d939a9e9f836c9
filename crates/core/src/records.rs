//! The tenant's records (clients, APIs, users) as stored, and the declarative tenant file an
//! operator imports (`PUT /admin/tenant`; `npm start` imports `demo/tenant.json`).

use serde::{Deserialize, Serialize};

use crate::authorization::details::DetailType;
use crate::b64;
use crate::config::Config;
use crate::error::{absent_if_unreadable, Error};
use crate::jose::jwk::JwkSet;
use crate::jose::Algorithm;
use crate::ports::{random_bytes, Clock, Crypto, Host, Ledger, Store};
use crate::secret::SecretString;
use crate::vocabulary::{
    AuthMethod, ClientId, DeliveryMode, GrantType, ResponseType, Scopes, DEFAULT_GRANT_TYPES,
};

const RECORD_VERSION: u32 = 1;

/// Store keys.
pub fn client_key(client_id: &str) -> String {
    format!("client/{client_id}")
}
pub fn api_key(identifier: &str) -> String {
    format!("api/{identifier}")
}
pub fn user_key(user_id: &str) -> String {
    format!("user/{user_id}")
}
pub fn user_email_key(email: &str) -> String {
    format!("user-email/{}", email.to_lowercase())
}
/// Which clients allow a browser origin: the index CORS preflights read (on the ledger).
pub fn web_origin_key(origin: &str) -> String {
    format!("web-origin:{origin}")
}

/// Auth0's application types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppType {
    /// A public browser client (PKCE, no secret).
    Spa,
    /// A confidential server-side web app.
    RegularWeb,
    /// A public native or device app.
    Native,
    /// A machine-to-machine client (client credentials).
    NonInteractive,
}

/// A registered client (RFC 7591 §2 metadata, Auth0 names where they differ).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRecord {
    pub v: u32,
    pub client_id: ClientId,
    pub name: String,
    pub app_type: AppType,
    /// RFC 7591 §2.
    pub token_endpoint_auth_method: AuthMethod,
    /// SHA-256 of the client secret (secrets are high-entropy, so a fast hash suffices).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_sha256: Option<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Empty: [`DEFAULT_GRANT_TYPES`].
    #[serde(default)]
    pub grant_types: Vec<GrantType>,
    /// The response types the client may use at `/authorize` (RFC 7591 §2); empty: `code`.
    #[serde(default)]
    pub response_types: Vec<ResponseType>,
    /// Origins allowed to call the token, revoke and userinfo endpoints from a browser (CORS).
    #[serde(default)]
    pub web_origins: Vec<String>,
    /// Where `/v2/logout` and `/oidc/logout` may send the user back to (OIDC RP-Initiated
    /// Logout's `post_logout_redirect_uris`).
    #[serde(default)]
    pub allowed_logout_urls: Vec<String>,
    /// `private_key_jwt` keys (RFC 7591 §2): inline, or fetched from `jwks_uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<JwkSet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// OIDC Registration §2: the ID token's algorithm (RS256 unless set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_signed_response_alg: Option<Algorithm>,
    /// First-party clients (the operator's own, Auth0's default) skip the consent page;
    /// dynamically registered clients are third-party.
    #[serde(default = "yes")]
    pub is_first_party: bool,
    /// RFC 7592: SHA-256 of the registration access token, for dynamically registered clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_access_token_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id_issued_at: Option<i64>,
    /// Auth0's per-application refresh token "reuse interval" (0–60 s, default 0): see
    /// `grant::refresh_token::exchange`.
    #[serde(default)]
    pub refresh_token_reuse_interval_seconds: i64,
    /// RFC 9126 §6: this client's authorization requests must be pushed (PAR).
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    /// RFC 9101 §10.5: this client's authorization requests must come as a signed request
    /// object (JAR), directly or pushed.
    #[serde(default)]
    pub require_signed_request_object: bool,
    /// OIDC Registration §2 `request_object_signing_alg`: the only algorithm its request
    /// objects may use (any of [`Algorithm::CLIENT_SIGNED`] when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_object_signing_alg: Option<Algorithm>,
    /// RFC 9396 §10.2: the `authorization_details` types this client may ask for (any that the
    /// API accepts when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorization_details_types: Vec<String>,
    /// Auth0's "Trust Token Endpoint IP Header": the password grant believes this confidential
    /// client's `auth0-forwarded-for` (the end user's IP, for the rate limits).
    #[serde(default)]
    pub token_endpoint_ip_header_trusted: bool,
    /// RFC 7591 §2 `scope`: what a dynamically registered client may ask for on its own behalf
    /// (client credentials), on the APIs that define those scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scopes>,
    /// CIBA Registration §4: how this client hears the outcome of its backchannel requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backchannel_token_delivery_mode: Option<DeliveryMode>,
    /// CIBA Registration §4: where pings and pushes go (ping and push modes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backchannel_client_notification_endpoint: Option<String>,
}

impl ClientRecord {
    /// Whether the client was registered dynamically (RFC 7591), not by the operator.
    pub fn is_registered(&self) -> bool {
        self.registration_access_token_sha256.is_some()
    }
}

/// Auth0's "client grant": the scopes a machine client may receive for one API through client
/// credentials. Tokens issued under it carry its `grant_id`, so deleting it revokes them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientGrantRecord {
    pub v: u32,
    pub client_id: ClientId,
    pub audience: String,
    pub scope: Scopes,
    pub grant_id: String,
}

pub fn client_grant_key(client_id: &str, audience: &str) -> String {
    format!("client-grant/{client_id}/{audience}")
}

/// The client grant of a client for an API.
pub async fn client_grant(
    store: &impl Store,
    client_id: &ClientId,
    audience: &str,
) -> Result<Option<ClientGrantRecord>, Error> {
    read(store, &client_grant_key(client_id.as_str(), audience)).await
}

/// [`client_grant`], from a copy at most [`TENANT_ISOLATE_CACHE_SECONDS`] old (its deletion
/// is exact anyway: the ledger revokes its grant).
pub async fn client_grant_cached(
    store: &impl Store,
    client_id: &ClientId,
    audience: &str,
) -> Result<Option<ClientGrantRecord>, Error> {
    read_cached(store, &client_grant_key(client_id.as_str(), audience)).await
}

/// Deletes a client grant and revokes every token issued under it (on the ledger, so at once).
pub async fn delete_client_grant<H: Host>(
    host: &H,
    client_id: &ClientId,
    audience: &str,
) -> Result<bool, Error> {
    let Some(existing) = client_grant(host.store(), client_id, audience).await? else {
        return Ok(false);
    };
    // Already deleted (KV here may not show it yet): nothing left to delete.
    let live = !crate::grant::is_revoked(host, &existing.grant_id).await?;
    crate::grant::revoke_grant(host, &existing.grant_id).await?;
    host.store().delete(&client_grant_key(client_id.as_str(), audience)).await?;
    Ok(live)
}

/// The longest refresh-token reuse interval a client may have.
pub const MAX_REUSE_INTERVAL_SECONDS: i64 = 60;

fn yes() -> bool {
    true
}

impl ClientRecord {
    /// Public clients hold no secret and cannot authenticate (RFC 6749 §2.1).
    pub fn is_public(&self) -> bool {
        self.token_endpoint_auth_method == AuthMethod::None
    }

    /// Whether the client may use a response type at `/authorize`.
    pub fn allows_response_type(&self, response_type: ResponseType) -> bool {
        match self.response_types.is_empty() {
            true => response_type == ResponseType::Code,
            false => self.response_types.contains(&response_type),
        }
    }

    /// Whether the client may use a grant type. An empty list means the code flow with refresh.
    pub fn allows_grant(&self, grant_type: GrantType) -> bool {
        if self.grant_types.is_empty() {
            return DEFAULT_GRANT_TYPES.contains(&grant_type);
        }
        self.grant_types.contains(&grant_type)
    }

    /// The ID token algorithm.
    pub fn id_token_alg(&self) -> Algorithm {
        self.id_token_signed_response_alg.unwrap_or(Algorithm::RS256)
    }
}

/// A scope an API defines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeDefinition {
    pub value: String,
    #[serde(default)]
    pub description: String,
}

/// A resource server ("API" in Auth0): the audience of JWT access tokens (RFC 9068).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiRecord {
    pub v: u32,
    /// The audience / RFC 8707 resource indicator.
    pub identifier: String,
    pub name: String,
    #[serde(default)]
    pub scopes: Vec<ScopeDefinition>,
    /// The access tokens' signing algorithm; ES256 is ~20× cheaper to sign than RS256.
    pub signing_alg: Algorithm,
    pub token_lifetime_seconds: u64,
    #[serde(default)]
    pub allow_offline_access: bool,
    /// RFC 9396: the `authorization_details` types this API accepts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorization_details: Vec<DetailType>,
    /// RFC 9449: tokens for this API are issued only bound to a DPoP key.
    #[serde(default)]
    pub require_dpop: bool,
}

/// A password hash: PBKDF2-HMAC-SHA256 (RFC 8018 §5.2). `Debug` leaves out salt and hash.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordHash {
    pub alg: String,
    pub iterations: u32,
    pub salt: String,
    pub hash: String,
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHash")
            .field("alg", &self.alg)
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// The one password hash algorithm.
pub const PASSWORD_HASH_ALG: &str = "pbkdf2-sha256";

impl PasswordHash {
    /// A hash no password matches, costing as much to check as a real one (so an unknown
    /// account takes as long as a known one).
    pub fn dummy(iterations: u32) -> Self {
        Self {
            alg: PASSWORD_HASH_ALG.into(),
            iterations,
            salt: "AAAAAAAAAAAAAAAAAAAAAA".into(),
            hash: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
        }
    }
}

/// An end user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub v: u32,
    /// The stable `sub`.
    pub user_id: String,
    pub email: String,
    #[serde(default)]
    pub email_verified: bool,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    pub password: PasswordHash,
    /// The user store (Auth0's database connection; the password-realm grant's `realm`).
    #[serde(default = "default_connection")]
    pub connection: String,
}

/// Auth0's default database connection, where users live unless the tenant file says otherwise.
pub const DEFAULT_CONNECTION: &str = "Username-Password-Authentication";

fn default_connection() -> String {
    DEFAULT_CONNECTION.to_string()
}

/// The declarative tenant file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantFile {
    #[serde(default)]
    pub clients: Vec<ClientInput>,
    #[serde(default)]
    pub apis: Vec<ApiInput>,
    #[serde(default)]
    pub users: Vec<UserInput>,
    /// Auth0's client grants: `{client_id, audience, scope: [...]}`.
    #[serde(default)]
    pub client_grants: Vec<ClientGrantInput>,
    /// CIBA: where new backchannel requests are announced (kept when a later file has none).
    #[serde(default)]
    pub ciba: Option<CibaSettings>,
}

/// The tenant's CIBA settings (`endpoint::backchannel_authentication`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CibaSettings {
    /// The operator's webhook, told of each new request (https, or http on loopback).
    pub notify_url: String,
}

pub const CIBA_SETTINGS_KEY: &str = "meta/ciba";

/// The tenant's CIBA settings, if its file had any.
pub async fn ciba_settings(store: &impl Store) -> Result<Option<CibaSettings>, Error> {
    absent_if_unreadable(read(store, CIBA_SETTINGS_KEY).await)
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientGrantInput {
    pub client_id: ClientId,
    pub audience: String,
    #[serde(default)]
    pub scope: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientInput {
    pub client_id: ClientId,
    pub name: String,
    pub app_type: AppType,
    pub token_endpoint_auth_method: Option<AuthMethod>,
    pub client_secret: Option<SecretString>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub grant_types: Vec<GrantType>,
    /// In any order (`token id_token`), as at `/authorize`.
    #[serde(default)]
    pub response_types: Vec<String>,
    #[serde(default)]
    pub web_origins: Vec<String>,
    #[serde(default)]
    pub allowed_logout_urls: Vec<String>,
    pub jwks: Option<JwkSet>,
    pub jwks_uri: Option<String>,
    pub id_token_signed_response_alg: Option<Algorithm>,
    pub is_first_party: Option<bool>,
    #[serde(default)]
    pub refresh_token_reuse_interval_seconds: i64,
    #[serde(default)]
    pub token_endpoint_ip_header_trusted: bool,
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    #[serde(default)]
    pub require_signed_request_object: bool,
    pub request_object_signing_alg: Option<Algorithm>,
    #[serde(default)]
    pub authorization_details_types: Vec<String>,
    pub backchannel_token_delivery_mode: Option<DeliveryMode>,
    pub backchannel_client_notification_endpoint: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiInput {
    pub identifier: String,
    pub name: String,
    #[serde(default)]
    pub scopes: Vec<ScopeDefinition>,
    pub signing_alg: Option<Algorithm>,
    pub token_lifetime_seconds: Option<u64>,
    #[serde(default)]
    pub allow_offline_access: bool,
    #[serde(default)]
    pub authorization_details: Vec<DetailType>,
    #[serde(default)]
    pub require_dpop: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserInput {
    pub user_id: String,
    pub email: String,
    pub password: crate::secret::SecretString,
    #[serde(default)]
    pub email_verified: bool,
    #[serde(default)]
    pub name: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub picture: Option<String>,
    pub connection: Option<String>,
}

impl<'de> Deserialize<'de> for crate::secret::SecretString {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::new)
    }
}

/// What an import wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    pub clients: usize,
    pub apis: usize,
    pub users: usize,
    pub client_grants: usize,
}

fn invalid(what: String) -> Error {
    Error::invalid_request(what)
}

/// A short id-like string: 1–128 printable ASCII characters without `/` or whitespace.
fn check_id(kind: &str, value: &str) -> Result<(), Error> {
    if value.is_empty()
        || value.len() > 128
        || !value.bytes().all(|b| b.is_ascii_graphic() && b != b'/')
    {
        return Err(invalid(format!("{kind} must be 1-128 visible ASCII characters without '/'")));
    }
    Ok(())
}

/// Exact-match URLs: absolute, no fragment (RFC 6749 §3.1.2), https or loopback http, or a
/// private-use scheme for native apps (RFC 8252 §7.1).
/// A redirect URI (or any URL a client registers): absolute, no fragment (RFC 6749 §3.1.2), no
/// user-info, https with a host, http only to a loopback host (RFC 8252 §7.3, RFC 9700 §2.6), or
/// — for native apps — a private-use scheme containing a dot (RFC 8252 §7.1). The host is the
/// parsed one, so `http://127.0.0.1:1@evil.example/` and `http://127.0.0.1.evil.example/` fail.
pub fn check_registered_url(uri: &str, native: bool) -> Result<(), &'static str> {
    // ASCII only: it is compared byte for byte and sent back in Location headers, which carry
    // no raw Unicode (a browser sends non-ASCII paths percent-encoded anyway).
    if uri.len() > 2048
        || !uri.is_ascii()
        || uri.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err("must be at most 2048 ASCII characters, without whitespace");
    }
    let parsed = url::Url::parse(uri).map_err(|_| "is not an absolute URI")?;
    if parsed.fragment().is_some() || uri.contains('#') {
        return Err("must not contain a fragment");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not contain user information");
    }
    let loopback = match parsed.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match parsed.scheme() {
        "https" if parsed.host().is_some() => Ok(()),
        "http" if loopback => Ok(()),
        "https" | "http" => Err("must be https, or http to a loopback address"),
        "javascript" | "data" | "file" | "vbscript" => Err("uses a forbidden scheme"),
        scheme if native && scheme.contains('.') => Ok(()),
        _ => Err("must be https, or http to a loopback address"),
    }
}

/// CIBA Registration §4, for the tenant file and dynamic registration alike: the CIBA grant is
/// for confidential clients (CIBA Core §4), which say how they hear the outcome; ping and push
/// need a notification endpoint (https, or http on loopback), which the other modes do not use.
pub fn check_backchannel(
    method: AuthMethod,
    grant_types: &[GrantType],
    mode: Option<DeliveryMode>,
    endpoint: Option<&str>,
) -> Result<(), String> {
    let ciba = grant_types.contains(&GrantType::Ciba);
    match (ciba, mode) {
        (false, None) if endpoint.is_none() => return Ok(()),
        (false, _) => {
            return Err(format!("backchannel metadata needs the grant type {}", GrantType::Ciba))
        }
        (true, None) => {
            return Err(
                "the CIBA grant needs backchannel_token_delivery_mode (poll, ping or push)".into()
            )
        }
        (true, Some(_)) if method == AuthMethod::None => {
            return Err("the CIBA grant is for confidential clients (CIBA Core §4)".into())
        }
        (true, Some(_)) => {}
    }
    match (mode, endpoint) {
        (Some(DeliveryMode::Poll), Some(_)) => {
            Err("backchannel_client_notification_endpoint is for ping and push modes".into())
        }
        (Some(DeliveryMode::Ping | DeliveryMode::Push), None) => {
            Err("ping and push modes need backchannel_client_notification_endpoint".into())
        }
        (_, Some(url)) => check_notification_url(url)
            .map_err(|why| format!("backchannel_client_notification_endpoint {why}")),
        _ => Ok(()),
    }
}

/// A URL the server POSTs to (CIBA notifications, the operator's webhook): a registered URL
/// (https, or http to loopback) whose scheme is written in lower case, as it is sent.
pub fn check_notification_url(url: &str) -> Result<(), &'static str> {
    check_registered_url(url, false)?;
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err("must start with https:// (or http:// to a loopback address), in lower case");
    }
    Ok(())
}

fn check_url(kind: &str, url: &str) -> Result<(), Error> {
    check_registered_url(url, true).map_err(|why| invalid(format!("{kind} {url:?} {why}")))
}

/// A web origin: `scheme://host[:port]`, nothing else.
fn check_origin(origin: &str) -> Result<(), Error> {
    let ok = origin.is_ascii()
        && origin.split_once("://").is_some_and(|(scheme, rest)| {
            matches!(scheme, "http" | "https")
                && !rest.is_empty()
                && !rest.contains(['/', '?', '#', ' '])
        });
    if !ok {
        return Err(invalid(format!("web origin {origin:?} must be scheme://host[:port]")));
    }
    Ok(())
}

/// Keeps the per-origin index (what CORS preflights, which name no client, read) in step with
/// a client's `web_origins`, which stay the one source of truth for requests that name a
/// client. The index lives on the ledger and is changed by compare-and-set, so concurrent
/// imports cannot lose each other's updates, and an origin a client drops leaves the index.
pub async fn update_web_origins<H: Host>(
    host: &H,
    client_id: &ClientId,
    before: &[String],
    after: &[String],
) -> Result<(), Error> {
    let removed = before.iter().filter(|o| !after.contains(o)).map(|o| (o, false));
    let added = after.iter().filter(|o| !before.contains(o)).map(|o| (o, true));
    for (origin, listed) in removed.chain(added) {
        let key = web_origin_key(origin);
        let mut done = false;
        for _ in 0..8 {
            let now = host.clock().now();
            let text = host.ledger().get(&key, now).await?;
            let mut clients: Vec<ClientId> = match &text {
                Some(t) => serde_json::from_str(t)
                    .map_err(|e| Error::Internal(format!("origin index: {e}")))?,
                None => Vec::new(),
            };
            clients.retain(|c| c != client_id);
            if listed {
                clients.push(client_id.clone());
            }
            let next =
                serde_json::to_string(&clients).map_err(|e| Error::Internal(e.to_string()))?;
            if host.ledger().compare_and_set(&key, text.as_deref(), &next, now, None).await? {
                done = true;
                break;
            }
        }
        if !done {
            return Err(Error::Internal("the origin index is under contention".into()));
        }
    }
    Ok(())
}

/// Whether some client allows a browser origin (for preflights, which carry no body).
pub async fn origin_listed<H: Host>(host: &H, origin: &str) -> Result<bool, Error> {
    let text = host.ledger().get(&web_origin_key(origin), host.clock().now()).await?;
    Ok(text.is_some_and(|t| t != "[]"))
}

/// A client by id.
pub async fn client(store: &impl Store, client_id: &str) -> Result<Option<ClientRecord>, Error> {
    if !plausible_client_id(client_id) {
        return Ok(None);
    }
    read(store, &client_key(client_id)).await
}

/// Which `authorization_details` types each API accepts (RFC 9396), kept at import for
/// discovery's `authorization_details_types_supported`.
pub const DETAIL_TYPES_KEY: &str = "meta/authorization-details-types";

async fn detail_types_index(
    store: &impl Store,
) -> Result<std::collections::BTreeMap<String, Vec<String>>, Error> {
    Ok(absent_if_unreadable(read(store, DETAIL_TYPES_KEY).await)?.unwrap_or_default())
}

/// How long an isolate may answer discovery from its copy of the type index (KV itself may take
/// about a minute to show an import everywhere).
const DETAIL_TYPES_ISOLATE_CACHE_SECONDS: u64 = 30;

/// Every `authorization_details` type some API accepts, sorted, once each. Read on every
/// discovery request, so from the isolate's copy when the host keeps one.
pub async fn authorization_details_types(store: &impl Store) -> Result<Vec<String>, Error> {
    let cached = store.get_cached(DETAIL_TYPES_KEY, DETAIL_TYPES_ISOLATE_CACHE_SECONDS).await?;
    let index: std::collections::BTreeMap<String, Vec<String>> = match cached {
        None => Default::default(),
        // An index this version cannot read lists nothing (discovery must not fail for it).
        Some(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
    };
    let all: std::collections::BTreeSet<String> = index.into_values().flatten().collect();
    Ok(all.into_iter().collect())
}

/// An API by identifier (audience).
pub async fn api(store: &impl Store, identifier: &str) -> Result<Option<ApiRecord>, Error> {
    if !plausible_api(identifier) {
        return Ok(None);
    }
    read(store, &api_key(identifier)).await
}

/// A user by id.
pub async fn user(store: &impl Store, user_id: &str) -> Result<Option<UserRecord>, Error> {
    read(store, &user_key(user_id)).await
}

/// A user by email (case-insensitive).
pub async fn user_by_email(store: &impl Store, email: &str) -> Result<Option<UserRecord>, Error> {
    if email.is_empty() || email.len() > 254 {
        return Ok(None);
    }
    match store.get(&user_email_key(email)).await? {
        Some(id) => user(store, &String::from_utf8_lossy(&id)).await,
        None => {
            // As many reads as a hit, so timing does not tell which emails have accounts.
            let _ = store.get("user/-").await;
            Ok(None)
        }
    }
}

/// The SHA-256 under which a client secret is stored.
pub fn client_secret_digest(secret: &str) -> String {
    b64::sha256(secret)
}

/// Hashes a password with a fresh salt.
pub async fn hash_password<H: Host>(
    host: &H,
    config: &Config,
    password: &str,
) -> Result<PasswordHash, Error> {
    let salt: [u8; 16] = random_bytes(host.rng());
    let hash =
        host.crypto().pbkdf2_sha256(password.as_bytes(), &salt, config.password_iterations).await?;
    Ok(PasswordHash {
        alg: PASSWORD_HASH_ALG.into(),
        iterations: config.password_iterations,
        salt: b64::encode(salt),
        hash: b64::encode(hash),
    })
}

/// Validates a whole tenant file, then writes it (upserting by id). Nothing is written when any
/// record is invalid.
pub async fn import<H: Host>(
    host: &H,
    config: &Config,
    body: &[u8],
) -> Result<ImportSummary, Error> {
    // An object, not any JSON that serde could map onto the struct (a `[]` would be).
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("the tenant file does not parse: {e}")))?;
    if !value.is_object() {
        return Err(invalid("the tenant file must be a JSON object".into()));
    }
    let file: TenantFile = serde_json::from_value(value)
        .map_err(|e| invalid(format!("the tenant file does not parse: {e}")))?;
    let mut clients = Vec::new();
    for c in &file.clients {
        let confidential = matches!(c.app_type, AppType::RegularWeb | AppType::NonInteractive);
        let method = c.token_endpoint_auth_method.unwrap_or(if confidential {
            AuthMethod::ClientSecretBasic
        } else {
            AuthMethod::None
        });
        let id = &c.client_id;
        let keys = c.jwks.is_some() || c.jwks_uri.is_some();
        match (method, &c.client_secret) {
            (AuthMethod::None, None) => {}
            (AuthMethod::None, Some(_)) => {
                return Err(invalid(format!("public client {id} has a secret")))
            }
            (AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost, Some(s))
                if s.expose().len() >= 32 => {}
            (AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost, _) => {
                return Err(invalid(format!("client {id} needs a client_secret of 32+ characters")))
            }
            (AuthMethod::PrivateKeyJwt, None) if keys => {}
            (AuthMethod::PrivateKeyJwt, _) => {
                return Err(invalid(format!(
                    "client {id}: private_key_jwt needs jwks or jwks_uri, and no secret"
                )))
            }
        }
        // RFC 9700 §2.4: not for third-party clients, which would get API scopes without consent.
        let password = c
            .grant_types
            .iter()
            .any(|g| matches!(g, GrantType::Password | GrantType::PasswordRealm));
        if password && c.is_first_party == Some(false) {
            return Err(invalid(format!(
                "client {id}: the password grant is for first-party clients"
            )));
        }
        if method == AuthMethod::None && c.grant_types.contains(&GrantType::ClientCredentials) {
            return Err(invalid(format!(
                "client {id}: a public client cannot use client_credentials (RFC 6749 §4.4)"
            )));
        }
        // RFC 7591 §2.1: response types and grant types agree.
        let grants = |g: GrantType| {
            if c.grant_types.is_empty() {
                DEFAULT_GRANT_TYPES.contains(&g)
            } else {
                c.grant_types.contains(&g)
            }
        };
        let response_types = c
            .response_types
            .iter()
            .map(|r| ResponseType::parse_set(r))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| invalid(format!("client {id}: unsupported response_types")))?;
        if grants(GrantType::Implicit)
            && !response_types.iter().any(|r| r.has_token() || r.has_id_token())
        {
            return Err(invalid(format!(
                "client {id}: the implicit grant needs a response type that uses it"
            )));
        }
        for rt in &response_types {
            if (rt.has_code() && !grants(GrantType::AuthorizationCode))
                || ((rt.has_token() || rt.has_id_token()) && !grants(GrantType::Implicit))
            {
                return Err(invalid(format!(
                    "client {id}: response type {rt} needs the grant types it uses (authorization_code, implicit)"
                )));
            }
        }
        if !(0..=MAX_REUSE_INTERVAL_SECONDS).contains(&c.refresh_token_reuse_interval_seconds) {
            return Err(invalid(format!(
                "client {id}: refresh_token_reuse_interval_seconds must be 0..=60"
            )));
        }
        for uri in &c.redirect_uris {
            check_url("redirect_uri", uri)?;
        }
        for uri in &c.allowed_logout_urls {
            check_url("allowed_logout_url", uri)?;
        }
        if let Some(uri) = &c.jwks_uri {
            check_url("jwks_uri", uri)?;
        }
        for origin in &c.web_origins {
            check_origin(origin)?;
        }
        // RFC 9396 §10.2, as registration checks it.
        if c.authorization_details_types.len() > 32
            || c.authorization_details_types.iter().any(|t| t.is_empty() || t.len() > 128)
        {
            return Err(invalid(format!(
                "client {id}: authorization_details_types: up to 32 type names"
            )));
        }
        // A signed request object is verified with the client's keys.
        if (c.require_signed_request_object || c.request_object_signing_alg.is_some()) && !keys {
            return Err(invalid(format!(
                "client {id}: signed request objects need jwks or jwks_uri"
            )));
        }
        check_backchannel(
            method,
            &c.grant_types,
            c.backchannel_token_delivery_mode,
            c.backchannel_client_notification_endpoint.as_deref(),
        )
        .map_err(|why| invalid(format!("client {id}: {why}")))?;
        if c.id_token_signed_response_alg.is_some_and(|a| !a.is_signing()) {
            return Err(invalid(format!(
                "client {id}: id_token_signed_response_alg must be RS256 or ES256"
            )));
        }
        clients.push(ClientRecord {
            v: RECORD_VERSION,
            client_id: c.client_id.clone(),
            name: c.name.clone(),
            app_type: c.app_type,
            token_endpoint_auth_method: method,
            client_secret_sha256: c
                .client_secret
                .as_ref()
                .map(|s| client_secret_digest(s.expose())),
            redirect_uris: c.redirect_uris.clone(),
            grant_types: c.grant_types.clone(),
            response_types: c
                .response_types
                .iter()
                .filter_map(|r| ResponseType::parse_set(r))
                .collect(),
            web_origins: c.web_origins.clone(),
            allowed_logout_urls: c.allowed_logout_urls.clone(),
            jwks: c.jwks.clone(),
            jwks_uri: c.jwks_uri.clone(),
            id_token_signed_response_alg: c.id_token_signed_response_alg,
            is_first_party: c.is_first_party.unwrap_or(true),
            registration_access_token_sha256: None,
            client_id_issued_at: None,
            refresh_token_reuse_interval_seconds: c.refresh_token_reuse_interval_seconds,
            token_endpoint_ip_header_trusted: c.token_endpoint_ip_header_trusted,
            require_pushed_authorization_requests: c.require_pushed_authorization_requests,
            require_signed_request_object: c.require_signed_request_object,
            request_object_signing_alg: c.request_object_signing_alg,
            authorization_details_types: c.authorization_details_types.clone(),
            scope: None,
            backchannel_token_delivery_mode: c.backchannel_token_delivery_mode,
            backchannel_client_notification_endpoint: c
                .backchannel_client_notification_endpoint
                .clone(),
        });
    }
    let mut apis = Vec::new();
    for a in &file.apis {
        if a.identifier.is_empty() || a.identifier.len() > 256 {
            return Err(invalid("an API identifier must be 1-256 characters".into()));
        }
        // Retired signing keys stay published for a day; no token may outlive that.
        if a.token_lifetime_seconds.is_some_and(|t| t == 0 || t > 86_400) {
            return Err(invalid(format!(
                "API {}: token_lifetime_seconds must be 1..=86400",
                a.identifier
            )));
        }
        apis.push(ApiRecord {
            v: RECORD_VERSION,
            identifier: a.identifier.clone(),
            name: a.name.clone(),
            scopes: a.scopes.clone(),
            signing_alg: match a.signing_alg {
                Some(alg) if !alg.is_signing() => {
                    return Err(invalid(format!(
                        "API {}: signing_alg must be RS256 or ES256",
                        a.identifier
                    )))
                }
                alg => alg.unwrap_or(Algorithm::RS256),
            },
            token_lifetime_seconds: a.token_lifetime_seconds.unwrap_or(86_400),
            allow_offline_access: a.allow_offline_access,
            authorization_details: a.authorization_details.clone(),
            require_dpop: a.require_dpop,
        });
        let mut types = std::collections::BTreeSet::new();
        for d in &a.authorization_details {
            d.check().map_err(|e| invalid(format!("API {}: {e}", a.identifier)))?;
            if !types.insert(d.type_.as_str()) {
                return Err(invalid(format!(
                    "API {}: {} is declared twice",
                    a.identifier, d.type_
                )));
            }
        }
    }
    let mut client_grants = Vec::new();
    for g in &file.client_grants {
        let who = format!("client grant {} / {}", g.client_id, g.audience);
        // RFC 6749 §4.4: client credentials are for confidential clients that list the grant.
        let client = match clients.iter().find(|c| c.client_id == g.client_id) {
            Some(c) => Some(c.clone()),
            None => client(host.store(), g.client_id.as_str()).await?,
        };
        let client = client.ok_or_else(|| invalid(format!("{who}: unknown client")))?;
        if !client.allows_grant(GrantType::ClientCredentials) {
            return Err(invalid(format!("{who}: the client does not list client_credentials")));
        }
        let api = match apis.iter().find(|a| a.identifier == g.audience) {
            Some(a) => Some(a.clone()),
            None => api(host.store(), &g.audience).await?,
        };
        let api = api.ok_or_else(|| invalid(format!("{who}: unknown API")))?;
        let scope: Scopes = g.scope.iter().map(String::as_str).collect();
        if let Some(s) = scope.iter().find(|s| !api.scopes.iter().any(|d| d.value == *s)) {
            return Err(invalid(format!("{who}: the API defines no scope {s:?}")));
        }
        client_grants.push(ClientGrantRecord {
            v: RECORD_VERSION,
            client_id: g.client_id.clone(),
            audience: g.audience.clone(),
            scope,
            grant_id: String::new(),
        });
    }
    for u in &file.users {
        check_id("user_id", &u.user_id)?;
        if !u.email.contains('@') || u.email.len() > 254 {
            return Err(invalid(format!("user {}: email is not an address", u.user_id)));
        }
        if u.password.expose().chars().count() < 8 {
            return Err(invalid(format!("user {}: password must have 8+ characters", u.user_id)));
        }
    }
    if let Some(ciba) = &file.ciba {
        check_notification_url(&ciba.notify_url)
            .map_err(|why| invalid(format!("ciba.notify_url {why}")))?;
    }
    let put =
        |key: String, value: Vec<u8>| async move { host.store().put(&key, &value, None).await };
    if let Some(ciba) = &file.ciba {
        put(CIBA_SETTINGS_KEY.into(), to_json(ciba)?).await?;
    }
    for c in &clients {
        // The origins the client had (a record an older version wrote may not parse: none).
        let before = absent_if_unreadable(client(host.store(), c.client_id.as_str()).await)?
            .map(|old| old.web_origins)
            .unwrap_or_default();
        put(client_key(c.client_id.as_str()), to_json(c)?).await?;
        update_web_origins(host, &c.client_id, &before, &c.web_origins).await?;
    }
    for a in &apis {
        put(api_key(&a.identifier), to_json(a)?).await?;
    }
    // Written on every import, so that discovery always finds it (in its isolate's copy).
    {
        let mut index = detail_types_index(host.store()).await?;
        for a in &apis {
            let types: Vec<String> =
                a.authorization_details.iter().map(|d| d.type_.clone()).collect();
            if types.is_empty() {
                index.remove(&a.identifier);
            } else {
                index.insert(a.identifier.clone(), types);
            }
        }
        put(DETAIL_TYPES_KEY.into(), to_json(&index)?).await?;
    }
    for g in &client_grants {
        // A client grant keeps its id (and so its tokens) when imported again; one deleted
        // meanwhile (revoked on the ledger, perhaps still in KV here) starts afresh.
        let existing =
            absent_if_unreadable(client_grant(host.store(), &g.client_id, &g.audience).await)?;
        let kept = match existing {
            // Narrowed: the tokens issued under the wider grant stop being active.
            Some(e) if !e.scope.is_subset_of(&g.scope) => {
                crate::grant::revoke_grant(host, &e.grant_id).await?;
                None
            }
            Some(e) if !crate::grant::is_revoked(host, &e.grant_id).await? => Some(e.grant_id),
            _ => None,
        };
        let record = ClientGrantRecord {
            grant_id: kept.unwrap_or_else(|| b64::encode(random_bytes::<16>(host.rng()))),
            ..g.clone()
        };
        put(client_grant_key(g.client_id.as_str(), &g.audience), to_json(&record)?).await?;
    }
    for u in &file.users {
        let record = UserRecord {
            v: RECORD_VERSION,
            user_id: u.user_id.clone(),
            email: u.email.clone(),
            email_verified: u.email_verified,
            name: u.name.clone(),
            given_name: u.given_name.clone(),
            family_name: u.family_name.clone(),
            picture: u.picture.clone(),
            password: hash_password(host, config, u.password.expose()).await?,
            connection: u.connection.clone().unwrap_or_else(default_connection),
        };
        put(user_key(&u.user_id), to_json(&record)?).await?;
        put(user_email_key(&u.email), u.user_id.as_bytes().to_vec()).await?;
    }
    Ok(ImportSummary {
        clients: clients.len(),
        apis: apis.len(),
        users: file.users.len(),
        client_grants: client_grants.len(),
    })
}

/// Reads a stored record.
pub async fn read<T: serde::de::DeserializeOwned>(
    store: &impl Store,
    key: &str,
) -> Result<Option<T>, Error> {
    parse_record(key, store.get(key).await?)
}

fn parse_record<T: serde::de::DeserializeOwned>(
    key: &str,
    bytes: Option<Vec<u8>>,
) -> Result<Option<T>, Error> {
    match bytes {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Unreadable(format!("record {key}: {e}"))),
    }
}

/// How old a copy of a tenant record a request may be answered from (the host's per-isolate
/// copy, `Store::get_cached`): the client of every client authentication (token, revocation,
/// introspection, PAR, device and backchannel endpoints), the user and API `grant::resolve`
/// loads for tokens, the user at userinfo, the API of every `audience` / `resource` check, and
/// a client credentials grant's client grant. KV is eventually consistent anyway (up to about
/// 60 s, the README says); this adds up to 10 s, and takes the hot paths' reads off KV.
/// Whatever must hold at once (a deleted client, a revoked grant) is on the ledger; the login
/// and consent pages, and administration, read fresh.
pub const TENANT_ISOLATE_CACHE_SECONDS: u64 = 10;

async fn read_cached<T: serde::de::DeserializeOwned>(
    store: &impl Store,
    key: &str,
) -> Result<Option<T>, Error> {
    parse_record(key, store.get_cached(key, TENANT_ISOLATE_CACHE_SECONDS).await?)
}

/// Whether a client id can name a record (not empty, not too long, no `/` to reach another
/// key); anything else is no client, without a read.
fn plausible_client_id(client_id: &str) -> bool {
    !client_id.is_empty() && client_id.len() <= 128 && !client_id.contains('/')
}

/// Whether an API identifier can name a record; anything else is no API, without a read.
fn plausible_api(identifier: &str) -> bool {
    !identifier.is_empty() && identifier.len() <= 256
}

/// [`client`], from a copy at most [`TENANT_ISOLATE_CACHE_SECONDS`] old.
pub async fn client_cached(
    store: &impl Store,
    client_id: &str,
) -> Result<Option<ClientRecord>, Error> {
    if !plausible_client_id(client_id) {
        return Ok(None);
    }
    read_cached(store, &client_key(client_id)).await
}

/// [`user`], from a copy at most [`TENANT_ISOLATE_CACHE_SECONDS`] old.
pub async fn user_cached(store: &impl Store, user_id: &str) -> Result<Option<UserRecord>, Error> {
    read_cached(store, &user_key(user_id)).await
}

/// [`api`], from a copy at most [`TENANT_ISOLATE_CACHE_SECONDS`] old.
pub async fn api_cached(store: &impl Store, identifier: &str) -> Result<Option<ApiRecord>, Error> {
    if !plausible_api(identifier) {
        return Ok(None);
    }
    read_cached(store, &api_key(identifier)).await
}

/// Verifies a password against a stored hash in constant time.
pub async fn verify_password(
    crypto: &impl Crypto,
    stored: &PasswordHash,
    password: &str,
) -> Result<bool, Error> {
    let (Some(salt), Some(expected)) = (b64::decode(&stored.salt), b64::decode(&stored.hash))
    else {
        return Err(Error::Internal("stored password hash is malformed".into()));
    };
    if stored.alg != PASSWORD_HASH_ALG {
        return Err(Error::Internal("unknown password hash".into()));
    }
    let actual = crypto.pbkdf2_sha256(password.as_bytes(), &salt, stored.iterations).await?;
    Ok(crate::secret::constant_time_eq(&actual, &expected))
}

/// Serializes a record to JSON bytes.
pub fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|e| Error::Internal(e.to_string()))
}

#[cfg(all(test, feature = "rust-crypto"))]
mod tests {
    use super::*;
    use crate::memory::MemoryHost;
    use crate::rust_crypto::RustCrypto;
    use pollster::block_on;

    fn config() -> Config {
        Config { password_iterations: 1_000, ..Config::default() }
    }

    #[test]
    fn imports_and_hashes_secrets() {
        let host = MemoryHost::new(RustCrypto, 1_700_000_000, 1);
        let body = br#"{
          "clients":[{"client_id":"web","name":"Web","app_type":"regular_web",
                      "client_secret":"0123456789abcdef0123456789abcdef",
                      "redirect_uris":["https://app.example/cb"]}],
          "apis":[{"identifier":"https://api.example/","name":"API","signing_alg":"ES256"}],
          "users":[{"user_id":"u1","email":"Ada@Example.com","password":"correct horse"}]
        }"#;
        block_on(async {
            let summary = import(&host, &config(), body).await.unwrap();
            assert_eq!(summary, ImportSummary { clients: 1, apis: 1, users: 1, client_grants: 0 });
            let c: ClientRecord = read(&host.store, &client_key("web")).await.unwrap().unwrap();
            assert_eq!(c.token_endpoint_auth_method, AuthMethod::ClientSecretBasic);
            assert_eq!(
                c.client_secret_sha256.unwrap(),
                client_secret_digest("0123456789abcdef0123456789abcdef")
            );
            let u: UserRecord = read(&host.store, &user_key("u1")).await.unwrap().unwrap();
            assert!(verify_password(&RustCrypto, &u.password, "correct horse").await.unwrap());
            assert!(!verify_password(&RustCrypto, &u.password, "correct horsf").await.unwrap());
            let raw =
                String::from_utf8(host.store.get(&user_key("u1")).await.unwrap().unwrap()).unwrap();
            assert!(!raw.contains("correct horse"));
            assert_eq!(
                host.store.get(&user_email_key("ada@example.com")).await.unwrap().unwrap(),
                b"u1"
            );
        });
    }

    #[test]
    fn secrets_in_a_tenant_file_never_print() {
        let file: TenantFile = serde_json::from_str(
            r#"{"clients":[{"client_id":"web","name":"Web","app_type":"regular_web",
                "client_secret":"0123456789abcdef0123456789abcdef-sekrit"}],
                "users":[{"user_id":"u1","email":"a@b.example","password":"hunter2-sekrit"}]}"#,
        )
        .unwrap();
        let printed = format!("{file:?}");
        assert!(!printed.contains("sekrit"), "{printed}");
        let hash = PasswordHash::dummy(1_000);
        assert!(!format!("{hash:?}").contains("AAAA"), "salt and hash stay out of Debug");
    }

    #[test]
    fn refuses_invalid_files_and_writes_nothing() {
        let host = MemoryHost::new(RustCrypto, 1_700_000_000, 1);
        for body in [
            &br#"{"clients":[{"client_id":"a","name":"A","app_type":"spa","redirect_uris":["http://evil.example/cb"]}]}"#[..],
            br#"{"clients":[{"client_id":"a","name":"A","app_type":"spa","redirect_uris":["https://a.example/#x"]}]}"#,
            br#"{"clients":[{"client_id":"a","name":"A","app_type":"spa","redirect_uris":["http://127.0.0.1.evil.example/"]}]}"#,
            br#"{"clients":[{"client_id":"a","name":"A","app_type":"spa","redirect_uris":["http://127.0.0.1:1@evil.example/"]}]}"#,
            br#"{"clients":[{"client_id":"a","name":"A","app_type":"regular_web","client_secret":"short"}]}"#,
            br#"{"clients":[{"client_id":"a/b","name":"A","app_type":"spa"}]}"#,
            br#"{"users":[{"user_id":"u","email":"nope","password":"longenough"}]}"#,
            br#"{"users":[{"user_id":"u","email":"a@b","password":"short"}]}"#,
            br#"{"unknown":[]}"#,
            br#"{"clients":[{"client_id":"a","name":"A","app_type":"spa","grant_types":["urn:example:nope"]}]}"#,
            br#"{"clients":[{"client_id":"a","name":"A","app_type":"spa","response_types":["id_token"]}]}"#,
            br#"{"clients":[{"client_id":"a","name":"A","app_type":"spa","token_endpoint_auth_method":"client_secret_jwt"}]}"#,
            br#"{"clients":[{"client_id":"a","name":"A","app_type":"spa","refresh_token_reuse_interval_seconds":61}]}"#,
            b"[]",
            br#"[[],[],[]]"#,
            b"not json",
        ] {
            let err = block_on(import(&host, &config(), body)).unwrap_err();
            assert_eq!(err.code(), crate::error::ErrorCode::InvalidRequest);
        }
        assert!(host.store.keys().is_empty());
    }
}
