//! Reconnect timing (exponential backoff with full jitter) and the connection status shown on
//! the page and in `stats()`.
//!
//! Full jitter (delay uniformly in `[0, min(cap, base·2^attempt)]`) spreads the reconnects of
//! many viewers after a broker restart instead of having them all return in lockstep. The
//! random number is passed in so the host tests are deterministic and the core needs no RNG.

use std::fmt;

use crate::manifest::ReconnectSpec;

/// Exponents beyond this already exceed any sane cap (2^64 × base); stopping here keeps the
/// arithmetic finite however many attempts are made.
const MAX_EXPONENT: u32 = 64;

/// Delay ceiling used when the spec's base is unusable (the manifest validator normally
/// refuses such a spec; this is the same default, 0.5 s).
const FALLBACK_BASE_MS: f64 = 500.0;

/// Backoff state for one source: how many attempts have failed since the last good session.
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    base_ms: f64,
    cap_ms: f64,
    attempt: u32,
}

impl Backoff {
    /// Backoff following `spec`. A non-positive or non-finite base falls back to 0.5 s and a cap
    /// below the base is raised to the base, so a bad spec can never cause a reconnect storm.
    pub fn new(spec: &ReconnectSpec) -> Backoff {
        let base_ms = spec.base_seconds * 1000.0;
        let base_ms = if base_ms.is_finite() && base_ms > 0.0 {
            base_ms
        } else {
            FALLBACK_BASE_MS
        };
        let cap_ms = spec.cap_seconds * 1000.0;
        let cap_ms = if cap_ms.is_finite() {
            cap_ms.max(base_ms)
        } else {
            base_ms
        };
        Backoff {
            base_ms,
            cap_ms,
            attempt: 0,
        }
    }

    /// The delay before the next attempt, in milliseconds: `random01 × min(cap, base × 2^n)`
    /// where `n` is the number of delays handed out since the last [`reset`](Self::reset).
    ///
    /// `random01` should be uniform in `[0, 1]`; values outside are clamped, and NaN counts as
    /// 1 (the full ceiling), since waiting too long is safer than hammering a server.
    pub fn next_delay_ms(&mut self, random01: f64) -> f64 {
        let r = if random01.is_nan() {
            1.0
        } else {
            random01.clamp(0.0, 1.0)
        };
        let delay = r * self.ceiling_ms();
        self.attempt = self.attempt.saturating_add(1);
        delay
    }

    /// The largest delay the next call to [`next_delay_ms`](Self::next_delay_ms) can return.
    pub fn ceiling_ms(&self) -> f64 {
        let exponent = self.attempt.min(MAX_EXPONENT) as i32;
        (self.base_ms * 2f64.powi(exponent)).min(self.cap_ms)
    }

    /// Starts over from the base delay. Call it only once a session reached
    /// [`SessionState::Live`](super::SessionState::Live): a server that accepts the socket and
    /// then drops it during the handshake must keep backing off.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Delays handed out since the last reset (saturates at `u32::MAX`).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}

/// The state of the live-data connection, for the status line and `stats()`.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectionStatus {
    /// The manifest has no source.
    Idle,
    /// A socket is opening or handshaking; `attempt` counts from 1.
    Connecting {
        /// Which attempt this is since the last good session.
        attempt: u32,
    },
    /// Data flows.
    Live,
    /// Waiting before the next attempt.
    Reconnecting {
        /// Milliseconds until the next attempt.
        in_ms: f64,
        /// The attempt that will be made.
        attempt: u32,
        /// Why the last connection ended (never containing credentials).
        last_error: String,
    },
    /// Stopped: retrying cannot help (authentication refused, bad configuration).
    Failed {
        /// Why.
        reason: String,
    },
    /// No frame arrived for `source.silenceSeconds`: the socket was closed as half-open and is
    /// being replaced; stays so until a frame arrives again.
    Silent {
        /// The socket URL, tokens redacted.
        url: String,
        /// Milliseconds since the last frame.
        for_ms: f64,
        /// What happens meanwhile: a [`Reconnecting`](Self::Reconnecting) or
        /// [`Connecting`](Self::Connecting) status (never another `Silent`).
        next: Box<ConnectionStatus>,
    },
}

impl ConnectionStatus {
    /// Machine-readable name for `stats()` (camelCase).
    pub fn name(&self) -> &'static str {
        match self {
            ConnectionStatus::Idle => "idle",
            ConnectionStatus::Connecting { .. } => "connecting",
            ConnectionStatus::Live => "live",
            ConnectionStatus::Reconnecting { .. } => "reconnecting",
            ConnectionStatus::Failed { .. } => "failed",
            ConnectionStatus::Silent { .. } => "silent",
        }
    }

    /// Text for the status line: `reconnecting in 3 s (attempt 4): connection refused`.
    pub fn label(&self) -> String {
        match self {
            ConnectionStatus::Idle => "no live data source".to_owned(),
            ConnectionStatus::Connecting { attempt } if *attempt <= 1 => "connecting".to_owned(),
            ConnectionStatus::Connecting { attempt } => format!("connecting (attempt {attempt})"),
            ConnectionStatus::Live => "live".to_owned(),
            ConnectionStatus::Reconnecting {
                in_ms,
                attempt,
                last_error,
            } => {
                let mut s = format!("reconnecting {} (attempt {attempt})", describe_wait(*in_ms));
                if !last_error.is_empty() {
                    s.push_str(": ");
                    s.push_str(last_error);
                }
                s
            }
            ConnectionStatus::Failed { reason } if reason.is_empty() => "failed".to_owned(),
            ConnectionStatus::Failed { reason } => format!("failed: {reason}"),
            ConnectionStatus::Silent { url, for_ms, next } => {
                format!(
                    "no data from {url} for {}; {}",
                    describe_duration(*for_ms),
                    next.label()
                )
            }
        }
    }
}

impl fmt::Display for ConnectionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// "30 s" below two minutes, then "4 min" and "3 h" (rounded down: a silence is at least that
/// long).
pub fn describe_duration(ms: f64) -> String {
    let s = if ms.is_finite() && ms > 0.0 {
        (ms / 1000.0).floor()
    } else {
        0.0
    };
    if s < 120.0 {
        format!("{s} s")
    } else if s < 7200.0 {
        format!("{} min", (s / 60.0).floor())
    } else {
        format!("{} h", (s / 3600.0).floor())
    }
}

/// "in 3 s" (whole seconds, rounded up, so the count never shows 0 while still waiting),
/// "in 0.4 s" below a second, "now" when due.
fn describe_wait(in_ms: f64) -> String {
    if in_ms.is_nan() || in_ms <= 0.0 {
        // NaN has nothing sensible to show but "now" either.
        return "now".to_owned();
    }
    let tenths = (in_ms / 100.0).ceil();
    if tenths < 10.0 {
        format!("in 0.{tenths} s")
    } else {
        format!("in {} s", (in_ms / 1000.0).ceil())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(base: f64, cap: f64) -> ReconnectSpec {
        ReconnectSpec {
            base_seconds: base,
            cap_seconds: cap,
        }
    }

    #[test]
    fn ceiling_doubles_until_the_cap() {
        let mut b = Backoff::new(&spec(0.5, 30.0));
        let ceilings: Vec<f64> = (0..10).map(|_| b.next_delay_ms(1.0)).collect();
        assert_eq!(
            ceilings,
            [
                500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16000.0, 30000.0, 30000.0, 30000.0, 30000.0
            ]
        );
        assert_eq!(b.attempt(), 10);
    }

    #[test]
    fn jitter_zero_gives_zero_and_one_gives_the_ceiling() {
        let mut b = Backoff::new(&spec(1.0, 60.0));
        assert_eq!(b.next_delay_ms(0.0), 0.0);
        assert_eq!(b.ceiling_ms(), 2000.0);
        assert_eq!(b.next_delay_ms(1.0), 2000.0);
        assert_eq!(b.next_delay_ms(0.25), 1000.0);
    }

    #[test]
    fn delays_never_exceed_the_cap_whatever_the_random_input() {
        let mut b = Backoff::new(&spec(0.5, 30.0));
        for i in 0..200 {
            let r = [0.0, 0.3, 0.999, 1.0, 2.0, -1.0, f64::NAN, f64::INFINITY][i % 8];
            let d = b.next_delay_ms(r);
            assert!((0.0..=30_000.0).contains(&d), "attempt {i}: {d}");
        }
    }

    #[test]
    fn nan_random_input_waits_the_full_ceiling() {
        let mut b = Backoff::new(&spec(0.5, 30.0));
        assert_eq!(b.next_delay_ms(f64::NAN), 500.0);
    }

    #[test]
    fn reset_starts_over_from_the_base() {
        let mut b = Backoff::new(&spec(0.5, 30.0));
        for _ in 0..5 {
            b.next_delay_ms(0.5);
        }
        b.reset();
        assert_eq!(b.attempt(), 0);
        assert_eq!(b.next_delay_ms(1.0), 500.0);
    }

    #[test]
    fn a_million_attempts_do_not_overflow() {
        let mut b = Backoff::new(&spec(0.5, 30.0));
        for _ in 0..1_000_000 {
            b.next_delay_ms(1.0);
        }
        assert_eq!(b.attempt(), 1_000_000);
        assert_eq!(b.next_delay_ms(1.0), 30_000.0);
        b.attempt = u32::MAX;
        assert_eq!(b.next_delay_ms(1.0), 30_000.0);
        assert_eq!(b.attempt(), u32::MAX, "the counter saturates");
    }

    #[test]
    fn unusable_specs_fall_back_to_safe_delays() {
        let mut b = Backoff::new(&spec(0.0, 30.0));
        assert_eq!(b.next_delay_ms(1.0), 500.0);
        let mut b = Backoff::new(&spec(f64::NAN, f64::NAN));
        assert_eq!(b.next_delay_ms(1.0), 500.0);
        assert_eq!(
            b.next_delay_ms(1.0),
            500.0,
            "cap NaN: the cap becomes the base"
        );
        let mut b = Backoff::new(&spec(2.0, 1.0));
        assert_eq!(
            b.next_delay_ms(1.0),
            2000.0,
            "cap below base is raised to the base"
        );
        assert_eq!(b.next_delay_ms(1.0), 2000.0);
    }

    #[test]
    fn labels_read_well() {
        let r = ConnectionStatus::Reconnecting {
            in_ms: 2500.0,
            attempt: 4,
            last_error: "connection refused".into(),
        };
        assert_eq!(
            r.label(),
            "reconnecting in 3 s (attempt 4): connection refused"
        );
        assert_eq!(r.name(), "reconnecting");
        assert_eq!(r.to_string(), r.label());
        let soon = ConnectionStatus::Reconnecting {
            in_ms: 340.0,
            attempt: 1,
            last_error: String::new(),
        };
        assert_eq!(soon.label(), "reconnecting in 0.4 s (attempt 1)");
        let due = ConnectionStatus::Reconnecting {
            in_ms: 0.0,
            attempt: 2,
            last_error: "closed".into(),
        };
        assert_eq!(due.label(), "reconnecting now (attempt 2): closed");
        let edge = ConnectionStatus::Reconnecting {
            in_ms: 950.0,
            attempt: 2,
            last_error: String::new(),
        };
        assert_eq!(edge.label(), "reconnecting in 1 s (attempt 2)");
        assert_eq!(
            ConnectionStatus::Connecting { attempt: 1 }.label(),
            "connecting"
        );
        assert_eq!(
            ConnectionStatus::Connecting { attempt: 3 }.label(),
            "connecting (attempt 3)"
        );
        assert_eq!(ConnectionStatus::Live.label(), "live");
        assert_eq!(ConnectionStatus::Idle.label(), "no live data source");
        assert_eq!(ConnectionStatus::Idle.name(), "idle");
        let failed = ConnectionStatus::Failed {
            reason: "not authorized".into(),
        };
        assert_eq!(failed.label(), "failed: not authorized");
        assert_eq!(failed.name(), "failed");
    }

    #[test]
    fn silence_labels_name_the_url_the_duration_and_what_happens_next() {
        let silent = ConnectionStatus::Silent {
            url: "ws://plant:8080/live".into(),
            for_ms: 30_400.0,
            next: Box::new(ConnectionStatus::Reconnecting {
                in_ms: 1500.0,
                attempt: 2,
                last_error: String::new(),
            }),
        };
        assert_eq!(silent.name(), "silent");
        assert_eq!(
            silent.label(),
            "no data from ws://plant:8080/live for 30 s; reconnecting in 2 s (attempt 2)"
        );
        assert_eq!(describe_duration(125_000.0), "2 min");
        assert_eq!(describe_duration(3.0 * 3_600_000.0), "3 h");
        assert_eq!(describe_duration(f64::NAN), "0 s");
    }
}
