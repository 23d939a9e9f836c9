//! The client credentials grant (RFC 6749 §4.4): a confidential client asks for an access token
//! for an API on its own behalf. What it may receive is Auth0's *client grant* for that API (the
//! tenant file's `client_grants`); a dynamically registered client, which has none, may receive
//! the scopes it registered (RFC 7591 §2 `scope`) on APIs that define them, unless the operator
//! turns that off. The token's subject is the client (`sub` = `{client_id}@clients`); no ID
//! token, no refresh token (§4.4.3).

use super::{resolve, Authorization, Issued, TokenRequest};
use crate::authorization::request;
use crate::error::{Error, ErrorCode};
use crate::records;
use crate::vocabulary::GrantType;

pub async fn exchange<H: crate::ports::Host>(
    request: &TokenRequest<'_, H>,
) -> Result<Issued, Error> {
    let TokenRequest { host, config, client, params, .. } = *request;
    // Auth0 answers 403 access_denied: the client is known and authenticated, but has not been
    // granted access to this API.
    let not_granted = || {
        Error::oauth(ErrorCode::AccessDenied, "the client has not been granted access to this API")
    };
    // §4.4: only confidential clients (a public client cannot authenticate).
    if client.is_public() {
        return Err(Error::oauth(
            ErrorCode::UnauthorizedClient,
            "client credentials are for confidential clients",
        ));
    }
    // The API: Auth0's `audience`, or RFC 8707 `resource` (invalid_target when unknown).
    let api = request::check_audience(host, params).await?.ok_or_else(|| {
        Error::invalid_request("name the API with audience (or resource, RFC 8707)")
    })?;
    let (allowed, grant_id) =
        match records::client_grant_cached(host.store(), &client.client_id, &api.identifier).await?
        {
            Some(grant) => (grant.scope, Some(grant.grant_id)),
            None if client.is_registered() && config.registered_client_credentials => {
                let defined = |s: &str| api.scopes.iter().any(|d| d.value == s);
                (client.scope.clone().unwrap_or_default().filter(defined), None)
            }
            None => return Err(not_granted()),
        };
    // A deleted client grant is revoked on the ledger at once; KV may still show it a while.
    // One ledger read: the client grant, and whether the client was deleted.
    if let Some(id) = &grant_id {
        let entry: Option<super::GrantEntry> =
            request.read_record(super::GrantGroup::of(id), id).await?;
        if entry.is_some_and(|e| super::grant_revoked(&e)) {
            return Err(not_granted());
        }
    }
    if grant_id.is_none() && allowed.is_empty() {
        return Err(not_granted());
    }
    let requested = request::parse_scope(params.get("scope")?)?;
    // None requested: everything granted; more than granted: invalid_scope (RFC 6749 §3.3).
    let scope = if requested.is_empty() { allowed.clone() } else { requested };
    if !scope.is_subset_of(&allowed) {
        return Err(Error::oauth(ErrorCode::InvalidScope, "the scope exceeds the client's grant"));
    }
    let mut authorization = Authorization::requested(client.client_id.clone(), scope);
    authorization.audience = Some(api.identifier.clone());
    authorization.grant_id = grant_id;
    authorization.grant_type = Some(GrantType::ClientCredentials);
    Ok(Issued { resolved: resolve(host, authorization).await?, commit: super::Commit::Nothing })
}
