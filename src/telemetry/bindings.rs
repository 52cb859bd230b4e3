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
    /// Every sensor's key in manifest order, so a guessed sensor is checked without the table
    /// (see [`by_key_in_order`](Self::by_key_in_order)).
    keys: KeyList,
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
            let key = s.binding.key.as_deref().unwrap_or(&s.id);
            b.keys.text.push_str(key);
            b.keys.ends.push(b.keys.text.len());
            b.by_key.insert(key.to_owned(), i);
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
        // Two sensors may share a key (a binding key equal to another sensor's id): the
        // table keeps the last, and a guess must give what the table gives.
        b.keys.owner = (0..b.keys.ends.len())
            .map(|i| b.keys.get(i).and_then(|k| b.by_key(k)).unwrap_or(i))
            .collect();
        b
    }

    /// The sensor a JSON reading's id names.
    pub fn by_key(&self, key: &str) -> Option<usize> {
        self.by_key.get(key).copied()
    }

    /// [`by_key`](Self::by_key), trying first the sensor that followed the previous reading's
    /// sensor last time (`order` learns it). Sources send their readings in much the same
    /// order frame after frame, so most ids are confirmed by one comparison with a key stored
    /// next to its neighbours, instead of a probe into a table the size of the plant.
    pub fn by_key_in_order(&self, key: &str, order: &mut KeyOrder) -> Option<usize> {
        let guess = order.guess();
        if let Some(g) = guess
            && self
                .keys
                .get(g)
                .is_some_and(|k| same(k.as_bytes(), key.as_bytes()))
            && let Some(&owner) = self.keys.owner.get(g)
        {
            order.advance(None, owner);
            return Some(owner);
        }
        let found = self.by_key(key)?;
        order.advance(Some(found), found);
        Some(found)
    }

    /// A fresh [`KeyOrder`] for these sensors, guessing manifest order until it learns better.
    pub fn key_order(&self) -> KeyOrder {
        KeyOrder::new(self.keys.ends.len())
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

/// Sensor keys stored end to end in manifest order.
#[derive(Debug, Clone, Default)]
struct KeyList {
    text: String,
    /// End of sensor `i`'s key in `text`; it starts at the previous one's end.
    ends: Vec<usize>,
    /// The sensor [`Bindings::by_key`] gives for sensor `i`'s key (`i` unless shared).
    owner: Vec<usize>,
}

impl KeyList {
    fn get(&self, i: usize) -> Option<&str> {
        let start = match i.checked_sub(1) {
            None => 0,
            Some(before) => *self.ends.get(before)?,
        };
        self.text.get(start..*self.ends.get(i)?)
    }
}

/// Which sensor followed which in the readings so far: the guesses of
/// [`Bindings::by_key_in_order`]. A hint only: a wrong or stale guess costs one comparison,
/// never a wrong answer, so it needs no reset when the source changes its order.
#[derive(Debug, Clone, Default)]
pub struct KeyOrder {
    /// The previous reading's sensor (`next.len() - 1` before the first reading).
    prev: usize,
    /// `next[i]`: the sensor that followed sensor `i` last time (at first `i + 1`); the last
    /// entry is for the first reading.
    next: Vec<u32>,
}

impl KeyOrder {
    fn new(sensors: usize) -> KeyOrder {
        let mut next: Vec<u32> = (1..=sensors)
            .map(|i| u32::try_from(i).unwrap_or(u32::MAX))
            .collect();
        next.push(0);
        KeyOrder {
            prev: sensors,
            next,
        }
    }

    fn guess(&self) -> Option<usize> {
        self.next.get(self.prev).map(|&g| g as usize)
    }

    /// The reading after `prev` was `sensor`; `learnt` when the guess was wrong.
    fn advance(&mut self, learnt: Option<usize>, sensor: usize) {
        if let Some(s) = learnt
            && let Ok(s) = u32::try_from(s)
            && let Some(n) = self.next.get_mut(self.prev)
        {
            *n = s;
        }
        if sensor < self.next.len() {
            self.prev = sensor;
        }
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

/// Whether two short strings (ids, member names) are equal, compared in place: for a few
/// bytes a call to `memcmp` costs more than the comparison.
#[inline(always)]
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while let (Some(x), Some(y)) = (a.get(i), b.get(i)) {
        if x != y {
            return false;
        }
        i += 1;
    }
    true
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

    /// Sensors `a`, `b` (bound by key `a`, the id of the first), `c` and `d`.
    fn shared_key_bindings() -> Bindings {
        let doc = serde_json::json!({
            "name": "T", "model": { "url": "m.glb" },
            "sensors": [
                { "id": "a", "name": "A", "node": "N" },
                { "id": "b", "name": "B", "node": "N", "binding": { "key": "a" } },
                { "id": "c", "name": "C", "node": "N" },
                { "id": "d", "name": "D", "node": "N", "binding": { "key": "plant.u0001.s7" } }
            ]
        });
        match Manifest::parse(doc.to_string().as_bytes(), "t.json") {
            Ok(m) => Bindings::from_manifest(&m),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn lookup_in_order_gives_what_the_table_gives_in_any_order() {
        let b = shared_key_bindings();
        let ids = [
            "a",
            "b",
            "c",
            "d",
            "plant.u0001.s7",
            "",
            "ghost",
            "plant.u0001.s",
            "A",
        ];
        let mut order = b.key_order();
        // Every id after every other, twice, so each guess is tried both right and wrong.
        for _ in 0..2 {
            for first in ids {
                for then in ids {
                    for id in [first, then] {
                        assert_eq!(b.by_key_in_order(id, &mut order), b.by_key(id), "{id}");
                    }
                }
            }
        }
        assert_eq!(
            b.by_key("a"),
            Some(1),
            "the later sensor keeps a shared key"
        );
        assert_eq!(b.by_key("b"), None);
        // A hint from other bindings is only a hint.
        let mut foreign = KeyOrder::new(1000);
        for id in ids {
            assert_eq!(b.by_key_in_order(id, &mut foreign), b.by_key(id), "{id}");
        }
        let mut empty = KeyOrder::default();
        assert_eq!(b.by_key_in_order("c", &mut empty), Some(2));
    }

    #[test]
    fn lookup_in_order_learns_the_order_of_the_source() {
        let b = shared_key_bindings();
        let mut order = b.key_order();
        assert_eq!(order.guess(), Some(0), "manifest order at first");
        for id in ["c", "plant.u0001.s7", "a"] {
            assert!(b.by_key_in_order(id, &mut order).is_some());
        }
        // c → d → b (key "a") learnt: the same sequence is now guessed right throughout.
        for (id, sensor) in [("c", 2), ("plant.u0001.s7", 3), ("a", 1)] {
            assert_eq!(
                order.guess().and_then(|g| b.keys.owner.get(g).copied()),
                Some(sensor)
            );
            assert_eq!(b.by_key_in_order(id, &mut order), Some(sensor));
        }
    }

    #[test]
    fn short_strings_compare_like_slices() {
        for (x, y) in [
            ("", ""),
            ("a", "a"),
            ("a", "b"),
            ("ab", "a"),
            ("plant.u0001.s7", "plant.u0001.s7"),
            ("plant.u0001.s7", "plant.u0001.s8"),
        ] {
            assert_eq!(same(x.as_bytes(), y.as_bytes()), x == y, "{x} {y}");
        }
    }
}
