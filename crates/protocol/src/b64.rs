//! base64url without padding (RFC 7515 §2, "Base64url Encoding"; RFC 4648 §5).
//!
//! Written here rather than taken from the `base64` crate: the crate's engine is a third of the
//! browser package's wasm (issue 13), and these forty lines are all JOSE needs. The tests check
//! it against the crate, byte for byte, on every length and on refused inputs.

use alloc::string::String;
use alloc::vec::Vec;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn symbol(six_bits: u32) -> char {
    // `six_bits` is masked to 0..64, so the lookup cannot miss.
    ALPHABET.get((six_bits & 63) as usize).map_or('A', |&b| char::from(b))
}

fn value(symbol: u8) -> Option<u32> {
    let v = match symbol {
        b'A'..=b'Z' => symbol - b'A',
        b'a'..=b'z' => symbol - b'a' + 26,
        b'0'..=b'9' => symbol - b'0' + 52,
        b'-' => 62,
        b'_' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// Encodes bytes as base64url without padding.
pub fn encode(bytes: impl AsRef<[u8]>) -> String {
    let bytes = bytes.as_ref();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let (a, b, c) = match *chunk {
            [a, b, c] => (a, b, c),
            [a, b] => (a, b, 0),
            [a] => (a, 0, 0),
            _ => continue,
        };
        let n = u32::from(a) << 16 | u32::from(b) << 8 | u32::from(c);
        // One input byte makes two symbols, two make three, three make four.
        for i in 0..=chunk.len() {
            out.push(symbol(n >> (18 - 6 * i)));
        }
    }
    out
}

/// Decodes base64url without padding; padding, whitespace and the `+`/`/` alphabet are refused,
/// as are a length of 1 mod 4 and non-canonical trailing bits (RFC 7515 §2 and Appendix C,
/// RFC 4648 §3.5).
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 2);
    for chunk in text.as_bytes().chunks(4) {
        let mut n = 0u32;
        for &s in chunk {
            n = n << 6 | value(s)?;
        }
        match chunk.len() {
            4 => out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]),
            // Two symbols carry one byte and four spare bits, which must be zero.
            3 if n & 0b11 == 0 => out.extend_from_slice(&[(n >> 10) as u8, (n >> 2) as u8]),
            2 if n & 0b1111 == 0 => out.push((n >> 4) as u8),
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    #[test]
    fn rfc7515_appendix_c() {
        // RFC 7515 Appendix C: the octets 3, 236, 255, 224, 193 encode to "A-z_4ME".
        assert_eq!(encode([3u8, 236, 255, 224, 193]), "A-z_4ME");
        assert_eq!(decode("A-z_4ME").as_deref(), Some(&[3u8, 236, 255, 224, 193][..]));
        assert_eq!(decode("A-z_4ME="), None, "padding is refused");
        assert_eq!(decode("A+z/4ME"), None, "the standard alphabet is refused");
        assert_eq!(decode("A-z_4MF"), None, "non-canonical trailing bits are refused");
        assert_eq!(decode("A-z_4 ME"), None, "whitespace is refused");
        assert_eq!(decode("A"), None, "a length of 1 mod 4 is refused");
        assert_eq!(decode("").as_deref(), Some(&[][..]));
    }

    /// The `base64` crate's URL_SAFE_NO_PAD engine (which the core used before) is the reference.
    #[test]
    fn agrees_with_the_base64_crate() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for len in 0..200 {
            let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let ours = encode(&bytes);
            assert_eq!(ours, URL_SAFE_NO_PAD.encode(&bytes), "{len}");
            assert_eq!(decode(&ours).as_deref(), Some(&bytes[..]), "{len}");
        }
        // Every string of up to three symbols over the alphabet, '=' and '+', and 50,000 random
        // ones of up to twelve: the same accepted, the same refused, the same bytes.
        let symbols: Vec<char> =
            (ALPHABET.iter().map(|&b| char::from(b))).chain(['=', '+']).collect();
        let mut texts: Vec<String> = Vec::from([String::new()]);
        for _ in 0..3 {
            let longer: Vec<String> = texts
                .iter()
                .filter(|t| t.len() == texts.last().map_or(0, String::len))
                .flat_map(|t| symbols.iter().map(move |s| alloc::format!("{t}{s}")))
                .collect();
            texts.extend(longer);
        }
        for _ in 0..50_000 {
            let len = (next() % 13) as usize;
            texts.push(
                (0..len).map(|_| symbols[(next() % symbols.len() as u64) as usize]).collect(),
            );
        }
        for t in &texts {
            assert_eq!(decode(t), URL_SAFE_NO_PAD.decode(t).ok(), "{t:?}");
        }
    }
}
