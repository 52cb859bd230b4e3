//! The `json` adapter: text frames holding one reading, an array of readings, or readings at a
//! JSON pointer, each mapped to a sensor by its id with the manifest's `payload` pointers.
//!
//! A bad reading is reported and skipped; the other readings of the frame are still used. The
//! bad inputs of one frame are bounded (see [`BadInputBatch`]): 32 in detail, then one
//! "... and N more like this" entry per kind, which `BadInputCounters` counts as N.
//!
//! Frames are parsed into a [`Tape`] kept by the adapter, ids are looked up as borrowed text:
//! a numeric reading costs no allocation beyond the frame's sample vector.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use serde_json::Value as Json;

use super::bindings::Bindings;
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
        Some(s) => match s.trim().parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(Value::Number(x)),
            Ok(_) => Err(ValueError::NonFinite),
            Err(_) => Ok(Value::Text(s.to_owned())),
        },
        None => Err(ValueError::WrongType(v.kind())),
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
    match v.as_str().map(str::trim) {
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
}

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
        JsonAdapter {
            readings: p.readings.as_deref().map(Pointer::new),
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
                self.decode_reading(root, single, now_ms, out, bad);
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
        let Some(sensor) = self.bindings.by_key(id) else {
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
            decoded.bad.push(BadInput {
                kind: BadInputKind::TooLarge,
                reason: format!(
                    "frame of {} bytes is over maxMessageBytes ({})",
                    text.len(),
                    self.max_message_bytes
                ),
            });
            return decoded;
        }
        let mut tape = std::mem::take(&mut self.tape);
        match tape.parse(text) {
            Ok(root) => {
                let mut bad = BadInputBatch::new();
                self.decode_message(root, now_ms, &mut decoded.samples, &mut bad);
                decoded.bad = bad.finish();
            }
            Err(e) => {
                // serde_json's message has the line and column and never echoes the text.
                decoded.bad.push(BadInput {
                    kind: BadInputKind::NotJson,
                    reason: format!("not JSON: {e}"),
                });
            }
        }
        tape.trim();
        self.tape = tape;
        decoded
    }

    fn on_binary(&mut self, bytes: &[u8], _now_ms: f64) -> Decoded {
        Decoded {
            bad: vec![BadInput {
                kind: BadInputKind::WrongFrameType,
                reason: format!(
                    "binary frame of {} bytes; the json adapter reads text frames",
                    bytes.len()
                ),
            }],
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Manifest;
    use crate::telemetry::store::{BadInputCounters, MAX_BAD_PER_FRAME};

    const NOW: f64 = 1_795_615_653_000.0;

    /// A manifest with sensors `temp`, `pressure` (key `p1`) and `state`, and `payload` as given.
    fn setup(payload: serde_json::Value) -> (Manifest, JsonAdapter) {
        let doc = serde_json::json!({
            "name": "Test", "model": { "url": "m.glb" },
            "sensors": [
                { "id": "temp", "name": "T", "node": "N" },
                { "id": "pressure", "name": "P", "node": "N", "binding": { "key": "p1" } },
                { "id": "state", "name": "S", "node": "N" },
                { "id": "7", "name": "Numbered", "node": "N" }
            ],
            "source": {
                "url": "wss://example.test/ws", "adapter": "json", "payload": payload,
                "credentials": { "username": "ann", "password": "p{token}w", "token": "T0K" },
                "maxMessageBytes": 4096
            }
        });
        let manifest = match Manifest::parse(doc.to_string().as_bytes(), "t.json") {
            Ok(m) => m,
            Err(e) => panic!("{e}"),
        };
        let Some(source) = manifest.source.clone() else {
            panic!("no source")
        };
        let adapter = JsonAdapter::new(
            &source,
            Bindings::from_manifest(&manifest),
            source.max_message_bytes,
        );
        (manifest, adapter)
    }

    fn decode(adapter: &mut JsonAdapter, text: &str) -> Decoded {
        adapter.on_text(text, NOW)
    }

    fn reasons(d: &Decoded) -> Vec<String> {
        d.bad
            .iter()
            .map(|b| format!("{:?}: {}", b.kind, b.reason))
            .collect()
    }

    #[test]
    fn single_reading_with_defaults() {
        let (_, mut a) = setup(serde_json::json!({}));
        let d = decode(&mut a, r#"{"id":"temp","value":21.5,"unit":"°C"}"#);
        assert_eq!(reasons(&d), Vec::<String>::new());
        assert_eq!(
            d.samples,
            [Sample {
                sensor: 0,
                value: Value::Number(21.5),
                unit: Some("°C".into()),
                source_ms: None,
                received_ms: NOW,
                quality: Quality::Good,
            }]
        );
    }

    #[test]
    fn readings_pointer_timestamps_and_quality() {
        let (_, mut a) = setup(serde_json::json!({
            "readings": "/data/items", "id": "/name", "value": "/v/now",
            "timestamp": "/ts", "quality": "/q"
        }));
        let d = decode(
            &mut a,
            r#"{"data":{"items":[
                {"name":"temp","v":{"now":20},"ts":"2026-11-25T14:07:33Z","q":"GOOD"},
                {"name":"p1","v":{"now":"1.25"},"ts":1795615653,"q":"Bad"},
                {"name":"state","v":{"now":"RUNNING"},"q":"weird"},
                {"name":7,"v":{"now":true},"ts":null}
            ]}}"#,
        );
        assert_eq!(reasons(&d), Vec::<String>::new());
        let got: Vec<(usize, Value, Option<f64>, Quality)> = d
            .samples
            .iter()
            .map(|s| (s.sensor, s.value.clone(), s.source_ms, s.quality))
            .collect();
        assert_eq!(
            got,
            [
                (0, Value::Number(20.0), Some(NOW), Quality::Good),
                (1, Value::Number(1.25), Some(NOW), Quality::Bad),
                (2, Value::Text("RUNNING".into()), None, Quality::Uncertain),
                (3, Value::Bool(true), None, Quality::Good),
            ]
        );
    }

    #[test]
    fn top_level_array_is_a_list_of_readings() {
        let (_, mut a) = setup(serde_json::json!({}));
        let d = decode(
            &mut a,
            r#"[{"id":"temp","value":1},{"id":"state","value":false}]"#,
        );
        assert_eq!(d.samples.len(), 2);
        assert_eq!(d.samples[1].value, Value::Bool(false));
    }

    #[test]
    fn bad_readings_are_skipped_and_named_while_others_are_used() {
        let (_, mut a) = setup(serde_json::json!({ "readings": "/readings", "timestamp": "/ts" }));
        let d = decode(
            &mut a,
            r#"{"readings":[
                {"id":"temp","value":1},
                {"id":"nope","value":2},
                {"value":3},
                {"id":"temp","value":{"x":1}},
                {"id":"temp","value":"NaN"},
                {"id":"temp","value":null},
                {"id":"temp","value":4,"ts":"yesterday"},
                {"id":{"a":1},"value":5},
                42,
                {"id":"temp"},
                {"id":"state","value":[1]},
                {"id":"temp","value":6}
            ]}"#,
        );
        assert_eq!(
            d.samples
                .iter()
                .map(|s| s.value.clone())
                .collect::<Vec<_>>(),
            [Value::Number(1.0), Value::Number(6.0)]
        );
        assert_eq!(
            reasons(&d),
            [
                "UnknownSensor: readings[1]: no sensor has id \"nope\"",
                "WrongType: readings[2].id: missing",
                "WrongType: readings[3].value: expected a number, boolean or text, got an object",
                "NonFinite: readings[4].value: not a finite number",
                "WrongType: readings[5].value: expected a number, boolean or text, got null",
                "WrongType: readings[6].ts: \"yesterday\": too short; expected RFC 3339 text like 2026-11-25T14:07:33Z",
                "WrongType: readings[7].id: expected text or a number, got an object",
                "WrongType: readings[8]: expected a reading (an object), got a number",
                "WrongType: readings[9].value: missing",
                "WrongType: readings[10].value: expected a number, boolean or text, got an array",
            ]
        );
    }

    #[test]
    fn single_reading_errors_name_the_field_without_an_index() {
        let (_, mut a) = setup(serde_json::json!({}));
        let d = decode(&mut a, r#"{"id":"temp","value":"Infinity"}"#);
        assert_eq!(reasons(&d), ["NonFinite: value: not a finite number"]);
        let d = decode(&mut a, r#"{"id":"ghost","value":1}"#);
        assert_eq!(
            reasons(&d),
            ["UnknownSensor: message: no sensor has id \"ghost\""]
        );
        let d = decode(&mut a, r#""just text""#);
        assert_eq!(
            reasons(&d),
            ["WrongType: message: expected a reading (an object), got text"]
        );
    }

    #[test]
    fn readings_pointer_must_point_to_an_array() {
        let (_, mut a) = setup(serde_json::json!({ "readings": "/data" }));
        let d = decode(&mut a, r#"{"type":"heartbeat"}"#);
        assert_eq!(
            reasons(&d),
            ["WrongType: data: expected an array of readings (payload.readings), got nothing"]
        );
        let d = decode(&mut a, r#"{"data":{"id":"temp"}}"#);
        assert!(reasons(&d)[0].ends_with("got an object"));
    }

    #[test]
    fn frames_that_are_not_json_too_large_or_binary_are_reported() {
        let (_, mut a) = setup(serde_json::json!({}));
        let d = decode(&mut a, "{\"id\": ");
        assert_eq!(d.bad.len(), 1);
        assert_eq!(d.bad[0].kind, BadInputKind::NotJson);
        assert!(d.bad[0].reason.contains("line 1"), "{}", d.bad[0].reason);
        let big = format!(r#"{{"id":"temp","value":1,"pad":"{}"}}"#, "x".repeat(5000));
        let d = decode(&mut a, &big);
        assert_eq!(d.samples.len(), 0);
        assert_eq!(d.bad[0].kind, BadInputKind::TooLarge);
        assert!(d.bad[0].reason.contains("4096"));
        let d = a.on_binary(&[1, 2, 3], NOW);
        assert_eq!(
            reasons(&d),
            ["WrongFrameType: binary frame of 3 bytes; the json adapter reads text frames"]
        );
        assert!(
            decode(&mut a, "1e999").bad[0].kind == BadInputKind::NotJson,
            "overflowing number"
        );
    }

    #[test]
    fn bad_inputs_per_frame_are_bounded_but_all_counted() {
        let (_, mut a) = setup(serde_json::json!({}));
        let mut text = String::from("[");
        for i in 0..1000 {
            let _ = write!(
                text,
                r#"{{"id":"ghost{i}","value":1}},{{"id":"temp","value":null}},"#
            );
        }
        text.push_str(r#"{"id":"temp","value":2}]"#);
        a.max_message_bytes = usize::MAX;
        let d = decode(&mut a, &text);
        assert_eq!(
            d.samples.len(),
            1,
            "the good reading after 2000 bad ones is used"
        );
        assert_eq!(d.bad.len(), MAX_BAD_PER_FRAME + 2);
        let mut counters = BadInputCounters::new();
        for b in &d.bad {
            counters.record(b);
        }
        assert_eq!(counters.count(BadInputKind::UnknownSensor), 1000);
        assert_eq!(counters.count(BadInputKind::WrongType), 1000);
    }

    #[test]
    fn long_ids_are_shortened_in_reasons() {
        let (_, mut a) = setup(serde_json::json!({}));
        let id = "é".repeat(500);
        let d = decode(&mut a, &format!(r#"{{"id":"{id}","value":1}}"#));
        assert!(d.bad[0].reason.len() < 200);
    }

    #[test]
    fn numeric_ids_and_escaped_pointers() {
        let (_, mut a) = setup(serde_json::json!({ "id": "/meta/a~1b", "value": "/vals/0" }));
        let d = decode(&mut a, r#"{"meta":{"a/b":7},"vals":[3.5]}"#);
        assert_eq!(reasons(&d), Vec::<String>::new());
        assert_eq!(
            (d.samples[0].sensor, &d.samples[0].value),
            (3, &Value::Number(3.5))
        );
        let d = decode(&mut a, r#"{"meta":{"a/b":7},"vals":[]}"#);
        assert_eq!(reasons(&d), ["WrongType: vals.0: missing"]);
    }

    #[test]
    fn one_pass_fields_match_resolving_each_pointer() {
        let (_, fast) = setup(serde_json::json!({ "timestamp": "/ts", "quality": "/q" }));
        assert!(
            fast.keys.is_some(),
            "one-token pointers take the one-pass path"
        );
        let mut fast = fast;
        let mut slow = fast.clone();
        slow.keys = None;
        for text in [
            r#"[{"id":"temp","value":1,"ts":1795615653,"q":"bad","unit":"K"}]"#,
            r#"[{"id":"nope","id":"temp","value":2,"value":3,"unit":"a","unit":"b"}]"#,
            r#"[{"value":1,"id":"state","q":null,"ts":null},{"id":7,"value":"x"}]"#,
            r#"[{"id":"temp"},{"id":"temp","value":{"a":1}},{"id":"temp","value":1,"ts":[]}]"#,
            r#"[["temp",1],{"id":"temp","value":true,"q":"GOOD"},{"id":7.0,"value":1}]"#,
            r#"{"id":"p1","value":"1.5 bar","ts":"2026-11-25T14:07:33Z"}"#,
        ] {
            assert_eq!(decode(&mut fast, text), decode(&mut slow, text), "{text}");
        }
    }

    #[test]
    fn numeric_ids_are_looked_up_as_serde_json_prints_them() {
        let (_, mut a) = setup(serde_json::json!({}));
        let d = decode(
            &mut a,
            r#"[{"id":7,"value":1},{"id":7.0,"value":1},{"id":-7,"value":1}]"#,
        );
        assert_eq!(d.samples.iter().map(|s| s.sensor).collect::<Vec<_>>(), [3]);
        assert_eq!(
            reasons(&d),
            [
                "UnknownSensor: [1]: no sensor has id \"7.0\"",
                "UnknownSensor: [2]: no sensor has id \"-7\"",
            ]
        );
    }

    #[test]
    fn pointer_follows_rfc6901() {
        let doc = serde_json::json!({"a": [10, 20], "": 1, "~x": 2, "01": 3});
        assert_eq!(
            Pointer::new("/a/1").resolve(&doc),
            Some(&serde_json::json!(20))
        );
        assert_eq!(
            Pointer::new("/a/01").resolve(&doc),
            None,
            "no leading zeros"
        );
        assert_eq!(Pointer::new("/a/-").resolve(&doc), None);
        assert_eq!(
            Pointer::new("/01").resolve(&doc),
            Some(&serde_json::json!(3))
        );
        assert_eq!(Pointer::new("/").resolve(&doc), Some(&serde_json::json!(1)));
        assert_eq!(
            Pointer::new("/~0x").resolve(&doc),
            Some(&serde_json::json!(2))
        );
        assert_eq!(Pointer::new("").resolve(&doc), Some(&doc));
        assert_eq!(Pointer::new("a").resolve(&doc), None, "not a pointer");
        assert_eq!(
            Pointer::new("/a/99999999999999999999999").resolve(&doc),
            None
        );
        for p in ["/data/items", "/a/1", "/a~1b"] {
            assert_eq!(Pointer::new(p).resolve(&doc), doc.pointer(p), "{p}");
        }
    }

    #[test]
    fn value_and_quality_conversions() {
        use serde_json::json;
        assert_eq!(
            value_from_json(Some(&json!(" 42 "))),
            Ok(Value::Number(42.0))
        );
        assert_eq!(
            value_from_json(Some(&json!("-inf"))),
            Err(ValueError::NonFinite)
        );
        assert_eq!(
            value_from_json(Some(&json!("1.5 bar"))),
            Ok(Value::Text("1.5 bar".into()))
        );
        assert_eq!(
            value_from_json(Some(&json!(""))),
            Ok(Value::Text(String::new()))
        );
        assert_eq!(value_from_json(None), Err(ValueError::Missing));
        assert_eq!(
            quality_from_json(Some(&json!(" uncertain "))),
            Quality::Uncertain
        );
        assert_eq!(quality_from_json(Some(&json!("BAD"))), Quality::Bad);
        assert_eq!(quality_from_json(Some(&json!(0))), Quality::Uncertain);
        assert_eq!(quality_from_json(Some(&json!(null))), Quality::Good);
        assert_eq!(quality_from_json(None), Quality::Good);
    }

    #[test]
    fn adapter_is_live_once_open_and_sends_nothing() {
        let (_, mut a) = setup(serde_json::json!({}));
        assert_eq!(a.subprotocol(), None);
        assert_eq!(a.state(), SessionState::Handshaking);
        assert_eq!(a.on_open(NOW), Vec::new());
        assert_eq!(a.state(), SessionState::Live);
        assert_eq!(a.on_tick(NOW), Vec::new());
    }

    #[test]
    fn template_substitutes_known_placeholders_once() {
        let (m, _) = setup(serde_json::json!({}));
        let Some(source) = m.source else {
            panic!("no source")
        };
        assert_eq!(
            render_template(
                r#"{"auth":"{token}","user":"{username}","pw":"{password}","c":"{clientId}","x":"{other}{"}"#,
                &source,
                "twin-42"
            ),
            r#"{"auth":"T0K","user":"ann","pw":"p{token}w","c":"twin-42","x":"{other}{"}"#
        );
        let mut bare = source.clone();
        bare.credentials = None;
        assert_eq!(render_template("Bearer {token}!", &bare, ""), "Bearer !");
        assert_eq!(render_template("{{clientId}}é{", &bare, "c"), "{c}é{");
    }

    /// Not a benchmark: a guard that decoding stays in the right order of magnitude. Run
    /// `cargo test --release --lib json_decode_throughput -- --ignored --nocapture` to see
    /// readings per second.
    #[test]
    #[ignore]
    fn json_decode_throughput() {
        use crate::telemetry::store::{Inbox, SensorStore};
        let (m, mut a) = setup(serde_json::json!({ "readings": "/r", "timestamp": "/ts" }));
        a.max_message_bytes = usize::MAX;
        let mut store = SensorStore::new(&m);
        let mut inbox = Inbox::with_sensors(m.sensors.len());
        let mut frame = String::from(r#"{"r":["#);
        for i in 0..1000 {
            let id = ["temp", "p1", "state", "7"][i % 4];
            let _ = write!(
                frame,
                r#"{{"id":"{id}","value":{}.5,"ts":{}}},"#,
                i,
                1_795_615_653_000u64 + i as u64
            );
        }
        frame.pop();
        frame.push_str("]}");
        let start = std::time::Instant::now();
        let frames = 2000;
        for f in 0..frames {
            let d = a.on_text(&frame, NOW + f as f64);
            for s in d.samples {
                inbox.push(s);
            }
            inbox.drain_into(&mut store);
        }
        let secs = start.elapsed().as_secs_f64();
        println!("{:.0} readings/s", (frames * 1000) as f64 / secs);
    }
}
