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
    /// Eye position in world space (w unused).
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

/// Per-node data (group 1): one per drawn node instance, selected by dynamic offset.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct NodeUniform {
    /// Node space to world space (placement root × node world matrix).
    pub model: [[f32; 4]; 4],
    /// Inverse-transpose of `model` for normals; a `mat4` avoids WGSL `mat3x3` column padding.
    pub normal: [[f32; 4]; 4],
    /// Sensor tint colour, linear RGB (a unused).
    pub tint_color: [f32; 4],
    /// [`TINT_NONE`], [`TINT_BLEND`] or [`TINT_REPLACE`].
    pub tint_mode: u32,
    /// Blend factor 0..=1 for [`TINT_BLEND`].
    pub tint_strength: f32,
    /// Pads the struct to a multiple of 16 bytes, as WGSL sizes it.
    pub _pad: [f32; 2],
}

/// Node tint mode: the material colour as modelled.
pub const TINT_NONE: u32 = 0;
/// Node tint mode: material colour moved toward the tint colour by the strength.
pub const TINT_BLEND: u32 = 1;
/// Node tint mode: the tint colour instead of the material colour.
pub const TINT_REPLACE: u32 = 2;

/// Byte range of the tint fields inside [`NodeUniform`]: what a recolouring rewrites.
pub const NODE_TINT_BYTES: std::ops::Range<usize> = 128..160;

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

/// Per-material data (group 2, binding 0).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct MaterialUniform {
    /// Linear RGBA base colour factor.
    pub base_color: [f32; 4],
    /// Metallic factor 0..=1.
    pub metallic: f32,
    /// Roughness factor 0..=1.
    pub roughness: f32,
    /// Pads the struct to 32 bytes, the WGSL size (struct size rounds up to 16).
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
            eye: eye.extend(1.0).to_array(),
            key_dir: lighting.key_dir.extend(0.0).to_array(),
            key_color: lighting.key_color.extend(0.0).to_array(),
            sky_color: lighting.sky_color.extend(0.0).to_array(),
            ground_color: lighting.ground_color.extend(0.0).to_array(),
        }
    }
}

impl NodeUniform {
    /// Uniform for a node drawn with the node-to-world matrix `model`.
    ///
    /// A singular matrix (zero scale on some axis) has no inverse; its normals then use `model`
    /// itself, which keeps directions finite and the geometry (flattened anyway) drawable.
    pub fn new(model: Mat4) -> Self {
        let normal = if model.determinant().abs() > f32::MIN_POSITIVE {
            model.inverse().transpose()
        } else {
            model
        };
        Self {
            model: model.to_cols_array_2d(),
            normal: normal.to_cols_array_2d(),
            tint_color: [0.0; 4],
            tint_mode: TINT_NONE,
            tint_strength: 0.0,
            _pad: [0.0; 2],
        }
    }

    /// Sets the tint: `mode` one of the `TINT_*` constants (others read as none), `color`
    /// linear RGB, `strength` the blend factor (clamped to 0..=1; NaN leaves the material).
    pub fn set_tint(&mut self, mode: u32, color: [f32; 3], strength: f32) {
        let finite = |v: f32| {
            if v.is_finite() {
                v.clamp(0.0, 1.0)
            } else {
                0.0
            }
        };
        let mode = if mode > TINT_REPLACE { TINT_NONE } else { mode };
        self.tint_mode = mode;
        self.tint_color = [finite(color[0]), finite(color[1]), finite(color[2]), 0.0];
        self.tint_strength = match mode {
            TINT_BLEND => finite(strength),
            TINT_REPLACE => 1.0,
            _ => 0.0,
        };
    }
}

impl MaterialUniform {
    /// Uniform for a material with linear base colour factor and metallic/roughness factors.
    pub fn new(base_color: [f32; 4], metallic: f32, roughness: f32) -> Self {
        Self {
            base_color,
            metallic,
            roughness,
            _pad: [0.0; 2],
        }
    }
}

/// `size` rounded up to a multiple of `align` (a power of two, as wgpu alignments are).
pub fn align_up(size: u64, align: u64) -> u64 {
    let align = align.max(1);
    size.div_ceil(align) * align
}
