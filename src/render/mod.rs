//! The renderer layer. In the page it picks WebGPU or WebGL2 and draws the twin to the canvas
//! (`canvas`, wasm only) and into XR views (`canvas::xr_target`); natively it draws offscreen
//! ([`headless`], Vulkan), which is how the host tests check it against reference images.
//!
//! Drawing itself lives in [`ModelPass`] (pipelines, per-view uniforms, culling and draw
//! recording), [`GpuModel`] (the model batched into a few buffers, per-node state in textures,
//! see `batch` and `node_data`) and [`OverlayPass`] (sensor labels, one instanced draw per view),
//! which know nothing about the canvas, so every view goes through the same code with its own
//! attachments and viewports. A view's draw calls stay at most [`cull::MAX_MODEL_DRAWS`] for any
//! number of untextured parts.
//!
//! Colour is handled identically on both backends: the shader outputs linear colour and always
//! renders into an sRGB view of the surface, so the hardware encodes it.

mod batch;
#[cfg(target_arch = "wasm32")]
mod canvas;
mod changed_runs;
pub mod cull;
mod gpu_model;
#[cfg(not(target_arch = "wasm32"))]
pub mod headless;
mod model_bindings;
mod model_pass;
mod node_data;
mod overlay_pass;
#[cfg(test)]
pub(crate) mod test_scene;
mod texture_prep;
mod uniforms;

pub use batch::GpuVertex;
#[cfg(target_arch = "wasm32")]
pub use canvas::{Renderer, xr_target};
pub use gpu_model::{GpuModel, UPLOAD_BYTES_PER_STEP};
pub use model_pass::{
    ModelPass, PipelineSet, TargetFormats, VERTEX_ATTRIBUTES, ViewSlot, Viewport,
};
pub use overlay_pass::{
    INSTANCE_ATTRIBUTES, OverlayPass, OverlaySlot, OverlayView, PULSE_PERIOD_S,
};
pub use uniforms::{Lighting, ViewUniform};

/// Which graphics API to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// WebGPU if the browser gives an adapter and device, else WebGL2.
    #[default]
    Auto,
    /// WebGPU only; fails if the browser has none.
    WebGpu,
    /// WebGL2 only.
    WebGl,
}

/// Why the renderer could not start or draw. Messages say what the user can do about it.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// `?backend=webgpu` was asked for, but the browser exposes no WebGPU adapter.
    #[error(
        "WebGPU is not available in this browser; open the page without ?backend=webgpu \
         (or with ?backend=webgl) to use WebGL2, or use a browser with WebGPU enabled \
         (current Chrome or Edge; Safari and Firefox on supported systems)"
    )]
    WebGpuUnavailable,
    /// The browser has WebGPU, but no adapter or device could be created.
    #[error(
        "WebGPU could not start ({reason}); open the page with ?backend=webgl to use WebGL2, \
         or update the browser and graphics driver"
    )]
    WebGpuFailed {
        /// What the browser reported.
        reason: String,
    },
    /// WebGL2 could not be initialised on the canvas.
    #[error(
        "WebGL2 could not start on this canvas ({reason}); enable hardware acceleration in the \
         browser settings, close other tabs that use the GPU and reload, or try another browser"
    )]
    WebGlUnavailable {
        /// What the browser reported.
        reason: String,
    },
    /// The canvas offers no colour format that can be rendered with sRGB encoding.
    #[error(
        "The canvas offers no usable colour format (offered: {offered}); try the other backend \
         (?backend=webgl or ?backend=webgpu) or another browser"
    )]
    NoSurfaceFormat {
        /// The formats the surface reported.
        offered: String,
    },
    /// The canvas keeps refusing frames even after reconfiguration.
    #[error(
        "The canvas stopped accepting frames ({reason}); reload the page, and if it happens \
         again try ?backend=webgl"
    )]
    SurfaceLost {
        /// What went wrong.
        reason: String,
    },
    /// No graphics adapter could be opened (native builds: no Vulkan driver).
    #[error(
        "No GPU adapter could be opened ({reason}); install a Vulkan driver (on Debian, \
         `apt-get install mesa-vulkan-drivers` gives the software one)"
    )]
    NoAdapter {
        /// What wgpu reported.
        reason: String,
    },
    /// The GPU device was lost (driver reset, GPU process crash, too much memory in use).
    #[error(
        "The GPU device was lost ({reason}); reload the page, and if it keeps happening close \
         other GPU-heavy tabs or try ?backend=webgl"
    )]
    DeviceLost {
        /// What the browser reported.
        reason: String,
    },
}

/// What one rendered frame (or one view) drew.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameStats {
    /// Draw calls issued, model and overlay together.
    pub draw_calls: u32,
    /// Triangles submitted, model and overlay (two per overlay quad) together.
    pub triangles: u64,
    /// The overlay's share of `draw_calls`: one per view that shows any label, whatever the
    /// number of labels.
    pub overlay_draw_calls: u32,
    /// Labels drawn in full (plate, text, icon, sparkline).
    pub labels_drawn: u32,
    /// Labels drawn as icon-only markers (decluttered).
    pub markers_drawn: u32,
}

impl std::ops::AddAssign for FrameStats {
    fn add_assign(&mut self, o: FrameStats) {
        self.draw_calls += o.draw_calls;
        self.triangles += o.triangles;
        self.overlay_draw_calls += o.overlay_draw_calls;
        self.labels_drawn += o.labels_drawn;
        self.markers_drawn += o.markers_drawn;
    }
}

/// Background colour, linear (the sRGB target encodes it to about #35383c).
pub const CLEAR_COLOR: wgpu::Color = wgpu::Color {
    r: 0.035,
    g: 0.04,
    b: 0.045,
    a: 1.0,
};

/// Depth format of every target. Depth24Plus is supported (with 4× MSAA) on every WebGPU and
/// WebGL2 implementation.
pub const DEPTH_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Depth24Plus;
