//! The XR page elements: the "View in AR" / "View in VR" buttons with the reason text shown
//! when they cannot appear, and the heads-up display (`#xr-hud`) shown during a session. On
//! phones the HUD is the DOM overlay: the browser shows it over the camera image. Its buttons
//! and two-finger gestures only queue [`XrInput`]s; the session's frame applies them.

use std::cell::RefCell;
use std::rc::Rc;

use glam::Vec2;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{Document, Element, HtmlElement, PointerEvent};

use super::dom::Listener;
use crate::commands::CommandQueue;
use crate::xr::placement::twist_yaw;

/// Inputs queued between XR frames; more than this and the oldest are dropped.
const MAX_QUEUED_INPUTS: usize = 64;
/// Screen-tap selects ending this soon after a two-finger gesture are part of the gesture.
pub(super) const GESTURE_SELECT_GRACE_MS: f64 = 400.0;

/// Which immersive mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum XrMode {
    /// `immersive-ar`: the twin over the camera image or see-through display.
    Ar,
    /// `immersive-vr`: walk through the twin at 1:1.
    Vr,
}

impl XrMode {
    /// The WebXR session mode string.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            XrMode::Ar => "immersive-ar",
            XrMode::Vr => "immersive-vr",
        }
    }
}

/// A HUD button (`data-xr` attribute) or the same action from `window.twinlens.xr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HudAction {
    /// Place the twin at the reticle.
    Place,
    /// Put the twin back where it was stored last time (after the user looked at it).
    Restore,
    /// Turn the placed twin 15° counter-clockwise.
    RotateLeft,
    /// Turn the placed twin 15° clockwise.
    RotateRight,
    /// Switch between life size and tabletop size.
    ToggleScale,
    /// Search for a surface again.
    Reset,
    /// Start precise alignment (point pairs).
    Align,
    /// Take the point on the twin under the aim point as the next model point.
    MarkModel,
    /// Take the surface under the reticle as the next real point.
    MarkReal,
    /// Leave alignment mode, keeping the result.
    AlignDone,
    /// End the session.
    Exit,
}

impl HudAction {
    const ALL: [(HudAction, &'static str); 11] = [
        (HudAction::Place, "place"),
        (HudAction::Restore, "restore"),
        (HudAction::RotateLeft, "rotate-left"),
        (HudAction::RotateRight, "rotate-right"),
        (HudAction::ToggleScale, "scale"),
        (HudAction::Reset, "reset"),
        (HudAction::Align, "align"),
        (HudAction::MarkModel, "mark-model"),
        (HudAction::MarkReal, "mark-real"),
        (HudAction::AlignDone, "align-done"),
        (HudAction::Exit, "exit"),
    ];

    /// Parses a `data-xr` value (also the names `window.twinlens.xr.action()` takes).
    pub(super) fn parse(name: &str) -> Option<HudAction> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|(a, _)| *a)
    }

    /// The `data-xr` name.
    pub(super) fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(a, _)| *a == self)
            .map_or("", |(_, n)| n)
    }
}

/// Where a select came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SelectSource {
    /// A screen tap (phone AR: `targetRayMode` "screen").
    Screen,
    /// A tracked controller or hand ray ("tracked-pointer").
    Pointer,
    /// A gaze-and-pinch style pointer that exists only while pinching ("transient-pointer").
    Transient,
    /// Gaze ("gaze", e.g. Cardboard-style viewers).
    Gaze,
    /// `window.twinlens.xr.select()`: like a tap at the screen centre.
    Api,
}

/// One queued XR input. Poses are `[f32; 16]` column-major in the session's base reference
/// space, read while the event's frame was valid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum XrInput {
    /// A select (tap, trigger, pinch) with the pointer's target-ray pose, when known.
    Select {
        /// Target-ray pose at the select.
        ray: Option<[f32; 16]>,
        /// Kind of input.
        source: SelectSource,
        /// `true` for the right hand (or a handedness-less source).
        right: bool,
    },
    /// The squeeze (grip) button went down on a controller.
    SqueezeStart {
        /// Which hand.
        right: bool,
    },
    /// The squeeze button came up.
    SqueezeEnd {
        /// Which hand.
        right: bool,
    },
    /// A HUD button.
    Action(HudAction),
    /// A two-finger twist on the overlay, as a yaw change (radians).
    Twist(f32),
    /// A two-finger drag on the overlay: midpoint motion in CSS pixels.
    DragPx(Vec2),
    /// A model point given directly (`window.twinlens.xr.markModelPoint`), twin coordinates.
    ModelPoint([f32; 3]),
    /// Turn the placed twin by this many radians (`window.twinlens.xr.rotate`).
    Rotate(f32),
    /// Move the placed twin right/forward in metres relative to the viewer.
    Nudge(f32, f32),
    /// Life size (false) or tabletop (true).
    SetTabletop(bool),
}

/// The queue shared by the HUD, the session's event listeners and `window.twinlens.xr`; the
/// session's frame drains it. A push always lands (see [`CommandQueue`]); when full, the
/// oldest input goes.
#[derive(Clone)]
pub(super) struct InputQueue(CommandQueue<XrInput>);

impl Default for InputQueue {
    fn default() -> Self {
        InputQueue(CommandQueue::bounded(MAX_QUEUED_INPUTS, |_| true))
    }
}

impl InputQueue {
    /// Queues `input`, dropping the oldest when full (an input holds nothing to free).
    pub(super) fn push(&self, input: XrInput) {
        let _ = self.0.push(input);
    }

    /// Takes everything queued.
    pub(super) fn drain(&self) -> Vec<XrInput> {
        self.0.drain()
    }

    /// Forgets everything queued (a new session starts clean).
    pub(super) fn clear(&self) {
        drop(self.0.drain());
    }
}

/// What the HUD shows; built by the session a few times a second and written to the DOM only
/// where it changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct HudView {
    /// Main line: what to do next, tracking and anchor trouble.
    pub status: String,
    /// Live-data connection in words.
    pub connection: String,
    /// The selected part and its sensor, if any.
    pub selected: Option<String>,
    /// Alignment progress and error, while aligning or once aligned.
    pub align: Option<String>,
    /// Visible buttons.
    pub buttons: Vec<HudAction>,
    /// Label of the scale toggle ("Tabletop size" / "Life size").
    pub scale_label: &'static str,
    /// Whether the screen-centre aim mark is shown (phone AR).
    pub aim: bool,
}

/// Touch points on the overlay, for two-finger twist and drag.
#[derive(Default)]
struct Gesture {
    pointers: Vec<(i32, Vec2)>,
    /// `performance.now()` of the last moment two or more fingers were down.
    last_multi_ms: f64,
}

/// The XR elements of the page. Lookups are optional: a page without them still works, it
/// just offers no XR.
pub(super) struct XrHud {
    enter_ar: Option<HtmlElement>,
    enter_vr: Option<HtmlElement>,
    reason: Option<HtmlElement>,
    reason_summary: Option<HtmlElement>,
    reason_text: Option<HtmlElement>,
    root: Option<HtmlElement>,
    status: Option<HtmlElement>,
    connection: Option<HtmlElement>,
    selected: Option<HtmlElement>,
    align: Option<HtmlElement>,
    aim: Option<HtmlElement>,
    buttons: Vec<(HudAction, HtmlElement)>,
    shown: Option<HudView>,
    gesture: Rc<RefCell<Gesture>>,
    listeners: Vec<Listener>,
}

fn element(document: &Document, id: &str) -> Option<HtmlElement> {
    document
        .get_element_by_id(id)
        .and_then(|e| e.dyn_into().ok())
}

fn perf_now() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

impl XrHud {
    /// Finds the elements and wires the buttons: entry buttons call `enter`, HUD buttons and
    /// gestures queue into `queue`.
    pub(super) fn new(
        document: Option<&Document>,
        queue: &InputQueue,
        enter: Rc<dyn Fn(XrMode)>,
    ) -> XrHud {
        let element = |id: &str| document.and_then(|d| element(d, id));
        let mut hud = XrHud {
            enter_ar: element("xr-enter-ar"),
            enter_vr: element("xr-enter-vr"),
            reason: element("xr-reason"),
            reason_summary: element("xr-reason-summary"),
            reason_text: element("xr-reason-text"),
            root: element("xr-hud"),
            status: element("xr-hud-status"),
            connection: element("xr-hud-connection"),
            selected: element("xr-hud-selected"),
            align: element("xr-hud-align"),
            aim: element("xr-aim"),
            buttons: Vec::new(),
            shown: None,
            gesture: Rc::default(),
            listeners: Vec::new(),
        };
        if let Some(root) = &hud.root
            && let Ok(list) = root.query_selector_all("[data-xr]")
        {
            for i in 0..list.length() {
                let Some(el) = list.item(i).and_then(|n| n.dyn_into::<HtmlElement>().ok()) else {
                    continue;
                };
                if let Some(action) = el
                    .get_attribute("data-xr")
                    .and_then(|n| HudAction::parse(&n))
                {
                    hud.buttons.push((action, el));
                }
            }
        }
        if let Err(e) = hud.wire(queue, enter) {
            web_sys::console::warn_2(&"twinlens: XR buttons not wired".into(), &e);
        }
        hud
    }

    fn wire(&mut self, queue: &InputQueue, enter: Rc<dyn Fn(XrMode)>) -> Result<(), JsValue> {
        for (button, mode) in [(&self.enter_ar, XrMode::Ar), (&self.enter_vr, XrMode::Vr)] {
            if let Some(b) = button {
                let enter = enter.clone();
                self.listeners
                    .push(Listener::new(b.as_ref(), "click", true, move |_| {
                        enter(mode)
                    })?);
            }
        }
        let Some(root) = self.root.clone() else {
            return Ok(());
        };
        let q = queue.clone();
        self.listeners
            .push(Listener::new(root.as_ref(), "click", true, move |e| {
                let action = e
                    .target()
                    .and_then(|t| t.dyn_into::<Element>().ok())
                    .and_then(|t| t.closest("[data-xr]").ok().flatten())
                    .and_then(|b| b.get_attribute("data-xr"))
                    .and_then(|n| HudAction::parse(&n));
                if let Some(action) = action {
                    q.push(XrInput::Action(action));
                }
            })?);
        // A tap on a HUD button must not also reach the session as a select (which would
        // place the twin or mark a point): the DOM overlay module asks first.
        if let Ok(Some(panel)) = root.query_selector("#xr-panel") {
            self.listeners.push(Listener::new(
                panel.as_ref(),
                "beforexrselect",
                false,
                |e| e.prevent_default(),
            )?);
        }
        for event in ["pointerdown", "pointermove", "pointerup", "pointercancel"] {
            let gesture = self.gesture.clone();
            let q = queue.clone();
            self.listeners
                .push(Listener::new(root.as_ref(), event, true, move |e| {
                    if let Some(e) = e.dyn_ref::<PointerEvent>()
                        && let Ok(mut g) = gesture.try_borrow_mut()
                    {
                        g.on_pointer(event, e, &q);
                    }
                })?);
        }
        Ok(())
    }

    /// Listeners this HUD holds (constant for the page's life).
    pub(super) fn listener_count(&self) -> usize {
        self.listeners.len()
    }

    /// `performance.now()` of the last two-finger contact.
    pub(super) fn last_multi_touch_ms(&self) -> f64 {
        self.gesture.try_borrow().map_or(0.0, |g| g.last_multi_ms)
    }

    /// Shows the entry buttons for the supported modes, or, when there are none, a collapsed
    /// "AR / VR not available" whose details say why.
    pub(super) fn show_entry(&self, ar: bool, vr: bool, reason: Option<&str>) {
        set_hidden(self.enter_ar.as_ref(), !ar);
        set_hidden(self.enter_vr.as_ref(), !vr);
        self.show_reason("AR / VR not available", reason, false);
    }

    /// Shows (or with `None` hides) a reason box; `open` unfolds it (a failure the user just
    /// caused should be read at once).
    pub(super) fn show_reason(&self, summary: &str, text: Option<&str>, open: bool) {
        if let Some(el) = &self.reason_summary {
            el.set_text_content(Some(summary));
        }
        if let Some(el) = &self.reason_text {
            el.set_text_content(text.map(super::shown::scrub).as_deref());
        }
        if let Some(el) = &self.reason {
            el.set_hidden(text.is_none());
            let _ = el.toggle_attribute_with_force("open", open);
        }
    }

    /// Disables the entry buttons while a session starts or runs.
    pub(super) fn set_entry_busy(&self, busy: bool) {
        for b in [&self.enter_ar, &self.enter_vr].into_iter().flatten() {
            let _ = b.toggle_attribute_with_force("disabled", busy);
        }
    }

    /// Shows or hides the HUD; `touch` lets the overlay take touches (phones with a DOM
    /// overlay, where two-finger gestures adjust the twin).
    pub(super) fn set_active(&mut self, active: bool, touch: bool) {
        if let Some(root) = &self.root {
            root.set_hidden(!active);
            let _ = root
                .class_list()
                .toggle_with_force("touch", active && touch);
        }
        if !active {
            self.shown = None;
            if let Ok(mut g) = self.gesture.try_borrow_mut() {
                g.pointers.clear();
            }
        }
    }

    /// The root element, for `XRSessionInit.domOverlay`.
    pub(super) fn root(&self) -> Option<&HtmlElement> {
        self.root.as_ref()
    }

    /// Writes `view` to the DOM where it differs from what is shown.
    pub(super) fn update(&mut self, view: HudView) {
        let old = self.shown.take().unwrap_or_else(|| HudView {
            // Forces every field to be written the first time.
            status: "\u{0}".into(),
            connection: "\u{0}".into(),
            selected: Some("\u{0}".into()),
            align: Some("\u{0}".into()),
            buttons: vec![HudAction::Exit; 99],
            scale_label: "\u{0}",
            aim: !view.aim,
        });
        if old.status != view.status
            && let Some(el) = &self.status
        {
            el.set_text_content(Some(&super::shown::scrub(&view.status)));
        }
        if old.connection != view.connection
            && let Some(el) = &self.connection
        {
            el.set_text_content(Some(&super::shown::scrub(&view.connection)));
            el.set_hidden(view.connection.is_empty());
        }
        for (old_text, text, el) in [
            (&old.selected, &view.selected, &self.selected),
            (&old.align, &view.align, &self.align),
        ] {
            if old_text != text
                && let Some(el) = el
            {
                el.set_text_content(text.as_deref().map(super::shown::scrub).as_deref());
                el.set_hidden(text.is_none());
            }
        }
        if old.buttons != view.buttons || old.scale_label != view.scale_label {
            for (action, el) in &self.buttons {
                el.set_hidden(!view.buttons.contains(action));
                if *action == HudAction::ToggleScale {
                    el.set_text_content(Some(view.scale_label));
                }
            }
        }
        if old.aim != view.aim {
            set_hidden(self.aim.as_ref(), !view.aim);
        }
        self.shown = Some(view);
    }
}

fn set_hidden(el: Option<&HtmlElement>, hidden: bool) {
    if let Some(el) = el {
        el.set_hidden(hidden);
    }
}

impl Gesture {
    fn on_pointer(&mut self, event: &str, e: &PointerEvent, queue: &InputQueue) {
        let id = e.pointer_id();
        let at = Vec2::new(e.client_x() as f32, e.client_y() as f32);
        match event {
            "pointerdown" => {
                if e.pointer_type() != "touch" || self.pointers.len() >= 2 {
                    return;
                }
                self.pointers.retain(|(p, _)| *p != id);
                self.pointers.push((id, at));
                if self.pointers.len() >= 2 {
                    self.last_multi_ms = perf_now();
                }
            }
            "pointermove" => {
                if self.pointers.len() < 2 {
                    if let Some(p) = self.pointers.iter_mut().find(|(p, _)| *p == id) {
                        p.1 = at;
                    }
                    return;
                }
                let before = [self.pointers[0].1, self.pointers[1].1];
                let Some(p) = self.pointers.iter_mut().find(|(p, _)| *p == id) else {
                    return;
                };
                p.1 = at;
                let after = [self.pointers[0].1, self.pointers[1].1];
                self.last_multi_ms = perf_now();
                let yaw = twist_yaw(before, after);
                if yaw != 0.0 {
                    queue.push(XrInput::Twist(yaw));
                }
                let mid = |p: [Vec2; 2]| (p[0] + p[1]) * 0.5;
                let delta = mid(after) - mid(before);
                if delta != Vec2::ZERO {
                    queue.push(XrInput::DragPx(delta));
                }
            }
            _ => {
                if self.pointers.len() >= 2 {
                    self.last_multi_ms = perf_now();
                }
                self.pointers.retain(|(p, _)| *p != id);
            }
        }
    }
}
