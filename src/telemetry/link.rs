//! The connection's state machine: when to open a socket, when to give up on one, how long to
//! wait before the next, and what the page says meanwhile. Events go in with the time; the
//! sockets to open and close and the timers to set come out, so every rule is tested on the
//! host without a browser.
//!
//! Rules:
//! - Backoff (see [`Backoff`]) resets only when a session that stayed live for
//!   [`STABLE_AFTER_MS`] ends. A server that accepts the socket and closes it at once therefore
//!   keeps backing off to the cap instead of being hammered in a loop.
//! - A refusal never resets the backoff: close code 1008 (policy violation, what proxies and
//!   brokers send for a bad token), 4000–4999 (application codes) and a socket closed before it
//!   ever opened (what a browser shows for an HTTP 401/403 answer to the upgrade, as for an
//!   unreachable host). The label quotes the close reason.
//! - Silence: with `silence_ms`, a socket that brings no frame for that long is closed as
//!   half-open and replaced, and the status stays `silent` until a frame arrives again.
//! - Health: from the moment a live session ends until the next one is live (with data after
//!   a silence), [`lost_since`](Link::lost_since) says since when, so no reading claims to be
//!   live meanwhile. Before the first live session there is nothing to lose.

use crate::manifest::ReconnectSpec;
use crate::telemetry::backoff::{Backoff, ConnectionStatus};

/// A session must stay live this long before its end resets the backoff.
pub const STABLE_AFTER_MS: f64 = 10_000.0;

/// A socket that neither opens nor fails within this long is given up (browsers can take
/// minutes to time out a connection to a host that drops packets).
pub const OPEN_TIMEOUT_MS: f64 = 20_000.0;

/// What the owner of the socket must do.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkAction {
    /// Open a new socket; its events must carry this generation.
    Open {
        /// Tag for the new socket's events.
        generation: u32,
    },
    /// Close the current socket and unhook its callbacks.
    Close,
    /// Call again after this many milliseconds even if nothing else happens: a retry is due.
    WakeAfter(f64),
}

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    /// Nothing tried yet: the first tick opens.
    Start,
    /// Waiting to retry at `at`; `why` the last socket ended.
    Waiting { at: f64, why: String },
    /// A socket was created and has not opened yet.
    Opening { since: f64 },
    /// The socket is open; `live_since` once the adapter's handshake is done.
    Open {
        live_since: Option<f64>,
        last_frame_ms: f64,
    },
    /// Stopped for good.
    Failed { reason: String },
}

/// The connection state of one source.
#[derive(Debug, Clone)]
pub struct Link {
    backoff: Backoff,
    silence_ms: Option<f64>,
    url: String,
    generation: u32,
    phase: Phase,
    /// The time of the last frame before a silence closed the socket; cleared by a frame.
    silent_since: Option<f64>,
    /// When the last live session ended (kept while the link is not live again).
    lost_since: Option<f64>,
}

/// How a socket's end counts for the backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// May reset the backoff if the session was stable.
    Normal,
    /// Never resets it: refused, silent, timed out.
    Failure,
}

impl Link {
    /// A link backing off by `spec`, closing sockets silent for `silence_ms` (`None`: the
    /// adapter watches liveness itself, as MQTT's keep-alive does), naming `shown_url` (the
    /// socket URL with secrets redacted) in its labels.
    pub fn new(spec: &ReconnectSpec, silence_ms: Option<f64>, shown_url: &str) -> Link {
        Link {
            backoff: Backoff::new(spec),
            silence_ms: silence_ms.filter(|s| s.is_finite() && *s > 0.0),
            url: shown_url.to_owned(),
            generation: 0,
            phase: Phase::Start,
            silent_since: None,
            lost_since: None,
        }
    }

    /// The generation of the current (or last) socket.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// Whether events tagged `generation` still matter: they come from the current socket
    /// and it has not been given up.
    pub fn accepts(&self, generation: u32) -> bool {
        generation == self.generation
            && matches!(self.phase, Phase::Opening { .. } | Phase::Open { .. })
    }

    /// Whether the current socket is open (frames may be sent).
    pub fn is_open(&self) -> bool {
        matches!(self.phase, Phase::Open { .. })
    }

    /// Whether data flows: open, handshake done, and not waiting for a frame after a silence.
    pub fn is_live(&self) -> bool {
        matches!(
            self.phase,
            Phase::Open {
                live_since: Some(_),
                ..
            }
        ) && self.silent_since.is_none()
    }

    /// Since when the connection is down after having been live; `None` while live and
    /// before the first live session.
    pub fn lost_since(&self) -> Option<f64> {
        if self.is_live() {
            None
        } else {
            self.lost_since
        }
    }

    /// Timers: opens the first socket and each due retry; gives up a socket that does not
    /// open, or that went silent. `random01` is the jitter for a delay, if one is needed.
    pub fn tick(&mut self, now_ms: f64, random01: f64) -> Vec<LinkAction> {
        match self.phase.clone() {
            Phase::Start => self.open(now_ms),
            Phase::Waiting { at, .. } if now_ms >= at => self.open(now_ms),
            Phase::Opening { since } if now_ms - since >= OPEN_TIMEOUT_MS => {
                let why = format!(
                    "could not connect to {} within {} s",
                    self.url,
                    OPEN_TIMEOUT_MS / 1000.0
                );
                self.end(why, Ending::Failure, now_ms, random01)
            }
            Phase::Open { last_frame_ms, .. }
                if self.silence_ms.is_some_and(|s| now_ms - last_frame_ms >= s) =>
            {
                // The first silence keeps its start: a second one while still waiting for a
                // frame does not make the silence look shorter.
                let since = self.silent_since.unwrap_or(last_frame_ms);
                let actions = self.end(String::new(), Ending::Failure, now_ms, random01);
                self.silent_since = Some(since);
                actions
            }
            _ => Vec::new(),
        }
    }

    /// The socket opened.
    pub fn opened(&mut self, now_ms: f64) {
        if matches!(self.phase, Phase::Opening { .. }) {
            self.phase = Phase::Open {
                live_since: None,
                last_frame_ms: now_ms,
            };
        }
    }

    /// A frame arrived (whatever it held: the connection is alive).
    pub fn frame(&mut self, now_ms: f64) {
        if let Phase::Open { last_frame_ms, .. } = &mut self.phase {
            *last_frame_ms = now_ms;
            self.silent_since = None;
        }
    }

    /// The adapter's handshake is done: data may flow.
    pub fn session_live(&mut self, now_ms: f64) {
        if let Phase::Open { live_since, .. } = &mut self.phase
            && live_since.is_none()
        {
            *live_since = Some(now_ms);
        }
    }

    /// The socket closed with `code` and `reason` (`clean`: the closing handshake completed).
    pub fn closed(
        &mut self,
        code: u16,
        reason: &str,
        clean: bool,
        now_ms: f64,
        random01: f64,
    ) -> Vec<LinkAction> {
        let never_opened = matches!(self.phase, Phase::Opening { .. });
        let reason = reason.trim();
        let because = if reason.is_empty() {
            String::new()
        } else {
            format!(": {reason}")
        };
        let (why, ending) = if never_opened {
            (
                format!(
                    "could not connect to {} (refused or unreachable; code {code}){because}",
                    self.url
                ),
                Ending::Failure,
            )
        } else if is_refusal(code) {
            (format!("refused (code {code}){because}"), Ending::Failure)
        } else if reason.is_empty() && !clean {
            (format!("connection lost (code {code})"), Ending::Normal)
        } else {
            (format!("closed (code {code}){because}"), Ending::Normal)
        };
        // The socket closed itself: nothing to close.
        let mut actions = self.end(why, ending, now_ms, random01);
        actions.retain(|a| *a != LinkAction::Close);
        actions
    }

    /// The adapter asked for a fresh connection (protocol error, missed keep-alive).
    pub fn reconnect(&mut self, why: String, now_ms: f64, random01: f64) -> Vec<LinkAction> {
        self.end(why, Ending::Normal, now_ms, random01)
    }

    /// Retrying cannot help (credentials refused, bad configuration): close and stop.
    pub fn fail(&mut self, reason: String, now_ms: f64) -> Vec<LinkAction> {
        let had_socket = matches!(self.phase, Phase::Opening { .. } | Phase::Open { .. });
        self.note_end(now_ms);
        self.silent_since = None;
        self.phase = Phase::Failed { reason };
        if had_socket {
            vec![LinkAction::Close]
        } else {
            Vec::new()
        }
    }

    /// The status for the page and `stats()` at `now_ms`.
    pub fn status(&self, now_ms: f64) -> ConnectionStatus {
        let status = match &self.phase {
            Phase::Failed { reason } => {
                return ConnectionStatus::Failed {
                    reason: reason.clone(),
                };
            }
            Phase::Start => ConnectionStatus::Connecting { attempt: 1 },
            Phase::Waiting { at, why } => ConnectionStatus::Reconnecting {
                in_ms: (at - now_ms).max(0.0),
                attempt: self.next_attempt(),
                last_error: why.clone(),
            },
            Phase::Opening { .. }
            | Phase::Open {
                live_since: None, ..
            } => ConnectionStatus::Connecting {
                attempt: self.next_attempt(),
            },
            Phase::Open {
                live_since: Some(_),
                ..
            } => ConnectionStatus::Live,
        };
        match self.silent_since {
            Some(since) => ConnectionStatus::Silent {
                url: self.url.clone(),
                for_ms: (now_ms - since).max(0.0),
                next: Box::new(match status {
                    // Open again but still without a frame: it is only connected.
                    ConnectionStatus::Live => ConnectionStatus::Connecting {
                        attempt: self.next_attempt(),
                    },
                    other => other,
                }),
            },
            None => status,
        }
    }

    /// The connection attempt that comes next (or is being made), counting from 1.
    fn next_attempt(&self) -> u32 {
        self.backoff.attempt().saturating_add(1)
    }

    fn open(&mut self, now_ms: f64) -> Vec<LinkAction> {
        self.generation = self.generation.wrapping_add(1);
        self.phase = Phase::Opening { since: now_ms };
        vec![LinkAction::Open {
            generation: self.generation,
        }]
    }

    /// Notes when a live session ended, for [`lost_since`](Self::lost_since).
    fn note_end(&mut self, now_ms: f64) {
        if self.is_live() {
            self.lost_since = Some(now_ms);
        }
    }

    /// Ends the current socket (if any) and schedules the next attempt.
    fn end(&mut self, why: String, ending: Ending, now_ms: f64, random01: f64) -> Vec<LinkAction> {
        let stable = ending == Ending::Normal
            && self.silent_since.is_none()
            && matches!(self.phase, Phase::Open { live_since: Some(t), .. } if now_ms - t >= STABLE_AFTER_MS);
        let had_socket = matches!(self.phase, Phase::Opening { .. } | Phase::Open { .. });
        self.note_end(now_ms);
        if stable {
            self.backoff.reset();
        }
        let delay = self.backoff.next_delay_ms(random01);
        self.phase = Phase::Waiting {
            at: now_ms + delay,
            why,
        };
        let mut actions = Vec::with_capacity(2);
        if had_socket {
            actions.push(LinkAction::Close);
        }
        actions.push(LinkAction::WakeAfter(delay));
        actions
    }
}

/// Close codes that mean the server refused us: 1008 (policy violation) and the application
/// range 4000–4999.
pub fn is_refusal(code: u16) -> bool {
    code == 1008 || (4000..=4999).contains(&code)
}

#[cfg(test)]
mod tests;
