//! The simulated plant behind `/ws/sim`: which manifest it follows, the loop that steps it in
//! real time and publishes one frame per tick, and the wire format of a frame:
//! `{"t":<epoch ms>,"readings":[{"id":"p101.motor.current","v":47.3,"t":<epoch ms>},...]}`.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::ServeArgs;
use super::hub::Hub;
use crate::sim::{FaultPhase, Plant, Value};

/// The manifest the simulation follows: `--manifest`, which must load, or the demo manifest in
/// `--dir`, without which the simulation is off.
pub fn load_sensors(
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

pub fn clock_seed() -> u64 {
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

/// Steps the plant in real time and publishes one frame per tick.
pub async fn run_sim(mut plant: Plant, hub: Arc<Hub>, rate_hz: f64) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
