//! Tests of the MQTT codec: encoding, the streaming decoder and malformed input.

use super::*;

fn round_trip(p: Packet) {
    let bytes = try_encode(&p).expect("test packets are valid");
    let mut d = Decoder::new(1 << 20);
    d.push(&bytes);
    assert_eq!(d.next_packet(), Ok(Some(p)), "bytes {bytes:02x?}");
    assert_eq!(d.next_packet(), Ok(None));
    assert_eq!(d.buffered(), 0);
}

/// Decodes the first packet of `bytes`.
pub(in crate::telemetry::mqtt) fn decode_one(bytes: &[u8]) -> Result<Option<Packet>, MqttError> {
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
