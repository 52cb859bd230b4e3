//! WebXR sessions: AR placement, anchoring and precise alignment of the twin on the real
//! machine, and a VR walkthrough at 1:1.
//!
//! [`XrController`] lives in the page's app (an [`XrHost`]) for the page's life: it checks what the browser
//! supports, shows the entry buttons (or says why there are none), starts sessions and owns the
//! HUD. A running session is an [`ActiveSession`]: it borrows the app's renderer (or a WebGL2
//! renderer of its own when the page renders with WebGPU, see below), owns every closure and
//! listener it registers and every GPU object it creates, and hands the renderer back when the
//! session ends, however it ends (Exit button, system UI, runtime). The inline view is suspended
//! meanwhile and resumes with its camera untouched.
//!
//! Here: the controller, session start and end, `stats().xr` and `window.twinlens.xr`.
//! `xr/session.rs`: a session's frame (poses, views, drawing, markers), VR and the HUD text.
//! `xr/ar.rs`: AR placement, anchors and their persistence, alignment. The pose math they call
//! is in `crate::xr` (host-tested); the drawing in `render::xr_target`; the HUD DOM in `xr_hud`.
//!
//! Rendering path, reported as `stats().xr.path`:
//! - `"webgl-canvas"`: the `XRWebGLLayer` has no framebuffer (emulators such as IWER, some
//!   runtimes): views are drawn into the canvas, whose size follows the layer every frame.
//! - `"webgl-layer"`: the layer has an opaque framebuffer (headsets, phones): drawn offscreen
//!   with depth and copied into it (see `render::xr_target`).
//! - `"webgpu-binding"` (`XRGPUBinding`) is not used: wgpu 30 cannot request an XR-compatible
//!   WebGPU adapter, and a session requested with the `"webgpu"` feature cannot fall back to a
//!   WebGL layer. When the inline view runs on WebGPU, the session therefore renders with a
//!   WebGL2 renderer on a second canvas (`stats().xr.renderer == "xr-canvas"`), created at the
//!   first session and kept for later ones (a canvas's WebGL context cannot be released and
//!   re-created reliably, so re-creating it per session would leak contexts).
//!
//! VR locomotion keeps its origin offset here rather than in
//! `XRReferenceSpace.getOffsetReferenceSpace` (broken in IWER 2.5.0, and one less object to
//! replace per teleport): runtime poses stay in the base `local-floor` space, and the offset
//! `L` (the moved space's origin in the base space) is applied to views (`view · L`) and to
//! input poses (`L⁻¹ · pose`).

use std::cell::{Cell, RefCell};
use std::f32::consts::PI;
use std::rc::{Rc, Weak};

use glam::{Mat4, Quat, Vec2, Vec3};
use js_sys::{Array, Object, Promise, Reflect};
use serde::Serialize;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, spawn_local};
use web_sys::{
    HtmlCanvasElement, WebGl2RenderingContext, XrFrame, XrInputSourceEvent, XrReferenceSpace,
    XrReferenceSpaceType, XrRenderStateInit, XrRigidTransform, XrSession, XrSessionInit, XrSpace,
    XrWebGlLayer, XrWebGlLayerInit,
};

use super::dom::Listener;
use super::xr_ffi::{
    FrameExt, SessionExt, XrAnchor, XrHitTestResult, XrHitTestSource, hit_test_results,
    request_hit_test_source, resolve, set_dom_overlay_root,
};
use super::xr_hud::{
    GESTURE_SELECT_GRACE_MS, HudAction, HudView, InputQueue, SelectSource, XrHud, XrInput, XrMode,
};
use crate::commands::{CommandQueue, Sender};
use crate::model::{Aabb, TwinModel};
use crate::overlay::pick::{LazyPickIndex, Ray, sensor_for_node};
use crate::render::xr_target::{
    GpuCounts, MarkerVertex, XrFrameDesc, XrFrameStats, XrOutput, XrTarget, XrViewDraw,
};
use crate::render::{BackendChoice, CLEAR_COLOR, Renderer, Viewport};
use crate::xr::align::{self, Alignment, PointPair};
use crate::xr::markers::{self, colors};
use crate::xr::placement::{
    Placement, PlacementFlow, PlacementState, ScaleMode, drag_nudge, metres_per_px, storage_key,
    viewer_yaw,
};
use crate::xr::teleport::{self, ArcParams, SNAP_TURN_STEP, SnapTurnInput};
use crate::xr::views::{self, ClipDepth, PixelRect};

/// How long `makeXRCompatible()` may take before the session goes ahead without it (Chromium
/// without an XR device never settles it; an emulator patches it).
const MAKE_XR_COMPATIBLE_TIMEOUT_MS: i32 = 3000;
/// HUD refreshes per second (and at once after an input).
const HUD_INTERVAL_MS: f64 = 250.0;
/// Frames averaged for the CPU figures.
const TIMING_WINDOW: usize = 60;
/// First frames of a session left out of the CPU figures (shader compilation, first uploads).
const TIMING_WARMUP_FRAMES: u64 = 5;
/// How long a hint (such as "place the twin first") stays in the HUD, milliseconds.
const NOTE_MS: f64 = 6000.0;
/// One HUD rotate step.
const ROTATE_STEP: f32 = PI / 12.0;
/// Thumbstick rotation speed of a placed AR twin, radians per second at full deflection.
const STICK_TURN_SPEED: f32 = PI / 2.0;
/// Teleports may land this far (metres) from the twin's footprint.
const TELEPORT_RADIUS_M: f32 = 10.0;
/// Length of a drawn controller ray, metres.
const RAY_LENGTH_M: f32 = 3.0;
/// Parts further than this along a select ray are not picked, metres.
const PICK_RANGE_M: f32 = 50.0;
/// Alignment uses at most this many point pairs.
const MAX_ALIGN_PAIRS: usize = 6;
/// Gap in front of the twin in VR, metres.
const VR_STANDOFF_M: f32 = 1.5;
/// A hit surface whose normal's vertical component is below this (about 45° of tilt) is not
/// offered for placing the twin.
const MIN_SURFACE_UP: f32 = 0.7;
/// localStorage writes of a gesture-adjusted placement wait this long for the gesture to end.
const PERSIST_DELAY_MS: f64 = 500.0;

mod ar;
mod session;

// ---------------------------------------------------------------------------------------------
// Stats.

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

// ---------------------------------------------------------------------------------------------
// The controller.

/// A sensor as the HUD names it.
#[derive(Debug, Clone)]
pub struct XrSensor {
    /// Sensor id (key of `stats().readings`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Node index it is bound to, if the node exists.
    pub node: Option<usize>,
}

/// What XR needs to know about the twin on show.
#[derive(Clone)]
struct Twin {
    /// The CPU model: picking parts and points, and the upload for a separate XR renderer.
    model: Rc<TwinModel>,
    /// The model's pick index (shared with the inline view).
    pick: Rc<LazyPickIndex>,
    /// The manifest's placement (model space → twin space), the inline view's model root.
    root: Mat4,
    /// Bounds in twin space.
    bounds: Aabb,
    /// `localStorage` key of the stored placement.
    storage_key: String,
    sensors: Rc<Vec<XrSensor>>,
    /// `(node, index into sensors)`, for `sensor_for_node`.
    node_sensors: Rc<Vec<(usize, usize)>>,
}

/// Where the session's renderer goes back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RendererHome {
    /// The page's renderer (WebGL2 page).
    App,
    /// The controller's XR renderer (WebGPU page).
    XrCanvas,
}

/// XR for the page: support, entry buttons, HUD and the running session.
pub struct XrController {
    hud: Rc<RefCell<XrHud>>,
    queue: InputQueue,
    support: SupportStats,
    system_listeners: Vec<Listener>,
    twin: Option<Twin>,
    /// The WebGL2 renderer for sessions on a WebGPU page, kept between sessions.
    xr_renderer: Option<(Renderer, HtmlCanvasElement)>,
    session: Option<Rc<RefCell<ActiveSession>>>,
    starting: bool,
    sessions: u32,
    /// Figures of the last session, shown after it ended.
    last: XrStats,
    last_error: Option<String>,
    /// What promises and session events reported, applied by the page's next frame
    /// ([`XrController::pump`]).
    events: CommandQueue<ControllerEvent>,
    /// Asks the page for a frame (to apply `events`).
    wake: Rc<dyn Fn()>,
}

/// What the controller learns outside the page's frame.
enum ControllerEvent {
    /// Support was checked (at start and on `devicechange`).
    Support(SupportStats),
    /// A session request failed before the session ran.
    StartFailed { mode: XrMode, message: String },
    /// The running session ended (its `end` event, or a set-up that failed after it ended).
    SessionEnded,
}

/// Queues `event` for the controller and wakes the page to apply it.
fn notify(to: &Sender<ControllerEvent>, wake: &Rc<dyn Fn()>, event: ControllerEvent) {
    // Nothing to free: the page is gone.
    let _ = to.push(event);
    wake();
}

fn perf_now() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

/// What XR needs from the page that holds its controller. The app implements it; XR never
/// names the app, so the two do not import each other.
pub trait XrHost {
    /// The controller (absent only while the page is being built).
    fn xr_controller(&mut self) -> Option<&mut XrController>;
    /// "webgpu" or "webgl", once the page renders.
    fn backend(&self) -> Option<&'static str>;
    /// Whether the twin has loaded and shows.
    fn ready(&self) -> bool;
    /// Lends the page's renderer and canvas to a session (a WebGL2 page); it comes back from
    /// [`XrController::pump`].
    fn take_renderer_for_xr(&mut self) -> Option<(Renderer, HtmlCanvasElement)>;
    /// The page's own work while a session draws (live data into the labels and tints the
    /// session's renderer shows).
    fn tick_during_xr(&mut self);
    /// The live connection in words.
    fn connection_label(&self) -> String;
    /// One sensor's reading in words, as the detail card shows it.
    fn reading_text(&self, id: &str) -> Option<String>;
}

/// The page, as XR holds it: weakly, for the session callbacks that may outlive it.
pub type Host = Weak<RefCell<dyn XrHost>>;

/// Runs `f` on the page, when it exists and is not busy.
fn with_host<R>(host: &Host, f: impl FnOnce(&mut dyn XrHost) -> R) -> Option<R> {
    let host = host.upgrade()?;
    let mut h = host.try_borrow_mut().ok()?;
    Some(f(&mut *h))
}

/// Runs `f` on the controller inside the page, when neither is busy.
fn with_controller<R>(app: &Host, f: impl FnOnce(&mut XrController) -> R) -> Option<R> {
    let app = app.upgrade()?;
    let mut a = app.try_borrow_mut().ok()?;
    a.xr_controller().map(f)
}

fn js_reason(e: &JsValue) -> String {
    if let Some(err) = e.dyn_ref::<js_sys::Error>() {
        return String::from(err.message());
    }
    e.as_string().unwrap_or_else(|| format!("{e:?}"))
}

/// `navigator.xr`, if the browser exposes it.
fn xr_system() -> Option<web_sys::XrSystem> {
    let navigator = web_sys::window()?.navigator();
    let xr = Reflect::get(&navigator, &"xr".into()).ok()?;
    (!xr.is_undefined() && !xr.is_null()).then(|| xr.unchecked_into())
}

fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

impl XrController {
    /// Finds the XR page elements, wires them, and starts checking support.
    pub fn new(app: Host, wake: Rc<dyn Fn()>) -> XrController {
        let queue = InputQueue::default();
        let enter: Rc<dyn Fn(XrMode)> = {
            let app = app.clone();
            Rc::new(move |mode| enter(&app, mode))
        };
        let document = web_sys::window().and_then(|w| w.document());
        let hud = XrHud::new(document.as_ref(), &queue, enter);
        let mut controller = XrController {
            hud: Rc::new(RefCell::new(hud)),
            queue,
            support: SupportStats::default(),
            system_listeners: Vec::new(),
            twin: None,
            xr_renderer: None,
            session: None,
            starting: false,
            sessions: 0,
            last: XrStats::default(),
            last_error: None,
            events: CommandQueue::unbounded(),
            wake,
        };
        controller.watch_devices();
        check_support(controller.events.sender(), controller.wake.clone());
        controller
    }

    /// Applies what happened since the last frame. Returns the page's renderer when a session
    /// that borrowed it ended (the caller takes it back).
    pub fn pump(&mut self) -> Option<Renderer> {
        let mut returned = None;
        for event in self.events.drain() {
            match event {
                ControllerEvent::Support(support) => {
                    if let Ok(hud) = self.hud.try_borrow() {
                        hud.show_entry(support.ar, support.vr, support.reason.as_deref());
                    }
                    self.support = support;
                }
                ControllerEvent::StartFailed { mode, message } => {
                    self.starting = false;
                    if let Ok(hud) = self.hud.try_borrow() {
                        hud.set_entry_busy(self.session.is_some());
                    }
                    self.report(format!("{} could not start: {message}", mode.as_str()));
                }
                ControllerEvent::SessionEnded => {
                    if let Some(r) = self.finish_session() {
                        returned = Some(r);
                    }
                }
            }
        }
        returned
    }

    /// Whether events wait for [`Self::pump`].
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Tears the ended session down and keeps or returns its renderer. Runs from the page's
    /// frame, never from the session's own callbacks (which the teardown frees).
    fn finish_session(&mut self) -> Option<Renderer> {
        let state = self.session.take()?;
        let Ok(mut s) = state.try_borrow_mut() else {
            // Borrowed only inside the session's own callbacks, which do not run the page's
            // frame: try again at the next one.
            self.session = Some(state.clone());
            notify(
                &self.events.sender(),
                &self.wake,
                ControllerEvent::SessionEnded,
            );
            return None;
        };
        let taken = s.teardown();
        let summary = s.stats();
        drop(s);
        drop(state);
        self.last = summary;
        self.starting = false;
        if let Ok(mut hud) = self.hud.try_borrow_mut() {
            hud.set_active(false, false);
            hud.set_entry_busy(false);
        }
        let (renderer, canvas, home) = taken?;
        match home {
            RendererHome::App => Some(renderer),
            RendererHome::XrCanvas => {
                let _ = canvas.class_list().remove_1("active");
                self.xr_renderer = Some((renderer, canvas));
                None
            }
        }
    }

    /// Re-checks support when an XR device is connected or removed.
    fn watch_devices(&mut self) {
        let Some(system) = xr_system() else { return };
        let (to, wake) = (self.events.sender(), self.wake.clone());
        if let Ok(l) = Listener::new(system.as_ref(), "devicechange", true, move |_| {
            check_support(to.clone(), wake.clone())
        }) {
            self.system_listeners.push(l);
        }
    }

    /// The twin on show changed: keeps what XR needs (picking, bounds, a copy to upload to a
    /// separate XR renderer).
    pub fn set_twin(&mut self, model: Rc<TwinModel>, pick: Rc<LazyPickIndex>, root: Mat4) {
        let Some(bounds) = model.bounds().map(|b| b.transformed(root)) else {
            self.twin = None;
            return;
        };
        let key = self
            .twin
            .as_ref()
            .map(|t| t.storage_key.clone())
            .unwrap_or_else(|| storage_key(&model.source_name));
        let (sensors, node_sensors) = self
            .twin
            .as_ref()
            .map(|t| (t.sensors.clone(), t.node_sensors.clone()))
            .unwrap_or_default();
        self.twin = Some(Twin {
            model,
            pick,
            root,
            bounds,
            storage_key: key,
            sensors,
            node_sensors,
        });
        // A cached XR renderer holds the previous model: drop it, the next session uploads anew.
        self.xr_renderer = None;
    }

    /// Names the twin (for the stored placement's key) and its sensors (for the HUD).
    pub fn set_twin_info(&mut self, name: &str, sensors: Vec<XrSensor>) {
        let node_sensors: Vec<(usize, usize)> = sensors
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.node.map(|n| (n, i)))
            .collect();
        if let Some(t) = &mut self.twin {
            t.storage_key = storage_key(name);
            t.sensors = Rc::new(sensors);
            t.node_sensors = Rc::new(node_sensors);
        }
    }

    /// Runs `f` on the renderer drawing the running session (for the sensor labels and tints
    /// the app keeps current); `None` when no session draws.
    pub fn with_session_renderer<R>(&self, f: impl FnOnce(&mut Renderer) -> R) -> Option<R> {
        let session = self.session.as_ref()?;
        let mut s = session.try_borrow_mut().ok()?;
        s.renderer.as_mut().map(f)
    }

    /// Whether the session's renderer has just been attached and needs the labels and tints in
    /// full; true once per session.
    pub fn take_overlay_refresh(&mut self) -> bool {
        self.session
            .as_ref()
            .and_then(|s| s.try_borrow_mut().ok())
            .is_some_and(|mut s| s.renderer.is_some() && std::mem::take(&mut s.overlay_refresh))
    }

    /// Whether the inline view must not render (a session is starting or running).
    pub fn suspends_inline(&self) -> bool {
        self.starting || self.session.is_some()
    }

    /// `stats().xr`; `inline_renderer` is the page's renderer when it is not lent out.
    pub fn stats(&self, inline_renderer: Option<&Renderer>) -> XrStats {
        let mut s = match self.session.as_ref().and_then(|s| s.try_borrow().ok()) {
            Some(session) => session.stats(),
            None => XrStats {
                active: false,
                ..self.last.clone()
            },
        };
        s.supported = self.support.clone();
        s.starting = self.starting;
        s.sessions = self.sessions;
        if s.gpu.is_none() {
            s.gpu = match &self.xr_renderer {
                Some((r, _)) => r.gpu_counts(),
                None => inline_renderer.and_then(Renderer::gpu_counts),
            };
        }
        s.listeners +=
            self.system_listeners.len() + self.hud.try_borrow().map_or(0, |h| h.listener_count());
        if s.last_error.is_none() {
            s.last_error = self.last_error.clone();
        }
        s
    }

    fn report(&mut self, message: String) {
        super::shown::warn(&format!("twinlens XR: {message}"));
        if let Ok(hud) = self.hud.try_borrow() {
            hud.show_reason("AR / VR could not start", Some(&message), true);
        }
        self.last_error = Some(message);
    }

    /// Validates and sends `requestSession` while the click's user activation is still valid.
    fn begin_request(&mut self, mode: XrMode, page_ready: bool) -> Result<Promise, String> {
        if self.starting || self.session.is_some() {
            return Err("an XR session is already running".into());
        }
        if !page_ready || self.twin.is_none() {
            return Err("wait until the twin has loaded, then try again".into());
        }
        let system = xr_system().ok_or("this browser has no WebXR (navigator.xr is missing)")?;
        let init = XrSessionInit::new();
        let (required, optional): (&[&str], &[&str]) = match mode {
            // Hit-test is what placement needs; the rest improves it where available.
            XrMode::Ar => (
                &["hit-test"],
                &["local-floor", "anchors", "dom-overlay", "hand-tracking"],
            ),
            XrMode::Vr => (&["local-floor"], &["hand-tracking", "bounded-floor"]),
        };
        let list = |names: &[&str]| {
            names
                .iter()
                .map(|n| JsValue::from_str(n))
                .collect::<Vec<_>>()
        };
        init.set_required_features(&list(required));
        init.set_optional_features(&list(optional));
        if mode == XrMode::Ar
            && let Some(root) = self.hud.borrow().root()
        {
            set_dom_overlay_root(&init, root).map_err(|e| js_reason(&e))?;
        }
        let mode_enum = match mode {
            XrMode::Ar => web_sys::XrSessionMode::ImmersiveAr,
            XrMode::Vr => web_sys::XrSessionMode::ImmersiveVr,
        };
        let promise: Promise = system
            .request_session_with_options(mode_enum, &init)
            .unchecked_into();
        self.starting = true;
        self.last_error = None;
        let hud = self.hud.borrow();
        // An earlier failure's message goes away with the new attempt.
        hud.show_entry(
            self.support.ar,
            self.support.vr,
            self.support.reason.as_deref(),
        );
        hud.set_entry_busy(true);
        Ok(promise)
    }
}

/// Checks `isSessionSupported` for both modes; the answer shows the buttons or the reason.
fn check_support(to: Sender<ControllerEvent>, wake: Rc<dyn Fn()>) {
    spawn_local(async move {
        let support = probe_support().await;
        notify(&to, &wake, ControllerEvent::Support(support));
    });
}

async fn probe_support() -> SupportStats {
    let secure = web_sys::window().is_some_and(|w| w.is_secure_context());
    let Some(system) = xr_system() else {
        let reason = if secure {
            "AR and VR are not available: this browser has no WebXR. Open the page in Chrome on an \
             ARCore-capable Android phone for AR, or in the Meta Quest Browser for AR and VR."
        } else {
            "AR and VR need a secure page, and this one was opened over plain http from another \
             device, so the browser hides WebXR. Start the server with `twinlens serve --https \
             --host 0.0.0.0` and open the https:// address it prints (accept its self-signed \
             certificate once)."
        };
        return SupportStats {
            checked: true,
            reason: Some(reason.into()),
            ..Default::default()
        };
    };
    let ar = is_supported(&system, web_sys::XrSessionMode::ImmersiveAr).await;
    let vr = is_supported(&system, web_sys::XrSessionMode::ImmersiveVr).await;
    let blocked = ar.as_ref().err().or(vr.as_ref().err()).cloned();
    let (ar, vr) = (ar.unwrap_or(false), vr.unwrap_or(false));
    let reason = match (ar, vr, blocked) {
        (false, false, Some(why)) => Some(format!(
            "AR and VR are blocked on this page ({why}); open the viewer directly rather than \
             inside a frame, or allow xr-spatial-tracking for it."
        )),
        (false, false, None) => Some(
            "AR and VR are not available: this browser has WebXR but reports no AR or VR device. \
             AR needs Chrome on an ARCore-capable Android phone; VR needs a headset (Meta Quest \
             Browser, or a desktop browser with a connected headset)."
                .into(),
        ),
        _ => None,
    };
    SupportStats {
        checked: true,
        ar,
        vr,
        reason,
        webgpu_binding: web_sys::window()
            .is_some_and(|w| Reflect::has(&w, &"XRGPUBinding".into()).unwrap_or(false)),
    }
}

/// `isSessionSupported(mode)`; an error (e.g. blocked by permissions policy) in words.
async fn is_supported(
    system: &web_sys::XrSystem,
    mode: web_sys::XrSessionMode,
) -> Result<bool, String> {
    let promise: Promise = JsValue::from(system.is_session_supported(mode)).unchecked_into();
    JsFuture::from(promise)
        .await
        .map(|v| v.as_bool().unwrap_or(false))
        .map_err(|e| js_reason(&e))
}

/// The session's input sources, whatever array type the runtime uses.
fn input_sources(session: &XrSession) -> Vec<web_sys::XrInputSource> {
    let list = session.input_sources();
    (0..list.length()).filter_map(|i| list.get(i)).collect()
}

/// Starts a session of `mode` (the entry buttons and `window.twinlens.xr.enter`).
pub(super) fn enter(app: &Host, mode: XrMode) {
    let request = with_host(app, |h| {
        let ready = h.ready();
        let c = h.xr_controller()?;
        match c.begin_request(mode, ready) {
            Ok(p) => Some(p),
            Err(message) => {
                c.report(format!("cannot start {}: {message}", mode.as_str()));
                None
            }
        }
    })
    .flatten();
    let Some(request) = request else { return };
    let Some((to, wake)) = with_controller(app, |c| (c.events.sender(), c.wake.clone())) else {
        return;
    };
    let app = app.clone();
    spawn_local(async move {
        if let Err(message) = start_session(&app, mode, request).await {
            notify(&to, &wake, ControllerEvent::StartFailed { mode, message });
        }
    });
}

/// Ends the running session (the HUD's Exit, `window.twinlens.xr.exit`).
pub(super) fn exit(app: &Host) {
    let session = with_controller(app, |c| {
        c.session
            .as_ref()
            .and_then(|s| s.try_borrow().ok().map(|s| s.session.clone()))
    })
    .flatten();
    if let Some(session) = session {
        // The `end` event does the rest; a session that already ended rejects harmlessly.
        let _ = session.end();
    }
}

/// A promise that resolves after `ms` milliseconds.
fn delay(ms: i32) -> Promise {
    Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    })
}

/// Takes the renderer the session draws with: the page's (WebGL2 page) or the XR renderer
/// (WebGPU page), creating that one at the first session.
async fn acquire_renderer(
    app: &Host,
) -> Result<(Renderer, HtmlCanvasElement, RendererHome), String> {
    let backend = with_host(app, |h| h.backend()).flatten();
    if backend == Some("webgl") {
        let taken = with_host(app, |h| h.take_renderer_for_xr()).flatten();
        let (renderer, canvas) = taken.ok_or("the renderer is not ready")?;
        return Ok((renderer, canvas, RendererHome::App));
    }
    if let Some(Some((r, c))) = with_controller(app, |c| c.xr_renderer.take()) {
        return Ok((r, c, RendererHome::XrCanvas));
    }
    let twin = with_controller(app, |c| c.twin.clone())
        .flatten()
        .ok_or("no twin loaded")?;
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let canvas: HtmlCanvasElement = document
        .create_element("canvas")
        .map_err(|e| js_reason(&e))?
        .unchecked_into();
    canvas.set_id("twin-xr-canvas");
    canvas.set_attribute("aria-hidden", "true").ok();
    let (w, h) = web_sys::window()
        .map(|w| {
            let dpr = w.device_pixel_ratio();
            let px = |v: Result<JsValue, JsValue>| {
                (v.ok().and_then(|v| v.as_f64()).unwrap_or(800.0) * dpr).round() as u32
            };
            (px(w.inner_width()), px(w.inner_height()))
        })
        .unwrap_or((800, 600));
    canvas.set_width(w.max(1));
    canvas.set_height(h.max(1));
    if let Some(body) = document.body() {
        body.append_child(&canvas).map_err(|e| js_reason(&e))?;
    }
    let mut renderer = match Renderer::new(canvas.clone(), BackendChoice::WebGl).await {
        Ok(r) => r,
        Err(e) => {
            canvas.remove();
            return Err(format!("the XR renderer (WebGL2) could not start: {e}"));
        }
    };
    renderer.set_small_part_px(super::dom::small_part_px());
    renderer.set_model(twin.model.clone(), twin.root);
    Ok((renderer, canvas, RendererHome::XrCanvas))
}

/// Sets the session up after the browser granted it: renderer, layer, spaces, listeners and
/// the frame loop.
async fn start_session(app: &Host, mode: XrMode, request: Promise) -> Result<(), String> {
    let session: XrSession = JsFuture::from(request)
        .await
        .map_err(|e| format!("the browser refused it ({})", js_reason(&e)))?
        .unchecked_into();
    let (queue, hud, twin) =
        with_controller(app, |c| (c.queue.clone(), c.hud.clone(), c.twin.clone()))
            .ok_or("the page is gone")?;
    let Some(twin) = twin else {
        let _ = session.end();
        return Err("no twin loaded".into());
    };
    queue.clear();
    let state = Rc::new(RefCell::new(ActiveSession::new(
        app.clone(),
        session.clone(),
        mode,
        queue,
        hud,
        twin,
    )));
    // The end listener goes first, so a session ended during the set-up below is noticed.
    {
        let ended = state.borrow().ended.clone();
        let (to, wake) = with_controller(app, |c| (c.events.sender(), c.wake.clone()))
            .ok_or("the page is gone")?;
        let end = Listener::new(session.as_ref(), "end", true, move |_| {
            ended.set(true);
            // Not here: this closure belongs to the session being torn down. The page's next
            // frame does it.
            notify(&to, &wake, ControllerEvent::SessionEnded);
        })
        .map_err(|e| js_reason(&e))?;
        state.borrow_mut().listeners.push(end);
    }
    with_controller(app, |c| {
        c.session = Some(state.clone());
        c.sessions += 1;
    });

    let setup = async {
        let (renderer, canvas, home) = acquire_renderer(app).await?;
        state
            .borrow_mut()
            .attach_renderer(renderer, canvas.clone(), home);
        if home == RendererHome::XrCanvas {
            let _ = canvas.class_list().add_1("active");
        }
        let gl: WebGl2RenderingContext = canvas
            .get_context("webgl2")
            .map_err(|e| js_reason(&e))?
            .ok_or("the canvas has no WebGL2 context")?
            .unchecked_into();
        let compatible = Promise::race(&Array::of2(
            &gl.make_xr_compatible(),
            &delay(MAKE_XR_COMPATIBLE_TIMEOUT_MS),
        ));
        if let Err(e) = JsFuture::from(compatible).await {
            // Continue: the layer constructor reports a real incompatibility.
            super::shown::warn(&format!(
                "twinlens XR: makeXRCompatible failed: {}",
                js_reason(&e)
            ));
        }
        check_running(&state)?;
        let init = XrWebGlLayerInit::new();
        init.set_alpha(mode == XrMode::Ar);
        // Depth and anti-aliasing happen offscreen (render::xr_target); the layer needs neither.
        init.set_depth(false);
        init.set_stencil(false);
        init.set_antialias(false);
        let layer =
            XrWebGlLayer::new_with_web_gl2_rendering_context_and_layer_init(&session, &gl, &init)
                .map_err(|e| format!("no XR layer for the WebGL2 context ({})", js_reason(&e)))?;
        let render_state = XrRenderStateInit::new();
        render_state.set_base_layer(Some(&layer));
        render_state.set_depth_near(0.05);
        render_state.set_depth_far(1000.0);
        session
            .ext()
            .update_render_state(&render_state)
            .map_err(|e| format!("updateRenderState failed ({})", js_reason(&e)))?;

        let (space, kind) = match JsFuture::from(Promise::from(JsValue::from(
            session.request_reference_space(XrReferenceSpaceType::LocalFloor),
        )))
        .await
        {
            Ok(s) => (s, "local-floor"),
            Err(_) => (
                JsFuture::from(Promise::from(JsValue::from(
                    session.request_reference_space(XrReferenceSpaceType::Local),
                )))
                .await
                .map_err(|e| format!("no reference space ({})", js_reason(&e)))?,
                "local",
            ),
        };
        check_running(&state)?;
        let ref_space: XrReferenceSpace = space.unchecked_into();
        let mut hit_source = None;
        if mode == XrMode::Ar {
            let viewer: XrReferenceSpace = JsFuture::from(Promise::from(JsValue::from(
                session.request_reference_space(XrReferenceSpaceType::Viewer),
            )))
            .await
            .map_err(|e| format!("no viewer space ({})", js_reason(&e)))?
            .unchecked_into();
            hit_source = match request_hit_test_source(&session, viewer.as_ref()).await {
                Ok(s) => Some(s),
                Err(e) => {
                    super::shown::warn(&format!(
                        "twinlens XR: no hit-test source: {}",
                        js_reason(&e)
                    ));
                    None
                }
            };
            check_running(&state)?;
        }
        ActiveSession::start(&state, layer, ref_space, kind, hit_source)?;
        Ok::<(), String>(())
    };
    let result = setup.await;
    with_controller(app, |c| {
        c.starting = false;
        c.hud.borrow().set_entry_busy(c.session.is_some());
    });
    if let Err(message) = result {
        let still_ours = with_controller(app, |c| {
            c.session.as_ref().is_some_and(|s| Rc::ptr_eq(s, &state))
        })
        .unwrap_or(false);
        if still_ours {
            state.borrow_mut().last_error = Some(message.clone());
            // Its `end` event queues the teardown (or already has, if it ended first).
            let _ = session.end();
        }
        return Err(message);
    }
    Ok(())
}

/// Fails the set-up once the session has ended under it.
fn check_running(state: &Rc<RefCell<ActiveSession>>) -> Result<(), String> {
    if state.borrow().ended.get() {
        Err("the session ended while starting".into())
    } else {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The running session.

/// Something the session learnt outside its frame, queued for the next one.
enum SessionAnswer {
    /// An anchor request (placement or a restored persistent anchor) was answered.
    Anchor {
        generation: u32,
        result: Result<XrAnchor, JsValue>,
        restored: bool,
    },
    /// The runtime gave the anchor of `generation` a persistent handle.
    PersistentHandle { generation: u32, handle: String },
    /// The session's `visibilitychange` fired.
    Visibility,
}

impl SessionAnswer {
    /// Frees what an answer that will not be applied holds: a created anchor is deleted, so a
    /// late one does not stay tracked after its session or request is gone.
    fn free(self) {
        if let SessionAnswer::Anchor { result: Ok(a), .. } = self {
            let _ = a.delete();
        }
    }
}

/// Queues `answer` for the session's next frame, or frees it when the session is gone.
fn answer(to: &Sender<SessionAnswer>, answer: SessionAnswer) {
    if let Some(late) = to.push(answer).rejected() {
        late.free();
    }
}

/// Anchor bookkeeping for the placed AR twin.
#[derive(Default)]
struct AnchorState {
    anchor: Option<XrAnchor>,
    status: &'static str,
    /// Increments with every anchor request; a late answer to an older request is discarded.
    generation: u32,
    /// The placement when the anchor had pose `.1`: the twin follows the anchor from there.
    base: Option<(Placement, Mat4)>,
    /// Last pose the anchor was located at.
    last_pose: Option<Mat4>,
    /// The placement in the anchor's frame, for storage with the persistent handle.
    relative: Option<Placement>,
    /// Persistent handle (Quest), once granted.
    handle: Option<String>,
    /// Placement relative to an anchor being restored from a persistent handle.
    restoring: Option<Placement>,
}

/// Precise alignment progress.
#[derive(Default)]
struct AlignState {
    active: bool,
    model: Vec<Vec3>,
    real: Vec<Vec3>,
    result: Option<Alignment>,
    error: Option<String>,
}

impl AlignState {
    fn expects_model(&self) -> bool {
        self.model.len() <= self.real.len()
    }
}

/// A tracked controller or hand this frame (VR), in the moved space.
#[derive(Clone, Copy)]
struct Pointer {
    right: bool,
    ray: Mat4,
    stick: Vec2,
}

/// Rolling means over the last frames.
#[derive(Default)]
struct Rolling {
    frame: Vec<f64>,
    view: Vec<f64>,
    submit: Vec<f64>,
    next: usize,
}

impl Rolling {
    fn push(&mut self, frame: f64, view: f64, submit: f64) {
        if self.frame.len() < TIMING_WINDOW {
            self.frame.push(frame);
            self.view.push(view);
            self.submit.push(submit);
        } else {
            self.frame[self.next] = frame;
            self.view[self.next] = view;
            self.submit[self.next] = submit;
        }
        self.next = (self.next + 1) % TIMING_WINDOW;
    }

    /// Means of (frame, view, submit).
    fn means(&self) -> (f64, f64, f64) {
        let mean = |v: &[f64]| {
            if v.is_empty() {
                0.0
            } else {
                v.iter().sum::<f64>() / v.len() as f64
            }
        };
        (mean(&self.frame), mean(&self.view), mean(&self.submit))
    }
}

/// A running session and everything it owns.
struct ActiveSession {
    app: Host,
    session: XrSession,
    mode: XrMode,
    queue: InputQueue,
    hud: Rc<RefCell<XrHud>>,
    twin: Twin,
    renderer: Option<Renderer>,
    canvas: Option<HtmlCanvasElement>,
    home: RendererHome,
    /// Where the canvas sat in the page, to put it back (an emulator moves it).
    canvas_slot: Option<(web_sys::Node, Option<web_sys::Node>)>,
    layer: Option<XrWebGlLayer>,
    target: Option<XrTarget>,
    ref_space: Option<XrReferenceSpace>,
    ref_space_kind: &'static str,
    hit_source: Option<XrHitTestSource>,
    listeners: Vec<Listener>,
    frame_callback: Option<Closure<dyn FnMut(f64, XrFrame)>>,
    frame_handle: Option<u32>,
    /// Set by the session's `end` event (a flag, so the event never waits for a borrow).
    ended: Rc<Cell<bool>>,
    /// Answers to the session's promises (anchors, persistent handles) and its visibility
    /// changes, applied at the start of its next frame.
    answers: CommandQueue<SessionAnswer>,
    running: bool,
    path: Option<&'static str>,
    blend_mode: Option<String>,
    dom_overlay: Option<String>,
    visibility: String,
    tracking: &'static str,
    frames: u64,
    last_time: Option<f64>,
    timing: Rolling,
    last_frame: XrFrameStats,
    framebuffer: Option<[u32; 2]>,
    last_error: Option<String>,
    hud_due: f64,
    persist_due: Option<f64>,
    /// The app has not yet given this session's renderer the current labels and tints.
    overlay_refresh: bool,
    markers: Vec<MarkerVertex>,
    root: Mat4,
    viewer: Option<Mat4>,
    /// Vertical field of view and height (CSS px) of the first view, for gesture scaling.
    view_fov: (f32, f32),
    // AR
    flow: PlacementFlow,
    placement_source: Option<&'static str>,
    reticle: Option<Mat4>,
    anchor: AnchorState,
    offered: Option<Placement>,
    align: AlignState,
    dragging: Option<(bool, Vec3)>,
    /// A thumbstick was pressed last frame (headset AR: toggles alignment on the press).
    stick_pressed: bool,
    note: Option<String>,
    /// When the current note was first shown; notes disappear after a while.
    note_shown: Option<(String, f64)>,
    // VR
    locomotion: Mat4,
    snap: [SnapTurnInput; 2],
    pointers: Vec<Pointer>,
    arc: Option<teleport::TeleportArc>,
    teleports: u32,
    snap_turns: u32,
    selects: u32,
    selected: Option<usize>,
}

/// Listeners for input events; each only queues.
fn session_listeners(
    session: &XrSession,
    ref_space: &XrReferenceSpace,
    queue: &InputQueue,
) -> Result<Vec<Listener>, JsValue> {
    let mut out = Vec::new();
    {
        let q = queue.clone();
        let space: XrSpace = ref_space.clone().unchecked_into();
        out.push(Listener::new(session.as_ref(), "select", true, move |e| {
            let e: &XrInputSourceEvent = e.unchecked_ref();
            let source = e.input_source();
            // The event's frame is valid only now: read the ray pose here.
            let ray = e
                .frame()
                .ext()
                .pose(&source.target_ray_space(), &space)
                .ok()
                .flatten()
                .and_then(|p| transform_matrix(&p.transform()))
                .map(|m| m.to_cols_array());
            let kind = match source.target_ray_mode() {
                web_sys::XrTargetRayMode::Screen => SelectSource::Screen,
                web_sys::XrTargetRayMode::Gaze => SelectSource::Gaze,
                web_sys::XrTargetRayMode::TrackedPointer => SelectSource::Pointer,
                _ => SelectSource::Transient,
            };
            q.push(XrInput::Select {
                ray,
                source: kind,
                right: is_right(&source),
            });
        })?);
    }
    for (event, start) in [("squeezestart", true), ("squeezeend", false)] {
        let q = queue.clone();
        out.push(Listener::new(session.as_ref(), event, true, move |e| {
            let e: &XrInputSourceEvent = e.unchecked_ref();
            let right = is_right(&e.input_source());
            q.push(if start {
                XrInput::SqueezeStart { right }
            } else {
                XrInput::SqueezeEnd { right }
            });
        })?);
    }
    Ok(out)
}

fn visibility_name(session: &XrSession) -> String {
    match session.visibility_state() {
        web_sys::XrVisibilityState::Visible => "visible",
        web_sys::XrVisibilityState::VisibleBlurred => "visible-blurred",
        web_sys::XrVisibilityState::Hidden => "hidden",
        _ => "visible",
    }
    .into()
}

fn is_right(source: &web_sys::XrInputSource) -> bool {
    source.handedness() != web_sys::XrHandedness::Left
}

/// `xr-standard` gamepad button index of the thumbstick click.
const STICK_BUTTON: u32 = 3;

/// Whether button `index` of the input source's gamepad is down.
fn button_pressed(source: &web_sys::XrInputSource, index: u32) -> bool {
    // No `dyn_into`: an emulator's GamepadButton is not the browser's class (see xr_ffi).
    source.gamepad().is_some_and(|g| {
        let b = g.buttons().get(index);
        b.is_object() && b.unchecked_into::<web_sys::GamepadButton>().pressed()
    })
}

/// The thumbstick of an `xr-standard` gamepad (axes 2 and 3; touchpad-only pads use 0 and 1).
fn stick(source: &web_sys::XrInputSource) -> Option<Vec2> {
    let axes = source.gamepad()?.axes();
    let get = |i: u32| axes.get(i).as_f64().unwrap_or(0.0) as f32;
    match axes.length() {
        n if n >= 4 => Some(Vec2::new(get(2), get(3))),
        n if n >= 2 => Some(Vec2::new(get(0), get(1))),
        _ => None,
    }
}

/// `XRRigidTransform.matrix` as a matrix, rejecting non-finite values.
fn transform_matrix(t: &XrRigidTransform) -> Option<Mat4> {
    views::mat4_from_webxr("pose", &t.matrix()).ok()
}

/// An `XRRigidTransform` for `m` (rotation and translation only).
fn rigid_transform(m: Mat4) -> Option<XrRigidTransform> {
    let (_, rotation, translation) = m.to_scale_rotation_translation();
    let position = web_sys::DomPointInit::new();
    position.set_x(f64::from(translation.x));
    position.set_y(f64::from(translation.y));
    position.set_z(f64::from(translation.z));
    position.set_w(1.0);
    let orientation = web_sys::DomPointInit::new();
    orientation.set_x(f64::from(rotation.x));
    orientation.set_y(f64::from(rotation.y));
    orientation.set_z(f64::from(rotation.z));
    orientation.set_w(f64::from(rotation.w));
    XrRigidTransform::new_with_position_and_orientation(&position, &orientation).ok()
}

/// The ray of a target-ray pose: its origin along its -Z axis.
fn ray_of(pose: Mat4) -> Ray {
    Ray {
        origin: pose.w_axis.truncate(),
        dir: (-pose.z_axis.truncate()).normalize_or(Vec3::NEG_Z),
    }
}

/// Where the twin stands in VR: its front (+Z) towards the user, a step in front of them.
fn vr_placement(bounds: Aabb) -> Placement {
    let depth = (bounds.max.z - bounds.min.z).max(0.0);
    let pivot = crate::xr::placement::pivot_for(bounds);
    Placement {
        position: Vec3::new(0.0, 0.0, -(depth * 0.5 + VR_STANDOFF_M)),
        yaw: 0.0,
        pivot,
        scale: ScaleMode::OneToOne,
    }
}

// ---------------------------------------------------------------------------------------------
// `window.twinlens.xr`.

/// Adds `xr` to the `window.twinlens` object: `enter(mode)`, `exit()`, `select()`,
/// `action(name)`, `markModelPoint([x, y, z])`, `rotate(radians)`, `nudge(right, forward)`,
/// `setTabletop(bool)`. Tests and the console drive XR with them; `stats().xr` reports back.
/// `page` finds the page once it exists.
pub(super) fn install_api(api: &Object, page: fn() -> Option<Host>) -> Result<(), JsValue> {
    let xr = Object::new();
    let app = page;
    let queue = move || with_controller(&page()?, |c| c.queue.clone());
    let set = |name: &str, f: JsValue| Reflect::set(&xr, &name.into(), &f);

    let enter_fn = Closure::<dyn Fn(JsValue)>::new(move |mode: JsValue| {
        let mode = match mode.as_string().as_deref() {
            Some("immersive-vr") | Some("vr") => XrMode::Vr,
            _ => XrMode::Ar,
        };
        if let Some(app) = app() {
            enter(&app, mode);
        }
    });
    set("enter", enter_fn.into_js_value())?;
    let exit_fn = Closure::<dyn Fn()>::new(move || {
        if let Some(app) = app() {
            exit(&app);
        }
    });
    set("exit", exit_fn.into_js_value())?;
    let select_fn = Closure::<dyn Fn()>::new(move || {
        if let Some(q) = queue() {
            q.push(XrInput::Select {
                ray: None,
                source: SelectSource::Api,
                right: true,
            });
        }
    });
    set("select", select_fn.into_js_value())?;
    let action_fn = Closure::<dyn Fn(String) -> bool>::new(move |name: String| {
        let (Some(action), Some(q)) = (HudAction::parse(&name), queue()) else {
            return false;
        };
        q.push(XrInput::Action(action));
        true
    });
    set("action", action_fn.into_js_value())?;
    let model_point = Closure::<dyn Fn(Vec<f32>) -> bool>::new(move |p: Vec<f32>| {
        let (Ok(p), Some(q)) = (<[f32; 3]>::try_from(p.as_slice()), queue()) else {
            return false;
        };
        q.push(XrInput::ModelPoint(p));
        true
    });
    set("markModelPoint", model_point.into_js_value())?;
    let rotate = Closure::<dyn Fn(f32)>::new(move |r: f32| {
        if let Some(q) = queue() {
            q.push(XrInput::Rotate(r));
        }
    });
    set("rotate", rotate.into_js_value())?;
    let nudge = Closure::<dyn Fn(f32, f32)>::new(move |r: f32, f: f32| {
        if let Some(q) = queue() {
            q.push(XrInput::Nudge(r, f));
        }
    });
    set("nudge", nudge.into_js_value())?;
    let tabletop = Closure::<dyn Fn(bool)>::new(move |t: bool| {
        if let Some(q) = queue() {
            q.push(XrInput::SetTabletop(t));
        }
    });
    set("setTabletop", tabletop.into_js_value())?;
    Reflect::set(api, &"xr".into(), &xr)?;
    Ok(())
}
