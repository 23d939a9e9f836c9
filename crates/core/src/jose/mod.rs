//! JOSE: JWS compact serialization (RFC 7515), JWK and JWK thumbprints (RFC 7517, RFC 7638),
//! and the algorithms Gatehouse signs with (RFC 7518 §3).

pub mod json;
pub mod jwk;
pub mod jws;

use std::fmt;

/// A JWS algorithm on Gatehouse's allow-list. `none` is not representable: it is always refused
/// (RFC 8725 §3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3). Mandatory for OpenID providers
    /// (OIDC Core §15.1) and required by auth0-spa-js for ID tokens.
    RS256,
    /// ECDSA P-256 with SHA-256 (RFC 7518 §3.4); signatures are the 64-byte `r‖s`.
    ES256,
    /// RSASSA-PSS with SHA-256 and a 32-byte salt (RFC 7518 §3.5). Verified only: clients sign
    /// request objects and assertions with it (FAPI); Gatehouse signs nothing with it.
    PS256,
}

impl Algorithm {
    /// What Gatehouse signs with (a key of each is kept and published).
    pub const ALL: [Algorithm; 2] = [Algorithm::RS256, Algorithm::ES256];
    /// What Gatehouse verifies from clients: request objects (RFC 9101) and client assertions.
    pub const CLIENT_SIGNED: [Algorithm; 3] =
        [Algorithm::RS256, Algorithm::ES256, Algorithm::PS256];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
            Self::PS256 => "PS256",
        }
    }

    /// Whether Gatehouse signs with this algorithm (see [`Self::ALL`]).
    pub fn is_signing(self) -> bool {
        Self::ALL.contains(&self)
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "RS256" => Some(Self::RS256),
            "ES256" => Some(Self::ES256),
            "PS256" => Some(Self::PS256),
            _ => None,
        }
    }

    /// The JWK `kty` a key for this algorithm has.
    pub fn key_type(self) -> &'static str {
        match self {
            Self::RS256 | Self::PS256 => "RSA",
            Self::ES256 => "EC",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
