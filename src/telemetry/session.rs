//! One live source, whole and platform-free: the protocol adapter, the connection's state
//! machine ([`Link`]), the sensor store it fills and the figures `stats()` shows.
//!
//! The web glue owns the socket. Its callbacks only queue [`SocketEvent`]s
//! ([`FrameQueue`](super::queue::FrameQueue)); each frame hands them to [`LiveSession::pump`]
//! with the time, and carries out the [`Command`]s that come back: open or close a socket,
//! send a frame, set a timer, log a line. So every decision (what to send, when to give up on
//! a socket, how long to wait, what the page says) is made here and tested on the host.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::manifest::{AdapterKind, Manifest, Source};
use crate::telemetry::bindings::Bindings;
use crate::telemetry::link::{Link, LinkAction};
use crate::telemetry::queue::{Skipped, SocketEvent};
use crate::telemetry::store::{
    BadInputBatch, BadInputCounters, Freshness, Inbox, SensorStore, distrust_future_time,
};
use crate::telemetry::{
    Adapter, BadInput, BadInputKind, Decoded, Outgoing, SessionState, Value, ditto, json, mqtt,
};

/// What the owner of the socket must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Open a socket to [`LiveSession::connect_url`] with [`LiveSession::subprotocol`]; tag
    /// its events with `generation`. If it cannot even be created, call
    /// [`LiveSession::open_failed`].
    Open {
        /// Tag for the socket's events.
        generation: u32,
    },
    /// Close the current socket and unhook its callbacks.
    Close,
    /// Send a text frame on the current socket.
    SendText(String),
    /// Send a binary frame on the current socket.
    SendBinary(Vec<u8>),
    /// Call [`LiveSession::pump`] again after this many milliseconds, even if no event comes.
    WakeAfter(f64),
    /// Log a warning (already free of credentials the session knows; scrub it anyway).
    Warn(String),
    /// Log an error.
    Error(String),
}

/// What `stats().connection` shows.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionStats {
    /// `connecting`, `live`, `reconnecting`, `silent`, `failed` or `idle`.
    pub status: String,
    /// Words for the page ("reconnecting in 3 s (attempt 4): …").
    pub label: String,
    /// Adapter name.
    pub adapter: &'static str,
    /// The socket URL with any token redacted.
    pub url: String,
    /// Sockets opened so far.
    pub connects: u32,
    /// Frames received.
    pub frames_in: u64,
    /// Samples decoded.
    pub samples_in: u64,
    /// Samples superseded by a newer one before they were applied.
    pub samples_coalesced: u64,
    /// Frames dropped because the queue was over its frame or byte budget.
    pub frames_dropped: u64,
    /// Bytes of those frames.
    pub bytes_dropped: u64,
    /// Bad input by kind.
    pub bad_input: BTreeMap<&'static str, u64>,
}

/// One sensor's reading, as `stats().readings[id]` shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadingStats {
    /// Number, boolean or text; null before the first reading.
    pub value: serde_json::Value,
    /// `live`, `stale`, `connectionLost` or `noData`.
    pub state: &'static str,
    /// Milliseconds since it was received.
    pub age_ms: Option<f64>,
    /// Readings applied so far.
    pub updates: u64,
}

/// Adapter timers (keep-alive, handshake timeouts) run this often.
const ADAPTER_TICK_MS: f64 = 1000.0;

/// The live source of one twin.
pub struct LiveSession {
    source: Source,
    client_id: String,
    connect_url: String,
    shown_url: String,
    adapter_name: &'static str,
    adapter: Box<dyn Adapter>,
    link: Link,
    store: SensorStore,
    inbox: Inbox,
    counters: BadInputCounters,
    sensor_ids: Vec<String>,
    stats: ConnectionStats,
    last_adapter_tick: f64,
    random: Box<dyn FnMut() -> f64>,
}

impl LiveSession {
    /// The session for `manifest.source` (`None` without one). `socket_url` is the source's
    /// URL made absolute (`ws://` or `wss://`); `client_id` the final MQTT client id; `random`
    /// gives the backoff jitter, uniform in `[0, 1]`.
    pub fn new(
        manifest: &Manifest,
        socket_url: &str,
        client_id: &str,
        random: Box<dyn FnMut() -> f64>,
    ) -> Option<LiveSession> {
        let source = manifest.source.clone()?;
        let bindings = Bindings::from_manifest(manifest);
        let (adapter, connect_url, adapter_name): (Box<dyn Adapter>, String, &'static str) =
            match source.adapter {
                AdapterKind::Json => (
                    Box::new(json::JsonAdapter::new(
                        &source,
                        bindings,
                        source.max_message_bytes,
                    )),
                    socket_url.to_owned(),
                    "json",
                ),
                AdapterKind::Mqtt => (
                    Box::new(mqtt::MqttAdapter::new(
                        &source,
                        bindings,
                        client_id.to_owned(),
                    )),
                    socket_url.to_owned(),
                    "mqtt",
                ),
                AdapterKind::Ditto => {
                    // Browsers cannot set headers on a WebSocket: Ditto takes the token in the URL.
                    let with_token = ditto::connect_url(&Source {
                        url: socket_url.to_owned(),
                        ..source.clone()
                    });
                    (
                        Box::new(ditto::DittoAdapter::new(&source, bindings)),
                        with_token,
                        "ditto",
                    )
                }
            };
        let shown_url = ditto::redacted_url(&connect_url);
        // MQTT has its own keep-alive (PINGREQ/PINGRESP); the others only have silence.
        let silence_ms = match source.adapter {
            AdapterKind::Mqtt => None,
            AdapterKind::Json | AdapterKind::Ditto => Some(source.silence_seconds * 1000.0),
        };
        Some(LiveSession {
            link: Link::new(&source.reconnect, silence_ms, &shown_url),
            store: SensorStore::new(manifest),
            inbox: Inbox::with_sensors(manifest.sensors.len()),
            sensor_ids: manifest.sensors.iter().map(|s| s.id.clone()).collect(),
            counters: BadInputCounters::default(),
            stats: ConnectionStats {
                adapter: adapter_name,
                url: shown_url.clone(),
                ..ConnectionStats::default()
            },
            last_adapter_tick: f64::NEG_INFINITY,
            client_id: client_id.to_owned(),
            connect_url,
            shown_url,
            adapter_name,
            adapter,
            source,
            random,
        })
    }

    /// The URL to open (for Ditto with the token: never log it).
    pub fn connect_url(&self) -> &str {
        &self.connect_url
    }

    /// The URL for logs and the page, secrets redacted.
    pub fn shown_url(&self) -> &str {
        &self.shown_url
    }

    /// The WebSocket subprotocol to request.
    pub fn subprotocol(&self) -> Option<&'static str> {
        self.adapter.subprotocol()
    }

    /// Handles queued socket events (tagged by socket generation; events of an older socket
    /// only count in the figures) and runs the timers; `now_ms` is epoch time. Returns what
    /// to do, and whether any reading changed.
    pub fn pump(
        &mut self,
        events: impl IntoIterator<Item = (u32, SocketEvent)>,
        now_ms: f64,
    ) -> (Vec<Command>, bool) {
        let mut out = Vec::new();
        for (generation, event) in events {
            if let SocketEvent::Skipped(s) = &event {
                self.count_skipped(s);
            }
            if self.link.accepts(generation) {
                self.handle(event, now_ms, &mut out);
            }
        }
        let random01 = (self.random)();
        let actions = self.link.tick(now_ms, random01);
        self.link_actions(actions, &mut out);
        if self.link.is_open() && now_ms - self.last_adapter_tick >= ADAPTER_TICK_MS {
            self.last_adapter_tick = now_ms;
            let outgoing = self.adapter.on_tick(now_ms);
            self.act(outgoing, now_ms, &mut out);
        }
        let applied = self.inbox.drain_into(&mut self.store);
        self.stats.samples_coalesced = self.inbox.coalesced();
        self.store.set_connection_lost(self.link.lost_since());
        (out, applied > 0)
    }

    /// The socket of the last [`Command::Open`] could not be created (a malformed URL):
    /// retrying cannot help.
    pub fn open_failed(&mut self, reason: &str, now_ms: f64) -> Vec<Command> {
        let reason = format!("cannot open {}: {reason}", self.shown_url);
        let mut out = vec![Command::Error(format!("twinlens: {reason}"))];
        let actions = self.link.fail(reason, now_ms);
        self.link_actions(actions, &mut out);
        self.store.set_connection_lost(self.link.lost_since());
        out
    }

    fn handle(&mut self, event: SocketEvent, now_ms: f64, out: &mut Vec<Command>) {
        match event {
            SocketEvent::Open => {
                self.stats.connects += 1;
                self.link.opened(now_ms);
                let mut outgoing = Vec::new();
                if let Some(t) = &self.source.on_open {
                    outgoing.push(Outgoing::Text(json::render_template(
                        t,
                        &self.source,
                        &self.client_id,
                    )));
                }
                outgoing.extend(self.adapter.on_open(now_ms));
                self.note_session_state(now_ms);
                self.act(outgoing, now_ms, out);
            }
            SocketEvent::Text(text) => {
                self.link.frame(now_ms);
                let decoded = if text.len() > self.source.max_message_bytes {
                    self.too_large(text.len(), now_ms)
                } else {
                    self.adapter.on_text(&text, now_ms)
                };
                self.take(decoded, now_ms, out);
            }
            SocketEvent::Binary(bytes) => {
                self.link.frame(now_ms);
                let decoded = if bytes.len() > self.source.max_message_bytes {
                    self.too_large(bytes.len(), now_ms)
                } else {
                    self.adapter.on_binary(&bytes, now_ms)
                };
                self.take(decoded, now_ms, out);
            }
            SocketEvent::Skipped(s) => {
                // The frames did arrive: the connection is alive, though they were not read.
                self.link.frame(now_ms);
                let mut decoded = Decoded {
                    outgoing: self.adapter.on_gap(now_ms),
                    ..Decoded::default()
                };
                if s.too_large > 0 {
                    decoded.bad.push(BadInput::new(
                        BadInputKind::TooLarge,
                        format!(
                            "{} frame(s) over source.maxMessageBytes ({}) dropped unread (the largest at least {} bytes)",
                            s.too_large, self.source.max_message_bytes, s.largest_bytes
                        ),
                    ));
                }
                if s.dropped > 0 {
                    out.push(Command::Warn(format!(
                        "twinlens: {}: {} frame(s) ({} bytes) dropped: the page fell behind",
                        self.shown_url, s.dropped, s.dropped_bytes
                    )));
                }
                self.take_without_frame(decoded, now_ms, out);
            }
            SocketEvent::Closed {
                code,
                reason,
                clean,
            } => {
                let random01 = (self.random)();
                let actions = self.link.closed(code, &reason, clean, now_ms, random01);
                self.link_actions(actions, out);
            }
        }
    }

    /// Counts frames the queue did not keep (too-large frames count as bad input instead,
    /// when their socket is current).
    fn count_skipped(&mut self, s: &Skipped) {
        self.stats.frames_dropped += s.dropped;
        self.stats.bytes_dropped += s.dropped_bytes;
    }

    fn too_large(&mut self, len: usize, now_ms: f64) -> Decoded {
        Decoded {
            bad: vec![BadInput::new(
                BadInputKind::TooLarge,
                format!(
                    "a {len}-byte frame exceeds source.maxMessageBytes ({})",
                    self.source.max_message_bytes
                ),
            )],
            // A stream protocol cannot skip a frame it has not read.
            outgoing: self.adapter.on_gap(now_ms),
            ..Decoded::default()
        }
    }

    fn take(&mut self, decoded: Decoded, now_ms: f64, out: &mut Vec<Command>) {
        self.stats.frames_in += 1;
        self.take_without_frame(decoded, now_ms, out);
    }

    fn take_without_frame(&mut self, decoded: Decoded, now_ms: f64, out: &mut Vec<Command>) {
        self.stats.samples_in += decoded.samples.len() as u64;
        let mut future = BadInputBatch::new();
        for mut s in decoded.samples {
            if let Some(ahead_ms) = distrust_future_time(&mut s) {
                let id = self.sensor_ids.get(s.sensor).map_or("?", String::as_str);
                future.push(BadInputKind::FutureTimestamp, || {
                    format!(
                        "\"{id}\": the source time is {} ahead of the reading's arrival (more than 5 min; check the source's clock): ordered by arrival instead",
                        crate::telemetry::backoff::describe_duration(ahead_ms)
                    )
                });
            }
            self.inbox.push(s);
        }
        for bad in decoded.bad.iter().chain(&future.finish()) {
            if self.counters.record(bad) {
                out.push(Command::Warn(format!(
                    "twinlens: {}: {}",
                    self.shown_url, bad.reason
                )));
            }
        }
        self.note_session_state(now_ms);
        self.act(decoded.outgoing, now_ms, out);
    }

    fn note_session_state(&mut self, now_ms: f64) {
        if self.link.is_open() && self.adapter.state() == SessionState::Live {
            self.link.session_live(now_ms);
        }
    }

    fn act(&mut self, outgoing: Vec<Outgoing>, now_ms: f64, out: &mut Vec<Command>) {
        for o in outgoing {
            match o {
                Outgoing::Text(t) if self.link.is_open() => out.push(Command::SendText(t)),
                Outgoing::Binary(b) if self.link.is_open() => out.push(Command::SendBinary(b)),
                Outgoing::Text(_) | Outgoing::Binary(_) => {}
                Outgoing::Reconnect(why) => {
                    if !self.link.accepts(self.link.generation()) {
                        continue;
                    }
                    let random01 = (self.random)();
                    let actions = self.link.reconnect(why, now_ms, random01);
                    self.link_actions(actions, out);
                }
                Outgoing::Fail(reason) => {
                    out.push(Command::Error(format!(
                        "twinlens: {}: {reason}",
                        self.shown_url
                    )));
                    let actions = self.link.fail(reason, now_ms);
                    self.link_actions(actions, out);
                }
            }
        }
    }

    fn link_actions(&mut self, actions: Vec<LinkAction>, out: &mut Vec<Command>) {
        for a in actions {
            out.push(match a {
                LinkAction::Open { generation } => Command::Open { generation },
                LinkAction::Close => Command::Close,
                LinkAction::WakeAfter(ms) => Command::WakeAfter(ms),
            });
        }
    }

    /// The sensor store the connection fills.
    pub fn store(&self) -> &SensorStore {
        &self.store
    }

    /// The connection's state machine.
    pub fn link(&self) -> &Link {
        &self.link
    }

    /// Connection figures for `stats()` at `now_ms`.
    pub fn connection_stats(&self, now_ms: f64) -> ConnectionStats {
        let status = self.link.status(now_ms);
        let mut s = self.stats.clone();
        s.adapter = self.adapter_name;
        s.status = status.name().to_owned();
        s.label = status.label();
        s.bad_input = self
            .counters
            .by_kind()
            .map(|(k, n)| (k.name(), n))
            .collect();
        s
    }

    /// Every sensor's reading for `stats()` at `now_ms`, keyed by sensor id.
    pub fn readings(&self, now_ms: f64) -> BTreeMap<String, ReadingStats> {
        self.sensor_ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let latest = self.store.latest(i);
                let freshness = self.store.freshness(i, now_ms);
                let age_ms = match freshness {
                    Freshness::Live => latest.map(|l| (now_ms - l.received_ms).max(0.0)),
                    other => other.age_ms(),
                };
                let value = match latest.map(|l| &l.value) {
                    Some(Value::Number(v)) => serde_json::json!(v),
                    Some(Value::Bool(b)) => serde_json::json!(b),
                    Some(Value::Text(t)) => serde_json::json!(t),
                    None => serde_json::Value::Null,
                };
                (
                    id.clone(),
                    ReadingStats {
                        value,
                        state: freshness.name(),
                        age_ms,
                        updates: self.store.update_count(i),
                    },
                )
            })
            .collect()
    }
}

impl std::fmt::Debug for LiveSession {
    // The connect URL may hold a token: only the redacted one is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSession")
            .field("url", &self.shown_url)
            .field("adapter", &self.adapter_name)
            .field("link", &self.link)
            .finish_non_exhaustive()
    }
}
