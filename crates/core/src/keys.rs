//! The issuer's signing keys: one RS256 and one ES256 key in use, one of each published ahead as
//! "next", and retired keys kept in the JWKS until every token they signed has expired.
//!
//! The key set's source of truth is one compare-and-set record on the [`Ledger`] (a Durable
//! Object in the Worker), so it is created exactly once even when several isolates start at the
//! same moment: each may generate a candidate, only one compare-and-set wins, and the losers adopt
//! the winner's set. KV holds a short-lived copy for the read path. Private keys are sealed with
//! AES-256-GCM under the deployment's key-encryption key (the `kid` is the associated data) and
//! are never logged (`Jwk`'s `Debug` hides them).

use serde::{Deserialize, Serialize};

use crate::config::{defaults, Config};
use crate::error::Error;
use crate::jose::jwk::{Jwk, JwkSet};
use crate::jose::{jws, Algorithm};
use crate::ports::{random_bytes, Clock, Crypto, Host, Ledger, PortError, Store, UnixTime};
use crate::seal;

/// Where the key set lives on the ledger (authoritative) and in the store (cache).
pub const LEDGER_KEY: &str = "keys:signing";
pub const STORE_KEY: &str = "keys/signing";
const RECORD_VERSION: u32 = 1;

/// A key's place in its life cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// Published, not yet signing.
    Next,
    /// Signs new tokens.
    Current,
    /// No longer signs; published until `retired_until`.
    Retired,
}

/// One signing key as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredKey {
    pub kid: String,
    pub alg: Algorithm,
    pub status: KeyStatus,
    pub created_at: UnixTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_until: Option<UnixTime>,
    /// The public JWK (with `kid`, `use`, `alg`).
    pub public: Jwk,
    /// base64url(nonce ‖ AES-256-GCM(private JWK JSON)), AAD = `kid`.
    pub sealed_private: String,
}

/// The versioned key-set record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySet {
    pub v: u32,
    /// Increases with every rotation.
    pub generation: u64,
    pub keys: Vec<StoredKey>,
}

impl KeySet {
    fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let set: KeySet = serde_json::from_slice(bytes)
            .map_err(|e| Error::Internal(format!("stored key set does not parse: {e}")))?;
        if set.v != RECORD_VERSION {
            return Err(Error::Internal(format!("unknown key set version {}", set.v)));
        }
        Ok(set)
    }

    fn to_text(&self) -> Result<String, Error> {
        serde_json::to_string(self).map_err(|e| Error::Internal(e.to_string()))
    }

    /// The key that signs new tokens for `alg`.
    pub fn current(&self, alg: Algorithm) -> Option<&StoredKey> {
        self.keys.iter().find(|k| k.alg == alg && k.status == KeyStatus::Current)
    }

    /// The public JWKS: current and next keys, and retired keys still within their grace.
    pub fn jwks(&self, now: UnixTime) -> JwkSet {
        JwkSet {
            keys: self
                .keys
                .iter()
                .filter(|k| {
                    k.status != KeyStatus::Retired || k.retired_until.is_some_and(|u| u > now)
                })
                .map(|k| k.public.to_public())
                .collect(),
        }
    }
}

/// Generates a fresh key for `alg` and seals its private part.
async fn new_key<H: Host>(
    host: &H,
    config: &Config,
    alg: Algorithm,
    status: KeyStatus,
) -> Result<StoredKey, Error> {
    let private = host.crypto().generate_signing_key(alg, random_bytes(host.rng())).await?;
    let kid = private
        .thumbprint()
        .ok_or_else(|| Error::Internal("generated key has no thumbprint".into()))?;
    let public = Jwk {
        kid: Some(kid.clone()),
        use_: Some("sig".into()),
        alg: Some(alg.as_str().into()),
        ..private.to_public()
    };
    let plaintext = serde_json::to_vec(&private).map_err(|e| Error::Internal(e.to_string()))?;
    let sealed_private = seal::seal(host, config, &kid, &plaintext).await?;
    Ok(StoredKey {
        kid,
        alg,
        status,
        created_at: host.clock().now(),
        retired_until: None,
        public,
        sealed_private,
    })
}

/// Opens a stored key's private part.
async fn unseal<H: Host>(host: &H, config: &Config, key: &StoredKey) -> Result<Jwk, Error> {
    let plaintext = seal::open(host, config, &key.kid, &key.sealed_private)
        .await?
        .ok_or(Error::Misconfigured("KEY_ENCRYPTION_KEY does not open the stored signing keys"))?;
    let mut private: Jwk = serde_json::from_slice(plaintext.expose())
        .map_err(|_| Error::Internal("sealed key does not parse".into()))?;
    private.kid = Some(key.kid.clone());
    Ok(private)
}

async fn cache<H: Host>(host: &H, text: &str) -> Result<(), PortError> {
    host.store().put(STORE_KEY, text.as_bytes(), Some(defaults::KEY_SET_CACHE_SECONDS)).await
}

/// The key set, created on first use (exactly once, see the module docs).
pub async fn load<H: Host>(host: &H, config: &Config) -> Result<KeySet, Error> {
    if let Some(bytes) =
        host.store().get_cached(STORE_KEY, defaults::KEY_SET_ISOLATE_CACHE_SECONDS).await?
    {
        if let Ok(set) = KeySet::parse(&bytes) {
            return Ok(set);
        }
    }
    let now = host.clock().now();
    if let Some(text) = host.ledger().get(LEDGER_KEY, now).await? {
        let set = KeySet::parse(text.as_bytes())?;
        cache(host, &text).await?;
        return Ok(set);
    }
    // First use: generate a candidate set; only one compare-and-set wins.
    let mut keys = Vec::new();
    for alg in Algorithm::ALL {
        keys.push(new_key(host, config, alg, KeyStatus::Current).await?);
        keys.push(new_key(host, config, alg, KeyStatus::Next).await?);
    }
    let candidate = KeySet { v: RECORD_VERSION, generation: 1, keys };
    let text = candidate.to_text()?;
    if host.ledger().compare_and_set(LEDGER_KEY, None, &text, now, None).await? {
        host.log("created the signing key set");
        cache(host, &text).await?;
        return Ok(candidate);
    }
    // Another isolate won the race: adopt its set.
    let text = host
        .ledger()
        .get(LEDGER_KEY, now)
        .await?
        .ok_or_else(|| Error::Internal("key set vanished after a lost race".into()))?;
    cache(host, &text).await?;
    KeySet::parse(text.as_bytes())
}

/// Rotates every algorithm's keys (an operator action): the current key retires and stays
/// published for the grace period, the next key becomes current, and a new next key is
/// generated and published. Retired keys past their grace are dropped.
pub async fn rotate<H: Host>(host: &H, config: &Config) -> Result<KeySet, Error> {
    for _attempt in 0..5 {
        let now = host.clock().now();
        let text = match host.ledger().get(LEDGER_KEY, now).await? {
            Some(text) => text,
            None => {
                load(host, config).await?;
                continue;
            }
        };
        let old = KeySet::parse(text.as_bytes())?;
        let mut keys: Vec<StoredKey> = Vec::new();
        for key in old.keys {
            match key.status {
                KeyStatus::Retired if key.retired_until.is_some_and(|u| u > now) => keys.push(key),
                KeyStatus::Retired => {}
                KeyStatus::Current => keys.push(StoredKey {
                    status: KeyStatus::Retired,
                    retired_until: Some(now + config.retired_key_grace_seconds),
                    ..key
                }),
                KeyStatus::Next => keys.push(StoredKey { status: KeyStatus::Current, ..key }),
            }
        }
        for alg in Algorithm::ALL {
            if !keys.iter().any(|k| k.alg == alg && k.status == KeyStatus::Current) {
                keys.push(new_key(host, config, alg, KeyStatus::Current).await?);
            }
            keys.push(new_key(host, config, alg, KeyStatus::Next).await?);
        }
        let new = KeySet { v: RECORD_VERSION, generation: old.generation + 1, keys };
        let new_text = new.to_text()?;
        if host.ledger().compare_and_set(LEDGER_KEY, Some(&text), &new_text, now, None).await? {
            host.log(&format!("rotated the signing keys to generation {}", new.generation));
            cache(host, &new_text).await?;
            return Ok(new);
        }
    }
    Err(Error::oauth(
        crate::error::ErrorCode::TemporarilyUnavailable,
        "the key set changed during rotation; try again",
    ))
}

/// Signs `payload` as a compact JWS with the current key for `alg`.
pub async fn sign<H: Host>(
    host: &H,
    config: &Config,
    alg: Algorithm,
    typ: Option<&str>,
    payload: &[u8],
) -> Result<String, Error> {
    let set = load(host, config).await?;
    let key = set.current(alg).ok_or_else(|| Error::Internal(format!("no current {alg} key")))?;
    let private = unseal(host, config, key).await?;
    Ok(jws::sign(host.crypto(), &private, alg, typ, payload).await?)
}

#[cfg(all(test, feature = "rust-crypto"))]
mod tests {
    use super::*;
    use crate::memory::MemoryHost;
    use crate::rust_crypto::RustCrypto;
    use crate::secret::SecretBytes;
    use pollster::block_on;

    fn config() -> Config {
        Config { key_encryption_key: Some(SecretBytes::new(vec![9; 32])), ..Config::default() }
    }

    #[test]
    fn creates_once_and_publishes_only_public_keys() {
        let host = MemoryHost::new(RustCrypto, 1_700_000_000, 1);
        let config = config();
        block_on(async {
            let first = load(&host, &config).await.unwrap();
            let again = load(&host, &config).await.unwrap();
            assert_eq!(first, again);
            assert_eq!(first.keys.len(), 4);
            let jwks = first.jwks(host.clock.now());
            assert_eq!(jwks.keys.len(), 4);
            for key in &jwks.keys {
                assert!(!key.is_private());
                assert_eq!(key.kid, key.thumbprint());
                assert_eq!(key.use_.as_deref(), Some("sig"));
            }
            // The sealed private keys do not contain the private members in clear.
            let stored = host.ledger.get(LEDGER_KEY, 0).await.unwrap().unwrap();
            assert!(!stored.contains("\"d\""));
        });
    }

    #[test]
    fn signatures_verify_with_the_published_keys() {
        let host = MemoryHost::new(RustCrypto, 1_700_000_000, 2);
        let config = config();
        block_on(async {
            for alg in Algorithm::ALL {
                let token =
                    sign(&host, &config, alg, Some("JWT"), br#"{"sub":"x"}"#).await.unwrap();
                let set = load(&host, &config).await.unwrap();
                let parsed = jws::Jws::parse(&token, &[alg]).unwrap();
                assert_eq!(parsed.kid(), set.current(alg).map(|k| k.kid.as_str()));
                let payload = parsed.verify(&RustCrypto, &set.jwks(0).keys).await.unwrap();
                assert_eq!(payload, br#"{"sub":"x"}"#);
            }
        });
    }

    #[test]
    fn a_wrong_key_encryption_key_is_a_configuration_error() {
        let host = MemoryHost::new(RustCrypto, 1_700_000_000, 3);
        block_on(async {
            load(&host, &config()).await.unwrap();
            let other =
                Config { key_encryption_key: Some(SecretBytes::new(vec![1; 32])), ..config() };
            let err = sign(&host, &other, Algorithm::ES256, None, b"{}").await.unwrap_err();
            assert!(matches!(err, Error::Misconfigured(_)));
            let none = Config::default();
            let host2 = MemoryHost::new(RustCrypto, 1_700_000_000, 4);
            assert!(matches!(load(&host2, &none).await.unwrap_err(), Error::Misconfigured(_)));
        });
    }

    #[test]
    fn rotation_promotes_next_and_retires_current_for_the_grace_period() {
        let host = MemoryHost::new(RustCrypto, 1_700_000_000, 5);
        let config = config();
        block_on(async {
            let before = load(&host, &config).await.unwrap();
            let old_current = before.current(Algorithm::ES256).unwrap().kid.clone();
            let old_next = before
                .keys
                .iter()
                .find(|k| k.alg == Algorithm::ES256 && k.status == KeyStatus::Next)
                .unwrap()
                .kid
                .clone();
            host.clock.advance(10);
            let after = rotate(&host, &config).await.unwrap();
            assert_eq!(after.generation, 2);
            assert_eq!(after.current(Algorithm::ES256).unwrap().kid, old_next);
            let now = host.clock.now();
            let published: Vec<String> =
                after.jwks(now).keys.iter().filter_map(|k| k.kid.clone()).collect();
            assert!(published.contains(&old_current), "retired key stays published");
            assert_eq!(published.len(), 6);
            // Tokens now carry the promoted key's kid.
            let token = sign(&host, &config, Algorithm::ES256, None, b"{}").await.unwrap();
            assert_eq!(
                jws::Jws::parse(&token, &[Algorithm::ES256]).unwrap().kid(),
                Some(old_next.as_str())
            );
            // Past the grace period the retired key leaves the JWKS, and the next rotation drops it.
            let later = now + config.retired_key_grace_seconds;
            assert!(!after.jwks(later).keys.iter().any(|k| k.kid.as_deref() == Some(&old_current)));
            host.clock.set(later);
            let third = rotate(&host, &config).await.unwrap();
            assert!(!third.keys.iter().any(|k| k.kid == old_current));
            // Two retired (generation 2's), two current, two next.
            assert_eq!(third.keys.len(), 6);
        });
    }
}
