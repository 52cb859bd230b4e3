//! A live source end to end without a browser: socket events in, commands and `stats()` out,
//! through the real adapters, the connection state machine and the sensor store. Covers the
//! rules that keep a twin honest when its data source misbehaves: reconnect storms back off,
//! refusals keep backing off, silence and missed keep-alives reconnect, a lost connection never
//! shows live readings, a reading stamped in the future cannot freeze a sensor, and dropped
//! frames are counted (and make MQTT resynchronise).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test that panics has failed, with its message

use twinlens::manifest::Manifest;
use twinlens::telemetry::mqtt::codec::{Decoder, Packet, encode};
use twinlens::telemetry::queue::{FrameQueue, Skipped, SocketEvent};
use twinlens::telemetry::session::{Command, LiveSession};

/// 2026-11-25T14:07:33Z.
const T0: f64 = 1_795_615_653_000.0;
const SOCKET_URL: &str = "ws://127.0.0.1:8080/ws/sim";

fn parse(doc: serde_json::Value) -> Manifest {
    Manifest::parse(doc.to_string().as_bytes(), "test.twin.json").unwrap_or_else(|e| panic!("{e}"))
}

/// The shipped demo: 14 sensors, JSON readings `{"readings":[{"id","v","t"}]}`.
fn demo() -> Manifest {
    let bytes = std::fs::read("www/demo/pump-skid.twin.json").expect("the demo manifest");
    Manifest::parse(&bytes, "pump-skid.twin.json").unwrap_or_else(|e| panic!("{e}"))
}

/// A session whose backoff jitter is always 1, so every delay is its ceiling. A source URL
/// that is a path is resolved to [`SOCKET_URL`], as the page would.
fn session(m: &Manifest) -> LiveSession {
    let url = match m.source.as_ref().map(|s| s.url.as_str()) {
        Some(u) if !u.starts_with('/') => u,
        _ => SOCKET_URL,
    };
    LiveSession::new(m, url, "twinlens-test", Box::new(|| 1.0)).expect("a source")
}

/// The frame of the demo's feed with every sensor at `v`, stamped `t`.
fn demo_frame(m: &Manifest, v: f64, t: f64) -> SocketEvent {
    let readings: Vec<_> = m
        .sensors
        .iter()
        .map(|s| serde_json::json!({ "id": s.id, "v": v, "t": t }))
        .collect();
    SocketEvent::Text(serde_json::json!({ "readings": readings }).to_string())
}

fn delay(commands: &[Command]) -> f64 {
    commands
        .iter()
        .find_map(|c| match c {
            Command::WakeAfter(ms) => Some(*ms),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no WakeAfter in {commands:?}"))
}

/// Pumps with no events at `now` and returns the generation of the socket it asks to open.
fn open_at(s: &mut LiveSession, now: f64) -> u32 {
    let (commands, _) = s.pump([], now);
    commands
        .iter()
        .find_map(|c| match c {
            Command::Open { generation } => Some(*generation),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Open at {now}: {commands:?}"))
}

fn states(s: &LiveSession, now: f64) -> Vec<&'static str> {
    s.readings(now).values().map(|r| r.state).collect()
}

#[test]
fn a_reading_23_hours_ahead_is_counted_and_later_readings_still_apply() {
    let m = demo();
    let mut s = session(&m);
    let g = open_at(&mut s, T0);
    s.pump(
        [
            (g, SocketEvent::Open),
            (g, demo_frame(&m, 1.0, T0 + 23.0 * 3_600_000.0)),
        ],
        T0,
    );
    for i in 1..=3 {
        let t = T0 + f64::from(i) * 1000.0;
        let (_, changed) = s.pump([(g, demo_frame(&m, 1.0 + f64::from(i), t))], t);
        assert!(changed, "frame {i} applies");
    }
    let readings = s.readings(T0 + 3000.0);
    assert!(
        readings.values().all(|r| r.value == serde_json::json!(4.0)),
        "{readings:?}"
    );
    assert_eq!(
        s.store().counters().out_of_order,
        0,
        "nothing is out of order"
    );
    let c = s.connection_stats(T0 + 3000.0);
    assert_eq!(
        c.bad_input["futureTimestamp"], 14,
        "one per reading stamped ahead"
    );
    assert_eq!(c.status, "live");
}

#[test]
fn twenty_accept_then_close_cycles_back_off_to_the_cap_and_never_reset() {
    let m = demo();
    let mut s = session(&m);
    let mut now = T0;
    let mut delays = Vec::new();
    for _ in 0..20 {
        let g = open_at(&mut s, now);
        // The json adapter has no handshake: live the moment it opens, then closed at once.
        let (commands, _) = s.pump(
            [
                (g, SocketEvent::Open),
                (
                    g,
                    SocketEvent::Closed {
                        code: 1000,
                        reason: String::new(),
                        clean: true,
                    },
                ),
            ],
            now + 1.0,
        );
        assert!(
            !commands.contains(&Command::Open { generation: g + 1 }),
            "no hot loop"
        );
        delays.push(delay(&commands));
        now += 1.0 + delays[delays.len() - 1];
    }
    for pair in delays.windows(2) {
        assert!(
            pair[1] >= pair[0],
            "the ceiling never goes back: {delays:?}"
        );
    }
    assert_eq!(delays[0], 500.0);
    assert_eq!(delays[19], 30_000.0, "the cap");
    assert_eq!(s.connection_stats(now).connects, 20);
}

#[test]
fn a_refused_socket_keeps_backing_off_with_the_reason_in_the_label() {
    let m = parse(serde_json::json!({
        "name": "D", "model": { "url": "m.glb" },
        "sensors": [{ "id": "t", "name": "T", "node": "N",
                      "binding": { "thing": "org.acme:p", "path": "features/t/properties/v" } }],
        "source": { "url": "wss://ditto.example/ws/2", "adapter": "ditto",
                    "credentials": { "token": "s3cret-token" } }
    }));
    let mut s = session(&m);
    let mut now = T0;
    let mut delays = Vec::new();
    for i in 0..6 {
        let g = open_at(&mut s, now);
        let closed = SocketEvent::Closed {
            code: if i % 2 == 0 { 4001 } else { 1006 },
            reason: if i % 2 == 0 {
                "token expired".into()
            } else {
                String::new()
            },
            clean: i % 2 == 0,
        };
        // Even rounds open (and are refused); odd ones close before they ever open.
        let events = if i % 2 == 0 {
            vec![(g, SocketEvent::Open), (g, closed)]
        } else {
            vec![(g, closed)]
        };
        let (commands, _) = s.pump(events, now + 1.0);
        delays.push(delay(&commands));
        let c = s.connection_stats(now + 1.0);
        assert_eq!(c.status, "reconnecting");
        if i % 2 == 0 {
            assert!(
                c.label.contains("refused (code 4001): token expired"),
                "{}",
                c.label
            );
        } else {
            assert!(
                c.label
                    .contains("could not connect to wss://ditto.example/ws/2"),
                "{}",
                c.label
            );
        }
        assert!(
            !c.label.contains("s3cret") && !c.url.contains("s3cret"),
            "{c:?}"
        );
        now += 1.0 + delays[i];
    }
    assert_eq!(delays, [500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16000.0]);
}

#[test]
fn a_silent_json_source_is_shown_closed_and_reconnected_and_its_readings_are_lost() {
    let m = demo();
    let mut s = session(&m);
    let g = open_at(&mut s, T0);
    s.pump([(g, SocketEvent::Open), (g, demo_frame(&m, 5.0, T0))], T0);
    assert!(states(&s, T0).iter().all(|st| *st == "live"));
    // Half-open: the socket stays "open" but nothing comes.
    let (commands, _) = s.pump([], T0 + 29_000.0);
    assert!(!commands.contains(&Command::Close));
    let (commands, _) = s.pump([], T0 + 30_000.0);
    assert_eq!(commands.first(), Some(&Command::Close), "{commands:?}");
    let wait = delay(&commands);
    let c = s.connection_stats(T0 + 30_000.0);
    assert_eq!(c.status, "silent");
    assert!(
        c.label
            .starts_with("no data from ws://127.0.0.1:8080/ws/sim for 30 s"),
        "{}",
        c.label
    );
    assert!(
        states(&s, T0 + 30_000.0)
            .iter()
            .all(|st| *st == "connectionLost")
    );
    // The next socket opens; still silent until a frame arrives.
    let g = open_at(&mut s, T0 + 30_000.0 + wait);
    let now = T0 + 30_000.0 + wait + 10.0;
    s.pump([(g, SocketEvent::Open)], now);
    assert_eq!(s.connection_stats(now).status, "silent");
    assert!(states(&s, now).iter().all(|st| *st == "connectionLost"));
    s.pump([(g, demo_frame(&m, 6.0, now))], now);
    assert_eq!(s.connection_stats(now).status, "live");
    assert!(states(&s, now).iter().all(|st| *st == "live"));
}

#[test]
fn twenty_seconds_into_an_outage_no_demo_sensor_reads_live() {
    let m = demo();
    assert_eq!(m.sensors.len(), 14);
    assert!(
        m.sensors.iter().any(|x| x.max_age_seconds >= 30.0),
        "some demo sensors allow 30 s and more"
    );
    let mut s = session(&m);
    assert!(
        states(&s, T0).iter().all(|st| *st == "noData"),
        "nothing yet"
    );
    let g = open_at(&mut s, T0);
    s.pump([(g, SocketEvent::Open), (g, demo_frame(&m, 5.0, T0))], T0);
    s.pump([(g, demo_frame(&m, 5.5, T0 + 1000.0))], T0 + 1000.0);
    let (commands, _) = s.pump(
        [(
            g,
            SocketEvent::Closed {
                code: 1006,
                reason: String::new(),
                clean: false,
            },
        )],
        T0 + 1500.0,
    );
    assert!(!commands.contains(&Command::Close), "it closed itself");
    let now = T0 + 21_500.0;
    let readings = s.readings(now);
    for (id, r) in &readings {
        assert_eq!(r.state, "connectionLost", "{id}");
        assert_eq!(
            r.value,
            serde_json::json!(5.5),
            "{id}: the last value is kept"
        );
        assert_eq!(r.age_ms, Some(20_500.0), "{id}");
    }
    // Reconnecting (and connecting again) is still not live.
    let g = open_at(&mut s, T0 + 1500.0 + delay(&commands));
    assert!(states(&s, now).iter().all(|st| *st == "connectionLost"));
    s.pump([(g, SocketEvent::Open), (g, demo_frame(&m, 6.0, now))], now);
    assert!(states(&s, now).iter().all(|st| *st == "live"));
}

#[test]
fn readings_before_the_first_connection_follow_their_age_as_before() {
    let m = demo();
    let mut s = session(&m);
    let g = open_at(&mut s, T0);
    // Closed before it ever opened: never live, so nothing was lost.
    s.pump(
        [(
            g,
            SocketEvent::Closed {
                code: 1006,
                reason: String::new(),
                clean: false,
            },
        )],
        T0 + 5.0,
    );
    assert!(states(&s, T0 + 5.0).iter().all(|st| *st == "noData"));
    assert_eq!(s.store().connection_lost_since(), None);
}

fn mqtt_manifest() -> Manifest {
    parse(serde_json::json!({
        "name": "M", "model": { "url": "m.glb" },
        "sensors": [
            { "id": "temp", "name": "T", "node": "N", "maxAgeSeconds": 600,
              "binding": { "topic": "p101/temp" } },
            { "id": "flow", "name": "F", "node": "N", "maxAgeSeconds": 600,
              "binding": { "topic": "p101/flow" } }
        ],
        "source": { "url": "ws://127.0.0.1:9001", "adapter": "mqtt", "keepAliveSeconds": 30 }
    }))
}

/// Opens an MQTT session through CONNACK and SUBACK with a retained value on each topic.
fn live_mqtt(s: &mut LiveSession) -> u32 {
    let g = open_at(s, T0);
    let (commands, _) = s.pump([(g, SocketEvent::Open)], T0);
    assert!(
        matches!(commands.as_slice(), [Command::SendBinary(_)]),
        "CONNECT"
    );
    let connack = encode(&Packet::ConnAck {
        session_present: false,
        return_code: 0,
    });
    let (commands, _) = s.pump([(g, SocketEvent::Binary(connack))], T0 + 10.0);
    let Some(Command::SendBinary(subscribe)) = commands.first() else {
        panic!("SUBSCRIBE expected: {commands:?}")
    };
    let mut d = Decoder::new(1 << 20);
    d.push(subscribe);
    let Ok(Some(Packet::Subscribe { packet_id, filters })) = d.next_packet() else {
        panic!("not a SUBSCRIBE")
    };
    let suback = encode(&Packet::SubAck {
        packet_id,
        return_codes: vec![1; filters.len()],
    });
    let publish = |topic: &str, v: &str| {
        SocketEvent::Binary(encode(&Packet::Publish {
            topic: topic.into(),
            packet_id: None,
            qos: 0,
            retain: true,
            dup: false,
            payload: v.as_bytes().to_vec(),
        }))
    };
    s.pump(
        [
            (g, SocketEvent::Binary(suback)),
            (g, publish("p101/temp", "71.5")),
            (g, publish("p101/flow", "88")),
        ],
        T0 + 20.0,
    );
    assert_eq!(s.connection_stats(T0 + 20.0).status, "live");
    assert!(states(s, T0 + 20.0).iter().all(|st| *st == "live"));
    g
}

#[test]
fn a_missed_pingresp_closes_the_socket_and_reconnects_with_backoff() {
    let m = mqtt_manifest();
    let mut s = session(&m);
    live_mqtt(&mut s);
    let mut pinged = false;
    let mut closed_at = None;
    let mut t = T0 + 1000.0;
    while t <= T0 + 50_000.0 {
        let (commands, _) = s.pump([], t);
        if commands
            .iter()
            .any(|c| matches!(c, Command::SendBinary(b) if b == &encode(&Packet::PingReq)))
        {
            pinged = true;
        }
        if commands.contains(&Command::Close) {
            closed_at = Some(t);
            assert!(delay(&commands) > 0.0, "a retry is scheduled: {commands:?}");
            break;
        }
        t += 1000.0;
    }
    assert!(pinged, "PINGREQ sent after the keep-alive interval");
    let closed_at = closed_at.expect("the socket is closed when no PINGRESP comes");
    assert!(
        closed_at <= T0 + 46_000.0,
        "within 1.5 keep-alive intervals: {closed_at}"
    );
    let c = s.connection_stats(closed_at);
    assert_eq!(c.status, "reconnecting");
    assert!(c.label.contains("keep-alive"), "{}", c.label);
    // maxAgeSeconds is 600, yet nothing claims to be live while the broker is gone.
    assert!(
        states(&s, closed_at)
            .iter()
            .all(|st| *st == "connectionLost")
    );
}

#[test]
fn dropped_mqtt_frames_make_it_reconnect_instead_of_decoding_garbage() {
    let m = mqtt_manifest();
    let mut s = session(&m);
    let g = live_mqtt(&mut s);
    let mut q = FrameQueue::for_source(m.source.as_ref().map_or(1, |x| x.max_message_bytes));
    q.push_too_large(g, 5_000_000);
    let (commands, _) = s.pump(q.drain(), T0 + 100.0);
    assert!(commands.contains(&Command::Close), "{commands:?}");
    let c = s.connection_stats(T0 + 100.0);
    assert_eq!(c.bad_input["tooLarge"], 1);
    assert!(c.label.contains("resynchronise"), "{}", c.label);
}

#[test]
fn json_frames_dropped_by_the_queue_are_counted_in_frames_and_bytes_and_the_rest_applies() {
    let m = demo();
    let mut s = session(&m);
    let g = open_at(&mut s, T0);
    let mut q = FrameQueue::new(2, 1 << 20);
    q.push(g, SocketEvent::Open);
    let frames: Vec<SocketEvent> = (0..5).map(|i| demo_frame(&m, f64::from(i), T0)).collect();
    let sizes: Vec<u64> = frames
        .iter()
        .map(|f| match f {
            SocketEvent::Text(t) => t.len() as u64,
            _ => 0,
        })
        .collect();
    for f in frames {
        q.push(g, f);
    }
    q.push_too_large(g, 3_000_000);
    let (commands, changed) = s.pump(q.drain(), T0 + 1.0);
    assert!(changed);
    assert!(
        !commands.contains(&Command::Close),
        "json frames are independent"
    );
    let c = s.connection_stats(T0 + 1.0);
    assert_eq!(c.frames_dropped, 3);
    assert_eq!(c.bytes_dropped, sizes[..3].iter().sum::<u64>());
    assert_eq!(c.bad_input["tooLarge"], 1);
    assert_eq!(c.status, "live");
    assert!(
        s.readings(T0 + 1.0)
            .values()
            .all(|r| r.value == serde_json::json!(4.0))
    );
    let stats = serde_json::to_value(&c).expect("serialisable");
    assert!(stats.get("bytesDropped").is_some(), "{stats}");
}

#[test]
fn a_skipped_marker_of_an_old_socket_only_counts() {
    let m = mqtt_manifest();
    let mut s = session(&m);
    let g = live_mqtt(&mut s);
    let old = SocketEvent::Skipped(Skipped {
        dropped: 2,
        dropped_bytes: 10,
        ..Skipped::default()
    });
    let (commands, _) = s.pump([(g.wrapping_sub(1), old)], T0 + 50.0);
    assert!(commands.is_empty(), "{commands:?}");
    assert_eq!(s.connection_stats(T0 + 50.0).frames_dropped, 2);
    assert_eq!(s.connection_stats(T0 + 50.0).status, "live");
}
