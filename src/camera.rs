//! Camera math for the inline view: an orbit camera (orbit, pan, zoom, frame-the-model) and the
//! view/projection matrices every renderer view consumes.

use glam::{Mat4, Vec3};

/// Matrices for one rendered view (the inline canvas, or one eye of an XR session).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ViewMatrices {
    /// World to view space.
    pub view: Mat4,
    /// View to clip space (wgpu depth range 0..1).
    pub proj: Mat4,
    /// Eye position in world space.
    pub eye: Vec3,
}

use crate::model::Aabb;

/// Vertical field of view of the inline view.
const FOV_Y: f32 = std::f32::consts::FRAC_PI_4;
/// Radians of orbit per CSS pixel dragged.
const ORBIT_PER_PX: f32 = 0.008;
/// Pitch stays short of the poles so the up vector never degenerates.
const MAX_PITCH: f32 = 1.55;

/// An orbit camera around a target point: yaw about world Y, pitch above the horizon.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OrbitCamera {
    /// Point orbited around.
    pub target: Vec3,
    /// Angle about +Y, radians; 0 looks along -Z.
    pub yaw: f32,
    /// Angle above the horizon, radians.
    pub pitch: f32,
    /// Distance from target to eye, metres.
    pub distance: f32,
    /// Radius of the framed content; sets zoom limits and clip planes.
    pub scene_radius: f32,
}

impl Default for OrbitCamera {
    fn default() -> Self {
        Self {
            target: Vec3::ZERO,
            yaw: 0.6,
            pitch: 0.4,
            distance: 5.0,
            scene_radius: 1.0,
        }
    }
}

impl OrbitCamera {
    /// Places the camera at a three-quarter view that shows all of `bounds` at `aspect`.
    pub fn frame(&mut self, bounds: Aabb, aspect: f32) {
        let radius = bounds.radius().max(1e-3);
        self.target = bounds.center();
        self.scene_radius = radius;
        self.yaw = 0.6;
        self.pitch = 0.4;
        // The sphere must fit the narrower of the two field-of-view angles.
        let half_v = FOV_Y * 0.5;
        let half_h = (half_v.tan() * aspect.max(1e-3)).atan();
        let half = half_v.min(half_h);
        self.distance = radius / half.sin() * 1.05;
    }

    /// Eye position in world space.
    pub fn eye(&self) -> Vec3 {
        let dir = Vec3::new(
            self.pitch.cos() * self.yaw.sin(),
            self.pitch.sin(),
            self.pitch.cos() * self.yaw.cos(),
        );
        self.target + dir * self.distance
    }

    /// Rotates by a drag of `dx`, `dy` CSS pixels (right and down positive).
    pub fn orbit(&mut self, dx: f32, dy: f32) {
        self.yaw -= dx * ORBIT_PER_PX;
        self.pitch = (self.pitch + dy * ORBIT_PER_PX).clamp(-MAX_PITCH, MAX_PITCH);
    }

    /// Moves the target so the content follows a drag of `dx`, `dy` CSS pixels in a viewport
    /// `viewport_height` CSS pixels tall.
    pub fn pan(&mut self, dx: f32, dy: f32, viewport_height: f32) {
        let metres_per_px = 2.0 * self.distance * (FOV_Y * 0.5).tan() / viewport_height.max(1.0);
        let forward = (self.target - self.eye()).normalize_or_zero();
        let right = forward.cross(Vec3::Y).normalize_or_zero();
        let up = right.cross(forward);
        self.target += (-right * dx + up * dy) * metres_per_px;
    }

    /// Multiplies the distance by `factor` (< 1 zooms in), within limits set by the scene size.
    pub fn zoom(&mut self, factor: f32) {
        if !factor.is_finite() || factor <= 0.0 {
            return;
        }
        let min = self.scene_radius * 0.05;
        let max = self.scene_radius * 50.0;
        self.distance = (self.distance * factor).clamp(min, max);
    }

    /// View and projection for a viewport of the given aspect ratio (width / height).
    pub fn matrices(&self, aspect: f32) -> ViewMatrices {
        let eye = self.eye();
        let view = glam::camera::rh::view::look_at_mat4(eye, self.target, Vec3::Y);
        // Clip planes follow the content so depth precision goes where the model is.
        let near = (self.distance - self.scene_radius * 2.0)
            .max(self.distance * 0.01)
            .max(1e-3);
        let far = self.distance + self.scene_radius * 4.0;
        let proj = glam::camera::rh::proj::directx::perspective(FOV_Y, aspect.max(1e-3), near, far);
        ViewMatrices { view, proj, eye }
    }
}

/// What a pointer is: mouse buttons map to orbit/pan, touches combine into gestures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointerKind {
    /// A mouse or pen; `pan` is true for right/middle button or shift-drag.
    Mouse {
        /// Drag pans instead of orbiting.
        pan: bool,
    },
    /// A finger.
    Touch,
}

/// Input for the inline view, in CSS pixels, queued by the web glue and applied once per frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ViewInput {
    /// A pointer went down.
    PointerDown {
        id: i32,
        x: f32,
        y: f32,
        kind: PointerKind,
    },
    /// A pointer moved.
    PointerMove { id: i32, x: f32, y: f32 },
    /// A pointer went up or was cancelled.
    PointerUp { id: i32 },
    /// Wheel scroll; positive `delta_y` zooms out.
    Wheel { delta_y: f32 },
    /// A key that controls the view.
    Key(ViewKey),
}

/// Keyboard controls of the inline view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewKey {
    /// Orbit left.
    Left,
    /// Orbit right.
    Right,
    /// Orbit up.
    Up,
    /// Orbit down.
    Down,
    /// Zoom in.
    ZoomIn,
    /// Zoom out.
    ZoomOut,
    /// Frame the model.
    Frame,
}

impl ViewKey {
    /// Maps a `KeyboardEvent.key` value to a control.
    pub fn from_key(key: &str) -> Option<ViewKey> {
        Some(match key {
            "ArrowLeft" | "a" | "A" => ViewKey::Left,
            "ArrowRight" | "d" | "D" => ViewKey::Right,
            "ArrowUp" | "w" | "W" => ViewKey::Up,
            "ArrowDown" | "s" | "S" => ViewKey::Down,
            "+" | "=" => ViewKey::ZoomIn,
            "-" | "_" => ViewKey::ZoomOut,
            "f" | "F" | "Home" => ViewKey::Frame,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy)]
struct Pointer {
    id: i32,
    x: f32,
    y: f32,
    kind: PointerKind,
    /// Distance travelled since it went down, CSS pixels.
    travelled: f32,
    /// Another pointer joined while this one was down (a pinch is not a tap).
    gesture: bool,
}

/// A press that moves less than this is a tap or click, not a drag.
const TAP_SLOP_PX: f32 = 6.0;

/// Turns pointer, wheel and key input into camera moves: one finger or left mouse orbits, two
/// fingers pinch-zoom and pan, right/middle mouse or shift-drag pans.
#[derive(Debug, Clone, Default)]
pub struct OrbitController {
    pointers: Vec<Pointer>,
}

/// What applying an input asks of the caller.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum InputOutcome {
    /// A tap or click without a drag at this point (CSS pixels): select what is there.
    Tap {
        /// Horizontal position.
        x: f32,
        /// Vertical position.
        y: f32,
    },
    /// Nothing visible changed.
    Unchanged,
    /// The camera moved: render a frame.
    Moved,
    /// The user asked to frame the model.
    FrameRequested,
}

impl OrbitController {
    /// Applies one input to `camera` for a viewport `viewport_height` CSS pixels tall.
    pub fn apply(
        &mut self,
        camera: &mut OrbitCamera,
        input: ViewInput,
        viewport_height: f32,
    ) -> InputOutcome {
        const KEY_ORBIT_PX: f32 = 20.0;
        const KEY_ZOOM: f32 = 1.15;
        match input {
            ViewInput::PointerDown { id, x, y, kind } => {
                self.pointers.retain(|p| p.id != id);
                // Only two pointers take part in a gesture; more fingers are ignored.
                if self.pointers.len() < 2 {
                    let gesture = !self.pointers.is_empty();
                    for p in &mut self.pointers {
                        p.gesture = true;
                    }
                    self.pointers.push(Pointer {
                        id,
                        x,
                        y,
                        kind,
                        travelled: 0.0,
                        gesture,
                    });
                }
                InputOutcome::Unchanged
            }
            ViewInput::PointerUp { id } => {
                let released = self.pointers.iter().find(|p| p.id == id).copied();
                self.pointers.retain(|p| p.id != id);
                match released {
                    Some(p) if !p.gesture && p.travelled < TAP_SLOP_PX => {
                        InputOutcome::Tap { x: p.x, y: p.y }
                    }
                    _ => InputOutcome::Unchanged,
                }
            }
            ViewInput::PointerMove { id, x, y } => {
                self.pointer_move(camera, id, x, y, viewport_height)
            }
            ViewInput::Wheel { delta_y } => {
                if delta_y == 0.0 || !delta_y.is_finite() {
                    return InputOutcome::Unchanged;
                }
                camera.zoom((delta_y.clamp(-500.0, 500.0) * 0.002).exp());
                InputOutcome::Moved
            }
            ViewInput::Key(key) => {
                match key {
                    ViewKey::Left => camera.orbit(-KEY_ORBIT_PX, 0.0),
                    ViewKey::Right => camera.orbit(KEY_ORBIT_PX, 0.0),
                    ViewKey::Up => camera.orbit(0.0, KEY_ORBIT_PX),
                    ViewKey::Down => camera.orbit(0.0, -KEY_ORBIT_PX),
                    ViewKey::ZoomIn => camera.zoom(1.0 / KEY_ZOOM),
                    ViewKey::ZoomOut => camera.zoom(KEY_ZOOM),
                    ViewKey::Frame => return InputOutcome::FrameRequested,
                }
                InputOutcome::Moved
            }
        }
    }

    fn pointer_move(
        &mut self,
        camera: &mut OrbitCamera,
        id: i32,
        x: f32,
        y: f32,
        viewport_height: f32,
    ) -> InputOutcome {
        let Some(idx) = self.pointers.iter().position(|p| p.id == id) else {
            return InputOutcome::Unchanged;
        };
        let before = self.pointers.clone();
        let (dx, dy) = (x - before[idx].x, y - before[idx].y);
        let p = &mut self.pointers[idx];
        p.x = x;
        p.y = y;
        p.travelled += (dx * dx + dy * dy).sqrt();
        if dx == 0.0 && dy == 0.0 {
            return InputOutcome::Unchanged;
        }
        // Small jitter of a press stays a tap: the view moves only once it is a drag.
        if p.travelled < TAP_SLOP_PX && !p.gesture {
            return InputOutcome::Unchanged;
        }
        match (before.len(), before[idx].kind) {
            (1, PointerKind::Mouse { pan: true }) => camera.pan(dx, dy, viewport_height),
            (1, _) => camera.orbit(dx, dy),
            _ => {
                // Two pointers: pinch distance zooms, midpoint motion pans.
                let (a0, b0) = (before[0], before[1]);
                let (a1, b1) = (self.pointers[0], self.pointers[1]);
                let d0 = ((a0.x - b0.x).powi(2) + (a0.y - b0.y).powi(2)).sqrt();
                let d1 = ((a1.x - b1.x).powi(2) + (a1.y - b1.y).powi(2)).sqrt();
                if d0 > 1.0 && d1 > 1.0 {
                    camera.zoom(d0 / d1);
                }
                camera.pan(dx * 0.5, dy * 0.5, viewport_height);
            }
        }
        InputOutcome::Moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit_box() -> Aabb {
        Aabb {
            min: Vec3::splat(-1.0),
            max: Vec3::splat(1.0),
        }
    }

    /// Projects a world point to normalised device coordinates.
    fn ndc(m: &ViewMatrices, p: Vec3) -> Vec3 {
        (m.proj * m.view).project_point3(p)
    }

    #[test]
    fn framing_puts_every_corner_of_the_bounds_inside_the_view() {
        for aspect in [0.5_f32, 1.0, 2.0] {
            let mut cam = OrbitCamera::default();
            cam.frame(unit_box(), aspect);
            let m = cam.matrices(aspect);
            for i in 0..8 {
                let c = Vec3::new(
                    if i & 1 == 0 { -1.0 } else { 1.0 },
                    if i & 2 == 0 { -1.0 } else { 1.0 },
                    if i & 4 == 0 { -1.0 } else { 1.0 },
                );
                let p = ndc(&m, c);
                assert!(
                    p.x.abs() <= 1.0 && p.y.abs() <= 1.0,
                    "corner {c} at {p} for aspect {aspect}"
                );
                assert!(
                    (0.0..=1.0).contains(&p.z),
                    "corner {c} depth {} outside 0..1",
                    p.z
                );
            }
        }
    }

    #[test]
    fn target_projects_to_the_centre() {
        let mut cam = OrbitCamera::default();
        cam.frame(
            Aabb {
                min: Vec3::new(2.0, 0.0, 3.0),
                max: Vec3::new(4.0, 1.0, 5.0),
            },
            1.5,
        );
        let p = ndc(&cam.matrices(1.5), cam.target);
        assert!(p.x.abs() < 1e-4 && p.y.abs() < 1e-4, "{p}");
    }

    #[test]
    fn orbit_keeps_distance_and_clamps_pitch() {
        let mut cam = OrbitCamera::default();
        let d = (cam.eye() - cam.target).length();
        cam.orbit(300.0, 10_000.0);
        assert!(((cam.eye() - cam.target).length() - d).abs() < 1e-3);
        assert!(cam.pitch <= MAX_PITCH);
        assert!(cam.eye().y > cam.target.y, "dragging down raises the eye");
    }

    #[test]
    fn pan_moves_target_perpendicular_to_the_view() {
        let mut cam = OrbitCamera::default();
        let forward = (cam.target - cam.eye()).normalize();
        let before = cam.target;
        cam.pan(50.0, 20.0, 600.0);
        let moved = cam.target - before;
        assert!(moved.length() > 0.0);
        assert!(moved.dot(forward).abs() < 1e-4, "pan must not dolly");
    }

    #[test]
    fn zoom_is_limited_by_scene_size() {
        let mut cam = OrbitCamera {
            scene_radius: 2.0,
            ..Default::default()
        };
        cam.zoom(1e-9);
        assert!((cam.distance - 0.1).abs() < 1e-5);
        cam.zoom(1e9);
        assert!((cam.distance - 100.0).abs() < 1e-3);
        cam.zoom(f32::NAN);
        assert!(cam.distance.is_finite());
    }

    #[test]
    fn one_finger_orbits_two_fingers_pinch_zoom() {
        let mut cam = OrbitCamera::default();
        let mut ctl = OrbitController::default();
        let yaw = cam.yaw;
        ctl.apply(
            &mut cam,
            ViewInput::PointerDown {
                id: 1,
                x: 100.0,
                y: 100.0,
                kind: PointerKind::Touch,
            },
            600.0,
        );
        let out = ctl.apply(
            &mut cam,
            ViewInput::PointerMove {
                id: 1,
                x: 150.0,
                y: 100.0,
            },
            600.0,
        );
        assert_eq!(out, InputOutcome::Moved);
        assert!(cam.yaw < yaw);

        ctl.apply(
            &mut cam,
            ViewInput::PointerDown {
                id: 2,
                x: 250.0,
                y: 100.0,
                kind: PointerKind::Touch,
            },
            600.0,
        );
        let (yaw, dist) = (cam.yaw, cam.distance);
        // Fingers spread apart: zoom in, no orbit.
        ctl.apply(
            &mut cam,
            ViewInput::PointerMove {
                id: 2,
                x: 350.0,
                y: 100.0,
            },
            600.0,
        );
        assert!(cam.distance < dist);
        assert_eq!(cam.yaw, yaw);

        ctl.apply(&mut cam, ViewInput::PointerUp { id: 1 }, 600.0);
        ctl.apply(&mut cam, ViewInput::PointerUp { id: 2 }, 600.0);
        let out = ctl.apply(
            &mut cam,
            ViewInput::PointerMove {
                id: 2,
                x: 0.0,
                y: 0.0,
            },
            600.0,
        );
        assert_eq!(
            out,
            InputOutcome::Unchanged,
            "moves after release are ignored"
        );
    }

    #[test]
    fn a_press_without_a_drag_is_a_tap_and_a_drag_or_pinch_is_not() {
        let mut cam = OrbitCamera::default();
        let mut ctl = OrbitController::default();
        let down = |id, x, y| ViewInput::PointerDown {
            id,
            x,
            y,
            kind: PointerKind::Touch,
        };
        ctl.apply(&mut cam, down(1, 100.0, 100.0), 600.0);
        ctl.apply(
            &mut cam,
            ViewInput::PointerMove {
                id: 1,
                x: 102.0,
                y: 101.0,
            },
            600.0,
        );
        assert_eq!(cam, OrbitCamera::default(), "jitter does not move the view");
        assert_eq!(
            ctl.apply(&mut cam, ViewInput::PointerUp { id: 1 }, 600.0),
            InputOutcome::Tap { x: 102.0, y: 101.0 }
        );

        ctl.apply(&mut cam, down(1, 100.0, 100.0), 600.0);
        ctl.apply(
            &mut cam,
            ViewInput::PointerMove {
                id: 1,
                x: 140.0,
                y: 100.0,
            },
            600.0,
        );
        assert_eq!(
            ctl.apply(&mut cam, ViewInput::PointerUp { id: 1 }, 600.0),
            InputOutcome::Unchanged
        );

        ctl.apply(&mut cam, down(1, 100.0, 100.0), 600.0);
        ctl.apply(&mut cam, down(2, 200.0, 100.0), 600.0);
        assert_eq!(
            ctl.apply(&mut cam, ViewInput::PointerUp { id: 2 }, 600.0),
            InputOutcome::Unchanged
        );
        assert_eq!(
            ctl.apply(&mut cam, ViewInput::PointerUp { id: 1 }, 600.0),
            InputOutcome::Unchanged,
            "the end of a pinch is not a tap"
        );
    }

    #[test]
    fn right_mouse_pans_and_keys_control_the_view() {
        let mut cam = OrbitCamera::default();
        let mut ctl = OrbitController::default();
        let (target, yaw) = (cam.target, cam.yaw);
        ctl.apply(
            &mut cam,
            ViewInput::PointerDown {
                id: 1,
                x: 0.0,
                y: 0.0,
                kind: PointerKind::Mouse { pan: true },
            },
            600.0,
        );
        ctl.apply(
            &mut cam,
            ViewInput::PointerMove {
                id: 1,
                x: 30.0,
                y: 0.0,
            },
            600.0,
        );
        assert_ne!(cam.target, target);
        assert_eq!(cam.yaw, yaw);

        assert_eq!(ViewKey::from_key("f"), Some(ViewKey::Frame));
        assert_eq!(ViewKey::from_key("q"), None);
        assert_eq!(
            ctl.apply(&mut cam, ViewInput::Key(ViewKey::Frame), 600.0),
            InputOutcome::FrameRequested
        );
        let d = cam.distance;
        assert_eq!(
            ctl.apply(&mut cam, ViewInput::Key(ViewKey::ZoomIn), 600.0),
            InputOutcome::Moved
        );
        assert!(cam.distance < d);
        assert_eq!(
            ctl.apply(&mut cam, ViewInput::Wheel { delta_y: 0.0 }, 600.0),
            InputOutcome::Unchanged
        );
    }
}
