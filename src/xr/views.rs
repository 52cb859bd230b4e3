//! Per-view conversions from WebXR's conventions to the renderer's: projection depth range,
//! view matrix, and viewport origin.
//!
//! A WebGL-compatible XR session hands out OpenGL-style projections (clip z in -1..1,
//! column-major `Float32Array(16)`) and `XRWebGLLayer` viewports with a bottom-left origin; wgpu
//! wants clip z in 0..1 and viewports with a top-left origin. A session requested with the
//! `"webgpu"` feature (WebXR/WebGPU binding) already reports 0..1 projections, so the remap is
//! chosen per session. Getting either wrong shows up only on a device (depth fighting, eyes
//! swapped vertically), so the conversions live here where they are tested.

use glam::{Mat4, Vec4};

use crate::camera::ViewMatrices;

/// Why a WebXR view could not be turned into renderer matrices.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ViewError {
    /// A matrix array had the wrong length.
    #[error("{what} has {len} elements; WebXR matrices have 16")]
    WrongLength {
        /// Which matrix (for the message).
        what: &'static str,
        /// Elements received.
        len: usize,
    },
    /// A matrix held NaN or infinity (a lost tracking frame on some runtimes).
    #[error("{what} contains a non-finite number; skip this frame")]
    NonFinite {
        /// Which matrix (for the message).
        what: &'static str,
    },
    /// The view transform cannot be inverted, so there is no eye position.
    #[error("the view transform is singular; skip this frame")]
    Singular,
}

/// Remaps clip z from OpenGL's -1..1 to wgpu's 0..1: `z' = (z + w) / 2`.
pub const GL_TO_WGPU_DEPTH: Mat4 = Mat4::from_cols(
    Vec4::new(1.0, 0.0, 0.0, 0.0),
    Vec4::new(0.0, 1.0, 0.0, 0.0),
    Vec4::new(0.0, 0.0, 0.5, 0.0),
    Vec4::new(0.0, 0.0, 0.5, 1.0),
);

/// Reads a column-major WebXR matrix (`XRView.projectionMatrix`, `XRRigidTransform.matrix`).
pub fn mat4_from_webxr(what: &'static str, m: &[f32]) -> Result<Mat4, ViewError> {
    let arr: &[f32; 16] = m
        .try_into()
        .map_err(|_| ViewError::WrongLength { what, len: m.len() })?;
    if arr.iter().any(|v| !v.is_finite()) {
        return Err(ViewError::NonFinite { what });
    }
    Ok(Mat4::from_cols_array(arr))
}

/// Clip-space depth range of the projections a session reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClipDepth {
    /// -1..1: every WebGL-compatible session (`XRWebGLLayer`, `XRWebGLBinding`).
    #[default]
    MinusOneToOne,
    /// 0..1: a session requested with the `"webgpu"` feature (`XRGPUBinding`).
    ZeroToOne,
}

/// Converts an `XRView.projectionMatrix` in `depth` clip space to a wgpu projection (0..1).
pub fn projection_from_webxr(projection: Mat4, depth: ClipDepth) -> Mat4 {
    match depth {
        ClipDepth::MinusOneToOne => GL_TO_WGPU_DEPTH * projection,
        ClipDepth::ZeroToOne => projection,
    }
}

/// Builds the renderer's matrices for one `XRView`.
///
/// `projection` is `view.projectionMatrix` (in `depth` clip space) and `view_inverse` is
/// `view.transform.inverse.matrix`, which already maps reference space to view space, i.e. it
/// is the view matrix. The eye is taken from the inverse of that, so both agree exactly.
pub fn view_matrices(
    projection: &[f32],
    view_inverse: &[f32],
    depth: ClipDepth,
) -> Result<ViewMatrices, ViewError> {
    let proj = projection_from_webxr(mat4_from_webxr("projectionMatrix", projection)?, depth);
    let view = mat4_from_webxr("transform.inverse.matrix", view_inverse)?;
    let det = view.determinant();
    if !det.is_finite() || det.abs() < 1e-12 {
        return Err(ViewError::Singular);
    }
    let eye = view.inverse().w_axis.truncate();
    Ok(ViewMatrices { view, proj, eye })
}

/// A rectangle of framebuffer pixels, as integers the way WebXR reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelRect {
    /// Left edge.
    pub x: i32,
    /// Bottom edge (GL origin) or top edge (wgpu origin), depending on which side produced it.
    pub y: i32,
    /// Width.
    pub width: i32,
    /// Height.
    pub height: i32,
}

impl PixelRect {
    /// Converts an `XRWebGLLayer.getViewport()` rectangle (origin bottom-left) to wgpu's
    /// top-left origin in a framebuffer `framebuffer_height` pixels tall. The conversion is
    /// its own inverse, so the same function maps back.
    pub fn flip_y(self, framebuffer_height: u32) -> PixelRect {
        let fb = i32::try_from(framebuffer_height).unwrap_or(i32::MAX);
        PixelRect {
            y: fb.saturating_sub(self.y.saturating_add(self.height)),
            ..self
        }
    }

    /// True when the rectangle is non-empty and lies inside a `width` × `height` attachment;
    /// wgpu rejects a viewport that does not, which would lose the whole frame. IWER resizes
    /// the canvas during a session, so a viewport can briefly disagree with the framebuffer.
    pub fn fits_within(&self, width: u32, height: u32) -> bool {
        let (w, h) = (i64::from(width), i64::from(height));
        self.width > 0
            && self.height > 0
            && self.x >= 0
            && self.y >= 0
            && i64::from(self.x) + i64::from(self.width) <= w
            && i64::from(self.y) + i64::from(self.height) <= h
    }

    /// Width over height, for projections built on this side (1 for an empty rectangle).
    pub fn aspect(&self) -> f32 {
        if self.width > 0 && self.height > 0 {
            self.width as f32 / self.height as f32
        } else {
            1.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glam::Vec3;

    /// An OpenGL perspective matrix like the one a headset reports.
    fn gl_perspective(near: f32, far: f32) -> Mat4 {
        glam::camera::rh::proj::opengl::perspective(1.2, 0.9, near, far)
    }

    fn clip_depth(proj: Mat4, view_z: f32) -> f32 {
        let c = proj * Vec4::new(0.0, 0.0, view_z, 1.0);
        c.z / c.w
    }

    #[test]
    fn depth_remap_sends_near_to_zero_and_far_to_one() {
        let (near, far) = (0.1, 50.0);
        let gl = gl_perspective(near, far);
        assert!((clip_depth(gl, -near) + 1.0).abs() < 1e-4, "GL near is -1");
        let wgpu = projection_from_webxr(gl, ClipDepth::MinusOneToOne);
        assert!(clip_depth(wgpu, -near).abs() < 1e-5);
        assert!((clip_depth(wgpu, -far) - 1.0).abs() < 1e-4);
        let mid = clip_depth(wgpu, -1.0);
        assert!(mid > 0.0 && mid < 1.0);
    }

    #[test]
    fn depth_remap_handles_an_infinite_far_plane() {
        // IWER reports an infinite-far projection: m[10] = -1, m[14] = -2·near (near 0.1).
        let mut cols = Mat4::IDENTITY.to_cols_array();
        (cols[0], cols[5], cols[10], cols[11], cols[14], cols[15]) =
            (1.5, 1.0, -1.0, -1.0, -0.2, 0.0);
        let proj = projection_from_webxr(
            mat4_from_webxr("projectionMatrix", &cols).expect("16"),
            ClipDepth::MinusOneToOne,
        );
        assert!(clip_depth(proj, -0.1).abs() < 1e-6);
        assert!((clip_depth(proj, -1.0e6) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn depth_remap_matches_glam_directx_projection() {
        let gl = glam::camera::rh::proj::opengl::perspective(1.0, 1.5, 0.2, 30.0);
        let dx = glam::camera::rh::proj::directx::perspective(1.0, 1.5, 0.2, 30.0);
        assert!(projection_from_webxr(gl, ClipDepth::MinusOneToOne).abs_diff_eq(dx, 1e-5));
        // A WebGPU session's projection is already 0..1 and passes through unchanged.
        assert_eq!(projection_from_webxr(dx, ClipDepth::ZeroToOne), dx);
    }

    #[test]
    fn view_matrices_take_the_inverse_transform_as_view_and_recover_the_eye() {
        let eye = Vec3::new(0.3, 1.6, 2.0);
        let pose = Mat4::from_rotation_translation(glam::Quat::from_rotation_y(0.7), eye);
        let inv = pose.inverse();
        let proj = gl_perspective(0.1, 100.0);
        let m = view_matrices(
            &proj.to_cols_array(),
            &inv.to_cols_array(),
            ClipDepth::default(),
        )
        .expect("valid view");
        assert!(m.view.abs_diff_eq(inv, 1e-6));
        assert!(m.eye.abs_diff_eq(eye, 1e-5));
        // A point straight ahead of the eye projects to the centre.
        let ahead = pose.transform_point3(Vec3::new(0.0, 0.0, -2.0));
        let p = (m.proj * m.view).project_point3(ahead);
        assert!(p.x.abs() < 1e-4 && p.y.abs() < 1e-4 && (0.0..=1.0).contains(&p.z));
    }

    #[test]
    fn bad_matrices_are_reported_not_used() {
        let id = Mat4::IDENTITY.to_cols_array();
        assert_eq!(
            view_matrices(&id[..15], &id, ClipDepth::default()),
            Err(ViewError::WrongLength {
                what: "projectionMatrix",
                len: 15
            })
        );
        let mut nan = id;
        nan[5] = f32::NAN;
        assert!(matches!(
            view_matrices(&id, &nan, ClipDepth::default()),
            Err(ViewError::NonFinite { .. })
        ));
        assert_eq!(
            view_matrices(&id, &[0.0; 16], ClipDepth::default()),
            Err(ViewError::Singular)
        );
    }

    #[test]
    fn viewport_flip_round_trips_and_places_eyes_correctly() {
        // Two eyes side by side in a 2000 × 1000 framebuffer; a lower-half viewport in GL terms
        // is the lower half in wgpu terms too, i.e. starts at y = 500 from the top.
        let left = PixelRect {
            x: 0,
            y: 0,
            width: 1000,
            height: 1000,
        };
        assert_eq!(left.flip_y(1000), left);
        let lower = PixelRect {
            x: 1000,
            y: 0,
            width: 1000,
            height: 500,
        };
        let flipped = lower.flip_y(1000);
        assert_eq!(
            flipped,
            PixelRect {
                x: 1000,
                y: 500,
                width: 1000,
                height: 500
            }
        );
        assert_eq!(flipped.flip_y(1000), lower);
        let odd = PixelRect {
            x: 3,
            y: 17,
            width: 40,
            height: 21,
        };
        assert_eq!(odd.flip_y(333).flip_y(333), odd);
    }

    #[test]
    fn viewports_outside_the_framebuffer_are_detected() {
        let vp = PixelRect {
            x: 1000,
            y: 0,
            width: 1000,
            height: 1000,
        };
        assert!(vp.fits_within(2000, 1000));
        assert!(
            !vp.fits_within(1500, 1000),
            "canvas shrank under the session"
        );
        assert!(
            !PixelRect {
                x: 0,
                y: 0,
                width: 0,
                height: 10
            }
            .fits_within(10, 10)
        );
        assert!(
            !PixelRect {
                x: -1,
                y: 0,
                width: 5,
                height: 5
            }
            .fits_within(10, 10)
        );
        assert_eq!(vp.aspect(), 1.0);
    }
}
