//! Unit tests of the manifest's private helpers.

use super::*;

#[test]
fn json_path_formats_indices_in_brackets() {
    assert_eq!(json_path("sensors.3.node"), "sensors[3].node");
    assert_eq!(json_path("sensors[3].node"), "sensors[3].node");
    assert_eq!(json_path("model.url"), "model.url");
    assert_eq!(json_path(""), "");
}

#[test]
fn closest_suggests_typos_only() {
    let names = ["Motor_2", "Pump", "Tank"];
    assert_eq!(closest("Motor_02", names.iter().copied()), Some("Motor_2"));
    assert_eq!(closest("Compressor", names.iter().copied()), None);
}
