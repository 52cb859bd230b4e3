//! Small DOM helpers: owned event listeners that unsubscribe on drop, the status line, and query
//! parameters. Lookups return `Option`/`Result` instead of panicking.

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{EventTarget, HtmlElement};

/// An event listener that is removed when this value is dropped.
pub struct Listener {
    target: EventTarget,
    event: &'static str,
    closure: Closure<dyn FnMut(web_sys::Event)>,
}

impl Listener {
    /// Subscribes `handler` to `event` on `target`; `passive: false` lets it call
    /// `preventDefault` (needed for wheel and touch gestures).
    pub fn new(
        target: &EventTarget,
        event: &'static str,
        passive: bool,
        handler: impl FnMut(web_sys::Event) + 'static,
    ) -> Result<Listener, JsValue> {
        let closure = Closure::<dyn FnMut(web_sys::Event)>::new(handler);
        let options = web_sys::AddEventListenerOptions::new();
        options.set_passive(passive);
        target.add_event_listener_with_callback_and_add_event_listener_options(
            event,
            closure.as_ref().unchecked_ref(),
            &options,
        )?;
        Ok(Listener {
            target: target.clone(),
            event,
            closure,
        })
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self
            .target
            .remove_event_listener_with_callback(self.event, self.closure.as_ref().unchecked_ref());
    }
}

/// The page's status line (`#status`): progress while loading, errors in words.
#[derive(Clone)]
pub struct StatusLine {
    element: Option<HtmlElement>,
}

impl StatusLine {
    /// Finds `#status`; without one, messages go to the console only.
    pub fn find(document: &web_sys::Document) -> StatusLine {
        let element = document
            .get_element_by_id("status")
            .and_then(|e| e.dyn_into().ok());
        StatusLine { element }
    }

    /// Shows an informational message.
    pub fn info(&self, text: &str) {
        self.set(text, "info");
    }

    /// Shows an error; it stays until replaced.
    pub fn error(&self, text: &str) {
        super::shown::error(text);
        self.set(text, "error");
    }

    /// Hides the status line.
    pub fn clear(&self) {
        self.set("", "hidden");
    }

    fn set(&self, text: &str, class: &str) {
        if let Some(el) = &self.element {
            el.set_text_content(Some(&super::shown::scrub(text)));
            el.set_class_name(class);
        }
    }
}

/// A query parameter of the page URL.
pub fn query_param(name: &str) -> Option<String> {
    let search = web_sys::window()?.location().search().ok()?;
    let params = web_sys::UrlSearchParams::new_with_str(&search).ok()?;
    params.get(name).filter(|v| !v.is_empty())
}

/// Resolves `url` against `base` (itself resolved against the page), as the browser would.
pub fn resolve_url(url: &str, base: &str) -> String {
    let page = web_sys::window()
        .and_then(|w| w.location().href().ok())
        .unwrap_or_default();
    let base = web_sys::Url::new_with_base(base, &page)
        .map(|u| u.href())
        .unwrap_or(page);
    web_sys::Url::new_with_base(url, &base)
        .map(|u| u.href())
        .unwrap_or_else(|_| url.to_owned())
}

/// `?skipSmallPx=N`: parts drawn smaller than N pixels across are skipped (0 or absent: none).
pub fn small_part_px() -> f32 {
    query_param("skipSmallPx")
        .and_then(|v| v.parse::<f32>().ok())
        .filter(|v| v.is_finite() && *v > 0.0)
        .map_or(0.0, |v| v.min(64.0))
}
