//! What the overlay shows, as plain data, and how it becomes GPU instances for each view.
//!
//! The glue fills an [`OverlayFrame`] from the sensor states whenever they change (a few times
//! a second). An [`OverlayScene`] keeps a copy and, once per rendered view, lays the labels out
//! for that view's matrices and viewport ([`LabelLayout`]) and writes the instances the overlay
//! shader draws: leader lines first, then labels from least to most important, so one
//! instanced draw paints them in the right order. Everything here is pure and host-tested; the
//! renderer only uploads `out` and issues the draw.
//!
//! Sizes are pixels of the target at "scale 1"; a view's `pixel_scale` (device pixels per CSS
//! pixel, or an XR eye's equivalent) multiplies them.

use bytemuck::{Pod, Zeroable};

use crate::camera::ViewMatrices;
use crate::overlay::layout::{LabelInput, LabelLayout, MARKER_SIZE_PX, Placed};
use crate::overlay::state::{Icon, SensorState, StateStyle};
use crate::overlay::text::{Font, GlyphQuad};

mod levels;
pub use levels::{LevelKind, MAX_SPARK_LEVELS, SparkLevel, SparkLevels};

/// Most sparkline points kept per label; older points are dropped.
pub const MAX_SPARK_POINTS: usize = 64;

/// Instance kind: rounded backing plate with a border in the state colour.
pub const KIND_PLATE: u32 = 0;
/// Instance kind: one SDF glyph.
pub const KIND_GLYPH: u32 = 1;
/// Instance kind: a procedural state icon (shape in bits 8..16).
pub const KIND_ICON: u32 = 2;
/// Instance kind: a line segment with round caps (leader lines, sparklines, their levels).
pub const KIND_LINE: u32 = 3;
/// Bit position of the icon shape in [`OverlayInstance::kind`].
pub const SHAPE_SHIFT: u32 = 8;
/// Flag: pulses with the overlay clock (live alarms).
pub const FLAG_PULSE: u32 = 1 << 16;
/// Flag (icons): draw a dark disc behind the icon, as markers do.
pub const FLAG_BACKING: u32 = 1 << 17;
/// Flag (lines): a dark outline around the line, for lines drawn over the scene (leaders);
/// a sparkline on its dark plate needs none, and its joints would show the outline.
pub const FLAG_OUTLINE: u32 = 1 << 18;

/// The shape code the overlay shader draws for `icon`.
pub fn shape_code(icon: Icon) -> u32 {
    match icon {
        Icon::Dot => 0,
        Icon::Triangle => 1,
        Icon::Octagon => 2,
        Icon::Clock => 3,
        Icon::Dash => 4,
    }
}

/// Sub-pixel units of the lengths in [`OverlayInstance::aux`]: 1/16 pixel, up to 4096 pixels.
pub const LENGTH_UNITS_PER_PX: f32 = 16.0;

/// One quad the overlay shader draws; mirrors `OverlayInstance` in `shaders/overlay.wgsl`
/// (vertex attributes, instance step). 32 bytes: a frame of many labels uploads tens of
/// thousands of these per view, so every byte counts.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct OverlayInstance {
    /// Pixels from the viewport's top-left: the quad (x0, y0, x1, y1), or for lines the two
    /// end points.
    pub geom: [f32; 4],
    /// Glyphs: the atlas rectangle (x0, y0, x1, y1), atlas pixels. Plates: corner radius and
    /// border width; lines: width; in [`LENGTH_UNITS_PER_PX`] units. Unused otherwise.
    pub aux: [u16; 4],
    /// Linear RGBA, straight alpha: text colour, border colour, icon or line colour.
    pub color: [u8; 4],
    /// Kind (bits 0..8), icon shape (8..16) and flags ([`FLAG_PULSE`], [`FLAG_BACKING`],
    /// [`FLAG_OUTLINE`]).
    pub kind: u32,
}

impl OverlayInstance {
    /// A quad (or line) of `kind` without atlas rectangle or lengths.
    fn new(geom: [f32; 4], color: [u8; 4], kind: u32) -> Self {
        Self {
            geom,
            aux: [0; 4],
            color,
            kind,
        }
    }

    /// With lengths `a` and `b` in pixels (see [`Self::aux`]).
    fn with_lengths(mut self, a: f32, b: f32) -> Self {
        self.aux[0] = length_units(a);
        self.aux[1] = length_units(b);
        self
    }

    /// This instance of a label laid out at scale 1 around the origin, placed at `center` and
    /// scaled by `k`.
    fn placed(&self, center: [f32; 2], k: f32) -> Self {
        let g = self.geom;
        let aux = if self.kind & 0xFF == KIND_GLYPH {
            self.aux
        } else {
            let scale = |v: u16| (f32::from(v) * k).round().min(f32::from(u16::MAX)) as u16;
            [scale(self.aux[0]), scale(self.aux[1]), 0, 0]
        };
        Self {
            geom: [
                center[0] + g[0] * k,
                center[1] + g[1] * k,
                center[0] + g[2] * k,
                center[1] + g[3] * k,
            ],
            aux,
            ..*self
        }
    }
}

/// `px` in [`LENGTH_UNITS_PER_PX`] units, saturating (NaN reads as 0).
fn length_units(px: f32) -> u16 {
    (px * LENGTH_UNITS_PER_PX)
        .round()
        .clamp(0.0, f32::from(u16::MAX)) as u16
}

/// One label to show, borrowed while it is pushed into an [`OverlayFrame`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OverlayLabel<'a> {
    /// Placement input. `size_px` is ignored: the scene sizes each label from its text, so
    /// the box the layout declutters is exactly the plate that is drawn.
    pub input: LabelInput,
    /// First line: the sensor's name.
    pub name: &'a str,
    /// Second line: the value with its unit (and status word, if the glue adds one).
    pub value: &'a str,
    /// Third line when the reading is not live ("12 s ago"); `None` hides the line.
    pub age: Option<&'a str>,
    /// Colour, icon and pulse of the label's state.
    pub style: StateStyle,
    /// Recent history, oldest first, each normalised to 0..=1 (NaN: a gap). Fewer than two
    /// points hide the sparkline; only the last [`MAX_SPARK_POINTS`] are kept.
    pub sparkline: &'a [f32],
    /// Threshold levels to mark across the sparkline, on the same 0..=1 scale as its points;
    /// levels outside 0..=1 (or not finite) are not drawn, nor any without a sparkline.
    pub spark_levels: SparkLevels,
}

/// Where one label's strings and points live in the frame's shared buffers.
#[derive(Debug, Clone, Copy, PartialEq)]
struct FrameEntry {
    name: (u32, u32),
    value: (u32, u32),
    age: Option<(u32, u32)>,
    spark: (u32, u32),
    spark_levels: SparkLevels,
    style: StateStyle,
}

/// Every label of one overlay update, stored flat (one string and one point buffer shared by
/// all labels) so that refilling a cleared frame allocates nothing once it has grown.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OverlayFrame {
    inputs: Vec<LabelInput>,
    entries: Vec<FrameEntry>,
    text: String,
    spark: Vec<f32>,
}

impl OverlayFrame {
    /// An empty frame.
    pub fn new() -> Self {
        Self::default()
    }

    /// Removes every label, keeping the buffers for the next fill.
    pub fn clear(&mut self) {
        self.inputs.clear();
        self.entries.clear();
        self.text.clear();
        self.spark.clear();
    }

    /// Adds a label (copying its text and points).
    pub fn push(&mut self, label: OverlayLabel<'_>) {
        let mut add = |s: &str| {
            let start = self.text.len();
            self.text.push_str(s);
            // Offsets stay below 4 GiB: a frame holds a few thousand short labels.
            (start as u32, self.text.len() as u32)
        };
        let name = add(label.name);
        let value = add(label.value);
        let age = label.age.map(add);
        let points = &label.sparkline[label.sparkline.len().saturating_sub(MAX_SPARK_POINTS)..];
        let start = self.spark.len() as u32;
        self.spark.extend_from_slice(points);
        self.inputs.push(label.input);
        self.entries.push(FrameEntry {
            name,
            value,
            age,
            spark: (start, self.spark.len() as u32),
            spark_levels: label.spark_levels,
            style: label.style,
        });
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the frame has no labels.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The label at `index`, as pushed (with the sparkline capped).
    pub fn get(&self, index: usize) -> Option<OverlayLabel<'_>> {
        let e = self.entries.get(index)?;
        Some(OverlayLabel {
            input: *self.inputs.get(index)?,
            name: self.str_at(e.name),
            value: self.str_at(e.value),
            age: e.age.map(|r| self.str_at(r)),
            style: e.style,
            sparkline: self
                .spark
                .get(e.spark.0 as usize..e.spark.1 as usize)
                .unwrap_or(&[]),
            spark_levels: e.spark_levels,
        })
    }

    fn str_at(&self, (a, b): (u32, u32)) -> &str {
        self.text.get(a as usize..b as usize).unwrap_or("")
    }
}

// Label anatomy at scale 1, pixels. The icon sits left of the name; value, age and sparkline
// rows follow below.
const PAD_X: f32 = 8.0;
const PAD_Y: f32 = 6.0;
const ICON_PX: f32 = 14.0;
const ICON_GAP: f32 = 5.0;
const NAME_PX: f32 = 13.0;
const VALUE_PX: f32 = 20.0;
const AGE_PX: f32 = 12.0;
const ROW_GAP: f32 = 1.0;
const SPARK_H: f32 = 18.0;
const SPARK_GAP: f32 = 4.0;
const SPARK_MIN_W: f32 = 72.0;
const SPARK_LINE_W: f32 = 1.5;
const SPARK_DOT_PX: f32 = 6.0;
/// Threshold level lines: thinner than the trend and slightly translucent, so the trend reads
/// first and the level as a reference behind it.
const SPARK_LEVEL_W: f32 = 1.0;
const SPARK_LEVEL_ALPHA: u8 = 200;
/// Longer lines are cut with an ellipsis: a label must not cover the room.
const MAX_TEXT_W: f32 = 260.0;
const CORNER_R: f32 = 6.0;
const BORDER_W: f32 = 1.5;
const LEADER_W: f32 = 1.5;
const MARKER_LEADER_W: f32 = 1.0;
const ANCHOR_DOT_PX: f32 = 7.0;

// Linear text colours: the value reads first, the name second, the age last.
const VALUE_RGBA: [u8; 4] = [255, 255, 255, 255];
const NAME_RGBA: [u8; 4] = [158, 163, 168, 255];
const AGE_RGBA: [u8; 4] = [100, 104, 108, 255];

/// Linear RGBA 0..=1 to bytes.
fn rgba8(c: [f32; 4]) -> [u8; 4] {
    c.map(|v| {
        if v.is_finite() {
            (v.clamp(0.0, 1.0) * 255.0).round() as u8
        } else {
            0
        }
    })
}

/// `rgba` with alpha `a`.
fn with_alpha(mut rgba: [u8; 4], a: u8) -> [u8; 4] {
    rgba[3] = a;
    rgba
}

/// What one view drew.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ViewCounts {
    /// Full labels drawn.
    pub labels: u32,
    /// Labels drawn as icon-only markers.
    pub markers: u32,
    /// Instances written.
    pub instances: u32,
}

/// A label's measured box and, once drawn full size, its instances at scale 1.
#[derive(Debug, Clone, Copy, Default)]
struct LabelCache {
    size: [f32; 2],
    /// Range in `OverlayScene::local`; `None` until the label is first drawn full size (most
    /// labels of a crowded scene are only ever markers, so they never pay for their text).
    local: Option<(u32, u32)>,
}

/// The overlay's CPU side: the current frame, per-view layouts and reusable buffers.
#[derive(Debug, Clone)]
pub struct OverlayScene<'f> {
    font: &'f Font,
    frame: OverlayFrame,
    /// The frame's inputs with sizes measured from the text, scale 1.
    inputs: Vec<LabelInput>,
    /// `inputs` with sizes times the view's pixel scale.
    scaled: Vec<LabelInput>,
    cache: Vec<LabelCache>,
    local: Vec<OverlayInstance>,
    layouts: Vec<LabelLayout>,
    quads: Vec<GlyphQuad>,
    animating: bool,
}

impl<'f> OverlayScene<'f> {
    /// An empty scene drawing text with `font`.
    pub fn new(font: &'f Font) -> Self {
        Self {
            font,
            frame: OverlayFrame::new(),
            inputs: Vec::new(),
            scaled: Vec::new(),
            cache: Vec::new(),
            local: Vec::new(),
            layouts: Vec::new(),
            quads: Vec::new(),
            animating: false,
        }
    }

    /// Replaces the labels with `frame`'s (copied; buffers are reused) and measures them.
    pub fn set_frame(&mut self, frame: &OverlayFrame) {
        self.frame.clone_from(frame);
        self.local.clear();
        self.cache.clear();
        self.inputs.clear();
        self.animating = false;
        for (input, e) in frame.inputs.iter().zip(&frame.entries) {
            let size = self.measure(e);
            self.cache.push(LabelCache { size, local: None });
            self.inputs.push(LabelInput {
                size_px: size,
                ..*input
            });
            self.animating |= e.style.pulse;
        }
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.inputs.len()
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty()
    }

    /// Whether some label pulses, so the view must keep redrawing.
    pub fn animating(&self) -> bool {
        self.animating
    }

    /// The layout inputs, with sizes measured from the text (scale 1).
    pub fn inputs(&self) -> &[LabelInput] {
        &self.inputs
    }

    /// The placements of view `view_index`'s last [`Self::build_view`], in label order, and
    /// the visible labels most important first (for picking what was drawn).
    pub fn placed(&self, view_index: usize) -> (&[Placed], &[u32]) {
        self.layouts
            .get(view_index)
            .map_or((&[], &[]), |l| (l.placed(), l.order()))
    }

    /// Lays out the labels for one view and appends its instances to `out`.
    ///
    /// View 0 decides which labels are full and which are markers; other views (the second
    /// eye) reuse those decisions via [`LabelLayout::layout_matching`] so both eyes agree.
    /// `viewport` is the view's size in pixels; `pixel_scale` multiplies every size. Allocates
    /// nothing once the buffers have grown, except the first time a label is drawn full size
    /// after [`Self::set_frame`].
    pub fn build_view(
        &mut self,
        view_index: usize,
        view: &ViewMatrices,
        viewport: [f32; 2],
        pixel_scale: f32,
        out: &mut Vec<OverlayInstance>,
    ) -> ViewCounts {
        let ps = if pixel_scale.is_finite() {
            pixel_scale.clamp(0.25, 8.0)
        } else {
            1.0
        };
        let inputs: &[LabelInput] = if ps == 1.0 {
            &self.inputs
        } else {
            self.scaled.clear();
            self.scaled.extend(self.inputs.iter().map(|i| LabelInput {
                size_px: i.size_px.map(|s| s * ps),
                ..*i
            }));
            &self.scaled
        };
        while self.layouts.len() <= view_index {
            self.layouts.push(LabelLayout::new());
        }
        let layout = if view_index == 0 {
            self.layouts[0].layout(inputs, view, viewport);
            &self.layouts[0]
        } else {
            let (first, rest) = self.layouts.split_at_mut(1);
            let this = &mut rest[view_index - 1];
            this.layout_matching(first[0].placed(), inputs, view, viewport);
            &*this
        };
        let (placed, order) = (layout.placed(), layout.order());

        let start = out.len();
        let mut counts = ViewCounts::default();
        // Leader lines under every label.
        for &i in order.iter().rev() {
            let (Some(p), Some(e)) = (placed.get(i as usize), self.frame.entries.get(i as usize))
            else {
                continue;
            };
            push_leader(p, e.style, ps, out);
        }
        // Labels, least important first: the most important ends up on top.
        for &i in order.iter().rev() {
            let i = i as usize;
            let (Some(p), Some(e)) = (placed.get(i), self.frame.entries.get(i)) else {
                continue;
            };
            let pulse = if e.style.pulse { FLAG_PULSE } else { 0 };
            let center = p.screen_pos.map(f32::round);
            if p.as_marker {
                let h = MARKER_SIZE_PX * 0.5 * ps;
                out.push(OverlayInstance::new(
                    [center[0] - h, center[1] - h, center[0] + h, center[1] + h],
                    rgba8(e.style.color),
                    KIND_ICON | shape_code(e.style.icon) << SHAPE_SHIFT | FLAG_BACKING | pulse,
                ));
                counts.markers += 1;
                continue;
            }
            let Some(cache) = self.cache.get_mut(i) else {
                continue;
            };
            let (a, b) = match cache.local {
                Some(r) => r,
                None => {
                    let a = self.local.len() as u32;
                    build_label(
                        self.font,
                        &self.frame,
                        e,
                        self.inputs[i].state,
                        cache.size,
                        &mut self.quads,
                        &mut self.local,
                    );
                    let r = (a, self.local.len() as u32);
                    cache.local = Some(r);
                    r
                }
            };
            let k = p.scale * ps;
            out.extend(
                self.local[a as usize..b as usize]
                    .iter()
                    .map(|inst| inst.placed(center, k)),
            );
            counts.labels += 1;
        }
        counts.instances = (out.len() - start) as u32;
        counts
    }

    /// The label's size at scale 1, from its text.
    fn measure(&self, e: &FrameEntry) -> [f32; 2] {
        let f = self.font;
        let text = |r| self.frame.str_at(r);
        let name_w = ICON_PX + ICON_GAP + f.line_width(text(e.name), NAME_PX, MAX_TEXT_W);
        let value_w = f.line_width(text(e.value), VALUE_PX, MAX_TEXT_W);
        let age_w = e
            .age
            .map_or(0.0, |r| f.line_width(text(r), AGE_PX, MAX_TEXT_W));
        let spark = has_sparkline(&self.frame, e);
        let inner_w = name_w
            .max(value_w)
            .max(age_w)
            .max(if spark { SPARK_MIN_W } else { 0.0 });
        let rows = Rows::new(f, e.age.is_some(), spark);
        [(inner_w + 2.0 * PAD_X).ceil(), rows.height.ceil()]
    }
}

/// Whether the label has at least two points to draw a line through.
fn has_sparkline(frame: &OverlayFrame, e: &FrameEntry) -> bool {
    let points = frame
        .spark
        .get(e.spark.0 as usize..e.spark.1 as usize)
        .unwrap_or(&[]);
    points.iter().filter(|v| v.is_finite()).nth(1).is_some()
}

/// Vertical positions inside a label, from its top edge, scale 1.
struct Rows {
    /// Height of the icon + name row.
    name_h: f32,
    /// Top of the value row.
    value_y: f32,
    /// Top of the age row.
    age_y: f32,
    /// Top of the sparkline.
    spark_y: f32,
    /// Whole label height.
    height: f32,
}

impl Rows {
    fn new(font: &Font, age: bool, spark: bool) -> Self {
        let lh = |size: f32| (font.ascent() - font.descent()) * size;
        let name_h = ICON_PX.max(lh(NAME_PX));
        let value_y = PAD_Y + name_h + ROW_GAP;
        let mut y = value_y + lh(VALUE_PX);
        let age_y = y + ROW_GAP;
        if age {
            y = age_y + lh(AGE_PX);
        }
        let spark_y = y + SPARK_GAP;
        if spark {
            y = spark_y + SPARK_H;
        }
        Self {
            name_h,
            value_y,
            age_y,
            spark_y,
            height: y + PAD_Y,
        }
    }
}

/// The leader line (and anchor dot) from a visible label to its anchor, starting at the
/// label's edge so it never shows through the translucent plate.
fn push_leader(p: &Placed, style: StateStyle, ps: f32, out: &mut Vec<OverlayInstance>) {
    let Some(anchor) = p.anchor_px else { return };
    let c = p.screen_pos.map(f32::round);
    let d = [anchor[0] - c[0], anchor[1] - c[1]];
    let half = p.size_px.map(|s| s * 0.5);
    // Where the centre-to-anchor ray leaves the label's box (or the marker's circle).
    let exit = if p.as_marker {
        half[0] / (d[0] * d[0] + d[1] * d[1]).sqrt().max(1e-6)
    } else {
        let tx = if d[0].abs() > 1e-6 {
            half[0] / d[0].abs()
        } else {
            f32::INFINITY
        };
        let ty = if d[1].abs() > 1e-6 {
            half[1] / d[1].abs()
        } else {
            f32::INFINITY
        };
        tx.min(ty)
    };
    if exit.is_nan() || exit >= 1.0 {
        return; // anchor inside the label (or NaN): nothing to point at
    }
    let from = [c[0] + d[0] * exit, c[1] + d[1] * exit];
    let (width, alpha) = if p.as_marker {
        (MARKER_LEADER_W, 150)
    } else {
        (LEADER_W, 220)
    };
    let color = with_alpha(rgba8(style.color), alpha);
    out.push(
        OverlayInstance::new(
            [from[0], from[1], anchor[0], anchor[1]],
            color,
            KIND_LINE | FLAG_OUTLINE,
        )
        .with_lengths(width * ps, 0.0),
    );
    let h = ANCHOR_DOT_PX * 0.5 * ps;
    out.push(OverlayInstance::new(
        [anchor[0] - h, anchor[1] - h, anchor[0] + h, anchor[1] + h],
        color,
        KIND_ICON | shape_code(Icon::Dot) << SHAPE_SHIFT,
    ));
}

/// Appends one full label's instances at scale 1, centred on the origin: plate, sparkline
/// (threshold level lines, trend segments, end dot), icon, then text, so text is painted last.
fn build_label(
    font: &Font,
    frame: &OverlayFrame,
    e: &FrameEntry,
    state: SensorState,
    size: [f32; 2],
    quads: &mut Vec<GlyphQuad>,
    out: &mut Vec<OverlayInstance>,
) {
    let [w, h] = size;
    let (x0, y0) = (-w * 0.5, -h * 0.5);
    let pulse = if e.style.pulse { FLAG_PULSE } else { 0 };
    let accent = rgba8(e.style.color);
    // A white border on every normal label would shout; keep it faint so colour means news.
    let border = if state == SensorState::Normal {
        with_alpha(accent, 90)
    } else {
        accent
    };
    out.push(
        OverlayInstance::new([x0, y0, x0 + w, y0 + h], border, KIND_PLATE | pulse)
            .with_lengths(CORNER_R, BORDER_W),
    );

    let spark = has_sparkline(frame, e);
    let rows = Rows::new(font, e.age.is_some(), spark);
    let left = x0 + PAD_X;
    if spark {
        let points = frame
            .spark
            .get(e.spark.0 as usize..e.spark.1 as usize)
            .unwrap_or(&[]);
        let (sx, sw) = (left, w - 2.0 * PAD_X);
        let sy = y0 + rows.spark_y;
        // Opaque: overlapping round caps at the joints would otherwise show as beads.
        let color = if state == SensorState::Normal {
            [190, 196, 202, 255]
        } else {
            with_alpha(accent, 255)
        };
        // Threshold levels first, so the trend is drawn over them.
        for level in e.spark_levels.as_slice() {
            if !(0.0..=1.0).contains(&level.at) {
                continue;
            }
            let y = sy + SPARK_H * (1.0 - level.at);
            let c = with_alpha(rgba8(level.kind.state().style().color), SPARK_LEVEL_ALPHA);
            out.push(
                OverlayInstance::new([sx, y, sx + sw, y], c, KIND_LINE)
                    .with_lengths(SPARK_LEVEL_W, 0.0),
            );
        }
        let n = points.len();
        let at = |i: usize, v: f32| {
            [
                sx + sw * i as f32 / (n - 1) as f32,
                sy + SPARK_H * (1.0 - v.clamp(0.0, 1.0)),
            ]
        };
        let mut last = None;
        for (i, pair) in points.windows(2).enumerate() {
            if pair[0].is_finite() && pair[1].is_finite() {
                let (a, b) = (at(i, pair[0]), at(i + 1, pair[1]));
                out.push(
                    OverlayInstance::new([a[0], a[1], b[0], b[1]], color, KIND_LINE)
                        .with_lengths(SPARK_LINE_W, 0.0),
                );
            }
        }
        if let Some((i, v)) = points.iter().enumerate().rev().find(|(_, v)| v.is_finite()) {
            last = Some(at(i, *v));
        }
        if let Some(p) = last {
            let r = SPARK_DOT_PX * 0.5;
            out.push(OverlayInstance::new(
                [p[0] - r, p[1] - r, p[0] + r, p[1] + r],
                color,
                KIND_ICON | shape_code(Icon::Dot) << SHAPE_SHIFT,
            ));
        }
    }

    let name_top = y0 + PAD_Y;
    let icon_cy = name_top + rows.name_h * 0.5;
    let r = ICON_PX * 0.5;
    out.push(OverlayInstance::new(
        [left, icon_cy - r, left + ICON_PX, icon_cy + r],
        accent,
        KIND_ICON | shape_code(e.style.icon) << SHAPE_SHIFT | pulse,
    ));

    let lh = |size: f32| (font.ascent() - font.descent()) * size;
    let mut line = |text: &str, size: f32, x: f32, top: f32, color: [u8; 4]| {
        quads.clear();
        font.layout_line_into(text, size, MAX_TEXT_W, quads);
        let baseline = top + font.ascent() * size;
        out.extend(quads.iter().map(|q| OverlayInstance {
            geom: [
                x + q.min[0],
                baseline + q.min[1],
                x + q.max[0],
                baseline + q.max[1],
            ],
            aux: q.atlas,
            color,
            kind: KIND_GLYPH,
        }));
    };
    let name_line_top = name_top + (rows.name_h - lh(NAME_PX)) * 0.5;
    line(
        frame.str_at(e.name),
        NAME_PX,
        left + ICON_PX + ICON_GAP,
        name_line_top,
        NAME_RGBA,
    );
    line(
        frame.str_at(e.value),
        VALUE_PX,
        left,
        y0 + rows.value_y,
        VALUE_RGBA,
    );
    if let Some(age) = e.age {
        line(frame.str_at(age), AGE_PX, left, y0 + rows.age_y, AGE_RGBA);
    }
}

#[cfg(test)]
mod tests;
