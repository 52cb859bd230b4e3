//! `twinlens serve`: the reference server. Serves the built app with correct MIME types (wasm
//! must be `application/wasm` for streaming compilation), hardening headers and a
//! Content-Security-Policy from the site configuration (also served at
//! `/twinlens.config.json`), and no caching, so a rebuilt app is picked up on reload; streams a
//! simulated pump skid at `/ws/sim`; optionally over HTTPS with a self-signed certificate
//! (phones need a secure context for WebXR), and prints the LAN URL and a QR code when
//! listening on all interfaces.
//!
//! It is meant to face a LAN: requests must name a host it serves (DNS rebinding is refused),
//! `/ws/sim` takes pages of allowed origins only, and connections, TLS handshakes, header
//! reads, idle sockets and WebSocket clients are bounded (see [`conn`] and [`ws`]). What peers
//! send is escaped before it is logged, and repeated failures are summarised ([`log`]).

mod access;
mod conn;
mod feed;
mod headers;
mod http;
mod hub;
mod log;
mod network;
mod site;
mod tls;
mod ws;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::sim::{Plant, SimConfig};

/// TLS handshakes that take longer than this are abandoned.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// TLS handshakes in progress at once; more connections wait for none, they are closed.
const MAX_HANDSHAKES: usize = 64;
/// A connection that moves no byte for this long is shut down.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

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
    /// Also accept /ws/sim connections from pages of this exact origin, and requests whose
    /// Host is its host (repeatable; `*` accepts pages of any origin, with a warning). Pages
    /// served by this server (its addresses and localhost, with its scheme and port) always
    /// may.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allow_origin: Vec<String>,
    /// Also answer requests for this host name, e.g. of a reverse proxy or a DNS name that
    /// points here: on any port, or only on PORT (repeatable). The bound address (its LAN
    /// addresses on 0.0.0.0) and localhost, 127.0.0.1 and [::1] on the server's port always
    /// work; other Hosts are refused (421) as DNS rebinding.
    #[arg(long = "allow-host", value_name = "NAME[:PORT]")]
    pub allow_host: Vec<String>,
    /// Let the page load manifests from this origin (repeatable; CSP source syntax, e.g.
    /// https://twins.example.com or https://*.example.com). Served in /twinlens.config.json.
    #[arg(long = "allow-manifest-origin", value_name = "ORIGIN")]
    pub allow_manifest_origin: Vec<String>,
    /// Let the page load models from this origin (repeatable; as --allow-manifest-origin).
    #[arg(long = "allow-model-origin", value_name = "ORIGIN")]
    pub allow_model_origin: Vec<String>,
    /// Let the page open this live data source: a ws:// or wss:// origin or URL; the port may
    /// be `*`, as in ws://127.0.0.1:* (repeatable). This option, --allow-manifest-origin and
    /// --allow-model-origin replace <DIR>/twinlens.config.json.
    #[arg(long = "allow-live", value_name = "SOURCE")]
    pub allow_live: Vec<String>,
    /// Most simultaneous /ws/sim connections; more are answered 503.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_clients: usize,
    /// Most simultaneous /ws/sim connections from one client address; more are answered 429.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub max_clients_per_address: usize,
    /// Most open connections (HTTP, WebSocket and TLS handshakes); more are answered 503 (HTTP)
    /// or closed (HTTPS).
    #[arg(long, value_name = "N", default_value_t = 512)]
    pub max_connections: usize,
    /// Seconds a connection has to send a complete request head, and that a keep-alive
    /// connection may wait for the next one (for tests).
    #[arg(long, value_name = "SECONDS", default_value_t = 10, hide = true)]
    pub header_timeout_secs: u64,
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
                "error: --host {} is not an IP address (try 127.0.0.1 or 0.0.0.0)",
                log::quote(&args.host)
            );
            return ExitCode::from(2);
        }
    };
    if let Err(e) = check_numbers(args) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let lists = match access::AllowLists::parse(&args.allow_host, &args.allow_origin) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let site = match site::Site::load(
        dir,
        &args.allow_manifest_origin,
        &args.allow_model_origin,
        &args.allow_live,
    ) {
        Ok(s) => s,
        Err(site::SiteError::Option(e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
        Err(site::SiteError::File(e)) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let security = match headers::SecurityHeaders::new(&site.config.csp()) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let sensors = match feed::load_sensors(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let lan = if addr.ip().is_unspecified() {
        network::lan_ipv4s()
    } else {
        Vec::new()
    };
    let tls = if args.https {
        let mut ips: Vec<IpAddr> = lan.iter().map(|ip| IpAddr::V4(*ip)).collect();
        if !addr.ip().is_unspecified() {
            ips.push(addr.ip());
        }
        match tls::make_tls(&ips) {
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
        let access = Arc::new(access::Access::new(lists, tls.is_some(), bound, &lan));
        let failures = Arc::new(log::SharedLog::new());

        let sim = sensors.map(|(path, sensors)| {
            let seed = args.seed.unwrap_or_else(feed::clock_seed);
            let plant = Plant::new(
                &sensors,
                SimConfig {
                    seed,
                    fault_period_s: args.fault_period,
                },
            );
            let hub = Arc::new(hub::Hub::new(ws::SEND_QUEUE));
            eprintln!(
                "sim: {} sensors from {}, seed {seed}, {} Hz, bearing fault every {} s",
                sensors.len(),
                path.display(),
                args.rate_hz,
                args.fault_period
            );
            tokio::spawn(feed::run_sim(plant, hub.clone(), args.rate_hz));
            if let Some(target) = mqtt_target.clone() {
                let hub = hub.clone();
                tokio::spawn(crate::mqtt_publish::run(target, move || hub.subscribe()));
            }
            ws::SimEndpoint {
                hub,
                slots: Arc::new(Semaphore::new(args.max_clients)),
                max_clients: args.max_clients,
                per_address: ws::AddressSlots::new(args.max_clients_per_address),
            }
        });
        let sim_hub = sim.as_ref().map(|s| s.hub.clone());
        let sim_on = sim.is_some();
        let app = Arc::new(http::App::new(
            dir,
            ws::SimSocket {
                sim,
                access: access.clone(),
                log: failures.clone(),
            },
            site.config.to_json(),
            security,
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
        if sim_on {
            let ws = if tls.is_some() { "wss" } else { "ws" };
            let host = if bound.ip().is_unspecified() {
                format!("localhost:{}", bound.port())
            } else {
                bound.to_string()
            };
            println!("twinlens: simulated plant at {ws}://{host}/ws/sim");
        }
        network::print_network_urls(scheme, bound, &lan);
        print_policy(&access, &site);
        if access.any_origin() {
            eprintln!(
                "warning: --allow-origin * lets a page of any site open /ws/sim; list the \
                 origins instead unless this is a throwaway test"
            );
        }

        let flusher = {
            let failures = failures.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(log::FAILURE_WINDOW);
                loop {
                    tick.tick().await;
                    failures.flush();
                }
            })
        };
        let shutdown = async move {
            let _ = tokio::signal::ctrl_c().await;
            if let Some(hub) = &sim_hub {
                hub.close();
            }
        };
        let limits = conn::Limits {
            header_timeout: Duration::from_secs(args.header_timeout_secs),
            idle_timeout: IDLE_TIMEOUT,
            max_connections: args.max_connections,
            max_handshakes: MAX_HANDSHAKES,
            handshake_timeout: HANDSHAKE_TIMEOUT,
        };
        conn::serve(listener, tls.map(|t| t.config), app, limits, shutdown).await;
        flusher.abort();
        failures.flush();
        ExitCode::SUCCESS
    })
}

/// The numeric options in range, or what to change.
fn check_numbers(args: &ServeArgs) -> Result<(), String> {
    if !(args.rate_hz.is_finite() && (0.1..=50.0).contains(&args.rate_hz)) {
        return Err("--rate-hz must be between 0.1 and 50".to_owned());
    }
    if !(args.fault_period.is_finite() && args.fault_period >= 2.0) {
        return Err("--fault-period must be at least 2 seconds".to_owned());
    }
    for (name, value) in [
        ("--max-clients", args.max_clients),
        ("--max-clients-per-address", args.max_clients_per_address),
        ("--max-connections", args.max_connections),
    ] {
        if value == 0 {
            return Err(format!("{name} must be at least 1"));
        }
    }
    if !(1..=3600).contains(&args.header_timeout_secs) {
        return Err("--header-timeout-secs must be between 1 and 3600".to_owned());
    }
    Ok(())
}

/// The Host names served, the origins /ws/sim accepts and the site configuration.
fn print_policy(access: &access::Access, site: &site::Site) {
    println!(
        "twinlens: answers requests for Host {} (others get 421; add names with --allow-host)",
        access.hosts().join(", ")
    );
    let origins = access.origins().join(", ");
    if access.any_origin() {
        println!("twinlens: /ws/sim accepts pages from {origins}");
    } else {
        println!("twinlens: /ws/sim accepts pages from {origins} (add with --allow-origin)");
    }
    for line in site.describe() {
        println!("{line}");
    }
}
