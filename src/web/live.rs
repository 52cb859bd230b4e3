//! The live-data connection in the page: owns the WebSocket and its callbacks, which only queue
//! events; the frame loop drains them through the protocol adapter into the sensor store, and
//! reconnects with backoff. Protocol logic lives in `crate::telemetry`, not here.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use js_sys::{ArrayBuffer, Uint8Array};
use serde::Serialize;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

use crate::manifest::{AdapterKind, Manifest, Source};
use crate::telemetry::backoff::{Backoff, ConnectionStatus};
use crate::telemetry::bindings::Bindings;
use crate::telemetry::store::{BadInputCounters, Freshness, Inbox, SensorStore};
use crate::telemetry::{
    Adapter, BadInput, BadInputKind, Outgoing, SessionState, Value, ditto, json, mqtt,
};

/// Frames queued between two drains; beyond this the oldest are dropped and counted (the page
/// was hidden or could not keep up). Each frame is also bounded by `maxMessageBytes`.
const MAX_QUEUED_FRAMES: usize = 4096;

enum SocketEvent {
    Open,
    Text(String),
    Binary(Vec<u8>),
    Closed {
        code: u16,
        reason: String,
        clean: bool,
    },
}

/// Events from one socket, tagged by its generation so a late event from a replaced socket is
/// ignored.
type EventQueue = Rc<RefCell<VecDeque<(u32, SocketEvent)>>>;

/// A WebSocket with the closures it calls; dropping it closes the socket and unhooks them.
struct Socket {
    ws: WebSocket,
    _callbacks: Vec<Closure<dyn FnMut(JsValue)>>,
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        self.ws.set_onerror(None);
        let _ = self.ws.close();
    }
}

/// What `stats().connection` shows.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionStats {
    /// `connecting`, `live`, `reconnecting`, `failed` or `idle`.
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
    /// Frames dropped because the queue was full.
    pub frames_dropped: u64,
    /// Bad input by kind.
    pub bad_input: std::collections::BTreeMap<&'static str, u64>,
}

/// One sensor's reading, as `stats().readings[id]` shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadingStats {
    /// Number, boolean or text; null before the first reading.
    pub value: serde_json::Value,
    /// `live`, `stale` or `noData`.
    pub state: &'static str,
    /// Milliseconds since it was received.
    pub age_ms: Option<f64>,
    /// Readings applied so far.
    pub updates: u64,
}

/// The live source of one twin.
pub struct LiveSource {
    source: Source,
    url: String,
    shown_url: String,
    adapter: Box<dyn Adapter>,
    sensor_ids: Vec<String>,
    store: SensorStore,
    inbox: Inbox,
    counters: BadInputCounters,
    backoff: Backoff,
    status: ConnectionStatus,
    events: EventQueue,
    dropped: Rc<Cell<u64>>,
    socket: Option<Socket>,
    generation: u32,
    reconnect_at: Option<f64>,
    last_tick: f64,
    stats: ConnectionStats,
    wake: Rc<dyn Fn()>,
}

impl LiveSource {
    /// Prepares the connection described by `manifest.source` (resolved against `page_url`);
    /// `wake` asks the page for a frame when events arrive. `None` when the manifest has none.
    pub fn new(manifest: &Manifest, page_url: &str, wake: Rc<dyn Fn()>) -> Option<LiveSource> {
        let source = manifest.source.clone()?;
        let bindings = Bindings::from_manifest(manifest);
        let client_id = client_id(&source);
        let (adapter, url): (Box<dyn Adapter>, String) = match source.adapter {
            AdapterKind::Json => (
                Box::new(json::JsonAdapter::new(
                    &source,
                    bindings,
                    source.max_message_bytes,
                )),
                ws_url(&source.url, page_url),
            ),
            AdapterKind::Mqtt => (
                Box::new(mqtt::MqttAdapter::new(&source, bindings, client_id)),
                ws_url(&source.url, page_url),
            ),
            AdapterKind::Ditto => {
                // Browsers cannot set headers on a WebSocket: Ditto takes the token in the URL.
                let with_token = ditto::connect_url(&Source {
                    url: ws_url(&source.url, page_url),
                    ..source.clone()
                });
                (
                    Box::new(ditto::DittoAdapter::new(&source, bindings)),
                    with_token,
                )
            }
        };
        let shown_url = ditto::redacted_url(&url);
        let adapter_name = match source.adapter {
            AdapterKind::Json => "json",
            AdapterKind::Mqtt => "mqtt",
            AdapterKind::Ditto => "ditto",
        };
        Some(LiveSource {
            backoff: Backoff::new(&source.reconnect),
            store: SensorStore::new(manifest),
            inbox: Inbox::with_sensors(manifest.sensors.len()),
            sensor_ids: manifest.sensors.iter().map(|s| s.id.clone()).collect(),
            counters: BadInputCounters::default(),
            status: ConnectionStatus::Connecting { attempt: 1 },
            events: Rc::new(RefCell::new(VecDeque::new())),
            dropped: Rc::new(Cell::new(0)),
            socket: None,
            generation: 0,
            reconnect_at: Some(0.0),
            last_tick: 0.0,
            stats: ConnectionStats {
                adapter: adapter_name,
                url: shown_url.clone(),
                ..Default::default()
            },
            source,
            url,
            shown_url,
            adapter,
            wake,
        })
    }

    /// Drains queued socket events into the store and runs timers; `now_ms` is epoch time.
    /// Returns whether any reading changed.
    pub fn pump(&mut self, now_ms: f64) -> bool {
        if self.reconnect_at.is_some_and(|at| now_ms >= at) {
            self.reconnect_at = None;
            self.connect();
        }
        let events: Vec<(u32, SocketEvent)> = self.events.borrow_mut().drain(..).collect();
        for (generation, event) in events {
            if generation != self.generation {
                continue;
            }
            match event {
                SocketEvent::Open => {
                    self.stats.connects += 1;
                    let mut out = Vec::new();
                    if let Some(t) = &self.source.on_open {
                        out.push(Outgoing::Text(json::render_template(
                            t,
                            &self.source,
                            &client_id(&self.source),
                        )));
                    }
                    out.extend(self.adapter.on_open(now_ms));
                    self.update_status();
                    self.act(out, now_ms);
                }
                SocketEvent::Text(text) => {
                    let decoded = if text.len() > self.source.max_message_bytes {
                        self.too_large(text.len())
                    } else {
                        self.adapter.on_text(&text, now_ms)
                    };
                    self.take(decoded, now_ms);
                }
                SocketEvent::Binary(bytes) => {
                    // Binary frames go to the adapter whatever their size: MQTT packets may span
                    // frames, so only its decoder can apply the limit without breaking the stream.
                    let decoded = self.adapter.on_binary(&bytes, now_ms);
                    self.take(decoded, now_ms);
                }
                SocketEvent::Closed {
                    code,
                    reason,
                    clean,
                } => {
                    self.socket = None;
                    if !matches!(self.status, ConnectionStatus::Failed { .. }) {
                        let why = if reason.is_empty() {
                            if clean {
                                format!("closed (code {code})")
                            } else {
                                format!("connection lost (code {code})")
                            }
                        } else {
                            format!("closed (code {code}): {reason}")
                        };
                        self.schedule_reconnect(why, now_ms);
                    }
                }
            }
        }
        if now_ms - self.last_tick >= 1000.0 {
            self.last_tick = now_ms;
            if self.socket.is_some() {
                let out = self.adapter.on_tick(now_ms);
                self.act(out, now_ms);
            }
        }
        let applied = self.inbox.drain_into(&mut self.store);
        self.stats.samples_coalesced = self.inbox.coalesced();
        applied > 0
    }

    fn too_large(&self, len: usize) -> crate::telemetry::Decoded {
        crate::telemetry::Decoded {
            bad: vec![BadInput {
                kind: BadInputKind::TooLarge,
                reason: format!(
                    "a {len}-byte frame exceeds source.maxMessageBytes ({})",
                    self.source.max_message_bytes
                ),
            }],
            ..Default::default()
        }
    }

    fn take(&mut self, decoded: crate::telemetry::Decoded, now_ms: f64) {
        self.stats.frames_in += 1;
        self.stats.samples_in += decoded.samples.len() as u64;
        for s in decoded.samples {
            self.inbox.push(s);
        }
        for bad in &decoded.bad {
            if self.counters.record(bad) {
                web_sys::console::warn_1(
                    &format!("twinlens: {}: {}", self.shown_url, bad.reason).into(),
                );
            }
        }
        self.update_status();
        self.act(decoded.outgoing, now_ms);
    }

    fn act(&mut self, out: Vec<Outgoing>, now_ms: f64) {
        for o in out {
            match o {
                Outgoing::Text(t) => {
                    if let Some(s) = &self.socket {
                        let _ = s.ws.send_with_str(&t);
                    }
                }
                Outgoing::Binary(b) => {
                    if let Some(s) = &self.socket {
                        let _ = s.ws.send_with_u8_array(&b);
                    }
                }
                Outgoing::Reconnect(why) => {
                    self.socket = None;
                    self.schedule_reconnect(why, now_ms);
                }
                Outgoing::Fail(reason) => {
                    self.socket = None;
                    self.reconnect_at = None;
                    web_sys::console::error_1(
                        &format!("twinlens: {}: {reason}", self.shown_url).into(),
                    );
                    self.status = ConnectionStatus::Failed { reason };
                }
            }
        }
    }

    fn update_status(&mut self) {
        if self.socket.is_some() && matches!(self.adapter.state(), SessionState::Live) {
            if !matches!(self.status, ConnectionStatus::Live) {
                self.backoff.reset();
            }
            self.status = ConnectionStatus::Live;
        }
    }

    fn schedule_reconnect(&mut self, why: String, now_ms: f64) {
        let delay = self.backoff.next_delay_ms(js_sys::Math::random());
        self.reconnect_at = Some(now_ms + delay);
        self.status = ConnectionStatus::Reconnecting {
            in_ms: delay,
            attempt: self.backoff.attempt(),
            last_error: why,
        };
        // A timer wakes the frame loop when the retry is due, even if nothing else happens.
        let wake = self.wake.clone();
        if let Some(w) = web_sys::window() {
            let cb = Closure::once_into_js(move || wake());
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(
                cb.unchecked_ref(),
                delay.ceil() as i32 + 1,
            );
        }
    }

    fn connect(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        self.socket = None;
        let generation = self.generation;
        let ws = match self.adapter.subprotocol() {
            Some(p) => WebSocket::new_with_str(&self.url, p),
            None => WebSocket::new(&self.url),
        };
        let ws = match ws {
            Ok(ws) => ws,
            Err(e) => {
                // A malformed URL cannot get better by retrying.
                let reason = format!(
                    "cannot open {}: {}",
                    self.shown_url,
                    super::fetch::js_reason(&e)
                );
                self.status = ConnectionStatus::Failed { reason };
                return;
            }
        };
        ws.set_binary_type(BinaryType::Arraybuffer);
        self.status = ConnectionStatus::Connecting {
            attempt: self.backoff.attempt() + 1,
        };
        let push = {
            let events = self.events.clone();
            let wake = self.wake.clone();
            let dropped = self.dropped.clone();
            move |event: SocketEvent| {
                let mut q = events.borrow_mut();
                if q.len() >= MAX_QUEUED_FRAMES {
                    q.pop_front();
                    dropped.set(dropped.get() + 1);
                }
                q.push_back((generation, event));
                drop(q);
                wake();
            }
        };
        let push = Rc::new(push);
        let mut callbacks: Vec<Closure<dyn FnMut(JsValue)>> = Vec::new();
        let p = push.clone();
        let onopen = Closure::<dyn FnMut(JsValue)>::new(move |_| p(SocketEvent::Open));
        ws.set_onopen(Some(onopen.as_ref().unchecked_ref()));
        callbacks.push(onopen);
        let p = push.clone();
        let onmessage = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
            let Ok(e) = e.dyn_into::<MessageEvent>() else {
                return;
            };
            let data = e.data();
            if let Some(text) = data.as_string() {
                p(SocketEvent::Text(text));
            } else if let Ok(buf) = data.dyn_into::<ArrayBuffer>() {
                p(SocketEvent::Binary(Uint8Array::new(&buf).to_vec()));
            }
        });
        ws.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
        callbacks.push(onmessage);
        let p = push.clone();
        let onclose = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
            let (code, reason, clean) = match e.dyn_into::<CloseEvent>() {
                Ok(c) => (c.code(), c.reason(), c.was_clean()),
                Err(_) => (1006, String::new(), false),
            };
            p(SocketEvent::Closed {
                code,
                reason,
                clean,
            });
        });
        ws.set_onclose(Some(onclose.as_ref().unchecked_ref()));
        callbacks.push(onclose);
        self.socket = Some(Socket {
            ws,
            _callbacks: callbacks,
        });
    }

    /// The sensor store the connection fills.
    pub fn store(&self) -> &SensorStore {
        &self.store
    }

    /// Connection figures for `stats()`.
    pub fn connection_stats(&self) -> ConnectionStats {
        let mut s = self.stats.clone();
        s.frames_dropped = self.dropped.get();
        s.status = self.status.name().to_owned();
        s.label = self.status.label();
        s.bad_input = self
            .counters
            .by_kind()
            .map(|(k, n)| (k.name(), n))
            .collect();
        s
    }

    /// Every sensor's reading for `stats()`, keyed by sensor id.
    pub fn readings(&self, now_ms: f64) -> std::collections::BTreeMap<String, ReadingStats> {
        (0..self.sensor_ids.len())
            .map(|i| {
                let latest = self.store.latest(i);
                let (state, age_ms) = match self.store.freshness(i, now_ms) {
                    Freshness::Live => ("live", latest.map(|l| now_ms - l.received_ms)),
                    Freshness::Stale { age_ms } => ("stale", Some(age_ms)),
                    Freshness::NoData => ("noData", None),
                };
                let value = match latest.map(|l| &l.value) {
                    Some(Value::Number(v)) => serde_json::json!(v),
                    Some(Value::Bool(b)) => serde_json::json!(b),
                    Some(Value::Text(t)) => serde_json::json!(t),
                    None => serde_json::Value::Null,
                };
                (
                    self.sensor_ids[i].clone(),
                    ReadingStats {
                        value,
                        state,
                        age_ms,
                        updates: self.store.update_count(i),
                    },
                )
            })
            .collect()
    }
}

/// A client id unique per page load, so two tabs do not kick each other off an MQTT broker.
fn client_id(source: &Source) -> String {
    thread_local! {
        static SUFFIX: String = format!("{:08x}", (js_sys::Math::random() * u32::MAX as f64) as u32);
    }
    let base = source
        .client_id
        .clone()
        .unwrap_or_else(|| "twinlens-".into());
    if base.ends_with('-') {
        SUFFIX.with(|s| format!("{base}{s}"))
    } else {
        base
    }
}

/// `ws://`/`wss://` URLs as given; a path becomes a URL on the page's host, secure when the page is.
fn ws_url(url: &str, page_url: &str) -> String {
    if !url.starts_with('/') {
        return url.to_owned();
    }
    match web_sys::Url::new(page_url) {
        Ok(page) => {
            let scheme = if page.protocol() == "https:" {
                "wss:"
            } else {
                "ws:"
            };
            format!("{scheme}//{}{url}", page.host())
        }
        Err(_) => url.to_owned(),
    }
}
