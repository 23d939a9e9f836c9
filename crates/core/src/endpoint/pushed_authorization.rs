//! Pushed authorization requests (RFC 9126): `POST /oauth/par` (Auth0's path) takes the
//! authorization request's parameters from the client directly (or in a signed request object,
//! §3, verified now: `authorization::intake`), checks them exactly as `/authorize` would
//! (§2.1; errors as JSON, never a redirect), and answers a `request_uri` that `/authorize` then
//! takes in their place ([`take`]), once, for that client only (§4).

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::authorization::intake::{self, Channel, Intake, Provenance};
use crate::b64;
use crate::client_auth;
use crate::config::endpoint_url;
use crate::config::Config;
use crate::dpop;
use crate::endpoint::authorize;
use crate::error::{absent_if_unreadable, Error, ErrorCode};
use crate::http::params::Params;
use crate::http::{Request, Response};
use crate::ledger_record::{self, LedgerRecord, State, Step};
use crate::ports::{random_bytes, Clock, Host};
use crate::records::ClientRecord;
use crate::vocabulary::ClientId;

/// RFC 9126 §2.2: the URN prefix of the request URIs this server issues.
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// How long a pushed request waits to be used (§2.2: short-lived; Auth0: 60 s).
pub const PUSHED_REQUEST_SECONDS: i64 = 60;

/// The most a pushed request may weigh, as stored.
const MAX_PUSHED_BYTES: usize = 16 * 1024;

/// A pushed request as stored on the ledger.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct PushedRequest {
    v: u32,
    client_id: ClientId,
    params: Vec<(String, String)>,
    /// How they came (from a verified request object, …), for `/authorize`'s rules.
    #[serde(default)]
    provenance: Provenance,
    expires_at: i64,
}

fn key(request_uri: &str) -> String {
    format!("par:{}", b64::sha256(request_uri))
}

/// `POST /oauth/par`.
pub async fn push<H: Host>(host: &H, config: &Config, req: &Request) -> Result<Response, Error> {
    let params = Params::from_body(req, false)?;
    let issuer = config.issuer_for(req);
    // §2: the client authenticates as at the token endpoint; a public client names itself.
    let client = client_auth::authenticate(host, config, req, &params, &issuer).await?;
    // RFC 9449 §10.1: a DPoP proof at push time binds the code to its key, as dpop_jkt does
    // (both: they must agree). Checked first: a bad proof spends nothing else.
    let proof = dpop::proof(host, config, req, &endpoint_url(&issuer, "oauth/par"), None).await?;
    // §3: a pushed request object is verified now, and only its parameters kept.
    let Intake { params, provenance } =
        intake::receive(host, config, &client, params, &issuer, Channel::Par).await?;
    let params = match proof {
        None => params,
        Some(proof) => match params.get("dpop_jkt")? {
            Some(jkt) if jkt != proof.jkt => {
                return Err(dpop::invalid("dpop_jkt is not the DPoP proof's key"))
            }
            Some(_) => params,
            None => params.with("dpop_jkt", proof.jkt),
        },
    };
    // The same checks as /authorize, answered here as JSON.
    let (_, checked) =
        authorize::check_request(host, &client, &params).await.map_err(Error::into_oauth)?;
    checked?;
    let request_uri =
        format!("{REQUEST_URI_PREFIX}{}", b64::encode(random_bytes::<32>(host.rng())));
    let expires_at = host.clock().now() + PUSHED_REQUEST_SECONDS;
    let pushed = PushedRequest {
        v: 1,
        client_id: client.client_id.clone(),
        params: params
            .pairs()
            .filter(|(name, _)| intake::PARAMETERS.contains(name))
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        provenance,
        expires_at,
    };
    let size: usize = pushed.params.iter().map(|(n, v)| n.len() + v.len()).sum();
    if size > MAX_PUSHED_BYTES {
        return Err(Error::invalid_request("the pushed request is too large"));
    }
    if !ledger_record::create::<_, _, ()>(host, &key(&request_uri), &pushed, expires_at).await? {
        return Err(Error::Internal("request_uri collision".into()));
    }
    // §2.2: 201 Created.
    let created = Response::json_no_store(
        201,
        &json!({ "request_uri": request_uri, "expires_in": PUSHED_REQUEST_SECONDS }),
    );
    Ok(dpop::with_next_nonce(host, config, req, created).await)
}

fn invalid_request_uri(description: &str) -> Error {
    Error::Page { code: ErrorCode::InvalidRequestUri, description: description.into() }
}

/// Takes the pushed request `request_uri` names at `/authorize` (§4): used once, decided on the
/// ledger, by the client it was pushed for only. Failures are pages.
pub async fn take<H: Host>(
    host: &H,
    client: &ClientRecord,
    request_uri: &str,
) -> Result<Intake, Error> {
    let now = host.clock().now();
    let entry: Option<LedgerRecord<PushedRequest, ()>> =
        absent_if_unreadable(ledger_record::load(host, &key(request_uri)).await)?;
    let pushed = match entry.as_ref().map(|e| &e.state) {
        Some(State::Live(p)) if p.expires_at > now => p.clone(),
        _ => return Err(invalid_request_uri("the request_uri is unknown, used or expired")),
    };
    // §4: pushed for this client only.
    if pushed.client_id != client.client_id {
        return Err(invalid_request_uri("the request_uri was pushed by another client"));
    }
    // Used once (§4: the request_uri is one-time use), decided on the ledger.
    let used =
        ledger_record::update::<_, PushedRequest, (), bool>(host, &key(request_uri), |state| {
            match state {
                Some(State::Live(_)) => (Step::End((), pushed.expires_at + 600), true),
                _ => (Step::Keep, false),
            }
        })
        .await?;
    if !used {
        return Err(invalid_request_uri("the request_uri is unknown, used or expired"));
    }
    let mut pairs = pushed.params;
    if !pairs.iter().any(|(n, _)| n == "client_id") {
        pairs.push(("client_id".into(), pushed.client_id.as_str().into()));
    }
    Ok(Intake { params: Params::from_pairs(pairs), provenance: pushed.provenance })
}
