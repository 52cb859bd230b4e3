use super::*;
use crate::manifest::Manifest;
use crate::telemetry::store::{BadInputCounters, MAX_BAD_PER_FRAME};

pub(super) const NOW: f64 = 1_795_615_653_000.0;

/// A manifest with sensors `temp`, `pressure` (key `p1`) and `state`, and `payload` as given.
pub(super) fn setup(payload: serde_json::Value) -> (Manifest, JsonAdapter) {
    let doc = serde_json::json!({
        "name": "Test", "model": { "url": "m.glb" },
        "sensors": [
            { "id": "temp", "name": "T", "node": "N" },
            { "id": "pressure", "name": "P", "node": "N", "binding": { "key": "p1" } },
            { "id": "state", "name": "S", "node": "N" },
            { "id": "7", "name": "Numbered", "node": "N" }
        ],
        "source": {
            "url": "wss://example.test/ws", "adapter": "json", "payload": payload,
            "credentials": { "username": "ann", "password": "p{token}w", "token": "T0K" },
            "maxMessageBytes": 4096
        }
    });
    let manifest = match Manifest::parse(doc.to_string().as_bytes(), "t.json") {
        Ok(m) => m,
        Err(e) => panic!("{e}"),
    };
    let Some(source) = manifest.source.clone() else {
        panic!("no source")
    };
    let adapter = JsonAdapter::new(
        &source,
        Bindings::from_manifest(&manifest),
        source.max_message_bytes,
    );
    (manifest, adapter)
}

pub(super) fn decode(adapter: &mut JsonAdapter, text: &str) -> Decoded {
    adapter.on_text(text, NOW)
}

pub(super) fn reasons(d: &Decoded) -> Vec<String> {
    d.bad
        .iter()
        .map(|b| format!("{:?}: {}", b.kind, b.reason))
        .collect()
}

#[test]
fn single_reading_with_defaults() {
    let (_, mut a) = setup(serde_json::json!({}));
    let d = decode(&mut a, r#"{"id":"temp","value":21.5,"unit":"°C"}"#);
    assert_eq!(reasons(&d), Vec::<String>::new());
    assert_eq!(
        d.samples,
        [Sample {
            sensor: 0,
            value: Value::Number(21.5),
            unit: Some("°C".into()),
            source_ms: None,
            received_ms: NOW,
            quality: Quality::Good,
        }]
    );
}

#[test]
fn readings_pointer_timestamps_and_quality() {
    let (_, mut a) = setup(serde_json::json!({
        "readings": "/data/items", "id": "/name", "value": "/v/now",
        "timestamp": "/ts", "quality": "/q"
    }));
    let d = decode(
        &mut a,
        r#"{"data":{"items":[
            {"name":"temp","v":{"now":20},"ts":"2026-11-25T14:07:33Z","q":"GOOD"},
            {"name":"p1","v":{"now":"1.25"},"ts":1795615653,"q":"Bad"},
            {"name":"state","v":{"now":"RUNNING"},"q":"weird"},
            {"name":7,"v":{"now":true},"ts":null}
        ]}}"#,
    );
    assert_eq!(reasons(&d), Vec::<String>::new());
    let got: Vec<(usize, Value, Option<f64>, Quality)> = d
        .samples
        .iter()
        .map(|s| (s.sensor, s.value.clone(), s.source_ms, s.quality))
        .collect();
    assert_eq!(
        got,
        [
            (0, Value::Number(20.0), Some(NOW), Quality::Good),
            (1, Value::Number(1.25), Some(NOW), Quality::Bad),
            (2, Value::Text("RUNNING".into()), None, Quality::Uncertain),
            (3, Value::Bool(true), None, Quality::Good),
        ]
    );
}

#[test]
fn top_level_array_is_a_list_of_readings() {
    let (_, mut a) = setup(serde_json::json!({}));
    let d = decode(
        &mut a,
        r#"[{"id":"temp","value":1},{"id":"state","value":false}]"#,
    );
    assert_eq!(d.samples.len(), 2);
    assert_eq!(d.samples[1].value, Value::Bool(false));
}

#[test]
fn bad_readings_are_skipped_and_named_while_others_are_used() {
    let (_, mut a) = setup(serde_json::json!({ "readings": "/readings", "timestamp": "/ts" }));
    let d = decode(
        &mut a,
        r#"{"readings":[
            {"id":"temp","value":1},
            {"id":"nope","value":2},
            {"value":3},
            {"id":"temp","value":{"x":1}},
            {"id":"temp","value":"NaN"},
            {"id":"temp","value":null},
            {"id":"temp","value":4,"ts":"yesterday"},
            {"id":{"a":1},"value":5},
            42,
            {"id":"temp"},
            {"id":"state","value":[1]},
            {"id":"temp","value":6}
        ]}"#,
    );
    assert_eq!(
        d.samples
            .iter()
            .map(|s| s.value.clone())
            .collect::<Vec<_>>(),
        [Value::Number(1.0), Value::Number(6.0)]
    );
    assert_eq!(
        reasons(&d),
        [
            "UnknownSensor: readings[1]: no sensor has id \"nope\"",
            "WrongType: readings[2].id: missing",
            "WrongType: readings[3].value: expected a number, boolean or text, got an object",
            "NonFinite: readings[4].value: not a finite number",
            "WrongType: readings[5].value: expected a number, boolean or text, got null",
            "WrongType: readings[6].ts: \"yesterday\": too short; expected RFC 3339 text like 2026-11-25T14:07:33Z",
            "WrongType: readings[7].id: expected text or a number, got an object",
            "WrongType: readings[8]: expected a reading (an object), got a number",
            "WrongType: readings[9].value: missing",
            "WrongType: readings[10].value: expected a number, boolean or text, got an array",
        ]
    );
}

#[test]
fn single_reading_errors_name_the_field_without_an_index() {
    let (_, mut a) = setup(serde_json::json!({}));
    let d = decode(&mut a, r#"{"id":"temp","value":"Infinity"}"#);
    assert_eq!(reasons(&d), ["NonFinite: value: not a finite number"]);
    let d = decode(&mut a, r#"{"id":"ghost","value":1}"#);
    assert_eq!(
        reasons(&d),
        ["UnknownSensor: message: no sensor has id \"ghost\""]
    );
    let d = decode(&mut a, r#""just text""#);
    assert_eq!(
        reasons(&d),
        ["WrongType: message: expected a reading (an object), got text"]
    );
}

#[test]
fn readings_pointer_must_point_to_an_array() {
    let (_, mut a) = setup(serde_json::json!({ "readings": "/data" }));
    let d = decode(&mut a, r#"{"type":"heartbeat"}"#);
    assert_eq!(
        reasons(&d),
        ["WrongType: data: expected an array of readings (payload.readings), got nothing"]
    );
    let d = decode(&mut a, r#"{"data":{"id":"temp"}}"#);
    assert!(reasons(&d)[0].ends_with("got an object"));
}

#[test]
fn frames_that_are_not_json_too_large_or_binary_are_reported() {
    let (_, mut a) = setup(serde_json::json!({}));
    let d = decode(&mut a, "{\"id\": ");
    assert_eq!(d.bad.len(), 1);
    assert_eq!(d.bad[0].kind, BadInputKind::NotJson);
    assert!(d.bad[0].reason.contains("line 1"), "{}", d.bad[0].reason);
    let big = format!(r#"{{"id":"temp","value":1,"pad":"{}"}}"#, "x".repeat(5000));
    let d = decode(&mut a, &big);
    assert_eq!(d.samples.len(), 0);
    assert_eq!(d.bad[0].kind, BadInputKind::TooLarge);
    assert!(d.bad[0].reason.contains("4096"));
    let d = a.on_binary(&[1, 2, 3], NOW);
    assert_eq!(
        reasons(&d),
        ["WrongFrameType: binary frame of 3 bytes; the json adapter reads text frames"]
    );
    assert!(
        decode(&mut a, "1e999").bad[0].kind == BadInputKind::NotJson,
        "overflowing number"
    );
}

#[test]
fn bad_inputs_per_frame_are_bounded_but_all_counted() {
    let (_, mut a) = setup(serde_json::json!({}));
    let mut text = String::from("[");
    for i in 0..1000 {
        let _ = write!(
            text,
            r#"{{"id":"ghost{i}","value":1}},{{"id":"temp","value":null}},"#
        );
    }
    text.push_str(r#"{"id":"temp","value":2}]"#);
    a.max_message_bytes = usize::MAX;
    let d = decode(&mut a, &text);
    assert_eq!(
        d.samples.len(),
        1,
        "the good reading after 2000 bad ones is used"
    );
    assert_eq!(d.bad.len(), MAX_BAD_PER_FRAME + 2);
    let mut counters = BadInputCounters::new();
    for b in &d.bad {
        counters.record(b);
    }
    assert_eq!(counters.count(BadInputKind::UnknownSensor), 1000);
    assert_eq!(counters.count(BadInputKind::WrongType), 1000);
}

#[test]
fn long_ids_are_shortened_in_reasons() {
    let (_, mut a) = setup(serde_json::json!({}));
    let id = "é".repeat(500);
    let d = decode(&mut a, &format!(r#"{{"id":"{id}","value":1}}"#));
    assert!(d.bad[0].reason.len() < 200);
}

#[test]
fn numeric_ids_and_escaped_pointers() {
    let (_, mut a) = setup(serde_json::json!({ "id": "/meta/a~1b", "value": "/vals/0" }));
    let d = decode(&mut a, r#"{"meta":{"a/b":7},"vals":[3.5]}"#);
    assert_eq!(reasons(&d), Vec::<String>::new());
    assert_eq!(
        (d.samples[0].sensor, &d.samples[0].value),
        (3, &Value::Number(3.5))
    );
    let d = decode(&mut a, r#"{"meta":{"a/b":7},"vals":[]}"#);
    assert_eq!(reasons(&d), ["WrongType: vals.0: missing"]);
}

#[test]
fn one_pass_fields_match_resolving_each_pointer() {
    let (_, fast) = setup(serde_json::json!({ "timestamp": "/ts", "quality": "/q" }));
    assert!(
        fast.keys.is_some(),
        "one-token pointers take the one-pass path"
    );
    let mut fast = fast;
    let mut slow = fast.clone();
    slow.keys = None;
    for text in [
        r#"[{"id":"temp","value":1,"ts":1795615653,"q":"bad","unit":"K"}]"#,
        r#"[{"id":"nope","id":"temp","value":2,"value":3,"unit":"a","unit":"b"}]"#,
        r#"[{"value":1,"id":"state","q":null,"ts":null},{"id":7,"value":"x"}]"#,
        r#"[{"id":"temp"},{"id":"temp","value":{"a":1}},{"id":"temp","value":1,"ts":[]}]"#,
        r#"[["temp",1],{"id":"temp","value":true,"q":"GOOD"},{"id":7.0,"value":1}]"#,
        r#"{"id":"p1","value":"1.5 bar","ts":"2026-11-25T14:07:33Z"}"#,
    ] {
        assert_eq!(decode(&mut fast, text), decode(&mut slow, text), "{text}");
    }
}

#[test]
fn numeric_ids_are_looked_up_as_serde_json_prints_them() {
    let (_, mut a) = setup(serde_json::json!({}));
    let d = decode(
        &mut a,
        r#"[{"id":7,"value":1},{"id":7.0,"value":1},{"id":-7,"value":1}]"#,
    );
    assert_eq!(d.samples.iter().map(|s| s.sensor).collect::<Vec<_>>(), [3]);
    assert_eq!(
        reasons(&d),
        [
            "UnknownSensor: [1]: no sensor has id \"7.0\"",
            "UnknownSensor: [2]: no sensor has id \"-7\"",
        ]
    );
}

#[test]
fn pointer_follows_rfc6901() {
    let doc = serde_json::json!({"a": [10, 20], "": 1, "~x": 2, "01": 3});
    assert_eq!(
        Pointer::new("/a/1").resolve(&doc),
        Some(&serde_json::json!(20))
    );
    assert_eq!(
        Pointer::new("/a/01").resolve(&doc),
        None,
        "no leading zeros"
    );
    assert_eq!(Pointer::new("/a/-").resolve(&doc), None);
    assert_eq!(
        Pointer::new("/01").resolve(&doc),
        Some(&serde_json::json!(3))
    );
    assert_eq!(Pointer::new("/").resolve(&doc), Some(&serde_json::json!(1)));
    assert_eq!(
        Pointer::new("/~0x").resolve(&doc),
        Some(&serde_json::json!(2))
    );
    assert_eq!(Pointer::new("").resolve(&doc), Some(&doc));
    assert_eq!(Pointer::new("a").resolve(&doc), None, "not a pointer");
    assert_eq!(
        Pointer::new("/a/99999999999999999999999").resolve(&doc),
        None
    );
    for p in ["/data/items", "/a/1", "/a~1b"] {
        assert_eq!(Pointer::new(p).resolve(&doc), doc.pointer(p), "{p}");
    }
}

#[test]
fn value_and_quality_conversions() {
    use serde_json::json;
    assert_eq!(
        value_from_json(Some(&json!(" 42 "))),
        Ok(Value::Number(42.0))
    );
    assert_eq!(
        value_from_json(Some(&json!("-inf"))),
        Err(ValueError::NonFinite)
    );
    assert_eq!(
        value_from_json(Some(&json!("1.5 bar"))),
        Ok(Value::Text("1.5 bar".into()))
    );
    assert_eq!(
        value_from_json(Some(&json!(""))),
        Ok(Value::Text(String::new()))
    );
    assert_eq!(value_from_json(None), Err(ValueError::Missing));
    assert_eq!(
        quality_from_json(Some(&json!(" uncertain "))),
        Quality::Uncertain
    );
    assert_eq!(quality_from_json(Some(&json!("BAD"))), Quality::Bad);
    assert_eq!(quality_from_json(Some(&json!(0))), Quality::Uncertain);
    assert_eq!(quality_from_json(Some(&json!(null))), Quality::Good);
    assert_eq!(quality_from_json(None), Quality::Good);
}

#[test]
fn adapter_is_live_once_open_and_sends_nothing() {
    let (_, mut a) = setup(serde_json::json!({}));
    assert_eq!(a.subprotocol(), None);
    assert_eq!(a.state(), SessionState::Handshaking);
    assert_eq!(a.on_open(NOW), Vec::new());
    assert_eq!(a.state(), SessionState::Live);
    assert_eq!(a.on_tick(NOW), Vec::new());
}

#[test]
fn template_substitutes_known_placeholders_once() {
    let (m, _) = setup(serde_json::json!({}));
    let Some(source) = m.source else {
        panic!("no source")
    };
    assert_eq!(
        render_template(
            r#"{"auth":"{token}","user":"{username}","pw":"{password}","c":"{clientId}","x":"{other}{"}"#,
            &source,
            "twin-42"
        ),
        r#"{"auth":"T0K","user":"ann","pw":"p{token}w","c":"twin-42","x":"{other}{"}"#
    );
    let mut bare = source.clone();
    bare.credentials = None;
    assert_eq!(render_template("Bearer {token}!", &bare, ""), "Bearer !");
    assert_eq!(render_template("{{clientId}}é{", &bare, "c"), "{c}é{");
}

/// Not a benchmark: a guard that decoding stays in the right order of magnitude. Run
/// `cargo test --release --lib json_decode_throughput -- --ignored --nocapture` to see
/// readings per second.
#[test]
#[ignore]
fn json_decode_throughput() {
    use crate::telemetry::store::{Inbox, SensorStore};
    let (m, mut a) = setup(serde_json::json!({ "readings": "/r", "timestamp": "/ts" }));
    a.max_message_bytes = usize::MAX;
    let mut store = SensorStore::new(&m);
    let mut inbox = Inbox::with_sensors(m.sensors.len());
    let mut frame = String::from(r#"{"r":["#);
    for i in 0..1000 {
        let id = ["temp", "p1", "state", "7"][i % 4];
        let _ = write!(
            frame,
            r#"{{"id":"{id}","value":{}.5,"ts":{}}},"#,
            i,
            1_795_615_653_000u64 + i as u64
        );
    }
    frame.pop();
    frame.push_str("]}");
    let start = std::time::Instant::now();
    let frames = 2000;
    for f in 0..frames {
        let d = a.on_text(&frame, NOW + f as f64);
        for s in d.samples {
            inbox.push(s);
        }
        inbox.drain_into(&mut store);
    }
    let secs = start.elapsed().as_secs_f64();
    println!("{:.0} readings/s", (frames * 1000) as f64 / secs);
}
