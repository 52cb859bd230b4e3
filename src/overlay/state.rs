//! A sensor's display state (normal, warning, alarm, stale, no data) from its latest value, its
//! age and its thresholds, and the style each state is drawn with. A reading whose source has
//! lost its connection is drawn as stale, and says "connection lost".
//!
//! Colours follow high-performance HMI practice: normal is neutral and colour is kept for what
//! needs attention, from the Okabe–Ito colour-blind-safe palette. Every state also has its own
//! icon shape, so states stay apart in greyscale and for every kind of colour vision.

use crate::manifest::{Sensor, Threshold};
use crate::telemetry::Value;

/// How old the latest reading is, as far as display is concerned (the caller maps the store's
/// freshness to this).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Age {
    /// Newer than the sensor's `maxAgeSeconds`.
    Live,
    /// Older than `maxAgeSeconds`.
    Stale,
    /// The source's connection is down: the last value known, however recent.
    ConnectionLost,
    /// Nothing received yet.
    NoData,
}

/// Where a value lies relative to the sensor's thresholds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Band {
    /// Inside every threshold.
    #[default]
    Normal,
    /// At or beyond a warning threshold.
    Warning,
    /// At or beyond an alarm threshold.
    Alarm,
}

/// What a sensor's label and part show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SensorState {
    /// Live and inside every threshold.
    Normal,
    /// Live and in the warning band.
    Warning,
    /// Live and in the alarm band.
    Alarm,
    /// The last reading is too old to trust, whatever its band.
    Stale,
    /// No usable reading.
    NoData,
}

/// A classification: the state shown, and the band of the last value so a stale label can
/// still say "stale (was alarm)".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classified {
    /// The state to display.
    pub state: SensorState,
    /// Band of the last value; `Normal` when there is no value.
    pub band: Band,
    /// The state is [`SensorState::Stale`] because the source's connection is down, not
    /// because the reading aged: the label says "connection lost".
    pub connection_lost: bool,
}

impl Default for Classified {
    /// Nothing received yet.
    fn default() -> Self {
        Classified {
            state: SensorState::NoData,
            band: Band::Normal,
            connection_lost: false,
        }
    }
}

/// Icon shapes, one per state, so a state reads without colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Icon {
    /// Small filled dot (normal).
    Dot,
    /// Triangle (warning), the usual caution sign.
    Triangle,
    /// Octagon with an exclamation mark (alarm), the stop-sign shape.
    Octagon,
    /// Clock face (stale).
    Clock,
    /// Horizontal dash (no data).
    Dash,
}

/// How a state is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StateStyle {
    /// Accent colour (icon, border, leader line), linear RGBA.
    pub color: [f32; 4],
    /// Icon shape.
    pub icon: Icon,
    /// Whether the label pulses to draw the eye; only live alarms do, so pulsing keeps meaning.
    pub pulse: bool,
    /// Word the renderer appends after the value ("warning"); empty for normal.
    pub label_text_suffix: &'static str,
}

// Linear-light versions of the sRGB colours named beside them (a test checks the conversion).
/// Normal: white (#FFFFFF); neutral so that colour always means "look here".
const NORMAL_RGBA: [f32; 4] = [1.0, 1.0, 1.0, 1.0];
/// Warning: Okabe–Ito orange (#E69F00).
const WARNING_RGBA: [f32; 4] = [0.7913, 0.3467, 0.0, 1.0];
/// Alarm: Okabe–Ito vermillion (#D55E00).
const ALARM_RGBA: [f32; 4] = [0.6654, 0.1119, 0.0, 1.0];
/// Stale: mid grey (#8C8C8C).
const STALE_RGBA: [f32; 4] = [0.2623, 0.2623, 0.2623, 1.0];
/// No data: dark grey (#4D4D4D).
const NO_DATA_RGBA: [f32; 4] = [0.0742, 0.0742, 0.0742, 1.0];

impl SensorState {
    /// The style this state is drawn with.
    pub fn style(self) -> StateStyle {
        let (color, icon, pulse, label_text_suffix) = match self {
            SensorState::Normal => (NORMAL_RGBA, Icon::Dot, false, ""),
            SensorState::Warning => (WARNING_RGBA, Icon::Triangle, false, "warning"),
            SensorState::Alarm => (ALARM_RGBA, Icon::Octagon, true, "alarm"),
            SensorState::Stale => (STALE_RGBA, Icon::Clock, false, "stale"),
            SensorState::NoData => (NO_DATA_RGBA, Icon::Dash, false, "no data"),
        };
        StateStyle {
            color,
            icon,
            pulse,
            label_text_suffix,
        }
    }

    /// Rank for decluttering, highest first: alarm 4, warning 3, stale 2, no data 1, normal 0.
    /// A stale reading outranks a normal one because losing data is news; normal is last
    /// because it is what the eye can skip.
    pub fn severity(self) -> u8 {
        match self {
            SensorState::Alarm => 4,
            SensorState::Warning => 3,
            SensorState::Stale => 2,
            SensorState::NoData => 1,
            SensorState::Normal => 0,
        }
    }
}

impl Classified {
    /// Status words for the label: "" when normal, "warning", "alarm", "no data", "stale", or
    /// "stale (was warning)" / "stale (was alarm)" so an old alarm is not forgotten; likewise
    /// "connection lost", "connection lost (was alarm)".
    pub fn status_text(&self) -> &'static str {
        match (self.state, self.band) {
            (SensorState::Stale, Band::Alarm) if self.connection_lost => {
                "connection lost (was alarm)"
            }
            (SensorState::Stale, Band::Warning) if self.connection_lost => {
                "connection lost (was warning)"
            }
            (SensorState::Stale, _) if self.connection_lost => "connection lost",
            (SensorState::Stale, Band::Alarm) => "stale (was alarm)",
            (SensorState::Stale, Band::Warning) => "stale (was warning)",
            (state, _) => state.style().label_text_suffix,
        }
    }
}

/// The number a value is compared and coloured by: booleans count as 1 and 0, text has none,
/// and non-finite numbers have none.
pub fn numeric(value: &Value) -> Option<f64> {
    match value {
        Value::Number(v) if v.is_finite() => Some(*v),
        Value::Number(_) => None,
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Value::Text(_) => None,
    }
}

/// The band a value falls in for `sensor`, or `None` for a value that cannot be judged (NaN).
pub fn band_of(value: &Value, sensor: &Sensor) -> Option<Band> {
    match value {
        Value::Text(text) => Some(text_band(text)),
        Value::Number(v) if v.is_nan() => None,
        // Infinities are judged like any number: +inf is beyond every "above".
        Value::Number(v) => Some(number_band(*v, sensor)),
        Value::Bool(_) => numeric(value).map(|v| number_band(v, sensor)),
    }
}

fn number_band(v: f64, sensor: &Sensor) -> Band {
    let beyond = |t: &Option<Threshold>| {
        t.is_some_and(|t| t.above.is_some_and(|a| v >= a) || t.below.is_some_and(|b| v <= b))
    };
    if beyond(&sensor.alarm) {
        Band::Alarm
    } else if beyond(&sensor.warning) {
        Band::Warning
    } else {
        Band::Normal
    }
}

/// Text states from PLCs and gateways: a few well-known words raise a band; anything else
/// ("RUNNING", "idle") is normal.
fn text_band(text: &str) -> Band {
    let t = text.trim();
    let is = |w: &str| t.eq_ignore_ascii_case(w);
    if is("alarm") || is("fault") || is("trip") {
        Band::Alarm
    } else if is("warning") || is("warn") {
        Band::Warning
    } else {
        Band::Normal
    }
}

/// Classifies a sensor's latest value (`None` when nothing was received) at age `age`.
/// Staleness wins over the band: an old alarm is shown as stale, with the band kept. A lost
/// connection is shown as stale too, marked [`Classified::connection_lost`].
pub fn classify(value: Option<&Value>, age: Age, sensor: &Sensor) -> Classified {
    let no_data = Classified::default();
    let Some(value) = value else { return no_data };
    if age == Age::NoData {
        return no_data;
    }
    // A NaN cannot be shown or judged; adapters should have dropped it, so this is defence.
    let Some(band) = band_of(value, sensor) else {
        return no_data;
    };
    let state = match (age, band) {
        (Age::Stale | Age::ConnectionLost, _) => SensorState::Stale,
        (_, Band::Alarm) => SensorState::Alarm,
        (_, Band::Warning) => SensorState::Warning,
        (_, Band::Normal) => SensorState::Normal,
    };
    Classified {
        state,
        band,
        connection_lost: age == Age::ConnectionLost,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Binding;

    /// Warning at ≥ 80 or ≤ 10, alarm at ≥ 90 or ≤ 5.
    fn sensor() -> Sensor {
        Sensor {
            id: "t".into(),
            name: "Temp".into(),
            node: "Pump".into(),
            unit: Some("°C".into()),
            range: Some([0.0, 100.0]),
            warning: Some(Threshold {
                above: Some(80.0),
                below: Some(10.0),
            }),
            alarm: Some(Threshold {
                above: Some(90.0),
                below: Some(5.0),
            }),
            max_age_seconds: 30.0,
            binding: Binding::default(),
            display: Default::default(),
        }
    }

    fn state_of(v: f64) -> SensorState {
        classify(Some(&Value::Number(v)), Age::Live, &sensor()).state
    }

    #[test]
    fn thresholds_are_inclusive_at_their_exact_value() {
        assert_eq!(state_of(50.0), SensorState::Normal);
        assert_eq!(state_of(79.999), SensorState::Normal);
        assert_eq!(state_of(80.0), SensorState::Warning);
        assert_eq!(state_of(89.999), SensorState::Warning);
        assert_eq!(state_of(90.0), SensorState::Alarm);
        assert_eq!(state_of(10.001), SensorState::Normal);
        assert_eq!(state_of(10.0), SensorState::Warning);
        assert_eq!(state_of(5.001), SensorState::Warning);
        assert_eq!(state_of(5.0), SensorState::Alarm);
        assert_eq!(state_of(-1e9), SensorState::Alarm);
        assert_eq!(state_of(f64::INFINITY), SensorState::Alarm);
    }

    #[test]
    fn sensor_without_thresholds_is_always_normal() {
        let s = Sensor {
            warning: None,
            alarm: None,
            ..sensor()
        };
        let c = classify(Some(&Value::Number(1e12)), Age::Live, &s);
        assert_eq!(c.state, SensorState::Normal);
        let only_warning = Sensor {
            alarm: None,
            ..sensor()
        };
        let c = classify(Some(&Value::Number(95.0)), Age::Live, &only_warning);
        assert_eq!(c.state, SensorState::Warning);
    }

    #[test]
    fn never_received_is_no_data() {
        for age in [Age::Live, Age::Stale, Age::ConnectionLost, Age::NoData] {
            let c = classify(None, age, &sensor());
            assert_eq!(c.state, SensorState::NoData);
            assert_eq!(c.band, Band::Normal);
        }
        let c = classify(Some(&Value::Number(95.0)), Age::NoData, &sensor());
        assert_eq!(c.state, SensorState::NoData);
    }

    #[test]
    fn stale_wins_over_the_band_but_keeps_it() {
        let c = classify(Some(&Value::Number(95.0)), Age::Stale, &sensor());
        assert_eq!(c.state, SensorState::Stale);
        assert_eq!(c.band, Band::Alarm);
        assert_eq!(c.status_text(), "stale (was alarm)");
        let c = classify(Some(&Value::Number(85.0)), Age::Stale, &sensor());
        assert_eq!(c.status_text(), "stale (was warning)");
        let c = classify(Some(&Value::Number(50.0)), Age::Stale, &sensor());
        assert_eq!((c.state, c.band), (SensorState::Stale, Band::Normal));
        assert_eq!(c.status_text(), "stale");
        assert!(!c.state.style().pulse, "a stale alarm must not pulse");
    }

    #[test]
    fn a_lost_connection_reads_as_stale_saying_connection_lost_and_keeps_the_band() {
        let c = classify(Some(&Value::Number(95.0)), Age::ConnectionLost, &sensor());
        assert_eq!((c.state, c.band), (SensorState::Stale, Band::Alarm));
        assert!(c.connection_lost);
        assert_eq!(c.status_text(), "connection lost (was alarm)");
        assert!(!c.state.style().pulse, "a lost alarm must not pulse");
        let c = classify(Some(&Value::Number(85.0)), Age::ConnectionLost, &sensor());
        assert_eq!(c.status_text(), "connection lost (was warning)");
        let c = classify(Some(&Value::Number(50.0)), Age::ConnectionLost, &sensor());
        assert_eq!(c.status_text(), "connection lost");
        let c = classify(None, Age::ConnectionLost, &sensor());
        assert_eq!(c, Classified::default(), "nothing received: no data");
        let c = classify(Some(&Value::Number(50.0)), Age::Stale, &sensor());
        assert!(!c.connection_lost);
    }

    #[test]
    fn nan_reads_as_no_data() {
        for age in [Age::Live, Age::Stale] {
            let c = classify(Some(&Value::Number(f64::NAN)), age, &sensor());
            assert_eq!(c.state, SensorState::NoData);
        }
    }

    #[test]
    fn booleans_count_as_one_and_zero() {
        let s = Sensor {
            warning: None,
            alarm: Some(Threshold {
                above: Some(1.0),
                below: None,
            }),
            ..sensor()
        };
        assert_eq!(
            classify(Some(&Value::Bool(true)), Age::Live, &s).state,
            SensorState::Alarm
        );
        assert_eq!(
            classify(Some(&Value::Bool(false)), Age::Live, &s).state,
            SensorState::Normal
        );
        let inverted = Sensor {
            warning: Some(Threshold {
                above: None,
                below: Some(0.0),
            }),
            alarm: None,
            ..sensor()
        };
        assert_eq!(
            classify(Some(&Value::Bool(false)), Age::Live, &inverted).state,
            SensorState::Warning
        );
    }

    #[test]
    fn text_states_use_known_words_case_insensitively() {
        let c = |t: &str| classify(Some(&Value::Text(t.into())), Age::Live, &sensor()).state;
        for w in ["alarm", "FAULT", "Trip", " trip "] {
            assert_eq!(c(w), SensorState::Alarm, "{w}");
        }
        for w in ["warning", "WARN"] {
            assert_eq!(c(w), SensorState::Warning, "{w}");
        }
        for w in ["RUNNING", "", "alarms", "no fault", "ALARMİ"] {
            assert_eq!(c(w), SensorState::Normal, "{w}");
        }
    }

    #[test]
    fn every_state_has_its_own_icon() {
        let all = [
            SensorState::Normal,
            SensorState::Warning,
            SensorState::Alarm,
            SensorState::Stale,
            SensorState::NoData,
        ];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(
                    a.style().icon,
                    b.style().icon,
                    "{a:?} and {b:?} share an icon"
                );
            }
        }
    }

    fn luminance(c: [f32; 4]) -> f32 {
        0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]
    }

    /// WCAG contrast ratio between two relative luminances.
    fn contrast(a: f32, b: f32) -> f32 {
        (a.max(b) + 0.05) / (a.min(b) + 0.05)
    }

    #[test]
    fn normal_warning_and_alarm_differ_in_greyscale() {
        let l = |s: SensorState| luminance(s.style().color);
        let (n, w, a) = (
            l(SensorState::Normal),
            l(SensorState::Warning),
            l(SensorState::Alarm),
        );
        for (x, y, what) in [
            (n, w, "normal/warning"),
            (w, a, "warning/alarm"),
            (n, a, "normal/alarm"),
        ] {
            assert!(contrast(x, y) >= 1.5, "{what}: contrast {}", contrast(x, y));
        }
    }

    #[test]
    fn only_live_alarms_pulse() {
        assert!(SensorState::Alarm.style().pulse);
        for s in [
            SensorState::Normal,
            SensorState::Warning,
            SensorState::Stale,
            SensorState::NoData,
        ] {
            assert!(!s.style().pulse, "{s:?}");
        }
    }

    #[test]
    fn palette_constants_are_the_named_srgb_colours_in_linear_light() {
        fn lin(c: u8) -> f32 {
            let c = c as f32 / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        }
        for (rgba, hex) in [
            (NORMAL_RGBA, [0xFF, 0xFF, 0xFF]),
            (WARNING_RGBA, [0xE6, 0x9F, 0x00]),
            (ALARM_RGBA, [0xD5, 0x5E, 0x00]),
            (STALE_RGBA, [0x8C, 0x8C, 0x8C]),
            (NO_DATA_RGBA, [0x4D, 0x4D, 0x4D]),
        ] {
            for ch in 0..3 {
                assert!(
                    (rgba[ch] - lin(hex[ch])).abs() < 1e-3,
                    "{hex:02X?} channel {ch}"
                );
            }
            assert_eq!(rgba[3], 1.0);
        }
    }

    #[test]
    fn severity_orders_alarm_warning_stale_nodata_normal() {
        let order = [
            SensorState::Alarm,
            SensorState::Warning,
            SensorState::Stale,
            SensorState::NoData,
            SensorState::Normal,
        ];
        for pair in order.windows(2) {
            assert!(pair[0].severity() > pair[1].severity(), "{pair:?}");
        }
    }
}
