//! The inline viewer: owns the renderer, camera, listeners and frame callback. Browser callbacks
//! only enqueue events and ask for a frame; each animation frame drains the queue, updates the
//! camera and renders once, and only when something changed, so an idle page costs nothing.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use glam::Mat4;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::HtmlCanvasElement;

use super::dom::{Listener, StatusLine};
use super::input::{
    AppEvent, EventQueue, MAX_QUEUED_EVENTS, ResizeWatch, input_listeners, resize_observer,
};
use super::live::{ConnectionStats, LiveSource, ReadingStats};
use super::stats::{LabelStats, SharedStats};
use super::xr::{Host, XrController, XrHost, XrStats};
use crate::camera::{InputOutcome, OrbitCamera, OrbitController};
use crate::commands::CommandQueue;
use crate::model::Aabb;
use crate::overlay::build::{SensorAnchor, SensorLabel, sensor_anchors, sensor_label};
use crate::overlay::layout::LabelInput;
use crate::overlay::pick::{LazyPickIndex, pick_label, screen_ray, sensor_for_node};
use crate::overlay::scene::{OverlayFrame, OverlayLabel};
use crate::render::Renderer;
use crate::telemetry::store::SensorStore;

/// Largest drawing buffer edge, in device pixels.
const MAX_CANVAS_EDGE: f64 = 8192.0;

/// The inline viewer state.
pub struct App {
    canvas: HtmlCanvasElement,
    renderer: Option<Renderer>,
    camera: OrbitCamera,
    controller: OrbitController,
    bounds: Option<Aabb>,
    /// Input and resize events, queued by the listeners and drained by the frame.
    queue: EventQueue,
    dirty: bool,
    frame_pending: bool,
    stats: SharedStats,
    status: StatusLine,
    frame_callback: Option<Closure<dyn FnMut(f64)>>,
    resize_observer: Option<ResizeWatch>,
    listeners: Vec<Listener>,
    live: Option<LiveSource>,
    /// The 1 s timer that runs the live source's timers (keep-alive, staleness, reconnect)
    /// and keeps draining it while the page is hidden and animation frames stop.
    ticker: Option<(i32, Closure<dyn FnMut()>)>,
    timings: crate::timing::FrameTimings,
    /// Render every animation frame (`?continuous=1`, for benchmarks), not only on change.
    continuous: bool,
    /// WebXR: entry buttons, HUD and the running session (which borrows `renderer`).
    xr: Option<XrController>,
    twin: Option<TwinOverlay>,
    /// The model's CPU copy (for the node tree), its pick index and placement, for picking
    /// parts.
    picking: Option<(Rc<crate::model::TwinModel>, Rc<LazyPickIndex>, Mat4)>,
    /// The pick index is built in the frame after the model's first one (unless a pick built
    /// it sooner): `Some(false)` until that first frame, `Some(true)` once it was drawn.
    pick_warm: Option<bool>,
    /// The sensor whose detail card is open.
    selected: Option<usize>,
}

fn state_name(s: crate::overlay::state::SensorState) -> &'static str {
    use crate::overlay::state::SensorState::*;
    match s {
        Normal => "normal",
        Warning => "warning",
        Alarm => "alarm",
        Stale => "stale",
        NoData => "noData",
    }
}

/// The sensors drawn over the model: where each label sits and what it showed last.
struct TwinOverlay {
    sensors: Vec<crate::manifest::Sensor>,
    anchors: Vec<SensorAnchor>,
    labels: Vec<SensorLabel>,
    frame: OverlayFrame,
    /// The next frame is built here, then swapped with `frame`.
    spare: OverlayFrame,
    tints: Vec<(usize, Option<crate::overlay::color::Tint>)>,
    spare_tints: Vec<(usize, Option<crate::overlay::color::Tint>)>,
    last_build_ms: f64,
    last_updates: u64,
    /// When every label was last rebuilt (ages and staleness move with time), and whether from
    /// the live store.
    last_full_ms: f64,
    full_from_live: bool,
    /// Per label, its sensor's update count when it was last built: a rebuild redoes only the
    /// labels whose sensor has new readings.
    label_updates: Vec<u64>,
    /// Stands in for the store when the manifest has no live source: every sensor "no data".
    no_data: SensorStore,
    /// The history window, for the detail card's min/max.
    window_ms: f64,
}

/// The app behind its shared handle.
pub type SharedApp = Rc<RefCell<App>>;

impl App {
    /// Creates the app for `canvas` and wires its input, resize and frame callbacks.
    pub fn new(
        canvas: HtmlCanvasElement,
        stats: SharedStats,
        status: StatusLine,
    ) -> Result<SharedApp, JsValue> {
        let app = Rc::new(RefCell::new(App {
            canvas: canvas.clone(),
            renderer: None,
            camera: OrbitCamera::default(),
            controller: OrbitController::default(),
            bounds: None,
            queue: CommandQueue::bounded(MAX_QUEUED_EVENTS, AppEvent::displaceable),
            dirty: true,
            frame_pending: false,
            stats,
            status,
            frame_callback: None,
            resize_observer: None,
            listeners: Vec::new(),
            live: None,
            ticker: None,
            timings: Default::default(),
            continuous: super::dom::query_param("continuous")
                .is_some_and(|v| v == "1" || v == "true"),
            xr: None,
            twin: None,
            picking: None,
            pick_warm: None,
            selected: None,
        }));
        let weak = Rc::downgrade(&app);
        let frame = Closure::<dyn FnMut(f64)>::new({
            let weak = weak.clone();
            move |_time: f64| {
                if let Some(app) = weak.upgrade() {
                    let mut a = app.borrow_mut();
                    a.frame();
                    // Events queued while this frame ran (its listeners could not ask for a
                    // frame then) get the next one.
                    if !a.queue.is_empty() || a.xr.as_ref().is_some_and(XrController::has_events) {
                        a.request_frame();
                    }
                }
            }
        });
        app.borrow_mut().frame_callback = Some(frame);
        let queue = app.borrow().queue.clone();
        // Asks for a frame; when the app is busy, the running frame asks for the next one.
        let wake: Rc<dyn Fn()> = {
            let weak = weak.clone();
            Rc::new(move || with_app(&weak, |a| a.request_frame()))
        };
        let listeners = input_listeners(&canvas, &queue, &wake)?;
        let observer = resize_observer(&canvas, &queue, &wake)?;
        {
            let mut a = app.borrow_mut();
            a.listeners = listeners;
            a.resize_observer = Some(observer);
            let host: Host = weak.clone();
            a.xr = Some(XrController::new(host, wake));
        }
        Ok(app)
    }

    /// Connects the twin's live source (if its manifest has one).
    pub fn start_live(app: &SharedApp, manifest: &crate::manifest::Manifest, page_url: &str) {
        let weak = Rc::downgrade(app);
        let wake: Rc<dyn Fn()> = {
            let weak = weak.clone();
            Rc::new(move || with_app(&weak, |a| a.request_frame()))
        };
        let Some(live) = LiveSource::new(manifest, page_url, wake) else {
            return;
        };
        let tick = Closure::<dyn FnMut()>::new(move || {
            with_app(&weak, |a| {
                let hidden = web_sys::window()
                    .and_then(|w| w.document())
                    .is_some_and(|d| d.hidden());
                if hidden {
                    if let Some(live) = a.live.as_mut() {
                        live.pump(js_sys::Date::now());
                    }
                } else {
                    a.request_frame();
                }
            })
        });
        let id = web_sys::window()
            .and_then(|w| {
                w.set_interval_with_callback_and_timeout_and_arguments_0(
                    tick.as_ref().unchecked_ref(),
                    1000,
                )
                .ok()
            })
            .unwrap_or(-1);
        let mut a = app.borrow_mut();
        a.live = Some(live);
        a.ticker = Some((id, tick));
        a.request_frame();
    }

    /// The connection in words ("Live data: live"), empty without a source.
    pub fn connection_label(&self) -> String {
        self.live
            .as_ref()
            .map(|l| format!("Live data: {}", l.connection_stats().label))
            .unwrap_or_default()
    }

    /// Sensor `id`'s reading in words ("72.5 °C (stale · 12 s)"), as the detail card shows it.
    pub fn reading_text(&self, id: &str) -> Option<String> {
        let twin = self.twin.as_ref()?;
        let i = twin.sensors.iter().position(|s| s.id == id)?;
        let store = self.live.as_ref().map_or(&twin.no_data, |l| l.store());
        Some(crate::overlay::present::reading_text(
            &twin.sensors[i],
            store,
            i,
            js_sys::Date::now(),
        ))
    }

    /// Connection figures and readings for `stats()`, computed when asked.
    pub fn live_stats(
        &self,
    ) -> Option<(
        ConnectionStats,
        std::collections::BTreeMap<String, ReadingStats>,
    )> {
        let live = self.live.as_ref()?;
        Some((live.connection_stats(), live.readings(js_sys::Date::now())))
    }

    /// Installs the renderer and asks for a frame.
    pub fn set_renderer(app: &SharedApp, mut renderer: Renderer) {
        renderer.set_small_part_px(super::dom::small_part_px());
        let mut a = app.borrow_mut();
        {
            let mut s = a.stats.borrow_mut();
            s.backend = Some(renderer.backend());
            s.msaa = renderer.msaa_samples();
        }
        a.renderer = Some(renderer);
        a.dirty = true;
        a.request_frame();
    }

    /// Uploads a model placed by `placement`, frames it, and asks for a frame; the CPU copy is
    /// kept (shared, not copied) for picking parts in the inline view and in XR. Returns what
    /// the upload had to work around (textures downscaled or replaced), for the status line.
    pub fn show_model(
        app: &SharedApp,
        model: Rc<crate::model::TwinModel>,
        placement: Mat4,
    ) -> Vec<String> {
        let mut a = app.borrow_mut();
        let Some(renderer) = a.renderer.as_mut() else {
            return Vec::new();
        };
        renderer.set_model(model.clone(), placement);
        let warnings = renderer.model_warnings().to_vec();
        a.bounds = model.bounds().map(|b| b.transformed(placement));
        // Shared with XR; built once the model is on screen (or at the first pick), so the first
        // frame does not wait for it.
        let index = Rc::new(LazyPickIndex::new(model.clone()));
        if let Some(xr) = a.xr.as_mut() {
            xr.set_twin(model.clone(), index.clone(), placement);
        }
        a.frame_camera();
        a.stats.borrow_mut().nodes = model.nodes.len();
        a.picking = Some((model, index, placement));
        a.pick_warm = Some(false);
        a.dirty = true;
        a.request_frame();
        warnings
    }

    /// Selects what is under a tap at CSS pixel (`x`, `y`): a label first, else a part (and
    /// the sensor bound to it or its nearest ancestor); shows its detail card, or hides the card
    /// when nothing is there.
    fn select_at(&mut self, x: f32, y: f32) {
        let dpr = web_sys::window().map_or(1.0, |w| w.device_pixel_ratio()) as f32;
        let mut selected = None;
        if let (Some(r), Some(twin)) = (self.renderer.as_ref(), self.twin.as_ref()) {
            let (placed, order) = r.overlay_placed(0);
            selected = pick_label(placed, order, [x * dpr, y * dpr])
                .and_then(|i| twin.anchors.get(i))
                .map(|a| a.sensor);
        }
        if selected.is_none()
            && let (Some((model, index, placement)), Some(twin)) =
                (self.picking.as_ref(), self.twin.as_ref())
        {
            let (w, h) = (
                self.canvas.client_width().max(1) as f32,
                self.canvas.client_height().max(1) as f32,
            );
            let view = self.camera.matrices(w / h);
            if let Some(ray) = screen_ray(&view, [w, h], [x, y])
                && let Some((node, _)) = index.pick(*placement, ray)
            {
                let node_sensors: Vec<(usize, usize)> =
                    twin.anchors.iter().map(|a| (a.node, a.sensor)).collect();
                selected = sensor_for_node(model, &node_sensors, node);
            }
        }
        self.selected = selected;
        // The selected sensor's part glows, so it can be found in a crowded assembly.
        let node = selected
            .zip(self.twin.as_ref())
            .and_then(|(sensor, twin)| twin.anchors.iter().find(|a| a.sensor == sensor))
            .map(|a| a.node);
        if let Some(r) = self.renderer.as_mut() {
            r.set_selected_node(node);
        }
        self.show_detail();
    }

    /// Fills the detail card (`#detail`) for the selected sensor, or hides it.
    fn show_detail(&self) {
        let Some(card) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id("detail"))
        else {
            return;
        };
        let (Some(i), Some(twin)) = (self.selected, self.twin.as_ref()) else {
            card.set_class_name("hidden");
            return;
        };
        let Some(sensor) = twin.sensors.get(i) else {
            return;
        };
        let store = self.live.as_ref().map_or(&twin.no_data, |l| l.store());
        let label = twin.labels.iter().find(|l| l.sensor == i);
        let mut lines = vec![format!("{} ({})", sensor.name, sensor.id)];
        if let Some(l) = label {
            let mut value = format!("{} · {}", l.value, l.classified.status_text());
            if let Some(d) = &l.detail {
                value = format!("{} · {d}", l.value);
            }
            lines.push(value);
        }
        use crate::overlay::present;
        lines.extend(present::range_text(sensor, store, i, twin.window_ms));
        lines.extend(present::threshold_texts(sensor));
        if let Some(sample) = store.latest(i) {
            let when =
                |ms: f64| String::from(js_sys::Date::new(&JsValue::from_f64(ms)).to_iso_string());
            match sample.source_ms {
                Some(src) => lines.push(format!(
                    "measured {} · received {}",
                    when(src),
                    when(sample.received_ms)
                )),
                None => lines.push(format!("received {}", when(sample.received_ms))),
            }
        }
        let source = match self.live.as_ref().map(|l| l.connection_stats()) {
            Some(c) => format!("source: {} {} ({})", c.adapter, c.url, c.label),
            None => "source: none (the manifest names no live source)".to_owned(),
        };
        lines.push(source);
        card.set_text_content(Some(&super::shown::scrub(&lines.join("\n"))));
        card.set_class_name("");
    }

    /// Binds the manifest's sensors to the model's parts for the overlay.
    pub fn set_twin(
        app: &SharedApp,
        manifest: &crate::manifest::Manifest,
        model: &crate::model::TwinModel,
        placement: Mat4,
    ) {
        let mut a = app.borrow_mut();
        let anchors = sensor_anchors(manifest, model, placement);
        let n = anchors.len();
        a.twin = Some(TwinOverlay {
            sensors: manifest.sensors.clone(),
            labels: vec![SensorLabel::default(); anchors.len()],
            anchors,
            frame: OverlayFrame::new(),
            spare: OverlayFrame::new(),
            spare_tints: Vec::new(),
            tints: Vec::new(),
            last_build_ms: f64::NEG_INFINITY,
            last_updates: 0,
            last_full_ms: f64::NEG_INFINITY,
            full_from_live: false,
            label_updates: vec![0; n],
            no_data: SensorStore::new(manifest),
            window_ms: manifest.history.window_seconds * 1000.0,
        });
        a.dirty = true;
        a.request_frame();
    }

    /// Rebuilds the labels and part tints from the sensor store when readings changed or a
    /// second passed (ages and staleness move with time). Returns whether anything visible
    /// changed.
    fn update_overlay(&mut self, now_ms: f64) -> bool {
        let Some(twin) = self.twin.as_mut() else {
            return false;
        };
        // An XR session that just started needs the labels and tints in full on its renderer.
        let refresh_xr = self
            .xr
            .as_mut()
            .is_some_and(XrController::take_overlay_refresh);
        let changed = self
            .live
            .as_ref()
            .map_or(0, |l| l.store().counters().updates);
        if !refresh_xr && changed == twin.last_updates && now_ms - twin.last_build_ms < 1000.0 {
            return false;
        }
        twin.last_updates = changed;
        twin.last_build_ms = now_ms;
        let store = self.live.as_ref().map_or(&twin.no_data, |l| l.store());
        // Every label once a second or when the store changes; otherwise only those whose
        // sensor has new readings (10,000 sensors at 10 Hz change a sixth of them per frame).
        let full = refresh_xr
            || now_ms - twin.last_full_ms >= 1000.0
            || twin.full_from_live != self.live.is_some();
        if full {
            twin.last_full_ms = now_ms;
            twin.full_from_live = self.live.is_some();
        }
        // Built into the spare buffer and compared with the shown one, then swapped: no copy
        // of the whole frame per rebuild, and the buffers' allocations are reused.
        let mut frame = std::mem::take(&mut twin.spare);
        frame.clear();
        let mut tints = std::mem::take(&mut twin.spare_tints);
        tints.clear();
        for (k, (anchor, label)) in twin.anchors.iter().zip(twin.labels.iter_mut()).enumerate() {
            let Some(sensor) = twin.sensors.get(anchor.sensor) else {
                continue;
            };
            let count = store.update_count(anchor.sensor);
            let seen = twin.label_updates.get_mut(k);
            if full || seen.as_deref() != Some(&count) {
                sensor_label(anchor.sensor, sensor, store, now_ms, label);
                if let Some(seen) = seen {
                    *seen = count;
                }
            }
            frame.push(OverlayLabel {
                input: LabelInput {
                    position: anchor.position,
                    anchor: anchor.anchor,
                    priority: sensor.display.priority,
                    state: label.classified.state,
                    size_px: [0.0, 0.0],
                },
                name: &label.title,
                value: &label.value,
                age: label.detail.as_deref(),
                style: label.style(),
                sparkline: &label.sparkline,
                spark_levels: label.spark_levels,
            });
            tints.push((anchor.node, label.tint));
        }
        let frame_changed = frame != twin.frame;
        let tints_changed = tints != twin.tints;
        if let Some(r) = self.renderer.as_mut() {
            if frame_changed {
                r.set_overlay(&frame);
            }
            if tints_changed {
                r.set_node_tints(&tints);
                let (bytes, writes) = r.last_node_upload();
                let mut s = self.stats.borrow_mut();
                s.node_upload.last_bytes = bytes;
                s.node_upload.last_writes = writes;
                if bytes >= s.node_upload.max_bytes {
                    s.node_upload.max_bytes = bytes;
                    s.node_upload.max_writes = writes;
                    s.node_upload.max_tinted = tints.iter().filter(|(_, t)| t.is_some()).count();
                }
            }
        }
        if let Some(xr) = self.xr.as_ref() {
            xr.with_session_renderer(|r| {
                if frame_changed || refresh_xr {
                    r.set_overlay(&frame);
                }
                if tints_changed || refresh_xr {
                    r.set_node_tints(&tints);
                }
            });
        }
        twin.spare = std::mem::replace(&mut twin.frame, frame);
        twin.spare_tints = std::mem::replace(&mut twin.tints, tints);
        if frame_changed && self.selected.is_some() {
            self.show_detail();
        }
        frame_changed || tints_changed
    }

    fn frame_camera(&mut self) {
        if let Some(b) = self.bounds {
            let aspect = self.aspect();
            self.camera.frame(b, aspect);
        }
    }

    fn aspect(&self) -> f32 {
        let (w, h) = (
            self.canvas.client_width().max(1),
            self.canvas.client_height().max(1),
        );
        w as f32 / h as f32
    }

    /// Asks the browser for one animation frame; at most one is ever in flight.
    fn request_frame(&mut self) {
        if self.frame_pending {
            return;
        }
        let (Some(window), Some(cb)) = (web_sys::window(), self.frame_callback.as_ref()) else {
            return;
        };
        if window
            .request_animation_frame(cb.as_ref().unchecked_ref())
            .is_ok()
        {
            self.frame_pending = true;
        }
    }

    fn frame(&mut self) {
        self.frame_pending = false;
        // XR first: support answers, failed starts, an ended session handing the renderer back.
        if let Some(renderer) = self.xr.as_mut().and_then(XrController::pump) {
            self.return_renderer_from_xr(renderer);
        }
        if self.xr.as_ref().is_some_and(XrController::suspends_inline) {
            self.tick_during_xr();
            return;
        }
        if self.pick_warm == Some(true) {
            self.pick_warm = None;
            if let Some((_, index, _)) = &self.picking {
                index.warm();
            }
        }
        let perf = web_sys::window().and_then(|w| w.performance());
        let now = || perf.as_ref().map(|p| p.now()).unwrap_or(0.0);
        let started = now();

        let height = self.canvas.client_height().max(1) as f32;
        for event in self.queue.drain() {
            match event {
                AppEvent::Resize => self.dirty = true,
                AppEvent::Input(input) => {
                    match self.controller.apply(&mut self.camera, input, height) {
                        InputOutcome::Unchanged => {}
                        InputOutcome::Moved => self.dirty = true,
                        InputOutcome::FrameRequested => {
                            self.frame_camera();
                            self.dirty = true;
                        }
                        InputOutcome::Tap { x, y } => {
                            self.select_at(x, y);
                            // The highlight changed.
                            self.dirty = true;
                        }
                    }
                }
            }
        }
        if let Some(live) = self.live.as_mut() {
            live.pump(js_sys::Date::now());
        }
        let applied = now();
        if self.update_overlay(js_sys::Date::now()) {
            self.dirty = true;
        }
        let overlay_built = now();
        if self.continuous
            || self
                .renderer
                .as_ref()
                .is_some_and(Renderer::overlay_animating)
        {
            // Benchmarks measure steady-state frames, and a pulsing alarm animates: keep one
            // frame in flight.
            // Benchmarks measure steady-state frames: keep one frame in flight.
            self.dirty = true;
            self.request_frame();
        }
        if !self.dirty || self.bounds.is_none() {
            return;
        }
        self.dirty = false;
        self.sync_canvas_size();
        let aspect = self.aspect();
        let matrices = self.camera.matrices(aspect);
        let Some(renderer) = self.renderer.as_mut() else {
            return;
        };
        let result = renderer.render(&matrices);
        let gpu_error = renderer.take_gpu_error();
        let overlay_upload = renderer.overlay_upload_bytes();
        // The model's geometry arrives over several frames: draw each step as it lands.
        let uploading = renderer.uploading();
        let ended = now();
        self.timings.record(
            started,
            applied - started,
            overlay_built - applied,
            ended - overlay_built,
            ended - started,
        );
        let mut s = self.stats.borrow_mut();
        match result {
            Ok(frame) => {
                s.frames += 1;
                s.draw_calls = frame.draw_calls;
                s.triangles = frame.triangles;
                s.overlay_draw_calls = frame.overlay_draw_calls;
                s.labels_drawn = frame.labels_drawn;
                s.markers_drawn = frame.markers_drawn;
                s.overlay_upload_bytes = overlay_upload;
                s.cpu_ms_last_frame = ended - started;
                if s.first_frame_ms.is_none() {
                    s.first_frame_ms = Some(ended);
                }
                if self.pick_warm == Some(false) && !uploading {
                    // The model is all on screen: build the pick index in the next frame.
                    self.pick_warm = Some(true);
                }
            }
            Err(e) => {
                let msg = format!("rendering failed: {e}");
                self.status.error(&msg);
                s.last_error = Some(msg);
            }
        }
        if let Some(e) = gpu_error {
            let msg = format!("GPU error: {e}");
            self.status.error(&msg);
            s.last_error = Some(msg);
        }
        if uploading {
            s.model_upload_frames += 1;
        } else if s.model_uploaded_ms.is_none() && s.first_frame_ms.is_some() {
            s.model_uploaded_ms = Some(ended);
        }
        drop(s);
        if uploading || self.pick_warm == Some(true) {
            self.dirty |= uploading;
            self.request_frame();
        }
    }

    /// While an XR session draws (called by its frames, as headsets may stop the page's
    /// animation frames): input meant for the inline view is dropped, live data keeps flowing
    /// into the labels and tints the session draws, and the camera stays as it was for when
    /// the session ends.
    pub(super) fn tick_during_xr(&mut self) {
        // Inline-view input waits for no one: drop it.
        drop(self.queue.drain());
        if let Some(live) = self.live.as_mut() {
            live.pump(js_sys::Date::now());
        }
        self.update_overlay(js_sys::Date::now());
    }

    /// `stats().xr`.
    pub fn xr_stats(&self) -> Option<XrStats> {
        self.xr.as_ref().map(|x| x.stats(self.renderer.as_ref()))
    }

    /// Takes the renderer back after an XR session and redraws the inline view with the camera
    /// it had before (the canvas size is synced first, as the session may have resized it).
    pub(super) fn return_renderer_from_xr(&mut self, renderer: Renderer) {
        self.renderer = Some(renderer);
        self.dirty = true;
        self.request_frame();
    }

    /// The labels as last drawn in the inline view, for `stats().labels`.
    pub fn label_stats(&self) -> Vec<LabelStats> {
        let Some(twin) = self.twin.as_ref() else {
            return Vec::new();
        };
        let (placed, _) = self
            .renderer
            .as_ref()
            .map_or((&[][..], &[][..]), |r| r.overlay_placed(0));
        // Layout works in device pixels; tests and users think in CSS pixels.
        let dpr = web_sys::window().map_or(1.0, |w| w.device_pixel_ratio()) as f32;
        twin.labels
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let p = placed.get(i);
                LabelStats {
                    id: twin
                        .sensors
                        .get(l.sensor)
                        .map(|s| s.id.clone())
                        .unwrap_or_default(),
                    title: l.title.clone(),
                    value: l.value.clone(),
                    detail: l.detail.clone(),
                    state: if l.classified.connection_lost {
                        "connectionLost"
                    } else {
                        state_name(l.classified.state)
                    },
                    visible: p.is_some_and(|p| p.visible),
                    marker: p.is_some_and(|p| p.as_marker),
                    x: p.map_or(0.0, |p| p.screen_pos[0] / dpr),
                    y: p.map_or(0.0, |p| p.screen_pos[1] / dpr),
                    anchor: p
                        .and_then(|p| p.anchor_px)
                        .map(|a| [a[0] / dpr, a[1] / dpr]),
                }
            })
            .collect()
    }

    /// Frame timing percentiles since the last reset.
    pub fn timing_report(&self) -> crate::timing::TimingReport {
        self.timings.report()
    }

    /// Starts a new timing window (benchmarks call it after warm-up).
    pub fn reset_timings(&mut self) {
        self.timings = crate::timing::FrameTimings::default();
    }

    /// Keeps the drawing buffer at CSS size × devicePixelRatio.
    fn sync_canvas_size(&mut self) {
        let dpr = web_sys::window()
            .map(|w| w.device_pixel_ratio())
            .unwrap_or(1.0);
        let edge = |css: i32| {
            ((css.max(1) as f64) * dpr)
                .round()
                .clamp(1.0, MAX_CANVAS_EDGE) as u32
        };
        let (w, h) = (
            edge(self.canvas.client_width()),
            edge(self.canvas.client_height()),
        );
        if self.canvas.width() != w || self.canvas.height() != h {
            self.canvas.set_width(w);
            self.canvas.set_height(h);
        }
        if let Some(r) = self.renderer.as_mut() {
            r.resize(w, h);
            // Labels keep their CSS size on high-density screens.
            r.set_overlay_pixel_scale(dpr as f32);
        }
        let mut s = self.stats.borrow_mut();
        s.canvas_width = w;
        s.canvas_height = h;
    }
}

impl XrHost for App {
    fn xr_controller(&mut self) -> Option<&mut XrController> {
        self.xr.as_mut()
    }

    fn backend(&self) -> Option<&'static str> {
        self.stats.borrow().backend
    }

    fn ready(&self) -> bool {
        self.stats.borrow().state == "ready"
    }

    /// The inline view pauses until [`Self::return_renderer_from_xr`].
    fn take_renderer_for_xr(&mut self) -> Option<(Renderer, HtmlCanvasElement)> {
        self.renderer.take().map(|r| (r, self.canvas.clone()))
    }

    fn tick_during_xr(&mut self) {
        App::tick_during_xr(self);
    }

    fn connection_label(&self) -> String {
        App::connection_label(self)
    }

    fn reading_text(&self, id: &str) -> Option<String> {
        App::reading_text(self, id)
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let (Some((id, _)), Some(w)) = (&self.ticker, web_sys::window()) {
            w.clear_interval_with_handle(*id);
        }
        if let Some((observer, _)) = &self.resize_observer {
            observer.disconnect();
        }
    }
}

fn with_app(weak: &Weak<RefCell<App>>, f: impl FnOnce(&mut App)) {
    if let Some(app) = weak.upgrade()
        && let Ok(mut a) = app.try_borrow_mut()
    {
        f(&mut a);
    }
}
