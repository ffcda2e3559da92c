//! A client's id outside the server (the query API's `object_id`, the
//! webhooks' events) when its network does not allow raw MACs. Pure, and
//! below both of its users, so that neither imports the other.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A client's id in the API when its network does not allow raw MACs: the
/// first 64 bits of a keyed hash of the MAC, stable for as long as `key`
/// is (the network's report key), not reversible without it.
pub fn pseudonym(key: &[u8], mac: &str) -> String {
    let mut mac_hash = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac_hash.update(b"presenced object id\0");
    mac_hash.update(mac.to_ascii_lowercase().as_bytes());
    mac_hash.finalize().into_bytes()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_keyed_and_case_blind() {
        let a = pseudonym(b"k1", "00:9A:CD:E3:15:49");
        assert_eq!(a, pseudonym(b"k1", "00:9a:cd:e3:15:49"));
        assert_ne!(a, pseudonym(b"k2", "00:9a:cd:e3:15:49"));
        assert_eq!(a.len(), 16);
        assert!(!a.contains("9a:cd"));
    }
}
