//! Host benchmarks of the pure core (criterion): what the page does on the CPU besides drawing.
//!
//! - `manifest/parse/demo`: parse and validate the demo manifest;
//! - `manifest/parse/plant-10k`: the generated 10,000-sensor manifest (when generated);
//! - `model/load/demo`: load and flatten the demo GLB;
//! - `model/load/plant`: the generated scaled plant, 1,000 nodes / ~1M triangles (when generated);
//! - `telemetry/decode/1000`: JSON adapter, one frame of 1,000 readings → samples;
//! - `telemetry/decode+apply/1000`: the same, then through the inbox into the sensor store
//!   (throughput is reported per reading, so criterion's elements/s is samples/s);
//! - `telemetry/apply/1000`: only the inbox and store part, on samples decoded beforehand;
//! - `overlay/layout/2000`: declutter layout of 2,000 labels in a 1920×1080 view.
//!
//! The generated plant lives in `bench/generated/` (`twinlens gen-bench-plant --out-dir
//! bench/generated`; `scripts/bench.sh` does this); without it those benchmarks are skipped.
//! `TWINLENS_BENCH_GENERATED` points at another folder.
//!
//! Note: `cargo bench` builds with the release profile, i.e. `opt-level = "z"` and LTO, the
//! optimisation level the shipped wasm uses: figures are for size-optimised code.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test that panics has failed, with its message

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use glam::Vec3;
use serde_json::json;

use twinlens::camera::OrbitCamera;
use twinlens::manifest::Manifest;
use twinlens::model::{Aabb, Resources, load_model};
use twinlens::overlay::layout::{LabelInput, LabelLayout};
use twinlens::overlay::state::SensorState;
use twinlens::telemetry::Adapter;
use twinlens::telemetry::bindings::Bindings;
use twinlens::telemetry::json::JsonAdapter;
use twinlens::telemetry::store::{Inbox, SensorStore};

fn repo_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn generated_dir() -> PathBuf {
    std::env::var_os("TWINLENS_BENCH_GENERATED")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_path("bench/generated"))
}

fn read_optional(path: PathBuf) -> Option<Vec<u8>> {
    match std::fs::read(&path) {
        Ok(b) => Some(b),
        Err(_) => {
            eprintln!(
                "note: {} not found; run `twinlens gen-bench-plant --out-dir bench/generated` to include it",
                path.display()
            );
            None
        }
    }
}

fn manifest_parse(c: &mut Criterion) {
    let demo = std::fs::read(repo_path("www/demo/pump-skid.twin.json")).expect("demo manifest");
    let mut g = c.benchmark_group("manifest/parse");
    g.throughput(Throughput::Bytes(demo.len() as u64));
    g.bench_function("demo", |b| {
        b.iter(|| Manifest::parse(black_box(&demo), "pump-skid.twin.json").expect("valid"))
    });
    if let Some(big) = read_optional(generated_dir().join("plant-10k.twin.json")) {
        g.throughput(Throughput::Bytes(big.len() as u64));
        g.bench_function("plant-10k", |b| {
            b.iter(|| Manifest::parse(black_box(&big), "plant-10k.twin.json").expect("valid"))
        });
    }
    g.finish();
}

fn model_load(c: &mut Criterion) {
    let resources = Resources::new();
    let demo = std::fs::read(repo_path("www/demo/pump-skid.glb")).expect("demo GLB");
    let mut g = c.benchmark_group("model/load");
    g.throughput(Throughput::Bytes(demo.len() as u64));
    g.bench_function("demo", |b| {
        b.iter(|| load_model(black_box(&demo), "pump-skid.glb", &resources).expect("valid"))
    });
    if let Some(plant) = read_optional(generated_dir().join("plant.glb")) {
        g.throughput(Throughput::Bytes(plant.len() as u64));
        g.sample_size(10);
        g.measurement_time(Duration::from_secs(10));
        g.bench_function("plant", |b| {
            b.iter(|| load_model(black_box(&plant), "plant.glb", &resources).expect("valid"))
        });
    }
    g.finish();
}

/// A manifest of `n` sensors with a JSON source shaped like `bench/feed.mjs` sends.
fn telemetry_manifest(n: usize) -> Manifest {
    let sensors: Vec<_> = (0..n)
        .map(|i| {
            json!({
                "id": format!("plant.u{:04}.s{}", i / 10, i % 10),
                "name": format!("Sensor {i}"),
                "node": format!("Unit_{:04}", i / 10),
                "unit": "%",
                "range": [0, 100],
                "warning": { "above": 80 },
                "alarm": { "above": 95 },
                "maxAgeSeconds": 5
            })
        })
        .collect();
    let doc = json!({
        "name": "bench",
        "model": { "url": "plant.glb" },
        "sensors": sensors,
        "source": {
            "url": "ws://127.0.0.1:9/",
            "adapter": "json",
            "payload": { "readings": "/readings", "id": "/id", "value": "/v", "timestamp": "/t" }
        }
    });
    Manifest::parse(doc.to_string().as_bytes(), "bench.twin.json").expect("bench manifest")
}

/// One frame of `batch` readings starting at sensor `first`, all stamped `t`.
fn frame_text(manifest: &Manifest, first: usize, batch: usize, t: f64, seq: u64) -> String {
    let n = manifest.sensors.len();
    let readings: Vec<_> = (0..batch)
        .map(|k| {
            let i = (first + k) % n;
            let v = ((i as u64 * 7919 + seq * 104_729) % 10_000) as f64 / 100.0;
            json!({ "id": manifest.sensors[i].id, "v": v, "t": t })
        })
        .collect();
    json!({ "readings": readings }).to_string()
}

fn telemetry(c: &mut Criterion) {
    const SENSORS: usize = 10_000;
    const BATCH: usize = 1_000;
    let manifest = telemetry_manifest(SENSORS);
    let source = manifest.source.clone().expect("source");
    let mut adapter = JsonAdapter::new(&source, Bindings::from_manifest(&manifest), 16 << 20);
    let mut store = SensorStore::new(&manifest);
    let mut inbox = Inbox::with_sensors(SENSORS);
    // Timestamps advance per frame so every sample is newer than the one it replaces; they
    // start now so the store trusts them (it ignores source times far in the future).
    let t0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0);
    let mut seq: u64 = 0;
    let mut next_frame = move || {
        seq += 1;
        let t = t0 + seq as f64;
        let first = (seq as usize * BATCH) % SENSORS;
        (frame_text(&manifest, first, BATCH, t, seq), t)
    };

    let mut g = c.benchmark_group("telemetry");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("decode/1000", |b| {
        b.iter_batched_ref(
            &mut next_frame,
            |(text, t)| {
                let d = adapter.on_text(text, *t);
                assert_eq!(d.samples.len(), BATCH);
                d
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("decode+apply/1000", |b| {
        b.iter_batched_ref(
            &mut next_frame,
            |(text, t)| {
                let d = adapter.on_text(text, *t);
                for s in d.samples {
                    inbox.push(s);
                }
                inbox.drain_into(&mut store)
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("apply/1000", |b| {
        b.iter_batched(
            || {
                let (text, t) = next_frame();
                adapter.on_text(&text, t).samples
            },
            |samples| {
                for s in samples {
                    inbox.push(s);
                }
                inbox.drain_into(&mut store)
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
    eprintln!(
        "note: sensor store after the telemetry benchmarks: {:.1} MB",
        store.memory_bytes() as f64 / 1e6
    );
}

fn label_layout(c: &mut Criterion) {
    const LABELS: usize = 2_000;
    const VIEWPORT: [f32; 2] = [1920.0, 1080.0];
    // Labels over a 40 m × 25 m plant floor on a grid, at heights 1–4 m, a few in alarm and
    // warning, as the scaled plant scenario has them.
    let labels: Vec<LabelInput> = (0..LABELS)
        .map(|i| {
            let (col, row) = ((i % 50) as f32, (i / 50) as f32);
            let anchor = Vec3::new(
                col * 0.8 - 20.0,
                1.0 + (i % 7) as f32 * 0.5,
                row * 0.6 - 12.0,
            );
            let state = match i % 40 {
                0 => SensorState::Alarm,
                1..=3 => SensorState::Warning,
                4 => SensorState::Stale,
                _ => SensorState::Normal,
            };
            LabelInput {
                position: anchor + Vec3::new(0.0, 0.3, 0.0),
                anchor,
                priority: (i % 3) as i32,
                state,
                size_px: [140.0, 36.0],
            }
        })
        .collect();
    let mut camera = OrbitCamera::default();
    camera.frame(
        Aabb {
            min: Vec3::new(-21.0, 0.0, -13.0),
            max: Vec3::new(21.0, 5.0, 13.0),
        },
        VIEWPORT[0] / VIEWPORT[1],
    );
    let view = camera.matrices(VIEWPORT[0] / VIEWPORT[1]);
    let mut layout = LabelLayout::new();
    let mut g = c.benchmark_group("overlay/layout");
    g.throughput(Throughput::Elements(LABELS as u64));
    g.bench_function("2000", |b| {
        b.iter(|| layout.layout(black_box(&labels), &view, VIEWPORT).len())
    });
    g.finish();
}

criterion_group!(benches, manifest_parse, model_load, telemetry, label_layout);
criterion_main!(benches);
