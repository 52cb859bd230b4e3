//! Tests of the MQTT adapter: handshake, subscriptions, payloads, keep-alive and gaps.

use super::codec::tests::decode_one;
use super::codec::*;
use super::*;
use crate::manifest::Manifest;

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
    assert!(matches!(d.outgoing.as_slice(), [Outgoing::Reconnect(r)] if r.contains("unavailable")));
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
        matches!(d.bad.as_slice(), [BadInput { kind: BadInputKind::WrongType, reason, .. }] if reason.contains("field v")),
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
        matches!(d.bad.as_slice(), [BadInput { kind: BadInputKind::WrongType, reason, .. }] if reason.contains("field ts"))
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
        matches!(d.bad.as_slice(), [BadInput { kind: BadInputKind::UnknownSensor, reason, .. }] if reason.contains("other/topic"))
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
    assert!(matches!(d.outgoing.as_slice(), [Outgoing::Reconnect(r)] if r.contains("17 bytes")));
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
fn a_missed_pingresp_ends_in_reconnect_and_nothing_more_until_reopened() {
    let mut a = live_adapter();
    assert_eq!(binaries(&a.on_tick(T0 + 30_000.0)), [Packet::PingReq]);
    // The broker never answers: no PINGRESP, no other traffic.
    let out = a.on_tick(T0 + 45_000.0);
    assert!(
        matches!(out.as_slice(), [Outgoing::Reconnect(r)] if r.contains("keep-alive")),
        "{out:?}"
    );
    assert_ne!(a.state(), SessionState::Live);
    assert!(
        a.on_binary(&encode(&Packet::PingResp), T0 + 45_100.0)
            .samples
            .is_empty()
    );
    assert!(a.on_tick(T0 + 90_000.0).is_empty());
    assert_eq!(
        binaries(&a.on_open(T0 + 91_000.0)).len(),
        1,
        "CONNECT again"
    );
}

#[test]
fn a_gap_in_the_stream_reconnects_instead_of_decoding_garbage() {
    let mut a = live_adapter();
    let out = a.on_gap(T0 + 1.0);
    assert!(
        matches!(out.as_slice(), [Outgoing::Reconnect(r)] if r.contains("resynchronise")),
        "{out:?}"
    );
    assert_ne!(a.state(), SessionState::Live);
    // The rest of a packet whose start was dropped is ignored, not decoded.
    let d = a.on_binary(&[0x30, 0x7f, 0x00], T0 + 2.0);
    assert!(d.bad.is_empty() && d.outgoing.is_empty());
    assert!(a.on_gap(T0 + 3.0).is_empty(), "one reconnect is enough");
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
