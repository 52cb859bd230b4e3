//! `twinlens serve`: the reference server. Serves the built app with correct MIME types (wasm must
//! be `application/wasm` for streaming compilation) and no caching, so a rebuilt app is picked up
//! on reload; streams a simulated pump skid at `/ws/sim`; optionally over HTTPS with a
//! self-signed certificate (phones need a secure context for WebXR), and prints the LAN URL and
//! a QR code when listening on all interfaces.
//!
//! `/ws/sim` sends JSON text frames at `--rate-hz`:
//! `{"t":<epoch ms>,"readings":[{"id":"p101.motor.current","v":47.3,"t":<epoch ms>},...]}`, the
//! current state right after the upgrade and then one frame per tick. The socket is guarded: an
//! Origin allow-list (403), a cap on concurrent clients (503), an inbound rate and size limit
//! (close 1008/1009), and a bounded send queue per client (a slow reader is dropped).

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_rustls::rustls;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::sim::{FaultPhase, Plant, SimConfig, Value};

/// Largest inbound WebSocket message or frame; larger ones end the connection (close 1009).
const MAX_INBOUND_BYTES: usize = 64 * 1024;
/// Inbound messages per second a client may send (the simulation ignores them).
const MAX_INBOUND_PER_S: f64 = 20.0;
/// Frames queued per client before it counts as too slow and is dropped.
const SEND_QUEUE: usize = 16;
/// A single send that takes longer than this drops the client.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// TLS handshakes that take longer than this are abandoned.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// `twinlens serve`'s options.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Folder with the built app (Trunk's output).
    #[arg(long, default_value = "dist")]
    pub dir: PathBuf,
    /// Address to listen on; 0.0.0.0 makes the app reachable from other devices and prints the
    /// LAN URL with a QR code.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port; 0 picks a free one.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Serve HTTPS (and wss://) with a self-signed certificate made at start, for localhost,
    /// 127.0.0.1 and this machine's LAN addresses; its SHA-256 fingerprint is printed.
    #[arg(long)]
    pub https: bool,
    /// Twin manifest whose sensors the simulated plant streams at /ws/sim
    /// [default: <DIR>/demo/pump-skid.twin.json].
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Simulation frames per second on /ws/sim (0.1 to 50).
    #[arg(long, value_name = "HZ", default_value_t = 5.0)]
    pub rate_hz: f64,
    /// Seconds per bearing-fault cycle (healthy, developing, alarm, recovering); at least 2.
    #[arg(long, value_name = "SECONDS", default_value_t = crate::sim::DEFAULT_FAULT_PERIOD_S)]
    pub fault_period: f64,
    /// Seed of the simulation's noise and events, to replay a run [default: from the clock].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Also accept /ws/sim connections from pages of this origin (repeatable; `*` accepts
    /// any). Same-origin pages and http(s)://localhost or 127.0.0.1 on any port always may.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allow_origin: Vec<String>,
    /// Most simultaneous /ws/sim connections; more are answered 503.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_clients: usize,
    /// Also publish the simulation to this MQTT broker (`mqtt://host:port`, TCP), one retained
    /// topic per sensor.
    #[arg(long, value_name = "URL")]
    pub mqtt: Option<String>,
    /// Topic prefix for --mqtt: readings go to `<PREFIX>/<sensor id>`.
    #[arg(long, value_name = "PREFIX", default_value = "twinlens/sim")]
    pub mqtt_prefix: String,
}

/// Serves the app as `args` say until interrupted.
pub fn run(args: &ServeArgs) -> ExitCode {
    let dir = args.dir.as_path();
    if !dir.join("index.html").is_file() {
        eprintln!(
            "error: {} has no index.html; build the app first (trunk build --release)",
            dir.display()
        );
        return ExitCode::FAILURE;
    }
    let mqtt_target = match args
        .mqtt
        .as_deref()
        .map(|u| crate::mqtt_publish::MqttTarget::parse(u, &args.mqtt_prefix))
    {
        Some(Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
        Some(Ok(t)) => Some(t),
        None => None,
    };
    let addr: SocketAddr = match args.host.parse::<IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, args.port),
        Err(_) => {
            eprintln!(
                "error: --host {:?} is not an IP address (try 127.0.0.1 or 0.0.0.0)",
                args.host
            );
            return ExitCode::from(2);
        }
    };
    if !(args.rate_hz.is_finite() && (0.1..=50.0).contains(&args.rate_hz)) {
        eprintln!("error: --rate-hz must be between 0.1 and 50");
        return ExitCode::from(2);
    }
    if !(args.fault_period.is_finite() && args.fault_period >= 2.0) {
        eprintln!("error: --fault-period must be at least 2 seconds");
        return ExitCode::from(2);
    }
    if args.max_clients == 0 {
        eprintln!("error: --max-clients must be at least 1");
        return ExitCode::from(2);
    }
    let origins = match OriginPolicy::new(&args.allow_origin) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let sensors = match load_sensors(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let lan = if addr.ip().is_unspecified() {
        lan_ipv4s()
    } else {
        Vec::new()
    };
    let tls = if args.https {
        let mut ips: Vec<IpAddr> = lan.iter().map(|ip| IpAddr::V4(*ip)).collect();
        if !addr.ip().is_unspecified() {
            ips.push(addr.ip());
        }
        match make_tls(&ips) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("error: cannot make the TLS certificate: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let listener = match TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: cannot listen on {addr}: {e} (is the port in use? try --port 0)");
                return ExitCode::FAILURE;
            }
        };
        let bound = listener.local_addr().unwrap_or(addr);
        let scheme = if tls.is_some() { "https" } else { "http" };

        let sim = sensors.map(|(path, sensors)| {
            let seed = args.seed.unwrap_or_else(clock_seed);
            let plant = Plant::new(
                &sensors,
                SimConfig {
                    seed,
                    fault_period_s: args.fault_period,
                },
            );
            let hub = Arc::new(Hub::new(SEND_QUEUE));
            eprintln!(
                "sim: {} sensors from {}, seed {seed}, {} Hz, bearing fault every {} s",
                sensors.len(),
                path.display(),
                args.rate_hz,
                args.fault_period
            );
            tokio::spawn(run_sim(plant, hub.clone(), args.rate_hz));
            if let Some(target) = mqtt_target.clone() {
                let hub = hub.clone();
                tokio::spawn(crate::mqtt_publish::run(target, move || hub.subscribe()));
            }
            SimEndpoint {
                hub,
                slots: Arc::new(Semaphore::new(args.max_clients)),
                max_clients: args.max_clients,
            }
        });
        let state = Arc::new(AppState {
            sim,
            origins,
            tls: tls.is_some(),
        });
        let app = Router::new()
            .route("/ws/sim", get(ws_sim))
            .with_state(state.clone())
            .fallback_service(ServeDir::new(dir).append_index_html_on_directories(true))
            .layer(SetResponseHeaderLayer::overriding(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache"),
            ));

        if let Some(tls) = &tls {
            println!(
                "twinlens: TLS certificate (self-signed, for {}) SHA-256 fingerprint:\n  {}",
                tls.names.join(", "),
                tls.fingerprint
            );
            println!(
                "twinlens: browsers warn about a self-signed certificate; check the fingerprint, then accept it"
            );
        }
        let shown = if bound.ip().is_unspecified() {
            format!("{scheme}://localhost:{}/ (all interfaces)", bound.port())
        } else {
            format!("{scheme}://{bound}/")
        };
        println!("twinlens: serving {} at {shown}", dir.display());
        if state.sim.is_some() {
            let ws = if tls.is_some() { "wss" } else { "ws" };
            let host = if bound.ip().is_unspecified() {
                format!("localhost:{}", bound.port())
            } else {
                bound.to_string()
            };
            println!("twinlens: simulated plant at {ws}://{host}/ws/sim");
        }
        print_network_urls(scheme, bound, &lan);

        let shutdown = {
            let state = state.clone();
            async move {
                let _ = tokio::signal::ctrl_c().await;
                if let Some(sim) = &state.sim {
                    sim.hub.close();
                }
            }
        };
        let served = match tls {
            Some(tls) => {
                let listener = TlsListener::spawn(listener, tls.config);
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
            }
            None => {
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
            }
        };
        // Give WebSocket clients a moment to receive their close frames.
        if let Some(sim) = &state.sim {
            let deadline = Instant::now() + Duration::from_secs(1);
            while sim.slots.available_permits() < sim.max_clients && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        match served {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: server stopped: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// The manifest the simulation follows: `--manifest`, which must load, or the demo manifest in
/// `--dir`, without which the simulation is off.
fn load_sensors(
    args: &ServeArgs,
) -> Result<Option<(PathBuf, Vec<twinlens::manifest::Sensor>)>, String> {
    let (path, explicit) = match &args.manifest {
        Some(p) => (p.clone(), true),
        None => (args.dir.join("demo").join("pump-skid.twin.json"), false),
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if explicit => return Err(format!("cannot read {}: {e}", path.display())),
        Err(_) => {
            eprintln!(
                "sim: no manifest at {}; /ws/sim is off (name one with --manifest)",
                path.display()
            );
            return Ok(None);
        }
    };
    match twinlens::manifest::Manifest::parse(&bytes, &path.display().to_string()) {
        Ok(m) if m.sensors.is_empty() => {
            if explicit {
                Err(format!("{} lists no sensors to simulate", path.display()))
            } else {
                eprintln!("sim: {} lists no sensors; /ws/sim is off", path.display());
                Ok(None)
            }
        }
        Ok(m) => Ok(Some((path, m.sensors))),
        Err(e) if explicit => Err(e.to_string()),
        Err(e) => {
            eprintln!("sim: the demo manifest does not load, /ws/sim is off:\n{e}");
            Ok(None)
        }
    }
}

fn clock_seed() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

struct AppState {
    sim: Option<SimEndpoint>,
    origins: OriginPolicy,
    tls: bool,
}

struct SimEndpoint {
    hub: Arc<Hub>,
    slots: Arc<Semaphore>,
    max_clients: usize,
}

/// Steps the plant in real time and publishes one frame per tick.
async fn run_sim(mut plant: Plant, hub: Arc<Hub>, rate_hz: f64) {
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate_hz));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut origin = Instant::now();
    let mut phase = plant.fault_phase();
    loop {
        ticker.tick().await;
        let mut now = origin.elapsed().as_secs_f64();
        let behind = now - plant.time();
        if behind > 60.0 {
            // The machine slept or the process was stopped: resume where the plant stood.
            origin += Duration::from_secs_f64(behind);
            now = plant.time();
        }
        plant.advance_to(now);
        let current = plant.fault_phase();
        if current != phase {
            phase = current;
            log_fault(&plant, current);
        }
        let dropped = hub.publish(encode_frame(plant.readings(), epoch_ms()).into());
        if dropped > 0 {
            eprintln!("sim: dropped {dropped} client(s) that did not keep up");
        }
    }
}

fn log_fault(plant: &Plant, phase: FaultPhase) {
    let show = |suffix: &str| {
        plant
            .readings()
            .find(|(id, _)| id.ends_with(suffix))
            .and_then(|(_, v)| v.as_f64())
            .map_or_else(|| "-".to_owned(), |v| v.to_string())
    };
    let what = match phase {
        FaultPhase::Healthy => "bearing fault cleared",
        FaultPhase::Developing => "bearing fault developing",
        FaultPhase::Alarm => "bearing fault at alarm",
        FaultPhase::Recovering => "bearing fault recovering",
    };
    eprintln!(
        "sim: {what} (t = {:.0} s, bearing {} °C, pump vibration {} mm/s)",
        plant.time(),
        show(".pump.bearing_temp"),
        show(".pump.vibration")
    );
}

/// One wire frame: `{"t":ms,"readings":[{"id":..,"v":..,"t":ms},..]}`.
fn encode_frame<'a>(readings: impl Iterator<Item = (&'a str, Value)>, t_ms: u64) -> String {
    let mut out = String::with_capacity(1024);
    let _ = write!(out, "{{\"t\":{t_ms},\"readings\":[");
    for (i, (id, value)) in readings.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"id\":");
        out.push_str(&serde_json::Value::from(id).to_string());
        out.push_str(",\"v\":");
        match value {
            Value::Number(v) if v.is_finite() => {
                let _ = write!(out, "{v}");
            }
            Value::Number(_) => out.push_str("null"),
            Value::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        }
        let _ = write!(out, ",\"t\":{t_ms}}}");
    }
    out.push_str("]}");
    out
}

/// Fans frames out to subscribers through bounded queues; a subscriber whose queue is full is
/// dropped rather than buffered for.
struct Hub {
    inner: Mutex<HubInner>,
    queue: usize,
}

struct HubInner {
    latest: Option<Utf8Bytes>,
    subscribers: Vec<mpsc::Sender<Utf8Bytes>>,
    closed: bool,
}

impl Hub {
    fn new(queue: usize) -> Self {
        Self {
            inner: Mutex::new(HubInner {
                latest: None,
                subscribers: Vec::new(),
                closed: false,
            }),
            queue: queue.max(1),
        }
    }

    /// A receiver whose first frame is the current state; it ends when the subscriber falls
    /// behind (see [`Hub::publish`]) or the hub closes.
    fn subscribe(&self) -> mpsc::Receiver<Utf8Bytes> {
        let (tx, rx) = mpsc::channel(self.queue);
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.closed {
            return rx;
        }
        if let Some(latest) = &inner.latest {
            let _ = tx.try_send(latest.clone());
        }
        inner.subscribers.push(tx);
        rx
    }

    /// Queues `frame` for every subscriber; returns how many were dropped for a full queue.
    fn publish(&self, frame: Utf8Bytes) -> usize {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut dropped = 0;
        inner
            .subscribers
            .retain(|tx| match tx.try_send(frame.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    dropped += 1;
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            });
        inner.latest = Some(frame);
        dropped
    }

    /// Ends every subscription (server shutdown).
    fn close(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.closed = true;
        inner.subscribers.clear();
    }

    fn is_closed(&self) -> bool {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).closed
    }
}

/// `GET /ws/sim`: Origin check (403), capacity (503), then the upgrade.
async fn ws_sim(
    State(state): State<Arc<AppState>>,
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
    if let Err(reason) = state.origins.check(&headers, state.tls) {
        eprintln!("ws: refused: {reason}");
        return (StatusCode::FORBIDDEN, format!("{reason}\n")).into_response();
    }
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
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
    ws.max_message_size(MAX_INBOUND_BYTES)
        .max_frame_size(MAX_INBOUND_BYTES)
        .on_upgrade(move |socket| client(socket, hub, permit))
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

/// One `/ws/sim` client: forwards frames, polices what it sends, closes with a reason.
async fn client(mut socket: WebSocket, hub: Arc<Hub>, _permit: OwnedSemaphorePermit) {
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
                        eprintln!("ws: dropped a client that stopped reading");
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

/// Which page origins may open `/ws/sim`.
struct OriginPolicy {
    extra: Vec<Origin>,
    any: bool,
}

/// A normalised web origin: lower-case scheme and host, explicit port.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl OriginPolicy {
    fn new(allowed: &[String]) -> Result<Self, String> {
        let mut policy = Self {
            extra: Vec::new(),
            any: false,
        };
        for a in allowed {
            if a.trim() == "*" {
                policy.any = true;
            } else {
                policy.extra.push(parse_origin(a).ok_or_else(|| {
                    format!("--allow-origin {a:?} is not an origin like https://example.com:8443")
                })?);
            }
        }
        Ok(policy)
    }

    /// Ok when the request may upgrade; otherwise why not.
    fn check(&self, headers: &HeaderMap, tls: bool) -> Result<(), String> {
        let Some(value) = headers.get(header::ORIGIN) else {
            return Ok(()); // not a browser
        };
        if self.any {
            return Ok(());
        }
        let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
        let Some(origin) = parse_origin(&text) else {
            return Err(format!("origin {text:?} is not allowed"));
        };
        if matches!(origin.host.as_str(), "localhost" | "127.0.0.1" | "[::1]") {
            return Ok(());
        }
        let default_port = if tls { 443 } else { 80 };
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| parse_authority(h, default_port));
        if host == Some((origin.host.clone(), origin.port)) {
            return Ok(());
        }
        if self.extra.contains(&origin) {
            return Ok(());
        }
        Err(format!(
            "origin {text} may not open /ws/sim (restart with --allow-origin {text} to allow it)"
        ))
    }
}

/// `scheme://host[:port]` with scheme http or https, nothing after the authority.
fn parse_origin(text: &str) -> Option<Origin> {
    let text = text.trim();
    let text = text.strip_suffix('/').unwrap_or(text);
    let (scheme, authority) = text.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let (host, port) = parse_authority(authority, default_port)?;
    Some(Origin { scheme, host, port })
}

/// `host[:port]` or `[v6][:port]`, lower-cased, with the default port filled in.
fn parse_authority(text: &str, default_port: u16) -> Option<(String, u16)> {
    if text.is_empty() || text.contains(['/', '?', '#', '@', ' ']) {
        return None;
    }
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (format!("[{v6}]"), port)
    } else {
        match text.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (text.to_owned(), None),
        }
    };
    if host.is_empty() || host == "[]" {
        return None;
    }
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => default_port,
    };
    Some((host.to_ascii_lowercase(), port))
}

/// The certificate and server configuration for `--https`.
struct Tls {
    config: Arc<rustls::ServerConfig>,
    fingerprint: String,
    names: Vec<String>,
}

/// A self-signed certificate for localhost, the loopback addresses and `ips`, valid from
/// yesterday for a year, with a fresh P-256 key.
fn make_tls(ips: &[IpAddr]) -> Result<Tls, String> {
    let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    for ip in ips {
        let name = ip.to_string();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let mut params = rcgen::CertificateParams::new(names.clone()).map_err(|e| e.to_string())?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, "twinlens development server");
    params.distinguished_name = dn;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let day = Duration::from_secs(86_400);
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    params.not_before = epoch + now.saturating_sub(day);
    params.not_after = epoch + now + 365 * day;
    let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    let digest = ring::digest::digest(&ring::digest::SHA256, cert.der());
    let fingerprint = digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key_der)
        .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Tls {
        config: Arc::new(config),
        fingerprint,
        names,
    })
}

/// A listener that hands axum TLS streams whose handshakes finished, doing each handshake in
/// its own task so a slow or failing client holds up no one else.
struct TlsListener {
    ready: mpsc::Receiver<(tokio_rustls::server::TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    fn spawn(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> Self {
        let local = tcp
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)));
        let (tx, ready) = mpsc::channel(64);
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(c) => c,
                    Err(_) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let ready = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = ready.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => eprintln!("tls: handshake with {peer} failed: {e}"),
                        Err(_) => {}
                    }
                });
                if tx.is_closed() {
                    break;
                }
            }
        });
        Self { ready, local }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// This machine's IPv4 addresses other than loopback and link-local, likeliest LAN first
/// (physical interfaces before container bridges and VPNs).
fn lan_ipv4s() -> Vec<Ipv4Addr> {
    let mut found: Vec<(u8, Ipv4Addr)> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|i| match i.ip() {
            IpAddr::V4(ip) if !ip.is_loopback() && !ip.is_link_local() => {
                let virtual_if = ["docker", "br-", "veth", "virbr", "tun", "tap", "wg", "zt"]
                    .iter()
                    .any(|p| i.name.starts_with(p));
                let rank = match (virtual_if, ip.is_private()) {
                    (false, true) => 0,
                    (false, false) => 1,
                    (true, _) => 2,
                };
                Some((rank, ip))
            }
            _ => None,
        })
        .collect();
    found.sort();
    found.dedup_by_key(|(_, ip)| *ip);
    found.into_iter().map(|(_, ip)| ip).collect()
}

/// On a non-loopback address: the URLs other devices use, and a QR code of the first.
fn print_network_urls(scheme: &str, bound: SocketAddr, lan: &[Ipv4Addr]) {
    if bound.ip().is_loopback() {
        return;
    }
    let urls: Vec<String> = if bound.ip().is_unspecified() {
        lan.iter()
            .map(|ip| format!("{scheme}://{ip}:{}/", bound.port()))
            .collect()
    } else {
        vec![format!("{scheme}://{bound}/")]
    };
    let Some(first) = urls.first() else {
        println!("twinlens: no LAN address found; other devices cannot reach this machine");
        return;
    };
    for url in &urls {
        println!("twinlens: on this network: {url}");
    }
    if let Some(qr) = qr_text(first) {
        println!("twinlens: scan to open {first}\n{qr}");
    }
}

/// The QR code of `text` in Unicode half blocks, light modules drawn (for dark terminals).
fn qr_text(text: &str) -> Option<String> {
    use qrcode::render::unicode::Dense1x2;
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        h
    }

    #[test]
    fn origin_policy_allows_same_origin_localhost_listed_and_missing() {
        let policy = OriginPolicy::new(&["https://twin.example.com".into()]).unwrap();
        let ok = |o: Option<&str>, host: &str, tls: bool| policy.check(&headers(o, host), tls);
        assert!(ok(None, "10.0.0.5:8080", false).is_ok());
        assert!(ok(Some("http://10.0.0.5:8080"), "10.0.0.5:8080", false).is_ok());
        assert!(ok(Some("https://10.0.0.5"), "10.0.0.5", true).is_ok());
        assert!(ok(Some("https://10.0.0.5:443"), "10.0.0.5", true).is_ok());
        assert!(ok(Some("http://LOCALHOST:3000"), "10.0.0.5:8080", false).is_ok());
        assert!(ok(Some("https://127.0.0.1:9999"), "10.0.0.5:8080", false).is_ok());
        assert!(ok(Some("http://[::1]:5173"), "10.0.0.5:8080", false).is_ok());
        assert!(ok(Some("https://twin.example.com"), "10.0.0.5:8080", false).is_ok());
        assert!(ok(Some("https://twin.example.com:443"), "10.0.0.5:8080", false).is_ok());

        let refused = ok(Some("https://evil.example"), "10.0.0.5:8080", false).unwrap_err();
        assert!(
            refused.contains("--allow-origin https://evil.example"),
            "{refused}"
        );
        assert!(ok(Some("http://10.0.0.5:8081"), "10.0.0.5:8080", false).is_err());
        assert!(ok(Some("http://twin.example.com"), "10.0.0.5:8080", false).is_err());
        assert!(ok(Some("null"), "10.0.0.5:8080", false).is_err());
        assert!(ok(Some("http://localhost.evil.example"), "x:1", false).is_err());
        assert!(ok(Some("http://user@localhost:80"), "x:1", false).is_err());
        assert!(ok(Some("file://"), "x:1", false).is_err());

        let any = OriginPolicy::new(&["*".into()]).unwrap();
        assert!(
            any.check(&headers(Some("https://a.b"), "c:1"), false)
                .is_ok()
        );
        assert!(OriginPolicy::new(&["ftp://x".into()]).is_err());
        assert!(OriginPolicy::new(&["https://x/path".into()]).is_err());
    }

    #[test]
    fn frames_are_json_with_numbers_and_booleans() {
        let readings = [
            ("p101.motor.current", Value::Number(47.25)),
            ("p101.coupling.speed", Value::Number(2956.0)),
            ("p101.panel.door_open", Value::Bool(true)),
            ("we\"ird", Value::Number(f64::NAN)),
        ];
        let text = encode_frame(readings.into_iter(), 1_700_000_000_123);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["t"], 1_700_000_000_123u64);
        let r = v["readings"].as_array().unwrap();
        assert_eq!(r.len(), 4);
        assert_eq!(r[0]["id"], "p101.motor.current");
        assert_eq!(r[0]["v"], 47.25);
        assert_eq!(r[0]["t"], 1_700_000_000_123u64);
        assert_eq!(r[1]["v"], 2956.0);
        assert_eq!(r[2]["v"], true);
        assert_eq!(r[3]["id"], "we\"ird");
        assert!(r[3]["v"].is_null());
    }

    #[tokio::test]
    async fn hub_starts_subscribers_with_the_latest_and_drops_slow_ones() {
        let hub = Hub::new(4);
        hub.publish("a".into());
        let mut fast = hub.subscribe();
        let mut slow = hub.subscribe();
        assert_eq!(fast.recv().await.unwrap().as_str(), "a");
        for i in 0..3 {
            assert_eq!(hub.publish(format!("f{i}").into()), 0);
            assert_eq!(fast.recv().await.unwrap().as_str(), format!("f{i}"));
        }
        // `slow` has 4 frames queued and read none: the next publish drops it.
        assert_eq!(hub.publish("x".into()), 1);
        assert_eq!(fast.recv().await.unwrap().as_str(), "x");
        assert_eq!(slow.sender_strong_count(), 0);
        assert_eq!(slow.recv().await.unwrap().as_str(), "a");
        hub.close();
        assert!(fast.recv().await.is_none());
        assert!(hub.subscribe().recv().await.is_none());
    }

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
    fn tls_certificate_is_made_with_a_fingerprint() {
        let tls = make_tls(&["192.168.1.20".parse().unwrap()]).unwrap();
        assert_eq!(tls.fingerprint.len(), 32 * 3 - 1);
        assert!(tls.names.contains(&"192.168.1.20".to_owned()));
        assert_eq!(tls.config.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }

    #[test]
    fn qr_code_renders_in_half_blocks() {
        let qr = qr_text("https://192.168.1.20:8443/").unwrap();
        let lines: Vec<&str> = qr.lines().collect();
        assert!(lines.len() > 10);
        assert!(qr.contains('█') || qr.contains('▀') || qr.contains('▄'));
        let width = lines[0].chars().count();
        assert!(lines.iter().all(|l| l.chars().count() == width));
    }
}
