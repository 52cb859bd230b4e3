//! Eclipse Ditto WebSocket protocol (`/ws/2`): subscribes with `START-SEND-EVENTS` and turns
//! twin events (`created`, `modified`, `merged`) into samples by thing id and property path.
//!
//! Protocol details (from the Ditto WebSocket binding and protocol specification docs):
//! - Control messages are plain text, not JSON. `START-SEND-EVENTS` takes query-style
//!   parameters, `?` before the first and `&` between them; filter values are URL-encoded:
//!   `START-SEND-EVENTS?namespaces=org.acme,org.demo&filter=gt%28attributes%2Fcounter%2C42%29`.
//!   Ditto answers `START-SEND-EVENTS:ACK`.
//! - Everything else is a JSON envelope `{topic, headers, path, value, status?, timestamp?,
//!   revision?}` with topic `<namespace>/<name>/things/<twin|live>/events/<action>` for events
//!   and `<namespace>/<name>/things/twin/errors` for errors, whose value is
//!   `{status, error, message, description}`.
//! - Browsers cannot set an `Authorization` header on a WebSocket, so Ditto accepts the JWT as
//!   the `access_token` query parameter of the `/ws/2` URL (see [`connect_url`]).
//!
//! Events that arrive before the `:ACK` are used: they can only be answers to our own
//! subscription, and dropping them would lose readings for no gain.

use std::collections::HashSet;

use serde_json::Value as Json;

use crate::manifest::Source;
use crate::telemetry::bindings::Bindings;
use crate::telemetry::json::value_from_json;
use crate::telemetry::store::BadInputBatch;
use crate::telemetry::time::parse_timestamp;
use crate::telemetry::{
    Adapter, BadInput, BadInputKind, Decoded, Outgoing, Quality, Sample, SessionState,
};

/// Ditto's answer to `START-SEND-EVENTS`.
const START_ACK: &str = "START-SEND-EVENTS:ACK";

/// Longest text from the backend quoted in a bad-input reason.
const SHOWN_CHARS: usize = 160;

/// Deepest object nesting walked below an event's path (serde_json stops at 128 anyway).
const MAX_WALK_DEPTH: usize = 64;

/// Query parameters whose values are secrets, hidden by [`redacted_url`].
const SECRET_PARAMS: [&str; 4] = ["access_token", "token", "password", "jwtToken"];

/// The Eclipse Ditto adapter.
#[derive(Debug, Clone)]
pub struct DittoAdapter {
    bindings: Bindings,
    /// Thing ids with bound sensors: events for other things are unknown sensors.
    things: HashSet<String>,
    start: String,
    live: bool,
}

impl DittoAdapter {
    /// An adapter subscribing with `source.ditto` (namespaces and RQL filter) and resolving
    /// thing + path with `bindings`.
    pub fn new(source: &Source, bindings: Bindings) -> DittoAdapter {
        DittoAdapter {
            things: bindings.ditto_things().into_iter().collect(),
            bindings,
            start: start_send_events(&source.ditto.namespaces, source.ditto.filter.as_deref()),
            live: false,
        }
    }

    /// Handles a Ditto protocol envelope.
    fn envelope(&mut self, env: &Json, now_ms: f64, d: &mut Decoded, bad: &mut BadInputBatch) {
        let Some(topic) = env.get("topic").and_then(Json::as_str) else {
            bad.push(BadInputKind::MalformedDitto, || {
                "JSON without a \"topic\": not a Ditto protocol envelope".to_owned()
            });
            return;
        };
        let parts: Vec<&str> = topic.split('/').collect();
        let (Some(namespace), Some(name), Some(group), Some(criterion)) =
            (parts.first(), parts.get(1), parts.get(2), parts.get(4))
        else {
            bad.push(BadInputKind::MalformedDitto, || {
                format!(
                    "topic \"{}\" is not <namespace>/<name>/<group>/<channel>/<criterion>",
                    shown(topic)
                )
            });
            return;
        };
        let status = env
            .get("status")
            .or_else(|| env.get("value").and_then(|v| v.get("status")))
            .and_then(Json::as_u64);
        if *criterion == "errors" || status.is_some_and(|s| s >= 400) {
            self.error(env, status, d, bad);
            return;
        }
        // Command responses, messages and policy announcements carry no readings.
        if *group != "things" || *criterion != "events" {
            return;
        }
        // `deleted` events remove data; the last reading simply goes stale.
        if !matches!(parts.get(5), Some(&("created" | "modified" | "merged"))) {
            return;
        }
        let thing = format!("{namespace}:{name}");
        if !self.things.contains(&thing) {
            bad.push(BadInputKind::UnknownSensor, || {
                format!("no sensor is bound to Ditto thing \"{}\"", shown(&thing))
            });
            return;
        }
        let Some(path) = env.get("path").and_then(Json::as_str) else {
            bad.push(BadInputKind::MalformedDitto, || {
                format!("event for \"{}\" has no path", shown(&thing))
            });
            return;
        };
        let Some(value) = env.get("value") else {
            bad.push(BadInputKind::MalformedDitto, || {
                format!(
                    "event for \"{}\" at {} has no value",
                    shown(&thing),
                    shown(path)
                )
            });
            return;
        };
        // Same rule as the JSON adapter: an unreadable time refuses the readings rather than
        // letting them reorder against newer ones; no timestamp means arrival time.
        let source_ms = match env.get("timestamp") {
            None | Some(Json::Null) => None,
            Some(t) => match parse_timestamp(t) {
                Ok(ms) => Some(ms),
                Err(why) => {
                    bad.push(BadInputKind::WrongType, || {
                        format!("event for \"{}\": timestamp {why}", shown(&thing))
                    });
                    return;
                }
            },
        };
        let mut at = path.trim_matches('/').to_owned();
        let mut walk = Walk {
            bindings: &self.bindings,
            thing: &thing,
            now_ms,
            source_ms,
            samples: &mut d.samples,
            bad,
        };
        walk.visit(&mut at, value, 0);
    }

    /// Handles an error envelope: refused credentials and a refused subscription stop the
    /// connection (retrying cannot help); other errors are logged.
    fn error(&self, env: &Json, status: Option<u64>, d: &mut Decoded, bad: &mut BadInputBatch) {
        let value = env.get("value");
        let field = |k: &str| value.and_then(|v| v.get(k)).and_then(Json::as_str);
        let message = field("message")
            .or_else(|| field("description"))
            .unwrap_or("no message");
        let code = field("error")
            .map(|e| format!(" {}", shown(e)))
            .unwrap_or_default();
        let status_text = status.map_or_else(|| "?".to_owned(), |s| s.to_string());
        match status {
            Some(401 | 403) => d.outgoing.push(Outgoing::Fail(format!(
                "Ditto refused the token (status {status_text}{code}: {}): check source.credentials.token",
                shown(message)
            ))),
            Some(400) if !self.live => d.outgoing.push(Outgoing::Fail(format!(
                "Ditto refused START-SEND-EVENTS (status 400{code}: {}): check source.ditto.namespaces and source.ditto.filter",
                shown(message)
            ))),
            _ => bad.push(BadInputKind::MalformedDitto, || {
                format!("Ditto error (status {status_text}{code}): {}", shown(message))
            }),
        }
    }
}

/// Walks an event's value below its path, turning bound paths into samples. Merged events and
/// events on a feature or the whole thing carry objects holding several properties.
struct Walk<'a> {
    bindings: &'a Bindings,
    thing: &'a str,
    now_ms: f64,
    source_ms: Option<f64>,
    samples: &'a mut Vec<Sample>,
    bad: &'a mut BadInputBatch,
}

impl Walk<'_> {
    /// `path` is the value's path without leading or trailing `/`; it is restored on return.
    fn visit(&mut self, path: &mut String, value: &Json, depth: usize) {
        if let Some(sensor) = self.bindings.by_ditto(self.thing, path) {
            match value {
                // In a merge patch, null deletes the property: no reading, not an error.
                Json::Null => {}
                v => match value_from_json(Some(v)) {
                    Ok(value) => self.samples.push(Sample {
                        sensor,
                        value,
                        unit: None,
                        source_ms: self.source_ms,
                        received_ms: self.now_ms,
                        quality: Quality::Good,
                    }),
                    Err(e) => {
                        let (thing, at) = (self.thing, &*path);
                        self.bad.push(e.kind(), || {
                            format!("\"{}\" /{}: {}", shown(thing), shown(at), e.describe())
                        });
                    }
                },
            }
            // A bound path is a leaf: nothing below it is looked at.
            return;
        }
        let Json::Object(map) = value else { return };
        if depth >= MAX_WALK_DEPTH {
            return;
        }
        for (key, child) in map {
            let len = path.len();
            if !path.is_empty() {
                path.push('/');
            }
            path.push_str(key);
            self.visit(path, child, depth + 1);
            path.truncate(len);
        }
    }
}

impl Adapter for DittoAdapter {
    fn subprotocol(&self) -> Option<&'static str> {
        None
    }

    fn on_open(&mut self, _now_ms: f64) -> Vec<Outgoing> {
        self.live = false;
        vec![Outgoing::Text(self.start.clone())]
    }

    fn on_text(&mut self, text: &str, now_ms: f64) -> Decoded {
        let mut d = Decoded::default();
        let t = text.trim();
        if !t.starts_with('{') {
            if t == START_ACK {
                self.live = true;
            } else if !is_control_ack(t) {
                d.bad.push(BadInput::new(
                    BadInputKind::MalformedDitto,
                    format!(
                        "\"{}\" is neither a Ditto protocol envelope nor an acknowledgement",
                        shown(t)
                    ),
                ));
            }
            return d;
        }
        let env: Json = match serde_json::from_str(t) {
            Ok(v) => v,
            Err(e) => {
                // serde_json's message has the line and column and never echoes the text.
                d.bad.push(BadInput::new(
                    BadInputKind::MalformedDitto,
                    format!("not a Ditto protocol envelope: invalid JSON: {e}"),
                ));
                return d;
            }
        };
        let mut bad = BadInputBatch::new();
        self.envelope(&env, now_ms, &mut d, &mut bad);
        d.bad = bad.finish();
        d
    }

    fn on_binary(&mut self, bytes: &[u8], _now_ms: f64) -> Decoded {
        Decoded {
            bad: vec![BadInput::new(
                BadInputKind::WrongFrameType,
                format!(
                    "binary frame of {} bytes; Ditto sends its protocol as text",
                    bytes.len()
                ),
            )],
            ..Decoded::default()
        }
    }

    /// The WebSocket's own liveness is enough: Ditto has no protocol-level keep-alive.
    fn on_tick(&mut self, _now_ms: f64) -> Vec<Outgoing> {
        Vec::new()
    }

    fn state(&self) -> SessionState {
        if self.live {
            SessionState::Live
        } else {
            SessionState::Handshaking
        }
    }
}

/// Acknowledgements of Ditto's other control messages (`STOP-SEND-EVENTS:ACK`,
/// `START-SEND-MESSAGES:ACK`, …): valid protocol, nothing to do.
fn is_control_ack(t: &str) -> bool {
    t.strip_suffix(":ACK").is_some_and(|m| {
        (m.starts_with("START-SEND-") || m.starts_with("STOP-SEND-"))
            && m.bytes().all(|b| b.is_ascii_uppercase() || b == b'-')
    })
}

/// The `START-SEND-EVENTS` control message: `?namespaces=a,b` when namespaces are given (empty
/// means every namespace the token may see) and `filter=` with the RQL URL-encoded, as the
/// Ditto WebSocket docs require.
pub fn start_send_events(namespaces: &[String], filter: Option<&str>) -> String {
    let mut params = Vec::new();
    let namespaces: Vec<String> = namespaces
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
        .map(percent_encode)
        .collect();
    if !namespaces.is_empty() {
        params.push(format!("namespaces={}", namespaces.join(",")));
    }
    if let Some(f) = filter.map(str::trim).filter(|f| !f.is_empty()) {
        params.push(format!("filter={}", percent_encode(f)));
    }
    if params.is_empty() {
        "START-SEND-EVENTS".to_owned()
    } else {
        format!("START-SEND-EVENTS?{}", params.join("&"))
    }
}

/// The URL to open for `source`: its `url` with `access_token=<token>` (percent-encoded)
/// appended when `credentials.token` is set, unchanged otherwise.
///
/// Ditto is the one backend that takes a token only in the URL: browsers cannot set headers on
/// a WebSocket, and Ditto reads the JWT from this query parameter instead. The result holds
/// the secret: never log or show it; use [`redacted_url`].
pub fn connect_url(source: &Source) -> String {
    let token = source
        .credentials
        .as_ref()
        .and_then(|c| c.token.as_deref())
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return source.url.clone();
    };
    let (base, fragment) = match source.url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (source.url.as_str(), None),
    };
    let separator = match base.find('?') {
        None => "?",
        Some(_) if base.ends_with(['?', '&']) => "",
        Some(_) => "&",
    };
    let mut url = format!("{base}{separator}access_token={}", percent_encode(token));
    if let Some(f) = fragment {
        url.push('#');
        url.push_str(f);
    }
    url
}

/// `url` safe to log: the values of secret query parameters (`access_token`, `token`,
/// `password`, `jwtToken`) become `***`, and so does a password in the user info
/// (`wss://user:***@host`).
pub fn redacted_url(url: &str) -> String {
    let (rest, fragment) = match url.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (url, None),
    };
    let (base, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let mut out = redact_user_info(base);
    if let Some(q) = query {
        out.push('?');
        let params: Vec<String> = q
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if SECRET_PARAMS.iter().any(|s| s.eq_ignore_ascii_case(k)) => {
                    format!("{k}=***")
                }
                _ => kv.to_owned(),
            })
            .collect();
        out.push_str(&params.join("&"));
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// `scheme://user:pass@host/path` → `scheme://user:***@host/path`.
fn redact_user_info(base: &str) -> String {
    let Some((scheme, after)) = base.split_once("://") else {
        return base.to_owned();
    };
    let (authority, path) = match after.find('/') {
        Some(i) => after.split_at(i),
        None => (after, ""),
    };
    match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => base.to_owned(),
        },
        None => base.to_owned(),
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`).
pub fn percent_encode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0F)]));
        }
    }
    out
}

/// `s` cut to [`SHOWN_CHARS`] characters for a log line.
fn shown(s: &str) -> String {
    match s.char_indices().nth(SHOWN_CHARS) {
        Some((at, _)) => format!("{}…", s.get(..at).unwrap_or(s)),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Manifest;
    use crate::telemetry::Value;

    const T0: f64 = 1_800_000_000_000.0;

    fn manifest(source: serde_json::Value) -> Manifest {
        serde_json::from_value(serde_json::json!({
            "name": "test",
            "model": { "url": "m.glb" },
            "sensors": [
                { "id": "temp", "name": "T", "node": "n",
                  "binding": { "thing": "org.acme:pump-101", "path": "features/motor/properties/temperature" } },
                { "id": "rpm", "name": "R", "node": "n",
                  "binding": { "thing": "org.acme:pump-101", "path": "/features/motor/properties/rpm" } },
                { "id": "state", "name": "S", "node": "n",
                  "binding": { "thing": "org.acme:pump-101", "path": "features/status/properties/state" } },
                { "id": "other", "name": "O", "node": "n",
                  "binding": { "thing": "org.acme:pump-102", "path": "features/motor/properties/temperature" } }
            ],
            "source": source
        }))
        .expect("test manifest")
    }

    fn adapter_with(source: serde_json::Value) -> DittoAdapter {
        let m = manifest(source);
        let src = m.source.clone().expect("source");
        DittoAdapter::new(&src, Bindings::from_manifest(&m))
    }

    fn adapter() -> DittoAdapter {
        adapter_with(serde_json::json!({ "url": "wss://ditto.example/ws/2", "adapter": "ditto" }))
    }

    fn source(url: &str, token: Option<&str>) -> Source {
        serde_json::from_value(serde_json::json!({
            "url": url, "adapter": "ditto",
            "credentials": { "token": token }
        }))
        .expect("test source")
    }

    fn event(action: &str, path: &str, value: serde_json::Value) -> String {
        serde_json::json!({
            "topic": format!("org.acme/pump-101/things/twin/events/{action}"),
            "headers": { "content-type": "application/json" },
            "path": path,
            "value": value,
            "revision": 7
        })
        .to_string()
    }

    fn readings(d: &Decoded) -> Vec<(usize, Value)> {
        d.samples
            .iter()
            .map(|s| (s.sensor, s.value.clone()))
            .collect()
    }

    #[test]
    fn open_sends_start_send_events_with_namespaces_and_an_encoded_filter() {
        let mut a = adapter_with(serde_json::json!({
            "url": "wss://d/ws/2", "adapter": "ditto",
            "ditto": { "namespaces": ["org.acme", "org.demo"], "filter": "and(exists(features/motor),eq(attributes/site,\"HH 1\"))" }
        }));
        assert_eq!(a.subprotocol(), None);
        assert_eq!(
            a.on_open(T0),
            [Outgoing::Text(
                "START-SEND-EVENTS?namespaces=org.acme,org.demo&filter=and%28exists%28features%2Fmotor%29%2Ceq%28attributes%2Fsite%2C%22HH%201%22%29%29".into()
            )]
        );
        assert_eq!(a.state(), SessionState::Handshaking);
    }

    #[test]
    fn start_send_events_leaves_out_absent_options() {
        assert_eq!(start_send_events(&[], None), "START-SEND-EVENTS");
        assert_eq!(
            start_send_events(&[], Some("exists(features/motor)")),
            "START-SEND-EVENTS?filter=exists%28features%2Fmotor%29"
        );
        assert_eq!(
            start_send_events(&["org.acme".into()], Some("  ")),
            "START-SEND-EVENTS?namespaces=org.acme"
        );
    }

    #[test]
    fn ack_makes_the_session_live_and_other_acks_are_ignored() {
        let mut a = adapter();
        a.on_open(T0);
        let d = a.on_text("STOP-SEND-MESSAGES:ACK", T0);
        assert_eq!(d, Decoded::default());
        assert_eq!(a.state(), SessionState::Handshaking);
        let d = a.on_text("START-SEND-EVENTS:ACK\n", T0);
        assert_eq!(d, Decoded::default());
        assert_eq!(a.state(), SessionState::Live);
        a.on_open(T0 + 1.0);
        assert_eq!(
            a.state(),
            SessionState::Handshaking,
            "a new connection waits for a new ACK"
        );
    }

    #[test]
    fn modified_event_at_a_bound_leaf_gives_a_sample() {
        let mut a = adapter();
        a.on_open(T0);
        a.on_text(START_ACK, T0);
        let d = a.on_text(
            &event(
                "modified",
                "/features/motor/properties/temperature",
                serde_json::json!(72.5),
            ),
            T0 + 5.0,
        );
        assert!(d.bad.is_empty(), "{:?}", d.bad);
        assert_eq!(readings(&d), [(0, Value::Number(72.5))]);
        let s = d.samples.first().expect("sample");
        assert_eq!(s.received_ms, T0 + 5.0);
        assert_eq!(s.source_ms, None);
        assert_eq!(s.quality, Quality::Good);
    }

    #[test]
    fn events_before_the_ack_are_used() {
        let mut a = adapter();
        a.on_open(T0);
        let d = a.on_text(
            &event(
                "modified",
                "/features/status/properties/state",
                serde_json::json!("RUNNING"),
            ),
            T0,
        );
        assert_eq!(readings(&d), [(2, Value::Text("RUNNING".into()))]);
    }

    #[test]
    fn merged_event_with_a_partial_feature_gives_every_bound_property() {
        let mut a = adapter();
        let d = a.on_text(
            &event(
                "merged",
                "/features/motor",
                serde_json::json!({ "properties": { "temperature": 71, "rpm": 1450, "vendor": "ACME" } }),
            ),
            T0,
        );
        assert!(
            d.bad.is_empty(),
            "unbound properties are not errors: {:?}",
            d.bad
        );
        let mut got = readings(&d);
        got.sort_by_key(|(i, _)| *i);
        assert_eq!(got, [(0, Value::Number(71.0)), (1, Value::Number(1450.0))]);
    }

    #[test]
    fn created_event_for_a_whole_thing_is_walked_from_the_root() {
        let mut a = adapter();
        let thing = serde_json::json!({
            "thingId": "org.acme:pump-101",
            "attributes": { "site": "HH" },
            "features": {
                "motor": { "properties": { "temperature": 20.5 } },
                "status": { "properties": { "state": "IDLE" } }
            }
        });
        let d = a.on_text(&event("created", "/", thing), T0);
        let mut got = readings(&d);
        got.sort_by_key(|(i, _)| *i);
        assert_eq!(
            got,
            [(0, Value::Number(20.5)), (2, Value::Text("IDLE".into()))]
        );
    }

    #[test]
    fn merge_patch_null_and_deleted_events_give_nothing() {
        let mut a = adapter();
        let d = a.on_text(
            &event(
                "merged",
                "/features/motor/properties",
                serde_json::json!({ "temperature": null }),
            ),
            T0,
        );
        assert_eq!(d, Decoded::default());
        let d = a.on_text(
            &event("deleted", "/features/motor", serde_json::Value::Null),
            T0,
        );
        assert_eq!(d, Decoded::default());
    }

    #[test]
    fn thing_id_comes_from_the_topic() {
        let mut a = adapter();
        let text = serde_json::json!({
            "topic": "org.acme/pump-102/things/twin/events/modified",
            "path": "/features/motor/properties/temperature",
            "value": 30,
            "headers": {}
        })
        .to_string();
        assert_eq!(readings(&a.on_text(&text, T0)), [(3, Value::Number(30.0))]);
    }

    #[test]
    fn unknown_thing_is_an_unknown_sensor() {
        let mut a = adapter();
        let text = serde_json::json!({
            "topic": "org.other/fan-1/things/twin/events/modified",
            "path": "/features/motor/properties/temperature",
            "value": 30
        })
        .to_string();
        let d = a.on_text(&text, T0);
        assert!(d.samples.is_empty());
        assert!(
            matches!(d.bad.as_slice(), [BadInput { kind: BadInputKind::UnknownSensor, reason, .. }] if reason.contains("org.other:fan-1"))
        );
    }

    #[test]
    fn envelope_timestamp_is_the_source_time() {
        let mut a = adapter();
        let text = serde_json::json!({
            "topic": "org.acme/pump-101/things/twin/events/modified",
            "path": "/features/motor/properties/rpm",
            "value": 1500,
            "timestamp": "2027-01-15T08:00:00Z"
        })
        .to_string();
        let d = a.on_text(&text, T0);
        assert_eq!(
            d.samples.first().and_then(|s| s.source_ms),
            Some(1_800_000_000_000.0)
        );
        let bad_time = text.replace("2027-01-15T08:00:00Z", "soon");
        let d = a.on_text(&bad_time, T0);
        assert!(d.samples.is_empty());
        assert!(matches!(
            d.bad.as_slice(),
            [BadInput {
                kind: BadInputKind::WrongType,
                ..
            }]
        ));
    }

    #[test]
    fn an_object_at_a_bound_leaf_is_the_wrong_type() {
        let mut a = adapter();
        let d = a.on_text(
            &event(
                "modified",
                "/features/motor/properties/temperature",
                serde_json::json!({ "value": 1 }),
            ),
            T0,
        );
        assert!(d.samples.is_empty());
        assert!(
            matches!(d.bad.as_slice(), [BadInput { kind: BadInputKind::WrongType, reason, .. }] if reason.contains("temperature"))
        );
    }

    #[test]
    fn error_401_fails_with_a_hint_to_the_token() {
        let mut a = adapter();
        a.on_open(T0);
        let text = serde_json::json!({
            "topic": "_/_/things/twin/errors",
            "headers": {},
            "path": "/",
            "value": { "status": 401, "error": "gateway:authentication.failed", "message": "Unauthorized." },
            "status": 401
        })
        .to_string();
        let d = a.on_text(&text, T0);
        assert_eq!(
            d.outgoing,
            [Outgoing::Fail(
                "Ditto refused the token (status 401 gateway:authentication.failed: Unauthorized.): check source.credentials.token".into()
            )]
        );
    }

    #[test]
    fn other_errors_are_logged_and_a_refused_subscription_fails() {
        let mut a = adapter();
        a.on_open(T0);
        let text = |status: u64| {
            serde_json::json!({
                "topic": "org.acme/pump-101/things/twin/errors",
                "path": "/",
                "value": { "status": status, "error": "x:y", "message": "went wrong" },
                "status": status
            })
            .to_string()
        };
        let d = a.on_text(&text(400), T0);
        assert!(
            matches!(d.outgoing.as_slice(), [Outgoing::Fail(r)] if r.contains("source.ditto.filter"))
        );
        a.on_text(START_ACK, T0);
        let d = a.on_text(&text(404), T0);
        assert!(d.outgoing.is_empty());
        assert!(
            matches!(d.bad.as_slice(), [BadInput { kind: BadInputKind::MalformedDitto, reason, .. }] if reason.contains("404") && reason.contains("went wrong"))
        );
    }

    #[test]
    fn malformed_input_is_counted_as_malformed_ditto() {
        let mut a = adapter();
        for text in [
            "HELLO",
            "{not json",
            r#"{"path": "/", "value": 1}"#,
            r#"{"topic": "a/b"}"#,
        ] {
            let d = a.on_text(text, T0);
            assert!(d.samples.is_empty());
            assert!(
                matches!(
                    d.bad.as_slice(),
                    [BadInput {
                        kind: BadInputKind::MalformedDitto,
                        ..
                    }]
                ),
                "{text}: {:?}",
                d.bad
            );
        }
        let d = a.on_binary(&[1, 2, 3], T0);
        assert!(matches!(
            d.bad.as_slice(),
            [BadInput {
                kind: BadInputKind::WrongFrameType,
                ..
            }]
        ));
    }

    #[test]
    fn command_responses_and_messages_are_not_readings_or_errors() {
        let mut a = adapter();
        let text = serde_json::json!({
            "topic": "org.acme/pump-101/things/live/messages/hello",
            "path": "/inbox/messages/hello",
            "value": "hi"
        })
        .to_string();
        assert_eq!(a.on_text(&text, T0), Decoded::default());
        assert!(a.on_tick(T0 + 60_000.0).is_empty());
    }

    #[test]
    fn token_goes_into_the_url_percent_encoded() {
        assert_eq!(
            connect_url(&source("wss://d.example/ws/2", Some("eyJ.a+b/c="))),
            "wss://d.example/ws/2?access_token=eyJ.a%2Bb%2Fc%3D"
        );
        assert_eq!(
            connect_url(&source("wss://d.example/ws/2?x=1", Some("t"))),
            "wss://d.example/ws/2?x=1&access_token=t"
        );
        assert_eq!(
            connect_url(&source("wss://d.example/ws/2", None)),
            "wss://d.example/ws/2"
        );
        assert_eq!(
            connect_url(&source("wss://d.example/ws/2", Some(""))),
            "wss://d.example/ws/2"
        );
    }

    #[test]
    fn redaction_hides_tokens_and_passwords() {
        let url = connect_url(&source("wss://d.example/ws/2?x=1", Some("secret-jwt")));
        let shown = redacted_url(&url);
        assert_eq!(shown, "wss://d.example/ws/2?x=1&access_token=***");
        assert!(!shown.contains("secret"));
        assert_eq!(
            redacted_url("wss://ditto:pa55@d.example:8080/ws/2?password=x&a=b#f"),
            "wss://ditto:***@d.example:8080/ws/2?password=***&a=b#f"
        );
        assert_eq!(redacted_url("/ws/2"), "/ws/2");
        assert_eq!(redacted_url("wss://user@host/ws"), "wss://user@host/ws");
    }
}
