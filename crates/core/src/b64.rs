//! base64url without padding (RFC 7515 §2, "Base64url Encoding").

pub use gatehouse_protocol::b64::{decode, encode};

/// `BASE64URL(SHA-256(bytes))`: how Gatehouse names secrets it stores only hashed (client
/// secrets, refresh tokens, codes, session ids), and the PKCE S256 transform.
pub fn sha256(bytes: impl AsRef<[u8]>) -> String {
    use sha2::{Digest, Sha256};
    encode(Sha256::digest(bytes.as_ref()))
}
