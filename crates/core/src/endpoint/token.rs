//! `POST /oauth/token` (RFC 6749 §3.2): the steps every grant shares — parse, authenticate the
//! client, check that it may use the grant, hand over to the grant's handler
//! ([`crate::grant::exchange`]), mint the token response. Responses are never cached (§5.1).

use crate::authorization::details;
use crate::client_auth;
use crate::config::endpoint_url;
use crate::config::Config;
use crate::dpop;
use crate::error::{Error, ErrorCode};
use crate::grant::{self, TokenRequest};
use crate::http::params::Params;
use crate::http::{Request, Response};
use crate::ports::Host;
use crate::tokens;
use crate::vocabulary::GrantType;

pub async fn token<H: Host>(host: &H, config: &Config, req: &Request) -> Result<Response, Error> {
    // Auth0's SDKs may send JSON; RFC 6749 clients send a form.
    let params = Params::from_body(req, true)?;
    let issuer = config.issuer_for(req);
    let grant_type = params.require("grant_type")?;
    // Whether the client was deleted is asked with the grant's own ledger read, if it makes
    // one, and settled before anything is issued (`grant::ClientCheck`).
    let (client, client_check) =
        client_auth::authenticate_unconfirmed(host, config, req, &params, &issuer).await?.pending();
    // RFC 6749 §5.2: a grant type this server does not implement.
    let grant_type = match GrantType::parse(grant_type) {
        Some(grant_type) => grant_type,
        None => {
            let refused =
                Err(Error::oauth(ErrorCode::UnsupportedGrantType, "unsupported grant_type"));
            return client_check.settle(host, refused).await;
        }
    };
    if let Err(e) = client_auth::check_grant(&client, grant_type) {
        return client_check.settle(host, Err(e)).await;
    }
    // RFC 9449 §4.3: the proof is checked before the grant, which may check a binding in its
    // own ledger step (`grant::TokenRequest::proof_jkt`).
    let proof =
        match dpop::proof(host, config, req, &endpoint_url(&issuer, "oauth/token"), None).await {
            Ok(proof) => proof,
            Err(e) => return client_check.settle(host, Err(e)).await,
        };
    let request = TokenRequest {
        host,
        config,
        issuer: &issuer,
        req,
        client: &client,
        grant_type,
        params: &params,
        client_check: &client_check,
        proof_jkt: proof.as_ref().map(|p| p.jkt.as_str()),
    };
    let issued = grant::exchange(grant_type, &request).await;
    let issued = client_check.settle(host, issued).await?;
    // A decision the grant already made on the ledger is undone if the response fails now.
    let undo = issued.commit.undo_swaps();
    let response = respond(host, config, &issuer, &client, &params, proof, issued).await;
    if response.is_err() {
        crate::decision::undo(host, &undo).await;
    }
    Ok(dpop::with_next_nonce(host, config, req, response?).await)
}

/// What follows the grant: RAR narrowing, DPoP binding, minting.
async fn respond<H: Host>(
    host: &H,
    config: &Config,
    issuer: &str,
    client: &crate::records::ClientRecord,
    params: &Params,
    proof: Option<dpop::Proof>,
    mut issued: grant::Issued,
) -> Result<Response, Error> {
    // RFC 9396 §6: the client may ask for some of the authorization details the user approved
    // (the code's, the device code's, the refresh token's), never more; a grant without any
    // (client credentials, password) has nothing to ask for. At a code or device code
    // exchange this narrows the grant the refresh token carries on; a refresh narrows its own
    // access token only (the rotation keeps the grant, `refresh_token::Rotation`).
    let approved = &mut issued.resolved.authorization.details;
    *approved = details::narrow(approved, params.get("authorization_details")?)?;
    bind(proof, &mut issued)?;
    Ok(tokens::mint(host, config, issuer, client, issued).await?.into_response())
}

/// RFC 9449 §5: with a DPoP proof, what is issued is bound to its key. A code asked for with
/// `dpop_jkt` (§10), and a grant whose refresh tokens are bound, need a proof by that key.
/// An API that requires DPoP gets no unbound token.
fn bind(proof: Option<dpop::Proof>, issued: &mut grant::Issued) -> Result<(), Error> {
    let authorization = &mut issued.resolved.authorization;
    dpop::check_binding(authorization.jkt.as_deref(), proof.as_ref().map(|p| p.jkt.as_str()))?;
    if proof.is_none() && issued.resolved.api.as_ref().is_some_and(|a| a.require_dpop) {
        return Err(dpop::invalid("this API accepts DPoP-bound tokens only: send a DPoP proof"));
    }
    authorization.jkt = proof.map(|p| p.jkt);
    Ok(())
}
