//! The tokens Gatehouse mints: ID tokens (OIDC Core §2), JWT access tokens (RFC 9068), and the
//! checks on access tokens presented back to it (userinfo, introspection, revocation).

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::b64;
use crate::config::{endpoint_url, Config};
use crate::error::{Error, ErrorCode};
use crate::grant::{self, Authorization, Issued, Resolved, Subject};
use crate::http::Response;
use crate::jose::jws::Jws;
use crate::jose::Algorithm;
use crate::keys;
use crate::ports::{random_bytes, Clock, Host};
use crate::records::{ClientRecord, UserRecord};
use crate::vocabulary::{GrantType, Scopes, TokenType};

/// ID token lifetime (Auth0's default: 10 hours).
pub const ID_TOKEN_SECONDS: i64 = 36_000;
/// Lifetime of access tokens that are only good for `/userinfo` (Auth0's default: 24 hours).
pub const USERINFO_TOKEN_SECONDS: i64 = 86_400;
/// Clock-skew leeway when checking tokens presented to us.
pub const LEEWAY_SECONDS: i64 = 0;

pub fn userinfo_url(issuer: &str) -> String {
    endpoint_url(issuer, "userinfo")
}

fn to_payload(claims: &Map<String, Value>) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(claims).map_err(|e| Error::Internal(e.to_string()))
}

/// The names [`user_claims`] may produce (what a session shows of the user).
pub fn user_claims_keys() -> [&'static str; 8] {
    ["sub", "name", "given_name", "family_name", "picture", "nickname", "email", "email_verified"]
}

/// The user's claims for the granted scopes (OIDC Core §5.4): `profile` and `email`.
pub fn user_claims(user: &UserRecord, scope: &Scopes) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("sub".into(), user.user_id.clone().into());
    if scope.contains("profile") {
        claims.insert("name".into(), user.name.clone().into());
        for (name, value) in [
            ("given_name", &user.given_name),
            ("family_name", &user.family_name),
            ("picture", &user.picture),
        ] {
            if let Some(v) = value {
                claims.insert(name.into(), v.clone().into());
            }
        }
        claims.insert("nickname".into(), user.email.split('@').next().unwrap_or("").into());
    }
    if scope.contains("email") {
        claims.insert("email".into(), user.email.clone().into());
        claims.insert("email_verified".into(), user.email_verified.into());
    }
    claims
}

/// A JWT access token (RFC 9068 §2): for the API when there is one (signed with the API's
/// algorithm), otherwise for `/userinfo` only (ES256). `sub` is the user, or for a client acting
/// on its own behalf `{client_id}@clients` (Auth0's form). Returns the token and its lifetime.
pub async fn access_token<H: Host>(
    host: &H,
    config: &Config,
    issuer: &str,
    resolved: &Resolved,
) -> Result<(String, i64), Error> {
    let now = host.clock().now();
    let authorization = &resolved.authorization;
    let openid = authorization.scope.contains("openid");
    let (audience, lifetime, alg) = match &resolved.api {
        Some(api) if openid => (
            json!([api.identifier, userinfo_url(issuer)]),
            api.token_lifetime_seconds as i64,
            api.signing_alg,
        ),
        Some(api) => (json!(api.identifier), api.token_lifetime_seconds as i64, api.signing_alg),
        None => (json!(userinfo_url(issuer)), USERINFO_TOKEN_SECONDS, Algorithm::ES256),
    };
    let sub = authorization.sub_claim();
    let mut claims = Map::new();
    claims.insert("iss".into(), issuer.into());
    claims.insert("sub".into(), sub.into());
    claims.insert("aud".into(), audience);
    claims.insert("iat".into(), now.into());
    claims.insert("exp".into(), (now + lifetime).into());
    claims.insert("jti".into(), b64::encode(random_bytes::<16>(host.rng())).into());
    claims.insert("client_id".into(), authorization.client_id.as_str().into());
    claims.insert("azp".into(), authorization.client_id.as_str().into());
    // Auth0's `gty`: how a token was granted, for grants other than the code flow.
    if let Some(gty) = authorization.grant_type.and_then(auth0_gty) {
        claims.insert("gty".into(), gty.into());
    }
    claims.insert("scope".into(), authorization.scope.to_string().into());
    if let Some(auth_time) = authorization.auth_time {
        claims.insert("auth_time".into(), auth_time.into());
    }
    if let Some(grant_id) = &authorization.grant_id {
        claims.insert("gid".into(), grant_id.clone().into());
    }
    // RFC 9449 §6.1: bound to the client's DPoP key.
    if let Some(jkt) = &authorization.jkt {
        claims.insert("cnf".into(), serde_json::json!({ "jkt": jkt }));
    }
    // RFC 9396 §9.1: what was granted, for the API to enforce.
    if !authorization.details.is_empty() {
        claims.insert("authorization_details".into(), authorization.details.clone().into());
    }
    // RFC 9068 §2.1: typ "at+jwt" so it cannot be confused with an ID token.
    let token = keys::sign(host, config, alg, Some("at+jwt"), &to_payload(&claims)?).await?;
    Ok((token, lifetime))
}

/// Auth0's `gty` claim values.
fn auth0_gty(grant_type: GrantType) -> Option<&'static str> {
    match grant_type {
        GrantType::ClientCredentials => Some("client-credentials"),
        GrantType::Password | GrantType::PasswordRealm => Some("password"),
        GrantType::AuthorizationCode
        | GrantType::RefreshToken
        | GrantType::DeviceCode
        | GrantType::Ciba
        | GrantType::Implicit => None,
    }
}

/// `at_hash` / `c_hash` (OIDC Core §3.1.3.6, §3.3.2.11): the left half of the SHA-256 of the
/// ASCII value (SHA-256 is the hash of both RS256 and ES256), base64url.
pub fn half_hash(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    b64::encode(&digest[..16])
}

/// An ID token (OIDC Core §2, §3.1.3.6) about a user, with the `profile`/`email` claims
/// granted (SDKs such as auth0-spa-js read the user from it).
pub async fn id_token<H: Host>(
    host: &H,
    config: &Config,
    issuer: &str,
    client: &ClientRecord,
    authorization: &Authorization,
    user: &UserRecord,
    hashes: &[(&str, String)],
) -> Result<String, Error> {
    let now = host.clock().now();
    let mut claims = user_claims(user, &authorization.scope);
    claims.insert("iss".into(), issuer.into());
    claims.insert("aud".into(), client.client_id.as_str().into());
    claims.insert("iat".into(), now.into());
    claims.insert("exp".into(), (now + ID_TOKEN_SECONDS).into());
    if let Some(auth_time) = authorization.auth_time {
        claims.insert("auth_time".into(), auth_time.into());
    }
    claims.insert("azp".into(), client.client_id.as_str().into());
    if let Some(nonce) = &authorization.nonce {
        claims.insert("nonce".into(), nonce.clone().into());
    }
    // What travels with it (`at_hash`, `c_hash`, `s_hash`): OIDC Core §3.1.3.6, §3.3.2.11.
    for (name, value) in hashes {
        claims.insert((*name).into(), value.clone().into());
    }
    keys::sign(host, config, client.id_token_alg(), Some("JWT"), &to_payload(&claims)?).await
}

/// A token response's contents (RFC 6749 §5.1), minted but not yet sent: the token endpoint
/// answers with it as JSON ([`TokenSet::into_response`]); other deliveries (a CIBA push, a
/// front-channel response) send the same values their own way.
#[derive(Clone)]
pub struct TokenSet {
    pub access_token: String,
    pub token_type: TokenType,
    pub expires_in: i64,
    pub scope: Scopes,
    pub id_token: Option<String>,
    pub refresh_token: Option<String>,
    /// RFC 9396 §7: the authorization details granted, when any were asked for.
    pub authorization_details: Vec<Value>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl TokenSet {
    /// The RFC 6749 §5.1 JSON object.
    pub fn to_json(&self) -> Value {
        let mut body = Map::new();
        if let Some(id_token) = &self.id_token {
            body.insert("id_token".into(), id_token.clone().into());
        }
        body.insert("access_token".into(), self.access_token.clone().into());
        body.insert("token_type".into(), self.token_type.as_str().into());
        body.insert("expires_in".into(), self.expires_in.into());
        body.insert("scope".into(), self.scope.to_string().into());
        if let Some(rt) = &self.refresh_token {
            body.insert("refresh_token".into(), rt.clone().into());
        }
        if !self.authorization_details.is_empty() {
            body.insert("authorization_details".into(), self.authorization_details.clone().into());
        }
        Value::Object(body)
    }

    /// The token endpoint's answer: never cached (§5.1).
    pub fn into_response(self) -> Response {
        Response::json_no_store(200, &self.to_json())
    }
}

/// Mints what a grant issued, then makes the grant's single-use decision ([`Commit`]): an
/// access token; an ID token when `openid` was granted and the subject is a user (OIDC Core
/// §3.1.3.3); and the refresh token the decision gives, if any. Nothing minted here is valid
/// anywhere unless the decision succeeds (access tokens of a lost race carry a grant id that is
/// revoked, or are never sent).
pub async fn mint<H: Host>(
    host: &H,
    config: &Config,
    issuer: &str,
    client: &ClientRecord,
    issued: Issued,
) -> Result<TokenSet, Error> {
    mint_for(host, config, issuer, client, issued, None).await
}

/// [`mint`], for a CIBA push: the ID token also binds the request and the refresh token (CIBA
/// Core §10.3.1: `urn:openid:params:jwt:claim:auth_req_id` and `…:rt_hash`), so it is signed
/// after the decision, which gives the refresh token (the caller handles a failure then).
pub async fn mint_pushed<H: Host>(
    host: &H,
    config: &Config,
    issuer: &str,
    client: &ClientRecord,
    issued: Issued,
    auth_req_id: &str,
) -> Result<TokenSet, Error> {
    mint_for(host, config, issuer, client, issued, Some(auth_req_id)).await
}

async fn mint_for<H: Host>(
    host: &H,
    config: &Config,
    issuer: &str,
    client: &ClientRecord,
    issued: Issued,
    pushed: Option<&str>,
) -> Result<TokenSet, Error> {
    let resolved = &issued.resolved;
    let authorization = &resolved.authorization;
    let (access_token, expires_in) = access_token(host, config, issuer, resolved).await?;
    let user = match (&resolved.subject, authorization.scope.contains("openid")) {
        (Subject::User(user), true) => Some(user),
        _ => None,
    };
    let sign_id_token = |hashes: Vec<(&'static str, String)>| async move {
        match user {
            Some(user) => {
                id_token(host, config, issuer, client, authorization, user, &hashes).await.map(Some)
            }
            None => Ok(None),
        }
    };
    let at_hash = ("at_hash", half_hash(&access_token));
    let mut id_token = match pushed {
        None => sign_id_token(vec![at_hash.clone()]).await?,
        Some(_) => None,
    };
    // RFC 9449 §5: a public client's refresh tokens are bound to its DPoP key too; a
    // confidential client's are not (it authenticates to use them). A decision made on the
    // ledger bound its family in the same step (`refresh_token::family_jkt`).
    let commit = issued.commit;
    let refresh_token = if authorization.jkt.is_some() && !client.is_public() {
        let mut unbound = authorization.clone();
        unbound.jkt = None;
        commit.apply(host, &unbound).await?
    } else {
        commit.apply(host, authorization).await?
    };
    if let Some(auth_req_id) = pushed {
        let mut hashes =
            vec![at_hash, ("urn:openid:params:jwt:claim:auth_req_id", auth_req_id.into())];
        if let Some(rt) = &refresh_token {
            hashes.push(("urn:openid:params:jwt:claim:rt_hash", half_hash(rt)));
        }
        id_token = sign_id_token(hashes).await?;
    }
    Ok(TokenSet {
        access_token,
        token_type: if authorization.jkt.is_some() { TokenType::DPoP } else { TokenType::Bearer },
        expires_in,
        scope: authorization.scope.clone(),
        id_token,
        refresh_token,
        authorization_details: authorization.details.clone(),
    })
}

fn invalid_token(description: &str) -> Error {
    Error::Bearer { code: ErrorCode::InvalidToken, description: description.into() }
}

/// Verifies a JWT signed by this issuer: signature against the current JWKS, `iss`, and (when
/// `check_expiry`) `exp`. `typ` must be `expected_typ` when given.
pub async fn verify_own_jwt<H: Host>(
    host: &H,
    config: &Config,
    issuer: &str,
    token: &str,
    expected_typ: Option<&str>,
    check_expiry: bool,
) -> Result<Map<String, Value>, Error> {
    let jws =
        Jws::parse(token, &Algorithm::ALL).map_err(|_| invalid_token("the token is malformed"))?;
    if let Some(typ) = expected_typ {
        // RFC 9068 §4: resource servers MUST verify typ is at+jwt (media type, case-insensitive).
        let ok = jws.typ().is_some_and(|t| {
            t.eq_ignore_ascii_case(typ) || t.eq_ignore_ascii_case(&format!("application/{typ}"))
        });
        if !ok {
            return Err(invalid_token("the token is not an access token"));
        }
    }
    let now = host.clock().now();
    let set = keys::load(host, config).await?;
    let payload = jws.verify(host.crypto(), &set.jwks(now).keys).await.map_err(|e| match e {
        crate::jose::jws::JwsError::Port(p) => Error::Port(p),
        _ => invalid_token("the token signature is invalid"),
    })?;
    let claims = crate::jose::json::parse_object(&payload)
        .ok_or_else(|| invalid_token("the token claims are malformed"))?;
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(invalid_token("the token was issued by someone else"));
    }
    if check_expiry {
        let exp = claims
            .get("exp")
            .and_then(Value::as_i64)
            .ok_or_else(|| invalid_token("the token has no exp"))?;
        if exp + LEEWAY_SECONDS <= now {
            return Err(invalid_token("the token has expired"));
        }
    }
    Ok(claims)
}

/// Verifies an access token this server issued: its signature, `typ`, `iss`, `exp`, `aud`
/// (when `audience` is given), and that the ledger has not revoked it ([`check_standing`]).
pub async fn verify_access_token<H: Host>(
    host: &H,
    config: &Config,
    issuer: &str,
    token: &str,
    audience: Option<&str>,
) -> Result<Map<String, Value>, Error> {
    let claims = verify_access_jwt(host, config, issuer, token, audience).await?;
    let standing = check_standing(host, &claims, None).await?;
    if standing.client_deleted {
        return Err(invalid_token("the client was deleted"));
    }
    if standing.revoked() {
        return Err(invalid_token("the token was revoked"));
    }
    Ok(claims)
}

/// An access token's signature, `typ`, `iss`, `exp` and `aud` (when `audience` is given); not
/// whether it was revoked (that is [`check_standing`], which must follow).
pub async fn verify_access_jwt<H: Host>(
    host: &H,
    config: &Config,
    issuer: &str,
    token: &str,
    audience: Option<&str>,
) -> Result<Map<String, Value>, Error> {
    let claims = verify_own_jwt(host, config, issuer, token, Some("at+jwt"), true).await?;
    if let Some(expected) = audience {
        let ok = match claims.get("aud") {
            Some(Value::String(a)) => a == expected,
            Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(expected)),
            _ => false,
        };
        if !ok {
            return Err(invalid_token("the token is not meant for this endpoint"));
        }
    }
    // Every access token this server mints names its client and has a jti (`mint`), which
    // `check_standing` reads.
    let named = |name: &str| claims.get(name).and_then(Value::as_str).is_some();
    if !named("client_id") || !named("jti") {
        return Err(invalid_token("the token lacks client_id or jti"));
    }
    Ok(claims)
}

/// Revocations that must be exact are read from the ledger (RFC 7009 §2, RFC 7592 §2.3): the
/// deleted client, the revoked grant, the revoked token — all in the token's grant group, so
/// one round trip (`grant::standing`), which also answers for `caller` (a client whose own
/// deletion the endpoint must check). `claims` are from [`verify_access_jwt`].
pub async fn check_standing<H: Host>(
    host: &H,
    claims: &Map<String, Value>,
    caller: Option<&str>,
) -> Result<grant::Standing, Error> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let (Some(client_id), Some(jti)) = (text("client_id"), text("jti")) else {
        return Err(invalid_token("the token lacks client_id or jti"));
    };
    grant::standing(host, client_id, text("gid"), jti, caller).await
}

/// The scopes of verified claims.
pub fn scopes_of(claims: &Map<String, Value>) -> Scopes {
    Scopes::parse(claims.get("scope").and_then(Value::as_str)).unwrap_or_default()
}
