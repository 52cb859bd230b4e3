//! `twinlens serve` as a user and a browser meet it: the real binary on a free loopback port,
//! the simulated plant over WebSocket, the Origin and Host checks, the client and connection
//! limits, the security headers and site configuration, and HTTPS/wss with the self-signed
//! certificate. Every wait is bounded; nothing leaves 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test that panics has failed, with its message

#[path = "serve/hardening.rs"]
mod hardening;
#[path = "serve/harness.rs"]
mod harness;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::time::timeout;
use tokio_rustls::rustls;
use tokio_tungstenite::client_async;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use harness::*;

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
    // Exact origins: a page on another local port is another origin.
    for origin in [
        "http://localhost:5173".to_owned(),
        format!("http://localhost:{}", server.port + 1),
        format!("https://127.0.0.1:{}", server.port),
        "https://twin.example.com:8443".to_owned(),
    ] {
        match connect(&server, Some(&origin)).await {
            Err(WsError::Http(response)) => assert_eq!(response.status(), 403, "{origin}"),
            other => panic!("{origin}: expected 403, got {:?}", other.map(|_| ())),
        }
    }
    for origin in [
        "https://twin.example.com",
        &format!("http://localhost:{}", server.port),
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
    let response = http_get(&mut tls, &format!("localhost:{}", server.port), "/").await;
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
