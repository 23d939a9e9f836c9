//! The ledger Durable Object: consume-once, compare-and-set, decisions (the core's rules, run
//! between the reads and the writes: `gatehouse_core::decision`) and counters on SQLite storage.
//!
//! Each command is decided by synchronous SQL statements (one, except a tally's few) with no
//! `await` between reading and writing, so the object's single thread makes it exact: 50 concurrent consumes of one key
//! give one `true` (TOOLCHAIN.md). Rows carry their own expiry; an expired row counts as absent
//! and is replaced, and a few expired rows are purged on every call.
//!
//! Deadlines (`Ledger::at_deadline`) wait in their own table for the object's alarm, which
//! makes each one's compare-and-set in one statement too, then sends the notifications of those
//! that hit (retried as the core's `notify::deliver` does).

use gatehouse_core::http;
use gatehouse_core::ports::PortError;
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{
    console_error, durable_object, DurableObject, Env, Request, Response, Result, SqlStorage,
    SqlStorageValue, State, Storage,
};

#[durable_object]
#[allow(missing_debug_implementations)] // holds JS handles with nothing useful to print
pub struct LedgerObject {
    sql: SqlStorage,
    storage: Storage,
    env: Env,
}

/// A notification as the deadlines table keeps it.
pub fn wire_request(request: &http::Request) -> Value {
    json!({
        "method": request.method,
        "url": request.url(),
        "headers": request.headers,
        "body": String::from_utf8_lossy(&request.body),
    })
}

fn unwire_request(value: &Value) -> Option<http::Request> {
    let mut request = http::Request::from_url(value["method"].as_str()?, value["url"].as_str()?)?;
    for pair in value["headers"].as_array()? {
        request = request.with_header(pair[0].as_str()?, pair[1].as_str()?);
    }
    Some(request.with_body(value["body"].as_str()?.as_bytes().to_vec()))
}

#[derive(Deserialize)]
struct DueRow {
    id: f64,
    k: String,
    expected: String,
    replacement: String,
    keep: f64,
    req: String,
}

#[derive(Deserialize)]
struct NextAt {
    at: Option<f64>,
}

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Command {
    Consume {
        key: String,
        now: i64,
        exp: i64,
    },
    Get {
        key: String,
        now: i64,
    },
    /// Several records of one group (`Ledger::get_many`).
    GetMany {
        keys: Vec<String>,
        now: i64,
    },
    /// A decision made where its records are (`Ledger::decide`).
    Decide {
        decision: gatehouse_core::decision::Decision,
        now: i64,
    },
    /// Several compare-and-sets of one group, all or none (`Ledger::compare_and_set_all`).
    CasAll {
        swaps: Vec<WireSwap>,
        now: i64,
    },
    Cas {
        key: String,
        expected: Option<String>,
        new: String,
        now: i64,
        exp: Option<i64>,
    },
    Incr {
        key: String,
        now: i64,
        exp: i64,
    },
    Count {
        key: String,
        now: i64,
    },
    /// Several counters of one group, in one step (`Ledger::tally`).
    Tally {
        inc: Vec<String>,
        read: Vec<String>,
        now: i64,
        exp: i64,
    },
    Deadline {
        key: String,
        expected: String,
        replacement: String,
        at: i64,
        exp: i64,
        request: Value,
    },
}

#[derive(Deserialize)]
struct WireSwap {
    key: String,
    expected: Option<String>,
    new: Option<String>,
    exp: Option<i64>,
}

#[derive(Deserialize)]
struct Returned {
    v: Option<String>,
}

#[derive(Deserialize)]
struct Count {
    n: f64,
}

fn exp_value(exp: Option<i64>) -> SqlStorageValue {
    match exp {
        Some(e) => e.into(),
        None => SqlStorageValue::Null,
    }
}

impl LedgerObject {
    fn setup(&self) -> Result<()> {
        self.sql.exec(
            "CREATE TABLE IF NOT EXISTS ledger (k TEXT PRIMARY KEY, v TEXT, n INTEGER, exp INTEGER)",
            None,
        )?;
        self.sql.exec("CREATE INDEX IF NOT EXISTS ledger_exp ON ledger(exp)", None)?;
        self.sql.exec(
            "CREATE TABLE IF NOT EXISTS deadlines (id INTEGER PRIMARY KEY, k TEXT, expected TEXT, replacement TEXT, at INTEGER, keep INTEGER, req TEXT)",
            None,
        )?;
        Ok(())
    }

    /// The earliest deadline waiting, in seconds.
    fn next_deadline(&self) -> Result<Option<i64>> {
        let rows: Vec<NextAt> =
            self.sql.exec("SELECT MIN(at) AS at FROM deadlines", None)?.to_array()?;
        Ok(rows.first().and_then(|r| r.at).map(|at| at as i64))
    }

    /// Sets the object's alarm for its earliest deadline (sooner only).
    async fn arm(&self) -> Result<()> {
        let Some(at) = self.next_deadline()? else { return Ok(()) };
        let at_ms = at * 1000;
        let current = self.storage.get_alarm().await?;
        if current.is_none_or(|c| c > at_ms) {
            let offset = (at_ms - js_sys::Date::now() as i64).max(0) as u64;
            self.storage.set_alarm(std::time::Duration::from_millis(offset)).await?;
        }
        Ok(())
    }

    /// The deadlines due at `now`, each decided in one statement and removed; returns the
    /// notifications of those whose key still held what they expected.
    fn run_due(&self, now: i64) -> Result<Vec<http::Request>> {
        let due: Vec<DueRow> = self
            .sql
            .exec(
                "SELECT id, k, expected, replacement, keep, req FROM deadlines WHERE at <= ?",
                vec![now.into()],
            )?
            .to_array()?;
        let mut fire = Vec::new();
        for row in due {
            let hit: Vec<Value> = self
                .sql
                .exec(
                    "UPDATE ledger SET v = ?, exp = ? WHERE k = ? AND v = ? AND (exp IS NULL OR exp > ?) RETURNING 1 AS ok",
                    vec![
                        row.replacement.into(),
                        (row.keep as i64).into(),
                        row.k.into(),
                        row.expected.into(),
                        now.into(),
                    ],
                )?
                .to_array()?;
            self.sql.exec("DELETE FROM deadlines WHERE id = ?", vec![(row.id as i64).into()])?;
            let request = serde_json::from_str::<Value>(&row.req).ok();
            if let (false, Some(request)) =
                (hit.is_empty(), request.as_ref().and_then(unwire_request))
            {
                fire.push(request);
            }
        }
        Ok(fire)
    }

    /// Drops this key's row if it has expired, and purges a few other expired rows.
    fn expire(&self, key: &str, now: i64) -> Result<()> {
        self.sql.exec(
            "DELETE FROM ledger WHERE k = ? AND exp IS NOT NULL AND exp <= ?",
            vec![key.into(), now.into()],
        )?;
        self.sql.exec(
            "DELETE FROM ledger WHERE k IN (SELECT k FROM ledger WHERE exp IS NOT NULL AND exp <= ? LIMIT 16)",
            vec![now.into()],
        )?;
        Ok(())
    }

    /// A compare-and-set record's text (`None` when absent, expired, or not text).
    fn value(&self, key: &str, now: i64) -> Result<Option<String>> {
        let rows: Vec<Returned> = self
            .sql
            .exec(
                "SELECT v FROM ledger WHERE k = ? AND (exp IS NULL OR exp > ?)",
                vec![key.into(), now.into()],
            )?
            .to_array()?;
        Ok(rows.into_iter().next().and_then(|r| r.v))
    }

    /// A counter's value (0 when absent or expired).
    fn count(&self, key: &str, now: i64) -> Result<u64> {
        let rows: Vec<Count> = self
            .sql
            .exec(
                "SELECT n FROM ledger WHERE k = ? AND n IS NOT NULL AND (exp IS NULL OR exp > ?)",
                vec![key.into(), now.into()],
            )?
            .to_array()?;
        Ok(rows.first().map(|r| r.n as u64).unwrap_or(0))
    }

    /// Adds one to a counter (a fresh one when absent or expired); its new value.
    fn increment(&self, key: &str, now: i64, exp: i64) -> Result<u64> {
        self.expire(key, now)?;
        let rows: Vec<Count> = self
            .sql
            .exec(
                "INSERT INTO ledger (k, n, exp) VALUES (?, 1, ?) ON CONFLICT(k) DO UPDATE SET n = n + 1 RETURNING n",
                vec![key.into(), exp.into()],
            )?
            .to_array()?;
        Ok(rows.first().map(|r| r.n as u64).unwrap_or(0))
    }

    /// Writes records in one statement, so a failure leaves none of them made.
    fn write_all(&self, writes: Vec<(String, String, Option<i64>)>) -> Result<()> {
        if writes.is_empty() {
            return Ok(());
        }
        let rows = vec!["(?, ?, ?)"; writes.len()].join(", ");
        let mut values: Vec<SqlStorageValue> = Vec::with_capacity(writes.len() * 3);
        for (key, value, exp) in writes {
            values.push(key.into());
            values.push(value.into());
            values.push(exp_value(exp));
        }
        self.sql.exec(
            &format!("INSERT INTO ledger (k, v, exp) VALUES {rows} ON CONFLICT(k) DO UPDATE SET v = excluded.v, exp = excluded.exp"),
            values,
        )?;
        Ok(())
    }

    fn run(&self, command: Command) -> Result<Value> {
        Ok(match command {
            Command::Consume { key, now, exp } => {
                self.expire(&key, now)?;
                let rows: Vec<Value> = self
                    .sql
                    .exec(
                        "INSERT INTO ledger (k, exp) VALUES (?, ?) ON CONFLICT(k) DO NOTHING RETURNING 1 AS ok",
                        vec![key.into(), exp.into()],
                    )?
                    .to_array()?;
                json!({ "ok": !rows.is_empty() })
            }
            Command::Get { key, now } => json!({ "value": self.value(&key, now)? }),
            Command::GetMany { keys, now } => {
                let values =
                    keys.iter().map(|key| self.value(key, now)).collect::<Result<Vec<_>>>()?;
                json!({ "values": values })
            }
            Command::CasAll { swaps, now } => {
                // One request runs to its end before the object takes the next (no await in
                // between): the checks and the writes are one step.
                for swap in &swaps {
                    self.expire(&swap.key, now)?;
                }
                let mut holds = true;
                for swap in &swaps {
                    let rows: Vec<Returned> = self
                        .sql
                        .exec("SELECT v FROM ledger WHERE k = ?", vec![swap.key.clone().into()])?
                        .to_array()?;
                    let current = rows.into_iter().next().map(|r| r.v);
                    // A consume-once mark (no text) never matches.
                    let matches = match (&current, &swap.expected) {
                        (None, None) => true,
                        (Some(Some(v)), Some(e)) => v == e,
                        _ => false,
                    };
                    if !matches {
                        holds = false;
                        break;
                    }
                }
                if holds {
                    self.write_all(
                        swaps.into_iter().filter_map(|s| Some((s.key, s.new?, s.exp))).collect(),
                    )?;
                }
                json!({ "ok": holds })
            }
            Command::Decide { decision, now } => {
                // As for `CasAll`: the reads, the rule and the writes are one step. The reads
                // skip expired rows and the writes replace them, so expired rows are only
                // purged, once.
                self.expire(&decision.anchor(), now)?;
                let ruling = decision
                    .rule(now, &mut |key| {
                        self.value(key, now).map_err(|e| PortError::new(e.to_string()))
                    })
                    .map_err(|e| worker::Error::RustError(e.to_string()))?;
                self.write_all(
                    ruling.writes.into_iter().map(|w| (w.key, w.value, w.expires_at)).collect(),
                )?;
                json!({ "answer": ruling.answer })
            }
            Command::Cas { key, expected, new, now, exp } => {
                self.expire(&key, now)?;
                let rows: Vec<Value> = match expected {
                    None => self
                        .sql
                        .exec(
                            "INSERT INTO ledger (k, v, exp) VALUES (?, ?, ?) ON CONFLICT(k) DO NOTHING RETURNING 1 AS ok",
                            vec![key.into(), new.into(), exp_value(exp)],
                        )?
                        .to_array()?,
                    Some(expected) => self
                        .sql
                        .exec(
                            "UPDATE ledger SET v = ?, exp = ? WHERE k = ? AND v = ? RETURNING 1 AS ok",
                            vec![new.into(), exp_value(exp), key.into(), expected.into()],
                        )?
                        .to_array()?,
                };
                json!({ "ok": !rows.is_empty() })
            }
            Command::Count { key, now } => json!({ "n": self.count(&key, now)? }),
            Command::Incr { key, now, exp } => json!({ "n": self.increment(&key, now, exp)? }),
            Command::Tally { inc, read, now, exp } => {
                let mut counts = Vec::with_capacity(inc.len() + read.len());
                for key in inc {
                    counts.push(self.increment(&key, now, exp)?);
                }
                for key in read {
                    counts.push(self.count(&key, now)?);
                }
                json!({ "n": counts })
            }
            Command::Deadline { key, expected, replacement, at, exp, request } => {
                self.sql.exec(
                    "INSERT INTO deadlines (k, expected, replacement, at, keep, req) VALUES (?, ?, ?, ?, ?, ?)",
                    vec![
                        key.into(),
                        expected.into(),
                        replacement.into(),
                        at.into(),
                        exp.into(),
                        request.to_string().into(),
                    ],
                )?;
                json!({ "ok": true })
            }
        })
    }
}

impl DurableObject for LedgerObject {
    fn new(state: State, env: Env) -> Self {
        let storage = state.storage();
        Self { sql: storage.sql(), storage, env }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        // Read the whole command before touching storage: from here on nothing awaits until
        // the decision is written.
        let command: Command = match req.json().await {
            Ok(command) => command,
            Err(e) => return Response::error(format!("bad ledger command: {e}"), 400),
        };
        let deadline = matches!(command, Command::Deadline { .. });
        let outcome = self.setup().and_then(|()| self.run(command));
        if deadline && outcome.is_ok() {
            if let Err(e) = self.arm().await {
                return Response::error(format!("ledger alarm: {e}"), 500);
            }
        }
        match outcome {
            Ok(value) => Response::from_json(&value),
            Err(e) => Response::error(format!("ledger: {e}"), 500),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        self.setup()?;
        let now = (js_sys::Date::now() / 1000.0) as i64;
        let fire = self.run_due(now)?;
        // The records are ended: their notices go out even if re-arming fails (the alarm then
        // runs again and finds the rest).
        let armed = self.arm().await;
        if !fire.is_empty() {
            match crate::host::WorkerHost::new(&self.env) {
                Ok(host) => {
                    gatehouse_core::notify::deliver(&host, fire).await;
                }
                Err(e) => console_error!("gatehouse ledger alarm: {e}"),
            }
        }
        armed?;
        Response::ok("")
    }
}
