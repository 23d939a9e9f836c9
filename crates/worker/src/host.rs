//! The core's ports on Cloudflare's bindings.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use gatehouse_core::http;
use gatehouse_core::ports::{
    Clock, Deadline, Host, HttpClient, Ledger, PortError, Rng, Store, Swap, UnixTime,
};
use gatehouse_webcrypto::WebCrypto;
use serde_json::{json, Value};
use worker::kv::KvStore;
use worker::{
    console_error, console_log, Env, Fetch, Headers, Method, ObjectNamespace, Request, RequestInit,
};

/// The KV namespace binding (wrangler.toml `[[kv_namespaces]]`).
pub const KV_BINDING: &str = "GATEHOUSE_KV";
/// The ledger Durable Object binding (wrangler.toml `[[durable_objects.bindings]]`).
pub const LEDGER_BINDING: &str = "GATEHOUSE_LEDGER";

/// Workers KV refuses TTLs under 60 s; shorter-lived records simply live a little longer there
/// (their own expiry is also checked by the core wherever it matters).
const KV_MIN_TTL_SECONDS: u64 = 60;

fn port(context: &str, e: impl std::fmt::Display) -> PortError {
    PortError::new(format!("{context}: {e}"))
}

pub struct KvPort {
    kv: KvStore,
    /// KV reads that reached KV (not answered from the isolate's copy), for `DEBUG_COUNTS`.
    reads: Cell<u32>,
}

/// At most this many copies per isolate (`Store::get_cached`).
const ISOLATE_CACHE_ENTRIES: usize = 4096;
/// The longest any caller keeps a copy (the key set's 30 s), in ms.
const ISOLATE_CACHE_LONGEST_MS: f64 = 60_000.0;

thread_local! {
    /// Per-isolate copies for `Store::get_cached`: key → (value, when it was read, in ms).
    static ISOLATE_CACHE: RefCell<HashMap<String, (Vec<u8>, f64)>> = RefCell::new(HashMap::new());
}

impl Store for KvPort {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError> {
        self.reads.set(self.reads.get() + 1);
        self.kv.get(key).bytes().await.map_err(|e| port("KV get", e))
    }
    async fn get_cached(
        &self,
        key: &str,
        max_age_seconds: u64,
    ) -> Result<Option<Vec<u8>>, PortError> {
        let now = js_sys::Date::now();
        let max_age_ms = max_age_seconds as f64 * 1000.0;
        let fresh = ISOLATE_CACHE.with(|c| {
            c.borrow().get(key).filter(|(_, at)| now - at < max_age_ms).map(|(v, _)| v.clone())
        });
        if fresh.is_some() {
            return Ok(fresh);
        }
        let value = self.get(key).await?;
        // Only values are kept: an absent key is read again next time.
        if let Some(v) = &value {
            ISOLATE_CACHE.with(|c| {
                let mut cache = c.borrow_mut();
                // Bounded: one entry per user, client and API read lately. When full, copies
                // older than any caller keeps them go, and if that is not enough, all of them.
                if cache.len() >= ISOLATE_CACHE_ENTRIES {
                    cache.retain(|_, (_, at)| now - *at < ISOLATE_CACHE_LONGEST_MS);
                    if cache.len() >= ISOLATE_CACHE_ENTRIES {
                        cache.clear();
                    }
                }
                cache.insert(key.to_string(), (v.clone(), now));
            });
        }
        Ok(value)
    }
    async fn put(
        &self,
        key: &str,
        value: &[u8],
        ttl_seconds: Option<u64>,
    ) -> Result<(), PortError> {
        // This isolate's own reads see its writes at once.
        ISOLATE_CACHE.with(|c| c.borrow_mut().remove(key));
        let mut put = self.kv.put_bytes(key, value).map_err(|e| port("KV put", e))?;
        if let Some(ttl) = ttl_seconds {
            put = put.expiration_ttl(ttl.max(KV_MIN_TTL_SECONDS));
        }
        put.execute().await.map_err(|e| port("KV put", e))
    }
    async fn delete(&self, key: &str) -> Result<(), PortError> {
        ISOLATE_CACHE.with(|c| c.borrow_mut().remove(key));
        self.kv.delete(key).await.map_err(|e| port("KV delete", e))
    }
}

/// The ledger, over many single-threaded Durable Objects: a key of a group (`ports::group_of`:
/// the text before its first `#`) on the group's object, which is what `get_many`,
/// `compare_and_set_all` and `decide` need; any other key sharded by key family (the text before the first
/// `:`) and a hash of the key. Every operation on one key reaches the same object, which is all
/// exactly-once needs.
pub struct DurableLedger {
    namespace: ObjectNamespace,
    /// Round trips to the ledger, for `DEBUG_COUNTS`.
    calls: Cell<u32>,
}

/// Objects per key family.
const LEDGER_SHARDS: u32 = 32;

/// A key's shard (the hash must never change between deployments).
fn shard_of(key: &str) -> u32 {
    gatehouse_core::ports::stable_hash(key) % LEDGER_SHARDS
}

/// The Durable Object a key lives on: a key with a group (`grant:7#…`) on the group's own
/// object (the core spreads its groups itself: `grant::GrantGroup`), any other on one of its
/// family's shards.
fn object_of(key: &str) -> String {
    let group = gatehouse_core::ports::group_of(key);
    if group.len() < key.len() {
        return group.to_string();
    }
    let family = key.split(':').next().unwrap_or("default");
    format!("{family}-{}", shard_of(key))
}

impl DurableLedger {
    async fn call(&self, key: &str, command: Value) -> Result<Value, PortError> {
        self.calls.set(self.calls.get() + 1);
        let stub =
            self.namespace.get_by_name(&object_of(key)).map_err(|e| port("ledger stub", e))?;
        let headers = Headers::new();
        headers.set("content-type", "application/json").map_err(|e| port("ledger", e))?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_body(Some(command.to_string().into()));
        let request = Request::new_with_init("https://ledger.internal/", &init)
            .map_err(|e| port("ledger", e))?;
        let mut response =
            stub.fetch_with_request(request).await.map_err(|e| port("ledger fetch", e))?;
        let body: Value = response.json().await.map_err(|e| port("ledger response", e))?;
        if response.status_code() != 200 {
            return Err(PortError::new(format!("ledger refused: {body}")));
        }
        Ok(body)
    }
}

impl Ledger for DurableLedger {
    async fn consume_once(
        &self,
        key: &str,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> Result<bool, PortError> {
        let r = self
            .call(key, json!({"op": "consume", "key": key, "now": now, "exp": expires_at}))
            .await?;
        Ok(r["ok"].as_bool().unwrap_or(false))
    }
    async fn get(&self, key: &str, now: UnixTime) -> Result<Option<String>, PortError> {
        let r = self.call(key, json!({"op": "get", "key": key, "now": now})).await?;
        Ok(r["value"].as_str().map(str::to_string))
    }
    async fn get_many(
        &self,
        keys: &[String],
        now: UnixTime,
    ) -> Result<Vec<Option<String>>, PortError> {
        let Some(first) = keys.first() else { return Ok(Vec::new()) };
        if !gatehouse_core::ports::same_group(keys) {
            return Err(PortError::new("get_many: keys of different groups"));
        }
        let r = self.call(first, json!({"op": "get_many", "keys": keys, "now": now})).await?;
        let values: Option<Vec<Option<String>>> = r["values"].as_array().and_then(|values| {
            values
                .iter()
                .map(|v| match v {
                    Value::Null => Some(None),
                    Value::String(s) => Some(Some(s.clone())),
                    _ => None,
                })
                .collect()
        });
        values
            .filter(|v| v.len() == keys.len())
            .ok_or_else(|| PortError::new("ledger values missing"))
    }
    async fn compare_and_set_all(&self, swaps: &[Swap], now: UnixTime) -> Result<bool, PortError> {
        let Some(first) = swaps.first() else { return Ok(true) };
        // The Durable Object writes them in one statement.
        if swaps.len() > gatehouse_core::ports::MAX_WRITES_PER_STEP {
            return Err(PortError::new("compare_and_set_all: more swaps than one step can make"));
        }
        let keys: Vec<String> = swaps.iter().map(|s| s.key.clone()).collect();
        if !gatehouse_core::ports::same_group(&keys) {
            return Err(PortError::new("compare_and_set_all: keys of different groups"));
        }
        let wire: Vec<Value> = swaps
            .iter()
            .map(|s| json!({"key": s.key, "expected": s.expected, "new": s.new, "exp": s.expires_at}))
            .collect();
        let r = self.call(&first.key, json!({"op": "cas_all", "swaps": wire, "now": now})).await?;
        Ok(r["ok"].as_bool().unwrap_or(false))
    }
    async fn decide(
        &self,
        decision: &gatehouse_core::decision::Decision,
        now: UnixTime,
    ) -> Result<String, PortError> {
        let anchor = decision.anchor();
        let r =
            self.call(&anchor, json!({"op": "decide", "decision": decision, "now": now})).await?;
        r["answer"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| PortError::new("ledger answer missing"))
    }
    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&str>,
        new: &str,
        now: UnixTime,
        expires_at: Option<UnixTime>,
    ) -> Result<bool, PortError> {
        let r = self
            .call(key, json!({"op": "cas", "key": key, "expected": expected, "new": new, "now": now, "exp": expires_at}))
            .await?;
        Ok(r["ok"].as_bool().unwrap_or(false))
    }
    async fn tally(
        &self,
        group: &str,
        increment: &[String],
        read: &[String],
        now: UnixTime,
        expires_at: UnixTime,
    ) -> Result<Vec<u64>, PortError> {
        let r = self
            .call(
                group,
                json!({"op": "tally", "inc": increment, "read": read, "now": now, "exp": expires_at}),
            )
            .await?;
        let counts: Option<Vec<u64>> =
            r["n"].as_array().and_then(|n| n.iter().map(Value::as_u64).collect());
        counts
            .filter(|c| c.len() == increment.len() + read.len())
            .ok_or_else(|| PortError::new("ledger counts missing"))
    }
    async fn at_deadline(&self, d: Deadline) -> Result<(), PortError> {
        let request = crate::ledger::wire_request(&d.notification);
        self.call(
            &d.key,
            json!({"op": "deadline", "key": d.key, "expected": d.expected,
                   "replacement": d.replacement, "at": d.at, "exp": d.keep_until,
                   "request": request}),
        )
        .await?;
        Ok(())
    }
    async fn count(&self, key: &str, now: UnixTime) -> Result<u64, PortError> {
        let r = self.call(key, json!({"op": "count", "key": key, "now": now})).await?;
        r["n"].as_u64().ok_or_else(|| PortError::new("ledger counter missing"))
    }
    async fn increment(
        &self,
        key: &str,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> Result<u64, PortError> {
        let r = self
            .call(key, json!({"op": "incr", "key": key, "now": now, "exp": expires_at}))
            .await?;
        r["n"].as_u64().ok_or_else(|| PortError::new("ledger counter missing"))
    }
}

pub struct WorkerClock;

impl Clock for WorkerClock {
    fn now(&self) -> UnixTime {
        (js_sys::Date::now() / 1000.0) as UnixTime
    }

    async fn sleep(&self, millis: u64) {
        worker::Delay::from(std::time::Duration::from_millis(millis)).await;
    }
}

/// `crypto.getRandomValues` through getrandom.
pub struct WorkerRng;

impl Rng for WorkerRng {
    fn fill(&self, dest: &mut [u8]) {
        if let Err(e) = getrandom::fill(dest) {
            // Without randomness nothing secure can be made: fail loudly rather than emit zeros.
            console_error!("getrandom failed: {e}");
            panic!("no randomness available");
        }
    }
}

/// The largest outbound response read (a client's JWKS is far smaller).
const MAX_FETCH_BYTES: usize = 256 * 1024;

/// Outbound `fetch`.
pub struct WorkerHttp;

impl HttpClient for WorkerHttp {
    async fn fetch(&self, request: http::Request) -> Result<http::Response, PortError> {
        let headers = Headers::new();
        for (name, value) in &request.headers {
            headers.append(name, value).map_err(|e| port("fetch", e))?;
        }
        let method = Method::from(request.method.clone());
        let mut init = RequestInit::new();
        // Fetched URLs are registered ones: a redirect elsewhere is not followed.
        init.with_method(method)
            .with_headers(headers)
            .with_redirect(worker::RequestRedirect::Manual);
        if !request.body.is_empty() {
            init.with_body(Some(js_sys::Uint8Array::from(request.body.as_slice()).into()));
        }
        let outbound =
            Request::new_with_init(&request.url(), &init).map_err(|e| port("fetch", e))?;
        let mut response = Fetch::Request(outbound).send().await.map_err(|e| port("fetch", e))?;
        let declared = response
            .headers()
            .get("content-length")
            .ok()
            .flatten()
            .and_then(|l| l.parse::<usize>().ok());
        if declared.is_some_and(|len| len > MAX_FETCH_BYTES) {
            return Err(PortError::new("response too large"));
        }
        let mut out = http::Response::new(response.status_code());
        for (name, value) in response.headers().entries() {
            out.headers.push((name, value));
        }
        out.body = response.bytes().await.map_err(|e| port("fetch body", e))?;
        if out.body.len() > MAX_FETCH_BYTES {
            return Err(PortError::new("response too large"));
        }
        Ok(out)
    }
}

pub struct WorkerHost {
    store: KvPort,
    ledger: DurableLedger,
    /// The isolate's signature count when this request began (`DEBUG_COUNTS`).
    signatures_before: u64,
}

impl WorkerHost {
    pub fn new(env: &Env) -> worker::Result<Self> {
        Ok(Self {
            store: KvPort { kv: env.kv(KV_BINDING)?, reads: Cell::new(0) },
            ledger: DurableLedger {
                namespace: env.durable_object(LEDGER_BINDING)?,
                calls: Cell::new(0),
            },
            signatures_before: gatehouse_webcrypto::signatures_made(),
        })
    }
}

impl WorkerHost {
    /// What this request cost: KV reads, ledger round trips, signatures (`DEBUG_COUNTS`).
    pub fn counts(&self) -> String {
        format!(
            "kv={} ledger={} sign={}",
            self.store.reads.get(),
            self.ledger.calls.get(),
            gatehouse_webcrypto::signatures_made() - self.signatures_before
        )
    }
}

impl Host for WorkerHost {
    type Store = KvPort;
    type Ledger = DurableLedger;
    type Crypto = WebCrypto;
    type Http = WorkerHttp;
    type Clock = WorkerClock;
    type Rng = WorkerRng;

    fn store(&self) -> &KvPort {
        &self.store
    }
    fn ledger(&self) -> &DurableLedger {
        &self.ledger
    }
    fn crypto(&self) -> &WebCrypto {
        &WebCrypto
    }
    fn http(&self) -> &WorkerHttp {
        &WorkerHttp
    }
    fn clock(&self) -> &WorkerClock {
        &WorkerClock
    }
    fn rng(&self) -> &WorkerRng {
        &WorkerRng
    }
    fn log(&self, line: &str) {
        console_log!("gatehouse: {line}");
    }
}
