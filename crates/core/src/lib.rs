//! Gatehouse's protocol engine: an OAuth 2.0 / OpenID Connect authorization server that takes an
//! HTTP-shaped [`http::Request`] and returns an HTTP-shaped [`http::Response`].
//!
//! The core is sans-I/O: clock, randomness, storage, the single-use ledger, crypto and outbound
//! HTTP are reached only through the traits in [`ports`], which each host implements (the
//! Cloudflare Worker, the in-memory test host in [`memory`]).
#![forbid(unsafe_code)]

pub mod authentication;
pub mod authorization;
pub mod b64;
pub mod client_auth;
pub mod config;
pub mod decision;
pub mod dpop;
pub mod endpoint;
pub mod error;
pub mod grant;
pub mod http;
pub mod jose;
pub mod keys;
pub mod ledger_record;
pub mod memory;
pub mod notify;
pub mod pages;
pub mod ports;
pub mod rate_limit;
pub mod records;
pub mod router;
#[cfg(feature = "rust-crypto")]
pub mod rust_crypto;
pub mod seal;
pub mod secret;
pub mod tokens;
pub mod vocabulary;

pub use config::Config;
pub use error::Error;
pub use ports::Host;
pub use router::handle;
