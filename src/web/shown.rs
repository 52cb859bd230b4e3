//! The one gate every text passes before the page shows or reports it: status line, detail
//! card, XR HUD, `stats()` and console. It masks credentials ([`crate::redact`]) with the
//! secrets of the twin being shown.

use std::cell::RefCell;

use crate::redact::{self, Secrets};

thread_local! {
    static SECRETS: RefCell<Secrets> = RefCell::new(Secrets::default());
}

/// Adds the secrets of a loaded twin (its manifest's credentials and secret URL parameters).
pub fn remember(secrets: &Secrets) {
    SECRETS.with(|s| {
        s.borrow_mut().extend(secrets);
    });
}

/// `text` safe to show: every known secret and every URL credential masked.
pub fn scrub(text: &str) -> String {
    SECRETS.with(|s| redact::scrub(text, &s.borrow()))
}

/// Logs a warning to the console, scrubbed.
pub fn warn(text: &str) {
    web_sys::console::warn_1(&scrub(text).into());
}

/// Logs an error to the console, scrubbed.
pub fn error(text: &str) {
    web_sys::console::error_1(&scrub(text).into());
}
