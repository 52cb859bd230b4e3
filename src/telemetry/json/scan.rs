//! The JSON adapter's fast path: a frame whose readings are all usable is decoded in one pass
//! over its text, without building a [`Tape`](crate::telemetry::tape::Tape) first.
//!
//! It only reads what it can read exactly as the general path does. At anything else (an
//! escape in a string, a reading the general path would report, a number serde_json might
//! round differently, deep nesting, a syntax error) it gives up, its partial output is
//! dropped, and the general path decodes the frame from the start. What a frame yields
//! therefore never depends on which path read it; the only bad input decoded here is an
//! unknown sensor id, reported with the general path's words.

use super::{At, JsonAdapter, Keys, quality_from_text, shorten, value_from_text};
use crate::telemetry::bindings::{KeyOrder, same};
use crate::telemetry::store::BadInputBatch;
use crate::telemetry::time::{from_epoch_number, parse_timestamp_str};
use crate::telemetry::{BadInputKind, Quality, Sample, Value};

/// The scan stopped; the general path decodes the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct GiveUp;

type Step<T> = Result<T, GiveUp>;

/// Deepest nesting followed (serde_json refuses beyond 128).
const MAX_DEPTH: usize = 64;

/// Powers of ten that are exact in `f64`.
const EXACT_POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// What the scan needs to know of the adapter's payload pointers.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Plan {
    /// Member names from the root object to the readings array (empty: the root is the
    /// array); None when there is no readings pointer (the root is a reading or an array).
    path: Option<Vec<String>>,
}

impl Plan {
    /// The plan for `adapter`'s pointers, or None when they need the general path (a readings
    /// pointer that is not a pointer; payload pointers of more than one token).
    pub(super) fn new(readings: Option<&super::Pointer>, keys: Option<&Keys>) -> Option<Plan> {
        keys?;
        let path = match readings {
            None => None,
            Some(p) => Some(p.tokens.as_ref()?.iter().map(|t| t.key.clone()).collect()),
        };
        Some(Plan { path })
    }
}

/// A scalar member value, or the fact that it was an object or an array.
#[derive(Debug, Clone, Copy)]
enum Val<'t> {
    Str(&'t str),
    Num(Num<'t>),
    Bool(bool),
    Null,
    Container,
}

#[derive(Debug, Clone, Copy)]
struct Num<'t> {
    /// As in the frame.
    text: &'t str,
    /// What serde_json's `Number::as_f64` gives for it.
    value: f64,
    /// An integer serde_json keeps as `u64` or `i64`, so it prints as `text`.
    integer: bool,
}

/// The members of a reading the pointers name (the last one of a repeated name wins).
#[derive(Default)]
struct Fields<'t> {
    id: Option<Val<'t>>,
    value: Option<Val<'t>>,
    timestamp: Option<Val<'t>>,
    quality: Option<Val<'t>>,
    unit: Option<Val<'t>>,
}

/// Where the decoded readings go, and what they are checked against.
struct Sink<'s> {
    adapter: &'s JsonAdapter,
    keys: &'s Keys,
    order: &'s mut KeyOrder,
    now_ms: f64,
    out: &'s mut Vec<Sample>,
    bad: &'s mut BadInputBatch,
}

/// Decodes `text` into `out` and `bad`; on [`GiveUp`] both hold partial output to drop.
pub(super) fn decode(
    adapter: &JsonAdapter,
    plan: &Plan,
    text: &str,
    now_ms: f64,
    order: &mut KeyOrder,
    out: &mut Vec<Sample>,
    bad: &mut BadInputBatch,
) -> Step<()> {
    let keys = adapter.keys.as_ref().ok_or(GiveUp)?;
    let mut sink = Sink {
        adapter,
        keys,
        order,
        now_ms,
        out,
        bad,
    };
    let mut s = Scanner {
        text,
        b: text.as_bytes(),
        i: 0,
    };
    s.ws();
    match &plan.path {
        None => match s.peek() {
            Some(b'[') => s.readings("", 0, &mut sink)?,
            Some(b'{') => s.reading(
                At {
                    base: "",
                    index: None,
                },
                0,
                &mut sink,
            )?,
            _ => return Err(GiveUp),
        },
        Some(path) => {
            let base = adapter.readings.as_ref().map_or("", |p| p.label());
            s.find(path, base, 0, &mut sink)?;
        }
    }
    s.ws();
    if s.i == s.b.len() {
        Ok(())
    } else {
        Err(GiveUp)
    }
}

struct Scanner<'t> {
    text: &'t str,
    b: &'t [u8],
    i: usize,
}

impl<'t> Scanner<'t> {
    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// Skips JSON whitespace (exactly serde_json's four characters).
    #[inline(always)]
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    #[inline(always)]
    fn eat(&mut self, c: u8) -> Step<()> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(GiveUp)
        }
    }

    /// After a member or element: whether another follows (`,`) or the container ends.
    #[inline(always)]
    fn more(&mut self, close: u8) -> Step<bool> {
        self.ws();
        match self.peek() {
            Some(b',') => {
                self.i += 1;
                self.ws();
                Ok(true)
            }
            Some(c) if c == close => {
                self.i += 1;
                Ok(false)
            }
            _ => Err(GiveUp),
        }
    }

    /// A string without escapes or control characters, borrowed from the frame.
    fn string(&mut self) -> Step<&'t str> {
        let start = self.i + 1;
        let len = self.key()?.len();
        self.text.get(start..start + len).ok_or(GiveUp)
    }

    /// [`string`](Self::string) as bytes, for member names, which are only compared.
    #[inline(always)]
    fn key(&mut self) -> Step<&'t [u8]> {
        self.eat(b'"')?;
        let start = self.i;
        let mut end = start;
        while let Some(&c) = self.b.get(end) {
            if c == b'"' || c == b'\\' || c < 0x20 {
                break;
            }
            end += 1;
        }
        self.i = end;
        self.eat(b'"')?;
        self.b.get(start..end).ok_or(GiveUp)
    }

    /// A number, checked against JSON's grammar.
    fn number(&mut self) -> Step<Num<'t>> {
        let start = self.i;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.i += 1;
        }
        let mut significand: u64 = 0;
        let mut overflow = false;
        match self.peek() {
            Some(b'0') => {
                self.i += 1;
                if matches!(self.peek(), Some(b'0'..=b'9')) {
                    return Err(GiveUp);
                }
            }
            Some(b'1'..=b'9') => {
                self.digits(&mut significand, &mut overflow);
            }
            _ => return Err(GiveUp),
        }
        let mut fraction = 0usize;
        if self.peek() == Some(b'.') {
            self.i += 1;
            fraction = self.digits(&mut significand, &mut overflow);
            if fraction == 0 {
                return Err(GiveUp);
            }
        }
        let mut exponent = false;
        if let Some(b'e' | b'E') = self.peek() {
            exponent = true;
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            let digits = self.i;
            while let Some(b'0'..=b'9') = self.peek() {
                self.i += 1;
            }
            if self.i == digits {
                return Err(GiveUp);
            }
        }
        let text = self.text.get(start..self.i).ok_or(GiveUp)?;
        let signed = |x: f64| if negative { -x } else { x };
        // Integers and short decimals are computed as serde_json computes them, and the result
        // is then exact or correctly rounded, so serde_json's precise mode gives it too. Other
        // numbers are left to serde_json itself, which also refuses the out-of-range ones.
        let (value, integer) = match (exponent, overflow, EXACT_POW10.get(fraction)) {
            // serde_json keeps `-0` and negatives beyond `i64` as floats.
            (false, false, _) if fraction == 0 => (
                signed(significand as f64),
                !negative || (1..=1 << 63).contains(&significand),
            ),
            (false, false, Some(pow)) if significand <= 1 << 53 => {
                (signed(significand as f64 / pow), false)
            }
            _ => match serde_json::from_str::<serde_json::Number>(text) {
                Ok(n) => (n.as_f64().ok_or(GiveUp)?, false),
                Err(_) => return Err(GiveUp),
            },
        };
        Ok(Num {
            text,
            value,
            integer,
        })
    }

    /// Decimal digits, accumulated into `significand` (`overflow` once it passes `u64`);
    /// returns how many.
    #[inline(always)]
    fn digits(&mut self, significand: &mut u64, overflow: &mut bool) -> usize {
        let start = self.i;
        while let Some(&c @ b'0'..=b'9') = self.b.get(self.i) {
            self.i += 1;
            match significand
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(c - b'0')))
            {
                Some(v) => *significand = v,
                None => *overflow = true,
            }
        }
        self.i - start
    }

    fn literal(&mut self, word: &[u8]) -> Step<()> {
        let end = self.i + word.len();
        if self.b.get(self.i..end) == Some(word) {
            self.i = end;
            Ok(())
        } else {
            Err(GiveUp)
        }
    }

    /// Any value: scalars read, objects and arrays checked and skipped.
    fn value(&mut self, depth: usize) -> Step<Val<'t>> {
        match self.peek() {
            Some(b'"') => self.string().map(Val::Str),
            Some(b'-' | b'0'..=b'9') => self.number().map(Val::Num),
            Some(b't') => self.literal(b"true").map(|()| Val::Bool(true)),
            Some(b'f') => self.literal(b"false").map(|()| Val::Bool(false)),
            Some(b'n') => self.literal(b"null").map(|()| Val::Null),
            Some(b'{' | b'[') => self.skip(depth).map(|()| Val::Container),
            _ => Err(GiveUp),
        }
    }

    /// Checks and skips an object or array.
    fn skip(&mut self, depth: usize) -> Step<()> {
        if depth >= MAX_DEPTH {
            return Err(GiveUp);
        }
        let object = match self.peek() {
            Some(b'{') => true,
            Some(b'[') => false,
            _ => return Err(GiveUp),
        };
        self.i += 1;
        self.ws();
        let close = if object { b'}' } else { b']' };
        if self.peek() == Some(close) {
            self.i += 1;
            return Ok(());
        }
        loop {
            if object {
                self.key()?;
                self.ws();
                self.eat(b':')?;
                self.ws();
            }
            self.value(depth + 1)?;
            if !self.more(close)? {
                return Ok(());
            }
        }
    }

    /// Follows `path` (member names) from the object here to the readings array. A name
    /// that repeats gives up: the general path takes the last, which comes too late here.
    fn find(&mut self, path: &[String], base: &str, depth: usize, sink: &mut Sink<'_>) -> Step<()> {
        let Some((name, rest)) = path.split_first() else {
            return self.readings(base, depth, sink);
        };
        if depth >= MAX_DEPTH {
            return Err(GiveUp);
        }
        self.eat(b'{')?;
        self.ws();
        let mut found = false;
        if self.peek() != Some(b'}') {
            loop {
                let key = self.key()?;
                self.ws();
                self.eat(b':')?;
                self.ws();
                if same(key, name.as_bytes()) {
                    if found {
                        return Err(GiveUp);
                    }
                    found = true;
                    self.find(rest, base, depth + 1, sink)?;
                } else {
                    self.value(depth + 1)?;
                }
                if !self.more(b'}')? {
                    break;
                }
            }
        } else {
            self.i += 1;
        }
        if found { Ok(()) } else { Err(GiveUp) }
    }

    /// The readings array here (inside `depth` objects and arrays), each element a reading.
    fn readings(&mut self, base: &str, depth: usize, sink: &mut Sink<'_>) -> Step<()> {
        if depth >= MAX_DEPTH {
            return Err(GiveUp);
        }
        self.eat(b'[')?;
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(());
        }
        let mut index = 0;
        loop {
            self.reading(
                At {
                    base,
                    index: Some(index),
                },
                depth + 1,
                sink,
            )?;
            index += 1;
            if !self.more(b']')? {
                return Ok(());
            }
        }
    }

    /// One reading object (inside `depth` objects and arrays), decoded into the sink.
    fn reading(&mut self, at: At<'_>, depth: usize, sink: &mut Sink<'_>) -> Step<()> {
        if depth >= MAX_DEPTH {
            return Err(GiveUp);
        }
        self.eat(b'{')?;
        self.ws();
        let keys = sink.keys;
        let (id, value) = (keys.id.as_bytes(), keys.value.as_bytes());
        let timestamp = keys.timestamp.as_ref().map(|n| n.as_bytes());
        let quality = keys.quality.as_ref().map(|n| n.as_bytes());
        let mut f = Fields::default();
        if self.peek() == Some(b'}') {
            return Err(GiveUp);
        }
        loop {
            let k = self.key()?;
            self.ws();
            self.eat(b':')?;
            self.ws();
            // As the general path: one member may be several fields.
            let v = self.value(depth + 1)?;
            if same(k, id) {
                f.id = Some(v);
            }
            if same(k, value) {
                f.value = Some(v);
            }
            if let Some(n) = timestamp
                && same(k, n)
            {
                f.timestamp = Some(v);
            }
            if let Some(n) = quality
                && same(k, n)
            {
                f.quality = Some(v);
            }
            if same(k, b"unit") {
                f.unit = Some(v);
            }
            if !self.more(b'}')? {
                break;
            }
        }
        sink.push(&f, at)
    }
}

impl Sink<'_> {
    /// The reading's sample, as the general path makes it; an unknown id is reported, every
    /// other problem gives up.
    fn push(&mut self, f: &Fields<'_>, at: At<'_>) -> Step<()> {
        let id = match f.id {
            Some(Val::Str(s)) => s,
            Some(Val::Num(n)) if n.integer => n.text,
            _ => return Err(GiveUp),
        };
        let Some(sensor) = self.adapter.bindings.by_key_in_order(id, self.order) else {
            self.bad.push(BadInputKind::UnknownSensor, || {
                format!("{}: no sensor has id \"{}\"", at.field(""), shorten(id))
            });
            return Ok(());
        };
        let value = match f.value {
            Some(Val::Num(n)) if n.value.is_finite() => Value::Number(n.value),
            Some(Val::Bool(b)) => Value::Bool(b),
            Some(Val::Str(s)) => value_from_text(s).map_err(|_| GiveUp)?,
            _ => return Err(GiveUp),
        };
        let source_ms = match (&self.keys.timestamp, f.timestamp) {
            (None, _) | (Some(_), None | Some(Val::Null)) => None,
            (Some(_), Some(Val::Num(n))) => Some(from_epoch_number(n.value).map_err(|_| GiveUp)?),
            (Some(_), Some(Val::Str(s))) => Some(parse_timestamp_str(s).map_err(|_| GiveUp)?),
            (Some(_), Some(_)) => return Err(GiveUp),
        };
        let quality = match f.quality {
            None | Some(Val::Null) => Quality::Good,
            Some(Val::Str(s)) => quality_from_text(Some(s)),
            Some(_) => quality_from_text(None),
        };
        let unit = match f.unit {
            Some(Val::Str(s)) => Some(s.to_owned()),
            _ => None,
        };
        self.out.push(Sample {
            sensor,
            value,
            unit,
            source_ms,
            received_ms: self.now_ms,
            quality,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests;
