//! Live sensor data, platform-free: samples, the per-sensor store with history and freshness,
//! the protocol adapters (JSON, MQTT 3.1.1, Eclipse Ditto) that turn WebSocket frames into
//! samples, reconnect backoff and connection status, the connection's state machine
//! ([`link`]), the bounded queue between socket callbacks and frames ([`queue`]) and the whole
//! per-source logic that ties them together ([`session`]). The web glue owns the socket, feeds
//! its events in and carries out the commands that come back; everything here is tested on
//! the host.

pub mod backoff;
pub mod bindings;
pub mod ditto;
pub mod history;
pub mod json;
pub mod link;
pub mod mqtt;
pub mod queue;
pub mod session;
pub mod store;
pub mod tape;
pub mod time;

use std::fmt;

/// A sensor reading's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A finite number.
    Number(f64),
    /// An on/off state.
    Bool(bool),
    /// A text state ("RUNNING").
    Text(String),
}

/// How trustworthy the source says a reading is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Quality {
    /// Normal reading.
    #[default]
    Good,
    /// The source doubts it.
    Uncertain,
    /// The source says it is wrong.
    Bad,
}

/// One reading of one sensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Index of the sensor in the manifest's `sensors`.
    pub sensor: usize,
    /// The value.
    pub value: Value,
    /// Unit given by the message, when it gives one.
    pub unit: Option<String>,
    /// Source timestamp, milliseconds since the Unix epoch, when the message has one.
    pub source_ms: Option<f64>,
    /// When the page received it, milliseconds since the Unix epoch.
    pub received_ms: f64,
    /// Quality flag.
    pub quality: Quality,
}

/// Kinds of bad input, each counted separately in `stats()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BadInputKind {
    /// A text frame that is not JSON.
    NotJson,
    /// JSON whose fields have the wrong type or are missing.
    WrongType,
    /// A reading for a sensor the manifest does not have.
    UnknownSensor,
    /// NaN or infinite value.
    NonFinite,
    /// A frame over `maxMessageBytes`.
    TooLarge,
    /// A binary frame where text is expected (or the reverse).
    WrongFrameType,
    /// A malformed MQTT packet.
    MalformedMqtt,
    /// A Ditto message that is not a valid protocol envelope.
    MalformedDitto,
    /// A source timestamp too far ahead of the reading's arrival to be trusted
    /// ([`store::MAX_FUTURE_SKEW_MS`]); the reading is kept, ordered by its arrival time.
    FutureTimestamp,
}

impl BadInputKind {
    /// The name used in `stats()` (camelCase).
    pub fn name(self) -> &'static str {
        match self {
            BadInputKind::NotJson => "notJson",
            BadInputKind::WrongType => "wrongType",
            BadInputKind::UnknownSensor => "unknownSensor",
            BadInputKind::NonFinite => "nonFinite",
            BadInputKind::TooLarge => "tooLarge",
            BadInputKind::WrongFrameType => "wrongFrameType",
            BadInputKind::MalformedMqtt => "malformedMqtt",
            BadInputKind::MalformedDitto => "malformedDitto",
            BadInputKind::FutureTimestamp => "futureTimestamp",
        }
    }
}

/// One piece of bad input, or a summary of several of one kind: its kind, a reason for the log
/// (never containing credentials) and how many inputs it stands for.
#[derive(Debug, Clone, PartialEq)]
pub struct BadInput {
    /// Kind, for counting.
    pub kind: BadInputKind,
    /// What was wrong, naming the field or byte offset.
    pub reason: String,
    /// Inputs this entry stands for: 1, or more for a summary of those past a frame's detail
    /// limit.
    pub count: u64,
}

impl BadInput {
    /// One bad input.
    pub fn new(kind: BadInputKind, reason: impl Into<String>) -> BadInput {
        BadInput {
            kind,
            reason: reason.into(),
            count: 1,
        }
    }

    /// A summary standing for `count` further bad inputs of `kind` ("... and 17 more like
    /// this").
    pub fn summary(kind: BadInputKind, count: u64) -> BadInput {
        BadInput {
            kind,
            reason: format!("... and {count} more like this"),
            count,
        }
    }
}

/// What an adapter asks the connection to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Outgoing {
    /// Send a text frame.
    Text(String),
    /// Send a binary frame.
    Binary(Vec<u8>),
    /// Close the socket and reconnect later (protocol error, missed keep-alive).
    Reconnect(String),
    /// Close and stop: retrying cannot help (authentication refused, bad configuration).
    Fail(String),
}

/// What the adapter reports about its session.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionState {
    /// Socket open, protocol handshake (CONNECT/CONNACK, START-SEND-EVENTS/ACK) not finished.
    Handshaking,
    /// Data flows.
    Live,
}

/// Everything one frame produced.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Decoded {
    /// Readings, in message order.
    pub samples: Vec<Sample>,
    /// Bad input found; the rest of the frame was still used where the protocol allows.
    pub bad: Vec<BadInput>,
    /// Frames to send or connection actions.
    pub outgoing: Vec<Outgoing>,
}

/// A protocol adapter: turns frames from the socket into samples, and says what to send.
/// Implementations are synchronous and hold no socket; time is passed in (ms since epoch).
pub trait Adapter {
    /// The WebSocket subprotocol to request (`mqtt` for MQTT), if any.
    fn subprotocol(&self) -> Option<&'static str>;
    /// The socket opened: frames to send first (after the manifest's `onOpen` text).
    fn on_open(&mut self, now_ms: f64) -> Vec<Outgoing>;
    /// A text frame arrived.
    fn on_text(&mut self, text: &str, now_ms: f64) -> Decoded;
    /// A binary frame arrived.
    fn on_binary(&mut self, bytes: &[u8], now_ms: f64) -> Decoded;
    /// Called about once a second: keep-alive pings, handshake timeouts.
    fn on_tick(&mut self, now_ms: f64) -> Vec<Outgoing>;
    /// Frames of this connection were dropped unread (too large, or the page fell behind).
    /// Adapters whose frames are independent lose only those readings (the default); a
    /// stream protocol that cannot resynchronise asks for a reconnect.
    fn on_gap(&mut self, _now_ms: f64) -> Vec<Outgoing> {
        Vec::new()
    }
    /// Session state.
    fn state(&self) -> SessionState;
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Number(v) => write!(f, "{v}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Text(t) => f.write_str(t),
        }
    }
}
