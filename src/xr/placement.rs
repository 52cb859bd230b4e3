//! AR placement: where the twin stands in the room, how the user puts it there (hit-test reticle,
//! then select), how gestures adjust it, and how it is remembered between sessions.
//!
//! A placement is always upright: only a position, a heading (yaw) and a scale. Hit-test poses
//! carry the surface's tilt and noise, and a twin that leans with them looks broken, so only the
//! hit's position is used and the heading comes from where the viewer stands.

use std::f32::consts::PI;

use glam::{Mat4, Quat, Vec2, Vec3};
use serde::{Deserialize, Serialize};

use crate::model::Aabb;

/// Edge length a tabletop twin is fitted into, metres.
pub const TABLETOP_SIZE_M: f32 = 0.5;
/// Storage format version written into every stored placement.
const STORED_VERSION: u32 = 1;
/// Longest persistent-anchor handle accepted from storage (Quest uses 36-char UUIDs).
const MAX_ANCHOR_HANDLE: usize = 128;

/// How big the twin is shown.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScaleMode {
    /// Life size: one model metre is one room metre (for overlaying the real asset).
    OneToOne,
    /// A miniature on a table: model metres times `factor`.
    Tabletop {
        /// Uniform scale, > 0.
        factor: f32,
    },
}

impl ScaleMode {
    /// A tabletop scale that fits `bounds` into [`TABLETOP_SIZE_M`] along its largest edge.
    /// Empty or non-finite bounds give a factor of 1, so a broken model still shows up.
    pub fn tabletop_for(bounds: Aabb) -> ScaleMode {
        let size = bounds.max - bounds.min;
        let largest = size.max_element();
        let factor = if largest.is_finite() && largest > 1e-6 {
            TABLETOP_SIZE_M / largest
        } else {
            1.0
        };
        ScaleMode::Tabletop { factor }
    }

    /// The uniform scale factor.
    pub fn factor(&self) -> f32 {
        match self {
            ScaleMode::OneToOne => 1.0,
            ScaleMode::Tabletop { factor } => *factor,
        }
    }
}

/// Where and how the twin stands: twin space → world (reference) space is
/// `translate(position) · rotate_y(yaw) · scale · translate(-pivot)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    /// Where the pivot stands in the world, metres.
    pub position: Vec3,
    /// Heading about +Y, radians, kept in (-π, π].
    pub yaw: f32,
    /// The twin-space point put on the surface: the centre of the footprint at the bottom of
    /// the bounds, so the twin stands on the floor or table rather than sinking into it.
    pub pivot: Vec3,
    /// Display scale.
    pub scale: ScaleMode,
}

/// Why a placement could not be made or restored.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlacementError {
    /// A pose or value held NaN or infinity.
    #[error("{what} is not a finite number; place the twin again")]
    NonFinite {
        /// Which value (for the message).
        what: &'static str,
    },
    /// A tabletop factor was zero or negative.
    #[error("stored scale {factor} must be positive; place the twin again")]
    BadScale {
        /// The offending factor.
        factor: f32,
    },
    /// The stored text is not a placement of this version.
    #[error("stored placement is unreadable ({reason}); place the twin again")]
    Unreadable {
        /// What the parser reported.
        reason: String,
    },
    /// The stored anchor handle is not a plausible handle.
    #[error("stored anchor handle is invalid; place the twin again")]
    BadAnchorHandle,
}

/// Pivot for a twin with `bounds`: footprint centre, on the bottom face.
pub fn pivot_for(bounds: Aabb) -> Vec3 {
    let c = bounds.center();
    let p = Vec3::new(c.x, bounds.min.y, c.z);
    if p.is_finite() { p } else { Vec3::ZERO }
}

/// Wraps an angle into (-π, π] so repeated gestures never grow it without bound.
pub fn wrap_angle(a: f32) -> f32 {
    // In range already: return it untouched, so wrapping never adds rounding error.
    if a > -PI && a <= PI {
        return a;
    }
    let w = (a + PI).rem_euclid(2.0 * PI) - PI;
    if w <= -PI { w + 2.0 * PI } else { w }
}

/// Heading of a viewer pose (`XRViewerPose.transform.matrix`): the yaw of its forward (-Z)
/// direction projected onto the floor. Looking along -Z is yaw 0. Looking straight down, the
/// projection is degenerate; the top of the head then points where they face (or away, when
/// looking straight up).
pub fn viewer_yaw(viewer: Mat4) -> f32 {
    let forward = -viewer.z_axis.truncate();
    let dir = if forward.x.hypot(forward.z) > 1e-3 {
        forward
    } else {
        viewer.y_axis.truncate() * -forward.y.signum()
    };
    (-dir.x).atan2(-dir.z)
}

impl Placement {
    /// Places a twin with `bounds` at a hit-test pose (`XRHitTestResult.getPose().transform`),
    /// facing `viewer` (the viewer's position): only the hit's position is used, and the twin's
    /// front (+Z, the glTF convention) turns towards the viewer.
    pub fn at_hit(
        hit: Mat4,
        viewer: Vec3,
        bounds: Aabb,
        scale: ScaleMode,
    ) -> Result<Placement, PlacementError> {
        let position = hit.w_axis.truncate();
        if !position.is_finite() {
            return Err(PlacementError::NonFinite { what: "hit pose" });
        }
        if !viewer.is_finite() {
            return Err(PlacementError::NonFinite {
                what: "viewer position",
            });
        }
        let to_viewer = viewer - position;
        // Viewer right above the hit: no heading to face; 0 is as good as any.
        let yaw = if to_viewer.x.hypot(to_viewer.z) > 1e-3 {
            to_viewer.x.atan2(to_viewer.z)
        } else {
            0.0
        };
        Ok(Placement {
            position,
            yaw,
            pivot: pivot_for(bounds),
            scale,
        })
    }

    /// The placement that reproduces a solved alignment pose (twin space → world, upright,
    /// scale 1) with the pivot of `bounds`.
    pub fn from_alignment(alignment: &super::align::Alignment, bounds: Aabb) -> Placement {
        let pivot = pivot_for(bounds);
        Placement {
            position: alignment.pose.transform_point3(pivot),
            yaw: wrap_angle(alignment.yaw),
            pivot,
            scale: ScaleMode::OneToOne,
        }
    }

    /// Twin space → world, the model root handed to the renderer.
    pub fn pose(&self) -> Mat4 {
        Mat4::from_scale_rotation_translation(
            Vec3::splat(self.scale.factor()),
            Quat::from_rotation_y(self.yaw),
            self.position,
        ) * Mat4::from_translation(-self.pivot)
    }

    /// Turns the twin about the vertical through its pivot by `radians` (positive turns
    /// counter-clockwise seen from above).
    pub fn rotate(&mut self, radians: f32) {
        if radians.is_finite() {
            self.yaw = wrap_angle(self.yaw + radians);
        }
    }

    /// Moves the twin `right` and `forward` metres along the floor, relative to a viewer whose
    /// heading is `viewer_yaw` (see [`viewer_yaw`]), so "forward" is away from the user whichever
    /// way they face.
    pub fn nudge(&mut self, right: f32, forward: f32, viewer_yaw: f32) {
        if !(right.is_finite() && forward.is_finite() && viewer_yaw.is_finite()) {
            return;
        }
        let (s, c) = viewer_yaw.sin_cos();
        let fwd = Vec3::new(-s, 0.0, -c);
        let rgt = Vec3::new(c, 0.0, -s);
        self.position += rgt * right + fwd * forward;
    }

    /// Moves the twin by the horizontal part of a world-space displacement (a grip drag: the
    /// controller's motion since the last frame). Height stays on the surface it was put on.
    pub fn drag(&mut self, delta: Vec3) {
        if delta.is_finite() {
            self.position += Vec3::new(delta.x, 0.0, delta.z);
        }
    }

    /// This placement after its anchor moved from `anchor_then` to `anchor_now` (runtimes
    /// refine anchors as they learn the room). Only the anchor's position and yaw are followed,
    /// so the twin stays upright.
    pub fn follow_anchor(&self, anchor_then: Mat4, anchor_now: Mat4) -> Placement {
        let (then_pos, now_pos) = (anchor_then.w_axis.truncate(), anchor_now.w_axis.truncate());
        if !then_pos.is_finite() || !now_pos.is_finite() {
            return *self;
        }
        let turn = wrap_angle(heading(anchor_now) - heading(anchor_then));
        let offset = Quat::from_rotation_y(turn) * (self.position - then_pos);
        Placement {
            position: now_pos + offset,
            yaw: wrap_angle(self.yaw + turn),
            ..*self
        }
    }

    /// Serialises to a compact JSON string for `localStorage` (see [`storage_key`]), with an
    /// optional persistent-anchor handle the placement is relative to.
    pub fn to_json(&self, anchor: Option<&str>) -> String {
        let stored = Stored {
            v: STORED_VERSION,
            p: round_vec(self.position),
            yaw: round(self.yaw),
            pivot: round_vec(self.pivot),
            scale: self.scale.factor(),
            tabletop: matches!(self.scale, ScaleMode::Tabletop { .. }),
            anchor: anchor.map(str::to_owned),
        };
        // Serialising plain numbers and strings cannot fail; the fallback keeps this total.
        serde_json::to_string(&stored).unwrap_or_default()
    }

    /// Parses a string written by [`Self::to_json`], validating every number. Returns the
    /// placement and its anchor handle, if any.
    pub fn from_json(text: &str) -> Result<(Placement, Option<String>), PlacementError> {
        let stored: Stored =
            serde_json::from_str(text).map_err(|e| PlacementError::Unreadable {
                reason: e.to_string(),
            })?;
        if stored.v != STORED_VERSION {
            return Err(PlacementError::Unreadable {
                reason: format!("version {} (expected {STORED_VERSION})", stored.v),
            });
        }
        let position = Vec3::from_array(stored.p);
        let pivot = Vec3::from_array(stored.pivot);
        // Values beyond f32 range parse as infinity, so this catches them too.
        for (what, ok) in [
            ("position", position.is_finite()),
            ("yaw", stored.yaw.is_finite()),
            ("pivot", pivot.is_finite()),
            ("scale", stored.scale.is_finite()),
        ] {
            if !ok {
                return Err(PlacementError::NonFinite { what });
            }
        }
        let scale = if stored.tabletop {
            if stored.scale <= 0.0 {
                return Err(PlacementError::BadScale {
                    factor: stored.scale,
                });
            }
            ScaleMode::Tabletop {
                factor: stored.scale,
            }
        } else {
            ScaleMode::OneToOne
        };
        if let Some(handle) = &stored.anchor
            && (handle.is_empty()
                || handle.len() > MAX_ANCHOR_HANDLE
                || !handle.chars().all(|c| c.is_ascii_graphic()))
        {
            return Err(PlacementError::BadAnchorHandle);
        }
        Ok((
            Placement {
                position,
                yaw: wrap_angle(stored.yaw),
                pivot,
                scale,
            },
            stored.anchor,
        ))
    }
}

/// Heading of an arbitrary pose: the yaw of its +Z axis on the floor (0 when it points up).
fn heading(m: Mat4) -> f32 {
    let z = m.z_axis.truncate();
    if z.x.hypot(z.z) > 1e-6 {
        z.x.atan2(z.z)
    } else {
        0.0
    }
}

/// `localStorage` key for the placement of the twin named by its manifest.
pub fn storage_key(manifest_name: &str) -> String {
    format!("twinlens.placement.{manifest_name}")
}

/// Millimetre / micro-radian precision is plenty and keeps the stored string short.
fn round(v: f32) -> f32 {
    if v.is_finite() {
        (v * 1.0e4).round() / 1.0e4
    } else {
        v
    }
}

fn round_vec(v: Vec3) -> [f32; 3] {
    [round(v.x), round(v.y), round(v.z)]
}

/// The stored form: short keys, since it sits in `localStorage` per twin.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    v: u32,
    p: [f32; 3],
    yaw: f32,
    pivot: [f32; 3],
    scale: f32,
    tabletop: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    anchor: Option<String>,
}

/// Angle a two-finger twist turned through, as a yaw change: fingers at `before` moved to
/// `after` (CSS pixels, y down). A clockwise twist on screen turns the twin clockwise seen from
/// above, which is negative yaw. Fingers on top of each other give 0.
pub fn twist_yaw(before: [Vec2; 2], after: [Vec2; 2]) -> f32 {
    let (a, b) = (before[1] - before[0], after[1] - after[0]);
    if a.length_squared() < 1.0 || b.length_squared() < 1.0 || !a.is_finite() || !b.is_finite() {
        return 0.0;
    }
    // With y down, a positive screen angle is clockwise.
    let screen = a.perp_dot(b).atan2(a.dot(b));
    -screen
}

/// Nudge in metres (right, forward) for a two-finger drag of `delta` CSS pixels (midpoint
/// motion, y down) at `metres_per_px`: dragging up pushes the twin away from the user.
pub fn drag_nudge(delta: Vec2, metres_per_px: f32) -> Vec2 {
    if !delta.is_finite() || !metres_per_px.is_finite() {
        return Vec2::ZERO;
    }
    Vec2::new(delta.x, -delta.y) * metres_per_px
}

/// Metres on the floor per CSS pixel for content `distance` metres away in a view with vertical
/// field of view `fov_y` (radians) and `viewport_height` CSS pixels.
pub fn metres_per_px(distance: f32, fov_y: f32, viewport_height: f32) -> f32 {
    2.0 * distance.max(0.0) * (fov_y * 0.5).tan() / viewport_height.max(1.0)
}

/// The AR placement flow: search for a surface, preview the twin on it, place on select; reset
/// starts again. Events come in once per frame from the glue.
#[derive(Debug, Clone, PartialEq)]
pub enum PlacementState {
    /// No surface under the reticle yet: show a hint to move the phone.
    Searching,
    /// A surface is under the reticle; the twin previews there.
    Previewing(Placement),
    /// Placed: hit results no longer move the twin; gestures adjust it.
    Placed(Placement),
}

/// Drives [`PlacementState`] for one twin.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacementFlow {
    state: PlacementState,
    bounds: Aabb,
    scale: ScaleMode,
}

impl PlacementFlow {
    /// Starts searching, for a twin with `bounds` shown at `scale`.
    pub fn new(bounds: Aabb, scale: ScaleMode) -> PlacementFlow {
        PlacementFlow {
            state: PlacementState::Searching,
            bounds,
            scale,
        }
    }

    /// Current state.
    pub fn state(&self) -> &PlacementState {
        &self.state
    }

    /// The placement to draw now (preview or placed), if any.
    pub fn current(&self) -> Option<Placement> {
        match self.state {
            PlacementState::Searching => None,
            PlacementState::Previewing(p) | PlacementState::Placed(p) => Some(p),
        }
    }

    /// Feeds this frame's first hit-test pose (or none) and the viewer's position. Moves the
    /// preview; ignored once placed. A bad pose counts as no hit.
    pub fn on_hit(&mut self, hit: Option<Mat4>, viewer: Vec3) {
        if matches!(self.state, PlacementState::Placed(_)) {
            return;
        }
        self.state = match hit.map(|h| Placement::at_hit(h, viewer, self.bounds, self.scale)) {
            Some(Ok(p)) => PlacementState::Previewing(p),
            _ => PlacementState::Searching,
        };
    }

    /// The user selected (tap / trigger). While previewing, places the twin and returns the
    /// placement (the glue then creates an anchor at it); otherwise does nothing.
    pub fn on_select(&mut self) -> Option<Placement> {
        match self.state {
            PlacementState::Previewing(p) => {
                self.state = PlacementState::Placed(p);
                Some(p)
            }
            _ => None,
        }
    }

    /// Adjusts the placed twin (rotate, nudge, drag); `None` unless placed.
    pub fn placed_mut(&mut self) -> Option<&mut Placement> {
        match &mut self.state {
            PlacementState::Placed(p) => Some(p),
            _ => None,
        }
    }

    /// Puts back a stored or aligned placement, skipping the search.
    pub fn restore(&mut self, placement: Placement) {
        self.scale = placement.scale;
        self.state = PlacementState::Placed(placement);
    }

    /// Switches between life size and tabletop; a placed twin keeps its position and heading.
    pub fn set_tabletop(&mut self, tabletop: bool) {
        self.scale = if tabletop {
            ScaleMode::tabletop_for(self.bounds)
        } else {
            ScaleMode::OneToOne
        };
        if let PlacementState::Previewing(p) | PlacementState::Placed(p) = &mut self.state {
            p.scale = self.scale;
        }
    }

    /// Back to searching (the "place again" button).
    pub fn reset(&mut self) {
        self.state = PlacementState::Searching;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn building() -> Aabb {
        Aabb {
            min: Vec3::new(-10.0, 0.0, -5.0),
            max: Vec3::new(10.0, 8.0, 5.0),
        }
    }

    fn hit_at(p: Vec3) -> Mat4 {
        // Hit poses carry the surface orientation (here a slightly tilted table).
        Mat4::from_rotation_translation(Quat::from_rotation_x(0.1), p)
    }

    #[test]
    fn tabletop_fits_the_largest_edge_into_half_a_metre() {
        let s = ScaleMode::tabletop_for(building());
        assert!((s.factor() - 0.025).abs() < 1e-6);
        let scaled = building().transformed(Mat4::from_scale(Vec3::splat(s.factor())));
        assert!(((scaled.max - scaled.min).max_element() - TABLETOP_SIZE_M).abs() < 1e-5);
        let empty = Aabb {
            min: Vec3::ONE,
            max: Vec3::ONE,
        };
        assert_eq!(ScaleMode::tabletop_for(empty).factor(), 1.0);
        assert_eq!(ScaleMode::OneToOne.factor(), 1.0);
    }

    #[test]
    fn placing_at_a_hit_stands_the_twin_upright_on_it_facing_the_viewer() {
        let hit = Vec3::new(1.0, 0.8, -2.0);
        let viewer = Vec3::new(1.0, 1.5, 0.0);
        let p = Placement::at_hit(
            hit_at(hit),
            viewer,
            building(),
            ScaleMode::tabletop_for(building()),
        )
        .expect("valid hit");
        let pose = p.pose();
        // The footprint centre at the bottom lands on the hit.
        assert!(
            pose.transform_point3(Vec3::new(0.0, 0.0, 0.0))
                .abs_diff_eq(hit, 1e-5)
        );
        // Upright despite the tilted hit pose.
        assert!(
            pose.transform_vector3(Vec3::Y)
                .normalize()
                .abs_diff_eq(Vec3::Y, 1e-6)
        );
        // Front (+Z) faces the viewer.
        let front = pose.transform_vector3(Vec3::Z).normalize();
        let to_viewer = (viewer - hit) * Vec3::new(1.0, 0.0, 1.0);
        assert!(front.abs_diff_eq(to_viewer.normalize(), 1e-5), "{front}");
    }

    #[test]
    fn bad_hits_are_errors() {
        let mut m = hit_at(Vec3::ZERO);
        m.w_axis.x = f32::NAN;
        assert_eq!(
            Placement::at_hit(m, Vec3::ONE, building(), ScaleMode::OneToOne),
            Err(PlacementError::NonFinite { what: "hit pose" })
        );
    }

    #[test]
    fn rotate_turns_about_the_pivot_and_wraps() {
        let mut p = Placement::at_hit(
            hit_at(Vec3::new(2.0, 0.0, 0.0)),
            Vec3::new(2.0, 1.6, 3.0),
            building(),
            ScaleMode::OneToOne,
        )
        .expect("valid");
        let before = p.pose().transform_point3(Vec3::ZERO);
        for _ in 0..9 {
            p.rotate(1.0);
        }
        assert!(p.yaw > -PI && p.yaw <= PI);
        assert!((p.yaw - wrap_angle(9.0)).abs() < 1e-5);
        assert!(
            p.pose()
                .transform_point3(Vec3::ZERO)
                .abs_diff_eq(before, 1e-5)
        );
        p.rotate(f32::NAN);
        assert!(p.yaw.is_finite());
    }

    #[test]
    fn nudge_is_relative_to_where_the_viewer_faces() {
        let mut p = Placement {
            position: Vec3::ZERO,
            yaw: 0.0,
            pivot: Vec3::ZERO,
            scale: ScaleMode::OneToOne,
        };
        // Viewer looks along -Z (yaw 0): forward is -Z, right is +X.
        p.nudge(0.1, 0.2, 0.0);
        assert!(p.position.abs_diff_eq(Vec3::new(0.1, 0.0, -0.2), 1e-6));
        // Viewer turned to look along -X (yaw +90°): forward is -X, right is -Z.
        let mut q = Placement {
            position: Vec3::ZERO,
            ..p
        };
        q.nudge(0.1, 0.2, PI / 2.0);
        assert!(
            q.position.abs_diff_eq(Vec3::new(-0.2, 0.0, -0.1), 1e-6),
            "{}",
            q.position
        );
        // A grip drag moves only horizontally.
        q.drag(Vec3::new(0.5, 0.3, 0.0));
        assert!((q.position.y).abs() < 1e-6);
    }

    #[test]
    fn viewer_yaw_reads_the_heading_of_a_pose() {
        let look_minus_x =
            Mat4::from_rotation_translation(Quat::from_rotation_y(PI / 2.0), Vec3::ONE);
        assert!((viewer_yaw(look_minus_x) - PI / 2.0).abs() < 1e-5);
        // Looking down at the floor, pitched: heading still found.
        let down = Mat4::from_quat(Quat::from_rotation_y(0.5) * Quat::from_rotation_x(-PI / 2.0));
        assert!(
            (viewer_yaw(down) - 0.5).abs() < 1e-4,
            "{}",
            viewer_yaw(down)
        );
    }

    #[test]
    fn gestures_map_to_rotation_and_nudges() {
        // Fingers twist clockwise on screen (y down): 90° from horizontal to pointing down.
        let before = [Vec2::new(100.0, 100.0), Vec2::new(200.0, 100.0)];
        let after = [Vec2::new(100.0, 100.0), Vec2::new(100.0, 200.0)];
        assert!((twist_yaw(before, after) + PI / 2.0).abs() < 1e-5);
        assert_eq!(twist_yaw([Vec2::ZERO; 2], after), 0.0);
        // Dragging up pushes away.
        let n = drag_nudge(Vec2::new(10.0, -20.0), 0.01);
        assert!(n.abs_diff_eq(Vec2::new(0.1, 0.2), 1e-6));
        assert!((metres_per_px(2.0, PI / 2.0, 400.0) - 0.01).abs() < 1e-6);
    }

    #[test]
    fn following_the_anchor_keeps_the_offset_and_upright() {
        let p = Placement {
            position: Vec3::new(1.0, 0.0, 0.0),
            yaw: 0.3,
            pivot: Vec3::ZERO,
            scale: ScaleMode::OneToOne,
        };
        let then = Mat4::IDENTITY;
        let now = Mat4::from_rotation_translation(
            Quat::from_rotation_y(PI / 2.0),
            Vec3::new(0.0, 0.1, 0.0),
        );
        let q = p.follow_anchor(then, now);
        assert!(
            q.position.abs_diff_eq(Vec3::new(0.0, 0.1, -1.0), 1e-5),
            "{}",
            q.position
        );
        assert!((q.yaw - (0.3 + PI / 2.0)).abs() < 1e-5);
        assert_eq!(p.follow_anchor(then, then), p);
    }

    #[test]
    fn stored_placement_round_trips_and_is_validated() {
        let p = Placement {
            position: Vec3::new(1.23456, -0.5, 7.0),
            yaw: -2.5,
            pivot: Vec3::new(0.0, -1.0, 0.25),
            scale: ScaleMode::Tabletop { factor: 0.025 },
        };
        let text = p.to_json(Some("3f0c-uuid"));
        assert!(text.len() < 140, "compact: {text}");
        let (back, anchor) = Placement::from_json(&text).expect("round trip");
        assert!(back.position.abs_diff_eq(p.position, 1e-4));
        assert!((back.yaw - p.yaw).abs() < 1e-4);
        assert_eq!(back.pivot, p.pivot);
        assert_eq!(back.scale, p.scale);
        assert_eq!(anchor.as_deref(), Some("3f0c-uuid"));

        let one = Placement {
            scale: ScaleMode::OneToOne,
            ..p
        };
        assert_eq!(
            Placement::from_json(&one.to_json(None)).map(|(q, a)| (q.scale, a)),
            Ok((ScaleMode::OneToOne, None))
        );

        let overflow =
            r#"{"v":1,"p":[1e300,0,0],"yaw":0,"pivot":[0,0,0],"scale":1,"tabletop":false}"#;
        assert_eq!(
            Placement::from_json(overflow),
            Err(PlacementError::NonFinite { what: "position" })
        );
        let nan = p.to_json(None).replace("-2.5", "null");
        assert!(matches!(
            Placement::from_json(&nan),
            Err(PlacementError::Unreadable { .. })
        ));
        let zero = r#"{"v":1,"p":[0,0,0],"yaw":0,"pivot":[0,0,0],"scale":0,"tabletop":true}"#;
        assert!(matches!(
            Placement::from_json(zero),
            Err(PlacementError::BadScale { .. })
        ));
        let future = r#"{"v":2,"p":[0,0,0],"yaw":0,"pivot":[0,0,0],"scale":1,"tabletop":false}"#;
        assert!(matches!(
            Placement::from_json(future),
            Err(PlacementError::Unreadable { .. })
        ));
        let bad_anchor = r#"{"v":1,"p":[0,0,0],"yaw":0,"pivot":[0,0,0],"scale":1,"tabletop":false,"anchor":"a b"}"#;
        assert_eq!(
            Placement::from_json(bad_anchor),
            Err(PlacementError::BadAnchorHandle)
        );
        assert!(matches!(
            Placement::from_json("not json"),
            Err(PlacementError::Unreadable { .. })
        ));
        assert_eq!(
            storage_key("pump-station"),
            "twinlens.placement.pump-station"
        );
    }

    #[test]
    fn flow_searches_previews_places_and_resets() {
        let mut flow = PlacementFlow::new(building(), ScaleMode::OneToOne);
        assert_eq!(flow.on_select(), None, "nothing to place yet");
        flow.on_hit(
            Some(hit_at(Vec3::new(0.0, 0.0, -2.0))),
            Vec3::new(0.0, 1.6, 0.0),
        );
        assert!(matches!(flow.state(), PlacementState::Previewing(_)));
        flow.on_hit(None, Vec3::ZERO);
        assert_eq!(flow.state(), &PlacementState::Searching, "lost the surface");
        flow.on_hit(
            Some(hit_at(Vec3::new(0.0, 0.0, -3.0))),
            Vec3::new(0.0, 1.6, 0.0),
        );
        let placed = flow.on_select().expect("places while previewing");
        assert!(placed.position.abs_diff_eq(Vec3::new(0.0, 0.0, -3.0), 1e-6));
        // Once placed, hits no longer move it, gestures do.
        flow.on_hit(Some(hit_at(Vec3::new(5.0, 0.0, 5.0))), Vec3::ZERO);
        assert_eq!(flow.current().map(|p| p.position), Some(placed.position));
        flow.placed_mut().expect("placed").rotate(0.5);
        assert!((flow.current().expect("placed").yaw - (placed.yaw + 0.5)).abs() < 1e-6);
        flow.set_tabletop(true);
        assert!((flow.current().expect("placed").scale.factor() - 0.025).abs() < 1e-6);
        flow.reset();
        assert_eq!(flow.current(), None);
        flow.restore(placed);
        assert_eq!(flow.state(), &PlacementState::Placed(placed));
    }

    #[test]
    fn alignment_converts_to_an_equivalent_placement() {
        let pose =
            Mat4::from_rotation_translation(Quat::from_rotation_y(1.1), Vec3::new(3.0, 0.2, -1.0));
        let model = [Vec3::ZERO, Vec3::new(4.0, 0.0, 1.0)];
        let pairs: Vec<_> = model
            .iter()
            .map(|m| super::super::align::PointPair {
                model: *m,
                world: pose.transform_point3(*m),
            })
            .collect();
        let a = super::super::align::solve(&pairs).expect("solvable");
        let p = Placement::from_alignment(&a, building());
        assert!(p.pose().abs_diff_eq(pose, 1e-4));
    }
}
