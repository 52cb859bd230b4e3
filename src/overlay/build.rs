//! From the twin's data to what the overlay shows: for each bound sensor, the point on its part
//! where the label belongs, and the label's text, state, trend line (with its threshold levels)
//! and part tint, from the sensor store. Pure data: the renderer draws it, the page reads it.

use glam::{Mat4, Vec3};

use crate::manifest::{Manifest, Sensor, Threshold};
use crate::model::{Aabb, TwinModel};
use crate::overlay::color::{Tint, node_tint};
use crate::overlay::format::format_age;
use crate::overlay::present;
use crate::overlay::scene::{LevelKind, SparkLevel, SparkLevels};
use crate::overlay::state::{Age, Classified, SensorState, StateStyle, classify};
use crate::telemetry::store::{Freshness, SensorStore};

/// Trend points drawn per label; longer histories are sampled down to this.
pub const SPARKLINE_POINTS: usize = 60;

/// Share of a sparkline's span left empty above and below the trend, so its extremes sit just
/// inside the sparkline area: unless a threshold widened the span, the lowest point draws at
/// about 0.045 and the highest at 0.955.
pub const SPARKLINE_MARGIN: f64 = 0.05;

/// How far outside the trend's own span, as a share of that span, a threshold may lie and
/// still be marked: the span widens to take it in, so the operator sees how close the value
/// runs to it. Thresholds further out are not marked (and do not flatten the trend).
pub const LEVEL_REACH: f64 = 0.1;

/// Where a sensor's label sits in the twin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SensorAnchor {
    /// Index of the sensor in the manifest.
    pub sensor: usize,
    /// Index of the node it is bound to.
    pub node: usize,
    /// Top centre of the node's geometry (with its children), twin space: the leader line's end.
    pub anchor: Vec3,
    /// Where the label's centre goes: the anchor plus the sensor's label offset.
    pub position: Vec3,
}

/// Anchors of every sensor whose node exists, in manifest order. Computed once per model.
pub fn sensor_anchors(
    manifest: &Manifest,
    model: &TwinModel,
    placement: Mat4,
) -> Vec<SensorAnchor> {
    manifest
        .sensors
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let node = model.node_by_name(&s.node)?;
            let anchor = match subtree_bounds(model, node, placement) {
                Some(b) => Vec3::new(
                    (b.min.x + b.max.x) * 0.5,
                    b.max.y,
                    (b.min.z + b.max.z) * 0.5,
                ),
                // A node without geometry (a group or an empty) labels its origin.
                None => placement.transform_point3(model.nodes[node].world.w_axis.truncate()),
            };
            Some(SensorAnchor {
                sensor: i,
                node,
                anchor,
                position: s.display.label_position(anchor),
            })
        })
        .collect()
}

/// World bounds of a node's meshes and its descendants' meshes.
fn subtree_bounds(model: &TwinModel, root: usize, placement: Mat4) -> Option<Aabb> {
    let mut min = Vec3::splat(f32::INFINITY);
    let mut max = Vec3::splat(f32::NEG_INFINITY);
    let mut stack = vec![root];
    let mut seen = vec![false; model.nodes.len()];
    while let Some(i) = stack.pop() {
        let Some(node) = model.nodes.get(i) else {
            continue;
        };
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        stack.extend(node.children.iter().copied());
        let Some(mesh) = node.mesh.and_then(|m| model.meshes.get(m)) else {
            continue;
        };
        let m = placement * node.world;
        for &v in mesh.primitives.iter().flat_map(|p| &p.positions) {
            let w = m.transform_point3(Vec3::from(v));
            min = min.min(w);
            max = max.max(w);
        }
    }
    (min.x <= max.x).then_some(Aabb { min, max })
}

/// Everything a sensor's label shows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SensorLabel {
    /// Index of the sensor in the manifest.
    pub sensor: usize,
    /// State and band of the reading.
    pub classified: Classified,
    /// Display name.
    pub title: String,
    /// Value with unit ("71.2 °C"), or "no data".
    pub value: String,
    /// Freshness when not live ("stale · 12 s", "stale (was alarm) · 2 min").
    pub detail: Option<String>,
    /// Recent history, oldest first, sampled down to [`SPARKLINE_POINTS`] and scaled to 0..1
    /// over the samples' own min..max (widened to a threshold within [`LEVEL_REACH`], padded
    /// by [`SPARKLINE_MARGIN`]), so the trend fills the height whatever the display range; a
    /// constant history is a flat line at 0.5. Empty without at least two numeric points.
    pub sparkline: Vec<f32>,
    /// The warning and alarm levels that fall within the sparkline's span, on its 0..1 scale;
    /// warnings first, so alarms draw over them.
    pub spark_levels: SparkLevels,
    /// The tint this sensor puts on its part.
    pub tint: Option<Tint>,
}

impl SensorLabel {
    /// The style of the label's state (colour, icon, pulse).
    pub fn style(&self) -> StateStyle {
        self.classified.state.style()
    }
}

/// Fills `out` with sensor `index`'s label as of `now_ms`, reusing its allocations.
pub fn sensor_label(
    index: usize,
    sensor: &Sensor,
    store: &SensorStore,
    now_ms: f64,
    out: &mut SensorLabel,
) {
    let latest = store.latest(index);
    let freshness = store.freshness(index, now_ms);
    let age = match freshness {
        Freshness::Live => Age::Live,
        Freshness::Stale { .. } => Age::Stale,
        Freshness::ConnectionLost { .. } => Age::ConnectionLost,
        Freshness::NoData => Age::NoData,
    };
    let value = latest.map(|s| &s.value);
    let classified = classify(value, age, sensor);
    out.sensor = index;
    out.classified = classified;
    out.title.clear();
    out.title.push_str(&sensor.name);
    out.value = present::sample_text(sensor, latest);
    out.detail = match freshness {
        Freshness::Stale { age_ms } | Freshness::ConnectionLost { age_ms } => Some(format!(
            "{} · {}",
            classified.status_text(),
            format_age(age_ms)
        )),
        Freshness::NoData => Some(classified.status_text().to_owned()),
        Freshness::Live => None,
    };
    sparkline(
        store,
        index,
        sensor,
        &mut out.sparkline,
        &mut out.spark_levels,
    );
    out.tint = node_tint(classified, value, sensor.range, &sensor.display);
}

/// Samples the history down to [`SPARKLINE_POINTS`] into `out`, scaled to 0..1 over the
/// samples' own min..max so that a small wander still shows its shape, and fills `levels`
/// with the sensor's warning and alarm thresholds that fall within that span.
///
/// The span is first widened to take in any threshold within [`LEVEL_REACH`] of it, then
/// padded by [`SPARKLINE_MARGIN`] on both sides. A constant history has no span: its points
/// are 0.5 (a flat line at mid-height) and no level is marked. Allocates nothing beyond `out`.
fn sparkline(
    store: &SensorStore,
    index: usize,
    sensor: &Sensor,
    out: &mut Vec<f32>,
    levels: &mut SparkLevels,
) {
    out.clear();
    levels.clear();
    let Some(history) = store.history_buffer(index) else {
        return;
    };
    let n = history.len();
    if n < 2 {
        return;
    }
    // The raw samples go into `out` first (the history holds `f32`s, so this is exact) and are
    // scaled in place once their range is known.
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    let step = (n as f64 / SPARKLINE_POINTS as f64).max(1.0);
    let mut next = 0.0;
    for (i, (_, v)) in history.iter().enumerate() {
        if i as f64 + 1e-9 >= next || i + 1 == n {
            lo = lo.min(v);
            hi = hi.max(v);
            out.push(v as f32);
            next += step;
        }
    }
    if hi <= lo {
        out.fill(0.5);
        return;
    }
    let side = |t: Option<Threshold>, pick: fn(Threshold) -> Option<f64>| {
        t.and_then(pick).filter(|x| x.is_finite())
    };
    let (warning, alarm) = (sensor.warning, sensor.alarm);
    let thresholds = [
        (side(warning, |t| t.above), LevelKind::Warning),
        (side(warning, |t| t.below), LevelKind::Warning),
        (side(alarm, |t| t.above), LevelKind::Alarm),
        (side(alarm, |t| t.below), LevelKind::Alarm),
    ];
    let reach = (hi - lo) * LEVEL_REACH;
    let (mut bottom, mut top) = (lo, hi);
    for x in thresholds.iter().filter_map(|(x, _)| *x) {
        if x > hi && x - hi <= reach {
            top = top.max(x);
        } else if x < lo && lo - x <= reach {
            bottom = bottom.min(x);
        }
    }
    let margin = (top - bottom) * SPARKLINE_MARGIN;
    let (base, extent) = (bottom - margin, (top - bottom) + 2.0 * margin);
    let scale = |x: f64| ((x - base) / extent).clamp(0.0, 1.0) as f32;
    for v in out.iter_mut() {
        *v = scale(f64::from(*v));
    }
    for (x, kind) in thresholds {
        if let Some(x) = x.filter(|x| (bottom..=top).contains(x)) {
            levels.push(SparkLevel { at: scale(x), kind });
        }
    }
}

/// True when `label` needs attention before others (used to order details, not layout).
pub fn is_alerting(label: &SensorLabel) -> bool {
    matches!(
        label.classified.state,
        SensorState::Alarm | SensorState::Warning
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Manifest;
    use crate::model::{Mesh, Node, Primitive, Vertex};
    use crate::telemetry::{Quality, Sample, Value};

    fn manifest() -> Manifest {
        Manifest::parse(
            r#"{ "name": "T", "model": { "url": "m.glb" },
                  "history": { "windowSeconds": 600, "resolutionSeconds": 1 },
                  "sensors": [
                    { "id": "t", "name": "Temperature", "node": "Motor", "unit": "°C", "range": [0, 100],
                      "warning": { "above": 80 }, "alarm": { "above": 90 }, "maxAgeSeconds": 10 },
                    { "id": "g", "name": "Ghost", "node": "Missing" },
                    { "id": "e", "name": "Empty", "node": "Group", "display": { "labelOffset": [0, 1, 0] } }
                  ] }"#
                .as_bytes(),
            "t.json",
        )
        .expect("valid test manifest")
    }

    fn vertex(p: [f32; 3]) -> Vertex {
        Vertex {
            position: p,
            normal: [0.0, 1.0, 0.0],
            uv: [0.0; 2],
            color: [1.0; 4],
        }
    }

    /// A `Motor` node at x = 2 with a child box on top, and an empty `Group` at z = 5.
    fn model() -> TwinModel {
        let cube = |y0: f32, y1: f32| Mesh {
            name: None,
            primitives: vec![Primitive::from_vertices(
                &[
                    vertex([-0.5, y0, -0.5]),
                    vertex([0.5, y1, 0.5]),
                    vertex([0.5, y0, -0.5]),
                ],
                vec![0, 1, 2],
                0,
            )],
        };
        let node = |name: &str, parent, children, world: Mat4, mesh| Node {
            name: Some(name.into()),
            parent,
            children,
            local: world,
            world,
            mesh,
        };
        TwinModel {
            source_name: "m.glb".into(),
            nodes: vec![
                node(
                    "Motor",
                    None,
                    vec![1],
                    Mat4::from_translation(Vec3::new(2.0, 0.0, 0.0)),
                    Some(0),
                ),
                node(
                    "Fan",
                    Some(0),
                    vec![],
                    Mat4::from_translation(Vec3::new(2.0, 1.0, 0.0)),
                    Some(1),
                ),
                node(
                    "Group",
                    None,
                    vec![],
                    Mat4::from_translation(Vec3::new(0.0, 0.0, 5.0)),
                    None,
                ),
            ],
            roots: vec![0, 2],
            meshes: vec![cube(0.0, 1.0), cube(0.0, 0.5)],
            materials: vec![Default::default()],
            textures: vec![],
            origin: [0.0; 3],
        }
    }

    fn sample(value: f64, at: f64) -> Sample {
        Sample {
            sensor: 0,
            value: Value::Number(value),
            unit: None,
            source_ms: Some(at),
            received_ms: at,
            quality: Quality::Good,
        }
    }

    #[test]
    fn anchors_sit_on_top_of_the_part_and_its_children() {
        let anchors = sensor_anchors(&manifest(), &model(), Mat4::IDENTITY);
        assert_eq!(
            anchors.len(),
            2,
            "the sensor on a missing node has no anchor"
        );
        let motor = anchors[0];
        assert_eq!((motor.sensor, motor.node), (0, 0));
        assert!(
            (motor.anchor - Vec3::new(2.0, 1.5, 0.0)).length() < 1e-5,
            "{}",
            motor.anchor
        );
        assert!((motor.position - (motor.anchor + Vec3::new(0.0, 0.15, 0.0))).length() < 1e-5);
        let group = anchors[1];
        assert_eq!(
            group.anchor,
            Vec3::new(0.0, 0.0, 5.0),
            "a node without geometry labels its origin"
        );
        assert_eq!(group.position, Vec3::new(0.0, 1.0, 5.0));
    }

    #[test]
    fn placement_moves_anchors() {
        let anchors = sensor_anchors(
            &manifest(),
            &model(),
            Mat4::from_translation(Vec3::X * 10.0),
        );
        assert!((anchors[0].anchor.x - 12.0).abs() < 1e-5);
    }

    #[test]
    fn labels_follow_the_reading_through_live_alarm_and_stale() {
        let m = manifest();
        let mut store = SensorStore::new(&m);
        let mut label = SensorLabel::default();
        sensor_label(0, &m.sensors[0], &store, 0.0, &mut label);
        assert_eq!(label.classified.state, SensorState::NoData);
        assert_eq!(label.value, "no data");
        assert!(label.detail.is_some(), "no data is spelled out");
        assert!(label.sparkline.is_empty());

        for i in 0..30 {
            store.apply(sample(40.0 + i as f64, 1_000_000.0 + i as f64 * 1000.0));
        }
        store.apply(sample(95.0, 1_031_000.0));
        sensor_label(0, &m.sensors[0], &store, 1_031_500.0, &mut label);
        assert_eq!(label.classified.state, SensorState::Alarm);
        assert!(
            label.value.starts_with("95") && label.value.ends_with("°C"),
            "{}",
            label.value
        );
        assert_eq!(label.detail, None, "a live reading shows no age");
        assert!(label.tint.is_some(), "an alarm colours its part");
        assert!(is_alerting(&label));
        assert!(label.sparkline.len() >= 2 && label.sparkline.len() <= SPARKLINE_POINTS);
        assert!(label.sparkline.iter().all(|v| (0.0..=1.0).contains(v)));
        // 95 is the newest and highest point: it sits at the top, less the margin, and the
        // warning (80) and alarm (90) levels inside 40..95 are marked.
        let top = 1.0 - edge();
        assert!((label.sparkline.last().copied().unwrap_or_default() - top).abs() < 1e-4);
        let kinds: Vec<LevelKind> = label
            .spark_levels
            .as_slice()
            .iter()
            .map(|l| l.kind)
            .collect();
        assert_eq!(kinds, [LevelKind::Warning, LevelKind::Alarm]);

        // 12 s later with a 10 s maximum age: stale, value kept, the age shown, never live-looking.
        sensor_label(0, &m.sensors[0], &store, 1_043_500.0, &mut label);
        assert_eq!(label.classified.state, SensorState::Stale);
        assert!(label.value.starts_with("95"));
        let detail = label.detail.clone().unwrap_or_default();
        assert!(detail.contains("12 s"), "{detail}");
    }

    #[test]
    fn a_lost_connection_greys_a_fresh_reading_saying_connection_lost_and_its_age() {
        let m = manifest();
        let mut store = SensorStore::new(&m);
        let mut label = SensorLabel::default();
        store.apply(sample(95.0, 1_000_000.0));
        store.set_connection_lost(Some(1_001_000.0));
        // 2 s old, well inside its maximum age, yet the source is gone.
        sensor_label(0, &m.sensors[0], &store, 1_002_000.0, &mut label);
        assert_eq!(label.classified.state, SensorState::Stale);
        assert!(label.classified.connection_lost);
        assert!(label.value.starts_with("95"), "the last value is kept");
        assert_eq!(
            label.detail.as_deref(),
            Some("connection lost (was alarm) · 2 s")
        );
        assert!(!is_alerting(&label), "a lost alarm is not a live one");
        let tint = label.tint.unwrap_or_else(|| panic!("a grey tint"));
        assert!(tint.color[0] == tint.color[1] && tint.color[1] == tint.color[2]);
        store.set_connection_lost(None);
        sensor_label(0, &m.sensors[0], &store, 1_002_000.0, &mut label);
        assert_eq!(label.classified.state, SensorState::Alarm, "live again");
    }

    /// Where a trend's own minimum lands (and its maximum, from the top): the margin's share
    /// of the padded span.
    fn edge() -> f32 {
        (SPARKLINE_MARGIN / (1.0 + 2.0 * SPARKLINE_MARGIN)) as f32
    }

    /// A temperature shown over 0..160 with warnings at 73 and 70.5 and an alarm at 90, and a
    /// second sensor with an alarm at 74.3 and a warning at 69.
    fn trend_manifest() -> Manifest {
        Manifest::parse(
            r#"{ "name": "T", "model": { "url": "m.glb" },
                  "history": { "windowSeconds": 600, "resolutionSeconds": 1 },
                  "sensors": [
                    { "id": "a", "name": "A", "node": "Motor", "unit": "°C", "range": [0, 160],
                      "warning": { "above": 73, "below": 70.5 }, "alarm": { "above": 90 } },
                    { "id": "b", "name": "B", "node": "Motor", "range": [0, 160],
                      "warning": { "below": 69 }, "alarm": { "above": 74.3 } }
                  ] }"#
                .as_bytes(),
            "t.json",
        )
        .expect("valid test manifest")
    }

    /// Sensor `sensor`'s label after `values`, one a second.
    fn label_after(m: &Manifest, sensor: usize, values: impl Iterator<Item = f64>) -> SensorLabel {
        let mut store = SensorStore::new(m);
        let mut t = 1_000_000.0;
        for v in values {
            store.apply(Sample {
                sensor,
                ..sample(v, t)
            });
            t += 1000.0;
        }
        let mut label = SensorLabel::default();
        sensor_label(sensor, &m.sensors[sensor], &store, t, &mut label);
        label
    }

    /// 70, 71, 72, 73, 74, 73, … 70 and again: a wander of 4 degrees over 40 s.
    fn wander() -> impl Iterator<Item = f64> {
        (0..40).map(|i| 70.0 + f64::from(4 - (i % 8 - 4i32).abs()))
    }

    #[test]
    fn a_small_wander_fills_the_sparkline_height() {
        let label = label_after(&trend_manifest(), 0, wander());
        let s = &label.sparkline;
        assert_eq!(s.len(), 40);
        let min = s.iter().copied().fold(f32::INFINITY, f32::min);
        let max = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        // Over the display range 0..160 this would be a flat band near 0.45.
        assert!(min < 0.1 && max > 0.9, "{min} {max}");
        assert!((min - edge()).abs() < 1e-4, "{min}");
        assert!((max - (1.0 - edge())).abs() < 1e-4, "{max}");
        // The shape is kept: 70 at the bottom, 74 at the top, 72 halfway.
        assert_eq!((s[0], s[4]), (min, max));
        assert!((s[2] - 0.5).abs() < 1e-4, "{}", s[2]);
    }

    #[test]
    fn a_constant_history_is_a_flat_line_at_mid_height() {
        let label = label_after(&trend_manifest(), 0, std::iter::repeat_n(72.5, 30));
        assert_eq!(label.sparkline.len(), 30);
        assert!(
            label.sparkline.iter().all(|&v| v == 0.5),
            "{:?}",
            label.sparkline
        );
        assert!(
            label.spark_levels.is_empty(),
            "a line without span marks no level"
        );
    }

    #[test]
    fn thresholds_inside_the_span_are_marked_and_far_ones_are_not() {
        let label = label_after(&trend_manifest(), 0, wander());
        // Padded span 69.8..74.2: warning above 73 at 3.2 / 4.4, below 70.5 at 0.7 / 4.4; the
        // alarm at 90 is far outside and not marked.
        let levels = label.spark_levels.as_slice();
        assert_eq!(levels.len(), 2, "{levels:?}");
        assert_eq!(levels[0].kind, LevelKind::Warning);
        assert!((levels[0].at - 3.2 / 4.4).abs() < 1e-4, "{levels:?}");
        assert_eq!(levels[1].kind, LevelKind::Warning);
        assert!((levels[1].at - 0.7 / 4.4).abs() < 1e-4, "{levels:?}");
        assert!(levels.iter().all(|l| l.kind != LevelKind::Alarm));
    }

    #[test]
    fn a_threshold_just_outside_the_span_widens_it() {
        let label = label_after(&trend_manifest(), 1, wander());
        // The alarm at 74.3 is 0.3 above the top of a 4-degree span (within 10 %): the span
        // grows to take it in, and it becomes the top. The warning at 69 is 1 below: too far.
        let levels = label.spark_levels.as_slice();
        assert_eq!(levels.len(), 1, "{levels:?}");
        assert_eq!(levels[0].kind, LevelKind::Alarm);
        assert!((levels[0].at - (1.0 - edge())).abs() < 1e-4, "{levels:?}");
        let max = label.sparkline.iter().copied().fold(0.0, f32::max);
        assert!(
            max < levels[0].at - 0.05,
            "the trend stays below the alarm: {max}"
        );
        let min = label.sparkline.iter().copied().fold(1.0, f32::min);
        assert!(
            (min - edge()).abs() < 1e-4,
            "the bottom is not widened: {min}"
        );
    }

    #[test]
    fn long_histories_are_sampled_down_to_the_sparkline_size() {
        let m = manifest();
        let mut store = SensorStore::new(&m);
        for i in 0..600 {
            store.apply(sample((i % 100) as f64, 1_000_000.0 + i as f64 * 1000.0));
        }
        let mut label = SensorLabel::default();
        sensor_label(0, &m.sensors[0], &store, 1_600_000.0, &mut label);
        assert!(
            label.sparkline.len() <= SPARKLINE_POINTS + 1,
            "{}",
            label.sparkline.len()
        );
        assert!(
            label.sparkline.len() >= SPARKLINE_POINTS - 1,
            "{}",
            label.sparkline.len()
        );
    }
}
