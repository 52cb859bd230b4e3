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

mod active;
mod api;
mod ar;
mod hud_text;
mod session;
mod start;
mod stats;
mod vr;

use active::*;
pub(super) use api::install_api;
use start::*;
pub use stats::*;

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
