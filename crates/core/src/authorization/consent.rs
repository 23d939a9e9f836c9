//! Consent a user gave a client, remembered per API: for each audience (the empty string for
//! requests without one) the scopes allowed on it. A request is covered only when every scope
//! it asks for was allowed on the same API, so consent to `read` on one API and to `openid` on
//! another never adds up to `read` on the second.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{absent_if_unreadable, Error};
use crate::ports::Store;
use crate::records;
use crate::vocabulary::{ClientId, Scopes};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Consent {
    /// Audience → the scopes allowed on it. Records of the older, flat shape have none, so the
    /// user is asked again.
    #[serde(default)]
    apis: BTreeMap<String, Scopes>,
}

fn key(user_id: &str, client_id: &ClientId) -> String {
    format!("consent/{user_id}/{client_id}")
}

async fn read(store: &impl Store, user_id: &str, client_id: &ClientId) -> Result<Consent, Error> {
    Ok(absent_if_unreadable(records::read::<Consent>(store, &key(user_id, client_id)).await)?
        .unwrap_or_default())
}

/// Whether the user already allowed `scope` on `audience` for this client.
pub async fn covers(
    store: &impl Store,
    user_id: &str,
    client_id: &ClientId,
    audience: Option<&str>,
    scope: &Scopes,
) -> Result<bool, Error> {
    let consent = read(store, user_id, client_id).await?;
    Ok(consent.apis.get(audience.unwrap_or("")).is_some_and(|given| scope.is_subset_of(given)))
}

/// Remembers that the user allowed `scope` on `audience` for this client.
pub async fn remember(
    store: &impl Store,
    user_id: &str,
    client_id: &ClientId,
    audience: Option<&str>,
    scope: &Scopes,
) -> Result<(), Error> {
    let mut consent = read(store, user_id, client_id).await?;
    let given = consent.apis.entry(audience.unwrap_or("").to_string()).or_default();
    for s in scope.iter() {
        given.insert(s);
    }
    store.put(&key(user_id, client_id), &records::to_json(&consent)?, None).await?;
    Ok(())
}
