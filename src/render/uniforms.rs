//! Uniform blocks shared with `shaders/mesh.wgsl` and `shaders/overlay.wgsl`, as `#[repr(C)]`
//! Pod structs.
//!
//! Every field is a 16-byte-aligned `vec4`/`mat4` (or packed to 16 bytes) so the Rust layout
//! equals the WGSL uniform layout without hidden padding. `tests/shaders.rs` includes this file
//! and checks sizes and member offsets against the parsed shader.
//!
//! Depends only on `glam` and `bytemuck` (no `crate::` paths) so the host test can include it.

use glam::{Mat4, Vec3};

/// Per-view data (group 0): one per rendered view, selected by dynamic offset.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ViewUniform {
    /// Projection × view (world to clip, wgpu depth range 0..1).
    pub view_proj: [[f32; 4]; 4],
    /// Eye position in world space; w: parts whose bounding sphere's radius is below w times
    /// their distance are skipped (zero: none; see [`ViewUniform::skip_parts_below`]).
    pub eye: [f32; 4],
    /// Unit direction from surfaces towards the key light, world space (w unused).
    pub key_dir: [f32; 4],
    /// Key light colour × intensity, linear (a unused).
    pub key_color: [f32; 4],
    /// Ambient light arriving from above, linear (a unused).
    pub sky_color: [f32; 4],
    /// Ambient light arriving from below, linear (a unused).
    pub ground_color: [f32; 4],
}

/// Per-model data (group 1, binding 0): where the model stands in the world.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ModelUniform {
    /// Model space to world space (the placement root).
    pub root: [[f32; 4]; 4],
    /// Inverse-transpose of `root` for normals.
    pub root_normal: [[f32; 4]; 4],
}

/// Per-view data of the overlay shader (`shaders/overlay.wgsl`), selected by dynamic offset.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct OverlayUniform {
    /// Viewport size the labels were laid out for, pixels.
    pub viewport: [f32; 2],
    /// Glyph atlas size, pixels.
    pub atlas_size: [f32; 2],
    /// Position in the alarm pulse cycle, 0..1.
    pub pulse_phase: f32,
    /// Distance range of the glyph atlas, atlas pixels.
    pub spread_px: f32,
    /// Pads the struct to 32 bytes, the WGSL size.
    pub _pad: [f32; 2],
}

/// The light rig for a view: one directional key light plus a hemisphere ambient.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lighting {
    /// Unit direction from surfaces towards the key light, world space.
    pub key_dir: Vec3,
    /// Key light colour × intensity, linear.
    pub key_color: Vec3,
    /// Ambient from above (world +Y), linear.
    pub sky_color: Vec3,
    /// Ambient from below, linear.
    pub ground_color: Vec3,
}

impl Lighting {
    /// Direction towards the key light in view space: upper left, from the viewer's side, so
    /// the faces the user looks at are lit whichever way the camera orbits.
    pub const KEY_DIR_VIEW: Vec3 = Vec3::new(-0.45, 0.75, 0.5);

    /// A key light fixed relative to the camera (`view` = world-to-view matrix).
    ///
    /// For stereo XR views, call this once with the head (not per-eye) view so both eyes share
    /// one light direction.
    pub fn headlight(view: Mat4) -> Self {
        let key_dir = view
            .inverse()
            .transform_vector3(Self::KEY_DIR_VIEW)
            .normalize_or(Vec3::Y);
        Self {
            key_dir,
            ..Self::default()
        }
    }

    /// A key light fixed in the world (`key_dir` points towards the light).
    pub fn world(key_dir: Vec3) -> Self {
        Self {
            key_dir: key_dir.normalize_or(Vec3::Y),
            ..Self::default()
        }
    }
}

impl Default for Lighting {
    /// A neutral rig: slightly warm key, cool sky, dark warm ground; ambient + key stays below 1
    /// for a white Lambertian surface facing the light, so nothing clips.
    fn default() -> Self {
        Self {
            key_dir: Self::KEY_DIR_VIEW.normalize(),
            key_color: Vec3::new(0.72, 0.70, 0.66),
            sky_color: Vec3::new(0.20, 0.22, 0.25),
            ground_color: Vec3::new(0.07, 0.065, 0.06),
        }
    }
}

impl ViewUniform {
    /// Uniform for a view with projection × view matrix `view_proj`, eye position `eye` (world)
    /// and the light rig `lighting`.
    pub fn new(view_proj: Mat4, eye: Vec3, lighting: &Lighting) -> Self {
        Self {
            view_proj: view_proj.to_cols_array_2d(),
            eye: eye.extend(0.0).to_array(),
            key_dir: lighting.key_dir.extend(0.0).to_array(),
            key_color: lighting.key_color.extend(0.0).to_array(),
            sky_color: lighting.sky_color.extend(0.0).to_array(),
            ground_color: lighting.ground_color.extend(0.0).to_array(),
        }
    }
}

impl ViewUniform {
    /// Skips parts drawn smaller than `min_px` pixels across in a view of `proj` that is
    /// `viewport_height_px` pixels high (unless tinted by a sensor or selected: those always
    /// show). Zero or a non-finite size turns skipping off.
    pub fn skip_parts_below(mut self, min_px: f32, proj: Mat4, viewport_height_px: f32) -> Self {
        // Pixels per unit of (radius / distance): the projection's vertical focal length.
        let focal_px = proj.y_axis.y.abs() * viewport_height_px * 0.5;
        let ratio = 0.5 * min_px / focal_px;
        self.eye[3] = if ratio.is_finite() && ratio > 0.0 {
            ratio
        } else {
            0.0
        };
        self
    }
}

impl ModelUniform {
    /// Uniform for a model placed by `root`.
    ///
    /// A singular matrix (zero scale on some axis) has no inverse; its normals then use `root`
    /// itself, which keeps directions finite and the geometry (flattened anyway) drawable.
    pub fn new(root: Mat4) -> Self {
        let normal = if root.determinant().abs() > f32::MIN_POSITIVE {
            root.inverse().transpose()
        } else {
            root
        };
        Self {
            root: root.to_cols_array_2d(),
            root_normal: normal.to_cols_array_2d(),
        }
    }
}

/// `size` rounded up to a multiple of `align` (a power of two, as wgpu alignments are).
pub fn align_up(size: u64, align: u64) -> u64 {
    let align = align.max(1);
    size.div_ceil(align) * align
}
