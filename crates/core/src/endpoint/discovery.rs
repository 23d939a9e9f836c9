//! OpenID Provider metadata (OIDC Discovery 1.0 §3, §4) and OAuth 2.0 Authorization Server
//! metadata (RFC 8414 §2, §3). Both advertise exactly what is implemented, and grow with it.

use crate::authorization::request::OIDC_SCOPES;
use crate::vocabulary::{AuthMethod, DeliveryMode, GrantType, Prompt, ResponseMode, ResponseType};
use serde_json::{json, Map, Value};

use crate::config::{endpoint_url, Config};
use crate::error::Error;
use crate::http::{Request, Response};
use crate::jose::Algorithm;
use crate::keys;
use crate::ports::{Clock, Host};
use crate::records;

use super::public_json;

/// The metadata both documents share: exactly what is implemented. `detail_types`: the
/// `authorization_details` types the tenant's APIs accept (RFC 9396 §10.1).
pub fn metadata(issuer: &str, config: &Config, detail_types: &[String]) -> Map<String, Value> {
    let algs: Vec<&str> = Algorithm::ALL.iter().map(|a| a.as_str()).collect();
    let client_algs: Vec<&str> = Algorithm::CLIENT_SIGNED.iter().map(|a| a.as_str()).collect();
    let url = |path: &str| endpoint_url(issuer, path);
    let value = json!({
        "issuer": issuer,
        "authorization_endpoint": url("authorize"),
        "token_endpoint": url("oauth/token"),
        // RFC 8628 §4.
        "device_authorization_endpoint": url("oauth/device/code"),
        // OpenID CIBA Core §4.
        "backchannel_authentication_endpoint": url("bc-authorize"),
        "backchannel_token_delivery_modes_supported": DeliveryMode::names(),
        "backchannel_user_code_parameter_supported": false,
        // RFC 9126 §5.
        "pushed_authorization_request_endpoint": url("oauth/par"),
        "require_pushed_authorization_requests": config.require_pushed_authorization_requests,
        "userinfo_endpoint": url("userinfo"),
        "jwks_uri": url(".well-known/jwks.json"),
        "revocation_endpoint": url("oauth/revoke"),
        "introspection_endpoint": url("oauth/introspect"),
        "end_session_endpoint": url("oidc/logout"),
        "scopes_supported": OIDC_SCOPES,
        // The one list of what is implemented (`vocabulary`): what the endpoints accept.
        "response_types_supported": ResponseType::names(),
        "response_modes_supported": ResponseMode::names(),
        "grant_types_supported": GrantType::names(),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
        "token_endpoint_auth_methods_supported": AuthMethod::names(),
        "token_endpoint_auth_signing_alg_values_supported": client_algs,
        "revocation_endpoint_auth_methods_supported": AuthMethod::names(),
        "introspection_endpoint_auth_methods_supported": AuthMethod::confidential(),
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": Prompt::names(),
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "azp",
            "name", "given_name", "family_name", "nickname", "picture", "email", "email_verified"],
        "claims_parameter_supported": false,
        // RFC 9101: signed request objects by value (`request`); by reference only as PAR's
        // request_uri (a URL is not fetched).
        "request_parameter_supported": true,
        "request_uri_parameter_supported": false,
        "request_object_signing_alg_values_supported": client_algs,
        "require_signed_request_object": false,
        "authorization_details_types_supported": detail_types,
        // RFC 9449 §5.1.
        "dpop_signing_alg_values_supported": client_algs,
        // RFC 9207: every authorization response carries iss.
        "authorization_response_iss_parameter_supported": true,
    });
    let mut map = match value {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    if config.initial_access_token.is_some() {
        map.insert("registration_endpoint".into(), url("oidc/register").into());
    }
    map
}

/// `GET /.well-known/openid-configuration`.
pub async fn openid_configuration<H: Host>(
    host: &H,
    config: &Config,
    request: &Request,
) -> Result<Response, Error> {
    let types = records::authorization_details_types(host.store()).await?;
    Ok(public_json(&Value::Object(metadata(&config.issuer_for(request), config, &types))))
}

/// `GET /.well-known/oauth-authorization-server`, with `signed_metadata` (RFC 8414 §2.1): the
/// same values as claims of a JWT signed by the issuer (RS256), with `iss`.
pub async fn authorization_server<H: Host>(
    host: &H,
    config: &Config,
    request: &Request,
) -> Result<Response, Error> {
    let issuer = config.issuer_for(request);
    let types = records::authorization_details_types(host.store()).await?;
    let mut document = metadata(&issuer, config, &types);
    let mut claims = document.clone();
    claims.insert("iss".into(), issuer.clone().into());
    claims.insert("iat".into(), host.clock().now().into());
    let payload = serde_json::to_vec(&claims).map_err(|e| Error::Internal(e.to_string()))?;
    let signed = keys::sign(host, config, Algorithm::RS256, Some("JWT"), &payload).await?;
    document.insert("signed_metadata".into(), signed.into());
    Ok(public_json(&Value::Object(document)))
}
