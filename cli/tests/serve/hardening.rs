//! `twinlens serve` facing hostile or careless peers: the security headers and the site
//! configuration, DNS rebinding (foreign Host), slowloris connections, and the caps on
//! connections and on WebSockets per address.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Error as WsError;

use super::harness::*;

#[tokio::test]
async fn every_response_carries_the_security_headers_and_a_strict_csp() {
    let server = Server::start("headers", &[]);
    let index = http_get_plain(server.port, "/").await;
    let manifest = http_get_plain(server.port, "/demo/pump-skid.twin.json").await;
    let missing = http_get_plain(server.port, "/no/such/file.js").await;
    let refused = raw_request(
        server.port,
        "GET / HTTP/1.1\r\nHost: attacker.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(index.starts_with("HTTP/1.1 200"), "{index}");
    assert!(manifest.starts_with("HTTP/1.1 200"), "{manifest}");
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    for response in [&index, &manifest, &missing, &refused] {
        let csp = header_value(response, "content-security-policy")
            .unwrap_or_else(|| panic!("no CSP in {response}"));
        for directive in [
            "default-src 'self'",
            "frame-ancestors 'none'",
            "object-src 'none'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(directive), "{directive} missing from {csp}");
        }
        // `'wasm-unsafe-eval'` (WebAssembly compilation) is fine; inline code and eval are not.
        let words: Vec<&str> = csp.split([' ', ';']).collect();
        assert!(!words.contains(&"'unsafe-inline'"), "{csp}");
        assert!(!words.contains(&"'unsafe-eval'"), "{csp}");
        let expect = [
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "no-referrer"),
            ("permissions-policy", "xr-spatial-tracking=(self)"),
            ("cross-origin-opener-policy", "same-origin"),
        ];
        for (name, value) in expect {
            assert_eq!(
                header_value(response, name).as_deref(),
                Some(value),
                "{name} in {response}"
            );
        }
    }
    assert_eq!(
        header_value(&index, "cache-control").as_deref(),
        Some("no-cache")
    );
    assert_eq!(
        header_value(&manifest, "cache-control").as_deref(),
        Some("no-store")
    );
}

#[tokio::test]
async fn site_config_reflects_allow_live_and_the_file() {
    let server = Server::start(
        "config",
        &[
            "--allow-live",
            "ws://127.0.0.1:*",
            "--allow-live",
            "wss://feed.example.com/live",
        ],
    );
    let response = http_get_plain(server.port, "/twinlens.config.json").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert_eq!(
        header_value(&response, "cache-control").as_deref(),
        Some("no-store")
    );
    assert!(
        header_value(&response, "content-type").is_some_and(|t| t.contains("json")),
        "{response}"
    );
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    let config: serde_json::Value = serde_json::from_str(body).expect("the config is JSON");
    let live: Vec<&str> = config["liveSources"]
        .as_array()
        .expect("liveSources")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(live, ["ws://127.0.0.1:*", "wss://feed.example.com/live"]);
    let csp = header_value(&response, "content-security-policy").unwrap();
    assert!(csp.contains("ws://127.0.0.1:*"), "{csp}");
    assert!(
        server.stdout.iter().any(|l| l.contains("ws://127.0.0.1:*")),
        "the allowed sources are printed: {:?}",
        server.stdout
    );

    // Without options, <dir>/twinlens.config.json is served (normalised) and sets the CSP.
    let file = r#"{"modelOrigins": ["https://cdn.example.com"]}"#;
    let server = Server::start_with("config-file", &[], &[("twinlens.config.json", file)]);
    let response = http_get_plain(server.port, "/twinlens.config.json").await;
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    let config: serde_json::Value = serde_json::from_str(body).expect("the config is JSON");
    assert_eq!(config["modelOrigins"][0], "https://cdn.example.com");
    let csp = header_value(&response, "content-security-policy").unwrap();
    assert!(csp.contains("https://cdn.example.com"), "{csp}");
}

#[test]
fn bad_site_entries_stop_the_start_naming_the_option_or_file() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("serve-badsite-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "<!doctype html>\n").unwrap();
    let serve = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_twinlens"))
            .arg("serve")
            .arg("--dir")
            .arg(&dir)
            .args(["--port", "0"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("the twinlens binary runs")
    };
    let out = serve(&["--allow-live", "http://not-a-socket.example"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--allow-live \"http://not-a-socket.example\""),
        "{err}"
    );
    let out = serve(&["--allow-host", "https://x.example"]);
    assert_eq!(out.status.code(), Some(2));

    std::fs::write(dir.join("twinlens.config.json"), "{\"liveSource\": []}").unwrap();
    let out = serve(&[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("twinlens.config.json"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn rebinding_hosts_get_no_file_content() {
    let server = Server::start("rebind", &["--allow-host", "twin.lan"]);
    let port = server.port;
    let request =
        |host: &str| format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    // The first refusal from an address is logged (later ones are summarised): make it one
    // whose Host carries a bidi override.
    for host in [
        "evil\u{202e}lan.example".to_owned(),
        "attacker.example".to_owned(),
        format!("attacker.example:{port}"),
        "127.0.0.1".to_owned(),
        format!("localhost:{}", port + 1),
    ] {
        let response = raw_request(port, &request(&host)).await;
        assert!(
            response.starts_with("HTTP/1.1 421") || response.starts_with("HTTP/1.1 403"),
            "{host}: {response}"
        );
        assert!(
            !response.contains("twinlens serve test"),
            "{host}: {response}"
        );
        assert!(response.contains("--allow-host"), "{response}");
    }
    // Absolute-form requests are checked by their authority too.
    let response = raw_request(
        port,
        &format!("GET http://attacker.example/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert!(!response.contains("twinlens serve test"), "{response}");
    // No Host at all is refused as well.
    let response = raw_request(port, "GET / HTTP/1.0\r\n\r\n").await;
    assert!(!response.contains("twinlens serve test"), "{response}");

    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        "twin.lan".to_owned(),
    ] {
        let response = raw_request(port, &request(&host)).await;
        assert!(response.starts_with("HTTP/1.1 200"), "{host}: {response}");
        assert!(
            response.contains("twinlens serve test"),
            "{host}: {response}"
        );
    }
    // The refusal is logged with the attacker's text escaped (no raw bidi override).
    let log = server.stderr();
    assert!(log.contains("\"evil\\u{202e}lan.example\""), "{log}");
    assert!(!log.contains('\u{202e}'), "{log}");
}

#[tokio::test]
async fn slowloris_connections_are_closed_and_do_not_starve_others() {
    let server = Server::start("slowloris", &["--header-timeout-secs", "2"]);
    let port = server.port;

    // One connection that sends half a request line and nothing more.
    let started = Instant::now();
    let mut slow = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    slow.write_all(b"GET / HT").await.unwrap();
    let mut idle = Vec::new();
    for _ in 0..200 {
        let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        tcp.write_all(b"GET /index.html HTTP/1.1\r\nHost: 127.0")
            .await
            .unwrap();
        idle.push(tcp);
    }
    // With 200 of them open, a new client is served at once.
    let asked = Instant::now();
    let response = http_get_plain(port, "/").await;
    assert!(response.contains("twinlens serve test"), "{response}");
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "{:?}",
        asked.elapsed()
    );

    let mut buf = [0u8; 1024];
    let read = timeout(Duration::from_secs(5), slow.read(&mut buf))
        .await
        .expect("the slow connection is closed within the header timeout");
    let waited = started.elapsed();
    drop(read);
    assert!(
        (Duration::from_millis(1500)..Duration::from_millis(4500)).contains(&waited),
        "closed after {waited:?} with a 2 s header timeout"
    );
    assert!(!String::from_utf8_lossy(&buf).contains("twinlens serve test"));
    // The idle ones go too.
    for mut tcp in idle {
        let closed = timeout(Duration::from_secs(3), async {
            loop {
                match tcp.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "an idle connection is still open");
    }
    // One log line for the lot: the rest of this address's failures are summarised.
    let log = server.stderr();
    let lines = log.matches("request headers did not arrive").count();
    assert_eq!(lines, 1, "{log}");
}

#[tokio::test]
async fn connections_beyond_max_connections_get_503() {
    let server = Server::start("maxconn", &["--max-connections", "3"]);
    let port = server.port;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(("127.0.0.1", port)).await.unwrap());
    }
    // Let the server accept them before the next one.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let get = format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    let refused = raw_request(port, &get).await;
    assert!(!refused.contains("twinlens serve test"), "{refused}");
    assert!(
        refused.is_empty() || refused.starts_with("HTTP/1.1 503"),
        "{refused}"
    );
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let response = raw_request(port, &get).await;
        if response.contains("twinlens serve test") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a freed slot is not reused: {response}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn websockets_beyond_the_per_address_cap_get_429() {
    let server = Server::start("peraddr", &["--max-clients-per-address", "2"]);
    let mut a = connect(&server, None).await.expect("first connects");
    let _b = connect(&server, None).await.expect("second connects");
    match connect(&server, None).await {
        Err(WsError::Http(response)) => assert_eq!(response.status(), 429),
        other => panic!("expected 429, got {:?}", other.map(|_| ())),
    }
    a.close(None).await.unwrap();
    drop(a);
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut c = loop {
        match connect(&server, None).await {
            Ok(ws) => break ws,
            Err(WsError::Http(r)) if r.status() == 429 && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("a freed slot is not reused: {e}"),
        }
    };
    check_frame(&next_frame(&mut c, Duration::from_secs(2)).await);
}
