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
pub mod codec {
    use std::collections::VecDeque;

    /// Largest remaining length a 4-byte variable length integer can declare (§2.2.3).
    pub const MAX_REMAINING_LENGTH: usize = 268_435_455;

    /// Longest fixed header: one type byte and four length bytes.
    pub const MAX_FIXED_HEADER: usize = 5;

    /// Longest UTF-8 string or binary field: a two-byte length prefix (§1.5.3).
    pub const MAX_STRING: usize = 65_535;

    /// A SUBACK return code refusing a subscription (§3.9.3).
    pub const SUBACK_FAILURE: u8 = 0x80;

    /// One MQTT 3.1.1 control packet. UNSUBSCRIBE and UNSUBACK are left out: this client never
    /// unsubscribes (it closes the connection instead).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Packet {
        /// Client → broker: open a session (§3.1). Will messages are not supported.
        Connect {
            /// Client identifier; may be empty with a clean session.
            client_id: String,
            /// User name, when the broker wants one.
            username: Option<String>,
            /// Password: binary data in MQTT (§3.1.3.5). Encoding a password without a user
            /// name sends an empty user name, since §3.1.2.9 forbids the password flag alone.
            password: Option<Vec<u8>>,
            /// Keep-alive interval, seconds; 0 turns keep-alive off.
            keep_alive: u16,
            /// Start a fresh session, discarding any stored one.
            clean_session: bool,
        },
        /// Broker → client: the answer to CONNECT (§3.2).
        ConnAck {
            /// The broker kept a session from an earlier connection.
            session_present: bool,
            /// 0 accepted; 1–5 refused (see [`connack_meaning`]).
            return_code: u8,
        },
        /// Client → broker: subscribe to topic filters (§3.8).
        Subscribe {
            /// Non-zero packet identifier, echoed by the SUBACK.
            packet_id: u16,
            /// Filters with the highest QoS wanted for each.
            filters: Vec<(String, u8)>,
        },
        /// Broker → client: one return code per filter (§3.9).
        SubAck {
            /// The SUBSCRIBE's packet identifier.
            packet_id: u16,
            /// Granted QoS (0–2) or [`SUBACK_FAILURE`].
            return_codes: Vec<u8>,
        },
        /// A message on a topic (§3.3).
        Publish {
            /// Topic name (no wildcards).
            topic: String,
            /// Present exactly when `qos` is 1 or 2.
            packet_id: Option<u16>,
            /// Quality of service, 0–2.
            qos: u8,
            /// A retained message (a broker sends these first: the last known values).
            retain: bool,
            /// A redelivery of an earlier attempt.
            dup: bool,
            /// Application payload, opaque to MQTT.
            payload: Vec<u8>,
        },
        /// Acknowledges a QoS 1 PUBLISH (§3.4).
        PubAck {
            /// The PUBLISH's packet identifier.
            packet_id: u16,
        },
        /// First answer to a QoS 2 PUBLISH (§3.5).
        PubRec {
            /// The PUBLISH's packet identifier.
            packet_id: u16,
        },
        /// Second step of QoS 2, answering PUBREC (§3.6).
        PubRel {
            /// The PUBLISH's packet identifier.
            packet_id: u16,
        },
        /// Last step of QoS 2, answering PUBREL (§3.7).
        PubComp {
            /// The PUBLISH's packet identifier.
            packet_id: u16,
        },
        /// Client → broker keep-alive ping (§3.12).
        PingReq,
        /// Broker → client answer to PINGREQ (§3.13).
        PingResp,
        /// Client → broker: closing cleanly (§3.14).
        Disconnect,
    }

    impl Packet {
        /// The packet's name as the specification writes it, for messages.
        pub fn name(&self) -> &'static str {
            match self {
                Packet::Connect { .. } => "CONNECT",
                Packet::ConnAck { .. } => "CONNACK",
                Packet::Subscribe { .. } => "SUBSCRIBE",
                Packet::SubAck { .. } => "SUBACK",
                Packet::Publish { .. } => "PUBLISH",
                Packet::PubAck { .. } => "PUBACK",
                Packet::PubRec { .. } => "PUBREC",
                Packet::PubRel { .. } => "PUBREL",
                Packet::PubComp { .. } => "PUBCOMP",
                Packet::PingReq => "PINGREQ",
                Packet::PingResp => "PINGRESP",
                Packet::Disconnect => "DISCONNECT",
            }
        }
    }

    /// What a CONNACK return code means (§3.2.2.3).
    pub fn connack_meaning(code: u8) -> &'static str {
        match code {
            0 => "connection accepted",
            1 => "unacceptable protocol version",
            2 => "identifier rejected",
            3 => "server unavailable",
            4 => "bad user name or password",
            5 => "not authorised",
            _ => "reserved return code",
        }
    }

    /// Why bytes are not a valid MQTT 3.1.1 packet, or a packet cannot be encoded. Messages
    /// name the packet and field and never include field contents (they may be credentials).
    #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
    pub enum MqttError {
        /// The remaining length did not end within four bytes (§2.2.3).
        #[error("remaining length is longer than 4 bytes")]
        LengthOverflow,
        /// The declared remaining length is over the configured limit.
        #[error(
            "packet declares {declared} bytes, over the {max}-byte limit (source.maxMessageBytes)"
        )]
        TooLarge {
            /// Declared remaining length.
            declared: usize,
            /// The limit.
            max: usize,
        },
        /// Packet type 0 or 15.
        #[error("packet type {0} is reserved")]
        ReservedType(u8),
        /// A valid packet type this client does not implement.
        #[error("{0} packets are not supported by this client")]
        Unsupported(&'static str),
        /// Fixed-header flag bits that the packet type reserves (§2.2.2).
        #[error("{packet}: fixed-header flags {flags:#06b} are reserved")]
        ReservedFlags {
            /// Packet name.
            packet: &'static str,
            /// The low four bits of the first byte.
            flags: u8,
        },
        /// The packet ended inside a field.
        #[error("{packet}: truncated {field}")]
        Truncated {
            /// Packet name.
            packet: &'static str,
            /// The field that was cut short.
            field: &'static str,
        },
        /// Bytes left after the packet's last field.
        #[error("{packet}: {extra} unexpected bytes after the last field")]
        TrailingBytes {
            /// Packet name.
            packet: &'static str,
            /// How many.
            extra: usize,
        },
        /// A string field is not UTF-8 (§1.5.3).
        #[error("{packet}: {field} is not valid UTF-8")]
        InvalidUtf8 {
            /// Packet name.
            packet: &'static str,
            /// The field.
            field: &'static str,
        },
        /// A string field contains U+0000, which §1.5.3 forbids.
        #[error("{packet}: {field} contains U+0000")]
        NulInString {
            /// Packet name.
            packet: &'static str,
            /// The field.
            field: &'static str,
        },
        /// Any other rule of the specification broken.
        #[error("{packet}: {why}")]
        Invalid {
            /// Packet name.
            packet: &'static str,
            /// The rule.
            why: &'static str,
        },
        /// Encoding: a string or binary field over 65,535 bytes.
        #[error("{field} is {len} bytes; MQTT fields hold at most 65535")]
        FieldTooLong {
            /// The field.
            field: &'static str,
            /// Its length.
            len: usize,
        },
        /// Encoding: a packet body over [`MAX_REMAINING_LENGTH`].
        #[error("a {len}-byte packet body is over MQTT's 268435455-byte limit")]
        PacketTooLarge {
            /// Body length.
            len: usize,
        },
    }

    /// Encodes `packet`, or says why it cannot be (a field over 65,535 bytes, an empty
    /// SUBSCRIBE, a QoS without its packet identifier, …). Use this for packets built from
    /// configuration or other outside data.
    pub fn try_encode(packet: &Packet) -> Result<Vec<u8>, MqttError> {
        let mut body = Vec::new();
        let first: u8 = match packet {
            Packet::Connect {
                client_id,
                username,
                password,
                keep_alive,
                clean_session,
            } => {
                put_str(&mut body, "MQTT", "protocol name")?;
                body.push(4); // protocol level 4 = 3.1.1 (§3.1.2.2)
                // A password needs the user name flag (§3.1.2.9): send an empty user name.
                let username = match (username, password) {
                    (None, Some(_)) => Some(""),
                    (u, _) => u.as_deref(),
                };
                let mut flags = 0u8;
                if username.is_some() {
                    flags |= 0x80;
                }
                if password.is_some() {
                    flags |= 0x40;
                }
                if *clean_session {
                    flags |= 0x02;
                }
                body.push(flags);
                body.extend_from_slice(&keep_alive.to_be_bytes());
                put_str(&mut body, client_id, "client id")?;
                if let Some(u) = username {
                    put_str(&mut body, u, "user name")?;
                }
                if let Some(p) = password {
                    put_bytes(&mut body, p, "password")?;
                }
                0x10
            }
            Packet::ConnAck {
                session_present,
                return_code,
            } => {
                body.push(u8::from(*session_present));
                body.push(*return_code);
                0x20
            }
            Packet::Publish {
                topic,
                packet_id,
                qos,
                retain,
                dup,
                payload,
            } => {
                let invalid = |why| MqttError::Invalid {
                    packet: "PUBLISH",
                    why,
                };
                if *qos > 2 {
                    return Err(invalid("QoS must be 0, 1 or 2"));
                }
                put_str(&mut body, topic, "topic")?;
                match (*qos, packet_id) {
                    (0, None) => {}
                    (0, Some(_)) => {
                        return Err(invalid("a QoS 0 message has no packet identifier"));
                    }
                    (_, Some(id)) if *id != 0 => body.extend_from_slice(&id.to_be_bytes()),
                    (_, _) => return Err(invalid("QoS 1 and 2 need a non-zero packet identifier")),
                }
                body.extend_from_slice(payload);
                0x30 | (u8::from(*dup) << 3) | (qos << 1) | u8::from(*retain)
            }
            Packet::PubAck { packet_id } => {
                body.extend_from_slice(&packet_id.to_be_bytes());
                0x40
            }
            Packet::PubRec { packet_id } => {
                body.extend_from_slice(&packet_id.to_be_bytes());
                0x50
            }
            Packet::PubRel { packet_id } => {
                body.extend_from_slice(&packet_id.to_be_bytes());
                0x62 // §3.6.1: PUBREL's flags are 0010
            }
            Packet::PubComp { packet_id } => {
                body.extend_from_slice(&packet_id.to_be_bytes());
                0x70
            }
            Packet::Subscribe { packet_id, filters } => {
                if filters.is_empty() {
                    return Err(MqttError::Invalid {
                        packet: "SUBSCRIBE",
                        why: "needs at least one topic filter",
                    });
                }
                body.extend_from_slice(&packet_id.to_be_bytes());
                for (filter, qos) in filters {
                    put_str(&mut body, filter, "topic filter")?;
                    body.push(*qos);
                }
                0x82 // §3.8.1: SUBSCRIBE's flags are 0010
            }
            Packet::SubAck {
                packet_id,
                return_codes,
            } => {
                body.extend_from_slice(&packet_id.to_be_bytes());
                body.extend_from_slice(return_codes);
                0x90
            }
            Packet::PingReq => 0xC0,
            Packet::PingResp => 0xD0,
            Packet::Disconnect => 0xE0,
        };
        if body.len() > MAX_REMAINING_LENGTH {
            return Err(MqttError::PacketTooLarge { len: body.len() });
        }
        let mut out = Vec::with_capacity(body.len().saturating_add(MAX_FIXED_HEADER));
        out.push(first);
        write_remaining_length(&mut out, body.len());
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Encodes a packet known to be valid (built in code or tests). A packet that cannot be
    /// encoded gives an empty vector rather than a panic; use [`try_encode`] to learn why.
    pub fn encode(packet: &Packet) -> Vec<u8> {
        try_encode(packet).unwrap_or_default()
    }

    /// Appends the variable length encoding of `len` (§2.2.3); `len` is at most
    /// [`MAX_REMAINING_LENGTH`], so this writes 1–4 bytes.
    pub fn write_remaining_length(out: &mut Vec<u8>, mut len: usize) {
        loop {
            let mut byte = (len % 128) as u8;
            len /= 128;
            if len > 0 {
                byte |= 0x80;
            }
            out.push(byte);
            if len == 0 {
                break;
            }
        }
    }

    /// The result of reading a remaining length from the bytes seen so far.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum RemainingLength {
        /// More bytes are needed.
        Incomplete,
        /// The value and how many bytes encoded it.
        Done(usize, usize),
        /// A fourth byte still had its continuation bit set.
        Overflow,
    }

    /// Reads a remaining length from the start of `bytes` (§2.2.3).
    pub fn read_remaining_length(bytes: &[u8]) -> RemainingLength {
        let mut value = 0usize;
        for (i, &b) in bytes.iter().take(4).enumerate() {
            value |= usize::from(b & 0x7F) << (7 * i);
            if b & 0x80 == 0 {
                return RemainingLength::Done(value, i + 1);
            }
        }
        if bytes.len() >= 4 {
            RemainingLength::Overflow
        } else {
            RemainingLength::Incomplete
        }
    }

    fn put_str(out: &mut Vec<u8>, s: &str, field: &'static str) -> Result<(), MqttError> {
        put_bytes(out, s.as_bytes(), field)
    }

    fn put_bytes(out: &mut Vec<u8>, b: &[u8], field: &'static str) -> Result<(), MqttError> {
        let len = u16::try_from(b.len()).map_err(|_| MqttError::FieldTooLong {
            field,
            len: b.len(),
        })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(b);
        Ok(())
    }

    /// Checks the first byte of a fixed header: a known type with the flags it allows
    /// (§2.2.2). Done before the body is buffered so garbage is refused at once.
    fn check_first_byte(b: u8) -> Result<(), MqttError> {
        let (kind, flags) = (b >> 4, b & 0x0F);
        let (packet, required) = match kind {
            0 | 15 => return Err(MqttError::ReservedType(kind)),
            1 => ("CONNECT", Some(0)),
            2 => ("CONNACK", Some(0)),
            // PUBLISH flags are DUP, QoS and RETAIN; QoS 3 is checked with the body.
            3 => ("PUBLISH", None),
            4 => ("PUBACK", Some(0)),
            5 => ("PUBREC", Some(0)),
            6 => ("PUBREL", Some(2)),
            7 => ("PUBCOMP", Some(0)),
            8 => ("SUBSCRIBE", Some(2)),
            9 => ("SUBACK", Some(0)),
            10 => return Err(MqttError::Unsupported("UNSUBSCRIBE")),
            11 => return Err(MqttError::Unsupported("UNSUBACK")),
            12 => ("PINGREQ", Some(0)),
            13 => ("PINGRESP", Some(0)),
            _ => ("DISCONNECT", Some(0)),
        };
        match required {
            Some(r) if r != flags => Err(MqttError::ReservedFlags { packet, flags }),
            _ => Ok(()),
        }
    }

    /// Reads the fields of one packet body, refusing reads past its end.
    struct Reader<'a> {
        packet: &'static str,
        data: &'a [u8],
    }

    impl<'a> Reader<'a> {
        fn u8(&mut self, field: &'static str) -> Result<u8, MqttError> {
            let (&b, rest) = self.data.split_first().ok_or(MqttError::Truncated {
                packet: self.packet,
                field,
            })?;
            self.data = rest;
            Ok(b)
        }

        fn u16(&mut self, field: &'static str) -> Result<u16, MqttError> {
            let b = self.take(2, field)?;
            match b {
                [hi, lo] => Ok(u16::from_be_bytes([*hi, *lo])),
                _ => Err(MqttError::Truncated {
                    packet: self.packet,
                    field,
                }),
            }
        }

        fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], MqttError> {
            if self.data.len() < n {
                return Err(MqttError::Truncated {
                    packet: self.packet,
                    field,
                });
            }
            let (head, rest) = self.data.split_at(n);
            self.data = rest;
            Ok(head)
        }

        fn bytes(&mut self, field: &'static str) -> Result<&'a [u8], MqttError> {
            let len = self.u16(field)?;
            self.take(usize::from(len), field)
        }

        fn string(&mut self, field: &'static str) -> Result<String, MqttError> {
            let raw = self.bytes(field)?;
            let s = std::str::from_utf8(raw).map_err(|_| MqttError::InvalidUtf8 {
                packet: self.packet,
                field,
            })?;
            if s.contains('\0') {
                return Err(MqttError::NulInString {
                    packet: self.packet,
                    field,
                });
            }
            Ok(s.to_owned())
        }

        fn packet_id(&mut self) -> Result<u16, MqttError> {
            let id = self.u16("packet identifier")?;
            if id == 0 {
                // §2.3.1: packet identifiers are non-zero.
                return Err(self.invalid("packet identifier 0"));
            }
            Ok(id)
        }

        fn rest(&mut self) -> &'a [u8] {
            std::mem::take(&mut self.data)
        }

        fn is_empty(&self) -> bool {
            self.data.is_empty()
        }

        fn invalid(&self, why: &'static str) -> MqttError {
            MqttError::Invalid {
                packet: self.packet,
                why,
            }
        }

        fn end(&self) -> Result<(), MqttError> {
            if self.data.is_empty() {
                Ok(())
            } else {
                Err(MqttError::TrailingBytes {
                    packet: self.packet,
                    extra: self.data.len(),
                })
            }
        }
    }

    /// Parses one complete packet: the first header byte and the body (after the length).
    pub fn parse_packet(first: u8, body: &[u8]) -> Result<Packet, MqttError> {
        check_first_byte(first)?;
        let flags = first & 0x0F;
        let packet = match first >> 4 {
            1 => "CONNECT",
            2 => "CONNACK",
            3 => "PUBLISH",
            4 => "PUBACK",
            5 => "PUBREC",
            6 => "PUBREL",
            7 => "PUBCOMP",
            8 => "SUBSCRIBE",
            9 => "SUBACK",
            12 => "PINGREQ",
            13 => "PINGRESP",
            _ => "DISCONNECT",
        };
        let mut r = Reader { packet, data: body };
        let out = match first >> 4 {
            1 => parse_connect(&mut r)?,
            2 => {
                let ack = r.u8("acknowledge flags")?;
                if ack & 0xFE != 0 {
                    return Err(r.invalid("reserved acknowledge flag bits set"));
                }
                let return_code = r.u8("return code")?;
                Packet::ConnAck {
                    session_present: ack & 1 == 1,
                    return_code,
                }
            }
            3 => {
                let qos = (flags >> 1) & 0x03;
                let dup = flags & 0x08 != 0;
                if qos == 3 {
                    return Err(r.invalid("QoS 3 is reserved"));
                }
                if qos == 0 && dup {
                    return Err(r.invalid("DUP set on a QoS 0 message"));
                }
                let topic = r.string("topic")?;
                if topic.contains(['+', '#']) {
                    return Err(r.invalid("wildcard in a topic name"));
                }
                let packet_id = if qos > 0 { Some(r.packet_id()?) } else { None };
                Packet::Publish {
                    topic,
                    packet_id,
                    qos,
                    retain: flags & 0x01 != 0,
                    dup,
                    payload: r.rest().to_vec(),
                }
            }
            4 => Packet::PubAck {
                packet_id: r.packet_id()?,
            },
            5 => Packet::PubRec {
                packet_id: r.packet_id()?,
            },
            6 => Packet::PubRel {
                packet_id: r.packet_id()?,
            },
            7 => Packet::PubComp {
                packet_id: r.packet_id()?,
            },
            8 => {
                let packet_id = r.packet_id()?;
                let mut filters = Vec::new();
                while !r.is_empty() {
                    let filter = r.string("topic filter")?;
                    if filter.is_empty() {
                        return Err(r.invalid("empty topic filter"));
                    }
                    let qos = r.u8("requested QoS")?;
                    if qos > 2 {
                        return Err(r.invalid("requested QoS over 2 or reserved bits set"));
                    }
                    filters.push((filter, qos));
                }
                if filters.is_empty() {
                    return Err(r.invalid("no topic filters"));
                }
                Packet::Subscribe { packet_id, filters }
            }
            9 => {
                let packet_id = r.packet_id()?;
                let return_codes = r.rest().to_vec();
                if return_codes.iter().any(|&c| c > 2 && c != SUBACK_FAILURE) {
                    return Err(r.invalid("reserved return code"));
                }
                Packet::SubAck {
                    packet_id,
                    return_codes,
                }
            }
            12 => Packet::PingReq,
            13 => Packet::PingResp,
            _ => Packet::Disconnect,
        };
        r.end()?;
        Ok(out)
    }

    fn parse_connect(r: &mut Reader<'_>) -> Result<Packet, MqttError> {
        let name = r.string("protocol name")?;
        let level = r.u8("protocol level")?;
        if name != "MQTT" || level != 4 {
            return Err(r.invalid("not MQTT 3.1.1 (protocol name MQTT, level 4)"));
        }
        let flags = r.u8("connect flags")?;
        if flags & 0x01 != 0 {
            return Err(r.invalid("reserved connect flag set"));
        }
        if flags & 0x04 != 0 {
            return Err(MqttError::Unsupported("CONNECT with a will message"));
        }
        if flags & 0x38 != 0 {
            return Err(r.invalid("will QoS or retain set without a will"));
        }
        let has_user = flags & 0x80 != 0;
        let has_password = flags & 0x40 != 0;
        if has_password && !has_user {
            return Err(r.invalid("password flag without user name flag"));
        }
        let keep_alive = r.u16("keep alive")?;
        let client_id = r.string("client id")?;
        let username = if has_user {
            Some(r.string("user name")?)
        } else {
            None
        };
        let password = if has_password {
            Some(r.bytes("password")?.to_vec())
        } else {
            None
        };
        Ok(Packet::Connect {
            client_id,
            username,
            password,
            keep_alive,
            clean_session: flags & 0x02 != 0,
        })
    }

    /// Splits a byte stream into packets. One WebSocket frame may hold several packets or
    /// part of one, so bytes are pushed as they come and packets taken out when complete.
    ///
    /// Memory is bounded: a declared remaining length over the limit is refused as soon as its
    /// last length byte arrives, before any of the body is kept, so the byte buffer never
    /// holds more than the limit plus the 5-byte fixed header. Complete packets are parsed
    /// while pushing (that is what keeps the buffer small); [`Decoder::next_packet`] hands
    /// them out. After the first error the stream cannot be trusted (MQTT requires closing the
    /// connection), so further input is ignored and the error is returned every time.
    #[derive(Debug, Clone)]
    pub struct Decoder {
        max_packet: usize,
        /// The incomplete packet: fixed header, then as much of the body as has arrived.
        buf: Vec<u8>,
        /// Fixed header length once the remaining length is complete; 0 before.
        header_len: usize,
        /// Declared remaining length of the packet in `buf`.
        remaining: usize,
        ready: VecDeque<Packet>,
        error: Option<MqttError>,
    }

    /// Above this the buffer's storage is released after a packet, so one large message does
    /// not pin its memory for the rest of the session.
    const KEEP_CAPACITY: usize = 64 * 1024;

    impl Decoder {
        /// A decoder refusing packets whose remaining length is over `max_packet_bytes`.
        pub fn new(max_packet_bytes: usize) -> Decoder {
            Decoder {
                max_packet: max_packet_bytes.min(MAX_REMAINING_LENGTH),
                buf: Vec::new(),
                header_len: 0,
                remaining: 0,
                ready: VecDeque::new(),
                error: None,
            }
        }

        /// Feeds bytes from the stream.
        pub fn push(&mut self, mut input: &[u8]) {
            while self.error.is_none() {
                if self.header_len == 0 {
                    let Some((&b, rest)) = input.split_first() else {
                        break;
                    };
                    input = rest;
                    self.buf.push(b);
                    self.header_byte();
                } else {
                    if input.is_empty() {
                        break;
                    }
                    let total = self.header_len.saturating_add(self.remaining);
                    let want = total.saturating_sub(self.buf.len());
                    let (chunk, rest) = input.split_at(want.min(input.len()));
                    input = rest;
                    self.buf.extend_from_slice(chunk);
                    if self.buf.len() >= total {
                        self.finish();
                    }
                }
            }
        }

        /// Handles the newest fixed-header byte in `buf`.
        fn header_byte(&mut self) {
            let Some((&first, length)) = self.buf.split_first() else {
                return;
            };
            if length.is_empty() {
                if let Err(e) = check_first_byte(first) {
                    self.error = Some(e);
                }
                return;
            }
            match read_remaining_length(length) {
                RemainingLength::Incomplete => {}
                RemainingLength::Overflow => self.error = Some(MqttError::LengthOverflow),
                RemainingLength::Done(len, _) if len > self.max_packet => {
                    self.error = Some(MqttError::TooLarge {
                        declared: len,
                        max: self.max_packet,
                    });
                }
                RemainingLength::Done(len, n) => {
                    self.header_len = n.saturating_add(1);
                    self.remaining = len;
                    if len == 0 {
                        self.finish();
                    }
                }
            }
        }

        /// The packet in `buf` is complete: parse it and reset for the next one.
        fn finish(&mut self) {
            let parsed = match self.buf.split_first() {
                Some((&first, rest)) => parse_packet(
                    first,
                    rest.get(self.header_len.saturating_sub(1)..).unwrap_or(&[]),
                ),
                None => Err(MqttError::LengthOverflow),
            };
            match parsed {
                Ok(p) => self.ready.push_back(p),
                Err(e) => self.error = Some(e),
            }
            self.buf.clear();
            if self.buf.capacity() > KEEP_CAPACITY {
                self.buf = Vec::new();
            }
            self.header_len = 0;
            self.remaining = 0;
        }

        /// The next complete packet, `Ok(None)` when more bytes are needed, or the error that
        /// stopped the stream (after the packets that came before it).
        pub fn next_packet(&mut self) -> Result<Option<Packet>, MqttError> {
            if let Some(p) = self.ready.pop_front() {
                return Ok(Some(p));
            }
            match &self.error {
                Some(e) => Err(e.clone()),
                None => Ok(None),
            }
        }

        /// Bytes of an incomplete packet held (at most the limit plus 5).
        pub fn buffered(&self) -> usize {
            self.buf.len()
        }
    }
}

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
            bad: vec![BadInput {
                kind: BadInputKind::WrongFrameType,
                reason: format!(
                    "text frame of {} bytes on an MQTT connection (MQTT over WebSocket is binary)",
                    text.len()
                ),
            }],
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
mod tests {
    use super::codec::*;
    use super::*;
    use crate::manifest::Manifest;

    // ---- codec ----

    fn round_trip(p: Packet) {
        let bytes = try_encode(&p).expect("test packets are valid");
        let mut d = Decoder::new(1 << 20);
        d.push(&bytes);
        assert_eq!(d.next_packet(), Ok(Some(p)), "bytes {bytes:02x?}");
        assert_eq!(d.next_packet(), Ok(None));
        assert_eq!(d.buffered(), 0);
    }

    fn decode_one(bytes: &[u8]) -> Result<Option<Packet>, MqttError> {
        let mut d = Decoder::new(1 << 20);
        d.push(bytes);
        d.next_packet()
    }

    #[test]
    fn every_packet_type_round_trips() {
        round_trip(Packet::Connect {
            client_id: "viewer-1".into(),
            username: Some("ops".into()),
            password: Some(b"s3cret".to_vec()),
            keep_alive: 30,
            clean_session: true,
        });
        round_trip(Packet::Connect {
            client_id: String::new(),
            username: None,
            password: None,
            keep_alive: 0,
            clean_session: false,
        });
        round_trip(Packet::ConnAck {
            session_present: true,
            return_code: 0,
        });
        round_trip(Packet::ConnAck {
            session_present: false,
            return_code: 5,
        });
        round_trip(Packet::Subscribe {
            packet_id: 7,
            filters: vec![("plant/+/temp".into(), 1), ("plant/#".into(), 0)],
        });
        round_trip(Packet::SubAck {
            packet_id: 7,
            return_codes: vec![1, 0x80],
        });
        round_trip(Packet::Publish {
            topic: "plant/p101/temp".into(),
            packet_id: None,
            qos: 0,
            retain: true,
            dup: false,
            payload: b"21.5".to_vec(),
        });
        round_trip(Packet::Publish {
            topic: "a/b".into(),
            packet_id: Some(0xBEEF),
            qos: 1,
            retain: false,
            dup: true,
            payload: vec![0, 1, 2, 255],
        });
        round_trip(Packet::Publish {
            topic: "a".into(),
            packet_id: Some(1),
            qos: 2,
            retain: false,
            dup: false,
            payload: Vec::new(),
        });
        round_trip(Packet::PubAck { packet_id: 1 });
        round_trip(Packet::PubRec { packet_id: 2 });
        round_trip(Packet::PubRel { packet_id: 3 });
        round_trip(Packet::PubComp { packet_id: 65535 });
        round_trip(Packet::PingReq);
        round_trip(Packet::PingResp);
        round_trip(Packet::Disconnect);
    }

    #[test]
    fn connect_matches_the_specification_layout_byte_for_byte() {
        // §3.1: fixed header 0x10, remaining length, protocol name (00 04 "MQTT"), level 4,
        // flags (user name 0x80, password 0x40, clean session 0x02), keep alive (MSB, LSB),
        // then client id, user name and password, each with a two-byte length.
        let bytes = encode(&Packet::Connect {
            client_id: "c1".into(),
            username: Some("u".into()),
            password: Some(b"pw".to_vec()),
            keep_alive: 10,
            clean_session: true,
        });
        let expected: Vec<u8> = vec![
            0x10, 21, // CONNECT, remaining length 21
            0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name
            0x04, // protocol level (3.1.1)
            0xC2, // user name + password + clean session
            0x00, 0x0A, // keep alive 10 s
            0x00, 0x02, b'c', b'1', // client id
            0x00, 0x01, b'u', // user name
            0x00, 0x02, b'p', b'w', // password
        ];
        assert_eq!(bytes, expected);
    }

    #[test]
    fn fixed_packets_match_the_specification() {
        assert_eq!(encode(&Packet::PingReq), [0xC0, 0x00]);
        assert_eq!(encode(&Packet::PingResp), [0xD0, 0x00]);
        assert_eq!(encode(&Packet::Disconnect), [0xE0, 0x00]);
        assert_eq!(
            encode(&Packet::PubAck { packet_id: 0x1234 }),
            [0x40, 0x02, 0x12, 0x34]
        );
        assert_eq!(
            encode(&Packet::Subscribe {
                packet_id: 1,
                filters: vec![("a/b".into(), 1)]
            }),
            [0x82, 0x08, 0x00, 0x01, 0x00, 0x03, b'a', b'/', b'b', 0x01]
        );
    }

    #[test]
    fn password_without_user_name_sends_an_empty_user_name() {
        let bytes = encode(&Packet::Connect {
            client_id: "c".into(),
            username: None,
            password: Some(b"token".to_vec()),
            keep_alive: 5,
            clean_session: true,
        });
        assert_eq!(
            bytes.get(9),
            Some(&0xC2),
            "both flags, as §3.1.2.9 requires"
        );
        let Ok(Some(Packet::Connect {
            username, password, ..
        })) = decode_one(&bytes)
        else {
            panic!("valid CONNECT")
        };
        assert_eq!(username.as_deref(), Some(""));
        assert_eq!(password.as_deref(), Some(&b"token"[..]));
    }

    #[test]
    fn remaining_length_boundaries_encode_in_the_specified_byte_counts() {
        // §2.2.3 table: 1 byte to 127, 2 to 16383, 3 to 2097151, 4 to 268435455.
        for (len, bytes) in [
            (0usize, 1usize),
            (127, 1),
            (128, 2),
            (16_383, 2),
            (16_384, 3),
            (2_097_151, 3),
            (2_097_152, 4),
            (268_435_455, 4),
        ] {
            let mut out = Vec::new();
            write_remaining_length(&mut out, len);
            assert_eq!(out.len(), bytes, "{len}");
            assert_eq!(
                read_remaining_length(&out),
                RemainingLength::Done(len, bytes),
                "{len}"
            );
        }
        let mut out = Vec::new();
        write_remaining_length(&mut out, 268_435_455);
        assert_eq!(out, [0xFF, 0xFF, 0xFF, 0x7F]);
        assert_eq!(
            read_remaining_length(&[0x80, 0x80]),
            RemainingLength::Incomplete
        );
    }

    #[test]
    fn a_five_byte_remaining_length_is_an_error() {
        assert_eq!(
            read_remaining_length(&[0xFF, 0xFF, 0xFF, 0xFF]),
            RemainingLength::Overflow
        );
        let mut d = Decoder::new(MAX_REMAINING_LENGTH);
        d.push(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]);
        assert_eq!(d.next_packet(), Err(MqttError::LengthOverflow));
        assert!(d.buffered() <= MAX_FIXED_HEADER);
    }

    #[test]
    fn a_declared_length_over_the_limit_is_refused_before_buffering_the_body() {
        let mut d = Decoder::new(100);
        // PUBLISH declaring 101 bytes; no body byte has arrived yet.
        d.push(&[0x30, 101]);
        assert_eq!(
            d.next_packet(),
            Err(MqttError::TooLarge {
                declared: 101,
                max: 100
            })
        );
        // Later bytes are ignored: the stream is dead and nothing more is kept.
        d.push(&[0u8; 500]);
        assert!(d.buffered() <= MAX_FIXED_HEADER);
        assert!(d.next_packet().is_err());
    }

    #[test]
    fn the_buffer_never_exceeds_the_limit_plus_the_fixed_header() {
        let max = 64;
        let packet = Packet::Publish {
            topic: "t".into(),
            packet_id: None,
            qos: 0,
            retain: false,
            dup: false,
            payload: vec![7; 61], // 2 + 1 + 61 = 64 bytes of body: exactly the limit
        };
        let bytes = encode(&packet);
        let stream: Vec<u8> = bytes.iter().chain(&bytes).chain(&bytes).copied().collect();
        let mut d = Decoder::new(max);
        for chunk in stream.chunks(13) {
            d.push(chunk);
            assert!(d.buffered() <= max + MAX_FIXED_HEADER);
        }
        for _ in 0..3 {
            assert_eq!(d.next_packet(), Ok(Some(packet.clone())));
        }
        assert_eq!(d.next_packet(), Ok(None));
    }

    #[test]
    fn two_packets_in_one_push_are_both_decoded() {
        let mut bytes = encode(&Packet::PingResp);
        bytes.extend(encode(&Packet::PubAck { packet_id: 9 }));
        let mut d = Decoder::new(1024);
        d.push(&bytes);
        assert_eq!(d.next_packet(), Ok(Some(Packet::PingResp)));
        assert_eq!(d.next_packet(), Ok(Some(Packet::PubAck { packet_id: 9 })));
        assert_eq!(d.next_packet(), Ok(None));
    }

    #[test]
    fn a_packet_split_across_pushes_byte_by_byte_is_reassembled() {
        let packet = Packet::Publish {
            topic: "plant/p101/temp".into(),
            packet_id: Some(3),
            qos: 1,
            retain: false,
            dup: false,
            payload: b"{\"value\":21.5}".to_vec(),
        };
        let bytes = encode(&packet);
        // Three pushes: the first header byte, then the length, then the body byte by byte.
        let mut d = Decoder::new(1024);
        let (first, rest) = bytes.split_at(1);
        d.push(first);
        assert_eq!(d.next_packet(), Ok(None));
        let (len, body) = rest.split_at(1);
        d.push(len);
        assert_eq!(d.next_packet(), Ok(None));
        for (i, b) in body.iter().enumerate() {
            assert_eq!(d.next_packet(), Ok(None), "complete too early at {i}");
            d.push(std::slice::from_ref(b));
        }
        assert_eq!(d.next_packet(), Ok(Some(packet)));
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn a_topic_that_is_not_utf8_is_malformed() {
        let bytes = [0x30, 0x05, 0x00, 0x02, 0xC3, 0x28, b'x'];
        assert_eq!(
            decode_one(&bytes),
            Err(MqttError::InvalidUtf8 {
                packet: "PUBLISH",
                field: "topic"
            })
        );
        let nul = [0x30, 0x04, 0x00, 0x02, b'a', 0x00];
        assert!(matches!(
            decode_one(&nul),
            Err(MqttError::NulInString { .. })
        ));
        let wildcard = [0x30, 0x04, 0x00, 0x02, b'a', b'#'];
        assert!(matches!(
            decode_one(&wildcard),
            Err(MqttError::Invalid { .. })
        ));
    }

    #[test]
    fn truncated_and_padded_connacks_are_malformed() {
        assert_eq!(
            decode_one(&[0x20, 0x01, 0x00]),
            Err(MqttError::Truncated {
                packet: "CONNACK",
                field: "return code"
            })
        );
        assert_eq!(
            decode_one(&[0x20, 0x03, 0x00, 0x00, 0x00]),
            Err(MqttError::TrailingBytes {
                packet: "CONNACK",
                extra: 1
            })
        );
    }

    #[test]
    fn truncated_fields_inside_packets_are_malformed() {
        // A topic length of 10 with only 2 bytes left in the packet.
        assert!(matches!(
            decode_one(&[0x30, 0x04, 0x00, 0x0A, b'a', b'b']),
            Err(MqttError::Truncated { field: "topic", .. })
        ));
        // QoS 1 PUBLISH without room for the packet identifier.
        assert!(matches!(
            decode_one(&[0x32, 0x04, 0x00, 0x01, b'a', 0x00]),
            Err(MqttError::Truncated { .. })
        ));
        assert!(matches!(
            decode_one(&[0x40, 0x01, 0x00]),
            Err(MqttError::Truncated { .. })
        ));
    }

    #[test]
    fn reserved_types_flags_and_qos_are_malformed() {
        assert_eq!(decode_one(&[0x00, 0x00]), Err(MqttError::ReservedType(0)));
        assert_eq!(decode_one(&[0xF0, 0x00]), Err(MqttError::ReservedType(15)));
        assert!(matches!(
            decode_one(&[0xD1, 0x00]),
            Err(MqttError::ReservedFlags { .. })
        ));
        assert!(matches!(
            decode_one(&[0x80, 0x00]),
            Err(MqttError::ReservedFlags { .. })
        ));
        assert_eq!(
            decode_one(&[0xB0, 0x02, 0, 1]),
            Err(MqttError::Unsupported("UNSUBACK"))
        );
        // QoS 3, and DUP on QoS 0.
        assert!(matches!(
            decode_one(&[0x36, 0x03, 0x00, 0x01, b'a']),
            Err(MqttError::Invalid { .. })
        ));
        assert!(matches!(
            decode_one(&[0x38, 0x03, 0x00, 0x01, b'a']),
            Err(MqttError::Invalid { .. })
        ));
        // SUBACK code 3 is reserved; packet identifier 0 is invalid.
        assert!(matches!(
            decode_one(&[0x90, 0x03, 0x00, 0x01, 0x03]),
            Err(MqttError::Invalid { .. })
        ));
        assert!(matches!(
            decode_one(&[0x40, 0x02, 0x00, 0x00]),
            Err(MqttError::Invalid { .. })
        ));
    }

    #[test]
    fn reserved_first_byte_is_refused_before_the_length_arrives() {
        let mut d = Decoder::new(1024);
        d.push(&[0x00]);
        assert_eq!(d.next_packet(), Err(MqttError::ReservedType(0)));
    }

    #[test]
    fn packets_before_an_error_are_still_delivered() {
        let mut bytes = encode(&Packet::PingResp);
        bytes.extend([0x00, 0x00]);
        let mut d = Decoder::new(1024);
        d.push(&bytes);
        assert_eq!(d.next_packet(), Ok(Some(Packet::PingResp)));
        assert_eq!(d.next_packet(), Err(MqttError::ReservedType(0)));
        assert_eq!(
            d.next_packet(),
            Err(MqttError::ReservedType(0)),
            "the error sticks"
        );
    }

    #[test]
    fn unencodable_packets_report_why() {
        let long = "x".repeat(65_536);
        assert_eq!(
            try_encode(&Packet::Subscribe {
                packet_id: 1,
                filters: vec![(long, 1)]
            }),
            Err(MqttError::FieldTooLong {
                field: "topic filter",
                len: 65_536
            })
        );
        assert!(
            try_encode(&Packet::Subscribe {
                packet_id: 1,
                filters: vec![]
            })
            .is_err()
        );
        let qos1_without_id = Packet::Publish {
            topic: "a".into(),
            packet_id: None,
            qos: 1,
            retain: false,
            dup: false,
            payload: vec![],
        };
        assert!(try_encode(&qos1_without_id).is_err());
        assert!(encode(&qos1_without_id).is_empty());
    }

    // ---- adapter ----

    const T0: f64 = 1_800_000_000_000.0;

    fn manifest(source: serde_json::Value) -> Manifest {
        serde_json::from_value(serde_json::json!({
            "name": "test",
            "model": { "url": "m.glb" },
            "sensors": [
                { "id": "temp", "name": "T", "node": "n", "binding": { "topic": "plant/p101/temp" } },
                { "id": "speed", "name": "S", "node": "n", "binding": { "topic": "plant/+/speed" } },
                { "id": "all", "name": "A", "node": "n", "binding": { "topic": "plant/p101/#" } }
            ],
            "source": source
        }))
        .expect("test manifest")
    }

    fn adapter_with(source: serde_json::Value) -> MqttAdapter {
        let m = manifest(source);
        let src = m.source.clone().expect("source");
        MqttAdapter::new(&src, Bindings::from_manifest(&m), "viewer-abc".into())
    }

    fn adapter() -> MqttAdapter {
        adapter_with(serde_json::json!({
            "url": "wss://broker/mqtt", "adapter": "mqtt",
            "credentials": { "username": "ops", "password": "pw" },
            "keepAliveSeconds": 30
        }))
    }

    fn binaries(out: &[Outgoing]) -> Vec<Packet> {
        out.iter()
            .filter_map(|o| match o {
                Outgoing::Binary(b) => decode_one(b).ok().flatten(),
                _ => None,
            })
            .collect()
    }

    /// An adapter past CONNACK and SUBACK.
    fn live_adapter() -> MqttAdapter {
        let mut a = adapter();
        a.on_open(T0);
        a.on_binary(
            &encode(&Packet::ConnAck {
                session_present: false,
                return_code: 0,
            }),
            T0,
        );
        a.on_binary(
            &encode(&Packet::SubAck {
                packet_id: 1,
                return_codes: vec![1, 1, 1],
            }),
            T0,
        );
        assert_eq!(a.state(), SessionState::Live);
        a
    }

    fn publish(topic: &str, qos: u8, retain: bool, payload: &[u8]) -> Vec<u8> {
        encode(&Packet::Publish {
            topic: topic.into(),
            packet_id: (qos > 0).then_some(42),
            qos,
            retain,
            dup: false,
            payload: payload.to_vec(),
        })
    }

    #[test]
    fn open_sends_connect_with_credentials_and_keep_alive() {
        let mut a = adapter();
        assert_eq!(a.subprotocol(), Some("mqtt"));
        let out = a.on_open(T0);
        let Some(Outgoing::Binary(bytes)) = out.first() else {
            panic!("{out:?}")
        };
        assert_eq!(
            bytes.get(9),
            Some(&0xC2),
            "user name, password and clean session flags"
        );
        assert_eq!(
            binaries(&out),
            [Packet::Connect {
                client_id: "viewer-abc".into(),
                username: Some("ops".into()),
                password: Some(b"pw".to_vec()),
                keep_alive: 30,
                clean_session: true,
            }]
        );
        assert_eq!(a.state(), SessionState::Handshaking);
    }

    #[test]
    fn open_without_credentials_sets_no_credential_flags() {
        let mut a = adapter_with(serde_json::json!({ "url": "ws://b/mqtt", "adapter": "mqtt" }));
        let out = a.on_open(T0);
        let Some(Outgoing::Binary(bytes)) = out.first() else {
            panic!("{out:?}")
        };
        assert_eq!(bytes.get(9), Some(&0x02), "clean session only");
    }

    #[test]
    fn connack_accepted_subscribes_to_every_bound_filter_at_qos_1() {
        let mut a = adapter();
        a.on_open(T0);
        let d = a.on_binary(&[0x20, 0x02, 0x00, 0x00], T0 + 50.0);
        assert!(d.bad.is_empty(), "{:?}", d.bad);
        assert_eq!(
            binaries(&d.outgoing),
            [Packet::Subscribe {
                packet_id: 1,
                filters: vec![
                    ("plant/+/speed".into(), 1),
                    ("plant/p101/#".into(), 1),
                    ("plant/p101/temp".into(), 1)
                ],
            }]
        );
        assert_eq!(
            a.state(),
            SessionState::Handshaking,
            "live only after SUBACK"
        );
        let d = a.on_binary(&[0x90, 0x05, 0x00, 0x01, 0x01, 0x00, 0x01], T0 + 60.0);
        assert!(d.bad.is_empty() && d.outgoing.is_empty());
        assert_eq!(a.state(), SessionState::Live);
    }

    #[test]
    fn a_refused_subscription_is_logged_but_the_connection_stays() {
        let mut a = adapter();
        a.on_open(T0);
        a.on_binary(&[0x20, 0x02, 0x00, 0x00], T0);
        let d = a.on_binary(&[0x90, 0x05, 0x00, 0x01, 0x80, 0x01, 0x01], T0);
        assert_eq!(d.bad.len(), 1);
        assert!(d.bad.iter().all(|b| b.reason.contains("plant/+/speed")));
        assert!(d.outgoing.is_empty());
        assert_eq!(a.state(), SessionState::Live);
    }

    #[test]
    fn connack_not_authorised_fails_without_retrying() {
        let mut a = adapter();
        a.on_open(T0);
        let d = a.on_binary(&[0x20, 0x02, 0x00, 0x05], T0);
        assert_eq!(
            d.outgoing,
            [Outgoing::Fail(
                "MQTT broker refused the credentials (CONNACK 5: not authorised); check source.credentials".into()
            )]
        );
        assert!(
            d.outgoing
                .iter()
                .all(|o| !matches!(o, Outgoing::Fail(r) if r.contains("pw")))
        );
        let d = a.on_binary(&[0x20, 0x02, 0x00, 0x04], T0);
        assert!(d.outgoing.is_empty(), "closed: later bytes are ignored");
        let mut a = adapter();
        a.on_open(T0);
        let d = a.on_binary(&[0x20, 0x02, 0x00, 0x04], T0);
        assert!(
            matches!(d.outgoing.as_slice(), [Outgoing::Fail(r)] if r.contains("bad user name or password"))
        );
    }

    #[test]
    fn other_connack_codes_fail_with_their_meaning_and_server_unavailable_retries() {
        for (code, text) in [
            (1u8, "unacceptable protocol version"),
            (2, "identifier rejected"),
            (9, "reserved"),
        ] {
            let mut a = adapter();
            a.on_open(T0);
            let d = a.on_binary(&[0x20, 0x02, 0x00, code], T0);
            assert!(
                matches!(d.outgoing.as_slice(), [Outgoing::Fail(r)] if r.contains(text)),
                "{code}: {d:?}"
            );
        }
        let mut a = adapter();
        a.on_open(T0);
        let d = a.on_binary(&[0x20, 0x02, 0x00, 0x03], T0);
        assert!(
            matches!(d.outgoing.as_slice(), [Outgoing::Reconnect(r)] if r.contains("unavailable"))
        );
    }

    #[test]
    fn qos0_publish_gives_samples_for_every_matching_sensor() {
        let mut a = live_adapter();
        let d = a.on_binary(&publish("plant/p101/temp", 0, false, b"21.5"), T0 + 1000.0);
        assert!(d.outgoing.is_empty(), "QoS 0 is not acknowledged");
        let got: Vec<(usize, Value)> = d
            .samples
            .iter()
            .map(|s| (s.sensor, s.value.clone()))
            .collect();
        assert_eq!(got, [(0, Value::Number(21.5)), (2, Value::Number(21.5))]);
        let s = d.samples.first().expect("sample");
        assert_eq!(s.received_ms, T0 + 1000.0);
        assert_eq!(s.source_ms, None);
        assert_eq!(s.quality, Quality::Good);
    }

    #[test]
    fn qos1_publish_is_acknowledged_with_its_packet_id() {
        let mut a = live_adapter();
        let d = a.on_binary(&publish("plant/p7/speed", 1, false, b"1450"), T0);
        assert_eq!(binaries(&d.outgoing), [Packet::PubAck { packet_id: 42 }]);
        assert_eq!(d.samples.len(), 1);
        assert_eq!(d.samples.first().map(|s| s.sensor), Some(1));
    }

    #[test]
    fn qos2_publish_is_delivered_once_and_completed() {
        let mut a = live_adapter();
        let d = a.on_binary(&publish("plant/p101/temp", 2, false, b"1"), T0);
        assert_eq!(binaries(&d.outgoing), [Packet::PubRec { packet_id: 42 }]);
        assert_eq!(d.samples.len(), 2);
        let d = a.on_binary(&publish("plant/p101/temp", 2, false, b"1"), T0);
        assert_eq!(binaries(&d.outgoing), [Packet::PubRec { packet_id: 42 }]);
        assert!(
            d.samples.is_empty(),
            "a redelivery before PUBREL is not a new reading"
        );
        let d = a.on_binary(&encode(&Packet::PubRel { packet_id: 42 }), T0);
        assert_eq!(binaries(&d.outgoing), [Packet::PubComp { packet_id: 42 }]);
    }

    #[test]
    fn retained_publish_gives_the_last_known_value() {
        let mut a = adapter();
        a.on_open(T0);
        a.on_binary(&[0x20, 0x02, 0x00, 0x00], T0);
        // Brokers may send retained messages right after subscribing, even before SUBACK.
        let d = a.on_binary(&publish("plant/p101/temp", 1, true, b"19"), T0);
        assert_eq!(d.samples.len(), 2);
        assert_eq!(binaries(&d.outgoing), [Packet::PubAck { packet_id: 42 }]);
    }

    #[test]
    fn bare_text_payloads_become_numbers_booleans_or_text() {
        let a = adapter();
        let value = |p: &[u8]| a.parse_payload(p).map(|r| r.map(|r| r.value));
        assert_eq!(value(b" 21.5 \n"), Ok(Some(Value::Number(21.5))));
        assert_eq!(value(b"-3e2"), Ok(Some(Value::Number(-300.0))));
        assert_eq!(value(b"true"), Ok(Some(Value::Bool(true))));
        assert_eq!(value(b"FALSE"), Ok(Some(Value::Bool(false))));
        assert_eq!(value(b"RUNNING"), Ok(Some(Value::Text("RUNNING".into()))));
        assert_eq!(
            value(b"\"RUNNING\""),
            Ok(Some(Value::Text("RUNNING".into())))
        );
        assert_eq!(
            value(b"\"7.5\""),
            Ok(Some(Value::Number(7.5))),
            "numeric text, as in JSON"
        );
        assert_eq!(
            value(b""),
            Ok(None),
            "an empty payload clears a retained message"
        );
        assert!(matches!(value(b"NaN"), Err((BadInputKind::NonFinite, _))));
        assert!(matches!(value(b"inf"), Err((BadInputKind::NonFinite, _))));
        assert!(matches!(value(b"1e999"), Err((BadInputKind::NonFinite, _))));
        assert!(matches!(
            value(&[0xFF, 0xFE]),
            Err((BadInputKind::WrongType, _))
        ));
        assert!(matches!(
            value(b"{\"value\": 1"),
            Err((BadInputKind::NotJson, _))
        ));
        assert!(matches!(value(b"[1,2]"), Err((BadInputKind::WrongType, _))));
        assert!(matches!(value(b"null"), Err((BadInputKind::WrongType, _))));
    }

    #[test]
    fn json_object_payloads_use_the_source_pointers() {
        let mut a = adapter_with(serde_json::json!({
            "url": "ws://b/mqtt", "adapter": "mqtt",
            "payload": { "value": "/v", "timestamp": "/ts", "quality": "/q" }
        }));
        a.on_open(T0);
        a.on_binary(&[0x20, 0x02, 0x00, 0x00], T0);
        let d = a.on_binary(
            &publish(
                "plant/p101/temp",
                0,
                false,
                br#"{"v": 72.5, "unit": "degC", "ts": "2027-01-15T08:00:00Z", "q": "uncertain"}"#,
            ),
            T0,
        );
        assert!(d.bad.is_empty(), "{:?}", d.bad);
        let s = d.samples.first().expect("sample");
        assert_eq!(s.value, Value::Number(72.5));
        assert_eq!(s.unit.as_deref(), Some("degC"));
        assert_eq!(s.source_ms, Some(1_800_000_000_000.0));
        assert_eq!(s.quality, Quality::Uncertain);

        let d = a.on_binary(
            &publish("plant/p101/temp", 0, false, br#"{"v": {"x": 1}}"#),
            T0,
        );
        assert!(d.samples.is_empty());
        assert!(
            matches!(d.bad.as_slice(), [BadInput { kind: BadInputKind::WrongType, reason }] if reason.contains("field v")),
            "{:?}",
            d.bad
        );

        // Same rule as the JSON adapter: a timestamp that cannot be read refuses the reading.
        let d = a.on_binary(
            &publish(
                "plant/p101/temp",
                0,
                false,
                br#"{"v": 1, "ts": "yesterday"}"#,
            ),
            T0,
        );
        assert!(d.samples.is_empty());
        assert!(
            matches!(d.bad.as_slice(), [BadInput { kind: BadInputKind::WrongType, reason }] if reason.contains("field ts"))
        );
        let d = a.on_binary(
            &publish("plant/p101/temp", 0, false, br#"{"v": 1, "ts": null}"#),
            T0,
        );
        assert_eq!(d.samples.len(), 2, "a null timestamp means arrival time");
    }

    #[test]
    fn json_payload_value_pointer_defaults_to_value() {
        let mut a = live_adapter();
        let d = a.on_binary(
            &publish("plant/p101/temp", 0, false, br#"{"value": false}"#),
            T0,
        );
        assert_eq!(
            d.samples.first().map(|s| s.value.clone()),
            Some(Value::Bool(false))
        );
        let d = a.on_binary(
            &publish("plant/p101/temp", 0, false, br#"{"reading": 3}"#),
            T0,
        );
        assert!(matches!(
            d.bad.as_slice(),
            [BadInput {
                kind: BadInputKind::WrongType,
                ..
            }]
        ));
    }

    #[test]
    fn publish_on_an_unbound_topic_is_an_unknown_sensor() {
        let mut a = live_adapter();
        let d = a.on_binary(&publish("other/topic", 0, false, b"1"), T0);
        assert!(d.samples.is_empty());
        assert!(
            matches!(d.bad.as_slice(), [BadInput { kind: BadInputKind::UnknownSensor, reason }] if reason.contains("other/topic"))
        );
    }

    #[test]
    fn several_packets_in_one_frame_are_all_handled() {
        let mut a = live_adapter();
        let mut frame = publish("plant/p101/temp", 0, false, b"1");
        frame.extend(publish("plant/p9/speed", 1, false, b"2"));
        frame.extend(encode(&Packet::PingResp));
        let d = a.on_binary(&frame, T0);
        assert_eq!(d.samples.len(), 3);
        assert_eq!(binaries(&d.outgoing), [Packet::PubAck { packet_id: 42 }]);
    }

    #[test]
    fn malformed_packet_reconnects_and_counts_malformed_mqtt() {
        let mut a = live_adapter();
        let d = a.on_binary(&[0x30, 0x05, 0x00, 0x02, 0xC3, 0x28, b'x'], T0);
        assert!(matches!(
            d.bad.as_slice(),
            [BadInput {
                kind: BadInputKind::MalformedMqtt,
                ..
            }]
        ));
        assert!(matches!(d.outgoing.as_slice(), [Outgoing::Reconnect(r)] if r.contains("UTF-8")));
        assert!(
            a.on_binary(&publish("plant/p101/temp", 0, false, b"1"), T0)
                .samples
                .is_empty()
        );
        // A new connection starts clean.
        a.on_open(T0 + 5000.0);
        assert_eq!(a.state(), SessionState::Handshaking);
        let d = a.on_binary(&[0x20, 0x02, 0x00, 0x00], T0 + 5000.0);
        assert!(d.bad.is_empty());
    }

    #[test]
    fn oversized_packet_reconnects() {
        let mut a = adapter_with(
            serde_json::json!({ "url": "ws://b", "adapter": "mqtt", "maxMessageBytes": 16 }),
        );
        a.on_open(T0);
        a.on_binary(&[0x20, 0x02, 0x00, 0x00], T0);
        let d = a.on_binary(&[0x30, 0x11], T0);
        assert!(
            matches!(d.outgoing.as_slice(), [Outgoing::Reconnect(r)] if r.contains("17 bytes"))
        );
        assert_eq!(
            d.bad.first().map(|b| b.kind),
            Some(BadInputKind::MalformedMqtt)
        );
    }

    #[test]
    fn a_packet_before_connack_is_a_protocol_violation() {
        let mut a = adapter();
        a.on_open(T0);
        let d = a.on_binary(&publish("plant/p101/temp", 0, false, b"1"), T0);
        assert!(d.samples.is_empty());
        assert!(matches!(d.outgoing.as_slice(), [Outgoing::Reconnect(_)]));
        assert_eq!(
            d.bad.first().map(|b| b.kind),
            Some(BadInputKind::MalformedMqtt)
        );
    }

    #[test]
    fn text_frames_are_the_wrong_frame_type() {
        let mut a = live_adapter();
        let d = a.on_text("{\"value\":1}", T0);
        assert!(matches!(
            d.bad.as_slice(),
            [BadInput {
                kind: BadInputKind::WrongFrameType,
                ..
            }]
        ));
        assert_eq!(a.state(), SessionState::Live);
    }

    #[test]
    fn keep_alive_pings_after_an_idle_interval() {
        let mut a = live_adapter();
        assert!(a.on_tick(T0 + 29_000.0).is_empty());
        let out = a.on_tick(T0 + 30_000.0);
        assert_eq!(binaries(&out), [Packet::PingReq]);
        assert!(a.on_tick(T0 + 31_000.0).is_empty(), "one ping per interval");
        a.on_binary(&encode(&Packet::PingResp), T0 + 30_200.0);
        assert!(a.on_tick(T0 + 59_000.0).is_empty());
        assert_eq!(binaries(&a.on_tick(T0 + 60_000.0)), [Packet::PingReq]);
        assert_eq!(a.state(), SessionState::Live);
    }

    #[test]
    fn keep_alive_timeout_reconnects() {
        let mut a = live_adapter();
        assert_eq!(binaries(&a.on_tick(T0 + 30_000.0)), [Packet::PingReq]);
        assert!(a.on_tick(T0 + 44_000.0).is_empty());
        assert_eq!(
            a.on_tick(T0 + 45_000.0),
            [Outgoing::Reconnect(
                "MQTT broker stopped answering keep-alive pings (nothing received for 45 s)".into()
            )]
        );
        assert!(
            a.on_tick(T0 + 46_000.0).is_empty(),
            "closed until the next open"
        );
    }

    #[test]
    fn a_quiet_broker_is_pinged_early_enough_to_answer() {
        let mut a = live_adapter();
        // We sent a PUBACK late, so our own send timer has not run out; the broker has
        // been silent for a whole interval, so it is pinged anyway.
        a.on_binary(&publish("plant/p101/temp", 1, false, b"1"), T0 + 1_000.0);
        a.last_sent_ms = T0 + 20_000.0;
        assert_eq!(binaries(&a.on_tick(T0 + 31_000.0)), [Packet::PingReq]);
    }

    #[test]
    fn missing_connack_reconnects_after_ten_seconds() {
        let mut a = adapter();
        a.on_open(T0);
        assert!(a.on_tick(T0 + 9_000.0).is_empty());
        assert!(
            matches!(a.on_tick(T0 + 10_000.0).as_slice(), [Outgoing::Reconnect(r)] if r.contains("CONNECT"))
        );
    }

    #[test]
    fn keep_alive_zero_never_pings() {
        let mut a = adapter_with(
            serde_json::json!({ "url": "ws://b", "adapter": "mqtt", "keepAliveSeconds": 0 }),
        );
        a.on_open(T0);
        a.on_binary(&[0x20, 0x02, 0x00, 0x00], T0);
        a.on_binary(&[0x90, 0x05, 0x00, 0x01, 0x01, 0x01, 0x01], T0);
        assert!(a.on_tick(T0 + 3_600_000.0).is_empty());
    }

    #[test]
    fn debug_output_hides_the_password() {
        let shown = format!("{:?}", adapter());
        assert!(
            shown.contains("<redacted>") && !shown.contains("\"pw\""),
            "{shown}"
        );
    }

    #[test]
    fn over_long_credentials_fail_instead_of_sending_a_broken_connect() {
        let long = "p".repeat(70_000);
        let mut a = adapter_with(serde_json::json!({
            "url": "ws://b", "adapter": "mqtt", "credentials": { "username": "u", "password": long }
        }));
        let out = a.on_open(T0);
        assert!(
            matches!(out.as_slice(), [Outgoing::Fail(r)] if r.contains("password") && !r.contains("ppp"))
        );
    }
}
