//! Geometry of the in-world XR markers as flat-coloured triangles: the placement reticle, the
//! teleport arc and controller rays, alignment points and the VR floor grid. Built on the CPU
//! each frame (a few hundred vertices) so one draw per view covers every marker.

use std::f32::consts::TAU;

use glam::{Mat4, Vec3};

/// One marker vertex: world position and linear RGBA colour (straight alpha). Mirrors the
/// vertex input of `shaders/xr.wgsl` (`vs_marker`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct MarkerVertex {
    /// World (reference-space) position, metres.
    pub position: [f32; 3],
    /// Linear RGBA, alpha not premultiplied.
    pub color: [f32; 4],
}

/// Linear RGBA colours the markers use.
pub mod colors {
    /// Reticle on a surface where the twin can go.
    pub const RETICLE: [f32; 4] = [0.95, 0.95, 0.95, 0.9];
    /// A valid teleport target / landing.
    pub const VALID: [f32; 4] = [0.15, 0.85, 0.45, 0.85];
    /// An invalid teleport target.
    pub const INVALID: [f32; 4] = [0.9, 0.2, 0.15, 0.7];
    /// A controller ray.
    pub const RAY: [f32; 4] = [0.8, 0.85, 1.0, 0.5];
    /// A point measured in the room (alignment).
    pub const REAL_POINT: [f32; 4] = [1.0, 0.55, 0.05, 0.95];
    /// A point picked on the twin (alignment).
    pub const MODEL_POINT: [f32; 4] = [0.1, 0.6, 1.0, 0.95];
    /// VR floor grid lines.
    pub const GRID: [f32; 4] = [0.55, 0.6, 0.65, 0.35];
}

/// True for a finite number above zero (false for NaN).
fn positive(v: f32) -> bool {
    v > 0.0 && v.is_finite()
}

fn push_quad(out: &mut Vec<MarkerVertex>, a: Vec3, b: Vec3, c: Vec3, d: Vec3, color: [f32; 4]) {
    for p in [a, b, c, a, c, d] {
        out.push(MarkerVertex {
            position: p.to_array(),
            color,
        });
    }
}

/// A flat ring in the XZ plane of `pose` (its +Y is the ring's normal, as in a hit-test pose),
/// between radii `inner` and `outer` metres. Non-finite poses add nothing.
pub fn ring(
    out: &mut Vec<MarkerVertex>,
    pose: Mat4,
    inner: f32,
    outer: f32,
    segments: u32,
    color: [f32; 4],
) {
    let radii_ok = outer > inner && inner >= 0.0;
    if !pose.is_finite() || segments < 3 || !radii_ok {
        return;
    }
    // Lift a millimetre along the normal so the ring does not fight with the surface it marks.
    let lift = Mat4::from_translation(Vec3::Y * 0.002);
    let m = pose * lift;
    let at = |r: f32, i: u32| {
        let a = i as f32 / segments as f32 * TAU;
        m.transform_point3(Vec3::new(r * a.cos(), 0.0, r * a.sin()))
    };
    for i in 0..segments {
        push_quad(
            out,
            at(inner, i),
            at(outer, i),
            at(outer, i + 1),
            at(inner, i + 1),
            color,
        );
    }
}

/// A filled disc of `radius` metres in the XZ plane of `pose`.
pub fn disc(out: &mut Vec<MarkerVertex>, pose: Mat4, radius: f32, segments: u32, color: [f32; 4]) {
    ring(out, pose, 0.0, radius, segments, color);
}

/// A small upright cross (three axis-aligned quads) at `p`, visible from any side: marks a
/// point in space such as a picked model point.
pub fn point_mark(out: &mut Vec<MarkerVertex>, p: Vec3, size: f32, color: [f32; 4]) {
    if !p.is_finite() || !positive(size) {
        return;
    }
    let h = size * 0.5;
    let t = size * 0.12;
    for (u, v) in [(Vec3::X, Vec3::Y), (Vec3::Z, Vec3::Y), (Vec3::X, Vec3::Z)] {
        push_quad(
            out,
            p - u * h - v * t,
            p + u * h - v * t,
            p + u * h + v * t,
            p - u * h + v * t,
            color,
        );
        push_quad(
            out,
            p - v * h - u * t,
            p + v * h - u * t,
            p + v * h + u * t,
            p - v * h + u * t,
            color,
        );
    }
}

/// A polyline as two crossed ribbons `width` metres wide (one flat, one upright), so it reads
/// from above and from the side: teleport arcs and controller rays.
pub fn polyline(out: &mut Vec<MarkerVertex>, points: &[Vec3], width: f32, color: [f32; 4]) {
    if points.len() < 2 || !positive(width) {
        return;
    }
    let h = width * 0.5;
    for pair in points.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let dir = b - a;
        if !a.is_finite() || !b.is_finite() || dir.length_squared() < 1e-12 {
            continue;
        }
        let dir = dir.normalize();
        // Flat ribbon: sideways in the floor plane (any horizontal side for a vertical segment).
        let side = dir.cross(Vec3::Y).try_normalize().unwrap_or(Vec3::X);
        let up = side.cross(dir).normalize_or(Vec3::Y);
        for s in [side, up] {
            push_quad(out, a - s * h, b - s * h, b + s * h, a + s * h, color);
        }
    }
}

/// A square grid of lines on the floor plane `y`, centred on `centre` (rounded to the spacing so
/// the grid stays put while the centre moves), `half_extent` metres each way.
pub fn floor_grid(
    out: &mut Vec<MarkerVertex>,
    centre: Vec3,
    y: f32,
    half_extent: f32,
    spacing: f32,
    width: f32,
    color: [f32; 4],
) {
    if !centre.is_finite() || !positive(spacing) || !positive(half_extent) || !positive(width) {
        return;
    }
    let lines = (half_extent / spacing).floor().min(100.0) as i32;
    let cx = (centre.x / spacing).round() * spacing;
    let cz = (centre.z / spacing).round() * spacing;
    let ext = lines as f32 * spacing;
    let h = width * 0.5;
    for i in -lines..=lines {
        let o = i as f32 * spacing;
        let (x, z) = (cx + o, cz + o);
        push_quad(
            out,
            Vec3::new(x - h, y, cz - ext),
            Vec3::new(x + h, y, cz - ext),
            Vec3::new(x + h, y, cz + ext),
            Vec3::new(x - h, y, cz + ext),
            color,
        );
        push_quad(
            out,
            Vec3::new(cx - ext, y, z - h),
            Vec3::new(cx + ext, y, z - h),
            Vec3::new(cx + ext, y, z + h),
            Vec3::new(cx - ext, y, z + h),
            color,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn positions(v: &[MarkerVertex]) -> Vec<Vec3> {
        v.iter().map(|m| Vec3::from(m.position)).collect()
    }

    #[test]
    fn ring_lies_on_the_surface_of_the_pose_between_its_radii() {
        let centre = Vec3::new(1.0, 0.8, -2.0);
        // A wall hit: the pose's +Y (normal) points along +Z.
        let pose = Mat4::from_rotation_translation(
            glam::Quat::from_rotation_x(std::f32::consts::FRAC_PI_2),
            centre,
        );
        let mut out = Vec::new();
        ring(&mut out, pose, 0.08, 0.1, 24, colors::RETICLE);
        assert_eq!(out.len(), 24 * 6);
        for p in positions(&out) {
            let d = p - centre;
            // In the wall plane (lifted 2 mm along the normal) and between the radii.
            assert!((d.z - 0.002).abs() < 1e-4, "{d}");
            let r = d.truncate().length();
            assert!((0.08 - 1e-4..=0.1 + 1e-4).contains(&r), "{r}");
        }
    }

    #[test]
    fn bad_input_adds_nothing() {
        let mut out = Vec::new();
        ring(
            &mut out,
            Mat4::from_translation(Vec3::NAN),
            0.1,
            0.2,
            16,
            colors::RETICLE,
        );
        ring(&mut out, Mat4::IDENTITY, 0.2, 0.1, 16, colors::RETICLE);
        polyline(&mut out, &[Vec3::ZERO], 0.01, colors::RAY);
        polyline(&mut out, &[Vec3::ZERO, Vec3::ZERO], 0.01, colors::RAY);
        point_mark(&mut out, Vec3::INFINITY, 0.1, colors::MODEL_POINT);
        floor_grid(&mut out, Vec3::ZERO, 0.0, 5.0, 0.0, 0.01, colors::GRID);
        assert!(out.is_empty());
    }

    #[test]
    fn polyline_ribbons_follow_the_points_at_half_width() {
        let pts = [
            Vec3::new(0.0, 1.0, 0.0),
            Vec3::new(0.0, 1.0, -2.0),
            Vec3::new(0.0, 0.0, -3.0),
        ];
        let mut out = Vec::new();
        polyline(&mut out, &pts, 0.02, colors::VALID);
        assert_eq!(out.len(), 2 * 2 * 6, "two crossed quads per segment");
        for m in &out {
            let p = Vec3::from(m.position);
            // Every vertex is within half the width of the polyline.
            let d = pts
                .windows(2)
                .map(|s| {
                    let (a, b) = (s[0], s[1]);
                    let t = ((p - a).dot(b - a) / (b - a).length_squared()).clamp(0.0, 1.0);
                    (a + (b - a) * t - p).length()
                })
                .fold(f32::INFINITY, f32::min);
            assert!(d <= 0.0101, "{d}");
        }
    }

    #[test]
    fn floor_grid_stays_on_the_floor_and_snaps_to_the_spacing() {
        let mut a = Vec::new();
        floor_grid(
            &mut a,
            Vec3::new(0.4, 1.7, 0.3),
            0.0,
            3.0,
            1.0,
            0.01,
            colors::GRID,
        );
        let mut b = Vec::new();
        floor_grid(
            &mut b,
            Vec3::new(0.1, 1.7, -0.2),
            0.0,
            3.0,
            1.0,
            0.01,
            colors::GRID,
        );
        assert_eq!(a, b, "small moves of the centre do not move the grid");
        assert_eq!(a.len(), 7 * 2 * 6);
        assert!(a.iter().all(|m| m.position[1] == 0.0));
    }

    #[test]
    fn marker_vertex_matches_the_shader_layout() {
        assert_eq!(std::mem::size_of::<MarkerVertex>(), 28);
        assert_eq!(std::mem::offset_of!(MarkerVertex, color), 12);
    }
}
