//! Records decided on the [`Ledger`]: created once, replaced by compare-and-set, ended once.
//!
//! Everything that must happen exactly once uses this one model: authorization codes (used
//! once), grants (rotated, then revoked), cookie sessions (refreshed, then ended), device codes
//! (polled, approved, then used or denied), CIBA requests (the same, or pushed), and next PAR
//! request URIs.
//! Read-decide-write with retries is [`update`]. (A bare "used once" mark — a client
//! assertion's or a DPoP proof's `jti` — needs no value: `Ledger::consume_once`.) A record is
//! `Live(T)` until
//! one caller ends it with a marker `E` (who used it, why it ended); of two concurrent callers
//! exactly one wins each step, because every step is one compare-and-set against the text the
//! caller read.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::ports::{Clock, Host, Ledger, UnixTime};

/// A record's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State<T, E> {
    Live(T),
    Ended(E),
}

/// A record as read: its key, the exact text read (what the next compare-and-set expects) and
/// its state.
#[derive(Clone, Debug)]
pub struct LedgerRecord<T, E> {
    key: String,
    text: String,
    pub state: State<T, E>,
}

fn to_text<T: Serialize>(value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|e| Error::Internal(format!("ledger record: {e}")))
}

/// The exact text a live record holds (what a deadline expects: `Ledger::at_deadline`).
pub fn live_text<T: Serialize, E: Serialize>(value: &T) -> Result<String, Error> {
    to_text(&State::<&T, &E>::Live(value))
}

/// The exact text an ended record holds.
pub fn ended_text<T: Serialize, E: Serialize>(marker: &E) -> Result<String, Error> {
    to_text(&State::<&T, &E>::Ended(marker))
}

/// Creates `key` live, if it does not exist yet. `false`: it exists (a collision, or a lost
/// creation race).
pub async fn create<H: Host, T: Serialize, E: Serialize>(
    host: &H,
    key: &str,
    value: &T,
    expires_at: UnixTime,
) -> Result<bool, Error> {
    let text = to_text(&State::<&T, &E>::Live(value))?;
    let now = host.clock().now();
    Ok(host.ledger().compare_and_set(key, None, &text, now, Some(expires_at)).await?)
}

/// Creates `key` already ended (a revocation that arrives before the record it revokes).
pub async fn create_ended<H: Host, T: Serialize, E: Serialize>(
    host: &H,
    key: &str,
    marker: &E,
    keep_until: UnixTime,
) -> Result<bool, Error> {
    let text = to_text(&State::<&T, &E>::Ended(marker))?;
    let now = host.clock().now();
    Ok(host.ledger().compare_and_set(key, None, &text, now, Some(keep_until)).await?)
}

/// Reads `key`; `None` when absent or expired.
pub async fn load<H: Host, T: DeserializeOwned, E: DeserializeOwned>(
    host: &H,
    key: &str,
) -> Result<Option<LedgerRecord<T, E>>, Error> {
    let now = host.clock().now();
    let Some(text) = host.ledger().get(key, now).await? else { return Ok(None) };
    parse(key, text).map(Some)
}

/// A record from text read by other means (`Ledger::get_many`).
pub fn parse<T: DeserializeOwned, E: DeserializeOwned>(
    key: &str,
    text: String,
) -> Result<LedgerRecord<T, E>, Error> {
    let state = serde_json::from_str::<State<T, E>>(&text)
        // Records written before this model were the bare live value.
        .or_else(|_| serde_json::from_str::<T>(&text).map(State::Live))
        .map_err(|e| Error::Unreadable(format!("ledger record {key}: {e}")))?;
    Ok(LedgerRecord { key: key.to_string(), text, state })
}

impl<T: Serialize, E: Serialize> LedgerRecord<T, E> {
    /// The record's ledger key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The exact text read.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The live value, if the record has not ended.
    pub fn live(&self) -> Option<&T> {
        match &self.state {
            State::Live(value) => Some(value),
            State::Ended(_) => None,
        }
    }

    /// Replaces the value read with `next` (compare-and-set). `false`: someone changed or ended
    /// the record since it was read.
    pub async fn replace<H: Host>(
        &self,
        host: &H,
        next: &T,
        expires_at: UnixTime,
    ) -> Result<bool, Error> {
        let text = to_text(&State::<&T, &E>::Live(next))?;
        let now = host.clock().now();
        Ok(host
            .ledger()
            .compare_and_set(&self.key, Some(&self.text), &text, now, Some(expires_at))
            .await?)
    }

    /// Ends the record with `marker`, kept until `keep_until` (to recognize late replays).
    /// `true` for exactly one caller.
    pub async fn end<H: Host>(
        &self,
        host: &H,
        marker: &E,
        keep_until: UnixTime,
    ) -> Result<bool, Error> {
        let text = to_text(&State::<&T, &E>::Ended(marker))?;
        let now = host.clock().now();
        Ok(host
            .ledger()
            .compare_and_set(&self.key, Some(&self.text), &text, now, Some(keep_until))
            .await?)
    }
}

/// What [`update`] writes, decided on the state it read.
#[derive(Debug)]
pub enum Step<T, E> {
    /// Nothing (the decision is already made, or there is nothing to do).
    Keep,
    /// The live value, until `expires_at` (created if absent).
    Replace(T, UnixTime),
    /// Ended with this marker, kept until `keep_until` (created already ended if absent: a
    /// decision that arrives before the record it decides).
    End(E, UnixTime),
}

/// Reads `key` and writes what `decide` says by compare-and-set; when another writer changed the
/// record first, decides again on what is there now (a few times, then an internal error).
/// `decide` sees `None` for an absent (or unreadable) record, and returns the step and a value
/// for the caller.
pub async fn update<H, T, E, R>(
    host: &H,
    key: &str,
    mut decide: impl FnMut(Option<&State<T, E>>) -> (Step<T, E>, R),
) -> Result<R, Error>
where
    H: Host,
    T: Serialize + DeserializeOwned,
    E: Serialize + DeserializeOwned,
{
    for _ in 0..8 {
        let entry: Option<LedgerRecord<T, E>> =
            crate::error::absent_if_unreadable(load(host, key).await)?;
        let (step, result) = decide(entry.as_ref().map(|e| &e.state));
        let written = match (step, &entry) {
            (Step::Keep, _) => true,
            (Step::Replace(value, expires_at), Some(e)) => {
                e.replace(host, &value, expires_at).await?
            }
            (Step::Replace(value, expires_at), None) => {
                create::<_, T, E>(host, key, &value, expires_at).await?
            }
            (Step::End(marker, keep), Some(e)) => e.end(host, &marker, keep).await?,
            (Step::End(marker, keep), None) => {
                create_ended::<_, T, E>(host, key, &marker, keep).await?
            }
        };
        if written {
            return Ok(result);
        }
    }
    Err(Error::Internal(format!("ledger record {key} is under contention")))
}

#[cfg(all(test, feature = "rust-crypto"))]
mod tests {
    use super::*;
    use crate::memory::MemoryHost;
    use crate::rust_crypto::RustCrypto;
    use pollster::block_on;

    type Rec = LedgerRecord<u32, String>;

    #[test]
    fn created_once_replaced_by_cas_ended_once() {
        let host = MemoryHost::new(RustCrypto, 1_000, 1);
        block_on(async {
            assert!(create::<_, u32, String>(&host, "t:a", &1, 2_000).await.unwrap());
            assert!(!create::<_, u32, String>(&host, "t:a", &9, 2_000).await.unwrap());
            let first: Rec = load(&host, "t:a").await.unwrap().unwrap();
            let second: Rec = load(&host, "t:a").await.unwrap().unwrap();
            assert_eq!(first.live(), Some(&1));
            assert!(first.replace(&host, &2, 2_000).await.unwrap());
            // The second reader's text is stale: it can neither replace nor end.
            assert!(!second.replace(&host, &3, 2_000).await.unwrap());
            assert!(!second.end(&host, &"late".to_string(), 2_000).await.unwrap());
            let current: Rec = load(&host, "t:a").await.unwrap().unwrap();
            assert!(current.end(&host, &"used".to_string(), 3_000).await.unwrap());
            assert!(!current.end(&host, &"again".to_string(), 3_000).await.unwrap());
            let ended: Rec = load(&host, "t:a").await.unwrap().unwrap();
            assert_eq!(ended.state, State::Ended("used".to_string()));
            assert!(ended.live().is_none());
            // A bare value written before this model still reads as live.
            host.ledger.compare_and_set("t:b", None, "7", 1_000, None).await.unwrap();
            let legacy: Rec = load(&host, "t:b").await.unwrap().unwrap();
            assert_eq!(legacy.live(), Some(&7));
            assert!(load::<_, u32, String>(&host, "t:none").await.unwrap().is_none());
        });
    }

    #[test]
    fn update_decides_again_after_losing_a_race() {
        let host = MemoryHost::new(RustCrypto, 1_000, 1);
        block_on(async {
            assert!(create::<_, u32, String>(&host, "t:u", &1, 2_000).await.unwrap());
            // Another writer lands between this update's read and its write.
            host.ledger.race_next_cas("t:u", r#"{"live":5}"#);
            let mut seen = Vec::new();
            let out = update::<_, u32, String, u32>(&host, "t:u", |state| match state {
                Some(State::Live(n)) => {
                    seen.push(*n);
                    (Step::Replace(n + 1, 2_000), n + 1)
                }
                _ => (Step::Keep, 0),
            })
            .await
            .unwrap();
            assert_eq!(seen, vec![1, 5], "decided again on what was there");
            assert_eq!(out, 6);
            // Ending an absent record creates it ended.
            update::<_, u32, String, ()>(&host, "t:v", |_| (Step::End("gone".into(), 3_000), ()))
                .await
                .unwrap();
            let ended: Rec = load(&host, "t:v").await.unwrap().unwrap();
            assert_eq!(ended.state, State::Ended("gone".to_string()));
        });
    }
}
