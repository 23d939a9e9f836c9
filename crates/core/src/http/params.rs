//! Request parameters: `application/x-www-form-urlencoded` query strings and bodies (and, for
//! Auth0 compatibility, flat JSON objects on the token endpoint).
//!
//! RFC 6749 §3.1: parameters sent without a value MUST be treated as if they were omitted, and
//! request parameters MUST NOT be included more than once.

use crate::error::Error;
use crate::http::Request;

/// At most this many parameters, and this many bytes per value: far above any real request.
pub const MAX_PARAMS: usize = 64;
pub const MAX_VALUE_BYTES: usize = 8 * 1024;

/// Parsed parameters, in order. `Debug` prints the names only: values carry secrets (client
/// secrets, codes, verifiers, refresh tokens, passwords).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Params").field(&self.0.iter().map(|(n, _)| n).collect::<Vec<_>>()).finish()
    }
}

impl Params {
    /// Parses a form-encoded string. Values that are not UTF-8 become U+FFFD and so match nothing.
    pub fn parse(encoded: &[u8]) -> Result<Self, Error> {
        let mut pairs = Vec::new();
        for (name, value) in form_urlencoded::parse(encoded) {
            if pairs.len() == MAX_PARAMS {
                return Err(Error::invalid_request("too many parameters"));
            }
            if value.len() > MAX_VALUE_BYTES || name.len() > 256 {
                return Err(Error::invalid_request(format!(
                    "parameter {} is too long",
                    printable(&name)
                )));
            }
            if !value.is_empty() {
                pairs.push((name.into_owned(), value.into_owned()));
            }
        }
        Ok(Self(pairs))
    }

    /// Parses a flat JSON object whose values are strings (numbers and booleans are taken as
    /// their text), as Auth0's token endpoint accepts.
    pub fn parse_json(body: &[u8]) -> Result<Self, Error> {
        let value: serde_json::Value = serde_json::from_slice(body)
            .map_err(|_| Error::invalid_request("the body is not valid JSON"))?;
        let object = value
            .as_object()
            .ok_or_else(|| Error::invalid_request("the body must be a JSON object"))?;
        if object.len() > MAX_PARAMS {
            return Err(Error::invalid_request("too many parameters"));
        }
        let mut pairs = Vec::new();
        for (name, value) in object {
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Null => continue,
                _ => {
                    return Err(Error::invalid_request(format!(
                        "parameter {} must be a string",
                        printable(name)
                    )))
                }
            };
            if text.len() > MAX_VALUE_BYTES {
                return Err(Error::invalid_request(format!(
                    "parameter {} is too long",
                    printable(name)
                )));
            }
            if !text.is_empty() {
                pairs.push((name.clone(), text));
            }
        }
        Ok(Self(pairs))
    }

    /// The query string's parameters.
    pub fn from_query(request: &Request) -> Result<Self, Error> {
        Self::parse(request.query.as_deref().unwrap_or("").as_bytes())
    }

    /// The body's parameters; the content type must be form-encoded (or JSON when `json_ok`).
    pub fn from_body(request: &Request, json_ok: bool) -> Result<Self, Error> {
        let media_type = request.media_type();
        match media_type.as_str() {
            "application/x-www-form-urlencoded" => Self::parse(&request.body),
            "application/json" if json_ok => Self::parse_json(&request.body),
            _ => Err(Error::invalid_request("the body must be application/x-www-form-urlencoded")),
        }
    }

    /// The one value of `name`; a repeated parameter is an error.
    pub fn get(&self, name: &str) -> Result<Option<&str>, Error> {
        let mut values = self.0.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(Error::invalid_request(format!("parameter {name} is repeated")));
        }
        Ok(first)
    }

    /// Like [`Params::get`], but the parameter is REQUIRED.
    pub fn require(&self, name: &str) -> Result<&str, Error> {
        self.get(name)?
            .ok_or_else(|| Error::invalid_request(format!("parameter {name} is required")))
    }

    /// Every value of a parameter that may repeat (RFC 8707 `resource`).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| n == name)
    }

    /// Parameters from name-value pairs (as stored, e.g. a pushed authorization request).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Self(pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect())
    }

    /// The same parameters and one more (a value the server derived, e.g. PAR's `dpop_jkt`).
    pub fn with(mut self, name: &str, value: String) -> Self {
        self.0.push((name.to_string(), value));
        self
    }

    /// Every name-value pair, in order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Appends `other`'s pairs (a POSTed logout may also carry a query); a name in both then
    /// counts as repeated.
    pub fn merge(mut self, other: Params) -> Self {
        self.0.extend(other.0);
        self
    }
}

/// A parameter name safe to echo in an error description.
fn printable(name: &str) -> String {
    name.chars().filter(|c| c.is_ascii_graphic()).take(40).collect()
}

/// Serializes pairs as `application/x-www-form-urlencoded`.
pub fn encode<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    gatehouse_protocol::form::encode(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_decodes_and_drops_empty_values() {
        let p = Params::parse(b"a=1&b=&c=x+y%2Bz&d=%E2%9C%93").unwrap();
        assert_eq!(p.get("a").unwrap(), Some("1"));
        assert_eq!(p.get("b").unwrap(), None, "empty values are omitted (RFC 6749 §3.1)");
        assert_eq!(p.get("c").unwrap(), Some("x y+z"));
        assert_eq!(p.get("d").unwrap(), Some("✓"));
        assert!(p.require("b").is_err());
    }

    #[test]
    fn refuses_repeats_floods_and_huge_values() {
        let p = Params::parse(b"scope=a&scope=b").unwrap();
        assert_eq!(p.get("scope").unwrap_err().code(), crate::error::ErrorCode::InvalidRequest);
        let flood: String = (0..100).map(|i| format!("p{i}=1&")).collect();
        assert!(Params::parse(flood.as_bytes()).is_err());
        let huge = format!("a={}", "x".repeat(MAX_VALUE_BYTES + 1));
        assert!(Params::parse(huge.as_bytes()).is_err());
        let bad_utf8 = Params::parse(b"a=%FF%FE").unwrap();
        assert_eq!(bad_utf8.get("a").unwrap(), Some("\u{fffd}\u{fffd}"));
    }

    #[test]
    fn json_bodies() {
        let p = Params::parse_json(br#"{"grant_type":"refresh_token","n":5,"x":null}"#).unwrap();
        assert_eq!(p.get("grant_type").unwrap(), Some("refresh_token"));
        assert_eq!(p.get("n").unwrap(), Some("5"));
        assert_eq!(p.get("x").unwrap(), None);
        assert!(Params::parse_json(br#"{"a":{"b":1}}"#).is_err());
        assert!(Params::parse_json(b"[1]").is_err());
    }

    #[test]
    fn debug_prints_names_not_values() {
        let p = Params::parse(b"client_secret=sekrit-1&code=sekrit-2&password=sekrit-3").unwrap();
        let printed = format!("{p:?}");
        assert!(!printed.contains("sekrit"), "{printed}");
        assert!(printed.contains("client_secret"));
    }

    #[test]
    fn encodes() {
        assert_eq!(encode([("a", "x y"), ("b", "é&=")]), "a=x+y&b=%C3%A9%26%3D");
    }
}
