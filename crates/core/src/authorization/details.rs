//! Rich authorization requests (RFC 9396): `authorization_details`, a JSON array of objects
//! each with a `type`, asks for something finer than a scope ("pay 123.50 EUR to Merchant A").
//! The types an API accepts, with the fields each requires and the words the consent page shows
//! for it, are declared on the API in the tenant file (Auth0's model). What the user approved
//! travels in [`crate::grant::Authorization::details`] to the token response, the access token
//! and introspection; at the token endpoint a client may ask for a subset, never more (§6).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, ErrorCode};
use crate::records::{ApiRecord, ClientRecord};

/// The most entries one request may carry, and the longest `authorization_details` text.
const MAX_ENTRIES: usize = 16;
const MAX_TEXT: usize = 8 * 1024;
/// RFC 9396 §2.2: the common data fields, when present, are arrays of strings (`identifier`
/// is a string).
const STRING_ARRAYS: [&str; 4] = ["locations", "actions", "datatypes", "privileges"];

/// A type of authorization detail an API accepts (tenant file, `apis[].authorization_details`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetailType {
    #[serde(rename = "type")]
    pub type_: String,
    /// Fields every entry of this type must have, as dotted paths (`instructedAmount.amount`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required: Vec<String>,
    /// What the consent page says, with `{dotted.path}` replaced by the entry's values
    /// ("Pay {instructedAmount.amount} {instructedAmount.currency} to {creditorName}").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl DetailType {
    /// Checks a declaration at import: a type name, and paths that are paths.
    pub fn check(&self) -> Result<(), String> {
        let name_ok = !self.type_.is_empty()
            && self.type_.len() <= 128
            && !self.type_.chars().any(char::is_control);
        if !name_ok {
            return Err("an authorization_details type must be 1-128 characters".into());
        }
        if self.required.iter().any(|p| p.is_empty() || p.split('.').any(str::is_empty)) {
            return Err(format!("{}: required fields are dotted paths", self.type_));
        }
        Ok(())
    }
}

pub fn invalid(description: &str) -> Error {
    Error::oauth(ErrorCode::InvalidAuthorizationDetails, description)
}

/// The value at a dotted path of an entry.
fn at<'a>(entry: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(entry, |v, key| v.get(key)).filter(|v| !v.is_null())
}

/// The JSON array of an `authorization_details` parameter: 1 to [`MAX_ENTRIES`] entries, its
/// text at most [`MAX_TEXT`] bytes (checked before parsing).
fn entries(text: &str) -> Result<Vec<Value>, Error> {
    if text.len() > MAX_TEXT {
        return Err(invalid("authorization_details is too large"));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(entries)) if !entries.is_empty() && entries.len() <= MAX_ENTRIES => {
            Ok(entries)
        }
        _ => Err(invalid("authorization_details must be a non-empty JSON array")),
    }
}

/// Characters that change how the text around them is shown without being seen: controls,
/// bidirectional marks, embeddings, overrides and isolates, zero-width characters.
fn invisible(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061C}' | '\u{FEFF}')
        || ('\u{200B}'..='\u{200F}').contains(&c)
        || ('\u{202A}'..='\u{202E}').contains(&c)
        || ('\u{2060}'..='\u{2069}').contains(&c)
}

/// Text a person is shown must read as it is (which can make "Pay 1.00 EUR to A" display as
/// something else), and a field name must name one field: no `.` (the description's paths
/// would then reach two fields by one name) and no braces.
fn displayable(value: &Value) -> bool {
    let ok = |s: &str| !s.chars().any(invisible);
    match value {
        Value::String(s) => ok(s),
        Value::Array(list) => list.iter().all(displayable),
        Value::Object(map) => map
            .iter()
            .all(|(k, v)| ok(k) && !k.is_empty() && !k.contains(['.', '{', '}']) && displayable(v)),
        _ => true,
    }
}

/// Parses the `authorization_details` parameter (§2): each entry an object whose `type` the
/// API declares, with the fields that type requires, and that the client may ask for (its
/// registered `authorization_details_types`, §10.2, when it has some). Absent: none.
pub fn parse(
    text: Option<&str>,
    api: Option<&ApiRecord>,
    client: &ClientRecord,
) -> Result<Vec<Value>, Error> {
    let Some(text) = text else { return Ok(Vec::new()) };
    let entries = entries(text)?;
    let Some(api) = api else {
        return Err(invalid(
            "authorization_details needs the API (audience) that defines its types",
        ));
    };
    for entry in &entries {
        let Some(object) = entry.as_object() else {
            return Err(invalid("each authorization detail is a JSON object"));
        };
        let type_ = object.get("type").and_then(Value::as_str).unwrap_or("");
        let Some(declared) = api.authorization_details.iter().find(|d| d.type_ == type_) else {
            return Err(invalid("an authorization_details type this API does not accept"));
        };
        if !client.authorization_details_types.is_empty()
            && !client.authorization_details_types.iter().any(|t| t == type_)
        {
            return Err(invalid("the client may not ask for this authorization_details type"));
        }
        for field in STRING_ARRAYS {
            let ok = object
                .get(field)
                .is_none_or(|v| v.as_array().is_some_and(|list| list.iter().all(Value::is_string)));
            if !ok {
                return Err(invalid(
                    "locations, actions, datatypes and privileges are string arrays",
                ));
            }
        }
        if object.get("identifier").is_some_and(|v| !v.is_string()) {
            return Err(invalid("identifier is a string"));
        }
        if let Some(missing) = declared.required.iter().find(|p| at(entry, p).is_none()) {
            return Err(invalid(&format!("{type_} needs {missing}")));
        }
        if !displayable(entry) {
            return Err(invalid(
                "authorization details cannot contain invisible characters, or field names with dots or braces",
            ));
        }
    }
    Ok(entries)
}

/// §6: what a token request's `authorization_details` may ask for: some of the granted
/// entries, each equal to a granted one and each granted one asked for at most once (a
/// repeated payment is a second payment). Absent: all that was granted.
pub fn narrow(granted: &[Value], requested: Option<&str>) -> Result<Vec<Value>, Error> {
    let Some(text) = requested else { return Ok(granted.to_vec()) };
    let entries = entries(text)?;
    let mut left: Vec<&Value> = granted.iter().collect();
    for entry in &entries {
        let Some(i) = left.iter().position(|g| *g == entry) else {
            return Err(invalid("the requested authorization_details exceed the grant"));
        };
        left.swap_remove(i);
    }
    Ok(entries)
}

/// A value as the consent page writes it.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(list) if list.iter().all(Value::is_string) => {
            list.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")
        }
        other => other.to_string(),
    }
}

/// The leaves of `value` (at `path`) that no placeholder showed, as `path: text`.
fn unshown(path: String, value: &Value, shown: &[&str], out: &mut Vec<String>) {
    if shown.contains(&path.as_str()) {
        return;
    }
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                unshown(format!("{path}.{k}"), v, shown, out);
            }
        }
        other => out.push(format!("{path}: {}", text(other))),
    }
}

/// What the consent page says about an entry (RFC 9396 §12: the user must see what they
/// approve): its type's description with the entry's values put in, followed by every field
/// the description does not show; without a description, the type and all its fields.
pub fn describe(entry: &Value, api: Option<&ApiRecord>) -> String {
    let type_ = entry.get("type").and_then(Value::as_str).unwrap_or("");
    let declared = api.and_then(|a| a.authorization_details.iter().find(|d| d.type_ == type_));
    let mut shown: Vec<&str> = Vec::new();
    let mut out = String::new();
    if let Some(template) = declared.and_then(|d| d.description.as_deref()) {
        let mut rest = template;
        loop {
            let placeholder =
                rest.find('{').and_then(|s| rest[s..].find('}').map(|len| (s, s + len)));
            let Some((start, end)) = placeholder else {
                out.push_str(rest);
                break;
            };
            out.push_str(&rest[..start]);
            let path = &rest[start + 1..end];
            out.push_str(&at(entry, path).map(text).unwrap_or_else(|| "?".into()));
            shown.push(path);
            rest = &rest[end + 1..];
        }
    } else {
        out.push_str(type_);
    }
    let mut others = Vec::new();
    for (k, v) in entry.as_object().into_iter().flatten().filter(|(k, _)| k.as_str() != "type") {
        unshown(k.clone(), v, &shown, &mut others);
    }
    if !others.is_empty() {
        out.push_str(&format!(" ({})", others.join("; ")));
    }
    out
}
