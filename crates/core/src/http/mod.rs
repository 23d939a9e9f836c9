//! HTTP-shaped values that cross the core's boundary. Header names are kept lower-case.

pub mod params;

use std::fmt;

/// The origin part of an absolute URL (`scheme://host[:port]`), or `scheme:` for a URL without
/// an authority (a native app's private-use scheme): what CSP source lists name.
pub fn origin_of(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            format!("{scheme}://{}", rest.split(['/', '?', '#']).next().unwrap_or(""))
        }
        None => url.split(':').next().map(|s| format!("{s}:")).unwrap_or_default(),
    }
}

/// An incoming (or, for [`crate::ports::HttpClient`], outgoing) request. Its `Debug` leaves out
/// what carries secrets: the body, and the `Authorization` and `Cookie` headers.
#[derive(Clone, PartialEq, Eq)]
pub struct Request {
    /// Upper-case method, e.g. `GET`.
    pub method: String,
    /// `scheme://host[:port]` as the client reached us, e.g. `http://127.0.0.1:8787`.
    pub origin: String,
    /// The path, percent-encoded as received, e.g. `/authorize`.
    pub path: String,
    /// The raw query string without `?`, if any.
    pub query: Option<String>,
    /// Lower-case names, values as received, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| match n.as_str() {
                "authorization" | "cookie" | "proxy-authorization" => (n.as_str(), "[redacted]"),
                _ => (n.as_str(), v.as_str()),
            })
            .collect();
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("origin", &self.origin)
            .field("path", &self.path)
            .field("query", &self.query.as_ref().map(|_| "[redacted]"))
            .field("headers", &headers)
            .field("body", &format_args!("[{} bytes redacted]", self.body.len()))
            .finish()
    }
}

impl Request {
    /// Builds a request from an absolute URL (`scheme://authority/path?query#fragment`).
    /// Returns `None` for anything that is not an absolute http(s) URL.
    pub fn from_url(method: &str, url: &str) -> Option<Self> {
        let (scheme, rest) = url.split_once("://")?;
        if !matches!(scheme, "http" | "https") {
            return None;
        }
        let rest = rest.split('#').next().unwrap_or("");
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path_and_query) = rest.split_at(authority_end);
        if authority.is_empty() {
            return None;
        }
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q.to_string())),
            None => (path_and_query, None),
        };
        Some(Self {
            method: method.to_ascii_uppercase(),
            origin: format!("{scheme}://{authority}"),
            path: if path.is_empty() { "/".to_string() } else { path.to_string() },
            query,
            headers: Vec::new(),
            body: Vec::new(),
        })
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.to_string()));
        self
    }

    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The first header of that (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1): `Ok(None)` without
    /// the header, `Err(())` when it names another scheme or no token.
    #[allow(clippy::result_unit_err)]
    pub fn bearer(&self) -> Result<Option<&str>, ()> {
        match self.header("authorization") {
            None => Ok(None),
            Some(_) => self.token_of("bearer").map(Some).ok_or(()),
        }
    }

    /// The token of `Authorization: DPoP <token>` (RFC 9449 §7.1), if that is the scheme.
    pub fn dpop_token(&self) -> Option<&str> {
        self.token_of("dpop")
    }

    /// The token of `Authorization: <scheme> <token>`, when the header names `scheme` (any
    /// case, RFC 9110 §11.1) and a token.
    fn token_of(&self, scheme: &str) -> Option<&str> {
        let (named, token) = self.header("authorization")?.split_once(' ')?;
        (named.eq_ignore_ascii_case(scheme) && !token.trim().is_empty()).then(|| token.trim())
    }

    /// The media type of the body, lower-case, without parameters.
    pub fn media_type(&self) -> String {
        self.header("content-type")
            .and_then(|v| v.split(';').next())
            .map(|t| t.trim().to_ascii_lowercase())
            .unwrap_or_default()
    }

    /// A cookie's value (RFC 6265 §5.4: `name=value` pairs separated by `; `).
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "cookie")
            .flat_map(|(_, v)| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.trim_matches('"'))
    }

    /// The client's IP as Cloudflare reports it (`CF-Connecting-IP`), for rate limits.
    pub fn client_ip(&self) -> &str {
        self.header("cf-connecting-ip").unwrap_or("unknown")
    }

    /// Whether the request came over https (cookies get `Secure` and the `__Host-` prefix).
    pub fn is_https(&self) -> bool {
        self.origin.starts_with("https://")
    }

    /// The full URL.
    pub fn url(&self) -> String {
        match &self.query {
            Some(q) => format!("{}{}?{}", self.origin, self.path, q),
            None => format!("{}{}", self.origin, self.path),
        }
    }
}

/// An outgoing response. Its `Debug` leaves out the body (tokens) and the values of
/// `Set-Cookie` (session ids) and `Location` (codes).
#[derive(Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Notifications to send once the response is on its way (CIBA pings and pushes, the
    /// operator's webhook): the host hands them to [`crate::notify::deliver`] without making
    /// the caller wait (the Worker: `waitUntil`).
    pub deliveries: Vec<Request>,
    /// How long the host may answer the same request (method and URL) from a copy of this
    /// response kept in its isolate: public documents that change only with an import or a key
    /// rotation (discovery, the JWKS), so that they are built once, not on every request. `0`:
    /// never.
    pub reusable_for_seconds: u64,
    /// This request changed what reusable responses say (a key rotation, a tenant import): the
    /// host drops its copies.
    pub invalidates_reusable: bool,
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| match n.as_str() {
                "set-cookie" | "location" => (n.as_str(), "[redacted]"),
                _ => (n.as_str(), v.as_str()),
            })
            .collect();
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &headers)
            .field("body", &format_args!("[{} bytes redacted]", self.body.len()))
            .field("deliveries", &self.deliveries.len())
            .finish()
    }
}

impl Response {
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            deliveries: Vec::new(),
            reusable_for_seconds: 0,
            invalidates_reusable: false,
        }
    }

    /// A JSON response.
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Self::new(status)
            .with_header("content-type", "application/json")
            .with_body(serde_json::to_vec(value).unwrap_or_default())
    }

    /// The same response, marked [`Response::invalidates_reusable`].
    pub fn invalidating_reusable(mut self) -> Self {
        self.invalidates_reusable = true;
        self
    }

    /// A redirect (302 Found, or 303 See Other after a POST).
    pub fn redirect(status: u16, location: &str) -> Self {
        Self::new(status).with_header("location", location).with_header("cache-control", "no-store")
    }

    /// A JSON response that must not be cached (RFC 6749 §5.1: token responses).
    pub fn json_no_store(status: u16, value: &serde_json::Value) -> Self {
        Self::json(status, value)
            .with_header("cache-control", "no-store")
            .with_header("pragma", "no-cache")
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.to_string()));
        self
    }

    /// Replaces a header's value (or adds it).
    pub fn set_header(&mut self, name: &str, value: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_ascii_lowercase(), value.to_string()));
    }

    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON (for tests and outbound calls).
    pub fn json_body(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cookies_and_media_types() {
        let r = Request::from_url("POST", "https://a.example/x")
            .unwrap()
            .with_header("Cookie", "a=1; __Host-s=abc; b=\"q\"")
            .with_header("content-type", "Application/X-WWW-Form-Urlencoded; charset=UTF-8");
        assert_eq!(r.cookie("__Host-s"), Some("abc"));
        assert_eq!(r.cookie("b"), Some("q"));
        assert_eq!(r.cookie("c"), None);
        assert_eq!(r.media_type(), "application/x-www-form-urlencoded");
        assert!(r.is_https());
    }

    #[test]
    fn debug_leaves_out_secrets() {
        let r = Request::from_url("POST", "https://a.example/oauth/token?code=sekrit-q")
            .unwrap()
            .with_header("Authorization", "Basic c2VrcmV0LWE6c2VrcmV0LWI=")
            .with_header("cookie", "gatehouse_session=sekrit-c")
            .with_header("content-type", "application/x-www-form-urlencoded")
            .with_body("client_secret=sekrit-d");
        let printed = format!("{r:?}");
        for secret in ["c2VrcmV0", "sekrit-c", "sekrit-d", "sekrit-q"] {
            assert!(!printed.contains(secret), "{printed}");
        }
        assert!(printed.contains("application/x-www-form-urlencoded"), "{printed}");
    }

    #[test]
    fn parses_absolute_urls() {
        let r = Request::from_url("get", "http://127.0.0.1:8787/a/b?x=1#frag").unwrap();
        assert_eq!(r.method, "GET");
        assert_eq!(r.origin, "http://127.0.0.1:8787");
        assert_eq!(r.path, "/a/b");
        assert_eq!(r.query.as_deref(), Some("x=1"));
        let r = Request::from_url("GET", "https://example.com").unwrap();
        assert_eq!(r.path, "/");
        let r = Request::from_url("GET", "https://example.com?q").unwrap();
        assert_eq!((r.path.as_str(), r.query.as_deref()), ("/", Some("q")));
        assert!(Request::from_url("GET", "ftp://x/").is_none());
        assert!(Request::from_url("GET", "http:///path").is_none());
        assert!(Request::from_url("GET", "garbage").is_none());
    }
}
