//! Telemetry at plant scale (10,000 sensors): history memory, allocations on the apply path,
//! and (ignored by default) its CPU cost per sample.
//!
//! `cargo test --release --test telemetry_scale -- --ignored --nocapture` prints the
//! throughput in on-CPU time of the measuring thread, so other work on a shared machine
//! does not count.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test that panics has failed, with its message

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fmt::Write as _;

use serde_json::json;

use twinlens::manifest::Manifest;
use twinlens::telemetry::bindings::Bindings;
use twinlens::telemetry::json::JsonAdapter;
use twinlens::telemetry::store::{Applied, Inbox, SensorStore};
use twinlens::telemetry::{Adapter, Quality, Sample, Value};

/// Counts this thread's allocations (tests run in parallel threads).
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: as for `alloc` and `dealloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

const SENSORS: usize = 10_000;
/// 2026-11-25T14:07:30Z, a multiple of every resolution used here.
const T0: f64 = 1_795_615_650_000.0;

/// A plant manifest of `n` sensors keeping `window_s` seconds at `resolution_s`, with a JSON
/// source shaped like the bench feed (`{"readings":[{"id","v","t"}]}`).
fn plant(n: usize, window_s: f64, resolution_s: f64) -> Manifest {
    let sensors: Vec<_> = (0..n)
        .map(|i| {
            json!({
                "id": format!("plant.u{:04}.s{}", i / 10, i % 10),
                "name": format!("Sensor {i}"), "node": format!("Unit_{:04}", i / 10),
                "unit": "%", "maxAgeSeconds": 5
            })
        })
        .collect();
    let doc = json!({
        "name": "plant", "model": { "url": "plant.glb" }, "sensors": sensors,
        "history": { "windowSeconds": window_s, "resolutionSeconds": resolution_s },
        "source": {
            "url": "ws://127.0.0.1:9/", "adapter": "json",
            "payload": { "readings": "/readings", "id": "/id", "value": "/v", "timestamp": "/t" }
        }
    });
    match Manifest::parse(doc.to_string().as_bytes(), "plant.twin.json") {
        Ok(m) => m,
        Err(e) => panic!("{e}"),
    }
}

fn reading(sensor: usize, v: f64, t: f64) -> Sample {
    Sample {
        sensor,
        value: Value::Number(v),
        unit: None,
        source_ms: Some(t),
        received_ms: t,
        quality: Quality::Good,
    }
}

/// One frame of `batch` readings from sensor `first` on, all stamped `t`.
fn frame(m: &Manifest, first: usize, batch: usize, t: f64, seq: u64) -> String {
    let mut text = String::from(r#"{"readings":["#);
    for k in 0..batch {
        let i = (first + k) % m.sensors.len();
        let v = ((i as u64 * 7919 + seq * 104_729) % 10_000) as f64 / 100.0;
        let id = m.sensors.get(i).map_or("", |s| s.id.as_str());
        let _ = write!(text, r#"{{"id":"{id}","v":{v},"t":{t}}},"#);
    }
    text.pop();
    text.push_str("]}");
    text
}

/// The plant-scale budget: 10,000 sensors each with a full 600 s trend fit in well under
/// 30 MB. Memory depends on the buckets filled, not on the rate within a bucket, so all
/// sensors report once a second for the whole window and the last seconds at 10 Hz; one
/// sensor reports at 10 Hz throughout and must cost the same.
#[test]
fn ten_thousand_sensors_with_a_full_600_s_trend_fit_in_30_mb() {
    let m = plant(SENSORS, 600.0, 1.0);
    let mut store = SensorStore::new(&m);
    let empty = store.memory_bytes();
    assert!(empty < 3 << 20, "{empty} bytes before any reading");
    for s in 0..605 {
        let t = T0 + f64::from(s) * 1000.0;
        let ticks = if s < 600 { 1 } else { 10 };
        for tick in 0..ticks {
            let t = t + f64::from(tick) * 100.0;
            for i in 1..SENSORS {
                store.apply(reading(i, (i + s as usize) as f64 * 0.25, t));
            }
        }
        for tick in 0..10 {
            let t = t + f64::from(tick) * 100.0;
            assert_eq!(
                store.apply(reading(0, f64::from(tick), t)),
                Applied::Updated
            );
        }
    }
    let full = store.history_buffer(1).map(|h| h.len());
    assert_eq!(
        full,
        Some(601),
        "a full window of 1 s buckets, both ends included"
    );
    let per_sensor = store.history_buffer(1).map(|h| h.memory_bytes());
    assert_eq!(
        store.history_buffer(0).map(|h| h.memory_bytes()),
        per_sensor,
        "10 Hz costs what 1 Hz costs"
    );
    assert!(
        per_sensor.is_some_and(|b| b <= 601 * 4),
        "{per_sensor:?} bytes for 601 buckets"
    );
    let total = store.memory_bytes();
    println!(
        "{SENSORS} sensors × 600 s: {:.1} MB ({:.1} MB before any reading)",
        total as f64 / 1e6,
        empty as f64 / 1e6
    );
    assert!(total < 30_000_000, "{total} bytes");
    // A further minute changes nothing: the buffers are at their capacity.
    for s in 605..665 {
        let t = T0 + f64::from(s) * 1000.0;
        for i in 0..SENSORS {
            store.apply(reading(i, 1.0, t));
        }
    }
    assert_eq!(store.memory_bytes(), total, "no growth once full");
}

/// After warm-up, decoding and applying a frame of 1,000 numeric readings allocates per
/// frame (the sample vector), not per reading, and the store's memory stays put.
#[test]
fn applying_json_frames_does_not_allocate_per_reading() {
    let m = plant(SENSORS, 60.0, 1.0);
    let Some(source) = m.source.clone() else {
        panic!("no source")
    };
    let mut adapter = JsonAdapter::new(&source, Bindings::from_manifest(&m), 16 << 20);
    let mut store = SensorStore::new(&m);
    let mut inbox = Inbox::with_sensors(SENSORS);
    // Two rounds of 20 frames, each sensor twice a round, source times rising throughout.
    let frames: Vec<String> = (0..40u32)
        .map(|f| {
            let first = (f as usize * 1000) % SENSORS;
            frame(&m, first, 1000, T0 + f64::from(f) * 100.0, u64::from(f))
        })
        .collect();
    let (warm_up, measured) = frames.split_at(20);
    let mut run = |store: &mut SensorStore, frames: &[String], offset_ms: f64| {
        for (f, text) in frames.iter().enumerate() {
            let now = T0 + offset_ms + f as f64 * 100.0;
            let d = adapter.on_text(text, now);
            assert!(d.bad.is_empty(), "{:?}", d.bad);
            assert_eq!(d.samples.len(), 1000);
            for s in d.samples {
                inbox.push(s);
            }
            assert_eq!(inbox.drain_into(store), 1000, "{:?}", store.counters());
        }
    };
    // Warm-up: every sensor reports twice, so every history and buffer has its first size.
    run(&mut store, warm_up, 0.0);
    let memory = store.memory_bytes();
    let before = allocations();
    run(&mut store, measured, 2000.0);
    let per_frame = (allocations() - before) as f64 / measured.len() as f64;
    assert!(
        per_frame <= 4.0,
        "{per_frame} allocations per frame of 1,000 readings"
    );
    assert_eq!(
        store.memory_bytes(),
        memory,
        "same-bucket readings take no memory"
    );
    assert_eq!(store.counters().updates, 2 * 20 * 1000);
}

/// On-CPU nanoseconds of this thread so far (Linux), or None elsewhere.
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Prints the JSON path's cost per reading at plant scale: frames of 1,000 readings over
/// 10,000 sensors (as `benches/core.rs` sends them), decoded, queued and applied.
#[test]
#[ignore]
fn json_apply_throughput() {
    const ROUND: usize = 300;
    let m = plant(SENSORS, 600.0, 1.0);
    let Some(source) = m.source.clone() else {
        panic!("no source")
    };
    let mut adapter = JsonAdapter::new(&source, Bindings::from_manifest(&m), 16 << 20);
    let mut store = SensorStore::new(&m);
    let mut inbox = Inbox::with_sensors(SENSORS);
    // Distinct frames, source times rising throughout so every reading is applied (ten per
    // sensor per simulated second, the 10 Hz plant case).
    let frames: Vec<String> = (0..4 * ROUND)
        .map(|f| {
            let first = (f * 1000) % SENSORS;
            frame(&m, first, 1000, T0 + f as f64 * 10.0, f as u64)
        })
        .collect();
    let (warm_up, rest) = frames.split_at(ROUND);
    let mut measure = |frames: &[String], apply: bool| {
        let (Some(cpu0), wall0) = (thread_cpu_ns(), std::time::Instant::now()) else {
            panic!("no /proc/thread-self/schedstat")
        };
        let mut n = 0usize;
        for (f, text) in frames.iter().enumerate() {
            let d = adapter.on_text(text, T0 + f as f64 * 10.0);
            n += d.samples.len();
            if apply {
                for s in d.samples {
                    inbox.push(s);
                }
                inbox.drain_into(&mut store);
            }
        }
        let cpu = thread_cpu_ns().unwrap_or(cpu0) - cpu0;
        let wall = wall0.elapsed().as_nanos() as f64;
        (cpu as f64 / n as f64 / 1e3, wall / n as f64 / 1e3)
    };
    measure(warm_up, true);
    for chunk in rest.chunks(ROUND) {
        let (cpu, wall) = measure(chunk, false);
        println!("decode:       {cpu:.3} µs/sample CPU ({wall:.3} wall)");
        let (cpu, wall) = measure(chunk, true);
        println!("decode+apply: {cpu:.3} µs/sample CPU ({wall:.3} wall)");
    }
    println!("store: {:.1} MB", store.memory_bytes() as f64 / 1e6);
}
