//! The ledger Durable Object: consume-once, compare-and-set and counters on SQLite storage.
//!
//! Each command is decided by one synchronous SQL statement with no `await` between reading
//! and writing, so the object's single thread makes it exact: 50 concurrent consumes of one key
//! give one `true` (TOOLCHAIN.md). Rows carry their own expiry; an expired row counts as absent
//! and is replaced, and a few expired rows are purged on every call.

use serde::Deserialize;
use serde_json::{json, Value};
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, SqlStorage, SqlStorageValue,
    State,
};

#[durable_object]
#[allow(missing_debug_implementations)] // holds a JS handle with nothing useful to print
pub struct LedgerObject {
    sql: SqlStorage,
}

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Command {
    Consume { key: String, now: i64, exp: i64 },
    Get { key: String, now: i64 },
    Cas { key: String, expected: Option<String>, new: String, now: i64, exp: Option<i64> },
    Incr { key: String, now: i64, exp: i64 },
    Count { key: String, now: i64 },
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
        Ok(())
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
            Command::Get { key, now } => {
                let rows: Vec<Returned> = self
                    .sql
                    .exec(
                        "SELECT v FROM ledger WHERE k = ? AND (exp IS NULL OR exp > ?)",
                        vec![key.into(), now.into()],
                    )?
                    .to_array()?;
                json!({ "value": rows.into_iter().next().and_then(|r| r.v) })
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
            Command::Count { key, now } => {
                let rows: Vec<Count> = self
                    .sql
                    .exec(
                        "SELECT n FROM ledger WHERE k = ? AND n IS NOT NULL AND (exp IS NULL OR exp > ?)",
                        vec![key.into(), now.into()],
                    )?
                    .to_array()?;
                json!({ "n": rows.first().map(|r| r.n as u64).unwrap_or(0) })
            }
            Command::Incr { key, now, exp } => {
                self.expire(&key, now)?;
                let rows: Vec<Count> = self
                    .sql
                    .exec(
                        "INSERT INTO ledger (k, n, exp) VALUES (?, 1, ?) ON CONFLICT(k) DO UPDATE SET n = n + 1 RETURNING n",
                        vec![key.into(), exp.into()],
                    )?
                    .to_array()?;
                json!({ "n": rows.first().map(|r| r.n as u64).unwrap_or(0) })
            }
        })
    }
}

impl DurableObject for LedgerObject {
    fn new(state: State, _env: Env) -> Self {
        Self { sql: state.storage().sql() }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        // Read the whole command before touching storage: from here on nothing awaits.
        let command: Command = match req.json().await {
            Ok(command) => command,
            Err(e) => return Response::error(format!("bad ledger command: {e}"), 400),
        };
        let outcome = self.setup().and_then(|()| self.run(command));
        match outcome {
            Ok(value) => Response::from_json(&value),
            Err(e) => Response::error(format!("ledger: {e}"), 500),
        }
    }
}
