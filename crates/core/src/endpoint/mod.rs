//! The endpoints, one module each.

pub mod activate;
pub mod admin;
pub mod approve;
pub mod authorize;
pub mod backchannel_authentication;
pub mod bff;
pub mod device_authorization;
pub mod discovery;
pub mod introspection;
pub mod jwks;
pub mod logout;
pub mod pushed_authorization;
pub mod registration;
pub mod revocation;
pub mod token;
pub mod userinfo;

use crate::config::defaults;
use crate::http::Response;

/// How long an isolate may answer discovery and the JWKS from its copy. It adds to the key set's
/// own isolate copy (30 s) and KV's propagation; a rotation's new current key was published as
/// "next" long before it signs anything, so one rotation is safe (relying parties may keep the
/// JWKS for `max-age`, 600 s, anyway).
pub const PUBLIC_DOCUMENT_REUSE_SECONDS: u64 = 10;

/// Public, cacheable metadata (discovery, JWKS): any origin may read it (CORS `*`), HTTP caches
/// may keep it, and so may the host's isolate, briefly.
pub(crate) fn public_json(value: &serde_json::Value) -> Response {
    let mut response = Response::json(200, value)
        .with_header(
            "cache-control",
            &format!("public, max-age={}", defaults::METADATA_MAX_AGE_SECONDS),
        )
        .with_header("access-control-allow-origin", "*");
    response.reusable_for_seconds = PUBLIC_DOCUMENT_REUSE_SECONDS;
    response
}
