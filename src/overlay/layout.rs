//! Label placement for one view: project each label, size it for its distance, and declutter
//! so the most important labels stay readable while the rest shrink to markers.
//!
//! Screen coordinates are pixels with the origin at the viewport's top-left corner and y going
//! down (as in CSS and wgpu's framebuffer). A [`LabelLayout`] keeps its buffers between calls, so
//! once they have grown to the largest frame seen a layout allocates nothing; an XR frame calls
//! it once per eye (see [`LabelLayout::layout_matching`] to keep both eyes' decisions equal).

use glam::{Vec2, Vec3, Vec4};

use crate::camera::ViewMatrices;
use crate::overlay::state::SensorState;

/// Side of the icon-only marker a crowded label shrinks to, pixels.
pub const MARKER_SIZE_PX: f32 = 16.0;

/// Closer than this, labels no longer grow: a label in your face would hide the part.
pub const NEAR_DISTANCE_M: f32 = 0.5;

/// From this distance on, labels are at their smallest readable size.
pub const FAR_DISTANCE_M: f32 = 10.0;

/// Smallest label scale, relative to the wanted size: smaller text stops being readable.
pub const MIN_SCALE: f32 = 0.6;

/// Largest label side accepted, pixels; bounds the work one label can cause in the grid.
pub const MAX_LABEL_PX: f32 = 1024.0;

/// Smallest grid cell, pixels: about a short label's width, so a label touches few cells.
const MIN_CELL_PX: f32 = 64.0;

/// Most grid cells per axis; cells grow on very large viewports instead.
const MAX_GRID_CELLS: f32 = 256.0;

/// Points this close to the eye plane (clip w) count as behind the camera.
const MIN_CLIP_W: f32 = 1e-6;

const NONE: u32 = u32::MAX;

/// One label to place.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LabelInput {
    /// Where the label's centre goes, world space: the part's anchor plus the rules' offset
    /// ([`OverlayRules::label_position`](crate::overlay::rules::OverlayRules::label_position)).
    pub position: Vec3,
    /// The point on the part the label belongs to, world space; the leader line ends here.
    pub anchor: Vec3,
    /// The rules' priority; higher wins space among labels of the same state.
    pub priority: i32,
    /// The sensor's state; alarms always get their full label.
    pub state: SensorState,
    /// Wanted size at full scale (width, height), pixels.
    pub size_px: [f32; 2],
}

/// Where and how one label is drawn in this view.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placed {
    /// Whether to draw it at all (false behind the camera or outside the view).
    pub visible: bool,
    /// Centre of the label or marker, pixels from the top-left.
    pub screen_pos: [f32; 2],
    /// The anchor's screen position for the leader line (may lie off screen); `None` when the
    /// anchor is behind the camera, and then no line is drawn.
    pub anchor_px: Option<[f32; 2]>,
    /// Size factor for the label's contents, [`MIN_SCALE`]..=1, from its distance.
    pub scale: f32,
    /// Drawn as an icon-only marker because a more important label has the space.
    pub as_marker: bool,
    /// Size on screen, pixels: the wanted size times `scale`, or the marker size.
    pub size_px: [f32; 2],
    /// Depth of the label's centre in normalised device coordinates (0 near, 1 far), for
    /// depth-testing labels against the model.
    pub depth: f32,
    /// Distance from the eye to the label's centre, metres.
    pub distance: f32,
}

impl Placed {
    /// A label that is not drawn.
    pub const HIDDEN: Placed = Placed {
        visible: false,
        screen_pos: [0.0; 2],
        anchor_px: None,
        scale: 0.0,
        as_marker: false,
        size_px: [0.0; 2],
        depth: 0.0,
        distance: 0.0,
    };
}

/// Label scale for a label `distance_m` metres away: 1 up to [`NEAR_DISTANCE_M`], falling
/// with the logarithm of distance to [`MIN_SCALE`] at [`FAR_DISTANCE_M`] and beyond. Near
/// labels stay roughly the same size on screen; far ones shrink a little, which reads as depth.
pub fn label_scale(distance_m: f32) -> f32 {
    if distance_m.is_nan() || distance_m <= NEAR_DISTANCE_M {
        return 1.0;
    }
    let t =
        ((distance_m / NEAR_DISTANCE_M).ln() / (FAR_DISTANCE_M / NEAR_DISTANCE_M).ln()).min(1.0);
    1.0 - (1.0 - MIN_SCALE) * t
}

/// Screen rectangle, pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Rect {
    min: Vec2,
    max: Vec2,
}

impl Rect {
    fn centered(center: [f32; 2], size: [f32; 2]) -> Rect {
        let half = Vec2::from(size) * 0.5;
        let c = Vec2::from(center);
        Rect {
            min: c - half,
            max: c + half,
        }
    }

    /// Strict overlap: labels that only touch along an edge do not collide.
    fn overlaps(&self, o: &Rect) -> bool {
        self.min.x < o.max.x && o.min.x < self.max.x && self.min.y < o.max.y && o.min.y < self.max.y
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    rect: Rect,
    /// Next entry in the same cell, or `NONE`.
    next: u32,
}

/// Uniform grid over the viewport holding the full labels placed so far. Each cell is a
/// linked list threaded through one flat `entries` vector, so clearing is a fill and nothing
/// is allocated per cell.
#[derive(Debug, Clone, Default)]
struct Grid {
    cell: f32,
    cols: usize,
    rows: usize,
    heads: Vec<u32>,
    entries: Vec<Entry>,
}

impl Grid {
    fn reset(&mut self, viewport: [f32; 2]) {
        self.cell = MIN_CELL_PX
            .max(viewport[0] / MAX_GRID_CELLS)
            .max(viewport[1] / MAX_GRID_CELLS);
        self.cols = ((viewport[0] / self.cell).ceil() as usize).max(1);
        self.rows = ((viewport[1] / self.cell).ceil() as usize).max(1);
        self.heads.clear();
        self.heads.resize(self.cols * self.rows, NONE);
        self.entries.clear();
    }

    /// Cells the rectangle touches, clamped to the grid.
    fn cells(
        &self,
        r: &Rect,
    ) -> (
        std::ops::RangeInclusive<usize>,
        std::ops::RangeInclusive<usize>,
    ) {
        let to_cell = |v: f32, n: usize| ((v / self.cell).floor().max(0.0) as usize).min(n - 1);
        (
            to_cell(r.min.x, self.cols)..=to_cell(r.max.x, self.cols),
            to_cell(r.min.y, self.rows)..=to_cell(r.max.y, self.rows),
        )
    }

    fn overlaps_any(&self, r: &Rect) -> bool {
        let (xs, ys) = self.cells(r);
        for y in ys {
            for x in xs.clone() {
                let mut e = self.heads[y * self.cols + x];
                while let Some(entry) = self.entries.get(e as usize) {
                    if entry.rect.overlaps(r) {
                        return true;
                    }
                    e = entry.next;
                }
            }
        }
        false
    }

    fn insert(&mut self, r: Rect) {
        let (xs, ys) = self.cells(&r);
        for y in ys {
            for x in xs.clone() {
                let head = &mut self.heads[y * self.cols + x];
                self.entries.push(Entry {
                    rect: r,
                    next: *head,
                });
                *head = (self.entries.len() - 1) as u32;
            }
        }
    }
}

/// Lays out labels for one view at a time, reusing its buffers from call to call.
#[derive(Debug, Clone, Default)]
pub struct LabelLayout {
    placed: Vec<Placed>,
    /// Sort keys of the visible labels: severity, priority, distance, index.
    keys: Vec<u128>,
    /// Visible label indices, most important first.
    order: Vec<u32>,
    grid: Grid,
}

impl LabelLayout {
    /// An empty layout; buffers grow on first use.
    pub fn new() -> Self {
        Self::default()
    }

    /// Places `labels` in a view of `viewport` (width, height) pixels. The result has one entry
    /// per label, in input order.
    ///
    /// Labels are taken most important first: higher state severity (alarm, warning, stale,
    /// no data, normal), then higher priority, then nearer. Each is placed full size unless it
    /// overlaps a full label already placed, in which case it becomes a marker; alarms always
    /// stay full, even overlapping each other, because hiding an alarm is never right.
    pub fn layout(
        &mut self,
        labels: &[LabelInput],
        view: &ViewMatrices,
        viewport: [f32; 2],
    ) -> &[Placed] {
        if !self.project(labels, view, viewport) {
            return &self.placed;
        }
        self.grid.reset(viewport);
        for &i in &self.order {
            let (Some(p), Some(label)) = (self.placed.get_mut(i as usize), labels.get(i as usize))
            else {
                continue;
            };
            let rect = Rect::centered(p.screen_pos, p.size_px);
            if label.state != SensorState::Alarm && self.grid.overlaps_any(&rect) {
                p.as_marker = true;
                p.size_px = [MARKER_SIZE_PX; 2];
            } else {
                self.grid.insert(rect);
            }
        }
        &self.placed
    }

    /// Places `labels` in this view with the marker/full decisions and sizes of another view's
    /// layout (`decisions`, e.g. the left eye's), recomputing only positions and depth. Both
    /// eyes of a stereo pair then show the same labels the same size, which the eyes can fuse;
    /// a label outside this view is still hidden. Falls back to [`Self::layout`] when
    /// `decisions` has a different length.
    pub fn layout_matching(
        &mut self,
        decisions: &[Placed],
        labels: &[LabelInput],
        view: &ViewMatrices,
        viewport: [f32; 2],
    ) -> &[Placed] {
        if decisions.len() != labels.len() {
            return self.layout(labels, view, viewport);
        }
        self.project(labels, view, viewport);
        for (p, d) in self.placed.iter_mut().zip(decisions) {
            if !d.visible {
                *p = Placed::HIDDEN;
            } else if p.visible {
                p.as_marker = d.as_marker;
                p.scale = d.scale;
                p.size_px = d.size_px;
            }
        }
        &self.placed
    }

    /// The last layout's result, in input order.
    pub fn placed(&self) -> &[Placed] {
        &self.placed
    }

    /// Indices of the labels visible in the last layout, most important first; draw in
    /// reverse so the most important label ends up on top.
    pub fn order(&self) -> &[u32] {
        &self.order
    }

    /// Projects every label, sets full-size placement and sorts the visible ones by
    /// importance. Returns false when the viewport is unusable (everything hidden).
    fn project(&mut self, labels: &[LabelInput], view: &ViewMatrices, viewport: [f32; 2]) -> bool {
        self.placed.clear();
        self.keys.clear();
        self.order.clear();
        let [w, h] = viewport;
        if !(w.is_finite() && h.is_finite() && w >= 1.0 && h >= 1.0) {
            self.placed.resize(labels.len(), Placed::HIDDEN);
            return false;
        }
        let view_proj = view.proj * view.view;
        let to_screen = |ndc: Vec3| [(ndc.x * 0.5 + 0.5) * w, (0.5 - ndc.y * 0.5) * h];
        for (i, label) in labels.iter().enumerate() {
            let clip = view_proj * label.position.extend(1.0);
            let Some(ndc) = in_view(clip) else {
                self.placed.push(Placed::HIDDEN);
                continue;
            };
            let anchor = view_proj * label.anchor.extend(1.0);
            let anchor_px = (anchor.w > MIN_CLIP_W)
                .then(|| to_screen(anchor.truncate() / anchor.w))
                .filter(|p| p.iter().all(|v| v.is_finite()));
            let distance = (label.position - view.eye).length();
            let scale = label_scale(distance);
            let size = label.size_px.map(|s| {
                if s.is_finite() {
                    s.clamp(0.0, MAX_LABEL_PX)
                } else {
                    0.0
                }
            });
            self.placed.push(Placed {
                visible: true,
                screen_pos: to_screen(ndc),
                anchor_px,
                scale,
                as_marker: false,
                size_px: size.map(|s| s * scale),
                depth: ndc.z,
                distance,
            });
            self.keys.push(sort_key(label, distance, i as u32));
        }
        // Keys pack every criterion and the index, so an unstable sort is deterministic.
        self.keys.sort_unstable();
        self.order.extend(self.keys.iter().map(|k| *k as u32));
        true
    }
}

/// Normalised device coordinates of a clip-space point inside the view volume (wgpu depth
/// 0..1), or `None` behind the camera, outside the frustum, or NaN.
fn in_view(clip: Vec4) -> Option<Vec3> {
    if clip.w.is_nan() || clip.w <= MIN_CLIP_W {
        return None;
    }
    let ndc = clip.truncate() / clip.w;
    let inside = (-1.0..=1.0).contains(&ndc.x)
        && (-1.0..=1.0).contains(&ndc.y)
        && (0.0..=1.0).contains(&ndc.z);
    inside.then_some(ndc)
}

/// Ascending order = most important first: severity descending, priority descending,
/// distance ascending, then input index.
fn sort_key(label: &LabelInput, distance: f32, index: u32) -> u128 {
    let severity_desc = u128::from(4 - label.state.severity().min(4));
    let priority_desc = (i64::from(i32::MAX) - i64::from(label.priority)) as u128;
    // Non-negative finite floats order like their bit patterns.
    let distance_bits = if distance.is_finite() {
        distance.max(0.0).to_bits()
    } else {
        f32::MAX.to_bits()
    };
    severity_desc << 96 | priority_desc << 64 | u128::from(distance_bits) << 32 | u128::from(index)
}

#[cfg(test)]
mod tests {
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
}
