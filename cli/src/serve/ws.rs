//! `GET /ws/sim`: the simulated plant over a WebSocket. The upgrade is guarded by the Origin
//! allow-list (403), a cap per client address (429) and a cap on all clients (503); an open
//! socket by an inbound rate and size limit (close 1008/1009) and a bounded send queue with a
//! send timeout (a slow reader is dropped).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::access::Access;
use super::hub::Hub;
use super::log::SharedLog;

/// Largest inbound WebSocket message or frame; larger ones end the connection (close 1009).
const MAX_INBOUND_BYTES: usize = 64 * 1024;
/// Inbound messages per second a client may send (the simulation ignores them).
const MAX_INBOUND_PER_S: f64 = 20.0;
/// Frames queued per client before it counts as too slow and is dropped.
pub const SEND_QUEUE: usize = 16;
/// A single send that takes longer than this drops the client.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// What the `/ws/sim` route needs.
pub struct SimSocket {
    /// None when no manifest was found: the route answers 404 with what to do.
    pub sim: Option<SimEndpoint>,
    pub access: Arc<Access>,
    pub log: Arc<SharedLog>,
}

/// The running simulation and its client caps.
pub struct SimEndpoint {
    pub hub: Arc<Hub>,
    pub slots: Arc<Semaphore>,
    pub max_clients: usize,
    pub per_address: Arc<AddressSlots>,
}

/// `GET /ws/sim`: Origin check (403), capacity per address (429) and in all (503), then the
/// upgrade.
pub async fn ws_sim(
    State(state): State<Arc<SimSocket>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Some(sim) = &state.sim else {
        return (
            StatusCode::NOT_FOUND,
            "the simulated plant is off: no manifest (start twinlens serve with --manifest <file>)\n",
        )
            .into_response();
    };
    let origin = headers.get(header::ORIGIN).map(|v| v.as_bytes());
    if let Err(reason) = state.access.check_origin(origin) {
        state
            .log
            .failure(peer.ip(), format!("ws: refused {peer}: {reason}"));
        return (StatusCode::FORBIDDEN, format!("{reason}\n")).into_response();
    }
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let Some(address_slot) = sim.per_address.try_acquire(peer.ip()) else {
        state.log.failure(
            peer.ip(),
            format!(
                "ws: refused {peer}: already {} connections from this address",
                sim.per_address.max
            ),
        );
        return (
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "too many connections from your address: at most {} per address may watch the \
                 simulation at once (--max-clients-per-address)\n",
                sim.per_address.max
            ),
        )
            .into_response();
    };
    let Ok(permit) = sim.slots.clone().try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "too many clients: at most {} may watch the simulation at once (--max-clients)\n",
                sim.max_clients
            ),
        )
            .into_response();
    };
    let hub = sim.hub.clone();
    let log = state.log.clone();
    ws.max_message_size(MAX_INBOUND_BYTES)
        .max_frame_size(MAX_INBOUND_BYTES)
        .on_upgrade(move |socket| client(socket, hub, (permit, address_slot), peer, log))
}

/// Open `/ws/sim` connections per client address, capped: one page cannot take every slot.
#[derive(Debug)]
pub struct AddressSlots {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One open connection counted against its address; dropping it frees the slot.
#[derive(Debug)]
pub struct AddressSlot {
    slots: Arc<AddressSlots>,
    ip: IpAddr,
}

impl AddressSlots {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for `ip`, or None when it has `max` open already. IPv4-mapped IPv6 addresses
    /// count as the IPv4 address they carry.
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Option<AddressSlot> {
        let ip = ip.to_canonical();
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(ip).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            slots: self.clone(),
            ip,
        })
    }

    #[cfg(test)]
    fn open(&self, ip: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.get(&ip).copied().unwrap_or(0)
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Inbound message budget: a token bucket refilled at [`MAX_INBOUND_PER_S`].
struct RateLimit {
    tokens: f64,
    last: Instant,
}

impl RateLimit {
    fn new(now: Instant) -> Self {
        Self {
            tokens: MAX_INBOUND_PER_S,
            last: now,
        }
    }

    fn allow(&mut self, now: Instant) -> bool {
        let refill = now.saturating_duration_since(self.last).as_secs_f64() * MAX_INBOUND_PER_S;
        self.tokens = (self.tokens + refill).min(MAX_INBOUND_PER_S);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// One `/ws/sim` client: forwards frames, polices what it sends, closes with a reason. The
/// slots are held for as long as the socket is open.
async fn client(
    mut socket: WebSocket,
    hub: Arc<Hub>,
    _slots: (OwnedSemaphorePermit, AddressSlot),
    peer: SocketAddr,
    log: Arc<SharedLog>,
) {
    let mut frames = hub.subscribe();
    let mut budget = RateLimit::new(Instant::now());
    let close: Option<(u16, String)> = loop {
        tokio::select! {
            frame = frames.recv() => {
                let too_slow = frames.sender_strong_count() == 0 && !hub.is_closed();
                let Some(frame) = frame.filter(|_| !too_slow) else {
                    break Some(if hub.is_closed() {
                        (1001, "server shutting down".to_owned())
                    } else {
                        (1008, format!("too slow: more than {SEND_QUEUE} frames waiting"))
                    });
                };
                match tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(frame))).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => break None,
                    Err(_) => {
                        log.failure(peer.ip(), format!("ws: dropped {peer}: it stopped reading"));
                        break None;
                    }
                }
            }
            message = socket.recv() => match message {
                None => break None,
                Some(Err(e)) => break Some(read_error_close(&e)),
                Some(Ok(Message::Close(_))) => {
                    // Let the socket flush the close reply it queued.
                    let _ = tokio::time::timeout(Duration::from_secs(1), socket.recv()).await;
                    break None;
                }
                Some(Ok(_)) => {
                    if !budget.allow(Instant::now()) {
                        break Some((
                            1008,
                            format!("too many messages: at most {MAX_INBOUND_PER_S} per second"),
                        ));
                    }
                }
            },
        }
    };
    drop(frames);
    if let Some((code, reason)) = close {
        close_with(socket, code, reason).await;
    }
}

/// Close code and reason for a failed read: 1009 for an oversized message, 1002 otherwise.
fn read_error_close(error: &axum::Error) -> (u16, String) {
    let text = error.to_string();
    if text.contains("too long") || text.contains("Space limit") {
        (
            1009,
            format!("message too big: at most {MAX_INBOUND_BYTES} bytes"),
        )
    } else {
        (1002, truncate(&format!("protocol error: {text}"), 120))
    }
}

fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// Sends a close frame and waits briefly for the peer's reply, so that the frame is read before
/// the connection goes away.
async fn close_with(mut socket: WebSocket, code: u16, reason: String) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let sent = tokio::time::timeout(
        Duration::from_secs(1),
        socket.send(Message::Close(Some(frame))),
    )
    .await;
    if !matches!(sent, Ok(Ok(()))) {
        return;
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(Ok(message)) = socket.recv().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_allows_twenty_a_second() {
        let start = Instant::now();
        let mut limit = RateLimit::new(start);
        for _ in 0..20 {
            assert!(limit.allow(start));
        }
        assert!(!limit.allow(start));
        assert!(limit.allow(start + Duration::from_millis(60)));
        let mut steady = RateLimit::new(start);
        for i in 0..200 {
            assert!(steady.allow(start + Duration::from_millis(60 * i)));
        }
    }

    #[test]
    fn address_slots_cap_each_address_and_free_on_drop() {
        let slots = AddressSlots::new(2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = slots.try_acquire(a).unwrap();
        let second = slots.try_acquire(mapped).unwrap();
        assert!(
            slots.try_acquire(a).is_none(),
            "the mapped address counts as the same"
        );
        assert!(
            slots.try_acquire(b).is_some(),
            "another address has its own slots"
        );
        drop(first);
        let third = slots.try_acquire(a).unwrap();
        drop((second, third));
        assert_eq!(slots.open(a), 0);
        assert!(
            slots.open.lock().unwrap().is_empty(),
            "no entry is kept for idle addresses"
        );
    }
}
