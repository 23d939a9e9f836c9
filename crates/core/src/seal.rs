//! Secrets at rest: private signing keys and cookie-session tokens are stored as
//! `base64url(nonce ‖ AES-256-GCM(plaintext))` under the deployment's key-encryption key, with
//! the record's name as associated data so a sealed value cannot be moved to another record.

use crate::b64;
use crate::config::Config;
use crate::error::Error;
use crate::ports::{random_bytes, Crypto, Host};
use crate::secret::SecretBytes;

fn kek(config: &Config) -> Result<&SecretBytes, Error> {
    config.key_encryption_key.as_ref().ok_or(Error::Misconfigured("KEY_ENCRYPTION_KEY is not set"))
}

/// Seals `plaintext`, bound to `aad`.
pub async fn seal<H: Host>(
    host: &H,
    config: &Config,
    aad: &str,
    plaintext: &[u8],
) -> Result<String, Error> {
    let kek = kek(config)?;
    let nonce: [u8; 12] = random_bytes(host.rng());
    let mut sealed = nonce.to_vec();
    sealed.extend(host.crypto().aes_gcm_seal(kek, &nonce, aad.as_bytes(), plaintext).await?);
    Ok(b64::encode(sealed))
}

/// Opens a sealed value; `None` when it is malformed, bound to another `aad`, or sealed under
/// another key.
pub async fn open<H: Host>(
    host: &H,
    config: &Config,
    aad: &str,
    sealed: &str,
) -> Result<Option<SecretBytes>, Error> {
    let kek = kek(config)?;
    let Some(bytes) = b64::decode(sealed).filter(|s| s.len() > 12) else { return Ok(None) };
    let (nonce, ciphertext) = bytes.split_at(12);
    let Ok(nonce) = <[u8; 12]>::try_from(nonce) else { return Ok(None) };
    Ok(host.crypto().aes_gcm_open(kek, &nonce, aad.as_bytes(), ciphertext).await?)
}
