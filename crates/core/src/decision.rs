//! Decisions the ledger makes where the records are (`Ledger::decide`): one round trip for a
//! decision whose writes depend on what it reads. The rule is the core's and pure (no clock, no
//! randomness, no I/O: the caller puts fresh secrets and the request's facts into the
//! decision, and the host passes `now`); the host runs it between its reads and its writes.
//!
//! To add a decision:
//! - a type holding what the rule needs from the request (serialized to the host, which may
//!   run another version during a deploy: give new fields `#[serde(default)]`), implementing
//!   [`Rule`] in the module it decides for (`grant::authorization_code::UseCode`,
//!   `grant::refresh_token::Rotation`);
//! - a variant of [`Decision`] and its rows in [`Decision::anchor`] and [`Decision::rule`];
//! - the caller sends it with [`ask`] (a token request's grant: `grant::TokenRequest::decide`,
//!   which answers its `grant::ClientCheck` with the [`Answer`]), and undoes it ([`undo`], with
//!   the swaps the rule gave: `grant::Made`) if what follows fails.
//!
//! What a rule may do: read and write keys of its anchor's group only (a host keeps a group on
//! one object; others are refused), text records only (not consume-once marks or counters),
//! at most `ports::MAX_WRITES_PER_STEP` writes (the Worker writes them in one SQL statement),
//! and write only keys it read. An error that is not an OAuth refusal is the host's failure
//! (a 500).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorCode};
use crate::grant::{authorization_code::UseCode, refresh_token::Rotation, GrantGroup};
use crate::ports::{group_of, Clock, Host, Ledger, PortError, Swap, UnixTime, MAX_WRITES_PER_STEP};

/// A decision for the ledger to make (serialized to the host that runs it).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// An authorization code's use and its grant's start (RFC 6749 §4.1.3).
    UseCode(UseCode),
    /// A refresh token's rotation (RFC 6749 §6, RFC 9700 §4.14.2).
    Rotation(Rotation),
}

/// A decision's rule, for a token request's client: it reads the client's deletion marker in
/// its group first (a deleted client is refused, nothing written), then judges.
pub trait Rule {
    /// What the caller gets on success.
    type Output: Serialize + DeserializeOwned;

    /// A key of the decision's group: the host runs the decision where that group lives.
    fn anchor(&self) -> String;

    /// The token request's client.
    fn client_id(&self) -> &str;

    /// The writes and the outcome, on the records `read` gives.
    fn judge(
        &self,
        now: UnixTime,
        read: &mut Read<'_>,
    ) -> Result<Judgment<Self::Output>, PortError>;
}

/// A rule's judgment: the writes (made whatever the outcome: a replay's revocation goes with
/// its refusal), the outcome (an OAuth error refuses), and a line for the operator's log.
#[derive(Debug)]
pub struct Judgment<T> {
    pub writes: Vec<Write>,
    pub outcome: Result<T, Error>,
    pub note: Option<String>,
}

impl<T> Judgment<T> {
    /// Refused, nothing written.
    pub fn refuse(error: Error) -> Self {
        Self { writes: Vec::new(), outcome: Err(error), note: None }
    }

    /// Refused, with writes (a revocation) and why, for the log.
    pub fn refuse_writing(writes: Vec<Write>, error: Error, note: String) -> Self {
        Self { writes, outcome: Err(error), note: Some(note) }
    }

    /// Decided.
    pub fn grant(writes: Vec<Write>, output: T) -> Self {
        Self { writes, outcome: Ok(output), note: None }
    }
}

/// What a rule decided: the records to write (all or none) and the answer for the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ruling {
    pub writes: Vec<Write>,
    pub answer: String,
}

/// One record a rule writes: `value` until `expires_at`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    pub key: String,
    pub value: String,
    pub expires_at: Option<UnixTime>,
}

impl Write {
    /// Writes `value` over `read` (the text read, `None`: absent), and the swap that puts it
    /// back as it was (`read_expires_at`: when the record read expires) if nobody changed it
    /// since.
    pub fn over(
        key: &str,
        read: Option<&str>,
        read_expires_at: UnixTime,
        value: String,
        expires_at: UnixTime,
    ) -> (Self, Swap) {
        let undo = Swap {
            key: key.to_string(),
            expected: Some(value.clone()),
            // An absent record comes back absent: a write that has always expired (not at
            // `now`: another isolate's clock may be a second behind).
            new: Some(read.map_or_else(|| value.clone(), str::to_string)),
            expires_at: Some(if read.is_some() { read_expires_at } else { 0 }),
        };
        (Self { key: key.to_string(), value, expires_at: Some(expires_at) }, undo)
    }
}

/// A rule's reader: a key's current text (`None`: absent or expired).
pub type Read<'a> = dyn FnMut(&str) -> Result<Option<String>, PortError> + 'a;

impl Decision {
    /// A key of the decision's group (see [`Rule::anchor`]).
    pub fn anchor(&self) -> String {
        match self {
            Self::UseCode(rule) => rule.anchor(),
            Self::Rotation(rule) => rule.anchor(),
        }
    }

    /// Runs the rule on the records `read` gives. Keys outside the decision's group are
    /// refused (a host keeps a group on one object, and reads nowhere else in the step).
    pub fn rule(&self, now: UnixTime, read: &mut Read<'_>) -> Result<Ruling, PortError> {
        let anchor = self.anchor();
        let group = group_of(&anchor).to_string();
        let mut keys_read: Vec<String> = Vec::new();
        let mut guarded = |key: &str| {
            if group_of(key) != group {
                return Err(PortError::new("decide: a key outside the decision's group"));
            }
            keys_read.push(key.to_string());
            read(key)
        };
        let ruling = match self {
            Self::UseCode(rule) => for_client(rule, &anchor, now, &mut guarded),
            Self::Rotation(rule) => for_client(rule, &anchor, now, &mut guarded),
        }?;
        // The contract every host relies on: writes to keys read (so the optimistic default can
        // check them), each once (the Worker writes them in one statement), few enough.
        let mut written: Vec<&str> = Vec::new();
        for write in &ruling.writes {
            if !keys_read.contains(&write.key) || written.contains(&write.key.as_str()) {
                return Err(PortError::new("decide: a write to a key not read, or twice"));
            }
            written.push(&write.key);
        }
        if ruling.writes.len() > MAX_WRITES_PER_STEP {
            return Err(PortError::new("decide: more writes than one step can make"));
        }
        Ok(ruling)
    }
}

/// Reads the client's deletion (every grant group holds it: `grant::revoke_client`), then the
/// rule's judgment unless the client was deleted.
fn for_client<R: Rule>(
    rule: &R,
    anchor: &str,
    now: UnixTime,
    read: &mut Read<'_>,
) -> Result<Ruling, PortError> {
    let deleted = GrantGroup::of_key(anchor)
        .map(|group| group.deleted_client(rule.client_id()))
        .ok_or_else(|| PortError::new("decide: the anchor is not in a grant group"))?;
    let client_deleted = read(&deleted)?.is_some();
    let judgment = if client_deleted {
        // `grant::ClientCheck::settle` answers `invalid_client` whatever this says.
        Judgment::refuse(Error::oauth(ErrorCode::InvalidClient, "the client was deleted"))
    } else {
        rule.judge(now, read)?
    };
    let outcome = match judgment.outcome {
        Ok(output) => Ok(output),
        Err(error) => Err(Refusal::of(error)?),
    };
    let answer = Answer { client_deleted, outcome, note: judgment.note };
    let answer = serde_json::to_string(&answer).map_err(|e| PortError::new(e.to_string()))?;
    Ok(Ruling { writes: judgment.writes, answer })
}

/// A refusal that crosses from the ledger's host back to the request (an OAuth error).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub error: ErrorCode,
    pub description: String,
}

impl From<Refusal> for Error {
    fn from(r: Refusal) -> Self {
        Error::oauth(r.error, r.description)
    }
}

impl Refusal {
    /// The refusal an OAuth error stands for; other errors are the host's failure.
    pub fn of(error: Error) -> Result<Self, PortError> {
        match error {
            Error::OAuth { code, description } => Ok(Self { error: code, description }),
            other => Err(PortError::new(format!("decide: {other:?}"))),
        }
    }
}

/// A rule's answer: whether the token request's client was deleted (`grant::ClientCheck`),
/// the outcome, and a line for the operator's log ([`ask`] logs it).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Answer<T> {
    pub client_deleted: bool,
    pub outcome: Result<T, Refusal>,
    #[serde(default)]
    pub note: Option<String>,
}

/// Sends a rule to the ledger (`wrap` makes its [`Decision`]) and reads its answer.
pub async fn ask<H: Host, R: Rule>(
    host: &H,
    rule: R,
    wrap: impl FnOnce(R) -> Decision,
) -> Result<Answer<R::Output>, Error> {
    let decision = wrap(rule);
    let text = host.ledger().decide(&decision, host.clock().now()).await?;
    let answer: Answer<R::Output> = serde_json::from_str(&text)
        .map_err(|e| Error::Internal(format!("decision answer: {e}")))?;
    if let Some(note) = &answer.note {
        host.log(note);
    }
    Ok(answer)
}

/// Undoes a decision whose response failed after all (its writes, each put back as it was
/// if nobody changed it since): best effort, one round trip. A failure is logged; what it
/// leaves is a code or refresh token spent without a response, never one spent twice.
pub async fn undo<H: Host>(host: &H, swaps: &[Swap]) {
    if swaps.is_empty() {
        return;
    }
    // Tried twice: a refresh token left rotated makes the client's retry a reuse.
    for _ in 0..2 {
        match host.ledger().compare_and_set_all(swaps, host.clock().now()).await {
            Ok(true) => return,
            Ok(false) => return host.log("undo: the records changed meanwhile; left as they are"),
            Err(e) => host.log(&format!("undo failed: {e}")),
        }
    }
}
