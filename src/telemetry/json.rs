//! The `json` adapter: text frames holding one reading, an array of readings, or readings at a
//! JSON pointer, each mapped to a sensor by its id with the manifest's `payload` pointers.
//!
//! A bad reading is reported and skipped; the other readings of the frame are still used. The
//! bad inputs of one frame are bounded (see [`BadInputBatch`]): 32 in detail, then one
//! "... and N more like this" entry per kind, which `BadInputCounters` counts as N.
//!
//! A frame whose readings are all usable is decoded straight from its text (the fast path in
//! `scan`); any other frame is parsed into a [`Tape`] kept by the adapter. Either way ids are
//! looked up as borrowed text, guessed from the order of the previous frames
//! ([`Bindings::by_key_in_order`]): a numeric reading costs no allocation beyond the frame's
//! sample vector.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use serde_json::Value as Json;

use super::bindings::{Bindings, KeyOrder};
use super::store::BadInputBatch;
use super::tape::{JsonNode, Node, Tape};
use super::time::parse_timestamp_node;
use super::{
    Adapter, BadInput, BadInputKind, Decoded, Outgoing, Quality, Sample, SessionState, Value,
};
use crate::manifest::Source;

/// Longest id or text quoted in a bad-input reason.
const MAX_QUOTED: usize = 64;

/// An RFC 6901 JSON pointer split into unescaped tokens once, so resolving it per reading
/// allocates nothing (`serde_json::Value::pointer` builds two strings per token per call).
#[derive(Debug, Clone, PartialEq)]
pub struct Pointer {
    /// None when the text is not a pointer (non-empty and not starting with `/`): it then
    /// resolves to nothing, like `serde_json::Value::pointer`.
    tokens: Option<Vec<Token>>,
    /// Dotted form for messages: `/data/items` → `data.items`.
    label: String,
}

#[derive(Debug, Clone, PartialEq)]
struct Token {
    key: String,
    /// The token as an array index, when it is one (`0`, or digits without a leading zero).
    index: Option<usize>,
}

impl Pointer {
    /// Parses `pointer` (`""` is the whole value, `/a/0/b~1c` a path; `~1` is `/`, `~0` is `~`).
    pub fn new(pointer: &str) -> Pointer {
        let tokens = if pointer.is_empty() {
            Some(Vec::new())
        } else {
            pointer.strip_prefix('/').map(|rest| {
                rest.split('/')
                    .map(|raw| {
                        let key = raw.replace("~1", "/").replace("~0", "~");
                        let index = (!key.is_empty()
                            && key.bytes().all(|b| b.is_ascii_digit())
                            && (key == "0" || !key.starts_with('0')))
                        .then(|| key.parse().ok())
                        .flatten();
                        Token { key, index }
                    })
                    .collect()
            })
        };
        let label = pointer
            .trim_start_matches('/')
            .split('/')
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect::<Vec<_>>()
            .join(".");
        Pointer { tokens, label }
    }

    /// The value `self` points to in `root`.
    pub fn resolve<'a>(&self, root: &'a Json) -> Option<&'a Json> {
        self.resolve_in(root)
    }

    /// The value `self` points to in `root`, for any [`JsonNode`] (a [`Tape`] node too).
    pub fn resolve_in<'a, N: JsonNode<'a>>(&self, root: N) -> Option<N> {
        self.tokens.as_ref()?.iter().try_fold(root, |at, t| {
            at.member(&t.key)
                .or_else(|| t.index.and_then(|i| at.element(i)))
        })
    }

    /// The key of a one-token pointer (`/id` → `id`).
    fn single_key(&self) -> Option<&str> {
        match self.tokens.as_deref() {
            Some([t]) => Some(&t.key),
            _ => None,
        }
    }

    /// The dotted label used in bad-input reasons (`data.items`; empty for the whole value).
    pub fn label(&self) -> &str {
        &self.label
    }
}

/// Why a JSON value is not a usable sensor value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueError {
    /// Absent.
    Missing,
    /// NaN or infinite (a numeric string such as `"NaN"`, or a number beyond f64).
    NonFinite,
    /// Null, an object or an array; the payload names which.
    WrongType(&'static str),
}

impl ValueError {
    /// The bad-input kind to count it as.
    pub fn kind(self) -> BadInputKind {
        match self {
            ValueError::NonFinite => BadInputKind::NonFinite,
            ValueError::Missing | ValueError::WrongType(_) => BadInputKind::WrongType,
        }
    }

    /// What was wrong, for the log.
    pub fn describe(self) -> String {
        match self {
            ValueError::Missing => "missing".to_owned(),
            ValueError::NonFinite => "not a finite number".to_owned(),
            ValueError::WrongType(got) => {
                format!("expected a number, boolean or text, got {got}")
            }
        }
    }
}

/// A sensor value from JSON: numbers (finite only), booleans, and text. Numeric text
/// (`"21.5"`, surrounding spaces allowed) counts as a number, since many gateways send every
/// value as a string; `"NaN"` and `"Infinity"` are therefore [`ValueError::NonFinite`] rather
/// than text. Null, objects and arrays are refused.
pub fn value_from_json(v: Option<&Json>) -> Result<Value, ValueError> {
    value_from_node(v)
}

/// [`value_from_json`] for any [`JsonNode`].
pub fn value_from_node<'a>(v: Option<impl JsonNode<'a>>) -> Result<Value, ValueError> {
    let Some(v) = v else {
        return Err(ValueError::Missing);
    };
    if let Some(n) = v.as_number() {
        return match n.as_f64() {
            Some(x) if x.is_finite() => Ok(Value::Number(x)),
            _ => Err(ValueError::NonFinite),
        };
    }
    if let Some(b) = v.as_bool() {
        return Ok(Value::Bool(b));
    }
    match v.as_str() {
        Some(s) => value_from_text(s),
        None => Err(ValueError::WrongType(v.kind())),
    }
}

/// A JSON string's value: numeric text as a number, other text as it is.
fn value_from_text(s: &str) -> Result<Value, ValueError> {
    match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(Value::Number(x)),
        Ok(_) => Err(ValueError::NonFinite),
        Err(_) => Ok(Value::Text(s.to_owned())),
    }
}

/// A quality flag from JSON: `good`, `uncertain`, `bad` in any case. Absent or null means
/// good (most sources only flag problems); any other text or type means uncertain, because an
/// unrecognised flag is more likely a warning than an all-clear.
pub fn quality_from_json(v: Option<&Json>) -> Quality {
    quality_from_node(v)
}

/// [`quality_from_json`] for any [`JsonNode`].
pub fn quality_from_node<'a>(v: Option<impl JsonNode<'a>>) -> Quality {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Quality::Good;
    };
    quality_from_text(v.as_str())
}

/// The quality a present, non-null flag gives: its text, or None when it is not text.
fn quality_from_text(s: Option<&str>) -> Quality {
    match s.map(str::trim) {
        Some(s) if s.eq_ignore_ascii_case("good") => Quality::Good,
        Some(s) if s.eq_ignore_ascii_case("bad") => Quality::Bad,
        _ => Quality::Uncertain,
    }
}

/// The `json` protocol adapter.
#[derive(Debug, Clone)]
pub struct JsonAdapter {
    readings: Option<Pointer>,
    id: Pointer,
    value: Pointer,
    timestamp: Option<Pointer>,
    quality: Option<Pointer>,
    bindings: Bindings,
    max_message_bytes: usize,
    open: bool,
    /// The last frame's parse, kept for its buffers.
    tape: Tape,
    /// The payload's member names when every pointer is one token (the usual case), so an
    /// object reading's fields are found in one pass over its members.
    keys: Option<Keys>,
    /// The order sensors came in so far, to find each reading's sensor by a guess.
    order: KeyOrder,
    /// How the fast path finds the readings, when the pointers allow it (see [`scan`]).
    plan: Option<scan::Plan>,
    /// Samples in the last frame, to size the next frame's vector.
    last_samples: usize,
    /// Frames in a row the fast path was not used for. After a few it is only tried now and
    /// then, so a source whose every frame needs the general path does not pay for both.
    missed: u32,
}

/// Frames in a row the fast path may give up on before it is only tried every
/// [`RETRY_FAST_EVERY`] frames.
const FAST_MISSES: u32 = 4;
const RETRY_FAST_EVERY: u32 = 16;

#[derive(Debug, Clone)]
struct Keys {
    id: String,
    value: String,
    timestamp: Option<String>,
    quality: Option<String>,
}

/// What a reading's pointers (and `unit`) find in it.
#[derive(Default)]
struct Fields<'a> {
    id: Option<Node<'a>>,
    value: Option<Node<'a>>,
    timestamp: Option<Node<'a>>,
    quality: Option<Node<'a>>,
    unit: Option<Node<'a>>,
}

/// Where in a frame a reading sits, for bad-input reasons (`readings[3]`).
#[derive(Debug, Clone, Copy)]
struct At<'a> {
    /// Label of the readings array (empty for a top-level array or a single reading).
    base: &'a str,
    index: Option<usize>,
}

impl At<'_> {
    /// `readings[3].value`, `[3].value` (top-level array), `value` (single reading);
    /// `message` when both parts are empty.
    fn field(self, label: &str) -> String {
        let mut s = String::from(self.base);
        if let Some(i) = self.index {
            let _ = write!(s, "[{i}]");
        }
        if !label.is_empty() {
            if !s.is_empty() {
                s.push('.');
            }
            s.push_str(label);
        }
        if s.is_empty() {
            s.push_str("message");
        }
        s
    }
}

impl JsonAdapter {
    /// An adapter reading `source.payload`'s pointers, resolving ids with `bindings`, and
    /// dropping frames over `max_message_bytes`.
    pub fn new(source: &Source, bindings: Bindings, max_message_bytes: usize) -> JsonAdapter {
        let p = &source.payload;
        let id = Pointer::new(&p.id);
        let value = Pointer::new(&p.value);
        let timestamp = p.timestamp.as_deref().map(Pointer::new);
        let quality = p.quality.as_deref().map(Pointer::new);
        let optional = |p: &Option<Pointer>| match p {
            None => Some(None),
            Some(p) => p.single_key().map(|k| Some(k.to_owned())),
        };
        let keys = match (
            id.single_key(),
            value.single_key(),
            optional(&timestamp),
            optional(&quality),
        ) {
            (Some(id), Some(value), Some(timestamp), Some(quality)) => Some(Keys {
                id: id.to_owned(),
                value: value.to_owned(),
                timestamp,
                quality,
            }),
            _ => None,
        };
        let readings = p.readings.as_deref().map(Pointer::new);
        JsonAdapter {
            order: bindings.key_order(),
            plan: scan::Plan::new(readings.as_ref(), keys.as_ref()),
            last_samples: 0,
            missed: 0,
            readings,
            id,
            value,
            timestamp,
            quality,
            bindings,
            max_message_bytes,
            open: false,
            tape: Tape::new(),
            keys,
        }
    }

    /// The reading's fields: one pass over an object's members when the pointers allow,
    /// else each pointer resolved (same result: the last of a repeated key wins either way).
    fn fields<'a>(&self, r: Node<'a>) -> Fields<'a> {
        let Some(keys) = self.keys.as_ref().filter(|_| r.is_object()) else {
            return Fields {
                id: self.id.resolve_in(r),
                value: self.value.resolve_in(r),
                timestamp: self.timestamp.as_ref().and_then(|p| p.resolve_in(r)),
                quality: self.quality.as_ref().and_then(|p| p.resolve_in(r)),
                unit: r.member("unit"),
            };
        };
        let mut f = Fields::default();
        // Not `else if`: two pointers may name the same member.
        // Lengths first: most members differ from most names there.
        let is = |k: &str, name: &str| k.len() == name.len() && k == name;
        let is_opt = |k: &str, name: &Option<String>| name.as_deref().is_some_and(|n| is(k, n));
        for (k, v) in r.members() {
            if is(k, &keys.id) {
                f.id = Some(v);
            }
            if is(k, &keys.value) {
                f.value = Some(v);
            }
            if is_opt(k, &keys.timestamp) {
                f.timestamp = Some(v);
            }
            if is_opt(k, &keys.quality) {
                f.quality = Some(v);
            }
            if is(k, "unit") {
                f.unit = Some(v);
            }
        }
        f
    }

    /// Decodes one parsed message into `out` and `bad`.
    fn decode_message(
        &self,
        root: Node<'_>,
        now_ms: f64,
        order: &mut KeyOrder,
        out: &mut Vec<Sample>,
        bad: &mut BadInputBatch,
    ) {
        let (items, base) = match &self.readings {
            Some(p) => match p.resolve_in(root) {
                Some(items) if items.is_array() => (items, p.label()),
                found => {
                    let got = found.map_or("nothing", |f| f.kind());
                    let at = if p.label().is_empty() {
                        "message"
                    } else {
                        p.label()
                    };
                    bad.push(BadInputKind::WrongType, || {
                        format!("{at}: expected an array of readings (payload.readings), got {got}")
                    });
                    return;
                }
            },
            None if root.is_array() => (root, ""),
            None => {
                let single = At {
                    base: "",
                    index: None,
                };
                self.decode_reading(root, single, now_ms, order, out, bad);
                return;
            }
        };
        out.reserve(items.len());
        for (i, r) in items.elements().enumerate() {
            self.decode_reading(
                r,
                At {
                    base,
                    index: Some(i),
                },
                now_ms,
                order,
                out,
                bad,
            );
        }
    }

    /// Decodes one reading; on any problem reports it and skips the reading.
    fn decode_reading(
        &self,
        r: Node<'_>,
        at: At<'_>,
        now_ms: f64,
        order: &mut KeyOrder,
        out: &mut Vec<Sample>,
        bad: &mut BadInputBatch,
    ) {
        if !r.is_container() {
            let got = r.kind();
            bad.push(BadInputKind::WrongType, || {
                format!(
                    "{}: expected a reading (an object), got {got}",
                    at.field("")
                )
            });
            return;
        }
        let fields = self.fields(r);
        let found = fields.id;
        // A numeric id is looked up as serde_json prints it (`7`, `7.5`), formatted on the stack.
        let mut digits = IdText::default();
        let owned: String;
        let id: &str = if let Some(s) = found.and_then(|n| n.as_str()) {
            s
        } else if let Some(n) = found.and_then(|n| n.as_number()) {
            if write!(digits, "{n}").is_ok() {
                digits.as_str()
            } else {
                owned = n.to_string();
                &owned
            }
        } else {
            let why = match found {
                None => Cow::Borrowed("missing"),
                Some(v) => Cow::Owned(format!("expected text or a number, got {}", v.kind())),
            };
            bad.push(BadInputKind::WrongType, || {
                format!("{}: {why}", at.field(self.id.label()))
            });
            return;
        };
        let Some(sensor) = self.bindings.by_key_in_order(id, order) else {
            bad.push(BadInputKind::UnknownSensor, || {
                format!("{}: no sensor has id \"{}\"", at.field(""), shorten(id))
            });
            return;
        };
        let value = match value_from_node(fields.value) {
            Ok(v) => v,
            Err(e) => {
                bad.push(e.kind(), || {
                    format!("{}: {}", at.field(self.value.label()), e.describe())
                });
                return;
            }
        };
        // A reading whose timestamp cannot be read is refused rather than used with the
        // receive time: a wrong time could let it replace a newer value, or be replaced by an
        // older one, and the source is clearly not sending what the manifest describes.
        // Absent (or null) timestamps are fine: ordering then falls back to receive time.
        let source_ms = match &self.timestamp {
            None => None,
            Some(p) => match fields.timestamp.filter(|t| !t.is_null()) {
                None => None,
                Some(t) => match parse_timestamp_node(t) {
                    Ok(ms) => Some(ms),
                    Err(why) => {
                        bad.push(BadInputKind::WrongType, || {
                            format!("{}: {why}", at.field(p.label()))
                        });
                        return;
                    }
                },
            },
        };
        let quality = quality_from_node(fields.quality);
        let unit = fields.unit.and_then(|u| u.as_str()).map(str::to_owned);
        out.push(Sample {
            sensor,
            value,
            unit,
            source_ms,
            received_ms: now_ms,
            quality,
        });
    }
}

impl Adapter for JsonAdapter {
    fn subprotocol(&self) -> Option<&'static str> {
        None
    }

    /// Plain JSON has no handshake: data may flow as soon as the socket is open.
    fn on_open(&mut self, _now_ms: f64) -> Vec<Outgoing> {
        self.open = true;
        Vec::new()
    }

    fn on_text(&mut self, text: &str, now_ms: f64) -> Decoded {
        let mut decoded = Decoded::default();
        if text.len() > self.max_message_bytes {
            decoded.bad.push(BadInput::new(
                BadInputKind::TooLarge,
                format!(
                    "frame of {} bytes is over maxMessageBytes ({})",
                    text.len(),
                    self.max_message_bytes
                ),
            ));
            return decoded;
        }
        let mut order = std::mem::take(&mut self.order);
        let try_fast = self.missed < FAST_MISSES || self.missed.is_multiple_of(RETRY_FAST_EVERY);
        self.missed = self.missed.saturating_add(1);
        if let Some(plan) = self.plan.as_ref().filter(|_| try_fast) {
            let mut bad = BadInputBatch::new();
            // A reading takes more than 16 bytes, so one small frame after a large one
            // does not reserve for the large one.
            decoded
                .samples
                .reserve(self.last_samples.min(text.len() / 16));
            let scanned = scan::decode(
                self,
                plan,
                text,
                now_ms,
                &mut order,
                &mut decoded.samples,
                &mut bad,
            );
            if scanned.is_ok() {
                self.order = order;
                self.missed = 0;
                self.last_samples = decoded.samples.len();
                decoded.bad = bad.finish();
                return decoded;
            }
            decoded.samples.clear();
        }
        let mut tape = std::mem::take(&mut self.tape);
        match tape.parse(text) {
            Ok(root) => {
                let mut bad = BadInputBatch::new();
                self.decode_message(root, now_ms, &mut order, &mut decoded.samples, &mut bad);
                decoded.bad = bad.finish();
            }
            Err(e) => {
                // serde_json's message has the line and column and never echoes the text.
                decoded.bad.push(BadInput::new(
                    BadInputKind::NotJson,
                    format!("not JSON: {e}"),
                ));
            }
        }
        tape.trim();
        self.tape = tape;
        self.order = order;
        self.last_samples = decoded.samples.len();
        decoded
    }

    fn on_binary(&mut self, bytes: &[u8], _now_ms: f64) -> Decoded {
        Decoded {
            bad: vec![BadInput::new(
                BadInputKind::WrongFrameType,
                format!(
                    "binary frame of {} bytes; the json adapter reads text frames",
                    bytes.len()
                ),
            )],
            ..Decoded::default()
        }
    }

    fn on_tick(&mut self, _now_ms: f64) -> Vec<Outgoing> {
        Vec::new()
    }

    fn state(&self) -> SessionState {
        if self.open {
            SessionState::Live
        } else {
            SessionState::Handshaking
        }
    }
}

/// The manifest's `onOpen` text with `{username}`, `{password}`, `{token}` and `{clientId}`
/// replaced (absent credentials become empty). Substitution is plain text (no JSON escaping:
/// the template author quotes as the backend needs) and a single pass, so a password that
/// itself contains `{token}` is not expanded again. Other `{…}` are left as they are.
pub fn render_template(template: &str, source: &Source, client_id: &str) -> String {
    let creds = source.credentials.as_ref();
    let username = creds.and_then(|c| c.username.as_deref()).unwrap_or("");
    let password = creds.and_then(|c| c.password.as_deref()).unwrap_or("");
    let token = creds.and_then(|c| c.token.as_deref()).unwrap_or("");
    let placeholders = [
        ("{username}", username),
        ("{password}", password),
        ("{token}", token),
        ("{clientId}", client_id),
    ];
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let (before, from_brace) = rest.split_at(open);
        out.push_str(before);
        match placeholders
            .iter()
            .find(|(name, _)| from_brace.starts_with(name))
        {
            Some((name, value)) => {
                out.push_str(value);
                rest = from_brace.get(name.len()..).unwrap_or("");
            }
            None => {
                out.push('{');
                rest = from_brace.get(1..).unwrap_or("");
            }
        }
    }
    out.push_str(rest);
    out
}

/// A numeric id's text, formatted without allocating; ids too long for it fall back to a String.
#[derive(Default)]
struct IdText {
    buf: [u8; 32],
    len: usize,
}

impl IdText {
    fn as_str(&self) -> &str {
        self.buf
            .get(..self.len)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }
}

impl fmt::Write for IdText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Cuts quoted text for reasons, at a char boundary.
fn shorten(s: &str) -> Cow<'_, str> {
    if s.len() <= MAX_QUOTED {
        return Cow::Borrowed(s);
    }
    let mut end = MAX_QUOTED;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}…", s.get(..end).unwrap_or("")))
}

mod scan;

#[cfg(test)]
mod tests;
