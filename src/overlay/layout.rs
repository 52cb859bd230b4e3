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

/// Full labels a view shows at most by default; the rest are markers, so 10,000 sensors never
/// mean 10,000 text blocks.
pub const DEFAULT_LABEL_BUDGET: usize = 150;

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
#[derive(Debug, Clone)]
pub struct LabelLayout {
    /// Most full labels per view.
    budget: usize,
    placed: Vec<Placed>,
    /// Sort keys of the visible labels: severity, priority, distance, index.
    keys: Vec<u128>,
    /// Visible label indices, most important first.
    order: Vec<u32>,
    grid: Grid,
}

impl Default for LabelLayout {
    fn default() -> Self {
        Self {
            budget: DEFAULT_LABEL_BUDGET,
            placed: Vec::new(),
            keys: Vec::new(),
            order: Vec::new(),
            grid: Grid::default(),
        }
    }
}

impl LabelLayout {
    /// An empty layout with the default label budget; buffers grow on first use.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the most full labels one view shows ([`DEFAULT_LABEL_BUDGET`] unless set); past
    /// it, labels become markers in importance order.
    pub fn set_budget(&mut self, budget: usize) {
        self.budget = budget;
    }

    /// The most full labels one view shows.
    pub fn budget(&self) -> usize {
        self.budget
    }

    /// Places `labels` in a view of `viewport` (width, height) pixels. The result has one entry
    /// per label, in input order.
    ///
    /// Labels are taken most important first: higher state severity (alarm, warning, stale,
    /// no data, normal), then higher priority, then nearer. Each is placed full size unless it
    /// overlaps a full label already placed or the view's budget of full labels is spent, in
    /// which case it becomes a marker; alarms stay full even overlapping each other, because
    /// hiding an alarm is never right (past the budget they too are markers, which still show
    /// the alarm icon).
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
        let mut full = 0;
        for &i in &self.order {
            let (Some(p), Some(label)) = (self.placed.get_mut(i as usize), labels.get(i as usize))
            else {
                continue;
            };
            let rect = Rect::centered(p.screen_pos, p.size_px);
            if full >= self.budget
                || (label.state != SensorState::Alarm && self.grid.overlaps_any(&rect))
            {
                p.as_marker = true;
                p.size_px = [MARKER_SIZE_PX; 2];
            } else {
                full += 1;
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
mod tests;
