//! One presentation of a sensor's reading, in words: the value with its unit and precision,
//! its freshness, its range over the trend window and its thresholds. The detail card, the XR
//! HUD and `stats()` all take their text from here, so a reading reads the same everywhere.

use crate::manifest::{Sensor, Threshold};
use crate::overlay::format::{format_age, format_value};
use crate::telemetry::store::{Freshness, SensorStore};
use crate::telemetry::{Sample, Value};

/// The value as shown: with the sensor's unit and `display.precision` (or the precision its
/// range implies); "no data" before the first reading.
pub fn value_text(sensor: &Sensor, value: Option<&Value>) -> String {
    match value {
        Some(v) => format_value(
            v,
            sensor.unit.as_deref(),
            sensor.display.precision,
            sensor.range,
        ),
        None => "no data".to_owned(),
    }
}

/// A received reading as shown: the unit the message gave, else the sensor's, with
/// `display.precision`; "no data" before the first reading. Labels, the detail card and the
/// XR HUD all show a sample through this.
pub fn sample_text(sensor: &Sensor, sample: Option<&Sample>) -> String {
    match sample {
        Some(s) => format_value(
            &s.value,
            s.unit.as_deref().or(sensor.unit.as_deref()),
            sensor.display.precision,
            sensor.range,
        ),
        None => "no data".to_owned(),
    }
}

/// Freshness in words when the reading is not live ("stale · 12 s", "connection lost ·
/// 2 min", "no data"); `None` when it is.
pub fn freshness_text(freshness: Freshness) -> Option<String> {
    match freshness {
        Freshness::Live => None,
        Freshness::Stale { age_ms } => Some(format!("stale · {}", format_age(age_ms))),
        Freshness::ConnectionLost { age_ms } => {
            Some(format!("connection lost · {}", format_age(age_ms)))
        }
        Freshness::NoData => Some("no data".to_owned()),
    }
}

/// The one-line reading of sensor `i`: "72.5 °C", "72.5 °C (stale · 12 s)", "no data".
pub fn reading_text(sensor: &Sensor, store: &SensorStore, i: usize, now_ms: f64) -> String {
    let latest = store.latest(i);
    let value = sample_text(sensor, latest);
    match (latest, freshness_text(store.freshness(i, now_ms))) {
        (None, _) => value,
        (Some(_), None) => value,
        (Some(_), Some(f)) => format!("{value} ({f})"),
    }
}

/// "min 70.0 °C · max 75.0 °C over the last 10 min", once the sensor has a numeric trend.
pub fn range_text(
    sensor: &Sensor,
    store: &SensorStore,
    i: usize,
    window_ms: f64,
) -> Option<String> {
    let (lo, hi) = store.min_max(i)?;
    Some(format!(
        "min {} · max {} over the last {}",
        number(sensor, lo),
        number(sensor, hi),
        format_age(window_ms)
    ))
}

/// "warning at ≥ 110.0 °C", "alarm at ≥ 130.0 °C or ≤ 5.0 °C": one line per threshold set.
pub fn threshold_texts(sensor: &Sensor) -> Vec<String> {
    [("warning", sensor.warning), ("alarm", sensor.alarm)]
        .into_iter()
        .filter_map(|(name, t)| t.map(|t| (name, t)))
        .filter_map(|(name, t)| threshold_text(sensor, name, t))
        .collect()
}

fn threshold_text(sensor: &Sensor, name: &str, t: Threshold) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(a) = t.above {
        parts.push(format!("≥ {}", number(sensor, a)));
    }
    if let Some(b) = t.below {
        parts.push(format!("≤ {}", number(sensor, b)));
    }
    (!parts.is_empty()).then(|| format!("{name} at {}", parts.join(" or ")))
}

fn number(sensor: &Sensor, v: f64) -> String {
    value_text(sensor, Some(&Value::Number(v)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Manifest;

    const T0: f64 = 1_700_000_000_000.0;

    fn twin() -> Manifest {
        let doc = serde_json::json!({
            "name": "T", "model": { "url": "m.glb" },
            "history": { "windowSeconds": 600, "resolutionSeconds": 1 },
            "sensors": [
                { "id": "t", "name": "Temp", "node": "N", "unit": "°C", "range": [0, 160],
                  "maxAgeSeconds": 5, "warning": { "above": 110 }, "alarm": { "above": 130, "below": 5 } },
                { "id": "p", "name": "Pressure", "node": "N", "unit": "bar",
                  "display": { "precision": 3 } },
                { "id": "m", "name": "Mode", "node": "N" }
            ]
        });
        match Manifest::parse(doc.to_string().as_bytes(), "t.json") {
            Ok(m) => m,
            Err(e) => panic!("{e}"),
        }
    }

    fn sample(sensor: usize, value: Value, at: f64) -> Sample {
        Sample {
            sensor,
            value,
            unit: None,
            source_ms: Some(at),
            received_ms: at,
            quality: Default::default(),
        }
    }

    #[test]
    fn a_unit_given_by_the_message_wins_over_the_manifest_unit_everywhere() {
        let m = twin();
        let mut s = sample(0, Value::Number(162.5), T0);
        s.unit = Some("°F".into());
        assert_eq!(sample_text(&m.sensors[0], Some(&s)), "162.5 °F");
        let mut store = SensorStore::new(&m);
        store.apply(s);
        assert_eq!(reading_text(&m.sensors[0], &store, 0, T0), "162.5 °F");
        assert_eq!(sample_text(&m.sensors[0], None), "no data");
    }

    #[test]
    fn value_text_uses_unit_and_precision() {
        let m = twin();
        assert_eq!(
            value_text(&m.sensors[0], Some(&Value::Number(72.46))),
            "72.5 °C"
        );
        assert_eq!(
            value_text(&m.sensors[1], Some(&Value::Number(2.0))),
            "2.000 bar"
        );
        assert_eq!(value_text(&m.sensors[2], Some(&Value::Bool(true))), "on");
        assert_eq!(value_text(&m.sensors[2], None), "no data");
    }

    #[test]
    fn reading_text_says_how_fresh_it_is() {
        let m = twin();
        let mut store = SensorStore::new(&m);
        assert_eq!(reading_text(&m.sensors[0], &store, 0, T0), "no data");
        store.apply(sample(0, Value::Number(72.46), T0));
        assert_eq!(
            reading_text(&m.sensors[0], &store, 0, T0 + 1000.0),
            "72.5 °C"
        );
        assert_eq!(
            reading_text(&m.sensors[0], &store, 0, T0 + 12_000.0),
            "72.5 °C (stale · 12 s)"
        );
        store.apply(sample(2, Value::Text("auto".into()), T0));
        assert_eq!(reading_text(&m.sensors[2], &store, 2, T0 + 1000.0), "auto");
    }

    #[test]
    fn freshness_text_names_a_lost_connection() {
        assert_eq!(freshness_text(Freshness::Live), None);
        assert_eq!(
            freshness_text(Freshness::ConnectionLost { age_ms: 3000.0 }).as_deref(),
            Some("connection lost · 3 s")
        );
        assert_eq!(
            freshness_text(Freshness::NoData).as_deref(),
            Some("no data")
        );
    }

    #[test]
    fn range_and_thresholds_use_the_sensor_format() {
        let m = twin();
        let mut store = SensorStore::new(&m);
        assert_eq!(range_text(&m.sensors[0], &store, 0, 600_000.0), None);
        store.apply(sample(0, Value::Number(70.0), T0));
        store.apply(sample(0, Value::Number(75.0), T0 + 2000.0));
        assert_eq!(
            range_text(&m.sensors[0], &store, 0, 600_000.0).as_deref(),
            Some("min 70.0 °C · max 75.0 °C over the last 10 min")
        );
        assert_eq!(
            threshold_texts(&m.sensors[0]),
            vec!["warning at ≥ 110.0 °C", "alarm at ≥ 130.0 °C or ≤ 5.0 °C"]
        );
        assert!(threshold_texts(&m.sensors[2]).is_empty());
    }
}
