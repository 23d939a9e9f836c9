//! In-memory implementations of the ports, for tests of the core's logic (and for hosts that
//! want a throwaway instance). They are exact: the ledger is a single-threaded map, so its
//! consume-once and compare-and-set are trivially atomic.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use sha2::{Digest, Sha256};

use crate::http::{Request, Response};
use crate::ports::{
    Clock, Crypto, Deadline, Host, HttpClient, Ledger, PortError, Rng, Store, UnixTime,
};

/// A clock that moves only when told to. Sleeping returns at once and is only counted.
#[derive(Clone, Debug)]
pub struct FixedClock(Rc<Cell<UnixTime>>, Rc<Cell<u64>>);

impl FixedClock {
    pub fn at(now: UnixTime) -> Self {
        Self(Rc::new(Cell::new(now)), Rc::new(Cell::new(0)))
    }
    /// How many milliseconds callers asked to sleep, in all.
    pub fn slept_millis(&self) -> u64 {
        self.1.get()
    }
    pub fn advance(&self, seconds: i64) {
        self.0.set(self.0.get() + seconds);
    }
    pub fn set(&self, now: UnixTime) {
        self.0.set(now);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> UnixTime {
        self.0.get()
    }
    async fn sleep(&self, millis: u64) {
        self.1.set(self.1.get() + millis);
    }
}

/// A deterministic RNG for tests: SHA-256 of a seed and a counter. Not for production use.
#[derive(Debug)]
pub struct SeededRng {
    seed: [u8; 32],
    counter: Cell<u64>,
}

impl SeededRng {
    pub fn new(seed: u64) -> Self {
        Self { seed: Sha256::digest(seed.to_be_bytes()).into(), counter: Cell::new(0) }
    }
}

impl Rng for SeededRng {
    fn fill(&self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(32) {
            let n = self.counter.get();
            self.counter.set(n + 1);
            let block =
                Sha256::new().chain_update(self.seed).chain_update(n.to_be_bytes()).finalize();
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
    }
}

/// A stored value and when it expires.
type Entry = (Vec<u8>, Option<UnixTime>);

/// A KV-shaped store in memory, with TTLs measured on a shared clock.
#[derive(Debug)]
pub struct MemoryStore {
    clock: FixedClock,
    entries: RefCell<HashMap<String, Entry>>,
    lagging: Cell<bool>,
}

impl MemoryStore {
    pub fn new(clock: FixedClock) -> Self {
        Self { clock, entries: RefCell::default(), lagging: Cell::new(false) }
    }

    /// Simulates Workers KV seen from another location before a write has propagated (up to
    /// ~60 s): while on, writes and deletes are accepted but never become visible. Tests use it
    /// to show which decisions do not depend on KV.
    pub fn set_lagging(&self, on: bool) {
        self.lagging.set(on);
    }
    /// Every live key, sorted (for tests).
    pub fn keys(&self) -> Vec<String> {
        let now = self.clock.now();
        let mut keys: Vec<String> = self
            .entries
            .borrow()
            .iter()
            .filter(|(_, (_, exp))| exp.is_none_or(|e| e > now))
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort();
        keys
    }
}

impl Store for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError> {
        let now = self.clock.now();
        Ok(self
            .entries
            .borrow()
            .get(key)
            .filter(|(_, exp)| exp.is_none_or(|e| e > now))
            .map(|(v, _)| v.clone()))
    }
    async fn put(
        &self,
        key: &str,
        value: &[u8],
        ttl_seconds: Option<u64>,
    ) -> Result<(), PortError> {
        if self.lagging.get() {
            return Ok(());
        }
        let expires = ttl_seconds.map(|t| self.clock.now().saturating_add(t as i64));
        self.entries.borrow_mut().insert(key.to_string(), (value.to_vec(), expires));
        Ok(())
    }
    async fn delete(&self, key: &str) -> Result<(), PortError> {
        if self.lagging.get() {
            return Ok(());
        }
        self.entries.borrow_mut().remove(key);
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum LedgerValue {
    Used,
    Text(String),
    Count(u64),
}

/// The single-use ledger in memory.
#[derive(Debug, Default)]
pub struct MemoryLedger {
    entries: RefCell<HashMap<String, (LedgerValue, Option<UnixTime>)>>,
    race: RefCell<Option<(String, String)>>,
    deadlines: RefCell<Vec<Deadline>>,
    /// Calls made, as a host would count round trips to its ledger.
    round_trips: Cell<u64>,
    /// `fail_next_write`'s key text.
    failing: RefCell<Option<String>>,
    /// Decisions made the optimistic way (`ports::decide_optimistically`), not in one step.
    optimistic: Cell<bool>,
}

impl MemoryLedger {
    /// Injects a race for tests: before the next compare-and-set on a key starting with
    /// `prefix`, that key is set to `value`, as if another request had written it between this
    /// request's read and its compare-and-set.
    pub fn race_next_cas(&self, prefix: &str, value: &str) {
        *self.race.borrow_mut() = Some((prefix.to_string(), value.to_string()));
    }

    /// Makes decisions the way the `Ledger::decide` default does (reads, then a compare-and-set
    /// against them, again when raced: `race_next_cas` reaches it), for tests of that default.
    pub fn set_optimistic(&self, on: bool) {
        self.optimistic.set(on);
    }

    /// How many calls the ledger has answered (each one round trip, for a host such as the
    /// Worker's Durable Objects): what tests compare before and after a request.
    pub fn round_trips(&self) -> u64 {
        self.round_trips.get()
    }

    /// Injects a failure for tests: the next compare-and-set (or decision) writing a key
    /// containing `part` fails as an unreachable ledger would (a `PortError`), writing nothing.
    pub fn fail_next_write(&self, part: &str) {
        *self.failing.borrow_mut() = Some(part.to_string());
    }

    fn injected_failure(&self, key: &str) -> Result<(), PortError> {
        if self.failing.borrow_mut().take_if(|part| key.contains(part.as_str())).is_some() {
            return Err(PortError::new("injected ledger failure"));
        }
        Ok(())
    }

    /// The race [`MemoryLedger::race_next_cas`] set up, if it is for `key`.
    fn inject_race(&self, key: &str) {
        let race = self.race.borrow_mut().take_if(|(prefix, _)| key.starts_with(prefix.as_str()));
        if let Some((_, value)) = race {
            let expiry = self.entries.borrow().get(key).and_then(|(_, e)| *e);
            self.entries.borrow_mut().insert(key.to_string(), (LedgerValue::Text(value), expiry));
        }
    }

    fn trip(&self) {
        self.round_trips.set(self.round_trips.get() + 1);
    }

    /// Runs the deadlines due at `now` (as a host's timer would): each whose key still holds
    /// what it expected is replaced; returns their notifications, for `notify::deliver`.
    pub fn run_deadlines(&self, now: UnixTime) -> Vec<Request> {
        let (due, later): (Vec<Deadline>, Vec<Deadline>) =
            self.deadlines.take().into_iter().partition(|d| d.at <= now);
        *self.deadlines.borrow_mut() = later;
        let mut notifications = Vec::new();
        for d in due {
            if self.live(&d.key, now) == Some(LedgerValue::Text(d.expected.clone())) {
                self.entries.borrow_mut().insert(
                    d.key.clone(),
                    (LedgerValue::Text(d.replacement.clone()), Some(d.keep_until)),
                );
                notifications.push(d.notification);
            }
        }
        notifications
    }

    fn live(&self, key: &str, now: UnixTime) -> Option<LedgerValue> {
        self.entries
            .borrow()
            .get(key)
            .filter(|(_, exp)| exp.is_none_or(|e| e > now))
            .map(|(v, _)| v.clone())
    }
}

impl Ledger for MemoryLedger {
    async fn at_deadline(&self, deadline: Deadline) -> Result<(), PortError> {
        self.trip();
        self.deadlines.borrow_mut().push(deadline);
        Ok(())
    }

    async fn consume_once(
        &self,
        key: &str,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> Result<bool, PortError> {
        self.trip();
        if self.live(key, now).is_some() {
            return Ok(false);
        }
        self.entries.borrow_mut().insert(key.to_string(), (LedgerValue::Used, Some(expires_at)));
        Ok(true)
    }
    async fn get_many(
        &self,
        keys: &[String],
        now: UnixTime,
    ) -> Result<Vec<Option<String>>, PortError> {
        self.trip();
        if !crate::ports::same_group(keys) {
            return Err(PortError::new("get_many: keys of different groups"));
        }
        Ok(keys
            .iter()
            .map(|key| match self.live(key, now) {
                Some(LedgerValue::Text(t)) => Some(t),
                _ => None,
            })
            .collect())
    }
    async fn compare_and_set_all(
        &self,
        swaps: &[crate::ports::Swap],
        now: UnixTime,
    ) -> Result<bool, PortError> {
        self.trip();
        let keys: Vec<String> = swaps.iter().map(|s| s.key.clone()).collect();
        if !crate::ports::same_group(&keys) {
            return Err(PortError::new("compare_and_set_all: keys of different groups"));
        }
        for swap in swaps {
            self.inject_race(&swap.key);
        }
        let holds = swaps.iter().all(|swap| {
            let current = match self.live(&swap.key, now) {
                Some(LedgerValue::Text(t)) => Some(t),
                Some(_) => return false,
                None => None,
            };
            current == swap.expected
        });
        if holds {
            for swap in swaps {
                if let Some(new) = &swap.new {
                    self.entries.borrow_mut().insert(
                        swap.key.clone(),
                        (LedgerValue::Text(new.clone()), swap.expires_at),
                    );
                }
            }
        }
        Ok(holds)
    }
    async fn decide(
        &self,
        decision: &crate::decision::Decision,
        now: UnixTime,
    ) -> Result<String, PortError> {
        if self.optimistic.get() {
            return crate::ports::decide_optimistically(self, decision, now).await;
        }
        self.trip();
        // Through JSON, as the Worker sends it to its Durable Object.
        let text = serde_json::to_string(decision).map_err(|e| PortError::new(e.to_string()))?;
        let decision: crate::decision::Decision =
            serde_json::from_str(&text).map_err(|e| PortError::new(e.to_string()))?;
        let ruling = decision.rule(now, &mut |key| {
            Ok(match self.live(key, now) {
                Some(LedgerValue::Text(t)) => Some(t),
                _ => None,
            })
        })?;
        for write in &ruling.writes {
            self.injected_failure(&write.key)?;
        }
        for write in ruling.writes {
            self.entries
                .borrow_mut()
                .insert(write.key, (LedgerValue::Text(write.value), write.expires_at));
        }
        Ok(ruling.answer)
    }
    async fn get(&self, key: &str, now: UnixTime) -> Result<Option<String>, PortError> {
        self.trip();
        Ok(match self.live(key, now) {
            Some(LedgerValue::Text(t)) => Some(t),
            _ => None,
        })
    }
    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&str>,
        new: &str,
        now: UnixTime,
        expires_at: Option<UnixTime>,
    ) -> Result<bool, PortError> {
        self.trip();
        self.injected_failure(key)?;
        self.inject_race(key);
        let current = match self.live(key, now) {
            Some(LedgerValue::Text(t)) => Some(t),
            Some(_) => return Ok(false),
            None => None,
        };
        if current.as_deref() != expected {
            return Ok(false);
        }
        self.entries
            .borrow_mut()
            .insert(key.to_string(), (LedgerValue::Text(new.to_string()), expires_at));
        Ok(true)
    }
    async fn count(&self, key: &str, now: UnixTime) -> Result<u64, PortError> {
        self.trip();
        Ok(match self.live(key, now) {
            Some(LedgerValue::Count(n)) => n,
            _ => 0,
        })
    }
    async fn increment(
        &self,
        key: &str,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> Result<u64, PortError> {
        self.trip();
        let next = match self.live(key, now) {
            Some(LedgerValue::Count(n)) => n + 1,
            _ => 1,
        };
        let expiry = match self.entries.borrow().get(key) {
            Some((LedgerValue::Count(_), exp)) if next > 1 => *exp,
            _ => Some(expires_at),
        };
        self.entries.borrow_mut().insert(key.to_string(), (LedgerValue::Count(next), expiry));
        Ok(next)
    }
}

/// Outbound HTTP in memory: canned responses by URL; anything else fails like a closed port.
#[derive(Debug, Default)]
pub struct MemoryHttp {
    pub responses: RefCell<HashMap<String, Response>>,
    pub requests: RefCell<Vec<Request>>,
}

impl HttpClient for MemoryHttp {
    async fn fetch(&self, request: Request) -> Result<Response, PortError> {
        let url = request.url();
        self.requests.borrow_mut().push(request);
        self.responses
            .borrow()
            .get(&url)
            .cloned()
            .ok_or_else(|| PortError::new("connection refused"))
    }
}

/// A whole host in memory, with a fixed clock and a seeded RNG.
#[derive(Debug)]
pub struct MemoryHost<C> {
    pub clock: FixedClock,
    pub rng: SeededRng,
    pub store: MemoryStore,
    pub ledger: MemoryLedger,
    pub http: MemoryHttp,
    pub crypto: C,
    pub log: RefCell<Vec<String>>,
}

impl<C: Crypto> MemoryHost<C> {
    pub fn new(crypto: C, now: UnixTime, seed: u64) -> Self {
        let clock = FixedClock::at(now);
        Self {
            store: MemoryStore::new(clock.clone()),
            clock,
            rng: SeededRng::new(seed),
            ledger: MemoryLedger::default(),
            http: MemoryHttp::default(),
            crypto,
            log: RefCell::default(),
        }
    }
}

impl<C: Crypto> Host for MemoryHost<C> {
    type Store = MemoryStore;
    type Ledger = MemoryLedger;
    type Crypto = C;
    type Http = MemoryHttp;
    type Clock = FixedClock;
    type Rng = SeededRng;
    fn store(&self) -> &MemoryStore {
        &self.store
    }
    fn ledger(&self) -> &MemoryLedger {
        &self.ledger
    }
    fn crypto(&self) -> &C {
        &self.crypto
    }
    fn http(&self) -> &MemoryHttp {
        &self.http
    }
    fn clock(&self) -> &FixedClock {
        &self.clock
    }
    fn rng(&self) -> &SeededRng {
        &self.rng
    }
    fn log(&self, line: &str) {
        self.log.borrow_mut().push(line.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pollster::block_on;

    #[test]
    fn ledger_consumes_once_until_expiry() {
        let l = MemoryLedger::default();
        block_on(async {
            assert!(l.consume_once("code:a", 100, 160).await.unwrap());
            assert!(!l.consume_once("code:a", 120, 160).await.unwrap());
            assert!(l.consume_once("code:b", 120, 160).await.unwrap());
            // After expiry the record is gone (callers also check their own record's expiry).
            assert!(l.consume_once("code:a", 160, 220).await.unwrap());
        });
    }

    #[test]
    fn ledger_compare_and_set() {
        let l = MemoryLedger::default();
        block_on(async {
            assert!(l.compare_and_set("k", None, "1", 0, None).await.unwrap());
            assert!(!l.compare_and_set("k", None, "2", 0, None).await.unwrap());
            assert!(!l.compare_and_set("k", Some("0"), "2", 0, None).await.unwrap());
            assert!(l.compare_and_set("k", Some("1"), "2", 0, None).await.unwrap());
            assert_eq!(l.get("k", 0).await.unwrap().as_deref(), Some("2"));
        });
    }

    #[test]
    fn ledger_counts_in_windows() {
        let l = MemoryLedger::default();
        block_on(async {
            assert_eq!(l.increment("n", 0, 60).await.unwrap(), 1);
            assert_eq!(l.increment("n", 30, 90).await.unwrap(), 2);
            // The window is fixed by the first increment: it ends at 60, not 90.
            assert_eq!(l.increment("n", 60, 120).await.unwrap(), 1);
        });
    }

    #[test]
    fn store_expires_entries() {
        let clock = FixedClock::at(1000);
        let s = MemoryStore::new(clock.clone());
        block_on(async {
            s.put("a", b"1", Some(60)).await.unwrap();
            s.put("b", b"2", None).await.unwrap();
            clock.advance(59);
            assert_eq!(s.get("a").await.unwrap().as_deref(), Some(&b"1"[..]));
            clock.advance(1);
            assert_eq!(s.get("a").await.unwrap(), None);
            assert_eq!(s.get("b").await.unwrap().as_deref(), Some(&b"2"[..]));
        });
    }

    #[test]
    fn seeded_rng_is_deterministic_and_fills_any_length() {
        let (a, b) = (SeededRng::new(7), SeededRng::new(7));
        let mut x = [0u8; 45];
        let mut y = [0u8; 45];
        a.fill(&mut x);
        b.fill(&mut y);
        assert_eq!(x, y);
        assert_ne!(x[..32], x[32..].repeat(3)[..32]);
    }
}
