//! The harness of the `serve` tests: `twinlens serve` started on a free loopback port with a
//! throwaway app folder, WebSocket and raw HTTP clients, and a TLS client that remembers the
//! certificate it was shown. A failed step panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::rustls;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{WebSocketStream, client_async};

pub const DEMO_MANIFEST: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../www/demo/pump-skid.twin.json"
);

/// A running `twinlens serve`, killed on drop.
pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:<port>/` or `https://…`.
    pub url: String,
    pub port: u16,
    pub stdout: Vec<String>,
    stderr: Arc<Mutex<String>>,
    dir: PathBuf,
}

impl Server {
    pub fn start(name: &str, args: &[&str]) -> Server {
        Self::start_with(name, args, &[])
    }

    /// Starts with extra `(path, content)` files in the served folder.
    pub fn start_with(name: &str, args: &[&str], files: &[(&str, &str)]) -> Server {
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
        for (path, content) in files {
            std::fs::write(dir.join(path), content).unwrap();
        }

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

    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws/sim", self.port)
    }

    pub fn stderr(&self) -> String {
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

pub type Ws<S> = WebSocketStream<S>;

/// Opens `/ws/sim` over plain TCP with an optional Origin header.
pub async fn connect(server: &Server, origin: Option<&str>) -> Result<Ws<TcpStream>, WsError> {
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
pub async fn next_frame<S>(ws: &mut Ws<S>, wait: Duration) -> serde_json::Value
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
pub fn demo_sensors() -> Vec<(String, Option<[f64; 2]>)> {
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
pub fn check_frame(frame: &serde_json::Value) -> u64 {
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

pub async fn http_get_plain(port: u16, path: &str) -> String {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    http_get(&mut tcp, &format!("127.0.0.1:{port}"), path).await
}

pub async fn http_get<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    stream: &mut S,
    host: &str,
    path: &str,
) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut body = Vec::new();
    timeout(Duration::from_secs(5), stream.read_to_end(&mut body))
        .await
        .expect("response within 5 s")
        .ok();
    String::from_utf8_lossy(&body).into_owned()
}

/// Reads until the server's close frame and returns it.
pub async fn close_frame<S>(ws: &mut Ws<S>) -> Option<CloseFrame>
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

/// Accepts any certificate but remembers it, so the test can compare it with the printed
/// fingerprint; signatures are still checked.
#[derive(Debug)]
pub struct RememberCert {
    pub seen: Mutex<Option<Vec<u8>>>,
    pub provider: Arc<rustls::crypto::CryptoProvider>,
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

pub async fn tls_connect(
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

/// Sends `request` as is and reads the whole answer (the server closes), within 5 s.
pub async fn raw_request(port: u16, request: &str) -> String {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    // A server that refuses the connection may close it before the request is written.
    let _ = tcp.write_all(request.as_bytes()).await;
    let mut body = Vec::new();
    timeout(Duration::from_secs(5), tcp.read_to_end(&mut body))
        .await
        .expect("response within 5 s")
        .ok();
    String::from_utf8_lossy(&body).into_owned()
}

/// The value of header `name` in a raw response, if present.
pub fn header_value(response: &str, name: &str) -> Option<String> {
    let head = response.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}
