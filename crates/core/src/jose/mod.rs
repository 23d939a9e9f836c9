//! JOSE: JWS compact serialization (RFC 7515), JWK and JWK thumbprints (RFC 7517, RFC 7638),
//! and the algorithms Gatehouse signs with (RFC 7518 §3).

pub mod json;
pub mod jwk;
pub mod jws;

/// The algorithms, which keys and signatures fit them, and their WebCrypto parameters are the
/// protocol crate's: the browser package applies the same rules.
pub use gatehouse_protocol::jose::{Algorithm, KeyFacts, WebCryptoParams};
