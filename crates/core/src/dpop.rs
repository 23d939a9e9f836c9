//! DPoP (RFC 9449): a client proves, with a key it holds, that it is the one a token was issued
//! to. A proof is a JWT in the `DPoP` header, signed with the private key whose public half is
//! in its own header; its RFC 7638 thumbprint (`jkt`) is what tokens are bound to (`cnf.jkt`).
//!
//! [`proof`] checks a proof for one request (§4.3): its type, algorithm and key, the method and
//! URL it was made for, its age, the access token it accompanies (`ath`), and that its `jti` is
//! used once, on the ledger. The token endpoint binds what it issues to the proof's key; the
//! resources (`/userinfo`) accept a bound token only with a proof by that key.

use serde_json::Value;

use crate::b64;
use crate::config::Config;
use crate::error::{Error, ErrorCode};
use crate::http::Request;
use crate::jose::jwk::Jwk;
use crate::jose::jws::{Jws, JwsError};
use crate::jose::Algorithm;
use crate::ports::{Clock, Host, Ledger};
use crate::seal;

/// What a proof may be signed with (§5.1 `dpop_signing_alg_values_supported`).
pub const ALGORITHMS: [Algorithm; 3] = Algorithm::CLIENT_SIGNED;
/// How old a proof may be (`iat`), and how far ahead of our clock (§11.1: a short window;
/// with `DPOP_NONCES`, the nonce bounds a proof made in advance more tightly).
const MAX_AGE_SECONDS: i64 = 120;
const SKEW_SECONDS: i64 = 60;
/// The largest RSA modulus a proof key may have (bytes): every new key is imported once.
const MAX_RSA_MODULUS_BYTES: usize = 512;

/// A verified proof: the thumbprint of the key that signed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proof {
    pub jkt: String,
}

/// A server nonce's time window; a nonce is accepted in its own window and the ones on either
/// side (clocks of isolates differ a little), so it stays usable for 40–60 s.
const NONCE_WINDOW_SECONDS: i64 = 20;

/// What a nonce is sealed for: no other sealed value opens as one, nor a nonce of a deployment
/// that shares the key but not the issuer.
fn nonce_aad(issuer: &str) -> String {
    format!("gatehouse:dpop-nonce:v1:{issuer}")
}

/// A server nonce (§8): the current time window, sealed under the deployment's key, so that
/// any isolate can check it without storing anything. Nonces are not secret (anyone with a key
/// of their own gets one); they bound how long a proof made in advance stays usable.
pub async fn nonce<H: Host>(host: &H, config: &Config, issuer: &str) -> Result<String, Error> {
    let window = host.clock().now() / NONCE_WINDOW_SECONDS;
    seal::seal(host, config, &nonce_aad(issuer), &window.to_be_bytes()).await
}

/// Whether `nonce` is one this deployment issued in the current window or next to it.
async fn nonce_is_current<H: Host>(
    host: &H,
    config: &Config,
    issuer: &str,
    nonce: &str,
) -> Result<bool, Error> {
    if nonce.len() > 128 {
        return Ok(false);
    }
    let Some(opened) = seal::open(host, config, &nonce_aad(issuer), nonce).await? else {
        return Ok(false);
    };
    let Ok(bytes) = <[u8; 8]>::try_from(opened.expose()) else { return Ok(false) };
    let window = i64::from_be_bytes(bytes);
    let now = host.clock().now() / NONCE_WINDOW_SECONDS;
    Ok((now - 1..=now + 1).contains(&window))
}

/// The `DPoP-Nonce` a successful answer to a DPoP request carries when nonces are required
/// (§8.2: the next one to use). Never fails: the answer may already have spent a code, so a
/// nonce that cannot be made is left out (the client then gets one from `use_dpop_nonce`).
pub async fn with_next_nonce<H: Host>(
    host: &H,
    config: &Config,
    req: &Request,
    response: crate::http::Response,
) -> crate::http::Response {
    if !config.dpop_nonces || req.header("dpop").is_none() {
        return response;
    }
    match nonce(host, config, &config.issuer_for(req)).await {
        Ok(nonce) => response.with_header("dpop-nonce", &nonce),
        Err(e) => {
            host.log(&format!("DPoP nonce: {e:?}"));
            response
        }
    }
}

/// The algorithms, as a challenge's `algs` lists them.
pub fn algs() -> String {
    ALGORITHMS.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(" ")
}

/// RFC 9449 §5, §10: what is bound to a key (`bound`: a code asked for with `dpop_jkt`, a
/// bound refresh family) needs a proof by that key (`proof`: its thumbprint).
pub fn check_binding(bound: Option<&str>, proof: Option<&str>) -> Result<(), Error> {
    match (bound, proof) {
        (Some(bound), Some(proof)) if bound == proof => Ok(()),
        (Some(_), Some(_)) => {
            Err(Error::oauth(ErrorCode::InvalidGrant, "bound to another DPoP key"))
        }
        (Some(_), None) => Err(Error::oauth(ErrorCode::InvalidGrant, "a DPoP proof is required")),
        (None, _) => Ok(()),
    }
}

pub fn invalid(description: &str) -> Error {
    Error::oauth(ErrorCode::InvalidDpopProof, description)
}

/// The `htu` a proof names for `url`: without query and fragment (§4.3 item 9).
fn without_query(url: &str) -> &str {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    &url[..end]
}

/// Checks the request's DPoP proof, if it has one, for the request's method and `url` (this
/// endpoint's URL), and for `access_token` when one is presented with it (`ath`). `None`: no
/// proof.
pub async fn proof<H: Host>(
    host: &H,
    config: &Config,
    req: &Request,
    url: &str,
    access_token: Option<&str>,
) -> Result<Option<Proof>, Error> {
    let mut headers = req.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("dpop"));
    let Some((_, compact)) = headers.next() else { return Ok(None) };
    // §4.3 item 1: exactly one proof.
    if headers.next().is_some() {
        return Err(invalid("send one DPoP proof"));
    }
    let jws = Jws::parse(compact, &ALGORITHMS).map_err(|e| match e {
        JwsError::AlgNone | JwsError::AlgorithmNotAllowed(_) => {
            invalid("the DPoP proof's alg is not supported")
        }
        _ => invalid("the DPoP proof is not a signed JWT"),
    })?;
    // §4.2: typ dpop+jwt, and the public key in the header.
    if !jws.typ_is_absent_or(&["dpop+jwt"]) || jws.typ().is_none() {
        return Err(invalid("the DPoP proof's typ must be dpop+jwt"));
    }
    let jwk: Jwk = jws
        .header
        .get("jwk")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .ok_or_else(|| invalid("the DPoP proof has no jwk"))?;
    // A public key for the proof's alg (RSA: 2048 to 4096 bits, written minimally, so that one
    // key has one thumbprint).
    let modulus = jwk.n.as_deref().and_then(b64::decode).unwrap_or_default();
    let rsa_ok = jwk.kty != "RSA"
        || (modulus.len() <= MAX_RSA_MODULUS_BYTES && modulus.first().is_some_and(|b| *b != 0));
    if !jwk.is_usable_public_key() || !jwk.fits(jws.alg) || !rsa_ok {
        return Err(invalid("the DPoP proof's jwk is not a public key for its alg"));
    }
    let jkt = jwk.thumbprint().ok_or_else(|| invalid("the DPoP proof's jwk is not usable"))?;
    let claims = crate::jose::json::parse_object(&jws.payload)
        .ok_or_else(|| invalid("the DPoP proof's payload is not a JSON object"))?;
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    // §4.3 items 8, 9: the method and URL of this request.
    if text("htm") != Some(req.method.as_str()) {
        return Err(invalid("the DPoP proof was made for another method"));
    }
    if text("htu").map(without_query) != Some(without_query(url)) {
        return Err(invalid("the DPoP proof was made for another URL"));
    }
    // §4.3 item 11: recent.
    let now = host.clock().now();
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or_else(|| invalid("the DPoP proof needs iat"))?;
    if iat < now - MAX_AGE_SECONDS || iat > now + SKEW_SECONDS {
        return Err(invalid("the DPoP proof is too old or from the future"));
    }
    // §4.3 item 12: bound to the access token it accompanies.
    match (access_token, text("ath")) {
        (Some(token), Some(ath)) if ath == b64::sha256(token) => {}
        (Some(_), _) => {
            return Err(invalid("the DPoP proof's ath does not match the access token"))
        }
        (None, _) => {}
    }
    let jti = text("jti").filter(|j| !j.is_empty() && j.len() <= 256);
    let jti = jti.ok_or_else(|| invalid("the DPoP proof needs a jti"))?;
    jws.verify(host.crypto(), std::slice::from_ref(&jwk)).await.map_err(|e| match e {
        JwsError::Port(p) => Error::Port(p),
        _ => invalid("the DPoP proof's signature does not verify"),
    })?;
    // §8, §9: with nonces required, a proof carries a current one (checked after the signature,
    // so that forged input costs a signature check; a refused proof's jti is not spent).
    if config.dpop_nonces {
        let issuer = config.issuer_for(req);
        let current = match text("nonce") {
            Some(nonce) => nonce_is_current(host, config, &issuer, nonce).await?,
            None => false,
        };
        if !current {
            let nonce = nonce(host, config, &issuer).await?;
            return Err(Error::UseDpopNonce { nonce, resource: false });
        }
    }
    // §11.1: a proof is used once, for as long as it would be accepted.
    let key = format!("dpop-jti:{jkt}:{}", b64::sha256(jti));
    if !host.ledger().consume_once(&key, now, iat + MAX_AGE_SECONDS + SKEW_SECONDS).await? {
        return Err(invalid("the DPoP proof was already used"));
    }
    Ok(Some(Proof { jkt }))
}
