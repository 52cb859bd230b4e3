//! The committed demo model is exactly what `twinlens gen-demo` writes, so editing the generator
//! without regenerating the GLB (or the reverse) is caught.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test that panics has failed, with its message

use std::process::Command;

#[test]
fn committed_demo_glb_matches_the_generator() {
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("pump-skid.glb");
    let status = Command::new(env!("CARGO_BIN_EXE_twinlens"))
        .arg("gen-demo")
        .arg(&out)
        .status()
        .expect("the twinlens binary starts");
    assert!(status.success());
    let generated = std::fs::read(&out).unwrap();
    let committed = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../www/demo/pump-skid.glb"
    ))
    .unwrap();
    assert!(
        generated == committed,
        "www/demo/pump-skid.glb is stale: run `cargo run -p twinlens-cli -- gen-demo`"
    );
}
