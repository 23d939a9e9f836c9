//! gatehouse-protocol: the OAuth 2.0 / OpenID Connect rules that both sides of Gatehouse apply,
//! in one place: the Worker uses them through `gatehouse-core`, the browser package
//! (`gatehouse-spa`) directly.
//!
//! It is `no_std` (with `alloc`) and has no JSON, crypto, clock or randomness of its own, so the
//! browser package stays small: the caller brings a digest or a parsed JSON object (serde_json in
//! the core, `JSON.parse` in the browser) and the time.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod authorize;
pub mod b64;
pub mod form;
pub mod id_token;
pub mod jose;
pub mod pkce;

/// Concatenates strings without `core::fmt` (which the browser package leaves out).
pub fn concat(parts: &[&str]) -> alloc::string::String {
    parts.concat()
}
