//! From message keys to sensors: the JSON id (or binding key), MQTT topic filters and Ditto
//! thing + path, resolved once from the manifest so decoding a frame is a lookup.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::manifest::Manifest;

/// Lookup tables from what messages carry to sensor indices.
#[derive(Debug, Clone, Default)]
pub struct Bindings {
    /// Looked up once per JSON reading, so with a hash cheaper than SipHash (see [`KeyHasher`]).
    by_key: HashMap<String, usize, BuildHasherDefault<KeyHasher>>,
    /// Exact topics (no wildcards) are a hash lookup; filters are matched in order.
    by_topic: HashMap<String, Vec<usize>>,
    filters: Vec<(String, usize)>,
    by_ditto: HashMap<(String, String), usize>,
}

impl Bindings {
    /// Builds the tables for `manifest`'s sensors.
    pub fn from_manifest(manifest: &Manifest) -> Bindings {
        let mut b = Bindings::default();
        for (i, s) in manifest.sensors.iter().enumerate() {
            b.by_key
                .insert(s.binding.key.clone().unwrap_or_else(|| s.id.clone()), i);
            if let Some(t) = &s.binding.topic {
                if t.contains(['+', '#']) {
                    b.filters.push((t.clone(), i));
                } else {
                    b.by_topic.entry(t.clone()).or_default().push(i);
                }
            }
            if let (Some(thing), Some(path)) = (&s.binding.thing, &s.binding.path) {
                b.by_ditto
                    .insert((thing.clone(), normalize_path(path).to_owned()), i);
            }
        }
        b
    }

    /// The sensor a JSON reading's id names.
    pub fn by_key(&self, key: &str) -> Option<usize> {
        self.by_key.get(key).copied()
    }

    /// Sensors bound to an MQTT topic (exact topics and matching filters).
    pub fn by_topic(&self, topic: &str) -> Vec<usize> {
        let mut out = self.by_topic.get(topic).cloned().unwrap_or_default();
        out.extend(
            self.filters
                .iter()
                .filter(|(f, _)| topic_matches(f, topic))
                .map(|(_, i)| *i),
        );
        out
    }

    /// The sensor bound to a Ditto thing and path (`/features/x/properties/y` or without `/`).
    pub fn by_ditto(&self, thing: &str, path: &str) -> Option<usize> {
        self.by_ditto
            .get(&(thing.to_owned(), normalize_path(path).to_owned()))
            .copied()
    }

    /// Distinct MQTT topic filters to subscribe to, in a stable order.
    pub fn subscriptions(&self) -> Vec<String> {
        let mut topics: Vec<String> = self
            .by_topic
            .keys()
            .cloned()
            .chain(self.filters.iter().map(|(f, _)| f.clone()))
            .collect();
        topics.sort();
        topics.dedup();
        topics
    }

    /// Ditto thing ids with bound sensors.
    pub fn ditto_things(&self) -> Vec<String> {
        let mut things: Vec<String> = self.by_ditto.keys().map(|(t, _)| t.clone()).collect();
        things.sort();
        things.dedup();
        things
    }
}

/// A fast hash for sensor ids: 8 bytes per multiply, then a folded multiply to mix.
///
/// Not keyed, unlike the standard SipHash: the table holds only the manifest's ids, so a source
/// sending crafted ids can make a lookup collide with a manifest id (one extra comparison) but
/// cannot lengthen the table's probe chains.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyHasher(u64);

const K0: u64 = 0x9E37_79B9_7F4A_7C15;
const K1: u64 = 0xD6E8_FEB8_6659_FD93;

fn fold(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = fold(self.0 ^ bytes.len() as u64, K0);
        let mut rest = bytes;
        while let Some((word, tail)) = rest.split_first_chunk::<8>() {
            h = fold(h ^ u64::from_le_bytes(*word), K1);
            rest = tail;
        }
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            if let Some(w) = word.get_mut(..rest.len()) {
                w.copy_from_slice(rest);
            }
            h = fold(h ^ u64::from_le_bytes(word), K1);
        }
        self.0 = h;
    }

    fn write_u8(&mut self, i: u8) {
        self.0 = fold(self.0 ^ u64::from(i), K0);
    }

    fn finish(&self) -> u64 {
        fold(self.0, K1)
    }
}

fn normalize_path(p: &str) -> &str {
    p.trim_matches('/')
}

/// MQTT 3.1.1 §4.7 topic matching: `+` matches one level, a trailing `#` any number (including
/// none); topics starting with `$` are not matched by filters starting with a wildcard.
pub fn topic_matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && filter.starts_with(['+', '#']) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_follow_mqtt_rules() {
        assert!(topic_matches("a/+/c", "a/b/c"));
        assert!(!topic_matches("a/+/c", "a/b/d"));
        assert!(!topic_matches("a/+", "a/b/c"));
        assert!(topic_matches("a/#", "a"), "# also matches the parent level");
        assert!(topic_matches("a/#", "a/b/c"));
        assert!(topic_matches("#", "x/y"));
        assert!(!topic_matches("#", "$SYS/broker"));
        assert!(topic_matches("a/b", "a/b"));
        assert!(!topic_matches("a/b", "a/b/c"));
        assert!(topic_matches("+/+", "/x"), "empty levels are levels");
    }

    #[test]
    fn key_hash_spreads_similar_plant_ids() {
        use std::hash::BuildHasher;
        let build = BuildHasherDefault::<KeyHasher>::default();
        // 10,000 ids differing in a few digits, as generated plants name them: the low bits
        // (which pick the bucket) must still spread them.
        let mut buckets = vec![0u32; 1 << 14];
        let mask = buckets.len() as u64 - 1;
        for i in 0..10_000 {
            let id = format!("plant.u{:04}.s{}", i / 10, i % 10);
            if let Some(b) = buckets.get_mut((build.hash_one(id.as_str()) & mask) as usize) {
                *b += 1;
            }
        }
        let worst = buckets.iter().copied().max().unwrap_or(0);
        assert!(worst <= 8, "{worst} ids in one bucket");
        assert_ne!(build.hash_one("ab"), build.hash_one("ab\0"));
    }
}
