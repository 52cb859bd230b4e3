//! From message keys to sensors: the JSON id (or binding key), MQTT topic filters and Ditto
//! thing + path, resolved once from the manifest so decoding a frame is a lookup.

use std::collections::HashMap;

use crate::manifest::Manifest;

/// Lookup tables from what messages carry to sensor indices.
#[derive(Debug, Clone, Default)]
pub struct Bindings {
    by_key: HashMap<String, usize>,
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
}
