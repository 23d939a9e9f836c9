//! Dynamic client registration: `POST /oidc/register` (RFC 7591, OIDC Dynamic Client
//! Registration 1.0) behind the operator's initial access token, and client configuration
//! `GET|PUT|DELETE /oidc/register/{client_id}` (RFC 7592) behind the client's registration
//! access token. Secrets and tokens are stored hashed. Registered clients are third-party:
//! they get the consent page.

use serde_json::{json, Map, Value};

use crate::b64;
use crate::config::{endpoint_url, Config};
use crate::error::{Error, ErrorCode};
use crate::http::{Request, Response};
use crate::jose::jwk::{Jwk, JwkSet};
use crate::jose::Algorithm;
use crate::ports::{random_bytes, Clock, Host, Store};
use crate::records::{self, client_secret_digest, AppType, ClientRecord};
use crate::secret::constant_time_eq;
use crate::vocabulary::{AuthMethod, ClientId, DeliveryMode, GrantType, ResponseType, Scopes};

/// The largest registration request accepted.
const MAX_METADATA_BYTES: usize = 64 * 1024;

fn metadata_error(description: impl Into<String>) -> Error {
    Error::oauth(ErrorCode::InvalidClientMetadata, description)
}

fn redirect_error(description: impl Into<String>) -> Error {
    Error::oauth(ErrorCode::InvalidRedirectUri, description)
}

fn registration_key(client_id: &str) -> String {
    format!("registration/{client_id}")
}

fn bearer(req: &Request) -> Result<&str, Error> {
    match req.bearer() {
        Ok(Some(token)) => Ok(token),
        Ok(None) => Err(Error::BearerMissing),
        Err(()) => Err(Error::Bearer {
            code: ErrorCode::InvalidToken,
            description: "malformed Authorization header".into(),
        }),
    }
}

fn invalid_token() -> Error {
    Error::Bearer {
        code: ErrorCode::InvalidToken,
        description: "the access token is invalid".into(),
    }
}

/// The shared rule for registered URLs (see `records::check_registered_url`).
fn check_redirect(uri: &str, native: bool) -> Result<(), Error> {
    records::check_registered_url(uri, native)
        .map_err(|why| redirect_error(format!("{uri:?} {why}")))
}

fn strings(metadata: &Map<String, Value>, name: &str) -> Result<Option<Vec<String>>, Error> {
    match metadata.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| metadata_error(format!("{name} must be an array of strings")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(metadata_error(format!("{name} must be an array of strings"))),
    }
}

fn string<'a>(metadata: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, Error> {
    match metadata.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() <= 2048 => Ok(Some(s)),
        Some(_) => Err(metadata_error(format!("{name} must be a string"))),
    }
}

/// RFC 7591 §2 `jwks`: every key must be a public key Gatehouse can verify with, not only the
/// ones it understands (a key it cannot use is a client's mistake, a private one a leak).
fn registered_keys(value: &Value) -> Result<JwkSet, Error> {
    let keys = value
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| metadata_error("jwks is not a JWK Set"))?;
    if keys.is_empty() {
        return Err(metadata_error("jwks has no keys"));
    }
    let keys = keys
        .iter()
        .map(|k| {
            let key = serde_json::from_value::<Jwk>(k.clone())
                .map_err(|_| metadata_error("jwks holds a malformed key"))?;
            if key.is_private() {
                return Err(metadata_error("jwks must hold public keys only (RFC 7517 §9.2)"));
            }
            if !key.is_usable_public_key() {
                return Err(metadata_error(
                    "jwks keys must be EC P-256 or RSA (2048 bits or more) signing keys",
                ));
            }
            Ok(key)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(JwkSet { keys })
}

/// Validates client metadata; returns the client record (without id or secret) and the
/// metadata as it will be echoed.
fn validate(metadata: &Map<String, Value>) -> Result<(ClientRecord, Map<String, Value>), Error> {
    let native = match string(metadata, "application_type")? {
        None | Some("web") => false,
        Some("native") => true,
        Some(_) => return Err(metadata_error("application_type must be web or native")),
    };
    // Every value is parsed against the one list of what is supported (`vocabulary`).
    let method = match string(metadata, "token_endpoint_auth_method")? {
        None => AuthMethod::ClientSecretBasic,
        Some(m) => AuthMethod::parse(m).ok_or_else(|| {
            metadata_error(format!(
                "supported token_endpoint_auth_method values: {}",
                AuthMethod::names().join(", ")
            ))
        })?,
    };
    let grant_types = match strings(metadata, "grant_types")? {
        None => vec![GrantType::AuthorizationCode],
        Some(names) => {
            names.iter().map(|g| GrantType::parse(g)).collect::<Option<Vec<_>>>().ok_or_else(
                || {
                    let registrable: Vec<&str> = GrantType::SUPPORTED
                        .iter()
                        .filter(|g| !matches!(g, GrantType::Password | GrantType::PasswordRealm))
                        .map(|g| g.as_str())
                        .collect();
                    metadata_error(format!("supported grant_types: {}", registrable.join(", ")))
                },
            )?
        }
    };
    // RFC 9700 §2.4: the password grant MUST NOT be used; Gatehouse keeps it for the
    // operator's own clients (the tenant file), never for dynamically registered ones.
    if grant_types.iter().any(|g| matches!(g, GrantType::Password | GrantType::PasswordRealm)) {
        return Err(metadata_error("the password grant is not available to registered clients"));
    }
    // RFC 6749 §4.4: a public client cannot use client credentials.
    if method == AuthMethod::None && grant_types.contains(&GrantType::ClientCredentials) {
        return Err(metadata_error("client_credentials needs a confidential client"));
    }
    let code_grant = grant_types.contains(&GrantType::AuthorizationCode);
    // RFC 7591 §2: response_types defaults to code (for a client of the code grant).
    let response_types = match strings(metadata, "response_types")? {
        None if code_grant => vec![ResponseType::Code],
        None => Vec::new(),
        Some(names) => names
            .iter()
            .map(|r| ResponseType::parse_set(r))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                metadata_error(format!(
                    "supported response_types: {}",
                    ResponseType::names().join(", ")
                ))
            })?,
    };
    // RFC 7591 §2.1: grant_types and response_types must agree: a response type with `code`
    // needs authorization_code, one with `token` or `id_token` needs implicit, and each grant
    // needs a response type that uses it.
    let implicit = grant_types.contains(&GrantType::Implicit);
    let consistent = response_types.iter().all(|r| {
        (!r.has_code() || code_grant) && (!(r.has_token() || r.has_id_token()) || implicit)
    }) && (!code_grant || response_types.iter().any(|r| r.has_code()))
        && (!implicit || response_types.iter().any(|r| r.has_token() || r.has_id_token()));
    if !consistent {
        return Err(metadata_error("grant_types and response_types are inconsistent"));
    }
    let redirect_uris = strings(metadata, "redirect_uris")?.unwrap_or_default();
    if (code_grant || implicit) && redirect_uris.is_empty() {
        return Err(redirect_error("redirect_uris is required for the authorization code grant"));
    }
    for uri in &redirect_uris {
        check_redirect(uri, native)?;
    }
    let logout_uris = strings(metadata, "post_logout_redirect_uris")?.unwrap_or_default();
    for uri in &logout_uris {
        check_redirect(uri, native)
            .map_err(|_| metadata_error("post_logout_redirect_uris must be https or loopback"))?;
    }
    let jwks = match metadata.get("jwks") {
        None | Some(Value::Null) => None,
        Some(v) => Some(registered_keys(v)?),
    };
    let jwks_uri = string(metadata, "jwks_uri")?.map(str::to_string);
    if jwks.is_some() && jwks_uri.is_some() {
        return Err(metadata_error("jwks and jwks_uri are mutually exclusive (RFC 7591 §2)"));
    }
    if let Some(uri) = &jwks_uri {
        if !uri.starts_with("https://") || check_redirect(uri, false).is_err() {
            return Err(metadata_error("jwks_uri must be an https URL"));
        }
    }
    if method == AuthMethod::PrivateKeyJwt && jwks.is_none() && jwks_uri.is_none() {
        return Err(metadata_error("private_key_jwt needs jwks or jwks_uri"));
    }
    let alg = match string(metadata, "id_token_signed_response_alg")? {
        None => None,
        Some(a) => Some(Algorithm::parse(a).filter(|a| a.is_signing()).ok_or_else(|| {
            metadata_error("id_token_signed_response_alg must be RS256 or ES256")
        })?),
    };
    // RFC 7591 §2 `scope`: what the client may ask for on its own behalf.
    // RFC 9126 §6.
    let require_pushed_authorization_requests = match metadata
        .get("require_pushed_authorization_requests")
    {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(metadata_error("require_pushed_authorization_requests must be a boolean"))
        }
    };
    // RFC 9101 §10.5, OIDC Registration §2: signed request objects, verified with the keys
    // registered above.
    let require_signed_request_object = match metadata.get("require_signed_request_object") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(metadata_error("require_signed_request_object must be a boolean")),
    };
    let request_object_signing_alg = match string(metadata, "request_object_signing_alg")? {
        None => None,
        Some(a) => {
            Some(Algorithm::parse(a).filter(|a| Algorithm::CLIENT_SIGNED.contains(a)).ok_or_else(
                || metadata_error("request_object_signing_alg must be RS256, ES256 or PS256"),
            )?)
        }
    };
    if (require_signed_request_object || request_object_signing_alg.is_some())
        && jwks.is_none()
        && jwks_uri.is_none()
    {
        return Err(metadata_error("signed request objects need jwks or jwks_uri"));
    }
    // RFC 9396 §10.2: the authorization_details types the client uses.
    let authorization_details_types =
        strings(metadata, "authorization_details_types")?.unwrap_or_default();
    if authorization_details_types.len() > 32
        || authorization_details_types.iter().any(|t| t.is_empty() || t.len() > 128)
    {
        return Err(metadata_error("authorization_details_types: up to 32 type names"));
    }
    // CIBA Registration §4.
    let delivery_mode = match string(metadata, "backchannel_token_delivery_mode")? {
        None => None,
        Some(m) => Some(DeliveryMode::parse(m).ok_or_else(|| {
            metadata_error("backchannel_token_delivery_mode must be poll, ping or push")
        })?),
    };
    let notification_endpoint =
        string(metadata, "backchannel_client_notification_endpoint")?.map(str::to_string);
    records::check_backchannel(
        method,
        &grant_types,
        delivery_mode,
        notification_endpoint.as_deref(),
    )
    .map_err(metadata_error)?;
    // Discovery says `backchannel_user_code_parameter_supported: false`, and signed
    // authentication requests are not offered.
    if metadata.get("backchannel_user_code_parameter") == Some(&Value::Bool(true)) {
        return Err(metadata_error("backchannel_user_code_parameter is not supported"));
    }
    if metadata.get("backchannel_authentication_request_signing_alg").is_some_and(|v| !v.is_null())
    {
        return Err(metadata_error("signed backchannel authentication requests are not supported"));
    }
    let scope = match string(metadata, "scope")? {
        None => None,
        Some(text) => Some(
            Scopes::parse(Some(text))
                .map_err(|_| metadata_error("scope is not a valid scope string"))?,
        ),
    };
    let name = string(metadata, "client_name")?
        .unwrap_or("Unnamed application")
        .chars()
        .take(128)
        .collect::<String>();
    let mut echoed = Map::new();
    if require_pushed_authorization_requests {
        echoed.insert("require_pushed_authorization_requests".into(), true.into());
    }
    if require_signed_request_object {
        echoed.insert("require_signed_request_object".into(), true.into());
    }
    if let Some(a) = request_object_signing_alg {
        echoed.insert("request_object_signing_alg".into(), a.as_str().into());
    }
    if !authorization_details_types.is_empty() {
        echoed.insert("authorization_details_types".into(), json!(authorization_details_types));
    }
    for field in [
        "client_name",
        "client_uri",
        "logo_uri",
        "policy_uri",
        "tos_uri",
        "contacts",
        "scope",
        "software_id",
        "software_version",
        "application_type",
    ] {
        if let Some(v) = metadata.get(field) {
            if !v.is_null() && v.to_string().len() <= 4096 {
                echoed.insert(field.into(), v.clone());
            }
        }
    }
    echoed.insert("redirect_uris".into(), json!(redirect_uris));
    echoed.insert("token_endpoint_auth_method".into(), method.as_str().into());
    echoed.insert("grant_types".into(), json!(grant_types));
    echoed.insert("response_types".into(), json!(response_types));
    if !logout_uris.is_empty() {
        echoed.insert("post_logout_redirect_uris".into(), json!(logout_uris));
    }
    if let Some(j) = &jwks {
        echoed.insert("jwks".into(), serde_json::to_value(j).unwrap_or(Value::Null));
    }
    if let Some(u) = &jwks_uri {
        echoed.insert("jwks_uri".into(), u.clone().into());
    }
    if let Some(a) = alg {
        echoed.insert("id_token_signed_response_alg".into(), a.as_str().into());
    }
    if let Some(m) = delivery_mode {
        echoed.insert("backchannel_token_delivery_mode".into(), m.as_str().into());
    }
    if let Some(e) = &notification_endpoint {
        echoed.insert("backchannel_client_notification_endpoint".into(), e.clone().into());
    }
    let app_type = match (method, native) {
        (AuthMethod::None, true) => AppType::Native,
        (AuthMethod::None, false) => AppType::Spa,
        _ => AppType::RegularWeb,
    };
    let record = ClientRecord {
        v: 1,
        // Assigned by `register` (or kept by an update).
        client_id: ClientId::parse("unassigned").ok_or_else(|| Error::Internal("id".into()))?,
        name,
        app_type,
        token_endpoint_auth_method: method,
        client_secret_sha256: None,
        redirect_uris,
        grant_types,
        response_types: response_types.clone(),
        web_origins: Vec::new(),
        allowed_logout_urls: logout_uris,
        jwks,
        jwks_uri,
        id_token_signed_response_alg: alg,
        is_first_party: false,
        registration_access_token_sha256: None,
        client_id_issued_at: None,
        refresh_token_reuse_interval_seconds: 0,
        token_endpoint_ip_header_trusted: false,
        require_pushed_authorization_requests,
        require_signed_request_object,
        request_object_signing_alg,
        authorization_details_types,
        scope,
        backchannel_token_delivery_mode: delivery_mode,
        backchannel_client_notification_endpoint: notification_endpoint,
    };
    Ok((record, echoed))
}

fn parse_body(req: &Request) -> Result<Map<String, Value>, Error> {
    if req.media_type() != "application/json" {
        return Err(metadata_error("the registration request must be application/json"));
    }
    if req.body.len() > MAX_METADATA_BYTES {
        return Err(metadata_error("the registration request is too large"));
    }
    crate::jose::json::parse_object(&req.body)
        .ok_or_else(|| metadata_error("the registration request must be a JSON object"))
}

fn response_body(
    issuer: &str,
    record: &ClientRecord,
    echoed: &Map<String, Value>,
) -> Map<String, Value> {
    let mut body = echoed.clone();
    body.insert("client_id".into(), record.client_id.as_str().into());
    body.insert("client_id_issued_at".into(), record.client_id_issued_at.unwrap_or(0).into());
    body.insert(
        "registration_client_uri".into(),
        endpoint_url(issuer, &format!("oidc/register/{}", record.client_id)).into(),
    );
    body
}

async fn save<H: Host>(
    host: &H,
    record: &ClientRecord,
    echoed: &Map<String, Value>,
) -> Result<(), Error> {
    // New keys take effect at once.
    let id = record.client_id.as_str();
    host.store().delete(&crate::client_auth::jwks_cache_key(id)).await?;
    host.store().put(&records::client_key(id), &records::to_json(record)?, None).await?;
    host.store().put(&registration_key(id), &records::to_json(echoed)?, None).await?;
    Ok(())
}

/// `POST /oidc/register`.
pub async fn register<H: Host>(
    host: &H,
    config: &Config,
    req: &Request,
) -> Result<Response, Error> {
    let expected = config.initial_access_token.as_ref().ok_or(Error::NotFound)?;
    if !expected.matches(bearer(req)?) {
        return Err(invalid_token());
    }
    let metadata = parse_body(req)?;
    let (mut record, echoed) = validate(&metadata)?;
    record.client_id = ClientId::parse(&b64::encode(random_bytes::<16>(host.rng())))
        .ok_or_else(|| Error::Internal("generated client_id".into()))?;
    record.client_id_issued_at = Some(host.clock().now());
    let registration_token = b64::encode(random_bytes::<32>(host.rng()));
    record.registration_access_token_sha256 = Some(client_secret_digest(&registration_token));
    let secret = record
        .token_endpoint_auth_method
        .uses_secret()
        .then(|| b64::encode(random_bytes::<32>(host.rng())));
    record.client_secret_sha256 = secret.as_deref().map(client_secret_digest);
    save(host, &record, &echoed).await?;
    let issuer = config.issuer_for(req);
    let mut body = response_body(&issuer, &record, &echoed);
    if let Some(secret) = secret {
        body.insert("client_secret".into(), secret.into());
        // RFC 7591 §3.2.1: 0 means the secret does not expire.
        body.insert("client_secret_expires_at".into(), 0.into());
    }
    body.insert("registration_access_token".into(), registration_token.into());
    host.log(&format!("registered client {}", record.client_id));
    Ok(Response::json_no_store(201, &Value::Object(body)))
}

/// `GET|PUT|DELETE /oidc/register/{client_id}` (RFC 7592 §2).
pub async fn manage<H: Host>(
    host: &H,
    config: &Config,
    req: &Request,
    client_id: &str,
) -> Result<Response, Error> {
    if config.initial_access_token.is_none() {
        return Err(Error::NotFound);
    }
    let token = bearer(req)?;
    // RFC 7592 §2: an unknown client and a wrong token look the same (401).
    let record = records::client(host.store(), client_id).await?.ok_or_else(invalid_token)?;
    let expected = record.registration_access_token_sha256.as_deref().ok_or_else(invalid_token)?;
    if !constant_time_eq(client_secret_digest(token).as_bytes(), expected.as_bytes()) {
        return Err(invalid_token());
    }
    // A client the ledger says was deleted (KV may still have it: its propagation, or a
    // deletion whose KV part failed) is gone: it can only finish its deletion, never be read or
    // updated (a PUT would write it back to KV, to return when the ledger's marker expires).
    if req.method != "DELETE" && crate::grant::is_client_revoked(host, client_id).await? {
        return Err(invalid_token());
    }
    let issuer = config.issuer_for(req);
    match req.method.as_str() {
        "GET" | "HEAD" => {
            let echoed: Map<String, Value> =
                records::read(host.store(), &registration_key(client_id))
                    .await?
                    .unwrap_or_default();
            Ok(Response::json_no_store(
                200,
                &Value::Object(response_body(&issuer, &record, &echoed)),
            ))
        }
        "PUT" => {
            let metadata = parse_body(req)?;
            // RFC 7592 §2.2: the request names the client, and may not set credentials.
            if metadata.get("client_id").and_then(Value::as_str) != Some(client_id) {
                return Err(Error::invalid_request(
                    "client_id must match the client being updated",
                ));
            }
            for forbidden in [
                "registration_access_token",
                "registration_client_uri",
                "client_secret_expires_at",
                "client_id_issued_at",
            ] {
                if metadata.contains_key(forbidden) {
                    return Err(Error::invalid_request(format!("{forbidden} cannot be updated")));
                }
            }
            if let Some(secret) = metadata.get("client_secret").and_then(Value::as_str) {
                let matches = record.client_secret_sha256.as_deref().is_some_and(|h| {
                    constant_time_eq(client_secret_digest(secret).as_bytes(), h.as_bytes())
                });
                if !matches {
                    return Err(Error::invalid_request("client_secret does not match"));
                }
            }
            let (mut updated, echoed) = validate(&metadata)?;
            let had_secret = record.client_secret_sha256.is_some();
            let wants_secret = updated.token_endpoint_auth_method.uses_secret();
            if wants_secret != had_secret {
                return Err(metadata_error("changing between secret and secretless authentication needs a new registration"));
            }
            // What a client may receive on its own behalf is the operator's to give: a new
            // registration (with the initial access token), not an update with the client's own
            // registration access token.
            let may_now = |r: &ClientRecord| r.allows_grant(GrantType::ClientCredentials);
            let wider = updated
                .scope
                .as_ref()
                .is_some_and(|s| !s.is_subset_of(&record.scope.clone().unwrap_or_default()));
            if may_now(&updated) && (!may_now(&record) || wider) {
                return Err(metadata_error(
                    "client_credentials or a wider scope needs a new registration",
                ));
            }
            // §2.2 leaves credentials to the server: a key-bound client stays key-bound, so a
            // leaked registration access token cannot turn it into a public client.
            if record.token_endpoint_auth_method == AuthMethod::PrivateKeyJwt
                && updated.token_endpoint_auth_method != AuthMethod::PrivateKeyJwt
            {
                return Err(metadata_error(
                    "a private_key_jwt client cannot change its authentication method",
                ));
            }
            updated.client_id = record.client_id.clone();
            updated.client_id_issued_at = record.client_id_issued_at;
            updated.client_secret_sha256 = record.client_secret_sha256.clone();
            updated.registration_access_token_sha256 =
                record.registration_access_token_sha256.clone();
            save(host, &updated, &echoed).await?;
            Ok(Response::json_no_store(
                200,
                &Value::Object(response_body(&issuer, &updated, &echoed)),
            ))
        }
        "DELETE" => {
            // The ledger first: if its writes fail, the client still exists and can repeat
            // the deletion (which completes them), rather than being half deleted for good.
            crate::grant::revoke_client(host, client_id).await?;
            host.store().delete(&records::client_key(client_id)).await?;
            host.store().delete(&registration_key(client_id)).await?;
            host.store().delete(&crate::client_auth::jwks_cache_key(client_id)).await?;
            host.log(&format!("deleted client {client_id}"));
            Ok(Response::new(204).with_header("cache-control", "no-store"))
        }
        _ => Err(Error::MethodNotAllowed { allow: "GET, PUT, DELETE" }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uri_rules() {
        for ok in [
            "https://app.example/cb",
            "http://127.0.0.1:3000/cb",
            "http://localhost/cb",
            "http://[::1]:8080/",
            "http://[::1]/cb",
        ] {
            assert!(check_redirect(ok, false).is_ok(), "{ok}");
        }
        assert!(check_redirect("com.example.app:/cb", true).is_ok());
        for bad in [
            "http://app.example/cb",
            "https://app.example/cb#x",
            "com.example.app:/cb",
            "javascript:alert(1)",
            "https://",
            "no-scheme",
            "http://127.0.0.1.evil.example/",
            "http://127.0.0.1:1@evil.example/cb",
            "https://user:pw@app.example/cb",
            "http://localhost.evil.com/",
            "https://app.example/日本",
        ] {
            assert!(check_redirect(bad, false).is_err(), "{bad}");
        }
    }
}
