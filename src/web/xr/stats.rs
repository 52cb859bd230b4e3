//! `stats().xr`: what the XR controller and a running session report, documented in README.

use super::*;

/// `stats().xr`, documented in README.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct XrStats {
    /// What the browser offers.
    pub supported: SupportStats,
    /// A session is running.
    pub active: bool,
    /// A session is being started.
    pub starting: bool,
    /// `"immersive-ar"` / `"immersive-vr"` of the running or last session.
    pub mode: Option<&'static str>,
    /// `"webgl-canvas"`, `"webgl-layer"` (see the module notes).
    pub path: Option<&'static str>,
    /// `"inline"` (the page's renderer) or `"xr-canvas"` (a WebGL2 renderer for XR because the
    /// page renders with WebGPU).
    pub renderer: Option<&'static str>,
    /// Reference space in use (`"local-floor"` or `"local"`).
    pub reference_space: Option<&'static str>,
    /// Sessions started since load.
    pub sessions: u32,
    /// Frames rendered in the running or last session.
    pub frames: u64,
    /// Views drawn in the last frame.
    pub views: u32,
    /// Wasm CPU time per XR frame (input, poses, encoding), milliseconds, mean of the last 60.
    pub cpu_ms_per_frame: f64,
    /// Wasm CPU time recording one view, milliseconds, mean of the last 60 frames.
    pub cpu_ms_per_view: f64,
    /// Wasm CPU time of the submit, milliseconds, mean of the last 60 frames (on WebGL2 the GL
    /// calls happen here, so it grows with the draw calls of all views).
    pub cpu_ms_submit: f64,
    /// Draw calls of the busiest view in the last frame.
    pub draw_calls_per_view: u32,
    /// Triangles of the busiest view in the last frame.
    pub triangles_per_view: u64,
    /// XR framebuffer size, pixels.
    pub framebuffer: Option<[u32; 2]>,
    /// AR placement: `"searching"`, `"previewing"`, `"placed"` (`"placed"` in VR).
    pub placement: &'static str,
    /// The twin's placement when there is one.
    pub placement_pose: Option<PoseStats>,
    /// How it got there: `"hit"`, `"restored-anchor"`, `"restored-storage"`, `"aligned"`,
    /// `"vr"`.
    pub placement_source: Option<&'static str>,
    /// `"none"`, `"pending"`, `"tracked"`, `"lost"`, `"unsupported"`, `"failed"`.
    pub anchor: &'static str,
    /// The anchor has a persistent handle (restored on the next visit).
    pub anchor_persistent: bool,
    /// A stored placement from an earlier visit is offered for confirmation.
    pub restore_offered: bool,
    /// RMS error of the last alignment, centimetres.
    pub alignment_rms_cm: Option<f32>,
    /// Alignment details.
    pub alignment: AlignStats,
    /// `"tracking"`, `"limited"` (emulated position), `"lost"`.
    pub tracking: &'static str,
    /// `XRSession.visibilityState`.
    pub visibility: Option<String>,
    /// `XRSession.environmentBlendMode`.
    pub environment_blend_mode: Option<String>,
    /// `XRSession.domOverlayState.type` when the DOM overlay is active.
    pub dom_overlay: Option<String>,
    /// Where the reticle is (AR hit-test), reference space.
    pub reticle: Option<[f32; 3]>,
    /// Viewer position in the (moved, in VR) space.
    pub viewer: Option<[f32; 3]>,
    /// Viewer heading, radians.
    pub viewer_yaw: Option<f32>,
    /// VR locomotion offset: the moved space's origin in the base space, and its yaw.
    pub locomotion: Option<LocomotionStats>,
    /// VR teleports done.
    pub teleports: u32,
    /// VR snap turns done.
    pub snap_turns: u32,
    /// Selects (tap, trigger, pinch, `xr.select()`) acted on; ignored ones (while paused, or
    /// part of a two-finger gesture) do not count.
    pub selects: u32,
    /// The selected part (node name) and its sensor id.
    pub selected: Option<SelectedStats>,
    /// Live GPU objects of the renderer XR draws with (WebGL2 only).
    pub gpu: Option<GpuCounts>,
    /// Event listeners XR holds (HUD and entry buttons, plus the running session's).
    pub listeners: usize,
    /// Closures XR holds for the running session (frame callback and listeners).
    pub session_closures: usize,
    /// Visible HUD buttons (`data-xr` names).
    pub hud: Vec<&'static str>,
    /// The last XR problem shown, in words.
    pub last_error: Option<String>,
}

/// `stats().xr.supported`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SupportStats {
    /// Support has been checked.
    pub checked: bool,
    /// `isSessionSupported('immersive-ar')`.
    pub ar: bool,
    /// `isSessionSupported('immersive-vr')`.
    pub vr: bool,
    /// Why XR is not offered, in words (shown on the page).
    pub reason: Option<String>,
    /// The browser has `XRGPUBinding` (WebXR with WebGPU layers). Not used yet: see the
    /// module notes.
    pub webgpu_binding: bool,
}

/// A placement in `stats().xr`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PoseStats {
    /// Pivot position, metres.
    pub position: [f32; 3],
    /// Heading, radians.
    pub yaw: f32,
    /// Display scale.
    pub scale: f32,
    /// The twin-space point that stands at `position`: a twin point `p` is shown at
    /// `position + R_y(yaw) · scale · (p − pivot)`.
    pub pivot: [f32; 3],
}

/// Alignment in `stats().xr.alignment`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlignStats {
    /// Alignment mode is on.
    pub active: bool,
    /// Model points picked, twin coordinates.
    pub model_points: Vec<[f32; 3]>,
    /// Real points measured, reference space.
    pub real_points: Vec<[f32; 3]>,
    /// Residual per pair, centimetres.
    pub residuals_cm: Vec<f32>,
    /// Measured spread over model spread (1 when units and pairing are right).
    pub scale_ratio: Option<f32>,
    /// Why the last solve failed.
    pub error: Option<String>,
}

/// VR locomotion in `stats().xr.locomotion`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct LocomotionStats {
    /// Offset translation, metres.
    pub offset: [f32; 3],
    /// Offset heading, radians.
    pub yaw: f32,
}

/// The selected part in `stats().xr.selected`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SelectedStats {
    /// Node name (or `node <index>`).
    pub node: String,
    /// Sensor bound to it or its nearest ancestor.
    pub sensor: Option<String>,
}
