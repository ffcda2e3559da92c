//! The query API's request signing as Camlytics documents it: `X-Key` names
//! a key, `X-Sign` is the lower-case hex HMAC-SHA512, keyed with its secret,
//! of the request URI exactly as sent (path and query string, percent
//! encoding untouched); the query's `nonce` must exceed the key's last one;
//! one request a second per key. Pure: the time is passed in; the keys'
//! states live in the database (`store_api`), shared by every process.

use hmac::{Hmac, Mac};
use sha2::Sha512;

/// Why a request was refused before it was answered: with the other
/// refusals of the HTTP side, which give each its status and code.
pub use crate::error::Refusal;

/// Whether `sign` (hex, either case) is the HMAC-SHA512 of `uri` under
/// `secret`; compared in constant time.
pub fn sign_matches(secret: &[u8], uri: &str, sign: &str) -> bool {
    let Some(claimed) = decode_hex(sign.trim()) else {
        return false;
    };
    let mut mac = <Hmac<Sha512> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(uri.as_bytes());
    mac.verify_slice(&claimed).is_ok()
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() != 128 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| s.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok())).collect()
}

/// One key's memory: its last nonce and when it last got an answer (Unix
/// milliseconds: processes on several machines compare them, so the wall
/// clock, not a monotonic one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyState {
    pub last_nonce: Option<u64>,
    pub last_request_ms: Option<i64>,
}

impl KeyState {
    /// Admits a correctly signed request with `nonce` at `now_ms`. A signed
    /// request uses its nonce up even when refused as too soon, so the same
    /// signed URI never works twice. A request less than a second from the
    /// last answered one, before or after it, is too soon: after a clock
    /// step back of more than a second (or between processes whose clocks
    /// disagree by that much) the key is not locked out until the clock
    /// catches up.
    pub fn admit(&mut self, nonce: u64, now_ms: i64) -> Result<(), Refusal> {
        if let Some(last) = self.last_nonce {
            if nonce <= last {
                return Err(Refusal::StaleNonce { given: nonce, last });
            }
        }
        self.last_nonce = Some(nonce);
        if let Some(then) = self.last_request_ms {
            if now_ms.abs_diff(then) < 1000 {
                return Err(Refusal::RateLimited);
            }
        }
        self.last_request_ms = Some(now_ms);
        Ok(())
    }
}

/// The nonce query parameter's text to its value.
pub fn parse_nonce(text: Option<&str>) -> Result<u64, Refusal> {
    let text = text.ok_or(Refusal::MissingNonce)?;
    match text.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(Refusal::BadNonce(text.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The seed's own example: secret 'ehsd7485746548574' over the URI of its
    // PHP example; the expected X-Sign comes from Python's hmac at test time.
    const SEED_URI: &str = "/service/api/v1/events?location_id=32&nonce=154&since=2020-10-12T14%3A00%3A00Z";
    const MADE_UP_SIGN: &str = "bd9b7d2cdd0d5e1bd1d74ee0ac8a3ee6d5be8e0fe90a1ed47eb1f1c6fa20ab80dbc4d74b2d86ee12ed5e7db7df2c4bec0ca5d35fe4bb2c5ea4e4baba0f47b1a1";

    #[test]
    fn signature_over_the_uri_as_sent() {
        let expected = python_sha512(b"ehsd7485746548574", SEED_URI);
        assert!(sign_matches(b"ehsd7485746548574", SEED_URI, &expected));
        assert!(sign_matches(b"ehsd7485746548574", SEED_URI, &expected.to_ascii_uppercase()));
        // The same query decoded, or with another secret, does not match.
        assert!(!sign_matches(b"ehsd7485746548574", "/service/api/v1/events?location_id=32&nonce=154&since=2020-10-12T14:00:00Z", &expected));
        assert!(!sign_matches(b"other", SEED_URI, &expected));
        assert!(!sign_matches(b"ehsd7485746548574", SEED_URI, MADE_UP_SIGN), "a made-up hex string");
        assert!(!sign_matches(b"ehsd7485746548574", SEED_URI, "abc"));
        assert!(!sign_matches(b"ehsd7485746548574", SEED_URI, &"zz".repeat(64)));
    }

    fn python_sha512(key: &[u8], msg: &str) -> String {
        let out = std::process::Command::new("python3")
            .args(["-c", "import hashlib, hmac, sys; print(hmac.new(sys.argv[1].encode(), sys.argv[2].encode(), hashlib.sha512).hexdigest())"])
            .arg(std::str::from_utf8(key).unwrap())
            .arg(msg)
            .output()
            .expect("python3");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    #[test]
    fn nonces_increase_and_one_request_a_second() {
        let mut k = KeyState::default();
        assert_eq!(k.admit(154, 10_000), Ok(()));
        assert_eq!(k.admit(154, 20_000), Err(Refusal::StaleNonce { given: 154, last: 154 }));
        assert_eq!(k.admit(100, 20_000), Err(Refusal::StaleNonce { given: 100, last: 154 }));
        assert_eq!(k.admit(155, 10_999), Err(Refusal::RateLimited));
        assert_eq!(k.admit(155, 11_000), Err(Refusal::StaleNonce { given: 155, last: 155 }), "used up by the refused request");
        assert_eq!(k.admit(156, 11_000), Ok(()));
        // The clock stepped back: by less than a second, still too soon; by
        // more, answered.
        assert_eq!(k.admit(157, 10_100), Err(Refusal::RateLimited));
        assert_eq!(k.admit(158, 9_999), Ok(()));
    }

    #[test]
    fn nonce_text() {
        assert_eq!(parse_nonce(Some("1606000000")), Ok(1_606_000_000));
        assert_eq!(parse_nonce(None), Err(Refusal::MissingNonce));
        for bad in ["", "0", "-1", "1.5", "abc", "99999999999999999999"] {
            assert_eq!(parse_nonce(Some(bad)), Err(Refusal::BadNonce(bad.to_string())));
        }
    }

}
