use super::*;

const VIEWPORT: [f32; 2] = [1280.0, 720.0];

/// Eye at `eye` looking along -Z, 60° vertical field of view.
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

fn view() -> ViewMatrices {
    view_from(Vec3::ZERO)
}

fn label(position: Vec3, state: SensorState, priority: i32) -> LabelInput {
    LabelInput {
        position,
        anchor: position - Vec3::new(0.0, 0.15, 0.0),
        priority,
        state,
        size_px: [120.0, 32.0],
    }
}

fn rect(p: &Placed) -> Rect {
    Rect::centered(p.screen_pos, p.size_px)
}

#[test]
fn label_straight_ahead_lands_in_the_viewport_centre() {
    let mut l = LabelLayout::new();
    let out = l.layout(
        &[label(Vec3::new(0.0, 0.0, -5.0), SensorState::Normal, 0)],
        &view(),
        VIEWPORT,
    );
    let p = out[0];
    assert!(p.visible && !p.as_marker);
    assert!((p.screen_pos[0] - 640.0).abs() < 1e-3 && (p.screen_pos[1] - 360.0).abs() < 1e-3);
    assert!(p.depth > 0.0 && p.depth < 1.0);
    assert!((p.distance - 5.0).abs() < 1e-5);
}

#[test]
fn screen_y_grows_downward_and_x_rightward() {
    let mut l = LabelLayout::new();
    let out = l.layout(
        &[
            label(Vec3::new(0.0, 1.0, -5.0), SensorState::Normal, 0),
            label(Vec3::new(1.0, -1.0, -5.0), SensorState::Normal, 0),
        ],
        &view(),
        VIEWPORT,
    );
    assert!(
        out[0].screen_pos[1] < 360.0,
        "above the centre is up on screen"
    );
    assert!(out[1].screen_pos[0] > 640.0 && out[1].screen_pos[1] > 360.0);
}

#[test]
fn labels_behind_the_camera_or_outside_the_frustum_are_hidden() {
    let mut l = LabelLayout::new();
    let labels = [
        label(Vec3::new(0.0, 0.0, 5.0), SensorState::Alarm, 0),
        label(Vec3::new(100.0, 0.0, -5.0), SensorState::Alarm, 0),
        label(Vec3::new(0.0, 0.0, -500.0), SensorState::Alarm, 0),
        label(Vec3::new(0.0, 0.0, -0.01), SensorState::Alarm, 0),
        label(Vec3::new(f32::NAN, 0.0, -5.0), SensorState::Alarm, 0),
    ];
    let out = l.layout(&labels, &view(), VIEWPORT);
    assert_eq!(out.len(), labels.len());
    assert!(out.iter().all(|p| !p.visible), "{out:?}");
    assert!(l.order().is_empty());
}

#[test]
fn unusable_viewport_hides_everything_without_panicking() {
    let mut l = LabelLayout::new();
    let labels = [label(Vec3::new(0.0, 0.0, -5.0), SensorState::Alarm, 0)];
    for vp in [
        [0.0, 720.0],
        [1280.0, f32::NAN],
        [-5.0, -5.0],
        [f32::INFINITY, 10.0],
    ] {
        let out = l.layout(&labels, &view(), vp);
        assert_eq!(out, [Placed::HIDDEN], "{vp:?}");
    }
    assert!(l.layout(&[], &view(), VIEWPORT).is_empty());
}

#[test]
fn leader_line_anchor_is_projected_and_dropped_behind_the_camera() {
    let mut l = LabelLayout::new();
    let mut behind = label(Vec3::new(0.0, 0.0, -0.5), SensorState::Normal, 0);
    behind.anchor = Vec3::new(0.0, 0.0, 1.0);
    let out = l.layout(
        &[
            label(Vec3::new(0.0, 0.0, -5.0), SensorState::Normal, 0),
            behind,
        ],
        &view(),
        VIEWPORT,
    );
    let Some(a) = out[0].anchor_px else {
        panic!("anchor in front must project")
    };
    assert!(
        (a[0] - 640.0).abs() < 1e-3 && a[1] > out[0].screen_pos[1],
        "anchor below the label"
    );
    assert!(out[1].visible && out[1].anchor_px.is_none());
}

#[test]
fn scale_is_full_up_close_and_shrinks_to_the_minimum_far_away() {
    assert_eq!(label_scale(0.0), 1.0);
    assert_eq!(label_scale(0.2), 1.0, "never larger than at 0.5 m");
    assert_eq!(label_scale(NEAR_DISTANCE_M), 1.0);
    assert!((label_scale(FAR_DISTANCE_M) - MIN_SCALE).abs() < 1e-6);
    assert_eq!(label_scale(1000.0), MIN_SCALE);
    assert_eq!(label_scale(f32::NAN), 1.0);
    let mut last = 1.0;
    for i in 1..200 {
        let s = label_scale(i as f32 * 0.06);
        assert!(s <= last && (MIN_SCALE..=1.0).contains(&s));
        last = s;
    }
    // On screen the label is its wanted size times the scale.
    let mut l = LabelLayout::new();
    let out = l.layout(
        &[label(Vec3::new(0.0, 0.0, -20.0), SensorState::Normal, 0)],
        &view(),
        VIEWPORT,
    );
    assert!((out[0].size_px[0] - 120.0 * MIN_SCALE).abs() < 1e-3);
}

#[test]
fn crowded_label_of_lower_priority_becomes_a_marker() {
    let mut l = LabelLayout::new();
    let at = Vec3::new(0.0, 0.0, -5.0);
    let out = l.layout(
        &[
            label(at, SensorState::Normal, 1),
            label(at + Vec3::new(0.05, 0.0, 0.0), SensorState::Normal, 7),
        ],
        &view(),
        VIEWPORT,
    );
    assert!(out[0].as_marker && out[0].visible);
    assert_eq!(out[0].size_px, [MARKER_SIZE_PX; 2]);
    assert!(!out[1].as_marker);
    assert_eq!(l.order(), [1, 0]);
}

#[test]
fn severity_beats_priority_and_nearer_beats_farther() {
    let mut l = LabelLayout::new();
    let out = l.layout(
        &[
            label(Vec3::new(0.0, 0.0, -5.0), SensorState::Normal, 100),
            label(Vec3::new(0.0, 0.0, -5.0), SensorState::Warning, -100),
        ],
        &view(),
        VIEWPORT,
    );
    assert!(out[0].as_marker && !out[1].as_marker);
    let out = l.layout(
        &[
            label(Vec3::new(0.0, 0.0, -6.0), SensorState::Normal, 0),
            label(Vec3::new(0.0, 0.0, -3.0), SensorState::Normal, 0),
        ],
        &view(),
        VIEWPORT,
    );
    assert!(out[0].as_marker && !out[1].as_marker);
    // Stale outranks normal: losing data is news.
    let out = l.layout(
        &[
            label(Vec3::new(0.0, 0.0, -3.0), SensorState::Normal, 5),
            label(Vec3::new(0.0, 0.0, -6.0), SensorState::Stale, 0),
        ],
        &view(),
        VIEWPORT,
    );
    assert!(out[0].as_marker && !out[1].as_marker);
}

#[test]
fn alarms_stay_full_even_when_they_overlap() {
    let mut l = LabelLayout::new();
    let at = Vec3::new(0.0, 0.0, -5.0);
    let out = l.layout(
        &[
            label(at, SensorState::Alarm, 0),
            label(at, SensorState::Alarm, -3),
            label(at, SensorState::Warning, 50),
            label(at, SensorState::Normal, 0),
        ],
        &view(),
        VIEWPORT,
    );
    assert!(
        !out[0].as_marker && !out[1].as_marker,
        "alarms are never reduced"
    );
    assert!(
        out[2].as_marker && out[3].as_marker,
        "others yield to alarms"
    );
    assert!(out.iter().all(|p| p.visible), "markers may overlap markers");
}

#[test]
fn touching_rectangles_do_not_collide() {
    let a = Rect::centered([100.0, 100.0], [40.0, 20.0]);
    let right = Rect::centered([140.0, 100.0], [40.0, 20.0]);
    let below = Rect::centered([100.0, 120.0], [40.0, 20.0]);
    assert!(!a.overlaps(&right) && !a.overlaps(&below));
    let nudged = Rect::centered([139.5, 100.0], [40.0, 20.0]);
    assert!(a.overlaps(&nudged) && nudged.overlaps(&a));
}

#[test]
fn neighbours_a_pixel_apart_both_stay_full_and_a_pixel_over_collide() {
    let mut l = LabelLayout::new();
    let v = view();
    let a = label(Vec3::new(0.0, 0.0, -5.0), SensorState::Normal, 0);
    let first = l.layout(&[a], &v, VIEWPORT)[0];
    let px_per_m = l.layout(
        &[label(Vec3::new(1.0, 0.0, -5.0), SensorState::Normal, 0)],
        &v,
        VIEWPORT,
    )[0]
    .screen_pos[0]
        - first.screen_pos[0];
    for (gap_px, collides) in [(1.0, false), (-1.0, true)] {
        let x = (first.size_px[0] + gap_px) / px_per_m;
        let b = label(Vec3::new(x, 0.0, -5.0), SensorState::Normal, 0);
        let out = l.layout(&[a, b], &v, VIEWPORT);
        assert!(!out[0].as_marker);
        assert_eq!(out[1].as_marker, collides, "gap {gap_px} px");
    }
}

#[test]
fn stereo_eye_reuses_the_other_eyes_decisions() {
    let at = Vec3::new(0.0, 0.0, -5.0);
    let labels = [
        label(at, SensorState::Normal, 0),
        label(at, SensorState::Normal, 1),
    ];
    let mut left = LabelLayout::new();
    let mut right = LabelLayout::new();
    let l = left.layout(&labels, &view_from(Vec3::new(-0.032, 0.0, 0.0)), VIEWPORT);
    let r = right.layout_matching(l, &labels, &view_from(Vec3::new(0.032, 0.0, 0.0)), VIEWPORT);
    for (a, b) in l.iter().zip(r) {
        assert_eq!(
            (a.visible, a.as_marker, a.scale, a.size_px),
            (b.visible, b.as_marker, b.scale, b.size_px)
        );
    }
    assert!(
        r[1].screen_pos[0] < l[1].screen_pos[0],
        "the right eye sees the label further left"
    );
    // Mismatched decisions fall back to a full layout.
    let r = right.layout_matching(&[], &labels, &view(), VIEWPORT);
    assert_eq!(r.len(), 2);
    assert!(r[0].as_marker && !r[1].as_marker);
}

#[test]
fn repeated_layout_reuses_its_buffers() {
    let labels = random_labels(500, 7);
    let mut l = LabelLayout::new();
    l.layout(&labels, &view(), VIEWPORT);
    let caps = (
        l.placed.capacity(),
        l.keys.capacity(),
        l.order.capacity(),
        l.grid.heads.capacity(),
        l.grid.entries.capacity(),
    );
    let ptr = l.placed.as_ptr();
    for _ in 0..3 {
        l.layout(&labels, &view(), VIEWPORT);
    }
    let after = (
        l.placed.capacity(),
        l.keys.capacity(),
        l.order.capacity(),
        l.grid.heads.capacity(),
        l.grid.entries.capacity(),
    );
    assert_eq!(caps, after);
    assert_eq!(ptr, l.placed.as_ptr());
}

/// xorshift64*: deterministic, dependency-free randomness for tests.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
    fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }
}

fn random_labels(n: usize, seed: u64) -> Vec<LabelInput> {
    let mut rng = Rng(seed.max(1));
    let states = [
        SensorState::Normal,
        SensorState::Normal,
        SensorState::Normal,
        SensorState::Normal,
        SensorState::Warning,
        SensorState::Alarm,
        SensorState::Stale,
        SensorState::NoData,
    ];
    (0..n)
        .map(|_| {
            // Mostly in front, some behind or off to the side.
            let position = Vec3::new(
                rng.range(-12.0, 12.0),
                rng.range(-6.0, 6.0),
                rng.range(-25.0, 2.0),
            );
            LabelInput {
                position,
                anchor: position - Vec3::new(0.0, 0.15, 0.0),
                priority: (rng.next() % 5) as i32 - 2,
                state: states[(rng.next() % states.len() as u64) as usize],
                size_px: [rng.range(40.0, 200.0), rng.range(16.0, 40.0)],
            }
        })
        .collect()
}

#[test]
fn two_thousand_random_labels_keep_every_layout_invariant() {
    let labels = random_labels(2000, 0x5eed);
    let v = view();
    let mut l = LabelLayout::new();
    // The decluttering rules alone (the budget has its own test).
    l.set_budget(usize::MAX);
    let out = l.layout(&labels, &v, VIEWPORT).to_vec();
    let order = l.order().to_vec();
    let mut rank = vec![usize::MAX; labels.len()];
    for (r, &i) in order.iter().enumerate() {
        rank[i as usize] = r;
    }
    let visible: Vec<usize> = (0..out.len()).filter(|&i| out[i].visible).collect();
    assert!(
        visible.len() > 500,
        "test scene should show many labels, shows {}",
        visible.len()
    );
    assert_eq!(visible.len(), order.len());
    let full: Vec<usize> = visible
        .iter()
        .copied()
        .filter(|&i| !out[i].as_marker)
        .collect();
    let markers = visible.len() - full.len();
    assert!(
        markers > 100,
        "test scene should be crowded, has {markers} markers"
    );

    for &i in &visible {
        let p = out[i];
        assert!(
            (0.0..=VIEWPORT[0]).contains(&p.screen_pos[0])
                && (0.0..=VIEWPORT[1]).contains(&p.screen_pos[1])
        );
        assert!((MIN_SCALE..=1.0).contains(&p.scale));
        if labels[i].state == SensorState::Alarm {
            assert!(!p.as_marker, "alarm {i} was reduced to a marker");
        }
    }
    // Hidden labels really are outside the view.
    for i in (0..out.len()).filter(|&i| !out[i].visible) {
        let clip = v.proj * v.view * labels[i].position.extend(1.0);
        assert!(in_view(clip).is_none(), "label {i} hidden but in view");
    }
    // No full non-alarm label overlaps any other full label.
    for (a_pos, &a) in full.iter().enumerate() {
        for &b in &full[a_pos + 1..] {
            let both_alarms =
                labels[a].state == SensorState::Alarm && labels[b].state == SensorState::Alarm;
            assert!(
                both_alarms || !rect(&out[a]).overlaps(&rect(&out[b])),
                "full labels {a} and {b} overlap"
            );
        }
    }
    // Every marker was blocked by a more important full label (greedy, not wasteful).
    for &m in visible.iter().filter(|&&i| out[i].as_marker) {
        let wanted = Rect::centered(
            out[m].screen_pos,
            labels[m].size_px.map(|s| s * out[m].scale),
        );
        assert!(
            full.iter()
                .any(|&f| rank[f] < rank[m] && rect(&out[f]).overlaps(&wanted)),
            "marker {m} was not blocked by anything"
        );
    }
    // Order: severity desc, priority desc, distance asc.
    for w in order.windows(2) {
        let (a, b) = (w[0] as usize, w[1] as usize);
        let ka = (
            std::cmp::Reverse(labels[a].state.severity()),
            std::cmp::Reverse(labels[a].priority),
        );
        let kb = (
            std::cmp::Reverse(labels[b].state.severity()),
            std::cmp::Reverse(labels[b].priority),
        );
        assert!(
            ka < kb || (ka == kb && out[a].distance <= out[b].distance),
            "{a} before {b}"
        );
    }
}

/// `cargo test --release --lib overlay::layout -- --ignored --nocapture`
#[test]
#[ignore = "micro-benchmark; run in release with --nocapture"]
fn bench_layout_of_two_thousand_labels() {
    let labels = random_labels(2000, 0xbe7c);
    let v = view();
    let mut l = LabelLayout::new();
    l.layout(&labels, &v, VIEWPORT);
    let runs = 2000;
    let start = std::time::Instant::now();
    let mut markers = 0;
    for _ in 0..runs {
        markers += l
            .layout(std::hint::black_box(&labels), &v, VIEWPORT)
            .iter()
            .filter(|p| p.as_marker)
            .count();
    }
    let per = start.elapsed() / runs;
    println!(
        "layout of {} labels: {per:?} per call ({} markers)",
        labels.len(),
        markers / runs as usize
    );
    if !cfg!(debug_assertions) {
        assert!(per < std::time::Duration::from_millis(1), "{per:?}");
    }
}

#[test]
fn the_label_budget_keeps_the_most_important_labels_full_and_the_rest_markers() {
    // 400 small labels on a grid that never overlap: only the budget limits them.
    let mut labels = Vec::new();
    for i in 0..400 {
        let (x, y) = ((i % 20) as f32, (i / 20) as f32);
        let state = match i % 50 {
            0 => SensorState::Alarm,
            1 => SensorState::Warning,
            _ => SensorState::Normal,
        };
        let mut l = label(Vec3::new(-9.5 + x, -5.5 + y * 0.58, -12.0), state, i % 7);
        l.size_px = [8.0, 8.0];
        labels.push(l);
    }
    let mut l = LabelLayout::new();
    assert_eq!(l.budget(), DEFAULT_LABEL_BUDGET);
    let unlimited = {
        l.set_budget(usize::MAX);
        l.layout(&labels, &view(), VIEWPORT).to_vec()
    };
    assert!(unlimited.iter().all(|p| p.visible && !p.as_marker));

    l.set_budget(30);
    let out = l.layout(&labels, &view(), VIEWPORT).to_vec();
    let full: Vec<usize> = (0..400).filter(|&i| !out[i].as_marker).collect();
    assert_eq!(full.len(), 30);
    assert!(
        out.iter().all(|p| p.visible),
        "past the budget labels are markers, not hidden"
    );
    // Alarms (8) and warnings (8) first, then the highest priority (6) among the normal ones.
    for i in (0..400).filter(|i| i % 50 < 2) {
        assert!(
            !out[i].as_marker,
            "label {i} ({:?}) is full",
            labels[i].state
        );
    }
    for &i in &full {
        assert!(
            labels[i].state != SensorState::Normal || labels[i].priority == 6,
            "label {i} has priority {}",
            labels[i].priority
        );
    }
    // Markers are marker-sized.
    assert!(
        out.iter()
            .filter(|p| p.as_marker)
            .all(|p| p.size_px == [MARKER_SIZE_PX; 2])
    );

    l.set_budget(4);
    let out = l.layout(&labels, &view(), VIEWPORT);
    let full_alarms = (0..400)
        .filter(|&i| !out[i].as_marker && labels[i].state == SensorState::Alarm)
        .count();
    assert_eq!(
        full_alarms, 4,
        "with more alarms than the budget, alarms fill it"
    );
}
