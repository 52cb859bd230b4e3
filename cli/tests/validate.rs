//! `twinlens validate` as a user runs it: exit codes, the summary line, and every problem listed
//! for broken manifests and hostile model files, without panics or hangs.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test that panics has failed, with its message

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DEMO_GLB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../www/demo/pump-skid.glb");
const DEMO_MANIFEST: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../www/demo/pump-skid.twin.json"
);

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs the CLI with a deadline: a hang is a failure, as is a panic (exit 101) or a signal.
fn validate(args: &[&str]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_twinlens"))
        .arg("validate")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the twinlens binary starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if child.try_wait().expect("wait on child").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("validate {args:?} did not finish within 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("collect output");
    let code = out
        .status
        .code()
        .unwrap_or_else(|| panic!("validate {args:?} was killed by a signal"));
    assert_ne!(
        code,
        101,
        "validate {args:?} panicked: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Run {
        code,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A scratch folder per test, under Cargo's target tmp dir.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

#[test]
fn the_demo_manifest_is_valid_with_every_sensor_bound() {
    let r = validate(&[DEMO_MANIFEST]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let line = r.stdout.trim();
    assert!(line.contains("valid: 19 nodes"), "{line}");
    assert!(line.ends_with("14 of 14 sensors bound"), "{line}");
    assert_eq!(line.lines().count(), 1, "one-line summary");
}

#[test]
fn json_summary_reports_the_model_figures() {
    let r = validate(&[DEMO_GLB, "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("one JSON object");
    assert_eq!(v["valid"], true);
    assert_eq!(v["nodes"], 19);
    assert!(v["triangles"].as_u64().is_some_and(|t| t > 1000), "{v}");
}

#[test]
fn a_manifest_with_several_problems_lists_them_all() {
    let dir = scratch("several_problems");
    let manifest = r#"{
      "name": "Pump",
      "model": { "url": "pump.glb" },
      "sensors": [
        { "id": "a", "name": "A", "node": "Motor_02", "maxAgeSecond": 5 },
        { "id": "a", "name": "B", "node": "Pump", "range": [5, 1] }
      ]
    }"#;
    std::fs::write(dir.join("twin.json"), manifest).unwrap();
    let r = validate(&[dir.join("twin.json").to_str().unwrap()]);
    assert_eq!(r.code, 1);
    for expected in [
        "sensors[0].maxAgeSecond: unknown field (did you mean \"maxAgeSeconds\"?)",
        "sensors[1].id: \"a\" is already used by sensors[0]",
        "sensors[1].range: [5, 1] is not a range",
    ] {
        assert!(
            r.stderr.contains(expected),
            "missing {expected:?} in:\n{}",
            r.stderr
        );
    }
}

#[test]
fn a_sensor_on_a_missing_node_names_the_closest_node() {
    let dir = scratch("missing_node");
    std::fs::copy(DEMO_GLB, dir.join("pump-skid.glb")).unwrap();
    let text = std::fs::read_to_string(DEMO_MANIFEST).unwrap().replacen(
        "\"node\": \"Motor\"",
        "\"node\": \"Motor_02\"",
        1,
    );
    std::fs::write(dir.join("twin.json"), text).unwrap();
    let r = validate(&[dir.join("twin.json").to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains(
            "sensors[0].node: no node \"Motor_02\" in pump-skid.glb (closest: \"Motor\")"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn a_missing_model_file_and_a_remote_model_url_are_explained() {
    let dir = scratch("missing_model");
    std::fs::write(
        dir.join("a.json"),
        r#"{"name":"A","model":{"url":"nowhere.glb"}}"#,
    )
    .unwrap();
    let r = validate(&[dir.join("a.json").to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("model.url: cannot read") && r.stderr.contains("nowhere.glb"),
        "{}",
        r.stderr
    );

    std::fs::write(
        dir.join("b.json"),
        r#"{"name":"B","model":{"url":"https://example.com/m.glb"}}"#,
    )
    .unwrap();
    let r = validate(&[dir.join("b.json").to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("is a remote URL"), "{}", r.stderr);
}

#[test]
fn hostile_model_files_fail_cleanly() {
    let dir = scratch("hostile");
    let demo = std::fs::read(DEMO_GLB).unwrap();
    let mut wrong_magic = demo.clone();
    wrong_magic[..4].copy_from_slice(b"gLTF");
    let mut long_chunk = demo.clone();
    long_chunk[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty.glb", vec![]),
        ("truncated.glb", demo[..demo.len() / 2].to_vec()),
        ("wrong-magic.glb", wrong_magic),
        ("long-chunk.glb", long_chunk),
        (
            "garbage.glb",
            (0..4096u32)
                .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
                .collect(),
        ),
    ];
    for (name, bytes) in cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let r = validate(&[path.to_str().unwrap()]);
        assert_eq!(r.code, 1, "{name} must be invalid");
        assert!(
            r.stderr.contains(name),
            "{name}: the error names the file:\n{}",
            r.stderr
        );
        assert!(r.stderr.contains("error: "), "{name}: {}", r.stderr);
    }
}

#[test]
fn a_file_that_does_not_exist_is_an_error_not_a_panic() {
    let r = validate(&["/definitely/not/here.glb"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("cannot read /definitely/not/here.glb"),
        "{}",
        r.stderr
    );
}

#[test]
fn credentials_sent_over_plain_ws_are_warned_about_without_the_secret() {
    let dir = scratch("insecure_credentials");
    std::fs::copy(DEMO_GLB, dir.join("pump-skid.glb")).unwrap();
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(DEMO_MANIFEST).unwrap()).unwrap();
    manifest["source"] = serde_json::json!({
        "url": "ws://plant.example:9001/mqtt", "adapter": "json",
        "credentials": { "username": "ops", "password": "hunter2-secret" }
    });
    std::fs::write(dir.join("twin.json"), manifest.to_string()).unwrap();
    let path = dir.join("twin.json");
    let r = validate(&[path.to_str().unwrap()]);
    assert_eq!(
        r.code, 0,
        "a warning does not make it invalid: {}",
        r.stderr
    );
    assert!(
        r.stderr.contains("warning: ")
            && r.stderr.contains("ws://plant.example:9001")
            && r.stderr.contains("wss://"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("hunter2") && !r.stdout.contains("hunter2"));
    let r = validate(&[path.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("one JSON object");
    assert_eq!(v["valid"], true);
    assert_eq!(v["warnings"].as_array().map(Vec::len), Some(1), "{v}");

    let r = validate(&[DEMO_MANIFEST, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("one JSON object");
    assert_eq!(
        v["warnings"],
        serde_json::json!([]),
        "the demo has no secrets"
    );
}

#[test]
fn a_password_of_the_wrong_type_is_reported_without_its_value() {
    let dir = scratch("credential_type");
    std::fs::write(
        dir.join("twin.json"),
        r#"{ "name": "P", "model": { "url": "p.glb" },
             "source": { "url": "wss://b", "adapter": "json", "credentials": { "password": 918273645 } } }"#,
    )
    .unwrap();
    let r = validate(&[dir.join("twin.json").to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("source.credentials.password: expected text"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("918273645"), "{}", r.stderr);
}
