//! A flat, reusable parse of one JSON frame, so decoding a frame of readings allocates nothing
//! per reading: strings are borrowed from the frame text, objects and arrays are runs of nodes
//! in one buffer kept between frames. [`JsonNode`] lets the adapters read it and a
//! `serde_json::Value` the same way, so both give the same values and the same errors.
//!
//! serde_json still does the parsing (through a [`DeserializeSeed`]), so what is accepted and
//! every syntax error message are exactly those of `serde_json::from_str`.

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value as Json};

/// Nodes kept between frames; a larger frame's buffer is freed after use, so one huge frame
/// does not hold its memory for the rest of the session (24 bytes a node: 3 MiB).
const RETAIN_NODES: usize = 1 << 17;
/// Bytes of unescaped text kept between frames.
const RETAIN_SCRATCH: usize = 1 << 16;

/// Read access to a JSON value, implemented by `&serde_json::Value` and [`Node`].
pub trait JsonNode<'a>: Copy {
    /// "null", "a boolean", "a number", "text", "an array", "an object", for messages.
    fn kind(self) -> &'static str;
    /// The text, if it is a string.
    fn as_str(self) -> Option<&'a str>;
    /// The number, if it is one.
    fn as_number(self) -> Option<&'a Number>;
    /// The boolean, if it is one.
    fn as_bool(self) -> Option<bool>;
    /// Whether it is null.
    fn is_null(self) -> bool;
    /// Whether it is an object or an array.
    fn is_container(self) -> bool;
    /// The member `key` of an object (the last one when a key repeats, as serde_json keeps).
    fn member(self, key: &str) -> Option<Self>;
    /// Element `i` of an array.
    fn element(self, i: usize) -> Option<Self>;
}

impl<'a> JsonNode<'a> for &'a Json {
    fn kind(self) -> &'static str {
        super::time::json_kind(self)
    }
    fn as_str(self) -> Option<&'a str> {
        Json::as_str(self)
    }
    fn as_number(self) -> Option<&'a Number> {
        match self {
            Json::Number(n) => Some(n),
            _ => None,
        }
    }
    fn as_bool(self) -> Option<bool> {
        Json::as_bool(self)
    }
    fn is_null(self) -> bool {
        Json::is_null(self)
    }
    fn is_container(self) -> bool {
        matches!(self, Json::Object(_) | Json::Array(_))
    }
    fn member(self, key: &str) -> Option<Self> {
        match self {
            Json::Object(map) => map.get(key),
            _ => None,
        }
    }
    fn element(self, i: usize) -> Option<Self> {
        match self {
            Json::Array(items) => items.get(i),
            _ => None,
        }
    }
}

/// One parsed frame's nodes, in document order; reused from frame to frame.
#[derive(Debug, Clone, Default)]
pub struct Tape {
    nodes: Vec<Entry>,
    /// Unescaped copies of the strings that had escapes (the rest are borrowed).
    scratch: String,
}

#[derive(Debug, Clone)]
enum Entry {
    Null,
    Bool(bool),
    Number(Number),
    Str(Span),
    /// `len` elements follow; `end` is the index after the last node of the array.
    Array {
        end: u32,
        len: u32,
    },
    /// Key (a `Str`) and value pairs follow; `end` as for arrays.
    Object {
        end: u32,
    },
}

#[derive(Debug, Clone, Copy)]
struct Span {
    start: u32,
    len: u32,
    /// In the tape's scratch text rather than the frame text.
    scratch: bool,
}

impl Tape {
    /// An empty tape.
    pub fn new() -> Tape {
        Tape::default()
    }

    /// Parses `text` (the whole of it: trailing characters are an error, as with
    /// `serde_json::from_str`) and returns its root.
    pub fn parse<'a>(&'a mut self, text: &'a str) -> Result<Node<'a>, serde_json::Error> {
        self.nodes.clear();
        self.scratch.clear();
        // Offsets are u32 (half the tape's size); nodes and unescaped text never outnumber the
        // frame's bytes, so this one check covers every offset.
        if u32::try_from(text.len()).is_err() {
            return Err(de::Error::custom("frames over 4 GiB are not read"));
        }
        let mut de = serde_json::Deserializer::from_str(text);
        Seed {
            nodes: &mut self.nodes,
            scratch: &mut self.scratch,
            text,
        }
        .deserialize(&mut de)?;
        de.end()?;
        Ok(Node {
            tape: self,
            text,
            at: 0,
        })
    }

    /// Frees the buffers when one frame made them unusually large.
    pub fn trim(&mut self) {
        if self.nodes.capacity() > RETAIN_NODES {
            self.nodes = Vec::new();
        }
        if self.scratch.capacity() > RETAIN_SCRATCH {
            self.scratch = String::new();
        }
    }

    /// Heap bytes held between frames.
    pub fn memory_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Entry>() + self.scratch.capacity()
    }
}

/// A value in a parsed [`Tape`].
#[derive(Debug, Clone, Copy)]
pub struct Node<'a> {
    tape: &'a Tape,
    text: &'a str,
    at: usize,
}

impl<'a> Node<'a> {
    #[inline]
    fn entry(self) -> Option<&'a Entry> {
        self.tape.nodes.get(self.at)
    }

    /// Index after this value's last node.
    #[inline]
    fn end(self) -> usize {
        match self.entry() {
            Some(Entry::Array { end, .. } | Entry::Object { end }) => *end as usize,
            _ => self.at + 1,
        }
    }

    #[inline]
    fn at(self, at: usize) -> Node<'a> {
        Node { at, ..self }
    }

    #[inline]
    fn text_of(self, span: Span) -> &'a str {
        let source = if span.scratch {
            self.tape.scratch.as_str()
        } else {
            self.text
        };
        let start = span.start as usize;
        source.get(start..start + span.len as usize).unwrap_or("")
    }

    /// The elements of an array (nothing for other values).
    pub fn elements(self) -> impl Iterator<Item = Node<'a>> {
        let end = match self.entry() {
            Some(Entry::Array { end, .. }) => *end as usize,
            _ => self.at + 1,
        };
        let mut next = self.at + 1;
        std::iter::from_fn(move || {
            (next < end).then(|| {
                let n = self.at(next);
                next = n.end();
                n
            })
        })
    }

    /// The members of an object as `(key, value)`, in document order, repeated keys included
    /// (nothing for other values).
    pub fn members(self) -> impl Iterator<Item = (&'a str, Node<'a>)> {
        let end = match self.entry() {
            Some(Entry::Object { end }) => *end as usize,
            _ => self.at + 1,
        };
        let mut next = self.at + 1;
        std::iter::from_fn(move || {
            (next < end).then(|| {
                let (k, v) = (self.at(next), self.at(next + 1));
                next = v.end();
                (k.as_str().unwrap_or(""), v)
            })
        })
    }

    /// Whether it is an object.
    pub fn is_object(self) -> bool {
        matches!(self.entry(), Some(Entry::Object { .. }))
    }

    /// Whether it is an array.
    pub fn is_array(self) -> bool {
        matches!(self.entry(), Some(Entry::Array { .. }))
    }

    /// Number of elements of an array (0 for other values).
    pub fn len(self) -> usize {
        match self.entry() {
            Some(Entry::Array { len, .. }) => *len as usize,
            _ => 0,
        }
    }

    /// Whether it has no elements (an empty array, or any value that is not an array).
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
}

impl<'a> JsonNode<'a> for Node<'a> {
    fn kind(self) -> &'static str {
        match self.entry() {
            Some(Entry::Null) | None => "null",
            Some(Entry::Bool(_)) => "a boolean",
            Some(Entry::Number(_)) => "a number",
            Some(Entry::Str(_)) => "text",
            Some(Entry::Array { .. }) => "an array",
            Some(Entry::Object { .. }) => "an object",
        }
    }
    #[inline]
    fn as_str(self) -> Option<&'a str> {
        match self.entry() {
            Some(Entry::Str(span)) => Some(self.text_of(*span)),
            _ => None,
        }
    }
    fn as_number(self) -> Option<&'a Number> {
        match self.entry() {
            Some(Entry::Number(n)) => Some(n),
            _ => None,
        }
    }
    fn as_bool(self) -> Option<bool> {
        match self.entry() {
            Some(Entry::Bool(b)) => Some(*b),
            _ => None,
        }
    }
    fn is_null(self) -> bool {
        matches!(self.entry(), Some(Entry::Null))
    }
    fn is_container(self) -> bool {
        matches!(
            self.entry(),
            Some(Entry::Array { .. } | Entry::Object { .. })
        )
    }
    fn member(self, key: &str) -> Option<Self> {
        self.members()
            .filter(|(k, _)| *k == key)
            .last()
            .map(|(_, v)| v)
    }
    fn element(self, i: usize) -> Option<Self> {
        if !self.is_array() {
            return None;
        }
        self.elements().nth(i)
    }
}

/// A tape offset: [`Tape::parse`] refuses frames over `u32::MAX` bytes, and no frame has more
/// nodes or unescaped bytes than bytes.
#[inline]
fn offset(n: usize) -> u32 {
    n as u32
}

/// Appends one value's nodes to the tape.
struct Seed<'t, 'a> {
    nodes: &'t mut Vec<Entry>,
    scratch: &'t mut String,
    text: &'a str,
}

impl<'a> Seed<'_, 'a> {
    fn reborrow(&mut self) -> Seed<'_, 'a> {
        Seed {
            nodes: self.nodes,
            scratch: self.scratch,
            text: self.text,
        }
    }

    fn copied(&mut self, v: &str) {
        let start = self.scratch.len();
        self.scratch.push_str(v);
        self.nodes.push(Entry::Str(Span {
            start: offset(start),
            len: offset(v.len()),
            scratch: true,
        }));
    }

    /// Replaces the placeholder at `at` now that the container ends.
    fn close(&mut self, at: usize, closed: impl FnOnce(u32) -> Entry) {
        let end = offset(self.nodes.len());
        if let Some(e) = self.nodes.get_mut(at) {
            *e = closed(end);
        }
    }
}

impl<'de> DeserializeSeed<'de> for Seed<'_, 'de> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.nodes.push(Entry::Bool(v));
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.nodes.push(Entry::Number(v.into()));
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.nodes.push(Entry::Number(v.into()));
        Ok(())
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        // As serde_json::Value does: a non-finite float (never produced by the parser) is null.
        self.nodes
            .push(Number::from_f64(v).map_or(Entry::Null, Entry::Number));
        Ok(())
    }

    fn visit_borrowed_str<E>(mut self, v: &'de str) -> Result<(), E> {
        // Borrowed strings lie in the frame text; checking the range (not the bytes) is enough.
        let start = (v.as_ptr() as usize).wrapping_sub(self.text.as_ptr() as usize);
        if start
            .checked_add(v.len())
            .is_some_and(|end| end <= self.text.len())
        {
            self.nodes.push(Entry::Str(Span {
                start: offset(start),
                len: offset(v.len()),
                scratch: false,
            }));
        } else {
            self.copied(v);
        }
        Ok(())
    }

    fn visit_str<E>(mut self, v: &str) -> Result<(), E> {
        self.copied(v);
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.nodes.push(Entry::Null);
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        self.nodes.push(Entry::Null);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        let at = self.nodes.len();
        self.nodes.push(Entry::Array {
            end: offset(at + 1),
            len: 0,
        });
        let mut len = 0u32;
        while seq.next_element_seed(self.reborrow())?.is_some() {
            len = len.saturating_add(1);
        }
        self.close(at, |end| Entry::Array { end, len });
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        let at = self.nodes.len();
        self.nodes.push(Entry::Object {
            end: offset(at + 1),
        });
        while map.next_key_seed(self.reborrow())?.is_some() {
            map.next_value_seed(self.reborrow())?;
        }
        self.close(at, |end| Entry::Object { end });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Walks `n` into a `serde_json::Value` so a tape can be compared with serde_json's parse.
    fn to_json(n: Node<'_>) -> Json {
        if let Some(s) = n.as_str() {
            return Json::String(s.to_owned());
        }
        if let Some(x) = n.as_number() {
            return Json::Number(x.clone());
        }
        if let Some(b) = n.as_bool() {
            return Json::Bool(b);
        }
        if n.is_array() {
            return Json::Array(n.elements().map(to_json).collect());
        }
        if n.is_container() {
            let mut map = serde_json::Map::new();
            let mut next = n.at + 1;
            while next < n.end() {
                let (k, v) = (n.at(next), n.at(next + 1));
                map.insert(k.as_str().unwrap_or("").to_owned(), to_json(v));
                next = v.end();
            }
            return Json::Object(map);
        }
        Json::Null
    }

    #[test]
    fn tape_matches_serde_json_values() {
        let mut tape = Tape::new();
        for text in [
            r#"{"a":[1,-2,3.5,true,null,"x\"y\u00e9"],"b":{"c":{}},"":[[]],"d":18446744073709551615}"#,
            r#" [ {"id":"p1","v":1e-7,"t":1795615653000}, 7, "é" ] "#,
            "42",
            r#""\ud83d\ude00""#,
            r#"{"k":1,"k":2}"#,
        ] {
            let expected: Json = match serde_json::from_str(text) {
                Ok(v) => v,
                Err(e) => panic!("{text}: {e}"),
            };
            let root = match tape.parse(text) {
                Ok(r) => r,
                Err(e) => panic!("{text}: {e}"),
            };
            assert_eq!(to_json(root), expected, "{text}");
        }
    }

    #[test]
    fn tape_errors_are_serde_jsons() {
        let mut tape = Tape::new();
        for text in ["{\"id\": ", "1e999", "[1,]", "{} x", "", "\"\\q\""] {
            let expected = serde_json::from_str::<Json>(text)
                .err()
                .map(|e| e.to_string());
            let got = tape.parse(text).err().map(|e| e.to_string());
            assert!(expected.is_some(), "{text} should be refused");
            assert_eq!(got, expected, "{text}");
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert_eq!(
            tape.parse(&deep).err().map(|e| e.to_string()),
            serde_json::from_str::<Json>(&deep)
                .err()
                .map(|e| e.to_string()),
            "same recursion limit"
        );
    }

    #[test]
    fn members_repeat_last_wins_and_lookups_follow_kinds() {
        let mut tape = Tape::new();
        let text = r#"{"k":1,"o":{"k":[10,{"x":"y"}]},"k":2}"#;
        let root = match tape.parse(text) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(
            root.member("k").and_then(|n| n.as_number()),
            Some(&Number::from(2))
        );
        let arr = root.member("o").and_then(|o| o.member("k"));
        assert_eq!(arr.map(|a| a.kind()), Some("an array"));
        assert_eq!(
            arr.and_then(|a| a.element(1))
                .and_then(|o| o.member("x"))
                .and_then(|x| x.as_str()),
            Some("y")
        );
        assert!(arr.and_then(|a| a.element(2)).is_none());
        assert!(
            arr.and_then(|a| a.member("k")).is_none(),
            "arrays have no members"
        );
        assert!(root.element(0).is_none(), "objects have no elements");
    }

    #[test]
    fn entries_stay_small() {
        assert!(size_of::<Entry>() <= 24, "{} bytes", size_of::<Entry>());
    }

    #[test]
    fn reparsing_reuses_the_buffers() {
        let mut tape = Tape::new();
        let text = r#"{"readings":[{"id":"a","v":1},{"id":"b\n","v":2}]}"#;
        assert!(tape.parse(text).is_ok());
        let bytes = tape.memory_bytes();
        for _ in 0..100 {
            assert!(tape.parse(text).is_ok());
        }
        assert_eq!(tape.memory_bytes(), bytes, "no growth from frame to frame");
        let huge = format!("[{}0]", "0,".repeat(RETAIN_NODES));
        assert!(tape.parse(&huge).is_ok());
        tape.trim();
        assert!(
            tape.memory_bytes() <= bytes,
            "a huge frame's nodes are not kept"
        );
    }
}
