//! MQTT 3.1.1 over WebSocket (subprotocol `mqtt`): a small packet codec with a bounded
//! streaming decoder, and the adapter that connects, subscribes to the bound topics and turns
//! PUBLISH payloads into samples.
//!
//! No maintained MQTT crate fits wasm and this project's size budget, and the client side of
//! MQTT 3.1.1 needs only a handful of packets, so the codec is written here and tested against
//! the layouts in the OASIS specification (section numbers below refer to it).

use std::collections::HashSet;

use serde_json::Value as Json;

use crate::manifest::Source;
use crate::telemetry::bindings::Bindings;
use crate::telemetry::json::{Pointer, quality_from_json, value_from_json};
use crate::telemetry::store::BadInputBatch;
use crate::telemetry::time::{json_kind, parse_timestamp};
use crate::telemetry::{
    Adapter, BadInput, BadInputKind, Decoded, Outgoing, Quality, Sample, SessionState, Value,
};

use codec::{Decoder, Packet};

/// MQTT 3.1.1 control packets, their encoding and a streaming decoder.
pub mod codec;

/// The broker must answer CONNECT and SUBSCRIBE within this time.
const HANDSHAKE_TIMEOUT_MS: f64 = 10_000.0;

/// The one SUBSCRIBE of a connection; packet identifiers only need to be unique in flight.
const SUBSCRIBE_PACKET_ID: u16 = 1;

/// Every filter is subscribed at QoS 1: retained last values arrive reliably, and brokers
/// deliver at most the granted QoS, so QoS 2 (a four-packet exchange) is only handled in case
/// a broker breaks that rule.
const SUBSCRIBE_QOS: u8 = 1;

/// Longest topic or text quoted in a bad-input reason.
const SHOWN_CHARS: usize = 120;

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    /// Before `on_open`.
    Idle,
    /// CONNECT sent.
    AwaitConnAck,
    /// SUBSCRIBE sent with these filters.
    AwaitSubAck(Vec<String>),
    /// Subscribed: data flows.
    Live,
    /// A Reconnect or Fail was issued: input is ignored until the next `on_open`.
    Closed,
}

/// What one frame produced so far; bad inputs are bounded like the other adapters'.
#[derive(Default)]
struct FrameOut {
    samples: Vec<Sample>,
    bad: BadInputBatch,
    outgoing: Vec<Outgoing>,
}

impl FrameOut {
    fn finish(self) -> Decoded {
        Decoded {
            samples: self.samples,
            bad: self.bad.finish(),
            outgoing: self.outgoing,
        }
    }
}

/// The MQTT 3.1.1 adapter: CONNECT with the source's credentials, SUBSCRIBE to every bound
/// topic filter at QoS 1, PUBLISH payloads to samples, PUBACK for QoS 1, PINGREQ keep-alive.
pub struct MqttAdapter {
    bindings: Bindings,
    client_id: String,
    username: Option<String>,
    password: Option<String>,
    keep_alive_s: u16,
    max_packet: usize,
    value: Pointer,
    timestamp: Option<Pointer>,
    quality: Option<Pointer>,
    decoder: Decoder,
    phase: Phase,
    opened_ms: f64,
    last_sent_ms: f64,
    last_received_ms: f64,
    ping_outstanding: bool,
    /// QoS 2 messages received and answered with PUBREC but not yet released: a redelivery
    /// is answered again but not turned into a second reading (§4.3.3, method B).
    qos2_pending: HashSet<u16>,
}

impl std::fmt::Debug for MqttAdapter {
    // The password stays out of logs, whatever prints an adapter.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttAdapter")
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("keep_alive_s", &self.keep_alive_s)
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}

impl MqttAdapter {
    /// An adapter for `source`, mapping topics with `bindings`; `client_id` is the final id
    /// (any random suffix already added). Credentials are the user name and password; a
    /// password without a user name is sent with an empty user name (see [`Packet::Connect`]).
    pub fn new(source: &Source, bindings: Bindings, client_id: String) -> MqttAdapter {
        let creds = source.credentials.as_ref();
        let p = &source.payload;
        MqttAdapter {
            bindings,
            client_id,
            username: creds.and_then(|c| c.username.clone()),
            password: creds.and_then(|c| c.password.clone()),
            keep_alive_s: source.keep_alive_seconds,
            max_packet: source.max_message_bytes,
            value: Pointer::new(&p.value),
            timestamp: p.timestamp.as_deref().map(Pointer::new),
            quality: p.quality.as_deref().map(Pointer::new),
            decoder: Decoder::new(source.max_message_bytes),
            phase: Phase::Idle,
            opened_ms: 0.0,
            last_sent_ms: 0.0,
            last_received_ms: 0.0,
            ping_outstanding: false,
            qos2_pending: HashSet::new(),
        }
    }

    /// Encodes and queues `packet`. A packet that cannot be encoded comes from configuration
    /// (an over-long credential or topic), which retrying cannot fix.
    fn send(&mut self, packet: &Packet, now_ms: f64, out: &mut Vec<Outgoing>) {
        match codec::try_encode(packet) {
            Ok(bytes) => {
                self.last_sent_ms = now_ms;
                out.push(Outgoing::Binary(bytes));
            }
            Err(e) => {
                self.phase = Phase::Closed;
                out.push(Outgoing::Fail(format!(
                    "cannot build the MQTT {} packet from the manifest: {e}",
                    packet.name()
                )));
            }
        }
    }

    /// Closes on a protocol violation (§4.8: the connection must be closed): counted as
    /// malformed, and a fresh connection tried.
    fn violation(&mut self, reason: String, out: &mut FrameOut) {
        self.phase = Phase::Closed;
        let logged = reason.clone();
        out.bad.push(BadInputKind::MalformedMqtt, || logged);
        out.outgoing.push(Outgoing::Reconnect(reason));
    }

    fn handle(&mut self, packet: Packet, now_ms: f64, out: &mut FrameOut) {
        match (&self.phase, packet) {
            (Phase::AwaitConnAck, Packet::ConnAck { return_code, .. }) => {
                self.on_connack(return_code, now_ms, out);
            }
            (Phase::AwaitConnAck, other) => self.violation(
                format!("MQTT broker sent {} before CONNACK", other.name()),
                out,
            ),
            (
                Phase::AwaitSubAck(filters),
                Packet::SubAck {
                    packet_id,
                    return_codes,
                },
            ) => {
                if packet_id != SUBSCRIBE_PACKET_ID || return_codes.len() != filters.len() {
                    let reason = format!(
                        "MQTT SUBACK does not match the SUBSCRIBE (packet id {packet_id}, {} codes for {} filters)",
                        return_codes.len(),
                        filters.len()
                    );
                    self.violation(reason, out);
                    return;
                }
                for (filter, code) in filters.iter().zip(&return_codes) {
                    if *code == codec::SUBACK_FAILURE {
                        // Not fatal: the other subscriptions still deliver.
                        out.bad.push(BadInputKind::MalformedMqtt, || {
                            format!(
                                "MQTT broker refused the subscription to \"{}\" (SUBACK 0x80): its sensors get no readings",
                                shown(filter)
                            )
                        });
                    }
                }
                self.phase = Phase::Live;
            }
            (
                Phase::AwaitSubAck(_) | Phase::Live,
                Packet::Publish {
                    topic,
                    packet_id,
                    qos,
                    payload,
                    ..
                },
            ) => {
                let mut fresh = true;
                match (qos, packet_id) {
                    (1, Some(id)) => {
                        self.send(&Packet::PubAck { packet_id: id }, now_ms, &mut out.outgoing);
                    }
                    (2, Some(id)) => {
                        fresh = self.qos2_pending.insert(id);
                        self.send(&Packet::PubRec { packet_id: id }, now_ms, &mut out.outgoing);
                    }
                    _ => {}
                }
                if fresh {
                    self.publish_samples(&topic, &payload, now_ms, out);
                }
            }
            (Phase::AwaitSubAck(_) | Phase::Live, Packet::PubRel { packet_id }) => {
                self.qos2_pending.remove(&packet_id);
                self.send(&Packet::PubComp { packet_id }, now_ms, &mut out.outgoing);
            }
            (Phase::AwaitSubAck(_) | Phase::Live, Packet::PingResp) => {}
            (_, other) => self.violation(
                format!("unexpected MQTT {} from the broker", other.name()),
                out,
            ),
        }
    }

    fn on_connack(&mut self, code: u8, now_ms: f64, out: &mut FrameOut) {
        let meaning = codec::connack_meaning(code);
        match code {
            0 => {
                let filters = self.bindings.subscriptions();
                if filters.is_empty() {
                    // Nothing is bound to a topic; an empty SUBSCRIBE is a protocol error.
                    self.phase = Phase::Live;
                    return;
                }
                let packet = Packet::Subscribe {
                    packet_id: SUBSCRIBE_PACKET_ID,
                    filters: filters.iter().map(|f| (f.clone(), SUBSCRIBE_QOS)).collect(),
                };
                self.phase = Phase::AwaitSubAck(filters);
                self.send(&packet, now_ms, &mut out.outgoing);
            }
            3 => {
                // The broker runs but its MQTT service does not: worth retrying later.
                self.phase = Phase::Closed;
                out.outgoing.push(Outgoing::Reconnect(format!(
                    "MQTT broker is unavailable (CONNACK 3: {meaning})"
                )));
            }
            4 | 5 => {
                // Retrying with the same credentials would only hammer the broker.
                self.phase = Phase::Closed;
                out.outgoing.push(Outgoing::Fail(format!(
                    "MQTT broker refused the credentials (CONNACK {code}: {meaning}); check source.credentials"
                )));
            }
            _ => {
                let hint = match code {
                    1 => ": the broker does not speak MQTT 3.1.1",
                    2 => "; check source.clientId",
                    _ => "",
                };
                self.phase = Phase::Closed;
                out.outgoing.push(Outgoing::Fail(format!(
                    "MQTT broker refused the connection (CONNACK {code}: {meaning}){hint}"
                )));
            }
        }
    }

    fn publish_samples(&self, topic: &str, payload: &[u8], now_ms: f64, out: &mut FrameOut) {
        let sensors = self.bindings.by_topic(topic);
        if sensors.is_empty() {
            out.bad.push(BadInputKind::UnknownSensor, || {
                format!("no sensor is bound to MQTT topic \"{}\"", shown(topic))
            });
            return;
        }
        match self.parse_payload(payload) {
            Ok(None) => {}
            Ok(Some(r)) => {
                out.samples.extend(sensors.into_iter().map(|sensor| Sample {
                    sensor,
                    value: r.value.clone(),
                    unit: r.unit.clone(),
                    source_ms: r.source_ms,
                    received_ms: now_ms,
                    quality: r.quality,
                }));
            }
            Err((kind, why)) => out
                .bad
                .push(kind, || format!("MQTT topic \"{}\": {why}", shown(topic))),
        }
    }

    /// Turns a PUBLISH payload into a reading: bare text (`21.5`, `true`, `RUNNING`) or JSON
    /// (a number, boolean or string as the JSON adapter reads them, or an object read with the
    /// source's payload pointers). `Ok(None)` for an empty payload: publishing one clears a
    /// retained message, so it is no reading.
    fn parse_payload(&self, payload: &[u8]) -> Result<Option<Reading>, (BadInputKind, String)> {
        if payload.is_empty() {
            return Ok(None);
        }
        let text = std::str::from_utf8(payload).map_err(|e| {
            (
                BadInputKind::WrongType,
                format!(
                    "payload is not UTF-8 text (invalid byte at offset {})",
                    e.valid_up_to()
                ),
            )
        })?;
        let text = text.trim();
        let plain = |value| {
            Ok(Some(Reading {
                value,
                unit: None,
                source_ms: None,
                quality: Quality::Good,
            }))
        };
        match serde_json::from_str::<Json>(text) {
            Ok(json @ Json::Object(_)) => self.read_object(&json).map(Some),
            Ok(json @ (Json::Number(_) | Json::Bool(_) | Json::String(_))) => {
                match value_from_json(Some(&json)) {
                    Ok(v) => plain(v),
                    Err(e) => Err((e.kind(), format!("payload: {}", e.describe()))),
                }
            }
            Ok(other) => Err((
                BadInputKind::WrongType,
                format!(
                    "payload: expected a number, true/false, text or an object, got {}",
                    json_kind(&other)
                ),
            )),
            Err(e) if text.starts_with(['{', '[']) => Err((
                BadInputKind::NotJson,
                format!("payload looks like JSON but does not parse: {e}"),
            )),
            Err(_) => {
                if text.eq_ignore_ascii_case("true") {
                    return plain(Value::Bool(true));
                }
                if text.eq_ignore_ascii_case("false") {
                    return plain(Value::Bool(false));
                }
                match text.parse::<f64>() {
                    Ok(x) if x.is_finite() => plain(Value::Number(x)),
                    // "NaN", "inf", and numbers too large for f64 (JSON refuses those first).
                    Ok(_) => Err((
                        BadInputKind::NonFinite,
                        format!("payload \"{}\" is not a finite number", shown(text)),
                    )),
                    Err(_) => plain(Value::Text(text.to_owned())),
                }
            }
        }
    }

    /// Reads value, timestamp, quality and unit from a JSON object payload, with the same
    /// rules as the JSON adapter: an unreadable timestamp refuses the reading (a wrong time
    /// could reorder it against newer values); absent or null means arrival time.
    fn read_object(&self, json: &Json) -> Result<Reading, (BadInputKind, String)> {
        let label = |p: &Pointer| match p.label() {
            "" => "payload".to_owned(),
            l => format!("payload field {l}"),
        };
        let value = value_from_json(self.value.resolve(json)).map_err(|e| {
            (
                e.kind(),
                format!("{}: {}", label(&self.value), e.describe()),
            )
        })?;
        let source_ms = match self.timestamp.as_ref().map(|p| (p, p.resolve(json))) {
            None | Some((_, None | Some(Json::Null))) => None,
            Some((p, Some(t))) => Some(
                parse_timestamp(t)
                    .map_err(|why| (BadInputKind::WrongType, format!("{}: {why}", label(p))))?,
            ),
        };
        let quality = self
            .quality
            .as_ref()
            .map_or(Quality::Good, |p| quality_from_json(p.resolve(json)));
        Ok(Reading {
            value,
            unit: json.get("unit").and_then(Json::as_str).map(str::to_owned),
            source_ms,
            quality,
        })
    }
}

impl Adapter for MqttAdapter {
    fn subprotocol(&self) -> Option<&'static str> {
        Some("mqtt")
    }

    fn on_open(&mut self, now_ms: f64) -> Vec<Outgoing> {
        // Each connection is a new MQTT session: no bytes or state carry over.
        self.decoder = Decoder::new(self.max_packet);
        self.qos2_pending.clear();
        self.opened_ms = now_ms;
        self.last_received_ms = now_ms;
        self.ping_outstanding = false;
        self.phase = Phase::AwaitConnAck;
        let connect = Packet::Connect {
            client_id: self.client_id.clone(),
            username: self.username.clone(),
            password: self.password.as_ref().map(|p| p.as_bytes().to_vec()),
            keep_alive: self.keep_alive_s,
            // A viewer wants current values, not messages queued while it was away.
            clean_session: true,
        };
        let mut out = Vec::new();
        self.send(&connect, now_ms, &mut out);
        out
    }

    fn on_text(&mut self, text: &str, _now_ms: f64) -> Decoded {
        Decoded {
            bad: vec![BadInput::new(
                BadInputKind::WrongFrameType,
                format!(
                    "text frame of {} bytes on an MQTT connection (MQTT over WebSocket is binary)",
                    text.len()
                ),
            )],
            ..Decoded::default()
        }
    }

    fn on_binary(&mut self, bytes: &[u8], now_ms: f64) -> Decoded {
        let mut out = FrameOut::default();
        if matches!(self.phase, Phase::Idle | Phase::Closed) {
            // Bytes after we asked to close belong to a connection being torn down.
            return out.finish();
        }
        if !bytes.is_empty() {
            // Any traffic shows the broker is alive, even a large packet still arriving.
            self.last_received_ms = now_ms;
            self.ping_outstanding = false;
        }
        self.decoder.push(bytes);
        loop {
            match self.decoder.next_packet() {
                Ok(Some(packet)) => {
                    self.handle(packet, now_ms, &mut out);
                    if self.phase == Phase::Closed {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    self.violation(format!("malformed MQTT packet: {e}"), &mut out);
                    break;
                }
            }
        }
        out.finish()
    }

    fn on_tick(&mut self, now_ms: f64) -> Vec<Outgoing> {
        let mut out = Vec::new();
        match self.phase {
            Phase::Idle | Phase::Closed => return out,
            Phase::AwaitConnAck | Phase::AwaitSubAck(_)
                if now_ms - self.opened_ms >= HANDSHAKE_TIMEOUT_MS =>
            {
                let what = if self.phase == Phase::AwaitConnAck {
                    "CONNECT"
                } else {
                    "SUBSCRIBE"
                };
                self.phase = Phase::Closed;
                out.push(Outgoing::Reconnect(format!(
                    "MQTT broker did not answer {what} within {} s",
                    HANDSHAKE_TIMEOUT_MS / 1000.0
                )));
                return out;
            }
            // Pings start after CONNACK; the handshake timeout covers the time before.
            Phase::AwaitConnAck => return out,
            Phase::AwaitSubAck(_) | Phase::Live => {}
        }
        if self.keep_alive_s == 0 {
            return out;
        }
        let keep_alive_ms = f64::from(self.keep_alive_s) * 1000.0;
        let silent_ms = now_ms - self.last_received_ms;
        if silent_ms >= 1.5 * keep_alive_ms {
            self.phase = Phase::Closed;
            out.push(Outgoing::Reconnect(format!(
                "MQTT broker stopped answering keep-alive pings (nothing received for {:.0} s)",
                silent_ms / 1000.0
            )));
            return out;
        }
        // §3.1.2.10: the client must send something at least every keep-alive interval. Also
        // ping when the broker has been quiet for one interval, so it gets at least half an
        // interval to answer before the 1.5× timeout above.
        if now_ms - self.last_sent_ms >= keep_alive_ms
            || (silent_ms >= keep_alive_ms && !self.ping_outstanding)
        {
            self.ping_outstanding = true;
            self.send(&Packet::PingReq, now_ms, &mut out);
        }
        out
    }

    /// A dropped frame leaves a hole in the byte stream: the packet it was part of, and every
    /// length after it, would decode as garbage. Only a new connection can resynchronise.
    fn on_gap(&mut self, _now_ms: f64) -> Vec<Outgoing> {
        if matches!(self.phase, Phase::Idle | Phase::Closed) {
            return Vec::new();
        }
        self.phase = Phase::Closed;
        vec![Outgoing::Reconnect(
            "frames of the MQTT stream were dropped unread (too large, or the page fell behind): reconnecting to resynchronise".to_owned(),
        )]
    }

    fn state(&self) -> SessionState {
        match self.phase {
            Phase::Live => SessionState::Live,
            _ => SessionState::Handshaking,
        }
    }
}

/// One reading from a payload, shared by every sensor bound to the topic.
#[derive(Debug, Clone, PartialEq)]
struct Reading {
    value: Value,
    unit: Option<String>,
    source_ms: Option<f64>,
    quality: Quality,
}

/// `s` cut to [`SHOWN_CHARS`] characters for a log line.
fn shown(s: &str) -> String {
    match s.char_indices().nth(SHOWN_CHARS) {
        Some((at, _)) => format!("{}…", s.get(..at).unwrap_or(s)),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests;
