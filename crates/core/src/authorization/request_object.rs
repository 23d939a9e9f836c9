//! JWT-secured authorization requests (RFC 9101, JAR): the `request` parameter carries the
//! authorization request as a JWT signed with one of the client's registered keys. Once it
//! verifies, its claims are the request's parameters and nothing outside it counts (§6.3).
//! `authorization::intake` unpacks it for `/authorize` and `/oauth/par` once the client is
//! known and before the request's own checks, so that every rule of the authorization request
//! applies to what the client signed.

use serde_json::{Map, Value};

use crate::client_auth;
use crate::error::{Error, ErrorCode};
use crate::http::params::Params;
use crate::jose::jws::{Jws, JwsError};
use crate::jose::Algorithm;
use crate::ports::Host;
use crate::records::ClientRecord;

/// The JWT's own claims, which are not authorization parameters.
const JWT_CLAIMS: [&str; 6] = ["iss", "aud", "exp", "nbf", "iat", "jti"];

fn invalid(description: &str) -> Error {
    Error::oauth(ErrorCode::InvalidRequestObject, description)
}

/// The parameters of the request object in `request`, verified and used once; `None` when
/// there is none (the parameters are the request's own).
pub async fn unpack<H: Host>(
    host: &H,
    client: &ClientRecord,
    params: &Params,
    issuer: &str,
) -> Result<Option<Params>, Error> {
    let Some(compact) = params.get("request")? else { return Ok(None) };
    // §5: request and request_uri are alternatives.
    if params.contains("request_uri") {
        return Err(Error::invalid_request("request and request_uri cannot be used together"));
    }
    // RFC 9101 §5: client_id outside the object must name the same client (it is how the
    // client was found, so this holds by construction; kept for callers that find it otherwise).
    if params.get("client_id")?.is_some_and(|id| id != client.client_id.as_str()) {
        return Err(invalid("client_id does not match the request object's client"));
    }
    let claims = verify(host, client, compact, issuer).await?;
    parameters(client, claims).map(Some)
}

/// Checks the request object's header and `iss`, then what every client-signed JWT is checked
/// for (`client_auth::verify_client_jwt`: `aud`, lifetime, `jti` once, signature).
async fn verify<H: Host>(
    host: &H,
    client: &ClientRecord,
    compact: &str,
    issuer: &str,
) -> Result<Map<String, Value>, Error> {
    let allowed: Vec<Algorithm> = match client.request_object_signing_alg {
        Some(alg) => vec![alg],
        None => Algorithm::CLIENT_SIGNED.to_vec(),
    };
    // RFC 8725 §3.1, §3.2: only the asymmetric algorithms we list; `none` never. An encrypted
    // request object (five parts) is not supported and fails here.
    let jws = Jws::parse(compact, &allowed).map_err(|e| match e {
        JwsError::AlgNone => invalid("request objects must be signed"),
        JwsError::AlgorithmNotAllowed(_) => invalid("the request object's alg is not allowed"),
        _ => invalid("the request object is not a signed JWT"),
    })?;
    // RFC 9101 §10.8: explicit typing; a JWT of another kind (an access token, a logout token,
    // a DPoP proof) is not a request object.
    if !jws.typ_is_absent_or(&["oauth-authz-req+jwt", "jwt"]) {
        return Err(invalid("the request object's typ must be oauth-authz-req+jwt"));
    }
    let claims = crate::jose::json::parse_object(&jws.payload)
        .ok_or_else(|| invalid("the request object's payload is not a JSON object"))?;
    // §4: iss is the client; aud is this issuer (one string, FAPI 2.0 Message Signing).
    if claims.get("iss").and_then(Value::as_str) != Some(client.client_id.as_str()) {
        return Err(invalid("the request object's iss must be the client_id"));
    }
    let audiences = [issuer.to_string()];
    client_auth::verify_client_jwt(host, client, jws, &claims, &audiences, invalid).await?;
    Ok(claims)
}

/// The authorization parameters a verified request object carries (§6.3: only these count).
/// Structured values (`authorization_details`, `claims`) become the JSON text the same
/// parameter has in a query; several `resource` values become repeated parameters.
fn parameters(client: &ClientRecord, claims: Map<String, Value>) -> Result<Params, Error> {
    let mut pairs = vec![("client_id".to_string(), client.client_id.as_str().to_string())];
    for (name, value) in claims {
        if JWT_CLAIMS.contains(&name.as_str()) {
            continue;
        }
        match name.as_str() {
            // §6.3: not nested.
            "request" | "request_uri" => {
                return Err(invalid("a request object cannot carry request or request_uri"))
            }
            "client_id" if value.as_str() != Some(client.client_id.as_str()) => {
                return Err(invalid("the request object's client_id must be its iss"))
            }
            "client_id" => continue,
            _ => {}
        }
        match value {
            Value::Null => {}
            Value::String(s) => pairs.push((name, s)),
            Value::Array(list) if name == "resource" => {
                for item in list {
                    let Value::String(s) = item else {
                        return Err(invalid("resource values must be strings"));
                    };
                    pairs.push((name.clone(), s));
                }
            }
            structured => pairs.push((name, structured.to_string())),
        }
    }
    Ok(Params::from_pairs(pairs))
}
