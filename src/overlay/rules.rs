//! Per-sensor display rules, read from the manifest as `sensors[i].display`: number precision,
//! where the label sits, how much it matters when space is short, and how the part is coloured.

use glam::Vec3;
use serde::Deserialize;

/// Most decimals a value may show; more is noise on a label and would widen it for nothing.
pub const MAX_PRECISION: u8 = 6;

/// Largest label offset per axis, metres: beyond this a label no longer reads as belonging to
/// its part, and a typo (millimetres for metres) would fling it across the room.
pub const MAX_LABEL_OFFSET_M: f32 = 10.0;

/// Default offset from the part's anchor point: a hand's width above it, so the label does not
/// hide the part it describes.
pub const DEFAULT_LABEL_OFFSET: [f32; 3] = [0.0, 0.15, 0.0];

/// Field names this module adds to the manifest, for its unknown-field suggestions.
pub const KNOWN_FIELDS: &[&str] = &[
    "display",
    "precision",
    "labelOffset",
    "priority",
    "coloring",
    "ramp",
    "at",
    "color",
];

/// How one sensor is displayed. Every field is optional in the manifest; an absent `display`
/// means all defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OverlayRules {
    /// Decimals shown; `None` picks them from the sensor's range (about four significant
    /// digits of its span), or from the value itself when there is no range.
    pub precision: Option<u8>,
    /// Label position relative to the part's anchor point, metres in world axes (Y up), so a
    /// label stays above its part however the part is rotated or the model is scaled.
    pub label_offset: [f32; 3],
    /// Who gets the space when labels collide, after state severity: higher wins.
    pub priority: i32,
    /// How the value colours the sensor's part.
    pub coloring: ColoringMode,
    /// Colour stops over the value, in the sensor's own units; `None` colours by state bands
    /// (warning orange, alarm vermillion, normal untouched).
    pub ramp: Option<Vec<RampStop>>,
}

impl Default for OverlayRules {
    fn default() -> Self {
        Self {
            precision: None,
            label_offset: DEFAULT_LABEL_OFFSET,
            priority: 0,
            coloring: ColoringMode::default(),
            ramp: None,
        }
    }
}

/// How a sensor's colour is applied to its part's meshes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColoringMode {
    /// Blend the colour over the part's own material, which stays recognisable.
    #[default]
    Tint,
    /// Paint the part in the colour alone (heat-map style).
    Replace,
    /// Leave the part as modelled; only the label shows the value.
    Off,
}

/// One stop of a colour ramp. Both fields are required: a stop without a value or a colour
/// is a mistake, not something to default.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RampStop {
    /// The value this colour belongs to, in the sensor's units (not a 0..1 fraction), so the
    /// manifest reads like the thresholds next to it.
    pub at: f64,
    /// Linear RGB, each channel 0..=1.
    pub color: [f32; 3],
}

impl OverlayRules {
    /// Every invalid value, as (JSON path, message) pairs; `path` is where these rules sit in
    /// the manifest (`sensors[3].display`). Empty when the rules are valid.
    pub fn validate(&self, path: &str) -> Vec<(String, String)> {
        let at = |field: &str| format!("{path}.{field}");
        let mut out = Vec::new();
        if let Some(p) = self.precision
            && p > MAX_PRECISION
        {
            out.push((
                at("precision"),
                format!("{p} decimals is too many: at most {MAX_PRECISION}"),
            ));
        }
        if self.label_offset.iter().any(|v| !v.is_finite()) {
            out.push((
                at("labelOffset"),
                "must be three finite numbers (metres)".to_owned(),
            ));
        } else if self
            .label_offset
            .iter()
            .any(|v| v.abs() > MAX_LABEL_OFFSET_M)
        {
            out.push((
                at("labelOffset"),
                format!(
                    "{:?} puts the label more than {MAX_LABEL_OFFSET_M} m from its part; offsets are metres",
                    self.label_offset
                ),
            ));
        }
        if let Some(stops) = &self.ramp {
            validate_ramp(stops, &at("ramp"), &mut out);
        }
        out
    }

    /// Where the label goes for a part whose anchor point is `node_anchor` (world space).
    pub fn label_position(&self, node_anchor: Vec3) -> Vec3 {
        node_anchor + Vec3::from(self.label_offset)
    }
}

fn validate_ramp(stops: &[RampStop], path: &str, out: &mut Vec<(String, String)>) {
    if stops.len() < 2 {
        out.push((
            path.to_owned(),
            format!(
                "has {} stop(s); a ramp needs at least 2 (or leave it out to colour by state)",
                stops.len()
            ),
        ));
    }
    let mut previous: Option<f64> = None;
    for (i, stop) in stops.iter().enumerate() {
        if !stop.at.is_finite() {
            out.push((
                format!("{path}[{i}].at"),
                "must be a finite number".to_owned(),
            ));
        } else {
            // Equal neighbours are allowed: they make a hard edge in the ramp.
            if let Some(prev) = previous
                && stop.at < prev
            {
                out.push((
                    format!("{path}[{i}].at"),
                    format!(
                        "{} is below the previous stop ({prev}); stops must be sorted ascending",
                        stop.at
                    ),
                ));
            }
            previous = Some(stop.at);
        }
        if stop
            .color
            .iter()
            .any(|c| !(c.is_finite() && (0.0..=1.0).contains(c)))
        {
            out.push((
                format!("{path}[{i}].color"),
                format!(
                    "{:?} is not a linear RGB colour: each channel must be 0..1",
                    stop.color
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> OverlayRules {
        match serde_json::from_str(json) {
            Ok(r) => r,
            Err(e) => panic!("{json}: {e}"),
        }
    }

    fn paths(problems: &[(String, String)]) -> Vec<&str> {
        problems.iter().map(|(p, _)| p.as_str()).collect()
    }

    #[test]
    fn empty_display_object_gives_documented_defaults() {
        let r = parse("{}");
        assert_eq!(r, OverlayRules::default());
        assert_eq!(r.precision, None);
        assert_eq!(r.label_offset, [0.0, 0.15, 0.0]);
        assert_eq!(r.priority, 0);
        assert_eq!(r.coloring, ColoringMode::Tint);
        assert_eq!(r.ramp, None);
        assert!(r.validate("sensors[0].display").is_empty());
    }

    #[test]
    fn camel_case_fields_and_lowercase_modes_parse() {
        let r = parse(
            r#"{"precision": 2, "labelOffset": [0.1, 0.2, -0.3], "priority": -4,
                "coloring": "replace",
                "ramp": [{"at": 0, "color": [0, 0, 1]}, {"at": 100, "color": [1, 0, 0]}]}"#,
        );
        assert_eq!(r.precision, Some(2));
        assert_eq!(r.label_offset, [0.1, 0.2, -0.3]);
        assert_eq!(r.priority, -4);
        assert_eq!(r.coloring, ColoringMode::Replace);
        assert_eq!(r.ramp.as_ref().map(Vec::len), Some(2));
        assert!(r.validate("d").is_empty());
        assert_eq!(parse(r#"{"coloring": "off"}"#).coloring, ColoringMode::Off);
    }

    #[test]
    fn ramp_stop_without_value_or_colour_is_rejected_by_the_parser() {
        assert!(serde_json::from_str::<OverlayRules>(r#"{"ramp": [{"color": [1,1,1]}]}"#).is_err());
        assert!(serde_json::from_str::<OverlayRules>(r#"{"ramp": [{"at": 1}]}"#).is_err());
    }

    #[test]
    fn precision_above_six_is_reported_at_its_path() {
        let r = OverlayRules {
            precision: Some(7),
            ..Default::default()
        };
        assert_eq!(
            paths(&r.validate("sensors[2].display")),
            ["sensors[2].display.precision"]
        );
        let ok = OverlayRules {
            precision: Some(6),
            ..Default::default()
        };
        assert!(ok.validate("x").is_empty());
    }

    #[test]
    fn offsets_must_be_finite_and_within_ten_metres() {
        for bad in [
            [0.0, f32::NAN, 0.0],
            [0.0, 0.0, f32::INFINITY],
            [10.01, 0.0, 0.0],
            [0.0, -11.0, 0.0],
        ] {
            let r = OverlayRules {
                label_offset: bad,
                ..Default::default()
            };
            assert_eq!(paths(&r.validate("d")), ["d.labelOffset"], "{bad:?}");
        }
        let edge = OverlayRules {
            label_offset: [10.0, -10.0, 0.0],
            ..Default::default()
        };
        assert!(edge.validate("d").is_empty());
    }

    #[test]
    fn ramp_needs_two_sorted_stops_with_unit_colours() {
        let stop = |at: f64, color: [f32; 3]| RampStop { at, color };
        let rules = |stops: Vec<RampStop>| OverlayRules {
            ramp: Some(stops),
            ..Default::default()
        };
        assert_eq!(paths(&rules(vec![]).validate("d")), ["d.ramp"]);
        assert_eq!(
            paths(&rules(vec![stop(0.0, [0.0; 3])]).validate("d")),
            ["d.ramp"]
        );
        assert_eq!(
            paths(&rules(vec![stop(5.0, [0.0; 3]), stop(1.0, [1.0; 3])]).validate("d")),
            ["d.ramp[1].at"]
        );
        assert_eq!(
            paths(
                &rules(vec![
                    stop(0.0, [0.0, 1.5, 0.0]),
                    stop(1.0, [-0.1, 0.0, 0.0])
                ])
                .validate("d")
            ),
            ["d.ramp[0].color", "d.ramp[1].color"]
        );
        assert_eq!(
            paths(&rules(vec![stop(f64::NAN, [0.0; 3]), stop(1.0, [1.0; 3])]).validate("d")),
            ["d.ramp[0].at"]
        );
        // Equal neighbours make a hard edge and are fine.
        assert!(
            rules(vec![
                stop(0.0, [0.0; 3]),
                stop(1.0, [0.5; 3]),
                stop(1.0, [1.0; 3])
            ])
            .validate("d")
            .is_empty()
        );
    }

    #[test]
    fn label_position_adds_the_offset_in_world_metres() {
        let r = OverlayRules::default();
        assert_eq!(
            r.label_position(Vec3::new(1.0, 2.0, 3.0)),
            Vec3::new(1.0, 2.15, 3.0)
        );
    }
}
