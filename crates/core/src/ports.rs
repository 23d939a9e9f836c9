//! The ports: everything outside the core, reached through small traits that each host
//! implements. The traits' futures carry no `Send` bound, because the Worker's are `!Send`.
#![allow(async_fn_in_trait)]

use std::fmt;

use crate::decision::Decision;
use crate::http::{Request, Response};
use crate::jose::jwk::Jwk;
use crate::jose::Algorithm;
use crate::secret::SecretBytes;

/// Seconds since the Unix epoch.
pub type UnixTime = i64;

/// A host failure (storage down, a binding missing, WebCrypto refusing). It becomes
/// `server_error` on the wire, with no detail leaked; the detail is for the host's log.
#[derive(Clone, PartialEq, Eq)]
pub struct PortError(pub String);

impl PortError {
    pub fn new(detail: impl Into<String>) -> Self {
        Self(detail.into())
    }
}

impl fmt::Debug for PortError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PortError({})", self.0)
    }
}

impl fmt::Display for PortError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The wall clock, and waiting on it.
pub trait Clock {
    fn now(&self) -> UnixTime;

    /// Waits about `millis` milliseconds (a waiter backing off while another request finishes
    /// a refresh). Hosts without timers may return at once; callers bound their retries anyway.
    async fn sleep(&self, _millis: u64) {}
}

/// A cryptographically secure random number generator.
pub trait Rng {
    fn fill(&self, dest: &mut [u8]);
}

/// Key/value records with an optional time to live, shaped like Workers KV: eventually
/// consistent, last write wins, so nothing that must happen once is decided here (that is the
/// [`Ledger`]'s job). Hosts may round a TTL up to their minimum (Workers KV: 60 s).
pub trait Store {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError>;
    async fn put(&self, key: &str, value: &[u8], ttl_seconds: Option<u64>)
        -> Result<(), PortError>;
    async fn delete(&self, key: &str) -> Result<(), PortError>;

    /// Like `get`, but the host may answer from a copy up to `max_age_seconds` old (the Worker
    /// keeps one per isolate). For data that is read on every request and changes rarely.
    async fn get_cached(
        &self,
        key: &str,
        _max_age_seconds: u64,
    ) -> Result<Option<Vec<u8>>, PortError> {
        self.get(key).await
    }
}

/// The strongly consistent primitive: consume-once, compare-and-set and counters. The Worker
/// backs it with a Durable Object; tests with memory. `now` is passed in so that the ledger needs
/// no clock of its own; a record whose `expires_at` has passed counts as absent.
///
/// A host may spread keys over several objects, but keys of one *group* — the text before a
/// key's first `#`, or the whole key when it has none — always share one object, so that one
/// call can read them together ([`Ledger::get_many`]).
pub trait Ledger {
    /// Marks `key` used. `true` exactly once per key until `expires_at`; `false` afterwards.
    async fn consume_once(
        &self,
        key: &str,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> Result<bool, PortError>;

    /// The current value of a compare-and-set record.
    async fn get(&self, key: &str, now: UnixTime) -> Result<Option<String>, PortError>;

    /// Several compare-and-set records of one group (see above), read in one step: their
    /// current values, in the order asked. One round trip where a decision needs several
    /// records (is this access token revoked: its grant, itself, its client) instead of one
    /// each. Keys of different groups are refused. The default reads them one by one.
    async fn get_many(
        &self,
        keys: &[String],
        now: UnixTime,
    ) -> Result<Vec<Option<String>>, PortError> {
        if !same_group(keys) {
            return Err(PortError::new("get_many: keys of different groups"));
        }
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            values.push(self.get(key, now).await?);
        }
        Ok(values)
    }

    /// Sets `key` to `new` if its current value is `expected` (`None`: absent or expired).
    /// Returns whether the swap happened.
    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&str>,
        new: &str,
        now: UnixTime,
        expires_at: Option<UnixTime>,
    ) -> Result<bool, PortError>;

    /// Several compare-and-sets of one group (see above), all or none, in one step: `true`
    /// when every swap's `expected` held, and then every `new` was written. A change to two
    /// records at once (a decision's undo: `decision::undo`) is one round trip and cannot be
    /// half made. Keys of different groups are refused, and so may be more swaps
    /// than a host can make in one step ([`MAX_WRITES_PER_STEP`]).
    async fn compare_and_set_all(&self, swaps: &[Swap], now: UnixTime) -> Result<bool, PortError>;

    /// Makes `decision` where its records are, in one step (one round trip): the host reads
    /// the keys the decision asks for, runs the core's rule on them (`Decision::rule`, pure,
    /// so the host only runs it), and writes what the rule says, all or none, before it takes
    /// the next request for those keys. Returns the rule's answer. This is how a decision
    /// whose new records depend on what is read (a code's use and its grant's start, a refresh
    /// token's rotation) is one round trip, not a read and a compare-and-set.
    ///
    /// The default makes the same decision optimistically with the other calls (for wrappers
    /// and other ledgers; the Worker's and [`crate::memory::MemoryLedger`] make it in one step):
    /// it reads the keys the rule asks for one by one, then writes by `compare_and_set_all`
    /// against every text it read, and decides again if someone wrote first.
    async fn decide(&self, decision: &Decision, now: UnixTime) -> Result<String, PortError> {
        decide_optimistically(self, decision, now).await
    }

    /// The current value of the counter `key` (0 if absent or expired).
    async fn count(&self, key: &str, now: UnixTime) -> Result<u64, PortError>;

    /// Adds one to the counter `key` (created at 0 if absent or expired, living until
    /// `expires_at`) and returns the new count. Rate-limit windows are keys the core names.
    async fn increment(
        &self,
        key: &str,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> Result<u64, PortError>;

    /// Several counters in one step, on one ledger object (`group` names it: every call that
    /// counts a key must name the same group for it): adds one to each key of `increment`
    /// (created at 0 if absent or expired, living until `expires_at`), and returns their new
    /// counts followed by the current counts of `read`. One round trip where one decision's
    /// counters (a login attempt's, per account and per IP, this window and the last) would
    /// otherwise take one each. The default does it one by one (for ledgers in memory).
    async fn tally(
        &self,
        _group: &str,
        increment: &[String],
        read: &[String],
        now: UnixTime,
        expires_at: UnixTime,
    ) -> Result<Vec<u64>, PortError> {
        let mut counts = Vec::with_capacity(increment.len() + read.len());
        for key in increment {
            counts.push(self.increment(key, now, expires_at).await?);
        }
        for key in read {
            counts.push(self.count(key, now).await?);
        }
        Ok(counts)
    }

    /// A deadline nobody asks about: at about `at`, if `key` still holds exactly `expected`
    /// (nobody changed or ended it meanwhile), sets it to `replacement` (living until
    /// `keep_until`) and, if it did, sends `notification` through outbound HTTP (retried as
    /// [`crate::notify::deliver`] does). The check and the write are one step on the ledger, so
    /// a decision racing the deadline wins or loses whole. A CIBA push-mode request that
    /// expires unanswered is ended so and pushed `expired_token` (CIBA Core §12). A host
    /// without timers refuses (`PortError`); callers log it.
    async fn at_deadline(&self, _deadline: Deadline) -> Result<(), PortError> {
        Err(PortError::new("this ledger keeps no deadlines"))
    }
}

/// [`Ledger::decide`] made with the other calls: reads the keys the rule asks for one by one,
/// then writes by `compare_and_set_all` against every text it read, and decides again if
/// someone wrote first. The trait's default; a test ledger can choose it.
pub async fn decide_optimistically<L: Ledger + ?Sized>(
    ledger: &L,
    decision: &Decision,
    now: UnixTime,
) -> Result<String, PortError> {
    const MAX_KEYS: usize = 33;
    let mut known: Vec<(String, Option<String>)> = Vec::new();
    let mut lost = 0;
    loop {
        let mut missing = None;
        let ruled = decision.rule(now, &mut |key| match known.iter().find(|(k, _)| k == key) {
            Some((_, value)) => Ok(value.clone()),
            None => {
                missing.get_or_insert_with(|| key.to_string());
                Ok(None)
            }
        });
        // A key not read yet was guessed absent: read it and rule again, whatever the
        // rule made of the guess.
        if let Some(key) = missing {
            if known.len() >= MAX_KEYS {
                return Err(PortError::new("decide: the rule reads too many keys"));
            }
            let value = ledger.get(&key, now).await?;
            known.push((key, value));
            continue;
        }
        let ruling = ruled?;
        let mut swaps: Vec<Swap> = known
            .iter()
            .map(|(key, value)| Swap {
                key: key.clone(),
                expected: value.clone(),
                new: None,
                expires_at: None,
            })
            .collect();
        for write in ruling.writes {
            let swap = swaps
                .iter_mut()
                .find(|s| s.key == write.key)
                .ok_or_else(|| PortError::new("decide: a write to a key the rule did not read"))?;
            swap.new = Some(write.value);
            swap.expires_at = write.expires_at;
        }
        if ledger.compare_and_set_all(&swaps, now).await? {
            return Ok(ruling.answer);
        }
        lost += 1;
        if lost == 8 {
            return Err(PortError::new("decide: the records are under contention"));
        }
        known.clear();
    }
}

/// One compare-and-set of [`Ledger::compare_and_set_all`]: if `key` holds `expected` (`None`:
/// absent or expired), it is set to `new` until `expires_at`; `new: None` only checks. A `new`
/// that expires at once (`expires_at <= now`) removes the record.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Swap {
    pub key: String,
    pub expected: Option<String>,
    pub new: Option<String>,
    pub expires_at: Option<UnixTime>,
}

/// The most records one ledger step writes ([`Ledger::compare_and_set_all`],
/// [`Ledger::decide`]): the Worker's Durable Object writes them in one SQL statement, 3 of its
/// 100 bound parameters each.
pub const MAX_WRITES_PER_STEP: usize = 33;

/// A stable hash (FNV-1a, 32 bits) for spreading keys: it must never change between
/// deployments, or records would be looked for where they are not.
pub fn stable_hash(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

/// A ledger key's group: the text before its first `#`, or the whole key.
pub fn group_of(key: &str) -> &str {
    key.split('#').next().unwrap_or(key)
}

/// Whether all `keys` are of one group.
pub fn same_group(keys: &[String]) -> bool {
    keys.first().is_none_or(|first| keys.iter().all(|k| group_of(k) == group_of(first)))
}

/// What [`Ledger::at_deadline`] does, and when. `Debug` shows the key and the time only (the
/// texts and the notification carry bearer tokens).
#[derive(Clone, PartialEq, Eq)]
pub struct Deadline {
    pub key: String,
    pub expected: String,
    pub replacement: String,
    pub at: UnixTime,
    pub keep_until: UnixTime,
    pub notification: Request,
}

impl fmt::Debug for Deadline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deadline")
            .field("key", &self.key)
            .field("at", &self.at)
            .finish_non_exhaustive()
    }
}

/// Signing, verification, key-wrapping and password hashing. The pure-Rust implementation
/// (`rust_crypto`, RustCrypto crates) is the reference; the Worker and the browser use WebCrypto.
/// Both pass the same vectors and verify each other's signatures. SHA-256 is computed in the core
/// directly (`sha2`): it is cheap, synchronous and identical everywhere.
pub trait Crypto {
    /// Generates a private signing key for `alg` as a JWK (private members included). `seed`
    /// comes from the core's [`Rng`]; hosts with their own CSPRNG (WebCrypto) may ignore it.
    async fn generate_signing_key(&self, alg: Algorithm, seed: [u8; 32]) -> Result<Jwk, PortError>;

    /// Signs `input` with a private JWK. ES256 signatures are the 64-byte `r‖s` of RFC 7518 §3.4.
    async fn sign(&self, key: &Jwk, alg: Algorithm, input: &[u8]) -> Result<Vec<u8>, PortError>;

    /// Verifies a signature with a public JWK. Malformed keys or signatures give `Ok(false)`.
    async fn verify(
        &self,
        key: &Jwk,
        alg: Algorithm,
        input: &[u8],
        signature: &[u8],
    ) -> Result<bool, PortError>;

    /// AES-256-GCM encryption; returns ciphertext ‖ 16-byte tag.
    async fn aes_gcm_seal(
        &self,
        key: &SecretBytes,
        nonce: &[u8; 12],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, PortError>;

    /// AES-256-GCM decryption; `Ok(None)` when the tag does not verify.
    async fn aes_gcm_open(
        &self,
        key: &SecretBytes,
        nonce: &[u8; 12],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Option<SecretBytes>, PortError>;

    /// PBKDF2-HMAC-SHA256 (RFC 8018 §5.2) with a 32-byte output.
    async fn pbkdf2_sha256(
        &self,
        password: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> Result<[u8; 32], PortError>;
}

/// Outbound HTTP: a client's `jwks_uri` or `request_uri`, CIBA notifications.
pub trait HttpClient {
    async fn fetch(&self, request: Request) -> Result<Response, PortError>;
}

/// Everything a host provides. One value per request (the Worker) or per test.
pub trait Host {
    type Store: Store;
    type Ledger: Ledger;
    type Crypto: Crypto;
    type Http: HttpClient;
    type Clock: Clock;
    type Rng: Rng;

    fn store(&self) -> &Self::Store;
    fn ledger(&self) -> &Self::Ledger;
    fn crypto(&self) -> &Self::Crypto;
    fn http(&self) -> &Self::Http;
    fn clock(&self) -> &Self::Clock;
    fn rng(&self) -> &Self::Rng;

    /// A line for the operator's log (never secrets: callers pass only codes and ids).
    fn log(&self, _line: &str) {}
}

/// Draws `N` random bytes from the host's RNG.
pub fn random_bytes<const N: usize>(rng: &impl Rng) -> [u8; N] {
    let mut bytes = [0u8; N];
    rng.fill(&mut bytes);
    bytes
}
