//! The inline view's input: pointer, wheel, key and resize listeners. Each only queues an
//! [`AppEvent`] and wakes the app; the app's frame drains the queue.

use std::rc::Rc;

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{HtmlCanvasElement, KeyboardEvent, PointerEvent, WheelEvent};

use super::dom::Listener;
use crate::camera::{PointerKind, ViewInput, ViewKey};
use crate::commands::CommandQueue;

/// Events queued between frames; more than this many are dropped (oldest moves first), so a
/// flood of input can never grow memory.
pub(super) const MAX_QUEUED_EVENTS: usize = 256;

pub(super) enum AppEvent {
    Input(ViewInput),
    Resize,
}

impl AppEvent {
    /// A full queue drops the oldest pointer move first: later moves carry newer positions.
    pub(super) fn displaceable(&self) -> bool {
        matches!(self, AppEvent::Input(ViewInput::PointerMove { .. }))
    }
}

pub(super) type EventQueue = CommandQueue<AppEvent>;

/// A resize observer with the closure it calls; dropping it stops the callbacks.
pub(super) type ResizeWatch = (web_sys::ResizeObserver, Closure<dyn FnMut(js_sys::Array)>);

/// Queues `event` and asks for a frame. When the app is busy (an event dispatched while it
/// runs), the event still waits in the queue and the running frame asks for the next one.
pub(super) fn enqueue(queue: &EventQueue, wake: &Rc<dyn Fn()>, event: AppEvent) {
    // A full queue displaced a pointer move, or refused this one: either holds nothing to free.
    let _ = queue.push(event);
    wake();
}

pub(super) fn input_listeners(
    canvas: &HtmlCanvasElement,
    queue: &EventQueue,
    wake: &Rc<dyn Fn()>,
) -> Result<Vec<Listener>, JsValue> {
    let target: &web_sys::EventTarget = canvas.as_ref();
    let mut out = Vec::new();

    let (w, q) = (wake.clone(), queue.clone());
    let c = canvas.clone();
    out.push(Listener::new(target, "pointerdown", false, move |e| {
        let Some(e) = e.dyn_ref::<PointerEvent>() else {
            return;
        };
        let _ = c.set_pointer_capture(e.pointer_id());
        let _ = c.focus();
        let kind = if e.pointer_type() == "touch" {
            PointerKind::Touch
        } else {
            PointerKind::Mouse {
                pan: e.button() != 0 || e.shift_key(),
            }
        };
        let input = ViewInput::PointerDown {
            id: e.pointer_id(),
            x: e.offset_x() as f32,
            y: e.offset_y() as f32,
            kind,
        };
        enqueue(&q, &w, AppEvent::Input(input));
    })?);

    let (w, q) = (wake.clone(), queue.clone());
    out.push(Listener::new(target, "pointermove", true, move |e| {
        let Some(e) = e.dyn_ref::<PointerEvent>() else {
            return;
        };
        // Hovering moves nothing; only pointers that are down take part.
        if e.buttons() == 0 && e.pointer_type() != "touch" {
            return;
        }
        let input = ViewInput::PointerMove {
            id: e.pointer_id(),
            x: e.offset_x() as f32,
            y: e.offset_y() as f32,
        };
        enqueue(&q, &w, AppEvent::Input(input));
    })?);

    for event in ["pointerup", "pointercancel"] {
        let (w, q) = (wake.clone(), queue.clone());
        out.push(Listener::new(target, event, true, move |e| {
            let Some(e) = e.dyn_ref::<PointerEvent>() else {
                return;
            };
            let input = ViewInput::PointerUp { id: e.pointer_id() };
            enqueue(&q, &w, AppEvent::Input(input));
        })?);
    }

    let (w, q) = (wake.clone(), queue.clone());
    out.push(Listener::new(target, "wheel", false, move |e| {
        let Some(e) = e.dyn_ref::<WheelEvent>() else {
            return;
        };
        e.prevent_default();
        // Line and page deltas (Firefox) are scaled to roughly pixel units.
        let scale = match e.delta_mode() {
            1 => 16.0,
            2 => 400.0,
            _ => 1.0,
        };
        let input = ViewInput::Wheel {
            delta_y: (e.delta_y() * scale) as f32,
        };
        enqueue(&q, &w, AppEvent::Input(input));
    })?);

    out.push(Listener::new(target, "contextmenu", false, |e| {
        e.prevent_default()
    })?);

    // Keys work whenever the page has focus, not only the canvas.
    if let Some(window) = web_sys::window() {
        let (w, q) = (wake.clone(), queue.clone());
        out.push(Listener::new(window.as_ref(), "keydown", true, move |e| {
            let Some(e) = e.dyn_ref::<KeyboardEvent>() else {
                return;
            };
            if e.ctrl_key() || e.meta_key() || e.alt_key() {
                return;
            }
            if let Some(key) = ViewKey::from_key(&e.key()) {
                enqueue(&q, &w, AppEvent::Input(ViewInput::Key(key)));
            }
        })?);
        let (w, q) = (wake.clone(), queue.clone());
        // A devicePixelRatio change (moving to another screen, browser zoom) fires resize.
        out.push(Listener::new(window.as_ref(), "resize", true, move |_| {
            enqueue(&q, &w, AppEvent::Resize);
        })?);
    }
    Ok(out)
}

pub(super) fn resize_observer(
    canvas: &HtmlCanvasElement,
    queue: &EventQueue,
    wake: &Rc<dyn Fn()>,
) -> Result<ResizeWatch, JsValue> {
    let (w, q) = (wake.clone(), queue.clone());
    let callback = Closure::<dyn FnMut(js_sys::Array)>::new(move |_entries: js_sys::Array| {
        enqueue(&q, &w, AppEvent::Resize);
    });
    let observer = web_sys::ResizeObserver::new(callback.as_ref().unchecked_ref())?;
    observer.observe(canvas);
    Ok((observer, callback))
}
