//! `application/x-www-form-urlencoded` (the WHATWG URL Standard's serializer, which RFC 6749
//! Appendix B names): authorization request URLs and token request bodies.

use alloc::string::String;

/// Serialises name/value pairs, in order.
pub fn encode<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        serializer.append_pair(name, value);
    }
    serializer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_as_the_url_standard_does() {
        // Space becomes '+', '*-._' and alphanumerics stay, everything else is %XX (UTF-8).
        assert_eq!(
            encode([("a b", "x+y/z?&="), ("n", "*-._~✓")]),
            "a+b=x%2By%2Fz%3F%26%3D&n=*-._%7E%E2%9C%93"
        );
        assert_eq!(encode([]), "");
    }
}
