//! The pure-Rust reference implementation of the [`Crypto`] port, on RustCrypto crates:
//! `p256` (deterministic RFC 6979 ECDSA, fixed-size `r‖s`), `rsa` (PKCS#1 v1.5, and PSS for
//! verifying clients' PS256 and for signing test request objects with it), `aes-gcm`,
//! `pbkdf2`. Native tests run on it; WebCrypto implementations must agree with it.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{
    Signature as EcSignature, SigningKey as EcSigningKey, VerifyingKey as EcVerifyingKey,
};
use p256::EncodedPoint;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use rsa::pkcs1v15::{
    Signature as RsaSignature, SigningKey as RsaSigningKey, VerifyingKey as RsaVerifyingKey,
};
use rsa::pss::{
    Signature as PssSignature, SigningKey as PssSigningKey, VerifyingKey as PssVerifyingKey,
};
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{BigUint, RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;

use crate::b64;
use crate::jose::jwk::Jwk;
use crate::jose::Algorithm;
use crate::ports::{Crypto, PortError};
use crate::secret::SecretBytes;

/// RSA modulus size for generated keys (RFC 7518 §3.3: 2048 bits or larger).
pub const RSA_BITS: usize = 2048;

/// The pure-Rust crypto port.
#[derive(Clone, Copy, Debug, Default)]
pub struct RustCrypto;

fn member(value: &Option<String>) -> Option<Vec<u8>> {
    value.as_deref().and_then(b64::decode)
}

fn uint(value: &Option<String>) -> Option<BigUint> {
    member(value).map(|b| BigUint::from_bytes_be(&b))
}

fn ec_verifying_key(key: &Jwk) -> Option<EcVerifyingKey> {
    let x = member(&key.x)?;
    let y = member(&key.y)?;
    if x.len() != 32 || y.len() != 32 {
        return None;
    }
    let point =
        EncodedPoint::from_affine_coordinates(x.as_slice().into(), y.as_slice().into(), false);
    EcVerifyingKey::from_encoded_point(&point).ok()
}

fn ec_signing_key(key: &Jwk) -> Option<EcSigningKey> {
    let d = member(&key.d)?;
    if d.len() != 32 {
        return None;
    }
    EcSigningKey::from_slice(&d).ok()
}

fn rsa_public_key(key: &Jwk) -> Option<RsaPublicKey> {
    let public = RsaPublicKey::new(uint(&key.n)?, uint(&key.e)?).ok()?;
    // RFC 7518 §3.3: a key of size 2048 bits or larger MUST be used.
    (public.size() * 8 >= 2048).then_some(public)
}

fn rsa_private_key(key: &Jwk) -> Option<RsaPrivateKey> {
    let private = RsaPrivateKey::from_components(
        uint(&key.n)?,
        uint(&key.e)?,
        uint(&key.d)?,
        vec![uint(&key.p)?, uint(&key.q)?],
    )
    .ok()?;
    private.validate().ok()?;
    Some(private)
}

fn bad_key(alg: Algorithm) -> PortError {
    PortError::new(format!("unusable {alg} private key"))
}

/// Left-pads a big-endian integer to `len` bytes (EC coordinates are fixed-size).
fn fixed(bytes: &[u8], len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len.saturating_sub(bytes.len())];
    out.extend_from_slice(bytes);
    out
}

impl Crypto for RustCrypto {
    async fn generate_signing_key(&self, alg: Algorithm, seed: [u8; 32]) -> Result<Jwk, PortError> {
        let mut rng = ChaCha20Rng::from_seed(seed);
        match alg {
            Algorithm::ES256 => {
                let signing = EcSigningKey::random(&mut rng);
                let point = signing.verifying_key().to_encoded_point(false);
                let (Some(x), Some(y)) = (point.x(), point.y()) else {
                    return Err(PortError::new("P-256 point at infinity"));
                };
                Ok(Jwk {
                    kty: "EC".into(),
                    crv: Some("P-256".into()),
                    x: Some(b64::encode(x)),
                    y: Some(b64::encode(y)),
                    d: Some(b64::encode(fixed(&signing.to_bytes(), 32))),
                    ..Jwk::default()
                })
            }
            Algorithm::RS256 | Algorithm::PS256 => {
                let key = RsaPrivateKey::new(&mut rng, RSA_BITS)
                    .map_err(|e| PortError::new(format!("RSA key generation: {e}")))?;
                let primes = key.primes();
                let (Some(dp), Some(dq), Some(qi), [p, q]) =
                    (key.dp(), key.dq(), key.crt_coefficient(), primes)
                else {
                    return Err(PortError::new("RSA key without CRT parameters"));
                };
                let enc = |v: &BigUint| Some(b64::encode(v.to_bytes_be()));
                Ok(Jwk {
                    kty: "RSA".into(),
                    n: enc(key.n()),
                    e: enc(key.e()),
                    d: enc(key.d()),
                    p: enc(p),
                    q: enc(q),
                    dp: enc(dp),
                    dq: enc(dq),
                    qi: enc(&qi),
                    ..Jwk::default()
                })
            }
        }
    }

    async fn sign(&self, key: &Jwk, alg: Algorithm, input: &[u8]) -> Result<Vec<u8>, PortError> {
        if !key.fits(alg) {
            return Err(bad_key(alg));
        }
        match alg {
            Algorithm::ES256 => {
                let signing = ec_signing_key(key).ok_or_else(|| bad_key(alg))?;
                let signature: EcSignature = signing.sign(input);
                Ok(signature.to_bytes().to_vec())
            }
            Algorithm::RS256 => {
                let private = rsa_private_key(key).ok_or_else(|| bad_key(alg))?;
                let signing = RsaSigningKey::<Sha256>::new(private);
                let signature: RsaSignature = signing.sign(input);
                Ok(signature.to_vec())
            }
            Algorithm::PS256 => {
                let private = rsa_private_key(key).ok_or_else(|| bad_key(alg))?;
                // PSS draws a salt; the reference port has no RNG of its own, so the salt is
                // derived from the input (fine for a reference and tests: PSS verification does
                // not depend on how the salt was chosen).
                let seed: [u8; 32] =
                    sha2::Digest::finalize(<Sha256 as sha2::Digest>::new_with_prefix(input)).into();
                let mut rng = ChaCha20Rng::from_seed(seed);
                let signing = PssSigningKey::<Sha256>::new(private);
                let signature: PssSignature = signing.sign_with_rng(&mut rng, input);
                Ok(signature.to_vec())
            }
        }
    }

    async fn verify(
        &self,
        key: &Jwk,
        alg: Algorithm,
        input: &[u8],
        signature: &[u8],
    ) -> Result<bool, PortError> {
        if !key.fits(alg) {
            return Ok(false);
        }
        // RFC 7518 §3.3–3.4: the signature's length, and 2048-bit RSA keys or larger (the
        // protocol crate's rule, which the WebCrypto port and the browser apply too).
        let modulus = key.n.as_deref().and_then(crate::b64::decode);
        if !alg.signature_fits(signature, modulus.as_deref()) {
            return Ok(false);
        }
        Ok(match alg {
            Algorithm::ES256 => {
                let (Some(verifying), Ok(sig)) =
                    (ec_verifying_key(key), EcSignature::from_slice(signature))
                else {
                    return Ok(false);
                };
                verifying.verify(input, &sig).is_ok()
            }
            Algorithm::RS256 => {
                let Some(public) = rsa_public_key(key) else { return Ok(false) };
                let Ok(sig) = RsaSignature::try_from(signature) else { return Ok(false) };
                RsaVerifyingKey::<Sha256>::new(public).verify(input, &sig).is_ok()
            }
            // RFC 7518 §3.5: MGF1 with SHA-256, salt as long as the hash.
            Algorithm::PS256 => {
                let Some(public) = rsa_public_key(key) else { return Ok(false) };
                let Ok(sig) = PssSignature::try_from(signature) else { return Ok(false) };
                PssVerifyingKey::<Sha256>::new(public).verify(input, &sig).is_ok()
            }
        })
    }

    async fn aes_gcm_seal(
        &self,
        key: &SecretBytes,
        nonce: &[u8; 12],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, PortError> {
        let cipher = Aes256Gcm::new_from_slice(key.expose())
            .map_err(|_| PortError::new("AES-256-GCM key must be 32 bytes"))?;
        cipher
            .encrypt(Nonce::from_slice(nonce), Payload { msg: plaintext, aad })
            .map_err(|_| PortError::new("AES-GCM encryption failed"))
    }

    async fn aes_gcm_open(
        &self,
        key: &SecretBytes,
        nonce: &[u8; 12],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Option<SecretBytes>, PortError> {
        let cipher = Aes256Gcm::new_from_slice(key.expose())
            .map_err(|_| PortError::new("AES-256-GCM key must be 32 bytes"))?;
        Ok(cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad })
            .ok()
            .map(SecretBytes::new))
    }

    async fn pbkdf2_sha256(
        &self,
        password: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> Result<[u8; 32], PortError> {
        let mut out = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
        Ok(out)
    }
}
