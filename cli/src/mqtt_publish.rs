//! `twinlens serve --mqtt`: publishes the simulated plant to an MQTT broker over TCP, one
//! retained message per reading on `<prefix>/<sensor id>` with a JSON payload
//! `{"v": <value>, "t": <epoch ms>}`, for sites (and tests) that already run a broker. Uses the
//! app's own MQTT 3.1.1 codec.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use twinlens::telemetry::mqtt::codec::{Decoder, Packet, encode};

/// Largest packet the publisher accepts from the broker (it only expects CONNACK and PINGRESP).
const MAX_INBOUND: usize = 64 * 1024;
/// Keep-alive announced in CONNECT.
const KEEP_ALIVE_S: u16 = 30;

/// Where and how to publish.
#[derive(Debug, Clone)]
pub struct MqttTarget {
    /// `host:port` of the broker's MQTT (TCP) listener.
    pub addr: String,
    /// Topic prefix; each reading goes to `<prefix>/<sensor id>`.
    pub prefix: String,
}

impl MqttTarget {
    /// Parses `mqtt://host:port` or `host:port` (port 1883 when absent).
    pub fn parse(url: &str, prefix: &str) -> Result<MqttTarget, String> {
        let rest = url.strip_prefix("mqtt://").unwrap_or(url);
        if rest.contains("://") || rest.is_empty() || rest.contains('/') {
            return Err(format!(
                "--mqtt {url:?}: expected mqtt://host:port (TCP; TLS is not supported)"
            ));
        }
        let addr = if rest
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            rest.to_owned()
        } else {
            format!("{rest}:1883")
        };
        let prefix = prefix.trim_end_matches('/');
        if prefix.is_empty() || prefix.contains(['+', '#']) {
            return Err(format!(
                "--mqtt-prefix {prefix:?}: expected a topic without wildcards"
            ));
        }
        Ok(MqttTarget {
            addr,
            prefix: prefix.to_owned(),
        })
    }
}

/// The topic and payload of each reading in a simulator frame.
pub fn frame_to_publishes(frame: &str, prefix: &str) -> Vec<(String, Vec<u8>)> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(frame) else {
        return Vec::new();
    };
    let Some(readings) = v.get("readings").and_then(|r| r.as_array()) else {
        return Vec::new();
    };
    readings
        .iter()
        .filter_map(|r| {
            let id = r.get("id")?.as_str()?;
            let payload = serde_json::json!({ "v": r.get("v")?, "t": r.get("t") });
            Some((format!("{prefix}/{id}"), payload.to_string().into_bytes()))
        })
        .collect()
}

/// Publishes every frame from `subscribe()`'s receivers until the process ends, reconnecting
/// (after 2 s) when the broker goes away.
pub async fn run<F>(target: MqttTarget, mut subscribe: F)
where
    F: FnMut() -> mpsc::Receiver<axum::extract::ws::Utf8Bytes>,
{
    loop {
        if let Err(e) = session(&target, subscribe()).await {
            eprintln!("mqtt: {}: {e}; retrying in 2 s", target.addr);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

async fn session(
    target: &MqttTarget,
    mut frames: mpsc::Receiver<axum::extract::ws::Utf8Bytes>,
) -> Result<(), String> {
    let mut stream = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(&target.addr))
        .await
        .map_err(|_| "connect timed out".to_owned())?
        .map_err(|e| format!("cannot connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let client_id = format!("twinlens-sim-{}", std::process::id());
    let connect = Packet::Connect {
        client_id,
        username: None,
        password: None,
        keep_alive: KEEP_ALIVE_S,
        clean_session: true,
    };
    stream
        .write_all(&encode(&connect))
        .await
        .map_err(|e| e.to_string())?;
    let mut decoder = Decoder::new(MAX_INBOUND);
    let mut buf = [0u8; 4096];
    // CONNACK first.
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .map_err(|_| "no CONNACK within 10 s".to_owned())?
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the broker closed the connection during CONNECT".into());
        }
        decoder.push(&buf[..n]);
        match decoder.next_packet().map_err(|e| e.to_string())? {
            Some(Packet::ConnAck { return_code: 0, .. }) => break,
            Some(Packet::ConnAck { return_code, .. }) => {
                return Err(format!(
                    "the broker refused the connection (CONNACK {return_code})"
                ));
            }
            Some(other) => return Err(format!("expected CONNACK, got {}", other.name())),
            None => {}
        }
    }
    eprintln!(
        "mqtt: publishing the simulation to {} under {}/<sensor id>",
        target.addr, target.prefix
    );
    let mut ping = tokio::time::interval(Duration::from_secs(u64::from(KEEP_ALIVE_S) / 2));
    loop {
        tokio::select! {
            frame = frames.recv() => {
                // The hub ends a receiver that fell behind: subscribe again.
                let Some(frame) = frame else { return Ok(()) };
                let mut out = Vec::new();
                for (topic, payload) in frame_to_publishes(frame.as_str(), &target.prefix) {
                    out.extend(encode(&Packet::Publish { topic, packet_id: None, qos: 0, retain: true, dup: false, payload }));
                }
                stream.write_all(&out).await.map_err(|e| format!("publish failed: {e}"))?;
            }
            _ = ping.tick() => {
                stream.write_all(&encode(&Packet::PingReq)).await.map_err(|e| format!("ping failed: {e}"))?;
            }
            read = stream.read(&mut buf) => {
                let n = read.map_err(|e| e.to_string())?;
                if n == 0 {
                    return Err("the broker closed the connection".into());
                }
                decoder.push(&buf[..n]);
                while let Some(p) = decoder.next_packet().map_err(|e| e.to_string())? {
                    if !matches!(p, Packet::PingResp) {
                        return Err(format!("unexpected {} from the broker", p.name()));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_with_a_default_port_and_refuse_wildcard_prefixes() {
        let t = MqttTarget::parse("mqtt://127.0.0.1:1884", "plant/p101/").unwrap();
        assert_eq!(
            (t.addr.as_str(), t.prefix.as_str()),
            ("127.0.0.1:1884", "plant/p101")
        );
        assert_eq!(
            MqttTarget::parse("broker.local", "p").unwrap().addr,
            "broker.local:1883"
        );
        assert!(MqttTarget::parse("ws://x:9001", "p").is_err());
        assert!(MqttTarget::parse("mqtt://x", "plant/#").is_err());
    }

    #[test]
    fn each_reading_becomes_a_retained_topic_with_value_and_time() {
        let frame = r#"{"t":1,"readings":[{"id":"p101.motor.current","v":48.5,"t":1700000000000},{"id":"door","v":true,"t":5}]}"#;
        let out = frame_to_publishes(frame, "plant");
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].0, "plant/p101.motor.current");
        let payload: serde_json::Value = serde_json::from_slice(&out[0].1).unwrap();
        assert_eq!(
            payload,
            serde_json::json!({ "v": 48.5, "t": 1700000000000u64 })
        );
        assert_eq!(out[1].1, br#"{"t":5,"v":true}"#.to_vec());
        assert!(frame_to_publishes("not json", "p").is_empty());
    }
}
