//! The protocol's words as types, parsed once at the edge (tenant import, registration, request
//! parsing). Each enum's `SUPPORTED` list is the one list of what Gatehouse implements: discovery,
//! registration and the endpoints all read it, so a value cannot be advertised without being
//! served, or served without being advertised.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A closed set of wire values: `as_str`, `parse`, serde in the wire form, `SUPPORTED`.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $wire:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vmeta])* $variant,)+ }

        impl $name {
            /// Every value, in the order discovery lists them.
            pub const SUPPORTED: &'static [$name] = &[$($name::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire,)+ }
            }

            /// The value for a wire name; `None` for anything not implemented.
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($wire => Some($name::$variant),)+ _ => None }
            }

            /// The wire names of `SUPPORTED` (for discovery).
            pub fn names() -> Vec<&'static str> {
                Self::SUPPORTED.iter().map(|v| v.as_str()).collect()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                Self::parse(&text).ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "unsupported {} {text:?} (supported: {})",
                        stringify!($name),
                        Self::names().join(", ")
                    ))
                })
            }
        }
    };
}

wire_enum! {
    /// Grant types of the token endpoint (RFC 6749 §4, §6; RFC 7591 §2 `grant_types`).
    GrantType {
        /// RFC 6749 §4.1.3.
        AuthorizationCode = "authorization_code",
        /// RFC 6749 §6.
        RefreshToken = "refresh_token",
        /// RFC 6749 §4.4: a confidential client on its own behalf.
        ClientCredentials = "client_credentials",
        /// RFC 6749 §4.3: the resource owner's password, sent by a trusted client.
        Password = "password",
        /// Auth0's password grant naming the user store (`realm`).
        PasswordRealm = "http://auth0.com/oauth/grant-type/password-realm",
        /// RFC 8628 §3.4: a device polls while its user approves in a browser.
        DeviceCode = "urn:ietf:params:oauth:grant-type:device_code",
        /// OpenID CIBA Core §10.1: a client polls (or is pinged) while its user approves on
        /// an authentication device.
        Ciba = "urn:openid:params:grant-type:ciba",
        /// RFC 6749 §4.2: tokens from the authorization endpoint (registered by clients that use
        /// the implicit or hybrid response types; never at the token endpoint).
        Implicit = "implicit",
    }
}

wire_enum! {
    /// How a CIBA client hears the outcome (CIBA Core §5; Registration §4
    /// `backchannel_token_delivery_mode`).
    DeliveryMode {
        /// The client polls the token endpoint.
        Poll = "poll",
        /// The server notifies the client's endpoint, which then calls the token endpoint.
        Ping = "ping",
        /// The server sends the tokens to the client's endpoint.
        Push = "push",
    }
}

wire_enum! {
    /// Client authentication methods (RFC 7591 §2 `token_endpoint_auth_method`, OIDC Core §9).
    AuthMethod {
        /// A public client (RFC 6749 §2.1): no secret, cannot authenticate.
        None = "none",
        /// RFC 6749 §2.3.1, HTTP Basic.
        ClientSecretBasic = "client_secret_basic",
        /// RFC 6749 §2.3.1, in the body.
        ClientSecretPost = "client_secret_post",
        /// RFC 7523 §2.2: a JWT signed with the client's key.
        PrivateKeyJwt = "private_key_jwt",
    }
}

impl AuthMethod {
    /// Whether the client holds a shared secret.
    pub fn uses_secret(self) -> bool {
        matches!(self, Self::ClientSecretBasic | Self::ClientSecretPost)
    }

    /// The methods that authenticate a client (every one but `none`): what introspection takes.
    pub fn confidential() -> Vec<&'static str> {
        Self::SUPPORTED.iter().filter(|m| **m != Self::None).map(|m| m.as_str()).collect()
    }
}

wire_enum! {
    /// `response_type` values served at `/authorize` (RFC 6749 §3.1.1; OAuth 2.0 Multiple
    /// Response Type Encoding Practices §5; OIDC Core §3.2, §3.3): the code flow, implicit and
    /// hybrid. The wire value is a space-separated set in any order: [`ResponseType::parse_set`].
    ResponseType {
        Code = "code",
        IdToken = "id_token",
        IdTokenToken = "id_token token",
        CodeIdToken = "code id_token",
        CodeToken = "code token",
        CodeIdTokenToken = "code id_token token",
    }
}

impl ResponseType {
    /// Parses a response type in any order (`token id_token` is `id_token token`).
    pub fn parse_set(text: &str) -> Option<Self> {
        let mut parts: Vec<&str> = text.split(' ').filter(|p| !p.is_empty()).collect();
        let count = parts.len();
        parts.sort_unstable_by_key(|p| match *p {
            "code" => 0,
            "id_token" => 1,
            "token" => 2,
            _ => 3,
        });
        parts.dedup();
        if parts.len() != count {
            return None;
        }
        Self::parse(&parts.join(" "))
    }

    pub fn has_code(self) -> bool {
        matches!(self, Self::Code | Self::CodeIdToken | Self::CodeToken | Self::CodeIdTokenToken)
    }

    pub fn has_id_token(self) -> bool {
        matches!(
            self,
            Self::IdToken | Self::IdTokenToken | Self::CodeIdToken | Self::CodeIdTokenToken
        )
    }

    /// An access token straight from the authorization endpoint.
    pub fn has_token(self) -> bool {
        matches!(self, Self::IdTokenToken | Self::CodeToken | Self::CodeIdTokenToken)
    }

    /// Multiple Response Type Encoding Practices §2.1, §5: `query` for `code`, `fragment` for the
    /// others (which must never travel in a query).
    pub fn default_mode(self) -> ResponseMode {
        if self == Self::Code {
            ResponseMode::Query
        } else {
            ResponseMode::Fragment
        }
    }
}

wire_enum! {
    /// How the authorization response reaches the client (OAuth 2.0 Multiple Response Type
    /// Encoding Practices §2.1).
    ResponseMode {
        Query = "query",
        Fragment = "fragment",
        /// OAuth 2.0 Form Post Response Mode: a page that posts the response to the client.
        FormPost = "form_post",
        /// Auth0's silent authentication in a hidden iframe: a page that hands the response to
        /// the parent window with `postMessage`.
        WebMessage = "web_message",
    }
}

wire_enum! {
    /// Access token types (RFC 6749 §7.1, the `token_type` of token responses and
    /// introspection).
    TokenType {
        /// RFC 6750.
        Bearer = "Bearer",
        /// RFC 9449 §5: bound to the client's DPoP key.
        DPoP = "DPoP",
    }
}

wire_enum! {
    /// `prompt` values (OIDC Core §3.1.2.1).
    Prompt {
        None = "none",
        Login = "login",
        Consent = "consent",
        /// Accepted; there is one account per browser session, so nothing to select.
        SelectAccount = "select_account",
    }
}

/// The grant types a client gets when its record names none: the code flow with refresh.
pub const DEFAULT_GRANT_TYPES: [GrantType; 2] =
    [GrantType::AuthorizationCode, GrantType::RefreshToken];

/// A client identifier (RFC 6749 §2.2): 1–128 visible ASCII characters without `/` (it is part
/// of store keys and of `/oidc/register/{client_id}`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ClientId(String);

impl ClientId {
    pub fn parse(text: &str) -> Option<Self> {
        let ok = !text.is_empty()
            && text.len() <= 128
            && text.bytes().all(|b| b.is_ascii_graphic() && b != b'/');
        ok.then(|| Self(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for ClientId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).ok_or_else(|| {
            serde::de::Error::custom("client_id must be 1-128 visible ASCII characters without '/'")
        })
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for ClientId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for ClientId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// A set of scope tokens in request order, without repeats (RFC 6749 §3.3).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Scopes(Vec<String>);

/// Why a scope string was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScopeSyntaxError;

impl Scopes {
    /// Parses a space-separated scope string: tokens are %x21 / %x23-5B / %x5D-7E (RFC 6749
    /// §3.3); repeats are dropped.
    pub fn parse(text: Option<&str>) -> Result<Self, ScopeSyntaxError> {
        let mut scopes = Self::default();
        for token in text.unwrap_or("").split(' ').filter(|t| !t.is_empty()) {
            let valid = token
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
            if !valid {
                return Err(ScopeSyntaxError);
            }
            scopes.insert(token);
        }
        Ok(scopes)
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s == scope)
    }

    pub fn insert(&mut self, scope: &str) {
        if !self.contains(scope) {
            self.0.push(scope.to_string());
        }
    }

    /// Whether every scope here is also in `other`.
    pub fn is_subset_of(&self, other: &Scopes) -> bool {
        self.0.iter().all(|s| other.contains(s))
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The scopes kept by `keep`.
    pub fn filter(&self, mut keep: impl FnMut(&str) -> bool) -> Self {
        Self(self.0.iter().filter(|s| keep(s)).cloned().collect())
    }
}

impl fmt::Display for Scopes {
    /// The wire form: space-separated.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

impl<'a> FromIterator<&'a str> for Scopes {
    fn from_iter<I: IntoIterator<Item = &'a str>>(iter: I) -> Self {
        let mut scopes = Self::default();
        for s in iter {
            scopes.insert(s);
        }
        scopes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip_and_unknown_values_are_refused() {
        for g in GrantType::SUPPORTED {
            assert_eq!(GrantType::parse(g.as_str()), Some(*g));
            let json = serde_json::to_string(g).unwrap();
            assert_eq!(serde_json::from_str::<GrantType>(&json).unwrap(), *g);
        }
        assert_eq!(GrantType::parse("urn:ietf:params:oauth:grant-type:jwt-bearer"), None);
        assert!(serde_json::from_str::<GrantType>("\"urn:example:nope\"").is_err());
        assert_eq!(ResponseType::parse_set("token id_token"), Some(ResponseType::IdTokenToken));
        assert_eq!(
            ResponseType::parse_set("id_token  code token"),
            Some(ResponseType::CodeIdTokenToken)
        );
        assert_eq!(ResponseType::parse_set("token"), None, "a bare access token is not offered");
        assert_eq!(ResponseType::parse_set("code code"), None);
        assert!(serde_json::from_str::<AuthMethod>("\"client_secret_jwt\"").is_err());
        assert_eq!(AuthMethod::confidential().len(), 3);
        assert!(!AuthMethod::confidential().contains(&"none"));
    }

    #[test]
    fn client_ids_and_scopes() {
        assert!(ClientId::parse("a/b").is_none());
        assert!(ClientId::parse("").is_none());
        assert!(ClientId::parse(&"x".repeat(129)).is_none());
        assert!(serde_json::from_str::<ClientId>("\"a b\"").is_err());
        let s = Scopes::parse(Some("openid  read openid")).unwrap();
        assert_eq!(s.to_string(), "openid read");
        assert!(Scopes::parse(Some("a\"b")).is_err());
        assert!(Scopes::parse(Some("a\\b")).is_err());
        let wide: Scopes = ["openid", "read", "write"].into_iter().collect();
        assert!(s.is_subset_of(&wide));
        assert!(!wide.is_subset_of(&s));
    }
}
