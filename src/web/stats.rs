//! What `window.twinlens.stats()` returns: the page's figures, documented in README.

use std::cell::RefCell;
use std::rc::Rc;

use serde::Serialize;

use super::live::{ConnectionStats, ReadingStats};
use super::xr::XrStats;

/// What `window.twinlens.stats()` returns; documented in README.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// "loading", "ready" or "error".
    pub state: &'static str,
    /// "webgpu" or "webgl" once the renderer runs.
    pub backend: Option<&'static str>,
    /// Frames rendered since load.
    pub frames: u64,
    /// Draw calls in the last frame.
    pub draw_calls: u32,
    /// Triangles in the last frame.
    pub triangles: u64,
    /// Nodes in the model.
    pub nodes: usize,
    /// Sensors in the manifest.
    pub sensors: usize,
    /// Sensors whose node exists in the model.
    pub sensors_bound: usize,
    /// The last error shown to the user.
    pub last_error: Option<String>,
    /// Milliseconds from navigation start to the first rendered frame.
    pub first_frame_ms: Option<f64>,
    /// Milliseconds from navigation start to the first frame with the whole model uploaded
    /// (large models arrive on the GPU over several frames, each drawing what has landed).
    pub model_uploaded_ms: Option<f64>,
    /// Frames drawn while the model was still uploading.
    pub model_upload_frames: u32,
    /// MSAA sample count.
    pub msaa: u32,
    /// Bytes of the model received so far.
    pub bytes_loaded: u64,
    /// Bytes of the model announced by the server (0 when unknown).
    pub bytes_total: u64,
    /// Wasm CPU time of the last frame (drain, update, encode), milliseconds.
    pub cpu_ms_last_frame: f64,
    /// Drawing-buffer size in device pixels.
    pub canvas_width: u32,
    /// Drawing-buffer size in device pixels.
    pub canvas_height: u32,
    /// The live-data connection; null when the manifest has no source.
    pub connection: Option<ConnectionStats>,
    /// Each sensor's latest reading, keyed by sensor id.
    pub readings: std::collections::BTreeMap<String, ReadingStats>,
    /// Frame timing percentiles since the last `resetTimings()`.
    pub timings: crate::timing::TimingReport,
    /// Memory figures.
    pub memory: MemoryStats,
    /// WebXR: support, the running session and its figures (see `web::xr`).
    pub xr: Option<XrStats>,
    /// Draw calls of the overlay in the last frame (a handful, whatever the label count).
    pub overlay_draw_calls: u32,
    /// Labels drawn in full in the last frame.
    pub labels_drawn: u32,
    /// Labels drawn as markers (decluttered) in the last frame.
    pub markers_drawn: u32,
    /// What each label shows and where it was drawn in the inline view.
    pub labels: Vec<LabelStats>,
    /// Bytes of label instances uploaded by the last frame (only the labels that changed).
    pub overlay_upload_bytes: u64,
    /// Per-node state (tint) uploads of the inline view.
    pub node_upload: NodeUploadStats,
}

/// `stats().nodeUpload`: what recolouring parts costs on the GPU bus.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeUploadStats {
    /// Bytes written by the last tint change.
    pub last_bytes: u64,
    /// Range writes of the last tint change.
    pub last_writes: usize,
    /// The largest single tint change so far, in bytes.
    pub max_bytes: u64,
    /// Its range writes.
    pub max_writes: usize,
    /// Sensors with a tint after that change.
    pub max_tinted: usize,
}

/// One sensor label as `stats().labels[i]` shows it.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelStats {
    /// Sensor id.
    pub id: String,
    /// Display name.
    pub title: String,
    /// Value text as drawn.
    pub value: String,
    /// Age or state text when not live.
    pub detail: Option<String>,
    /// `normal`, `warning`, `alarm`, `stale` or `noData`.
    pub state: &'static str,
    /// Drawn at all in the inline view.
    pub visible: bool,
    /// Drawn as a marker only.
    pub marker: bool,
    /// Label centre, CSS pixels from the canvas's top-left.
    pub x: f32,
    /// Label centre, CSS pixels from the canvas's top-left.
    pub y: f32,
    /// The part's anchor point, CSS pixels (null when behind the camera).
    pub anchor: Option<[f32; 2]>,
}

/// Memory figures for `stats().memory`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemoryStats {
    /// Size of the wasm linear memory in bytes (it only grows).
    pub wasm_bytes: u64,
}

/// Shared handle to the stats, readable from JS at any time.
pub type SharedStats = Rc<RefCell<Stats>>;
