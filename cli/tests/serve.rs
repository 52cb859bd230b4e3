//! `twinlens serve` as a user and a browser meet it: the real binary on a free loopback port,
//! the simulated plant over WebSocket, the Origin check, the client limits, and HTTPS/wss with
//! the self-signed certificate. Every wait is bounded; nothing leaves 127.0.0.1.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::rustls;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{WebSocketStream, client_async};

const DEMO_MANIFEST: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../www/demo/pump-skid.twin.json"
);

/// A running `twinlens serve`, killed on drop.
struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>/` or `https://…`.
    url: String,
    port: u16,
    stdout: Vec<String>,
    stderr: Arc<Mutex<String>>,
    dir: PathBuf,
}

impl Server {
    fn start(name: &str, args: &[&str]) -> Server {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("serve-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("demo")).unwrap();
        std::fs::write(
            dir.join("index.html"),
            "<!doctype html><title>twinlens serve test</title>\n",
        )
        .unwrap();
        std::fs::copy(DEMO_MANIFEST, dir.join("demo/pump-skid.twin.json")).unwrap();

        let mut child = Command::new(env!("CARGO_BIN_EXE_twinlens"))
            .arg("serve")
            .arg("--dir")
            .arg(&dir)
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the twinlens binary starts");

        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let (tx, rx) = mpsc::channel();
        let out_pipe = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out_pipe).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });

        let deadline = Instant::now() + Duration::from_secs(15);
        let mut stdout = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let found = ["http://127.0.0.1:", "https://127.0.0.1:"]
                        .iter()
                        .find_map(|p| line.find(p));
                    stdout.push(line.clone());
                    if let Some(at) = found {
                        let url: String = line[at..]
                            .chars()
                            .take_while(|c| !c.is_whitespace())
                            .collect();
                        let port = url
                            .trim_end_matches('/')
                            .rsplit(':')
                            .next()
                            .unwrap()
                            .parse()
                            .expect("a port in the URL");
                        // Collect whatever else was printed at start (fingerprint, ws URL).
                        std::thread::sleep(Duration::from_millis(50));
                        stdout.extend(rx.try_iter());
                        return Server {
                            child,
                            url,
                            port,
                            stdout,
                            stderr,
                            dir,
                        };
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "serve printed no URL within 15 s; stdout: {stdout:?}; stderr: {}",
                        stderr.lock().unwrap()
                    );
                }
            }
        }
    }

    fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws/sim", self.port)
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

type Ws<S> = WebSocketStream<S>;

/// Opens `/ws/sim` over plain TCP with an optional Origin header.
async fn connect(server: &Server, origin: Option<&str>) -> Result<Ws<TcpStream>, WsError> {
    let mut request = server.ws_url().into_client_request().unwrap();
    if let Some(o) = origin {
        request.headers_mut().insert("Origin", o.parse().unwrap());
    }
    let tcp = TcpStream::connect(("127.0.0.1", server.port)).await?;
    let (ws, _) = timeout(Duration::from_secs(5), client_async(request, tcp))
        .await
        .expect("handshake within 5 s")?;
    Ok(ws)
}

/// The next text frame as JSON, within `wait`.
async fn next_frame<S>(ws: &mut Ws<S>, wait: Duration) -> serde_json::Value
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = timeout(left, ws.next())
            .await
            .expect("a frame in time")
            .expect("the socket stays open")
            .expect("no socket error");
        if let Message::Text(text) = message {
            return serde_json::from_str(text.as_str()).expect("frames are JSON");
        }
    }
}

/// The sensors of the demo manifest: id and optional range.
fn demo_sensors() -> Vec<(String, Option<[f64; 2]>)> {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(DEMO_MANIFEST).unwrap()).unwrap();
    manifest["sensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let range = s["range"]
                .as_array()
                .map(|r| [r[0].as_f64().unwrap(), r[1].as_f64().unwrap()]);
            (s["id"].as_str().unwrap().to_owned(), range)
        })
        .collect()
}

/// Checks a frame's shape, and that it carries every demo sensor inside its range.
fn check_frame(frame: &serde_json::Value) -> u64 {
    let t = frame["t"].as_u64().expect("frame t is epoch ms");
    let readings = frame["readings"].as_array().expect("readings array");
    let sensors = demo_sensors();
    assert_eq!(readings.len(), sensors.len(), "{frame}");
    for (id, range) in &sensors {
        let r = readings
            .iter()
            .find(|r| r["id"] == id.as_str())
            .unwrap_or_else(|| panic!("{id} missing from {frame}"));
        assert_eq!(r["t"].as_u64(), Some(t));
        match range {
            Some([lo, hi]) => {
                let v = r["v"].as_f64().unwrap_or_else(|| panic!("{id}: {r}"));
                assert!(v >= *lo && v <= *hi, "{id} = {v} outside [{lo}, {hi}]");
            }
            None => assert!(r["v"].is_boolean(), "{id} should be a boolean: {r}"),
        }
    }
    t
}

#[tokio::test]
async fn sim_sends_every_sensor_at_once_and_then_at_the_rate() {
    let server = Server::start("frames", &[]);
    assert!(
        server
            .stdout
            .iter()
            .any(|l| l.contains(&format!("ws://127.0.0.1:{}/ws/sim", server.port))),
        "{:?}",
        server.stdout
    );
    let started = Instant::now();
    let mut ws = connect(&server, None).await.expect("connects");
    let first = next_frame(&mut ws, Duration::from_secs(1)).await;
    assert!(started.elapsed() < Duration::from_secs(1));
    let mut last = check_frame(&first);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(last.abs_diff(now_ms) < 10_000, "timestamps are epoch ms");
    let mut gaps = Vec::new();
    for _ in 0..6 {
        let frame = next_frame(&mut ws, Duration::from_secs(1)).await;
        let t = check_frame(&frame);
        assert!(t > last, "timestamps increase");
        gaps.push(t - last);
        last = t;
    }
    // Default 5 Hz: about 200 ms apart.
    let mean = gaps.iter().sum::<u64>() as f64 / gaps.len() as f64;
    assert!((120.0..=400.0).contains(&mean), "frame gaps {gaps:?}");
    let _ = ws.close(None).await;

    // The static files are still served, uncached.
    let response = http_get_plain(server.port, "/").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("cache-control: no-cache")
    );
    assert!(response.contains("twinlens serve test"));
    assert!(server.url.starts_with("http://127.0.0.1:"));
}

async fn http_get_plain(port: u16, path: &str) -> String {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    http_get(&mut tcp, path).await
}

async fn http_get<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    stream: &mut S,
    path: &str,
) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut body = Vec::new();
    timeout(Duration::from_secs(5), stream.read_to_end(&mut body))
        .await
        .expect("response within 5 s")
        .ok();
    String::from_utf8_lossy(&body).into_owned()
}

#[tokio::test]
async fn foreign_origins_are_refused_unless_allowed() {
    let server = Server::start("origin", &["--allow-origin", "https://twin.example.com"]);
    match connect(&server, Some("https://evil.example")).await {
        Err(WsError::Http(response)) => {
            assert_eq!(response.status(), 403);
            let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
                .into_owned();
            assert!(body.contains("--allow-origin"), "{body}");
        }
        other => panic!("expected 403, got {:?}", other.map(|_| ())),
    }
    for origin in [
        "https://twin.example.com",
        "http://localhost:5173",
        &format!("http://127.0.0.1:{}", server.port),
    ] {
        let mut ws = connect(&server, Some(origin))
            .await
            .unwrap_or_else(|e| panic!("{origin} refused: {e}"));
        check_frame(&next_frame(&mut ws, Duration::from_secs(2)).await);
    }
    assert!(server.stderr().contains("evil.example"));
}

#[tokio::test]
async fn eight_clients_at_once_all_receive_data() {
    let server = Server::start("eight", &[]);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let mut ws = connect(&server, None).await.expect("connects");
        tasks.push(tokio::spawn(async move {
            let until = Instant::now() + Duration::from_secs(3);
            let mut frames = 0;
            while Instant::now() < until {
                let left = until.saturating_duration_since(Instant::now());
                match timeout(left, ws.next()).await {
                    Ok(Some(Ok(Message::Text(_)))) => frames += 1,
                    Ok(Some(Ok(_))) => {}
                    Ok(_) => break,
                    Err(_) => break,
                }
            }
            let _ = ws.close(None).await;
            frames
        }));
    }
    for task in tasks {
        let frames = task.await.unwrap();
        assert!(frames >= 10, "a client got only {frames} frames in 3 s");
    }
}

#[tokio::test]
async fn clients_beyond_max_clients_are_refused_until_one_leaves() {
    let server = Server::start("max", &["--max-clients", "2"]);
    let mut a = connect(&server, None).await.expect("first connects");
    let mut b = connect(&server, None).await.expect("second connects");
    next_frame(&mut a, Duration::from_secs(2)).await;
    next_frame(&mut b, Duration::from_secs(2)).await;
    match connect(&server, None).await {
        Err(WsError::Http(response)) => assert_eq!(response.status(), 503),
        other => panic!("expected 503, got {:?}", other.map(|_| ())),
    }
    a.close(None).await.unwrap();
    drop(a);
    // The slot frees once the server has seen the close.
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut c = loop {
        match connect(&server, None).await {
            Ok(ws) => break ws,
            Err(WsError::Http(r)) if r.status() == 503 && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("a freed slot is not reused: {e}"),
        }
    };
    check_frame(&next_frame(&mut c, Duration::from_secs(2)).await);
}

/// Reads until the server's close frame and returns it.
async fn close_frame<S>(ws: &mut Ws<S>) -> Option<CloseFrame>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    timeout(Duration::from_secs(5), async {
        while let Some(message) = ws.next().await {
            match message {
                Ok(Message::Close(frame)) => return frame,
                Ok(_) => {}
                Err(e) => panic!("socket error instead of a close frame: {e}"),
            }
        }
        None
    })
    .await
    .expect("closed within 5 s")
}

#[tokio::test]
async fn flooding_or_oversized_clients_are_closed_with_a_reason() {
    let server = Server::start("abuse", &[]);

    let mut flood = connect(&server, None).await.unwrap();
    for i in 0..60 {
        if flood
            .send(Message::text(format!("hello {i}")))
            .await
            .is_err()
        {
            break;
        }
    }
    let frame = close_frame(&mut flood).await.expect("a close frame");
    assert_eq!(u16::from(frame.code), 1008);
    assert!(
        frame.reason.as_str().contains("too many messages"),
        "{frame:?}"
    );

    let mut big = connect(&server, None).await.unwrap();
    let _ = big.send(Message::binary(vec![0u8; 70 * 1024])).await;
    let frame = close_frame(&mut big).await.expect("a close frame");
    assert_eq!(u16::from(frame.code), 1009);
    assert!(frame.reason.as_str().contains("too big"), "{frame:?}");

    // A polite client on the same server is unaffected.
    let mut polite = connect(&server, None).await.unwrap();
    polite.send(Message::text("hi")).await.unwrap();
    check_frame(&next_frame(&mut polite, Duration::from_secs(2)).await);
}

#[tokio::test]
async fn the_bearing_fault_cycle_is_logged() {
    let server = Server::start("fault", &["--fault-period", "2", "--seed", "5"]);
    let mut ws = connect(&server, None).await.unwrap();
    let phases = [
        "bearing fault developing",
        "bearing fault at alarm",
        "bearing fault recovering",
        "bearing fault cleared",
    ];
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut peak_bearing = f64::MIN;
    loop {
        let frame = next_frame(&mut ws, Duration::from_secs(1)).await;
        let bearing = frame["readings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == "p101.pump.bearing_temp")
            .and_then(|r| r["v"].as_f64())
            .unwrap();
        peak_bearing = peak_bearing.max(bearing);
        let log = server.stderr();
        if peak_bearing > 90.0 && phases.iter().all(|p| log.contains(p)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "bearing peaked at {peak_bearing} °C; log:\n{log}"
        );
    }
}

/// Accepts any certificate but remembers it, so the test can compare it with the printed
/// fingerprint; signatures are still checked.
#[derive(Debug)]
struct RememberCert {
    seen: Mutex<Option<Vec<u8>>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for RememberCert {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        *self.seen.lock().unwrap() = Some(end_entity.to_vec());
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

async fn tls_connect(
    port: u16,
    verifier: Arc<RememberCert>,
    alpn: &[&[u8]],
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let provider = verifier.provider.clone();
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    timeout(Duration::from_secs(5), connector.connect(name, tcp))
        .await
        .expect("TLS handshake within 5 s")
        .expect("TLS handshake succeeds")
}

#[tokio::test]
async fn https_serves_the_app_and_wss_the_simulation() {
    let server = Server::start("https", &["--https"]);
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    let printed = server
        .stdout
        .iter()
        .map(|l| l.trim())
        .find(|l| l.len() == 95 && l.bytes().filter(|b| *b == b':').count() == 31)
        .unwrap_or_else(|| panic!("no fingerprint in {:?}", server.stdout))
        .to_owned();

    let verifier = Arc::new(RememberCert {
        seen: Mutex::new(None),
        provider: Arc::new(rustls::crypto::ring::default_provider()),
    });
    let mut tls = tls_connect(server.port, verifier.clone(), &[b"http/1.1"]).await;
    let response = http_get(&mut tls, "/").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("twinlens serve test"));

    let der = verifier
        .seen
        .lock()
        .unwrap()
        .clone()
        .expect("a certificate");
    let digest = ring::digest::digest(&ring::digest::SHA256, &der);
    let fingerprint = digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    assert_eq!(
        fingerprint, printed,
        "the printed fingerprint is the served certificate's"
    );

    let tls = tls_connect(server.port, verifier, &[b"http/1.1"]).await;
    let request = format!("wss://127.0.0.1:{}/ws/sim", server.port)
        .into_client_request()
        .unwrap();
    let (mut ws, _) = timeout(Duration::from_secs(5), client_async(request, tls))
        .await
        .expect("wss handshake in time")
        .expect("wss handshake succeeds");
    let first = next_frame(&mut ws, Duration::from_secs(1)).await;
    check_frame(&first);
    check_frame(&next_frame(&mut ws, Duration::from_secs(1)).await);

    // Plain HTTP on the TLS port gets no page.
    let plain = http_get_plain(server.port, "/").await;
    assert!(!plain.contains("twinlens serve test"));
}

#[cfg(unix)]
#[tokio::test]
async fn ctrl_c_closes_clients_and_exits() {
    let mut server = Server::start("sigint", &[]);
    let mut ws = connect(&server, None).await.unwrap();
    next_frame(&mut ws, Duration::from_secs(2)).await;
    let status = Command::new("kill")
        .args(["-INT", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let frame = close_frame(&mut ws).await.expect("a close frame");
    assert_eq!(u16::from(frame.code), 1001);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(exit) = server.child.try_wait().unwrap() {
            assert!(exit.success(), "exit status {exit}");
            break;
        }
        assert!(Instant::now() < deadline, "still running 5 s after SIGINT");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
