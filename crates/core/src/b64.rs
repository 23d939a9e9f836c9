//! base64url without padding (RFC 7515 §2, "Base64url Encoding").

pub use gatehouse_protocol::b64::{decode, encode};

/// `BASE64URL(SHA-256(bytes))`: how Gatehouse names secrets it stores only hashed (client
/// secrets, refresh tokens, codes, session ids); PKCE's S256 is `authorization::pkce` over the protocol crate.
pub fn sha256(bytes: impl AsRef<[u8]>) -> String {
    use sha2::{Digest, Sha256};
    encode(Sha256::digest(bytes.as_ref()))
}
