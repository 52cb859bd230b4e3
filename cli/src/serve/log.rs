//! Log lines about untrusted peers: their text (Host, Origin, path, error reasons) escaped and
//! cut short so it cannot forge lines or reorder the terminal, and repeated failures from one
//! address folded into one summary per window so a flood cannot drown the log.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Characters of untrusted text shown in a log line; the rest is counted, not shown.
pub const MAX_QUOTED_CHARS: usize = 120;
/// Repeated failures from one address within this window are summarised.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(10);
/// Addresses tracked at once; failures from more are counted together.
const MAX_TRACKED_PEERS: usize = 1024;

/// `text` in double quotes with `\`, `"`, control characters and invisible direction or
/// zero-width characters written as escapes (`\u{1b}`, `\u{202e}`), at most
/// [`MAX_QUOTED_CHARS`] characters of it, and ` (+N more chars)` after the quote when cut.
pub fn quote(text: &str) -> String {
    quote_at_most(text, MAX_QUOTED_CHARS)
}

/// [`quote`] with a chosen limit.
pub fn quote_at_most(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars * 2) + 2);
    out.push('"');
    let mut shown = 0;
    let mut chars = text.chars();
    for c in chars.by_ref() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c if is_unsafe_in_terminal(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
        shown += 1;
        if shown == max_chars {
            break;
        }
    }
    out.push('"');
    let rest = chars.count();
    if rest > 0 {
        let _ = write!(out, " (+{rest} more chars)");
    }
    out
}

/// Control characters (C0, DEL, C1: newlines, terminal escapes) and the invisible characters
/// that change how a line reads: bidi embeddings, overrides and isolates, direction marks,
/// zero-width characters, line and paragraph separators, the byte-order mark.
fn is_unsafe_in_terminal(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// Rate limit for failure lines, per peer address: the first failure in a window is printed,
/// later ones in the same window are counted, and the count is printed as one summary when
/// the window ends. Time is passed in so the policy is tested without sleeping.
#[derive(Debug)]
pub struct FailureLog {
    window: Duration,
    peers: HashMap<IpAddr, PeerWindow>,
    /// Failures from addresses beyond [`MAX_TRACKED_PEERS`], counted together.
    others: u64,
    max_peers: usize,
}

#[derive(Debug, Clone, Copy)]
struct PeerWindow {
    started: Instant,
    suppressed: u64,
}

impl FailureLog {
    pub fn new(window: Duration) -> Self {
        Self::with_capacity(window, MAX_TRACKED_PEERS)
    }

    fn with_capacity(window: Duration, max_peers: usize) -> Self {
        Self {
            window,
            peers: HashMap::new(),
            others: 0,
            max_peers: max_peers.max(1),
        }
    }

    /// A failure from `peer` described by `line`; returns the lines to print now (none while
    /// the peer's window is open, else any summary of the last window and then `line`).
    pub fn note(&mut self, peer: IpAddr, line: String, now: Instant) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(window) = self.peers.get_mut(&peer) {
            if now.saturating_duration_since(window.started) < self.window {
                window.suppressed += 1;
                return out;
            }
            if window.suppressed > 0 {
                out.push(summary(window.suppressed, &peer.to_string(), self.window));
            }
            *window = PeerWindow {
                started: now,
                suppressed: 0,
            };
            out.push(line);
            return out;
        }
        if self.peers.len() >= self.max_peers {
            out.extend(self.end_windows(now));
        }
        if self.peers.len() >= self.max_peers {
            self.others += 1;
            return out;
        }
        self.peers.insert(
            peer,
            PeerWindow {
                started: now,
                suppressed: 0,
            },
        );
        out.push(line);
        out
    }

    /// Ends the windows that are over: their summaries, to print now. Call it about once per
    /// window so a peer that went quiet still gets its count shown.
    pub fn flush(&mut self, now: Instant) -> Vec<String> {
        let mut out = self.end_windows(now);
        if self.others > 0 {
            out.push(summary(self.others, "other addresses", self.window));
            self.others = 0;
        }
        out
    }

    /// Forgets the peers whose window is over; their summaries.
    fn end_windows(&mut self, now: Instant) -> Vec<String> {
        let window = self.window;
        let mut out = Vec::new();
        self.peers.retain(|peer, w| {
            if now.saturating_duration_since(w.started) < window {
                return true;
            }
            if w.suppressed > 0 {
                out.push(summary(w.suppressed, &peer.to_string(), window));
            }
            false
        });
        out.sort();
        out
    }
}

fn summary(count: u64, from: &str, window: Duration) -> String {
    let what = if count == 1 { "failure" } else { "failures" };
    format!(
        "log: {count} more {what} from {from} in {} s not shown",
        window.as_secs()
    )
}

/// A [`FailureLog`] shared by the server's tasks, printing to stderr.
#[derive(Debug)]
pub struct SharedLog(Mutex<FailureLog>);

impl SharedLog {
    pub fn new() -> Self {
        Self(Mutex::new(FailureLog::new(FAILURE_WINDOW)))
    }

    /// Prints `line` about a failure from `peer` unless the peer's window already printed one.
    pub fn failure(&self, peer: IpAddr, line: String) {
        let lines =
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .note(peer, line, Instant::now());
        for line in lines {
            eprintln!("{line}");
        }
    }

    /// Prints the summaries of windows that ended.
    pub fn flush(&self) {
        let lines = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .flush(Instant::now());
        for line in lines {
            eprintln!("{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes_controls_bidi_and_quotes() {
        assert_eq!(quote("http://a.example"), "\"http://a.example\"");
        assert_eq!(
            quote("evil\r\ntwinlens: serving"),
            "\"evil\\u{d}\\u{a}twinlens: serving\""
        );
        assert_eq!(quote("\u{1b}[31mred"), "\"\\u{1b}[31mred\"");
        assert_eq!(quote("a\u{202e}gnp.exe"), "\"a\\u{202e}gnp.exe\"");
        for c in [
            '\u{202a}', '\u{202d}', '\u{2066}', '\u{2069}', '\u{200e}', '\u{200f}',
        ] {
            let quoted = quote(&format!("x{c}y"));
            assert!(!quoted.contains(c), "{quoted}");
            assert!(
                quoted.contains(&format!("\\u{{{:x}}}", c as u32)),
                "{quoted}"
            );
        }
        assert_eq!(quote("say \"hi\" \\o/"), "\"say \\\"hi\\\" \\\\o/\"");
        assert_eq!(quote("\u{7f}\u{85}"), "\"\\u{7f}\\u{85}\"");
        // Ordinary non-ASCII text is kept.
        assert_eq!(quote("Pumpe 101 °C ✓"), "\"Pumpe 101 °C ✓\"");
    }

    #[test]
    fn quoting_limits_the_length_and_counts_the_rest() {
        let long = "a".repeat(500);
        let quoted = quote(&long);
        assert_eq!(
            quoted,
            format!("\"{}\" (+380 more chars)", "a".repeat(MAX_QUOTED_CHARS))
        );
        assert_eq!(quote_at_most("héllo wörld", 5), "\"héllo\" (+6 more chars)");
        assert_eq!(quote_at_most("abc", 3), "\"abc\"");
        // The limit counts characters, so an escape never splits.
        let escaped = quote_at_most("\n\n\n\n", 2);
        assert_eq!(escaped, "\"\\u{a}\\u{a}\" (+2 more chars)");
    }

    #[test]
    fn failures_print_once_per_window_then_a_summary() {
        let start = Instant::now();
        let mut log = FailureLog::new(Duration::from_secs(10));
        let peer: IpAddr = "10.0.0.9".parse().unwrap();
        let other: IpAddr = "10.0.0.10".parse().unwrap();
        let at = |ms: u64| start + Duration::from_millis(ms);

        assert_eq!(log.note(peer, "tls: first".into(), at(0)), ["tls: first"]);
        for i in 1..=40 {
            assert!(log.note(peer, format!("tls: {i}"), at(i * 100)).is_empty());
        }
        // Another address is not held back by the first one's flood.
        assert_eq!(log.note(other, "http: x".into(), at(500)), ["http: x"]);
        assert!(log.flush(at(9_999)).is_empty(), "the window is still open");
        assert_eq!(
            log.flush(at(10_000)),
            ["log: 40 more failures from 10.0.0.9 in 10 s not shown"]
        );
        // A new window prints its first line again.
        assert_eq!(
            log.note(peer, "tls: again".into(), at(12_000)),
            ["tls: again"]
        );
        assert!(log.note(peer, "tls: hidden".into(), at(13_000)).is_empty());
        // A failure after the window ends reports the last window's count first.
        assert_eq!(
            log.note(peer, "tls: later".into(), at(22_000)),
            [
                "log: 1 more failure from 10.0.0.9 in 10 s not shown",
                "tls: later"
            ]
        );
    }

    #[test]
    fn failures_from_too_many_addresses_are_counted_together() {
        let start = Instant::now();
        let mut log = FailureLog::with_capacity(Duration::from_secs(10), 2);
        let ip = |i: u8| IpAddr::from([10, 0, 0, i]);
        assert_eq!(log.note(ip(1), "a".into(), start).len(), 1);
        assert_eq!(log.note(ip(2), "b".into(), start).len(), 1);
        for i in 3..50 {
            assert!(log.note(ip(i), "c".into(), start).is_empty());
        }
        assert_eq!(
            log.flush(start + Duration::from_secs(10)),
            ["log: 47 more failures from other addresses in 10 s not shown"]
        );
        assert_eq!(
            log.note(ip(3), "d".into(), start + Duration::from_secs(10)),
            ["d"]
        );
    }
}
