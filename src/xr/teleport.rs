//! VR locomotion: a parabolic teleport arc from a controller ray, and snap turning. Both end in
//! an origin offset for `XRReferenceSpace.getOffsetReferenceSpace`, so the runtime keeps
//! reporting poses in the moved space and nothing else in the app needs to know.
//!
//! WebXR semantics used throughout: the offset is the new space's origin expressed in the
//! current space, so a pose `P` in the current space reads `offset⁻¹ · P` in the new one.

use std::f32::consts::PI;

use glam::{Mat4, Quat, Vec3};

use crate::model::Aabb;

/// Default snap-turn step: 30°, the common comfort setting.
pub const SNAP_TURN_STEP: f32 = PI / 6.0;

/// Shape of the arc: a projectile launched along the controller's ray.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArcParams {
    /// Launch speed, metres per second.
    pub speed: f32,
    /// Downward acceleration, metres per second², positive.
    pub gravity: f32,
    /// Simulated time between samples, seconds.
    pub step_s: f32,
    /// Samples before giving up (the arc then has no landing).
    pub max_steps: usize,
}

impl Default for ArcParams {
    /// Reaches about 10 m on flat ground at 45° from hand height, in at most 60 samples.
    fn default() -> Self {
        ArcParams {
            speed: 9.0,
            gravity: 9.8,
            step_s: 0.04,
            max_steps: 60,
        }
    }
}

/// A sampled teleport arc.
#[derive(Debug, Clone, PartialEq)]
pub struct TeleportArc {
    /// Points along the arc from the controller, ending at the landing point if there is one.
    pub points: Vec<Vec3>,
    /// Where the arc meets the floor, if it does within the step budget.
    pub landing: Option<Vec3>,
    /// Whether the landing is allowed by the caller's predicate (false without a landing).
    pub valid: bool,
}

/// Samples the arc from `origin` along `direction` until it crosses the floor plane
/// `y = floor_y` (found exactly within the last step) or `params.max_steps` run out, then asks
/// `is_valid` about the landing point. Bad input (zero or non-finite direction, non-positive
/// step) gives an empty, invalid arc rather than a panic or an endless loop.
pub fn cast_arc(
    origin: Vec3,
    direction: Vec3,
    params: &ArcParams,
    floor_y: f32,
    is_valid: impl Fn(Vec3) -> bool,
) -> TeleportArc {
    let none = TeleportArc {
        points: Vec::new(),
        landing: None,
        valid: false,
    };
    let dir = direction.normalize_or_zero();
    let usable = origin.is_finite()
        && dir != Vec3::ZERO
        && floor_y.is_finite()
        && params.speed.is_finite()
        && params.speed > 0.0
        && params.gravity.is_finite()
        && params.gravity >= 0.0
        && params.step_s.is_finite()
        && params.step_s > 0.0;
    if !usable {
        return none;
    }
    // Starting below the floor there is nothing to land on.
    if origin.y < floor_y {
        return TeleportArc {
            points: vec![origin],
            ..none
        };
    }
    let velocity = dir * params.speed;
    let at = |t: f32| origin + velocity * t - Vec3::Y * (0.5 * params.gravity * t * t);
    let mut points = vec![origin];
    for i in 1..=params.max_steps {
        let t = i as f32 * params.step_s;
        let p = at(t);
        if p.y <= floor_y {
            // Solve origin.y + v.y t - g t²/2 = floor_y for the later root, within this step.
            let t_hit = floor_time(origin.y - floor_y, velocity.y, params.gravity)
                .filter(|th| *th <= t)
                .unwrap_or(t);
            let mut landing = at(t_hit);
            landing.y = floor_y;
            points.push(landing);
            return TeleportArc {
                points,
                landing: Some(landing),
                valid: is_valid(landing),
            };
        }
        points.push(p);
    }
    TeleportArc {
        points,
        landing: None,
        valid: false,
    }
}

/// Time at which a projectile `height` above the floor with vertical speed `vy` under `gravity`
/// reaches the floor (the later root), if it does.
fn floor_time(height: f32, vy: f32, gravity: f32) -> Option<f32> {
    if gravity <= 1e-6 {
        return (vy < 0.0).then(|| height / -vy);
    }
    let disc = vy * vy + 2.0 * gravity * height;
    (disc >= 0.0).then(|| (vy + disc.sqrt()) / gravity)
}

/// Landing predicate: anywhere on the floor.
pub fn anywhere(_: Vec3) -> bool {
    true
}

/// Landing predicate: within `radius` metres (horizontally) of the twin's footprint, given its
/// world-space bounds, so users cannot teleport far away from what they came to see.
pub fn near_footprint(world_bounds: Aabb, radius: f32) -> impl Fn(Vec3) -> bool {
    move |p: Vec3| {
        let dx = (world_bounds.min.x - p.x)
            .max(p.x - world_bounds.max.x)
            .max(0.0);
        let dz = (world_bounds.min.z - p.z)
            .max(p.z - world_bounds.max.z)
            .max(0.0);
        dx.hypot(dz) <= radius
    }
}

/// A rigid transform in the form `XRRigidTransform` takes: `position`, then `orientation`
/// (the transform is `translate(position) · rotate(orientation)`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RigidOffset {
    /// `XRRigidTransform.position` (x, y, z; w = 1).
    pub position: Vec3,
    /// `XRRigidTransform.orientation` (x, y, z, w).
    pub orientation: Quat,
}

impl RigidOffset {
    /// The offset as a matrix.
    pub fn matrix(&self) -> Mat4 {
        Mat4::from_rotation_translation(self.orientation, self.position)
    }
}

/// Origin offset that moves the viewer, standing at `viewer` (current space), to `landing`:
/// horizontal only, so the floor stays where it is and head height is kept.
pub fn teleport_offset(viewer: Vec3, landing: Vec3) -> RigidOffset {
    let d = viewer - landing;
    RigidOffset {
        position: Vec3::new(d.x, 0.0, d.z),
        orientation: Quat::IDENTITY,
    }
}

/// Which way to snap-turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Turn the view to the left (counter-clockwise seen from above).
    Left,
    /// Turn the view to the right.
    Right,
}

/// Origin offset that turns the view by `step` radians in `turn`'s direction about the vertical
/// through the viewer's position, so the user turns on the spot instead of swinging around the
/// space's origin.
///
/// The viewer's heading in the new space must change by `+θ` (left) about `viewer`, i.e.
/// `offset⁻¹ = T(v) R(θ) T(-v)`, so `offset = T(v) R(-θ) T(-v) = T(v - R(-θ) v) R(-θ)`.
pub fn snap_turn_offset(viewer: Vec3, turn: Turn, step: f32) -> RigidOffset {
    let theta = match turn {
        Turn::Left => step,
        Turn::Right => -step,
    };
    let orientation = Quat::from_rotation_y(-theta);
    let pivot = Vec3::new(viewer.x, 0.0, viewer.z);
    RigidOffset {
        position: pivot - orientation * pivot,
        orientation,
    }
}

/// Turns thumbstick x values into single snap turns: one turn per push past the threshold,
/// re-armed only when the stick comes back near the centre, so holding it does not spin.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SnapTurnInput {
    fired: bool,
}

impl SnapTurnInput {
    /// Stick deflection that triggers a turn.
    pub const TRIGGER: f32 = 0.7;
    /// Deflection below which the next turn is allowed.
    pub const RELEASE: f32 = 0.3;

    /// Feeds this frame's thumbstick x (-1 left … 1 right); returns a turn when one fires.
    pub fn update(&mut self, x: f32) -> Option<Turn> {
        if !x.is_finite() {
            return None;
        }
        if self.fired {
            if x.abs() < Self::RELEASE {
                self.fired = false;
            }
            return None;
        }
        if x.abs() >= Self::TRIGGER {
            self.fired = true;
            return Some(if x < 0.0 { Turn::Left } else { Turn::Right });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arc_lands_on_the_floor_exactly_and_further_for_a_higher_aim() {
        let params = ArcParams::default();
        let origin = Vec3::new(0.0, 1.2, 0.0);
        let flat = cast_arc(origin, Vec3::new(0.0, 0.0, -1.0), &params, 0.0, anywhere);
        let up = cast_arc(origin, Vec3::new(0.0, 0.5, -1.0), &params, 0.0, anywhere);
        let (a, b) = (flat.landing.expect("lands"), up.landing.expect("lands"));
        assert_eq!(a.y, 0.0);
        // Horizontal throw from 1.2 m: t = sqrt(2h/g), x = v t.
        let expect = 9.0 * (2.0_f32 * 1.2 / 9.8).sqrt();
        assert!((-a.z - expect).abs() < 1e-3, "{} vs {expect}", -a.z);
        assert!(-b.z > -a.z);
        assert!(flat.valid && up.valid);
        assert_eq!(flat.points.first(), Some(&origin));
        assert_eq!(flat.points.last(), Some(&a));
        assert!(
            flat.points.windows(2).all(|w| w[1].y <= w[0].y),
            "falls monotonically"
        );
    }

    #[test]
    fn arc_respects_floor_height_and_step_budget() {
        let params = ArcParams {
            max_steps: 3,
            ..Default::default()
        };
        let short = cast_arc(Vec3::new(0.0, 1.0, 0.0), Vec3::Y, &params, 0.0, anywhere);
        assert_eq!(short.landing, None);
        assert!(!short.valid);
        assert_eq!(short.points.len(), 4);
        let raised = cast_arc(
            Vec3::new(0.0, 1.0, 0.0),
            Vec3::NEG_Z,
            &ArcParams::default(),
            0.5,
            anywhere,
        );
        assert_eq!(raised.landing.map(|p| p.y), Some(0.5));
    }

    #[test]
    fn bad_rays_give_an_empty_invalid_arc() {
        let p = ArcParams::default();
        assert!(
            cast_arc(Vec3::ONE, Vec3::ZERO, &p, 0.0, anywhere)
                .points
                .is_empty()
        );
        assert!(
            cast_arc(Vec3::NAN, Vec3::X, &p, 0.0, anywhere)
                .points
                .is_empty()
        );
        let zero_step = ArcParams { step_s: 0.0, ..p };
        assert!(
            cast_arc(Vec3::ONE, Vec3::X, &zero_step, 0.0, anywhere)
                .landing
                .is_none()
        );
        let below = cast_arc(Vec3::new(0.0, -1.0, 0.0), Vec3::X, &p, 0.0, anywhere);
        assert!(below.landing.is_none() && !below.valid);
    }

    #[test]
    fn validity_is_the_callers_predicate() {
        let twin = Aabb {
            min: Vec3::new(-1.0, 0.0, -12.0),
            max: Vec3::new(1.0, 3.0, -10.0),
        };
        let near = near_footprint(twin, 1.0);
        assert!(near(Vec3::new(0.0, 0.0, -11.0)), "inside the footprint");
        assert!(near(Vec3::new(1.9, 0.0, -11.0)));
        assert!(!near(Vec3::new(1.9, 0.0, -8.9)), "corner distance > 1 m");
        let origin = Vec3::new(0.0, 1.2, 0.0);
        let short = cast_arc(origin, Vec3::NEG_Z, &ArcParams::default(), 0.0, &near);
        assert!(short.landing.is_some());
        assert!(!short.valid, "lands ~4.5 m away, 5 m short of the twin");
        let long = cast_arc(
            origin,
            Vec3::new(0.0, 1.0, -1.0),
            &ArcParams::default(),
            0.0,
            &near,
        );
        let l = long.landing.expect("lands");
        assert!(long.valid, "a 45° throw lands by the twin: {l}");
    }

    #[test]
    fn teleport_offset_puts_the_viewer_on_the_landing_point() {
        let viewer = Vec3::new(0.5, 1.6, 0.2);
        let landing = Vec3::new(3.0, 0.0, -4.0);
        let off = teleport_offset(viewer, landing);
        let seen = off.matrix().inverse().transform_point3(viewer);
        assert!(seen.abs_diff_eq(Vec3::new(3.0, 1.6, -4.0), 1e-5), "{seen}");
    }

    #[test]
    fn snap_turn_rotates_the_view_about_the_viewer() {
        let viewer = Vec3::new(2.0, 1.6, -1.0);
        let pose = Mat4::from_translation(viewer); // looking along -Z
        for (turn, sign) in [(Turn::Left, 1.0), (Turn::Right, -1.0)] {
            let off = snap_turn_offset(viewer, turn, SNAP_TURN_STEP);
            let seen = off.matrix().inverse() * pose;
            assert!(
                seen.w_axis.truncate().abs_diff_eq(viewer, 1e-5),
                "turns on the spot"
            );
            let forward = -seen.z_axis.truncate();
            let yaw = (-forward.x).atan2(-forward.z);
            assert!(
                (yaw - sign * SNAP_TURN_STEP).abs() < 1e-5,
                "{turn:?}: {yaw}"
            );
            assert!(seen.y_axis.truncate().abs_diff_eq(Vec3::Y, 1e-6));
        }
    }

    #[test]
    fn thumbstick_fires_one_turn_per_push() {
        let mut s = SnapTurnInput::default();
        assert_eq!(s.update(0.5), None);
        assert_eq!(s.update(0.9), Some(Turn::Right));
        assert_eq!(s.update(1.0), None, "held");
        assert_eq!(s.update(0.5), None, "not back to centre");
        assert_eq!(s.update(0.1), None);
        assert_eq!(s.update(-0.8), Some(Turn::Left));
        assert_eq!(s.update(f32::NAN), None);
    }
}
