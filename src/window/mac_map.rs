//! A hash map from client MAC to a small `Copy` value: the rows of a window.
//!
//! The MACs come from the air: anyone can send probe requests from addresses
//! of their choosing. So the hash is keyed with a secret drawn per map, and a
//! sender who does not know it cannot pick addresses that collide. It is not
//! SipHash, which cost 265 instructions a frame, a third of presenced's own
//! work: a MAC is one 48-bit number, and two folded 64x64->128-bit multiplies
//! of it, with the key mixed in before the first and as its multiplier (the
//! core of wyhash and foldhash), spread it over all 64 bits for a few
//! instructions.
//!
//! Why not std's `HashMap` (hashbrown): its lookup, with SSE2 group probing,
//! tag bytes and a generic key compare, cost about 60 instructions a frame at
//! opt-level "z", a fifth of presenced's own work. A MAC fits in a `u64`
//! with room for a marker no MAC can have, so this map is an array of those
//! `u64` keys probed linearly, beside an array of values: a lookup that hits
//! its first slot is a hash, one load and one compare. The map only grows and
//! is emptied whole (`drain`), which is all a window needs, so there are no
//! tombstones. At most five eighths of the slots are used, so a probe always
//! ends at an empty slot, after about two slots on average for a hit. Five
//! eighths is the most that still keeps 10,000 clients in 16,384 slots and
//! presenced's cap of 20,000 in 32,768: more load would save no memory there.

use std::hash::BuildHasher;

use crate::wire::mac::MacAddr;

/// The secret of a map's hash: two 64-bit words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashKey(pub [u64; 2]);

impl HashKey {
    /// A key nobody outside this process knows: drawn from std's
    /// `RandomState`, which std seeds from the kernel's random source.
    pub fn random() -> HashKey {
        let state = std::collections::hash_map::RandomState::new();
        HashKey([state.hash_one(0x7072_6573_656e_6365_u64), state.hash_one(0x6b65_7973_u64)])
    }

    /// The hash of one MAC, as its `u64` (`MacAddr::to_u64`).
    #[inline(always)]
    pub fn hash(&self, mac: u64) -> u64 {
        // Two rounds: one folded multiply maps addresses that differ only in
        // their high bytes (a flood of sequential MACs) linearly onto the low
        // bits that pick a slot; the second mixes those into everything.
        // The multiplier must not be zero; `| 1` keeps it odd as well.
        let once = folded_multiply(mac ^ self.0[0], self.0[1] | 1);
        folded_multiply(once ^ self.0[0].rotate_left(32), 0x9e37_79b9_7f4a_7c15)
    }
}

#[inline(always)]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let product = a as u128 * b as u128;
    (product as u64) ^ ((product >> 64) as u64)
}

/// No MAC: `to_u64` of six bytes leaves the top two bytes zero.
const EMPTY: u64 = u64::MAX;

/// 256 slots (2 KiB of keys and 256 rows): a venue's few dozen clients
/// then sit at a load of a tenth, where a hit is almost always in its first
/// slot whatever the random key; at 16 the map grew to 64 slots for 24
/// clients and the cost per frame moved by a few instructions with the key
/// (callgrind on `make bench`'s three-words file: 153-158/frame, now 153-154).
const INITIAL_SLOTS: usize = 256;

#[derive(Clone, Debug)]
pub struct MacMap<V> {
    /// `MacAddr::to_u64` of each slot's MAC, or EMPTY. Its length is a power
    /// of two.
    keys: Vec<u64>,
    /// The value of each slot; those of empty slots are stale.
    values: Vec<V>,
    len: usize,
    hash_key: HashKey,
}

impl<V: Copy + Default> MacMap<V> {
    pub fn with_hash_key(hash_key: HashKey) -> Self {
        MacMap {
            keys: vec![EMPTY; INITIAL_SLOTS],
            values: vec![V::default(); INITIAL_SLOTS],
            len: 0,
            hash_key,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// In line: it runs for every frame.
    #[inline(always)]
    pub fn get_mut(&mut self, mac: MacAddr) -> Option<&mut V> {
        match self.find(mac.to_u64()) {
            Ok(slot) => self.values.get_mut(slot),
            Err(_) => None,
        }
    }

    /// Adds a MAC that `get_mut` did not find; a MAC already present gets
    /// the new value.
    pub fn insert(&mut self, mac: MacAddr, value: V) {
        // Grow before the load passes five eighths (see the module doc).
        if (self.len + 1) * 8 > self.keys.len() * 5 {
            self.grow();
        }
        let key = mac.to_u64();
        match self.find(key) {
            Ok(slot) => {
                if let Some(v) = self.values.get_mut(slot) {
                    *v = value;
                }
            }
            Err(slot) => {
                if let (Some(k), Some(v)) = (self.keys.get_mut(slot), self.values.get_mut(slot)) {
                    *k = key;
                    *v = value;
                    self.len += 1;
                }
            }
        }
    }

    /// Every entry, in no order; the map is left empty with its slots kept,
    /// so that a steady population of clients does not reallocate each
    /// window.
    pub fn drain(&mut self) -> Vec<(MacAddr, V)> {
        let mut out = Vec::with_capacity(self.len);
        for (key, value) in self.keys.iter_mut().zip(&self.values) {
            if *key != EMPTY {
                let b = key.to_le_bytes();
                out.push((MacAddr([b[0], b[1], b[2], b[3], b[4], b[5]]), *value));
                *key = EMPTY;
            }
        }
        self.len = 0;
        out
    }

    /// `Ok(slot)` holding `key`, or `Err(slot)`: the empty slot where the
    /// probe ended.
    #[inline(always)]
    fn find(&self, key: u64) -> Result<usize, usize> {
        let mask = self.keys.len() - 1;
        let mut slot = self.hash_key.hash(key) as usize & mask;
        // Bounded: at most five eighths of the slots are full. The `get`
        // never fails (slot <= mask), and ending there would only miss.
        for _ in 0..self.keys.len() {
            match self.keys.get(slot) {
                Some(&k) if k == key => return Ok(slot),
                Some(&EMPTY) | None => return Err(slot),
                Some(_) => slot = (slot + 1) & mask,
            }
        }
        Err(slot)
    }

    #[inline(never)]
    fn grow(&mut self) {
        let slots = self.keys.len() * 2;
        let old_keys = std::mem::replace(&mut self.keys, vec![EMPTY; slots]);
        let old_values = std::mem::replace(&mut self.values, vec![V::default(); slots]);
        for (key, value) in old_keys.into_iter().zip(old_values) {
            if key == EMPTY {
                continue;
            }
            if let Err(slot) = self.find(key) {
                if let (Some(k), Some(v)) = (self.keys.get_mut(slot), self.values.get_mut(slot)) {
                    *k = key;
                    *v = value;
                }
            }
        }
    }

    /// The longest run of slots a lookup walks: what a flood of chosen MACs
    /// would try to lengthen.
    #[cfg(test)]
    fn longest_probe(&self) -> usize {
        let mask = self.keys.len() - 1;
        let mut longest = 0;
        for (at, &key) in self.keys.iter().enumerate() {
            if key != EMPTY {
                let home = self.hash_key.hash(key) as usize & mask;
                longest = longest.max(((at + self.keys.len() - home) & mask) + 1);
            }
        }
        longest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(i: u32) -> MacAddr {
        let b = i.to_be_bytes();
        MacAddr([0x02, 0, b[0], b[1], b[2], b[3]])
    }

    /// Two keys give unrelated hashes of the same MACs, and one key hashes
    /// MACs that differ in one bit to values that differ in about half their
    /// bits: no structure of the addresses survives into slot choice.
    #[test]
    fn the_hash_depends_on_the_key_and_spreads_every_bit() {
        let (k1, k2) = (HashKey([0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210]), HashKey([7, 11]));
        let base = MacAddr([0x02, 0, 0, 0, 0, 0]);
        let hash = |key: HashKey, m: MacAddr| key.hash(m.to_u64());
        assert_ne!(hash(k1, base), hash(k2, base));
        let mut total_flips = 0;
        for bit in 0..48 {
            let mut b = base.0;
            b[bit / 8] ^= 1 << (bit % 8);
            let flips = (hash(k1, base) ^ hash(k1, MacAddr(b))).count_ones();
            assert!((8..=56).contains(&flips), "bit {bit}: {flips} of 64 bits changed");
            total_flips += flips;
        }
        // 48 single-bit changes, about 32 output bits each.
        assert!((26 * 48..=38 * 48).contains(&total_flips), "{total_flips}");
        // Sequential MACs (a flood) fill the slots of a 16384-slot table evenly.
        let mut buckets = vec![0u32; 1 << 14];
        for i in 0..(1u32 << 16) {
            buckets[(hash(k1, mac(i)) & 0x3fff) as usize] += 1;
        }
        assert!(buckets.iter().all(|&n| n <= 16), "max {}", buckets.iter().max().unwrap());
        assert_ne!(HashKey::random(), HashKey::random());
    }

    /// Checked against a second, naive map (a sorted `Vec`): every value
    /// found, nothing found that was not put in, through several growths
    /// and drains.
    #[test]
    fn finds_what_was_inserted_and_nothing_else_across_growth_and_drain() {
        let mut map: MacMap<u32> = MacMap::with_hash_key(HashKey([3, 5]));
        for round in 0..3u32 {
            let mut naive: Vec<(MacAddr, u32)> = Vec::new();
            for i in 0..5000u32 {
                // Every third MAC comes back: an update, not a new entry.
                let m = mac((i * 7919 + round) % 3000);
                match map.get_mut(m) {
                    Some(v) => *v += 1,
                    None => map.insert(m, 1),
                }
                match naive.iter_mut().find(|(k, _)| *k == m) {
                    Some((_, v)) => *v += 1,
                    None => naive.push((m, 1)),
                }
            }
            assert_eq!(map.len(), naive.len());
            for (m, v) in &naive {
                assert_eq!(map.get_mut(*m).copied(), Some(*v), "{m}");
            }
            assert_eq!(map.get_mut(mac(1 << 30)), None);
            let mut drained = map.drain();
            drained.sort();
            naive.sort();
            assert_eq!(drained, naive);
            assert!(map.is_empty());
            assert_eq!(map.get_mut(naive[0].0), None);
        }
        // Inserting a MAC that is present replaces its value.
        map.insert(mac(1), 5);
        map.insert(mac(1), 6);
        assert_eq!((map.len(), map.get_mut(mac(1)).copied()), (1, Some(6)));
    }

    /// A flood of sequential MACs up to presenced's client cap keeps every
    /// lookup short: with a keyed hash linear probing stays near its
    /// expected run lengths (a few slots at five eighths full); an
    /// unkeyed identity hash of the same flood would put them in one run.
    #[test]
    fn a_sequential_flood_keeps_probes_short() {
        let mut map: MacMap<u8> = MacMap::with_hash_key(HashKey::random());
        for i in 0..20_000 {
            map.insert(mac(i), 0);
        }
        assert_eq!(map.len(), 20_000);
        let longest = map.longest_probe();
        assert!(longest <= 200, "a lookup walks {longest} slots");
    }
}
