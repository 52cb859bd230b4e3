//! The colour a sensor puts on its part's meshes: a ramp over the value, or the state's colour
//! when the value leaves the normal band. All colours are linear RGB, as the shaders blend.

use crate::overlay::rules::{ColoringMode, OverlayRules, RampStop};
use crate::overlay::state::{Classified, SensorState, numeric};
use crate::telemetry::Value;

/// How strongly a tint pulls a part toward its colour: enough to read at a glance while the
/// part's own material (and so its identity) still shows through.
pub const DEFAULT_TINT_STRENGTH: f32 = 0.55;

/// Strength of the grey tint on parts whose reading is stale or missing: weak on purpose, so
/// an unknown value never looks like a live one (nor like a state colour).
pub const UNKNOWN_TINT_STRENGTH: f32 = 0.35;

/// How a [`Tint`] combines with the part's material colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TintMode {
    /// Linear blend toward the colour by `strength`.
    Tint,
    /// The colour alone.
    Replace,
}

/// A colour for a node's meshes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tint {
    /// Linear RGB, each channel 0..=1.
    pub color: [f32; 3],
    /// How it combines with the material.
    pub mode: TintMode,
    /// Blend factor 0..=1 for [`TintMode::Tint`]; 1 for `Replace`.
    pub strength: f32,
}

/// The tint for a sensor's part, or `None` to leave the part as modelled.
///
/// - `coloring: off` → `None`.
/// - Stale, connection lost or no data → a weak grey tint whatever the mode: the last colour
///   would be a lie.
/// - With a ramp and a numeric value (booleans count as 1 and 0) → the ramp's colour at the
///   value, clamped to the sensor's `range`, in the rules' mode.
/// - Otherwise by state: warning orange, alarm vermillion, normal `None` (colour is kept for
///   what needs attention).
pub fn node_tint(
    classified: Classified,
    value: Option<&Value>,
    range: Option<[f64; 2]>,
    rules: &OverlayRules,
) -> Option<Tint> {
    let mode = match rules.coloring {
        ColoringMode::Off => return None,
        ColoringMode::Tint => TintMode::Tint,
        ColoringMode::Replace => TintMode::Replace,
    };
    let strength = match mode {
        TintMode::Tint => DEFAULT_TINT_STRENGTH,
        TintMode::Replace => 1.0,
    };
    match classified.state {
        SensorState::Stale | SensorState::NoData => {
            return Some(Tint {
                color: rgb(classified.state),
                mode: TintMode::Tint,
                strength: UNKNOWN_TINT_STRENGTH,
            });
        }
        SensorState::Normal | SensorState::Warning | SensorState::Alarm => {}
    }
    let ramp_color = rules.ramp.as_deref().and_then(|stops| {
        let x = numeric(value?)?;
        ramp_color(stops, clamp_to_range(x, range))
    });
    let color = match (ramp_color, classified.state) {
        (Some(c), _) => c,
        (None, SensorState::Normal) => return None,
        (None, state) => rgb(state),
    };
    Some(Tint {
        color,
        mode,
        strength,
    })
}

/// The part's colour under `tint`: a linear blend toward the tint colour by its strength, or
/// the tint colour itself for `Replace`.
pub fn blend(base: [f32; 3], tint: Tint) -> [f32; 3] {
    match tint.mode {
        TintMode::Replace => tint.color,
        TintMode::Tint => {
            // A NaN strength (never produced here, but the type allows it) leaves the base.
            let s = if tint.strength.is_nan() {
                0.0
            } else {
                tint.strength.clamp(0.0, 1.0)
            };
            std::array::from_fn(|i| base[i] + (tint.color[i] - base[i]) * s)
        }
    }
}

/// The ramp's colour at `x`: linear interpolation between the stops around it, the end
/// colours beyond the ends. `None` for an empty ramp or a NaN `x`.
pub fn ramp_color(stops: &[RampStop], x: f64) -> Option<[f32; 3]> {
    if x.is_nan() {
        return None;
    }
    let first = stops.first()?;
    let last = stops.last()?;
    let color = if x <= first.at {
        first.color
    } else if x >= last.at {
        last.color
    } else {
        // Stops are validated ascending; on unsorted input this still returns some stop's
        // colour rather than panicking.
        stops
            .windows(2)
            .find(|w| x >= w[0].at && x < w[1].at)
            .map(|w| {
                let t = ((x - w[0].at) / (w[1].at - w[0].at)) as f32;
                std::array::from_fn(|i| w[0].color[i] + (w[1].color[i] - w[0].color[i]) * t)
            })
            .unwrap_or(last.color)
    };
    Some(color.map(|c| {
        if c.is_finite() {
            c.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }))
}

fn clamp_to_range(x: f64, range: Option<[f64; 2]>) -> f64 {
    match range {
        Some([lo, hi]) if lo.is_finite() && hi.is_finite() && lo < hi => x.clamp(lo, hi),
        _ => x,
    }
}

fn rgb(state: SensorState) -> [f32; 3] {
    let [r, g, b, _] = state.style().color;
    [r, g, b]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overlay::state::Band;

    const BLUE: [f32; 3] = [0.0, 0.0, 1.0];
    const RED: [f32; 3] = [1.0, 0.0, 0.0];

    fn live(state: SensorState) -> Classified {
        let band = match state {
            SensorState::Warning => Band::Warning,
            SensorState::Alarm => Band::Alarm,
            _ => Band::Normal,
        };
        Classified {
            state,
            band,
            connection_lost: false,
        }
    }

    fn ramp_rules(mode: ColoringMode) -> OverlayRules {
        OverlayRules {
            coloring: mode,
            ramp: Some(vec![
                RampStop {
                    at: 20.0,
                    color: BLUE,
                },
                RampStop {
                    at: 80.0,
                    color: RED,
                },
            ]),
            ..Default::default()
        }
    }

    fn close(a: [f32; 3], b: [f32; 3]) -> bool {
        a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5)
    }

    fn tint_at(v: f64, range: Option<[f64; 2]>) -> [f32; 3] {
        let rules = ramp_rules(ColoringMode::Tint);
        match node_tint(
            live(SensorState::Normal),
            Some(&Value::Number(v)),
            range,
            &rules,
        ) {
            Some(t) => t.color,
            None => panic!("no tint at {v}"),
        }
    }

    #[test]
    fn ramp_hits_its_stop_colours_exactly_at_the_stops() {
        assert!(close(tint_at(20.0, None), BLUE));
        assert!(close(tint_at(80.0, None), RED));
        assert!(close(tint_at(50.0, None), [0.5, 0.0, 0.5]));
        assert!(close(tint_at(35.0, None), [0.25, 0.0, 0.75]));
    }

    #[test]
    fn ramp_holds_end_colours_beyond_its_stops() {
        assert!(close(tint_at(-1e9, None), BLUE));
        assert!(close(tint_at(1e9, None), RED));
    }

    #[test]
    fn values_outside_the_range_are_clamped_before_the_ramp() {
        // Range [0, 50]: 70 reads as 50, the middle of the 20..80 ramp.
        assert!(close(tint_at(70.0, Some([0.0, 50.0])), tint_at(50.0, None)));
        assert!(close(
            tint_at(-5.0, Some([30.0, 100.0])),
            tint_at(30.0, None)
        ));
        // A broken range is ignored rather than trusted.
        assert!(close(tint_at(70.0, Some([50.0, 0.0])), tint_at(70.0, None)));
    }

    #[test]
    fn ramp_with_equal_stops_makes_a_hard_edge() {
        let stops = [
            RampStop {
                at: 0.0,
                color: BLUE,
            },
            RampStop {
                at: 10.0,
                color: BLUE,
            },
            RampStop {
                at: 10.0,
                color: RED,
            },
            RampStop {
                at: 20.0,
                color: RED,
            },
        ];
        assert_eq!(ramp_color(&stops, 9.999), Some(BLUE));
        assert_eq!(ramp_color(&stops, 10.0), Some(RED));
        assert_eq!(ramp_color(&stops, f64::NAN), None);
        assert_eq!(ramp_color(&[], 1.0), None);
    }

    #[test]
    fn bands_colour_warnings_and_alarms_and_leave_normal_parts_alone() {
        let rules = OverlayRules::default();
        let v = Value::Number(1.0);
        assert_eq!(
            node_tint(live(SensorState::Normal), Some(&v), None, &rules),
            None
        );
        let w = node_tint(live(SensorState::Warning), Some(&v), None, &rules);
        let a = node_tint(live(SensorState::Alarm), Some(&v), None, &rules);
        assert_eq!(w.map(|t| t.color), Some(rgb(SensorState::Warning)));
        assert_eq!(a.map(|t| t.color), Some(rgb(SensorState::Alarm)));
        assert_eq!(
            a.map(|t| (t.mode, t.strength)),
            Some((TintMode::Tint, DEFAULT_TINT_STRENGTH))
        );
    }

    #[test]
    fn band_colour_changes_exactly_at_the_threshold() {
        use crate::manifest::{Binding, Sensor, Threshold};
        use crate::overlay::state::{Age, classify};
        let sensor = Sensor {
            id: "p".into(),
            name: "Pressure".into(),
            node: "Pipe".into(),
            unit: Some("bar".into()),
            range: Some([0.0, 10.0]),
            warning: Some(Threshold {
                above: Some(6.0),
                below: None,
            }),
            alarm: Some(Threshold {
                above: Some(8.0),
                below: None,
            }),
            max_age_seconds: 30.0,
            binding: Binding::default(),
            display: Default::default(),
        };
        let rules = OverlayRules::default();
        let tint = |x: f64| {
            let v = Value::Number(x);
            node_tint(
                classify(Some(&v), Age::Live, &sensor),
                Some(&v),
                sensor.range,
                &rules,
            )
            .map(|t| t.color)
        };
        assert_eq!(tint(5.999), None);
        assert_eq!(tint(6.0), Some(rgb(SensorState::Warning)));
        assert_eq!(tint(7.999), Some(rgb(SensorState::Warning)));
        assert_eq!(tint(8.0), Some(rgb(SensorState::Alarm)));
    }

    #[test]
    fn stale_and_missing_readings_get_a_weak_grey_even_with_a_ramp() {
        let rules = ramp_rules(ColoringMode::Replace);
        let v = Value::Number(80.0);
        for state in [SensorState::Stale, SensorState::NoData] {
            let c = Classified {
                state,
                band: Band::Alarm,
                connection_lost: false,
            };
            let t = node_tint(c, Some(&v), None, &rules);
            let Some(t) = t else {
                panic!("{state:?} has no tint")
            };
            assert_eq!(
                t.mode,
                TintMode::Tint,
                "{state:?} must not replace the material"
            );
            assert!(t.strength < DEFAULT_TINT_STRENGTH);
            assert!(
                t.color[0] == t.color[1] && t.color[1] == t.color[2],
                "grey: {:?}",
                t.color
            );
        }
    }

    #[test]
    fn coloring_off_never_tints() {
        let rules = OverlayRules {
            coloring: ColoringMode::Off,
            ..ramp_rules(ColoringMode::Off)
        };
        for state in [SensorState::Alarm, SensorState::Stale, SensorState::NoData] {
            let c = Classified {
                state,
                band: Band::Alarm,
                connection_lost: false,
            };
            assert_eq!(node_tint(c, Some(&Value::Number(50.0)), None, &rules), None);
        }
    }

    #[test]
    fn ramp_falls_back_to_bands_for_text_values() {
        let rules = ramp_rules(ColoringMode::Tint);
        let text = Value::Text("FAULT".into());
        let t = node_tint(live(SensorState::Alarm), Some(&text), None, &rules);
        assert_eq!(t.map(|t| t.color), Some(rgb(SensorState::Alarm)));
        let ok = Value::Text("RUNNING".into());
        assert_eq!(
            node_tint(live(SensorState::Normal), Some(&ok), None, &rules),
            None
        );
        // Booleans ride the ramp as 0 and 1.
        let b = node_tint(
            live(SensorState::Normal),
            Some(&Value::Bool(true)),
            None,
            &rules,
        );
        assert_eq!(b.map(|t| t.color), Some(BLUE));
    }

    #[test]
    fn replace_mode_uses_the_colour_alone() {
        let rules = ramp_rules(ColoringMode::Replace);
        let t = node_tint(
            live(SensorState::Normal),
            Some(&Value::Number(80.0)),
            None,
            &rules,
        );
        let Some(t) = t else { panic!("no tint") };
        assert_eq!(t.mode, TintMode::Replace);
        assert_eq!(blend([0.3, 0.3, 0.3], t), RED);
    }

    #[test]
    fn tint_blends_linearly_by_strength() {
        let t = |strength| Tint {
            color: RED,
            mode: TintMode::Tint,
            strength,
        };
        let base = [0.2, 0.4, 0.6];
        assert!(close(blend(base, t(0.0)), base));
        assert!(close(blend(base, t(1.0)), RED));
        assert!(close(blend(base, t(0.55)), [0.64, 0.18, 0.27]));
        assert!(close(blend(base, t(7.0)), RED), "strength is clamped");
        assert!(close(blend(base, t(f32::NAN)), base));
    }
}
