//! Hash maps of one request's keys (a `/write` body's series, the types of its fields, a
//! device's channels): looked up once a line or once a value, where std's SipHash cost several
//! percent of the host's CPU for 1000-line bodies.

use std::hash::BuildHasher;

/// foldhash (hashbrown's own default hasher), keyed with std's random keys so that keys chosen
/// to collide cannot make a request cost more than its size.
pub type Keyed = foldhash::fast::SeedableRandomState;

/// A [`Keyed`] hasher with fresh random keys.
pub fn keyed() -> Keyed {
    let seed = std::collections::hash_map::RandomState::new().hash_one(0u8);
    Keyed::with_seed(seed, foldhash::SharedSeed::global_random())
}

/// A map of [`Keyed`] hashing.
pub type KeyedMap<K, V> = std::collections::HashMap<K, V, Keyed>;

/// An empty [`KeyedMap`].
pub fn keyed_map<K, V>() -> KeyedMap<K, V> {
    KeyedMap::with_hasher(keyed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_map_has_its_own_keys() {
        let (a, b) = (keyed(), keyed());
        assert_ne!(a.hash_one("cpu,host=a"), b.hash_one("cpu,host=a"));
        assert_eq!(a.hash_one("cpu,host=a"), a.hash_one("cpu,host=a"));
    }
}
