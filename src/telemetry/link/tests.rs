//! Tests of the connection state machine.

use super::*;

const T0: f64 = 1_795_615_653_000.0;
const URL: &str = "ws://plant.example/live";

fn link(silence_s: Option<f64>) -> Link {
    let spec = ReconnectSpec {
        base_seconds: 0.5,
        cap_seconds: 30.0,
    };
    Link::new(&spec, silence_s.map(|s| s * 1000.0), URL)
}

/// The delay a `WakeAfter` in `actions` asks for.
fn delay(actions: &[LinkAction]) -> f64 {
    actions
        .iter()
        .find_map(|a| match a {
            LinkAction::WakeAfter(ms) => Some(*ms),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no WakeAfter in {actions:?}"))
}

/// Ticks at `now` and returns the generation it opened.
fn open_at(l: &mut Link, now: f64) -> u32 {
    match l.tick(now, 1.0).as_slice() {
        [LinkAction::Open { generation }] => *generation,
        other => panic!("expected Open at {now}, got {other:?}"),
    }
}

#[test]
fn the_first_tick_opens_and_the_handshake_makes_it_live() {
    let mut l = link(None);
    assert_eq!(l.status(T0).label(), "connecting");
    let g = open_at(&mut l, T0);
    assert!(l.accepts(g) && !l.accepts(g.wrapping_sub(1)));
    assert!(!l.is_open());
    l.opened(T0 + 10.0);
    assert!(l.is_open() && !l.is_live());
    assert_eq!(l.status(T0 + 10.0).name(), "connecting");
    l.session_live(T0 + 20.0);
    assert!(l.is_live());
    assert_eq!(l.status(T0 + 20.0), ConnectionStatus::Live);
    assert!(l.tick(T0 + 3_600_000.0, 1.0).is_empty(), "no silence limit");
}

#[test]
fn a_server_that_accepts_and_closes_at_once_backs_off_to_the_cap_and_never_resets() {
    let mut l = link(None);
    let mut now = T0;
    let mut ceilings = Vec::new();
    for _ in 0..20 {
        let g = open_at(&mut l, now);
        l.opened(now + 5.0);
        l.session_live(now + 5.0);
        assert!(l.is_live());
        let actions = l.closed(1000, "", true, now + 6.0, 1.0);
        assert!(!actions.contains(&LinkAction::Close), "it closed itself");
        assert!(!l.accepts(g));
        let d = delay(&actions);
        ceilings.push(d);
        now += 6.0 + d;
        assert!(l.tick(now - 1.0, 1.0).is_empty(), "not before the delay");
    }
    let expected: Vec<f64> = [500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16000.0]
        .into_iter()
        .chain(std::iter::repeat_n(30_000.0, 14))
        .collect();
    assert_eq!(ceilings, expected);
}

#[test]
fn a_session_live_for_ten_seconds_resets_the_backoff_when_it_ends() {
    let mut l = link(None);
    let mut now = T0;
    for _ in 0..4 {
        open_at(&mut l, now);
        now += delay(&l.closed(1006, "", false, now + 1.0, 1.0)) + 1.0;
    }
    open_at(&mut l, now);
    l.opened(now);
    l.session_live(now);
    let d = delay(&l.closed(1001, "going away", true, now + 9_999.0, 1.0));
    assert_eq!(d, 8000.0, "9.999 s live is not stable yet");
    now += 9_999.0 + d;
    open_at(&mut l, now);
    l.opened(now);
    l.session_live(now);
    let actions = l.closed(1001, "going away", true, now + STABLE_AFTER_MS, 1.0);
    assert_eq!(delay(&actions), 500.0, "stable: back to the base delay");
    assert_eq!(
        l.status(now + STABLE_AFTER_MS).label(),
        "reconnecting in 0.5 s (attempt 2): closed (code 1001): going away"
    );
}

#[test]
fn refusals_keep_backing_off_even_after_a_long_session_and_quote_the_reason() {
    for (code, reason) in [(1008, "bad token"), (4001, "token expired"), (4999, "")] {
        let mut l = link(None);
        let mut now = T0;
        for _ in 0..3 {
            open_at(&mut l, now);
            now += delay(&l.closed(1006, "", false, now, 1.0));
        }
        open_at(&mut l, now);
        l.opened(now);
        l.session_live(now);
        now += 3_600_000.0;
        let d = delay(&l.closed(code, reason, true, now, 1.0));
        assert_eq!(d, 4000.0, "code {code} does not reset the backoff");
        let label = l.status(now).label();
        assert!(label.contains(&format!("refused (code {code})")), "{label}");
        assert!(label.contains(reason), "{label}");
        assert_eq!(l.status(now).name(), "reconnecting");
    }
    assert!(is_refusal(1008) && is_refusal(4000) && is_refusal(4999));
    assert!(!is_refusal(1000) && !is_refusal(1006) && !is_refusal(5000) && !is_refusal(3000));
}

#[test]
fn a_socket_that_closes_before_opening_is_a_failure_naming_the_url() {
    let mut l = link(None);
    let mut now = T0;
    let mut delays = Vec::new();
    for _ in 0..5 {
        open_at(&mut l, now);
        let actions = l.closed(1006, "", false, now + 1.0, 1.0);
        assert_eq!(actions.len(), 1, "only the timer: {actions:?}");
        delays.push(delay(&actions));
        now += 1.0 + delays[delays.len() - 1];
    }
    assert_eq!(delays, [500.0, 1000.0, 2000.0, 4000.0, 8000.0]);
    let label = l.status(now - 1000.0).label();
    assert!(
        label.contains(
            "could not connect to ws://plant.example/live (refused or unreachable; code 1006)"
        ),
        "{label}"
    );
    assert_eq!(l.lost_since(), None, "never live: nothing was lost");
}

#[test]
fn a_socket_that_never_opens_is_given_up() {
    let mut l = link(None);
    let g = open_at(&mut l, T0);
    assert!(l.tick(T0 + OPEN_TIMEOUT_MS - 1.0, 1.0).is_empty());
    let actions = l.tick(T0 + OPEN_TIMEOUT_MS, 1.0);
    assert_eq!(actions[0], LinkAction::Close);
    assert_eq!(delay(&actions), 500.0);
    assert!(!l.accepts(g));
    assert!(
        l.status(T0 + OPEN_TIMEOUT_MS)
            .label()
            .contains("within 20 s")
    );
}

#[test]
fn silence_closes_the_socket_and_the_status_stays_silent_until_a_frame() {
    let mut l = link(Some(30.0));
    open_at(&mut l, T0);
    l.opened(T0);
    l.session_live(T0);
    l.frame(T0 + 1000.0);
    assert!(l.tick(T0 + 30_999.0, 1.0).is_empty());
    let actions = l.tick(T0 + 31_000.0, 1.0);
    assert_eq!(
        actions[0],
        LinkAction::Close,
        "a half-open socket is closed"
    );
    let d = delay(&actions);
    let status = l.status(T0 + 31_000.0);
    assert_eq!(status.name(), "silent");
    assert_eq!(
        status.label(),
        "no data from ws://plant.example/live for 30 s; reconnecting in 0.5 s (attempt 2)"
    );
    assert_eq!(l.lost_since(), Some(T0 + 31_000.0));
    // The new socket opens, and with no handshake the adapter says live at once: not enough.
    let now = T0 + 31_000.0 + d;
    open_at(&mut l, now);
    l.opened(now);
    l.session_live(now);
    assert!(!l.is_live());
    let status = l.status(now + 2000.0);
    assert_eq!(status.name(), "silent");
    assert!(
        status
            .label()
            .starts_with("no data from ws://plant.example/live for 32 s; connecting"),
        "{}",
        status.label()
    );
    // Silent again: the silence still counts from the first one's last frame.
    let actions = l.tick(now + 30_000.0, 1.0);
    assert_eq!(
        delay(&actions),
        1000.0,
        "silence is a failure: the backoff grows"
    );
    assert!(l.status(now + 30_000.0).label().contains("for 60 s"));
    let now = now + 30_000.0 + 1000.0;
    open_at(&mut l, now);
    l.opened(now);
    l.session_live(now);
    l.frame(now + 100.0);
    assert!(l.is_live());
    assert_eq!(l.status(now + 100.0), ConnectionStatus::Live);
    assert_eq!(l.lost_since(), None);
}

#[test]
fn the_connection_is_lost_from_the_drop_until_the_next_live_session() {
    let mut l = link(None);
    open_at(&mut l, T0);
    l.opened(T0);
    assert_eq!(l.lost_since(), None, "not up yet: nothing lost");
    l.session_live(T0);
    let d = delay(&l.closed(1006, "", false, T0 + 60_000.0, 1.0));
    assert_eq!(l.lost_since(), Some(T0 + 60_000.0));
    // Failed attempts during the outage keep the time of the drop.
    let mut now = T0 + 60_000.0 + d;
    for _ in 0..3 {
        open_at(&mut l, now);
        now += delay(&l.closed(1006, "", false, now, 1.0));
    }
    assert_eq!(l.lost_since(), Some(T0 + 60_000.0));
    open_at(&mut l, now);
    l.opened(now);
    assert_eq!(
        l.lost_since(),
        Some(T0 + 60_000.0),
        "open but handshaking is not live"
    );
    l.session_live(now);
    assert_eq!(l.lost_since(), None);
}

#[test]
fn an_adapter_reconnect_closes_and_backs_off() {
    let mut l = link(None);
    let g = open_at(&mut l, T0);
    l.opened(T0);
    l.session_live(T0);
    let why = "MQTT broker stopped answering keep-alive pings (nothing received for 45 s)";
    let actions = l.reconnect(why.into(), T0 + 45_000.0, 1.0);
    assert_eq!(
        actions,
        [LinkAction::Close, LinkAction::WakeAfter(500.0)],
        "live for 45 s: stable, so from the base delay"
    );
    assert!(!l.accepts(g));
    assert!(l.status(T0 + 45_000.0).label().ends_with(why));
    assert_eq!(l.lost_since(), Some(T0 + 45_000.0));
}

#[test]
fn failing_closes_and_stops_retrying() {
    let mut l = link(Some(30.0));
    open_at(&mut l, T0);
    l.opened(T0);
    let actions = l.fail("MQTT broker refused: not authorised".into(), T0 + 1.0);
    assert_eq!(actions, [LinkAction::Close]);
    assert!(l.tick(T0 + 3_600_000.0, 1.0).is_empty(), "never again");
    assert_eq!(
        l.status(T0).label(),
        "failed: MQTT broker refused: not authorised"
    );
    assert!(
        l.fail("again".into(), T0 + 2.0).is_empty(),
        "no socket to close"
    );
}
