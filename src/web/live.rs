//! The live-data connection in the page: owns the WebSocket and its callbacks, which only
//! queue events ([`FrameQueue`]); each frame hands them to the pure [`LiveSession`] and carries
//! out the commands that come back (open, close, send, set a timer, log). Every decision lives
//! in `crate::telemetry`, tested on the host; nothing here decides.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use js_sys::{ArrayBuffer, JsString, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

use crate::manifest::{Manifest, Source};
use crate::telemetry::queue::{FrameQueue, SocketEvent};
use crate::telemetry::session::{Command, LiveSession};
use crate::telemetry::store::SensorStore;

pub use crate::telemetry::session::{ConnectionStats, ReadingStats};

use super::shown;

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

/// The live source of one twin.
pub struct LiveSource {
    session: LiveSession,
    events: Rc<RefCell<FrameQueue>>,
    max_message_bytes: usize,
    socket: Option<Socket>,
    wake: Rc<dyn Fn()>,
}

impl LiveSource {
    /// Prepares the connection described by `manifest.source` (resolved against `page_url`);
    /// `wake` asks the page for a frame when events arrive. `None` when the manifest has none.
    pub fn new(manifest: &Manifest, page_url: &str, wake: Rc<dyn Fn()>) -> Option<LiveSource> {
        let source = manifest.source.as_ref()?;
        let socket_url = ws_url(&source.url, page_url);
        for w in source.security_warnings_for(&socket_url) {
            shown::warn(&format!("twinlens: {w}"));
        }
        let session = LiveSession::new(
            manifest,
            &socket_url,
            &client_id(source),
            Box::new(js_sys::Math::random),
        )?;
        Some(LiveSource {
            events: Rc::new(RefCell::new(FrameQueue::for_source(
                source.max_message_bytes,
            ))),
            max_message_bytes: source.max_message_bytes,
            session,
            socket: None,
            wake,
        })
    }

    /// Drains queued socket events into the store and runs timers; `now_ms` is epoch time.
    /// Returns whether any reading changed.
    pub fn pump(&mut self, now_ms: f64) -> bool {
        let events = self.events.borrow_mut().drain();
        let (commands, changed) = self.session.pump(events, now_ms);
        self.run(commands, now_ms);
        changed
    }

    fn run(&mut self, commands: Vec<Command>, now_ms: f64) {
        let mut queue = std::collections::VecDeque::from(commands);
        while let Some(c) = queue.pop_front() {
            match c {
                Command::Open { generation } => {
                    if let Err(reason) = self.connect(generation) {
                        queue.extend(self.session.open_failed(&reason, now_ms));
                    }
                }
                Command::Close => self.socket = None,
                Command::SendText(t) => {
                    if let Some(s) = &self.socket {
                        let _ = s.ws.send_with_str(&t);
                    }
                }
                Command::SendBinary(b) => {
                    if let Some(s) = &self.socket {
                        let _ = s.ws.send_with_u8_array(&b);
                    }
                }
                Command::WakeAfter(ms) => self.wake_after(ms),
                Command::Warn(text) => shown::warn(&text),
                Command::Error(text) => shown::error(&text),
            }
        }
    }

    /// A timer wakes the frame loop when a retry is due, even if nothing else happens.
    fn wake_after(&self, delay_ms: f64) {
        let wake = self.wake.clone();
        if let Some(w) = web_sys::window() {
            let cb = Closure::once_into_js(move || wake());
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(
                cb.unchecked_ref(),
                delay_ms.ceil().min(f64::from(i32::MAX - 1)) as i32 + 1,
            );
        }
    }

    /// Opens the socket for `generation`, its callbacks only queueing events; the reason in
    /// words when the browser refuses to even create it.
    fn connect(&mut self, generation: u32) -> Result<(), String> {
        self.socket = None;
        let url = self.session.connect_url();
        let ws = match self.session.subprotocol() {
            Some(p) => WebSocket::new_with_str(url, p),
            None => WebSocket::new(url),
        }
        .map_err(|e| super::fetch::js_reason(&e))?;
        ws.set_binary_type(BinaryType::Arraybuffer);
        let push = {
            let events = self.events.clone();
            let wake = self.wake.clone();
            Rc::new(move |event: SocketEvent| {
                events.borrow_mut().push(generation, event);
                wake();
            })
        };
        let mut callbacks: Vec<Closure<dyn FnMut(JsValue)>> = Vec::new();
        let p = push.clone();
        let onopen = Closure::<dyn FnMut(JsValue)>::new(move |_| p(SocketEvent::Open));
        ws.set_onopen(Some(onopen.as_ref().unchecked_ref()));
        callbacks.push(onopen);
        let onmessage = {
            let events = self.events.clone();
            let wake = self.wake.clone();
            let max = self.max_message_bytes;
            Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
                let Ok(e) = e.dyn_into::<MessageEvent>() else {
                    return;
                };
                // Sizes are checked before anything is copied into wasm memory.
                let data = e.data();
                let event = if let Some(text) = data.dyn_ref::<JsString>() {
                    // UTF-16 units: never more than the UTF-8 bytes, so this refuses only
                    // frames that are certainly too large.
                    let units = text.length() as usize;
                    if units > max {
                        Err(units)
                    } else {
                        Ok(SocketEvent::Text(String::from(text)))
                    }
                } else if let Some(buf) = data.dyn_ref::<ArrayBuffer>() {
                    let bytes = buf.byte_length() as usize;
                    if bytes > max {
                        Err(bytes)
                    } else {
                        Ok(SocketEvent::Binary(Uint8Array::new(buf).to_vec()))
                    }
                } else {
                    return;
                };
                {
                    let mut q = events.borrow_mut();
                    match event {
                        Ok(event) => q.push(generation, event),
                        Err(size) => q.push_too_large(generation, size),
                    }
                }
                wake();
            })
        };
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
        Ok(())
    }

    /// The sensor store the connection fills.
    pub fn store(&self) -> &SensorStore {
        self.session.store()
    }

    /// Connection figures for `stats()`.
    pub fn connection_stats(&self) -> ConnectionStats {
        self.session.connection_stats(js_sys::Date::now())
    }

    /// Every sensor's reading for `stats()`, keyed by sensor id.
    pub fn readings(&self, now_ms: f64) -> BTreeMap<String, ReadingStats> {
        self.session.readings(now_ms)
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
pub(super) fn ws_url(url: &str, page_url: &str) -> String {
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
