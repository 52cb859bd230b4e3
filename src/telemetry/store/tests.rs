//! Tests of the sensor store, the inbox and the bad-input counters.

use super::*;
use crate::manifest::{HistorySpec, MAX_HISTORY_POINTS};

const T0: f64 = 1_795_615_653_000.0;

fn manifest(sensors: usize, window_s: f64, resolution_s: f64) -> Manifest {
    let sensors: Vec<serde_json::Value> = (0..sensors)
        .map(|i| {
            serde_json::json!({
                "id": format!("s{i}"), "name": format!("Sensor {i}"), "node": "N",
                "unit": "°C", "maxAgeSeconds": 10
            })
        })
        .collect();
    let doc = serde_json::json!({
        "name": "Test", "model": { "url": "m.glb" }, "sensors": sensors,
        "history": { "windowSeconds": window_s, "resolutionSeconds": resolution_s }
    });
    match Manifest::parse(doc.to_string().as_bytes(), "test.json") {
        Ok(m) => m,
        Err(e) => panic!("{e}"),
    }
}

fn sample(sensor: usize, v: f64, source_ms: Option<f64>, received_ms: f64) -> Sample {
    Sample {
        sensor,
        value: Value::Number(v),
        unit: None,
        source_ms,
        received_ms,
        quality: Quality::Good,
    }
}

fn value_of(store: &SensorStore, sensor: usize) -> Option<Value> {
    store.latest(sensor).map(|s| s.value.clone())
}

#[test]
fn older_source_time_does_not_replace_the_latest() {
    let mut store = SensorStore::new(&manifest(1, 60.0, 1.0));
    assert_eq!(
        store.apply(sample(0, 1.0, Some(T0 + 2000.0), T0)),
        Applied::Updated
    );
    assert_eq!(
        store.apply(sample(0, 2.0, Some(T0 + 1000.0), T0 + 5.0)),
        Applied::OutOfOrder
    );
    assert_eq!(value_of(&store, 0), Some(Value::Number(1.0)));
    assert_eq!(store.counters().out_of_order, 1);
    assert_eq!(store.counters().updates, 1);
}

#[test]
fn equal_timestamps_let_the_later_arrival_win() {
    let mut store = SensorStore::new(&manifest(1, 60.0, 1.0));
    store.apply(sample(0, 1.0, Some(T0), T0));
    assert_eq!(store.apply(sample(0, 2.0, Some(T0), T0)), Applied::Updated);
    assert_eq!(value_of(&store, 0), Some(Value::Number(2.0)));
}

#[test]
fn receive_time_orders_when_either_lacks_a_source_time() {
    let mut store = SensorStore::new(&manifest(1, 60.0, 1.0));
    store.apply(sample(0, 1.0, None, T0 + 100.0));
    // A source time far in the past does not matter: the current one has none.
    assert_eq!(
        store.apply(sample(0, 2.0, Some(1000.0), T0 + 200.0)),
        Applied::Updated
    );
    assert_eq!(
        store.apply(sample(0, 3.0, None, T0 + 150.0)),
        Applied::OutOfOrder
    );
    assert_eq!(value_of(&store, 0), Some(Value::Number(2.0)));
}

#[test]
fn a_far_future_source_time_cannot_freeze_a_sensor() {
    let mut store = SensorStore::new(&manifest(1, 60.0, 1.0));
    let year_9000 = 221_845_392_000_000.0;
    assert_eq!(
        store.apply(sample(0, 1.0, Some(year_9000), T0)),
        Applied::Updated
    );
    assert_eq!(
        store.latest(0).and_then(|s| s.source_ms),
        None,
        "untrusted time dropped"
    );
    assert_eq!(store.counters().future_timestamps, 1);
    assert_eq!(
        store.apply(sample(0, 2.0, Some(T0 + 1000.0), T0 + 1000.0)),
        Applied::Updated
    );
}

#[test]
fn a_reading_23_hours_ahead_does_not_freeze_its_sensor() {
    let mut store = SensorStore::new(&manifest(1, 60.0, 1.0));
    let ahead = T0 + 23.0 * 3_600_000.0;
    assert_eq!(
        store.apply(sample(0, 1.0, Some(ahead), T0)),
        Applied::Updated
    );
    assert_eq!(
        store.latest(0).and_then(|s| s.source_ms),
        None,
        "ordered by its arrival instead"
    );
    for i in 1..=5 {
        let t = T0 + f64::from(i) * 1000.0;
        assert_eq!(
            store.apply(sample(0, f64::from(i), Some(t), t)),
            Applied::Updated,
            "reading {i} after the future one applies"
        );
    }
    assert_eq!(value_of(&store, 0), Some(Value::Number(5.0)));
    assert_eq!(store.counters().out_of_order, 0);
    assert_eq!(store.counters().future_timestamps, 1);
}

#[test]
fn five_minutes_of_clock_skew_still_order_by_source_time() {
    let mut s = sample(0, 1.0, Some(T0 + MAX_FUTURE_SKEW_MS), T0);
    assert_eq!(distrust_future_time(&mut s), None);
    assert_eq!(s.source_ms, Some(T0 + MAX_FUTURE_SKEW_MS));
    let mut s = sample(0, 1.0, Some(T0 + MAX_FUTURE_SKEW_MS + 1.0), T0);
    assert_eq!(distrust_future_time(&mut s), Some(MAX_FUTURE_SKEW_MS + 1.0));
    assert_eq!(s.source_ms, None);
    let mut s = sample(0, 1.0, Some(f64::NAN), T0);
    assert_eq!(
        distrust_future_time(&mut s),
        None,
        "NaN is not a future time"
    );
    let mut s = sample(0, 1.0, Some(T0 - 86_400_000.0), T0);
    assert_eq!(distrust_future_time(&mut s), None, "the past is trusted");
    assert_eq!(MAX_FUTURE_SKEW_MS, 300_000.0);
}

#[test]
fn a_lost_connection_makes_every_reading_connection_lost_whatever_its_max_age() {
    let mut store = SensorStore::new(&manifest(2, 60.0, 1.0)); // maxAgeSeconds 10
    store.apply(sample(0, 1.0, None, T0));
    assert_eq!(store.freshness(0, T0 + 1000.0), Freshness::Live);
    store.set_connection_lost(Some(T0 + 1000.0));
    assert_eq!(
        store.freshness(0, T0 + 2000.0),
        Freshness::ConnectionLost { age_ms: 2000.0 }
    );
    assert_eq!(store.freshness(0, T0 + 2000.0).name(), "connectionLost");
    assert_eq!(store.freshness(0, T0 + 60_000.0).age_ms(), Some(60_000.0));
    assert_eq!(
        store.freshness(1, T0 + 2000.0),
        Freshness::NoData,
        "a sensor that never reported has no data, connected or not"
    );
    assert_eq!(store.freshness_counts(T0 + 2000.0), (0, 1, 1));
    assert_eq!(
        store.reading(0, T0 + 2000.0).map(|r| r.freshness),
        Some(Freshness::ConnectionLost { age_ms: 2000.0 })
    );
    store.set_connection_lost(None);
    assert_eq!(
        store.freshness(0, T0 + 2000.0),
        Freshness::Live,
        "back when live"
    );
    assert_eq!(store.connection_lost_since(), None);
}

#[test]
fn non_finite_numbers_are_never_stored() {
    let mut store = SensorStore::new(&manifest(1, 60.0, 1.0));
    store.apply(sample(0, 1.0, None, T0));
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert_eq!(
            store.apply(sample(0, bad, None, T0 + 1.0)),
            Applied::NonFinite
        );
    }
    assert_eq!(
        store.apply(sample(0, 5.0, None, f64::NAN)),
        Applied::NonFinite
    );
    assert_eq!(value_of(&store, 0), Some(Value::Number(1.0)));
    assert!(
        store
            .history(0)
            .all(|(t, v)| t.is_finite() && v.is_finite())
    );
    assert_eq!(store.counters().non_finite, 4);
    // A NaN source time is ignored rather than poisoning the ordering.
    assert_eq!(
        store.apply(sample(0, 6.0, Some(f64::NAN), T0 + 2.0)),
        Applied::Updated
    );
    assert_eq!(
        store.apply(sample(0, 7.0, Some(T0), T0 + 3.0)),
        Applied::Updated
    );
}

#[test]
fn unknown_sensor_indices_are_refused_without_panicking() {
    let mut store = SensorStore::new(&manifest(2, 60.0, 1.0));
    assert_eq!(
        store.apply(sample(2, 1.0, None, T0)),
        Applied::UnknownSensor
    );
    assert_eq!(
        store.apply(sample(usize::MAX, 1.0, None, T0)),
        Applied::UnknownSensor
    );
    assert_eq!(store.freshness(99, T0), Freshness::NoData);
    assert!(store.reading(99, T0).is_none());
    assert_eq!(store.history(99).count(), 0);
    assert_eq!(store.counters().unknown_sensor, 2);
}

#[test]
fn freshness_goes_from_no_data_to_live_to_stale_and_back_to_live() {
    let mut store = SensorStore::new(&manifest(1, 60.0, 1.0)); // maxAgeSeconds 10
    assert_eq!(store.freshness(0, T0), Freshness::NoData);
    store.apply(sample(0, 1.0, None, T0));
    assert_eq!(store.freshness(0, T0), Freshness::Live);
    assert_eq!(
        store.freshness(0, T0 + 10_000.0),
        Freshness::Live,
        "at max age still live"
    );
    assert_eq!(
        store.freshness(0, T0 + 10_001.0),
        Freshness::Stale { age_ms: 10_001.0 }
    );
    assert_eq!(
        store.freshness(0, T0 + 3_600_000.0).name(),
        "stale",
        "never back to noData once a sample arrived"
    );
    store.apply(sample(0, 2.0, None, T0 + 20_000.0));
    assert_eq!(store.freshness(0, T0 + 20_500.0), Freshness::Live);
    assert_eq!(
        store.freshness(0, T0),
        Freshness::Live,
        "a clock going back is age 0"
    );
}

#[test]
fn freshness_uses_receive_time_so_a_lagging_source_clock_stays_live() {
    let mut store = SensorStore::new(&manifest(1, 60.0, 1.0));
    store.apply(sample(0, 1.0, Some(T0 - 3_600_000.0), T0));
    assert_eq!(store.freshness(0, T0 + 1000.0), Freshness::Live);
}

#[test]
fn history_never_exceeds_its_capacity() {
    let m = manifest(1, 60.0, 1.0);
    let cap = m.history.capacity() + 1;
    let mut store = SensorStore::new(&m);
    for i in 0..10 * cap {
        store.apply(sample(0, i as f64, None, T0 + i as f64 * 1000.0));
        let h = store.history_buffer(0).map(History::len).unwrap_or(0);
        assert!(h <= cap, "{h} points after {i} pushes");
    }
    assert_eq!(store.history_buffer(0).map(History::capacity), Some(cap));
}

#[test]
fn history_drops_points_older_than_the_window() {
    let mut store = SensorStore::new(&manifest(1, 10.0, 1.0));
    for i in 0..30 {
        store.apply(sample(0, i as f64, None, T0 + i as f64 * 1000.0));
    }
    let points: Vec<(f64, f64)> = store.history(0).collect();
    let newest = T0 + 29_000.0;
    assert!(points.iter().all(|(t, _)| *t >= newest - 10_000.0));
    assert_eq!(points.len(), 11, "10 s window at 1 s: both ends included");
    assert_eq!(points.first().map(|p| p.1), Some(19.0), "oldest first");
    assert_eq!(points.last().map(|p| p.1), Some(29.0));
    assert_eq!(store.min_max(0), Some((19.0, 29.0)));
}

#[test]
fn history_keeps_one_point_per_resolution_bucket_the_latest() {
    let mut store = SensorStore::new(&manifest(1, 60.0, 5.0));
    let base = 1_795_615_650_000.0; // a multiple of 5 s
    for (dt, v) in [
        (0.0, 1.0),
        (1000.0, 2.0),
        (4999.0, 3.0),
        (5000.0, 4.0),
        (9000.0, 5.0),
    ] {
        store.apply(sample(0, v, None, base + dt));
    }
    let points: Vec<(f64, f64)> = store.history(0).collect();
    assert_eq!(
        points,
        [(base, 3.0), (base + 5000.0, 5.0)],
        "times are bucket starts"
    );
}

#[test]
fn history_uses_source_time_and_bools_as_0_1_but_skips_text_and_bad_quality() {
    let mut store = SensorStore::new(&manifest(1, 60.0, 1.0));
    let mut s = sample(0, 0.0, Some(T0 - 500_000.0), T0);
    s.value = Value::Bool(true);
    store.apply(s.clone());
    s.value = Value::Text("RUNNING".into());
    s.received_ms += 2000.0;
    s.source_ms = Some(T0 - 498_000.0);
    store.apply(s.clone());
    s.value = Value::Number(99.0);
    s.quality = Quality::Bad;
    s.received_ms += 2000.0;
    s.source_ms = Some(T0 - 496_000.0);
    assert_eq!(
        store.apply(s),
        Applied::Updated,
        "bad quality is still the latest value"
    );
    assert_eq!(
        store.history(0).collect::<Vec<_>>(),
        [(T0 - 500_000.0, 1.0)]
    );
}

#[test]
fn history_discards_points_when_time_jumps_back_beyond_the_window() {
    let spec = HistorySpec {
        window_seconds: 10.0,
        resolution_seconds: 1.0,
    };
    let mut h = History::new(&spec);
    h.push(T0, 1.0);
    h.push(T0 + 1000.0, 2.0);
    h.push(T0 + 500.0, 3.0); // small step back: folded into the newest bucket
    assert_eq!(
        h.iter().collect::<Vec<_>>(),
        [(T0, 1.0), (T0 + 1000.0, 3.0)]
    );
    h.push(T0 - 60_000.0, 4.0);
    assert_eq!(h.iter().collect::<Vec<_>>(), [(T0 - 60_000.0, 4.0)]);
    h.push(f64::NAN, 5.0);
    h.push(T0, f64::INFINITY);
    assert_eq!(h.len(), 1, "non-finite points are ignored");
}

#[test]
fn history_with_unusable_spec_stays_bounded() {
    let h = History::new(&HistorySpec {
        window_seconds: f64::INFINITY,
        resolution_seconds: 0.0,
    });
    assert!(h.capacity() <= MAX_HISTORY_POINTS + 1);
    let h = History::new(&HistorySpec {
        window_seconds: 1e12,
        resolution_seconds: 1e-9,
    });
    assert_eq!(h.capacity(), MAX_HISTORY_POINTS + 1);
}

#[test]
fn text_sensors_take_no_history_memory() {
    let mut store = SensorStore::new(&manifest(3, 600.0, 1.0));
    let empty = store.memory_bytes();
    assert_eq!(empty, store.slots.capacity() * size_of::<Slot>() + 3 * 3);
    // Sensor 0 receives only text, many times over; sensor 1 on/off states.
    for i in 0..100 {
        let t = T0 + i as f64 * 1000.0;
        for (sensor, value) in [
            (0, Value::Text(format!("mode {i}"))),
            (1, Value::Bool(i % 2 == 0)),
        ] {
            store.apply(Sample {
                value,
                ..sample(sensor, 0.0, Some(t), t)
            });
        }
    }
    assert_eq!(value_of(&store, 0), Some(Value::Text("mode 99".into())));
    assert_eq!(
        store.slots[0].history.memory_bytes(),
        0,
        "text keeps no trend"
    );
    assert_eq!(store.slots[2].history.memory_bytes(), 0, "no reading yet");
    // On/off states are trended as 0 and 1, so their history does take memory: the zeros
    // above are not zero by construction.
    assert!(store.slots[1].history.memory_bytes() > 0);
}

#[test]
fn inbox_holds_at_most_one_sample_per_sensor_the_newest() {
    let mut store = SensorStore::new(&manifest(3, 60.0, 1.0));
    let mut inbox = Inbox::with_sensors(3);
    for i in 0..1000 {
        inbox.push(sample(i % 3, i as f64, Some(T0 + i as f64), T0 + i as f64));
        assert!(inbox.len() <= 3);
    }
    assert!(
        !inbox.push(sample(0, -1.0, Some(T0 - 1.0), T0 + 2000.0)),
        "older than pending"
    );
    assert_eq!(inbox.coalesced(), 998);
    assert_eq!(inbox.drain_into(&mut store), 3);
    assert!(inbox.is_empty());
    assert_eq!(value_of(&store, 0), Some(Value::Number(999.0)));
    assert_eq!(value_of(&store, 1), Some(Value::Number(997.0)));
    assert_eq!(value_of(&store, 2), Some(Value::Number(998.0)));
    assert_eq!(store.counters().coalesced, 998);
    assert_eq!(inbox.drain_into(&mut store), 0, "drained inbox is empty");
}

#[test]
fn inbox_refuses_non_finite_and_unknown_samples_so_they_cannot_displace_good_ones() {
    let mut store = SensorStore::new(&manifest(1, 60.0, 1.0));
    let mut inbox = Inbox::with_sensors(1);
    assert!(inbox.push(sample(0, 1.0, None, T0)));
    assert!(!inbox.push(sample(0, f64::NAN, None, T0 + 1.0)));
    assert!(!inbox.push(sample(5, 1.0, None, T0 + 1.0)));
    assert_eq!(inbox.drain_into(&mut store), 1);
    assert_eq!(value_of(&store, 0), Some(Value::Number(1.0)));
    let c = store.counters();
    assert_eq!(
        (c.non_finite, c.unknown_sensor),
        (1, 1),
        "counts reach the store"
    );
}

#[test]
fn inbox_drain_does_not_count_samples_older_than_the_store() {
    let mut store = SensorStore::new(&manifest(1, 60.0, 1.0));
    store.apply(sample(0, 1.0, Some(T0 + 10.0), T0));
    let mut inbox = Inbox::with_sensors(1);
    inbox.push(sample(0, 2.0, Some(T0), T0 + 1.0));
    assert_eq!(inbox.drain_into(&mut store), 0);
    assert_eq!(store.counters().out_of_order, 1);
}

#[test]
fn readings_report_value_unit_freshness_and_counts() {
    let mut store = SensorStore::new(&manifest(2, 60.0, 1.0));
    let mut s = sample(0, 21.5, Some(T0 - 50.0), T0);
    s.unit = Some("K".into());
    s.quality = Quality::Uncertain;
    store.apply(s);
    store.apply(sample(0, 21.6, None, T0 + 100.0));
    let r: Vec<Reading<'_>> = store.readings(T0 + 1100.0).collect();
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].value, Some(&Value::Number(21.6)));
    assert_eq!(
        r[0].unit,
        Some("°C"),
        "no unit in the message: the manifest's"
    );
    assert_eq!(r[0].quality, Quality::Good);
    assert_eq!(r[0].freshness, Freshness::Live);
    assert_eq!(r[0].age_ms, Some(1000.0));
    assert_eq!(r[0].source_ms, None);
    assert_eq!(r[0].updates, 2);
    assert_eq!(r[1].value, None);
    assert_eq!(r[1].freshness, Freshness::NoData);
    assert_eq!(r[1].age_ms, None);
    assert_eq!(store.freshness_counts(T0 + 1100.0), (1, 0, 1));
}

#[test]
fn message_unit_overrides_the_manifest_unit() {
    let mut store = SensorStore::new(&manifest(1, 60.0, 1.0));
    let mut s = sample(0, 300.0, None, T0);
    s.unit = Some("K".into());
    store.apply(s);
    assert_eq!(store.reading(0, T0).and_then(|r| r.unit), Some("K"));
}

#[test]
fn bad_input_counters_log_only_the_first_five_of_each_kind() {
    let mut c = BadInputCounters::new();
    let bad = |kind| BadInput::new(kind, "x");
    let logged: Vec<bool> = (0..7)
        .map(|_| c.record(&bad(BadInputKind::NotJson)))
        .collect();
    assert_eq!(logged, [true, true, true, true, true, false, false]);
    assert!(
        c.record(&bad(BadInputKind::TooLarge)),
        "each kind has its own allowance"
    );
    assert_eq!(c.count(BadInputKind::NotJson), 7);
    assert_eq!(c.total(), 8);
    assert_eq!(c.by_kind().count(), ALL_BAD_INPUT_KINDS.len());
    assert_eq!(
        c.by_kind().find(|(k, _)| *k == BadInputKind::TooLarge),
        Some((BadInputKind::TooLarge, 1))
    );
}

#[test]
fn bad_input_batch_is_bounded_but_counts_everything() {
    let mut batch = BadInputBatch::new();
    let mut formatted = 0;
    for i in 0..1000 {
        let kind = if i % 2 == 0 {
            BadInputKind::UnknownSensor
        } else {
            BadInputKind::WrongType
        };
        batch.push(kind, || {
            formatted += 1;
            format!("reading {i}")
        });
    }
    assert_eq!(
        formatted, MAX_BAD_PER_FRAME,
        "reasons beyond the limit are not built"
    );
    assert_eq!(batch.total(), 1000);
    let entries = batch.finish();
    assert_eq!(
        entries.len(),
        MAX_BAD_PER_FRAME + 2,
        "one summary per overflowing kind"
    );
    let mut counters = BadInputCounters::new();
    for e in &entries {
        counters.record(e);
    }
    assert_eq!(counters.count(BadInputKind::UnknownSensor), 500);
    assert_eq!(counters.count(BadInputKind::WrongType), 500);
    // The count travels in the entry, not in its text: a reason that merely reads like a
    // summary (a device's own message, say) counts as one.
    let summary = BadInput::summary(BadInputKind::NotJson, 17);
    assert_eq!(summary.reason, "... and 17 more like this");
    let lookalike = BadInput::new(BadInputKind::NotJson, "... and 17 more like this");
    let mut counters = BadInputCounters::new();
    counters.record(&summary);
    counters.record(&lookalike);
    assert_eq!(counters.count(BadInputKind::NotJson), 18);
}
