//! Manifest parsing and validation: good documents, and bad ones reported by JSON path.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test that panics has failed, with its message

use glam::{Mat4, Vec3};
use twinlens::manifest::{Manifest, UpAxis};
use twinlens::model::{Node, TwinModel};

fn model_with_nodes(names: &[&str]) -> TwinModel {
    TwinModel {
        source_name: "models/pump.glb".into(),
        nodes: names
            .iter()
            .map(|n| Node {
                name: Some((*n).to_owned()),
                parent: None,
                children: vec![],
                local: Mat4::IDENTITY,
                world: Mat4::IDENTITY,
                mesh: None,
            })
            .collect(),
        roots: (0..names.len()).collect(),
        meshes: vec![],
        materials: vec![],
        textures: vec![],
        origin: [0.0; 3],
    }
}

fn parse(json: &str) -> Result<Manifest, String> {
    Manifest::parse(json.as_bytes(), "pump.twin.json").map_err(|e| e.to_string())
}

const GOOD: &str = r#"{
  "name": "Pump skid",
  "model": { "url": "pump.glb", "unitScale": 0.001, "upAxis": "z", "originOffset": [1, 0, 2] },
  "sensors": [
    { "id": "t1", "name": "Motor temperature", "node": "Motor_2", "unit": "°C",
      "range": [0, 150], "warning": { "above": 80 }, "alarm": { "above": 95 }, "maxAgeSeconds": 10 },
    { "id": "p1", "name": "Pressure", "node": "Pump",
      "warning": { "above": 11, "below": 4 }, "alarm": { "above": 13, "below": 2 } }
  ]
}"#;

#[test]
fn a_complete_manifest_parses_with_defaults_filled_in() {
    let m = parse(GOOD).expect("valid manifest");
    assert_eq!(m.name, "Pump skid");
    assert_eq!(m.model.url, "pump.glb");
    assert_eq!(m.model.up_axis, UpAxis::Z);
    assert_eq!(m.sensors.len(), 2);
    assert_eq!(m.sensors[0].unit.as_deref(), Some("°C"));
    assert_eq!(m.sensors[0].range, Some([0.0, 150.0]));
    assert_eq!(m.sensors[1].max_age_seconds, 30.0, "default max age");
    assert_eq!(m.sensors[1].alarm.and_then(|a| a.below), Some(2.0));
}

#[test]
fn the_shipped_demo_manifest_is_valid() {
    let bytes = std::fs::read("www/demo/pump-skid.twin.json").expect("demo manifest present");
    let m = Manifest::parse(&bytes, "pump-skid.twin.json").expect("demo manifest valid");
    assert!(
        m.sensors.len() >= 10,
        "about a dozen sensors, got {}",
        m.sensors.len()
    );
}

#[test]
fn placement_scales_rotates_z_up_and_offsets() {
    let m = parse(GOOD).unwrap();
    let p = m.model.placement();
    // A point 1000 mm up the model's Z axis ends 1 m up the twin's Y axis, then offset.
    let up = p.transform_point3(Vec3::new(0.0, 0.0, 1000.0));
    assert!((up - Vec3::new(1.0, 1.0, 2.0)).length() < 1e-5, "{up}");
}

#[test]
fn unknown_sensor_node_names_the_path_the_model_and_the_closest_node() {
    let m = parse(GOOD).unwrap();
    let model = model_with_nodes(&["Motor_02", "Pump"]);
    let problems = m.check_against(&model);
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].path, "sensors[0].node");
    assert_eq!(
        problems[0].message,
        r#"no node "Motor_2" in pump.glb (closest: "Motor_02")"#
    );
    assert_eq!(m.bound_sensor_count(&model), 1);
}

#[test]
fn unknown_fields_are_reported_with_a_suggestion() {
    let json = GOOD
        .replace("\"maxAgeSeconds\": 10", "\"maxAgeSecond\": 10")
        .replace("\"unitScale\"", "\"unitscale\"");
    let err = parse(&json).unwrap_err();
    assert!(
        err.contains("sensors[0].maxAgeSecond: unknown field (did you mean \"maxAgeSeconds\"?)"),
        "{err}"
    );
    assert!(
        err.contains("model.unitscale: unknown field (did you mean \"unitScale\"?)"),
        "{err}"
    );
}

#[test]
fn wrong_types_name_the_field() {
    let json = GOOD.replace("\"range\": [0, 150]", "\"range\": \"0-150\"");
    let err = parse(&json).unwrap_err();
    assert!(
        err.starts_with("pump.twin.json: sensors[0].range: invalid type: string"),
        "{err}"
    );

    let err = parse(r#"{ "name": "x", "model": { "url": 5 } }"#).unwrap_err();
    assert!(
        err.contains("model.url: invalid type: integer `5`, expected a string"),
        "{err}"
    );
}

#[test]
fn missing_required_fields_are_named() {
    let err = parse(r#"{ "name": "x" }"#).unwrap_err();
    assert!(err.contains("missing field `model`"), "{err}");
    let err = parse(r#"{ "name": "x", "model": { "url": "a.glb" }, "sensors": [ { "id": "a", "name": "A" } ] }"#).unwrap_err();
    assert!(
        err.contains("sensors[0]") && err.contains("missing field `node`"),
        "{err}"
    );
}

#[test]
fn bad_values_are_all_reported_at_once() {
    let json = r#"{
      "name": " ",
      "model": { "url": "a.glb", "unitScale": -1 },
      "sensors": [
        { "id": "a", "name": "A", "node": "N", "range": [10, 0], "maxAgeSeconds": 0 },
        { "id": "a", "name": "B", "node": "N", "warning": {}, "alarm": { "above": 5 } },
        { "id": "c", "name": "C", "node": "N", "warning": { "above": 90 }, "alarm": { "above": 80 } },
        { "id": "d", "name": "D", "node": "N", "warning": { "above": 1, "below": 5 } }
      ]
    }"#;
    let err = Manifest::parse(json.as_bytes(), "m.json").unwrap_err();
    let paths: Vec<&str> = err.problems.iter().map(|p| p.path.as_str()).collect();
    for expected in [
        "name",
        "model.unitScale",
        "sensors[0].range",
        "sensors[0].maxAgeSeconds",
        "sensors[1].id",
        "sensors[1].warning",
        "sensors[2].alarm.above",
        "sensors[3].warning",
    ] {
        assert!(
            paths.contains(&expected),
            "{expected} not reported; got {paths:?}"
        );
    }
    let dup = err
        .problems
        .iter()
        .find(|p| p.path == "sensors[1].id")
        .unwrap();
    assert!(
        dup.message.contains("already used by sensors[0]"),
        "{}",
        dup.message
    );
}

#[test]
fn not_json_and_trailing_garbage_are_errors_not_panics() {
    for bad in [
        "",
        "{",
        "[]",
        "null",
        "{\"name\": \"x\"} trailing",
        "\u{feff}{}",
        "{\"name\": 1e999}",
    ] {
        let err = parse(bad).unwrap_err();
        assert!(err.starts_with("pump.twin.json: "), "{bad:?} gave {err}");
    }
    let nested = "[".repeat(100_000);
    assert!(
        parse(&nested).is_err(),
        "deep nesting is refused, not a stack overflow"
    );
}

#[test]
fn a_source_section_parses_with_defaults() {
    let json = r#"{
      "name": "P", "model": { "url": "p.glb" },
      "source": { "url": "/ws/sim", "adapter": "json", "payload": { "readings": "/readings", "value": "/v" } },
      "sensors": [ { "id": "a", "name": "A", "node": "N", "display": { "precision": 1, "coloring": "replace" } } ]
    }"#;
    let m = parse(json).unwrap();
    let src = m.source.as_ref().unwrap();
    assert_eq!(
        src.max_message_bytes,
        1024 * 1024,
        "1 MiB default frame limit"
    );
    assert_eq!(src.keep_alive_seconds, 30);
    assert_eq!(src.payload.id, "/id");
    assert_eq!(src.payload.value, "/v");
    assert_eq!(m.history.capacity(), 600, "10 minutes at 1 Hz");
    assert_eq!(m.sensors[0].display.precision, Some(1));
}

#[test]
fn source_problems_name_the_field() {
    let json = r#"{
      "name": "P", "model": { "url": "p.glb" },
      "source": { "url": "http://broker", "adapter": "mqtt", "reconnect": { "baseSeconds": 5, "capSeconds": 1 },
                  "payload": { "value": "v" } },
      "history": { "windowSeconds": 86400, "resolutionSeconds": 1 },
      "sensors": [
        { "id": "a", "name": "A", "node": "N" },
        { "id": "b", "name": "B", "node": "N", "binding": { "topic": "plant/#/temp" } },
        { "id": "c", "name": "C", "node": "N", "binding": { "topic": "plant/+x" } },
        { "id": "d", "name": "D", "node": "N", "binding": { "topic": "plant/p1/temp" }, "display": { "precision": 9 } }
      ]
    }"#;
    let err = Manifest::parse(json.as_bytes(), "m.json").unwrap_err();
    let paths: Vec<&str> = err.problems.iter().map(|p| p.path.as_str()).collect();
    for expected in [
        "source.url",
        "source.reconnect.capSeconds",
        "source.payload.value",
        "history",
        "sensors[0].binding.topic",
        "sensors[1].binding.topic",
        "sensors[2].binding.topic",
        "sensors[3].display.precision",
    ] {
        assert!(
            paths.contains(&expected),
            "{expected} not reported; got {paths:?}"
        );
    }
}

#[test]
fn ditto_bindings_need_thing_and_feature_path_and_secrets_stay_out_of_debug() {
    let json = r#"{
      "name": "P", "model": { "url": "p.glb" },
      "source": { "url": "wss://ditto.example/ws/2", "adapter": "ditto", "credentials": { "token": "s3cret" } },
      "sensors": [ { "id": "a", "name": "A", "node": "N", "binding": { "path": "attributes/x" } } ]
    }"#;
    let err = parse(json).unwrap_err();
    assert!(
        err.contains("sensors[0].binding.thing: the ditto adapter needs the thing id"),
        "{err}"
    );
    assert!(
        err.contains("sensors[0].binding.path: the ditto adapter needs a path like features/"),
        "{err}"
    );

    let ok = json.replace(
        "\"path\": \"attributes/x\"",
        "\"thing\": \"org.acme:p\", \"path\": \"features/m/properties/t\"",
    );
    let m = parse(&ok).unwrap();
    let shown = format!("{m:?}");
    assert!(
        !shown.contains("s3cret"),
        "credentials are redacted in Debug output"
    );
}

/// A manifest whose `source` is `source` (JSON text), with one sensor.
fn with_source(source: &str) -> String {
    format!(
        r#"{{ "name": "P", "model": {{ "url": "p.glb" }}, "source": {source},
             "sensors": [ {{ "id": "a", "name": "A", "node": "N", "binding": {{ "topic": "t" }} }} ] }}"#
    )
}

#[test]
fn silence_seconds_defaults_to_30_and_must_be_between_a_second_and_a_day() {
    let m = parse(&with_source(r#"{ "url": "/ws/sim", "adapter": "json" }"#)).unwrap();
    assert_eq!(m.source.as_ref().map(|s| s.silence_seconds), Some(30.0));
    let m = parse(&with_source(
        r#"{ "url": "/ws/sim", "adapter": "json", "silenceSeconds": 300 }"#,
    ))
    .unwrap();
    assert_eq!(m.source.as_ref().map(|s| s.silence_seconds), Some(300.0));
    for bad in ["0", "-5", "0.5", "86401", "1e300"] {
        let err = parse(&with_source(&format!(
            r#"{{ "url": "/ws/sim", "adapter": "json", "silenceSeconds": {bad} }}"#
        )))
        .unwrap_err();
        assert!(
            err.contains("source.silenceSeconds: ") && err.contains("from 1 to 86400"),
            "{bad}: {err}"
        );
    }
    let err = parse(&with_source(
        r#"{ "url": "/ws/sim", "adapter": "json", "silenceSecond": 5 }"#,
    ))
    .unwrap_err();
    assert!(err.contains("did you mean \"silenceSeconds\""), "{err}");
}

#[test]
fn a_credential_of_the_wrong_type_is_named_without_quoting_its_value() {
    for (credentials, path, found) in [
        (
            r#"{ "password": 12345 }"#,
            "source.credentials.password",
            "a number",
        ),
        (
            r#"{ "token": true }"#,
            "source.credentials.token",
            "a boolean",
        ),
        (
            r#"{ "username": "ops", "password": ["hunter2"] }"#,
            "source.credentials.password",
            "an array",
        ),
        (r#""hunter2""#, "source.credentials", "text"),
    ] {
        let err = parse(&with_source(&format!(
            r#"{{ "url": "ws://b:9001", "adapter": "mqtt", "credentials": {credentials} }}"#
        )))
        .unwrap_err();
        assert!(err.contains(&format!("{path}: expected ")), "{err}");
        assert!(err.contains(&format!("found {found}")), "{err}");
        for secret in ["12345", "true", "hunter2", "invalid type"] {
            assert!(!err.contains(secret), "{secret:?} quoted in: {err}");
        }
    }
    let err = parse(&with_source(
        r#"{ "url": "ws://b", "adapter": "json", "onOpen": 4242 }"#,
    ))
    .unwrap_err();
    assert!(
        err.contains("source.onOpen: expected text") && !err.contains("4242"),
        "{err}"
    );
}

#[test]
fn credentials_over_plain_ws_to_another_host_are_warned_about_in_words() {
    let warnings = |source: &str| parse(&with_source(source)).unwrap().security_warnings();
    let w = warnings(
        r#"{ "url": "ws://plant.example:9001/mqtt", "adapter": "mqtt",
             "credentials": { "username": "ops", "password": "hunter2" } }"#,
    );
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("ws://plant.example:9001"), "{}", w[0]);
    assert!(
        w[0].contains("the password") && w[0].contains("wss://"),
        "{}",
        w[0]
    );
    assert!(!w[0].contains("hunter2"), "{}", w[0]);

    let w = warnings(r#"{ "url": "ws://10.0.0.5/ws?access_token=abc123", "adapter": "json" }"#);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("a secret in the URL") && !w[0].contains("abc123"),
        "{}",
        w[0]
    );

    let w = warnings(
        r#"{ "url": "ws://ditto.example/ws/2", "adapter": "json",
             "credentials": { "token": "t0k", "password": "pw" } }"#,
    );
    assert!(w[0].contains("the password and the token"), "{w:?}");

    for quiet in [
        r#"{ "url": "wss://plant.example/mqtt", "adapter": "mqtt", "credentials": { "password": "pw" } }"#,
        r#"{ "url": "ws://localhost:9001", "adapter": "mqtt", "credentials": { "password": "pw" } }"#,
        r#"{ "url": "ws://127.0.0.1:9001", "adapter": "mqtt", "credentials": { "password": "pw" } }"#,
        r#"{ "url": "ws://[::1]:9001", "adapter": "mqtt", "credentials": { "password": "pw" } }"#,
        r#"{ "url": "ws://plant.example/mqtt", "adapter": "mqtt", "credentials": { "username": "ops" } }"#,
        r#"{ "url": "ws://plant.example/mqtt", "adapter": "mqtt" }"#,
        r#"{ "url": "/ws/sim", "adapter": "json", "credentials": { "password": "pw" } }"#,
    ] {
        assert_eq!(warnings(quiet), Vec::<String>::new(), "{quiet}");
    }
    // A path takes the page's scheme: checked once resolved.
    let m = parse(&with_source(
        r#"{ "url": "/ws/sim", "adapter": "json", "credentials": { "token": "t" } }"#,
    ))
    .unwrap();
    let src = m.source.as_ref().unwrap();
    assert_eq!(
        src.security_warnings_for("ws://plant.example/ws/sim").len(),
        1
    );
    assert!(
        src.security_warnings_for("wss://plant.example/ws/sim")
            .is_empty()
    );
}
