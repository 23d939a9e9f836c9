//! base64url without padding (RFC 7515 §2, "Base64url Encoding").

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Encodes bytes as base64url without padding.
pub fn encode(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `BASE64URL(SHA-256(bytes))`: how Gatehouse names secrets it stores only hashed (client
/// secrets, refresh tokens, codes, session ids), and the PKCE S256 transform.
pub fn sha256(bytes: impl AsRef<[u8]>) -> String {
    use sha2::{Digest, Sha256};
    encode(Sha256::digest(bytes.as_ref()))
}

/// Decodes base64url without padding; padding, whitespace and the `+`/`/` alphabet are refused,
/// as are non-canonical trailing bits (RFC 7515 §2 and Appendix C).
pub fn decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}
