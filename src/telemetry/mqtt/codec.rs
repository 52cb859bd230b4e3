//! MQTT 3.1.1 control packets, their encoding and a streaming decoder.

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
    #[error("packet declares {declared} bytes, over the {max}-byte limit (source.maxMessageBytes)")]
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

#[cfg(test)]
pub(super) mod tests;
