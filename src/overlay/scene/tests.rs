use glam::Vec3;

use super::*;

const VIEWPORT: [f32; 2] = [1280.0, 720.0];

fn font() -> &'static Font {
    match Font::embedded() {
        Ok(f) => f,
        Err(e) => panic!("{e}"),
    }
}

fn view_from(eye: Vec3) -> ViewMatrices {
    ViewMatrices {
        view: glam::camera::rh::view::look_at_mat4(eye, eye + Vec3::NEG_Z, Vec3::Y),
        proj: glam::camera::rh::proj::directx::perspective(
            60f32.to_radians(),
            VIEWPORT[0] / VIEWPORT[1],
            0.1,
            100.0,
        ),
        eye,
    }
}

fn label(position: Vec3, state: SensorState, priority: i32) -> LabelInput {
    LabelInput {
        position,
        anchor: position - Vec3::new(0.0, 0.4, 0.0),
        priority,
        state,
        size_px: [0.0; 2],
    }
}

const SPARK: [f32; 5] = [0.1, 0.5, f32::NAN, 0.7, 0.9];

fn push(frame: &mut OverlayFrame, input: LabelInput, name: &str) {
    frame.push(OverlayLabel {
        input,
        name,
        value: "21.5 °C",
        age: (input.state == SensorState::Stale).then_some("2 min ago"),
        style: input.state.style(),
        sparkline: &SPARK,
        spark_levels: SparkLevels::NONE,
    });
}

fn kind(i: &OverlayInstance) -> u32 {
    i.kind & 0xFF
}

fn levels(list: &[(f32, LevelKind)]) -> SparkLevels {
    let mut out = SparkLevels::NONE;
    for &(at, kind) in list {
        assert!(out.push(SparkLevel { at, kind }));
    }
    out
}

/// The instances of one full label at -3 m with sparkline `spark` and levels `spark_levels`.
fn full_label(spark: &[f32], spark_levels: SparkLevels) -> Vec<OverlayInstance> {
    let mut frame = OverlayFrame::new();
    frame.push(OverlayLabel {
        input: label(Vec3::new(0.0, 0.0, -3.0), SensorState::Normal, 0),
        name: "Pump",
        value: "21.5 °C",
        age: None,
        style: SensorState::Normal.style(),
        sparkline: spark,
        spark_levels,
    });
    let mut scene = OverlayScene::new(font());
    scene.set_frame(&frame);
    let mut out = Vec::new();
    let counts = scene.build_view(0, &view_from(Vec3::ZERO), VIEWPORT, 1.0, &mut out);
    assert_eq!(counts.labels, 1);
    out
}

/// Lines drawn level (same y at both ends) inside the label.
fn level_lines(out: &[OverlayInstance]) -> Vec<OverlayInstance> {
    out.iter()
        .skip(3) // leader, anchor dot, plate
        .filter(|i| kind(i) == KIND_LINE && i.geom[1] == i.geom[3])
        .copied()
        .collect()
}

#[test]
fn frame_round_trips_labels_and_caps_the_sparkline() {
    let mut f = OverlayFrame::new();
    let long: Vec<f32> = (0..100).map(|i| i as f32 / 100.0).collect();
    let input = label(Vec3::ZERO, SensorState::Warning, 3);
    f.push(OverlayLabel {
        input,
        name: "Pump",
        value: "3.2 bar",
        age: Some("5 s ago"),
        style: SensorState::Warning.style(),
        sparkline: &long,
        spark_levels: levels(&[(0.25, LevelKind::Warning), (0.8, LevelKind::Alarm)]),
    });
    f.push(OverlayLabel {
        input,
        name: "Motor",
        value: "on",
        age: None,
        style: SensorState::Normal.style(),
        sparkline: &[],
        spark_levels: SparkLevels::NONE,
    });
    assert_eq!(f.len(), 2);
    let Some(a) = f.get(0) else { panic!("label 0") };
    assert_eq!(
        (a.name, a.value, a.age),
        ("Pump", "3.2 bar", Some("5 s ago"))
    );
    assert_eq!(a.sparkline.len(), MAX_SPARK_POINTS);
    assert_eq!(
        a.sparkline[MAX_SPARK_POINTS - 1],
        0.99,
        "the newest points are kept"
    );
    assert_eq!(
        a.spark_levels.as_slice(),
        levels(&[(0.25, LevelKind::Warning), (0.8, LevelKind::Alarm)]).as_slice()
    );
    let Some(b) = f.get(1) else { panic!("label 1") };
    assert_eq!((b.name, b.value, b.age), ("Motor", "on", None));
    assert!(b.spark_levels.is_empty());
    assert!(f.get(2).is_none());
    let caps = (f.text.capacity(), f.spark.capacity(), f.entries.capacity());
    f.clear();
    assert!(f.is_empty());
    assert_eq!(
        caps,
        (f.text.capacity(), f.spark.capacity(), f.entries.capacity())
    );
}

#[test]
fn a_full_label_is_leader_then_plate_then_sparkline_icon_and_text() {
    let mut frame = OverlayFrame::new();
    push(
        &mut frame,
        label(Vec3::new(0.0, 0.0, -3.0), SensorState::Warning, 0),
        "Pump",
    );
    let mut scene = OverlayScene::new(font());
    scene.set_frame(&frame);
    let mut out = Vec::new();
    let counts = scene.build_view(0, &view_from(Vec3::ZERO), VIEWPORT, 1.0, &mut out);
    assert_eq!((counts.labels, counts.markers), (1, 0));
    assert_eq!(counts.instances as usize, out.len());
    let kinds: Vec<u32> = out.iter().map(kind).collect();
    // Leader + anchor dot, plate, 3 sparkline segments (the NaN breaks two), end dot,
    // icon, then glyphs: "Pump" 4 + "21.5 °C" 6.
    assert_eq!(&kinds[..3], &[KIND_LINE, KIND_ICON, KIND_PLATE]);
    assert_eq!(&kinds[3..5], &[KIND_LINE, KIND_LINE]);
    assert_eq!(&kinds[5..7], &[KIND_ICON, KIND_ICON]);
    assert!(kinds[7..].iter().all(|&k| k == KIND_GLYPH));
    assert_eq!(kinds.len() - 7, 10);
    // The plate is the box the layout placed.
    let (placed, _) = scene.placed(0);
    let p = placed[0];
    let plate = out[2];
    assert!((plate.geom[2] - plate.geom[0] - p.size_px[0]).abs() < 1e-3);
    assert!((plate.geom[3] - plate.geom[1] - p.size_px[1]).abs() < 1e-3);
    // Everything of the label stays inside its plate.
    for i in &out[3..] {
        assert!(
            i.geom[0] >= plate.geom[0] && i.geom[2] <= plate.geom[2],
            "{i:?}"
        );
        assert!(
            i.geom[1] >= plate.geom[1] - 0.5 && i.geom[3] <= plate.geom[3],
            "{i:?}"
        );
    }
    // The leader starts at the plate's bottom edge and ends at the anchor, below.
    let leader = out[0];
    assert!((leader.geom[1] - plate.geom[3]).abs() < 1e-3);
    let Some(anchor) = p.anchor_px else {
        panic!("anchor")
    };
    assert_eq!([leader.geom[2], leader.geom[3]], anchor);
    // The icon is the warning triangle in the warning colour; nothing pulses.
    assert_eq!(
        out[6].kind >> SHAPE_SHIFT & 0xFF,
        shape_code(Icon::Triangle)
    );
    assert_eq!(out[6].color, rgba8(SensorState::Warning.style().color));
    assert!(out.iter().all(|i| i.kind & FLAG_PULSE == 0));
    assert!(!scene.animating());
}

#[test]
fn threshold_levels_are_lines_across_the_sparkline_under_the_trend() {
    let marks = levels(&[
        (0.25, LevelKind::Warning),
        (0.8, LevelKind::Alarm),
        (1.5, LevelKind::Alarm), // outside the sparkline: not drawn
        (f32::NAN, LevelKind::Warning),
    ]);
    let out = full_label(&SPARK, marks);
    let plain = full_label(&SPARK, SparkLevels::NONE);
    assert_eq!(
        out.len(),
        plain.len() + 2,
        "one line per level inside 0..=1"
    );
    assert!(level_lines(&plain).is_empty(), "no levels, no level lines");
    // After leader, anchor dot and plate: the two levels, then the trend as without them.
    let kinds: Vec<u32> = out.iter().map(kind).collect();
    assert_eq!(&kinds[3..7], &[KIND_LINE, KIND_LINE, KIND_LINE, KIND_LINE]);
    assert_eq!(&out[5..], &plain[3..]);
    let (warning, alarm) = (out[3], out[4]);
    assert_eq!(level_lines(&out), [warning, alarm]);
    assert_eq!(
        warning.color,
        with_alpha(rgba8(SensorState::Warning.style().color), SPARK_LEVEL_ALPHA)
    );
    assert_eq!(
        alarm.color,
        with_alpha(rgba8(SensorState::Alarm.style().color), SPARK_LEVEL_ALPHA)
    );
    assert_eq!(warning.kind, KIND_LINE, "no outline, no pulse");
    assert!(warning.aux[0] < out[5].aux[0], "thinner than the trend");
    // Across the whole sparkline: from the first point's x to the last point's.
    let (first, last) = (out[5], out[6]);
    assert_eq!(
        (warning.geom[0], alarm.geom[0]),
        (first.geom[0], first.geom[0])
    );
    let plate = out[2];
    let inner_right = plate.geom[2] - (first.geom[0] - plate.geom[0]);
    assert!(
        (warning.geom[2] - inner_right).abs() < 1e-3,
        "{warning:?} {plate:?}"
    );
    assert!((last.geom[2] - inner_right).abs() < 1e-3, "{last:?}");
    // At their heights on the trend's scale: the first segment runs from 0.1 to 0.5.
    let h = (first.geom[1] - first.geom[3]) / 0.4;
    let y_at = |v: f32| first.geom[3] + h * (0.5 - v);
    assert!((warning.geom[1] - y_at(0.25)).abs() < 1e-3, "{warning:?}");
    assert!((alarm.geom[1] - y_at(0.8)).abs() < 1e-3, "{alarm:?}");
    // Without a sparkline there is nothing to mark.
    let bare = full_label(&[], marks);
    assert!(level_lines(&bare).is_empty());
    assert!(
        bare.iter()
            .all(|i| kind(i) != KIND_LINE || i.geom == bare[0].geom)
    );
}

#[test]
fn crowded_labels_become_markers_and_the_most_important_is_drawn_last() {
    let at = Vec3::new(0.0, 0.0, -5.0);
    let mut frame = OverlayFrame::new();
    push(&mut frame, label(at, SensorState::Normal, 0), "low");
    push(&mut frame, label(at, SensorState::Alarm, 0), "alarm");
    push(&mut frame, label(at, SensorState::Normal, 9), "high");
    let mut scene = OverlayScene::new(font());
    scene.set_frame(&frame);
    assert!(scene.animating(), "a live alarm pulses");
    let mut out = Vec::new();
    let counts = scene.build_view(0, &view_from(Vec3::ZERO), VIEWPORT, 1.0, &mut out);
    assert_eq!((counts.labels, counts.markers), (1, 2));
    let markers: Vec<&OverlayInstance> =
        out.iter().filter(|i| i.kind & FLAG_BACKING != 0).collect();
    assert_eq!(markers.len(), 2);
    assert!(
        markers
            .iter()
            .all(|m| (m.geom[2] - m.geom[0] - MARKER_SIZE_PX).abs() < 1e-3)
    );
    // The alarm's plate comes after both markers, and it (and only it) pulses.
    let plate = out.iter().position(|i| kind(i) == KIND_PLATE);
    let last_marker = out.iter().rposition(|i| i.kind & FLAG_BACKING != 0);
    assert!(plate > last_marker);
    let pulsing: Vec<u32> = out
        .iter()
        .filter(|i| i.kind & FLAG_PULSE != 0)
        .map(kind)
        .collect();
    assert_eq!(pulsing, [KIND_PLATE, KIND_ICON]);
}

#[test]
fn second_eye_shows_the_same_labels_shifted() {
    let mut frame = OverlayFrame::new();
    let at = Vec3::new(0.0, 0.0, -2.0);
    push(&mut frame, label(at, SensorState::Normal, 0), "a");
    push(
        &mut frame,
        label(at + Vec3::X * 0.01, SensorState::Normal, 1),
        "b",
    );
    let mut scene = OverlayScene::new(font());
    scene.set_frame(&frame);
    let (mut left, mut right) = (Vec::new(), Vec::new());
    let l = scene.build_view(
        0,
        &view_from(Vec3::new(-0.032, 0.0, 0.0)),
        VIEWPORT,
        1.0,
        &mut left,
    );
    let r = scene.build_view(
        1,
        &view_from(Vec3::new(0.032, 0.0, 0.0)),
        VIEWPORT,
        1.0,
        &mut right,
    );
    assert_eq!(l, r);
    assert_eq!(left.len(), right.len());
    let (pl, _) = scene.placed(0);
    let (pr, _) = scene.placed(1);
    assert!(pr[1].screen_pos[0] < pl[1].screen_pos[0]);
    assert_eq!(pl[0].as_marker, pr[0].as_marker);
}

#[test]
fn pixel_scale_scales_everything_and_labels_outside_draw_nothing() {
    let mut frame = OverlayFrame::new();
    push(
        &mut frame,
        label(Vec3::new(0.0, 0.0, -3.0), SensorState::Stale, 0),
        "Flow",
    );
    push(
        &mut frame,
        label(Vec3::new(0.0, 0.0, 3.0), SensorState::Alarm, 0),
        "behind",
    );
    let mut scene = OverlayScene::new(font());
    scene.set_frame(&frame);
    let v = view_from(Vec3::ZERO);
    let (mut one, mut two) = (Vec::new(), Vec::new());
    scene.build_view(0, &v, VIEWPORT, 1.0, &mut one);
    let counts = scene.build_view(0, &v, VIEWPORT, 2.0, &mut two);
    assert_eq!(counts.labels, 1, "the label behind the camera is not drawn");
    assert_eq!(one.len(), two.len());
    let w = |i: &OverlayInstance| i.geom[2] - i.geom[0];
    let plate = |v: &[OverlayInstance]| v.iter().copied().find(|i| kind(i) == KIND_PLATE);
    let (Some(p1), Some(p2)) = (plate(&one), plate(&two)) else {
        panic!("plates")
    };
    assert!((w(&p2) - 2.0 * w(&p1)).abs() < 1e-3);
    // Corner radius and border scale too (in 1/16 px, so within a unit of rounding).
    for i in 0..2 {
        let (a, b) = (i32::from(p1.aux[i]), i32::from(p2.aux[i]));
        assert!((b - 2 * a).abs() <= 1, "{p1:?} {p2:?}");
    }
    let k = scene.placed(0).0[0].scale * 2.0;
    assert!((f32::from(p2.aux[0]) / LENGTH_UNITS_PER_PX - CORNER_R * k).abs() < 0.1);
    // The stale label shows its age line: more glyphs than the value and name alone.
    let glyphs = one.iter().filter(|i| kind(i) == KIND_GLYPH).count();
    assert_eq!(glyphs, 4 + 6 + "2minago".len());
    // Garbage scale falls back to 1.
    let mut three = Vec::new();
    scene.build_view(0, &v, VIEWPORT, f32::NAN, &mut three);
    assert_eq!(three, one);
}

#[test]
fn long_text_is_cut_and_the_label_stays_bounded() {
    let mut frame = OverlayFrame::new();
    let name = "A very long sensor name that nobody would ever read to its end anyway";
    push(
        &mut frame,
        label(Vec3::new(0.0, 0.0, -3.0), SensorState::Normal, 0),
        name,
    );
    let mut scene = OverlayScene::new(font());
    scene.set_frame(&frame);
    let size = scene.inputs()[0].size_px;
    assert!(
        size[0] <= MAX_TEXT_W + ICON_PX + ICON_GAP + 2.0 * PAD_X + 1.0,
        "{size:?}"
    );
    assert!(size[1] > 40.0 && size[1] < 100.0, "{size:?}");
}

#[test]
fn repeated_views_allocate_nothing() {
    let mut frame = OverlayFrame::new();
    for i in 0..200 {
        let x = (i % 20) as f32 * 0.6 - 6.0;
        let y = (i / 20) as f32 * 0.5 - 2.5;
        let state = [SensorState::Normal, SensorState::Alarm, SensorState::Stale][i % 3];
        push(&mut frame, label(Vec3::new(x, y, -8.0), state, 0), "Sensor");
    }
    let mut scene = OverlayScene::new(font());
    scene.set_frame(&frame);
    let v = view_from(Vec3::ZERO);
    let mut out = Vec::new();
    scene.build_view(0, &v, VIEWPORT, 1.0, &mut out);
    scene.build_view(1, &v, VIEWPORT, 1.0, &mut out);
    let caps = (
        out.capacity(),
        scene.local.capacity(),
        scene.quads.capacity(),
    );
    let local_len = scene.local.len();
    for _ in 0..3 {
        out.clear();
        scene.build_view(0, &v, VIEWPORT, 1.0, &mut out);
        scene.build_view(1, &v, VIEWPORT, 1.0, &mut out);
    }
    assert_eq!(
        caps,
        (
            out.capacity(),
            scene.local.capacity(),
            scene.quads.capacity()
        )
    );
    assert_eq!(
        local_len,
        scene.local.len(),
        "labels are built once per frame"
    );
}

/// `cargo test --release --lib overlay::scene -- --ignored --nocapture`
#[test]
#[ignore = "micro-benchmark; run in release with --nocapture"]
fn bench_two_thousand_labels_two_views() {
    let mut frame = OverlayFrame::new();
    let spark: Vec<f32> = (0..60)
        .map(|i| (i as f32 * 0.3).sin() * 0.5 + 0.5)
        .collect();
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut rnd = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 40) as f32 / (1u64 << 24) as f32
    };
    let states = [
        SensorState::Normal,
        SensorState::Normal,
        SensorState::Warning,
        SensorState::Alarm,
        SensorState::Stale,
    ];
    for i in 0..2000 {
        let p = Vec3::new(rnd() * 24.0 - 12.0, rnd() * 12.0 - 6.0, -rnd() * 25.0 - 1.0);
        let state = states[i % states.len()];
        frame.push(OverlayLabel {
            input: label(p, state, 0),
            name: "Motor winding temperature",
            value: "21.5 °C",
            age: (state == SensorState::Stale).then_some("12 s ago"),
            style: state.style(),
            sparkline: &spark,
            spark_levels: SparkLevels::NONE,
        });
    }
    let mut scene = OverlayScene::new(font());
    let t = std::time::Instant::now();
    scene.set_frame(&frame);
    let set = t.elapsed();
    let v = view_from(Vec3::ZERO);
    let mut out = Vec::new();
    scene.build_view(0, &v, VIEWPORT, 1.0, &mut out);
    let runs = 200;
    let t = std::time::Instant::now();
    let mut counts = ViewCounts::default();
    for _ in 0..runs {
        out.clear();
        counts = scene.build_view(0, &v, VIEWPORT, 1.0, &mut out);
        scene.build_view(1, &v, VIEWPORT, 1.0, &mut out);
    }
    println!(
        "set_frame {set:?}; two views {:?} per frame; per view {counts:?}",
        t.elapsed() / runs
    );
}
