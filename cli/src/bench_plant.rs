//! The scaled plant of the benchmark suite (`twinlens gen-bench-plant`): a process plant floor of
//! many units (tanks, columns, vessels, pumps, valves, instruments) as one self-contained GLB,
//! and a manifest binding sensors to its units.
//!
//! It stands in for a CAD export of a plant area: most units have their own mesh (each tank's
//! size is baked into its vertices, as CAD exporters write them), while standard parts (valves,
//! instruments) share one mesh each through glTF mesh reuse, which viewers can instance.
//!
//! Everything is deterministic: the same arguments give the same bytes.
//!
//! Node `Unit_0000` … `Unit_NNNN` (one per unit, each with a mesh) hang under a root `Plant`.
//! Sensor `i` is bound to unit `i % nodes` with id `plant.u<unit>.s<i / nodes>`, range 0..100,
//! warning above 80, alarm above 95: `bench/feed.mjs` sends values in that range.

use std::f32::consts::{FRAC_PI_2, PI, TAU};

use serde_json::{Value, json};

/// Materials of the plant: name and linear base colour.
const MATERIALS: [(&str, [f32; 3]); 6] = [
    ("VesselWhite", [0.80, 0.80, 0.78]),
    ("ColumnGrey", [0.45, 0.47, 0.50]),
    ("PumpBlue", [0.05, 0.18, 0.45]),
    ("ValveRed", [0.60, 0.04, 0.03]),
    ("InstrumentYellow", [0.85, 0.60, 0.02]),
    ("ExchangerGreen", [0.08, 0.30, 0.12]),
];

/// What a unit is; decides its outline and material.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tank,
    Column,
    Vessel,
    Pump,
    Valve,
    Instrument,
}

impl Kind {
    /// Units cycle through a fixed pattern: a quarter are standard parts (shared meshes).
    fn of(unit: usize) -> Kind {
        match unit % 8 {
            0 | 4 => Kind::Tank,
            1 => Kind::Column,
            2 | 6 => Kind::Vessel,
            5 => Kind::Pump,
            3 => Kind::Valve,
            _ => Kind::Instrument,
        }
    }

    fn material(self) -> usize {
        match self {
            Kind::Tank => 0,
            Kind::Column => 1,
            Kind::Pump => 2,
            Kind::Valve => 3,
            Kind::Instrument => 4,
            Kind::Vessel => 5,
        }
    }

    /// Standard parts share one mesh per kind.
    fn shared(self) -> bool {
        matches!(self, Kind::Valve | Kind::Instrument)
    }
}

/// Small deterministic generator (SplitMix64) for sizes; also drives `gen-assembly`.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..hi`.
    pub(crate) fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * ((self.next() >> 40) as f32 / (1u64 << 24) as f32)
    }
}

/// A surface of revolution about +Y: `profile` points (radius, height) from the bottom centre
/// to the top centre, swept through `seg` segments. Gives `2 * seg * (profile.len() - 1)`
/// triangles, none degenerate (the poles keep a tiny radius).
struct Mesh {
    positions: Vec<[f32; 3]>,
    normals: Vec<[f32; 3]>,
    indices: Vec<u32>,
    material: usize,
}

fn lathe(profile: &[(f32, f32)], seg: usize, material: usize) -> Mesh {
    let rows = profile.len();
    let mut positions = Vec::with_capacity(rows * (seg + 1));
    let mut normals = Vec::with_capacity(rows * (seg + 1));
    for (k, &(r, y)) in profile.iter().enumerate() {
        // Smooth normal from the neighbours' tangent in the (radius, height) plane.
        let (r0, y0) = profile[k.saturating_sub(1)];
        let (r1, y1) = profile[(k + 1).min(rows - 1)];
        let (dr, dy) = (r1 - r0, y1 - y0);
        let len = (dr * dr + dy * dy).sqrt().max(1e-12);
        let (nr, ny) = (dy / len, -dr / len);
        for s in 0..=seg {
            // The seam reuses the start angle exactly so the ring closes without a crack.
            let a = TAU * (s % seg) as f32 / seg as f32;
            let (sin, cos) = a.sin_cos();
            positions.push([r * cos, y, r * sin]);
            normals.push([nr * cos, ny, nr * sin]);
        }
    }
    let mut indices = Vec::with_capacity(6 * seg * (rows - 1));
    let stride = (seg + 1) as u32;
    for k in 0..rows as u32 - 1 {
        for s in 0..seg as u32 {
            let a = k * stride + s;
            let b = a + stride;
            // Counter-clockwise seen from outside (normals point outwards).
            indices.extend_from_slice(&[a, b, a + 1, a + 1, b, b + 1]);
        }
    }
    Mesh {
        positions,
        normals,
        indices,
        material,
    }
}

/// Segment and ring counts whose triangle count `2 * seg * rings` is closest to `target`.
fn tessellation(target: usize) -> (usize, usize) {
    let mut best = (8, 1, usize::MAX);
    for seg in 8..=64 {
        let rings = ((target as f64 / (2.0 * seg as f64)).round() as usize).max(2);
        let err = (2 * seg * rings).abs_diff(target);
        if err < best.2 {
            best = (seg, rings, err);
        }
    }
    (best.0, best.1)
}

/// The outline of a unit as `rings + 1` (radius, height) points, bottom to top.
fn profile(kind: Kind, rings: usize, rng: &mut Rng) -> Vec<(f32, f32)> {
    // Piecewise outline: a flat bottom, a body given by `body(t)`, a head. `u` runs 0..1 along
    // it; the bottom and head take fixed shares so every unit reads as its kind.
    let (radius, height) = match kind {
        Kind::Tank => (rng.range(0.6, 1.0), rng.range(1.5, 3.0)),
        Kind::Column => (rng.range(0.3, 0.5), rng.range(4.0, 7.0)),
        Kind::Vessel => (rng.range(0.35, 0.55), rng.range(2.0, 3.2)),
        Kind::Pump => (rng.range(0.25, 0.35), rng.range(0.6, 0.9)),
        Kind::Valve => (0.18, 0.5),
        Kind::Instrument => (0.08, 1.2),
    };
    let pole = radius * 0.02;
    (0..=rings)
        .map(|i| {
            let u = i as f32 / rings as f32;
            match kind {
                // Flat bottom, straight wall, dished head.
                Kind::Tank | Kind::Column | Kind::Vessel => {
                    if u < 0.1 {
                        (pole + (radius - pole) * u / 0.1, 0.0)
                    } else if u < 0.75 {
                        (radius, height * (u - 0.1) / 0.65)
                    } else {
                        let a = FRAC_PI_2 * (u - 0.75) / 0.25;
                        (pole.max(radius * a.cos()), height + radius * 0.5 * a.sin())
                    }
                }
                // Casing bulge: a squashed sphere on a short pedestal.
                Kind::Pump => {
                    let a = PI * u;
                    (
                        pole.max(radius * a.sin() * (1.0 + 0.3 * (3.0 * a).sin())),
                        height * (1.0 - a.cos()) * 0.5,
                    )
                }
                // Two flanged ends around a waist, and a handwheel-like rim on top.
                Kind::Valve => {
                    let a = TAU * u;
                    (
                        pole.max(radius * (0.7 + 0.3 * (2.0 * a).cos()) * (PI * u).sin().sqrt()),
                        height * u,
                    )
                }
                // A thin stem with a round head.
                Kind::Instrument => {
                    if u < 0.7 {
                        (pole.max(radius * 0.4), height * 0.8 * u / 0.7)
                    } else {
                        let a = PI * (u - 0.7) / 0.3;
                        (
                            pole.max(radius * 1.8 * a.sin()),
                            height * 0.8 + radius * 1.8 * (1.0 - a.cos()),
                        )
                    }
                }
            }
        })
        .collect()
}

/// Id of sensor `i` of a plant with `nodes` units.
pub fn sensor_id(i: usize, nodes: usize) -> String {
    format!("plant.u{:04}.s{}", i % nodes.max(1), i / nodes.max(1))
}

/// Name of unit `u`.
pub fn unit_name(u: usize) -> String {
    format!("Unit_{u:04}")
}

/// Builds the plant: `nodes` units with about `triangles` triangles in all, and a manifest
/// (pretty JSON text) binding `sensors` sensors to them with the model at `plant.glb`.
#[expect(
    clippy::expect_used,
    reason = "serialising values built in memory cannot fail"
)]
pub fn build_plant(nodes: usize, triangles: usize, sensors: usize) -> (Vec<u8>, String) {
    let nodes = nodes.max(1);
    let per_unit = (triangles / nodes).max(16);
    let (seg, rings) = tessellation(per_unit);

    // Meshes: one per unit, except the standard parts, which share one mesh per kind.
    let mut rng = Rng(0x7417_1E25);
    let mut meshes: Vec<Mesh> = Vec::new();
    let mut shared: [Option<usize>; 2] = [None, None];
    let mut unit_mesh = Vec::with_capacity(nodes);
    for u in 0..nodes {
        let kind = Kind::of(u);
        let slot = match kind {
            Kind::Valve => Some(0),
            Kind::Instrument => Some(1),
            _ => None,
        };
        if let Some(existing) = slot.and_then(|s| shared[s]) {
            unit_mesh.push((existing, kind));
            continue;
        }
        meshes.push(lathe(&profile(kind, rings, &mut rng), seg, kind.material()));
        let index = meshes.len() - 1;
        if let Some(s) = slot {
            shared[s] = Some(index);
        }
        debug_assert_eq!(kind.shared(), slot.is_some());
        unit_mesh.push((index, kind));
    }

    // Binary buffer: per mesh positions, normals, indices (u16 where they fit), 4-aligned.
    let mut bin: Vec<u8> = Vec::new();
    let mut views = Vec::new();
    let mut accessors = Vec::new();
    let mut gltf_meshes = Vec::new();
    let mut push_view = |bin: &mut Vec<u8>, data: &[u8], target: u32| -> usize {
        while !bin.len().is_multiple_of(4) {
            bin.push(0);
        }
        views.push(json!({
            "buffer": 0, "byteOffset": bin.len(), "byteLength": data.len(), "target": target
        }));
        bin.extend_from_slice(data);
        views.len() - 1
    };
    for (m, mesh) in meshes.iter().enumerate() {
        let mut lo = [f32::INFINITY; 3];
        let mut hi = [f32::NEG_INFINITY; 3];
        for p in &mesh.positions {
            for c in 0..3 {
                lo[c] = lo[c].min(p[c]);
                hi[c] = hi[c].max(p[c]);
            }
        }
        let floats = |v: &[[f32; 3]]| {
            v.iter()
                .flatten()
                .flat_map(|f| f.to_le_bytes())
                .collect::<Vec<u8>>()
        };
        let pos_view = push_view(&mut bin, &floats(&mesh.positions), 34962);
        let nrm_view = push_view(&mut bin, &floats(&mesh.normals), 34962);
        let wide = mesh.positions.len() > u16::MAX as usize;
        let idx_bytes: Vec<u8> = if wide {
            mesh.indices.iter().flat_map(|i| i.to_le_bytes()).collect()
        } else {
            mesh.indices
                .iter()
                .flat_map(|&i| (i as u16).to_le_bytes())
                .collect()
        };
        let idx_view = push_view(&mut bin, &idx_bytes, 34963);
        let base = accessors.len();
        accessors.push(json!({
            "bufferView": pos_view, "componentType": 5126, "count": mesh.positions.len(),
            "type": "VEC3", "min": lo, "max": hi
        }));
        accessors.push(json!({
            "bufferView": nrm_view, "componentType": 5126, "count": mesh.normals.len(), "type": "VEC3"
        }));
        accessors.push(json!({
            "bufferView": idx_view, "componentType": if wide { 5125 } else { 5123 },
            "count": mesh.indices.len(), "type": "SCALAR"
        }));
        gltf_meshes.push(json!({
            "name": format!("Mesh_{m:04}"),
            "primitives": [{
                "attributes": { "POSITION": base, "NORMAL": base + 1 },
                "indices": base + 2,
                "material": mesh.material
            }]
        }));
    }
    while !bin.len().is_multiple_of(4) {
        bin.push(0);
    }

    // Units on a floor grid, 3 m apart, aisles every 10 units; vessels lie horizontally.
    let cols = ((nodes as f64).sqrt() * 1.6).ceil().max(1.0) as usize;
    let rows = nodes.div_ceil(cols);
    let pitch = 3.0f32;
    let aisle = |i: usize| (i / 10) as f32 * 2.0;
    let width = (cols - 1) as f32 * pitch + aisle(cols - 1);
    let depth = (rows - 1) as f32 * pitch + aisle(rows - 1);
    let mut gltf_nodes = vec![json!({
        "name": "Plant",
        "children": (1..=nodes).collect::<Vec<_>>()
    })];
    for (u, &(mesh, kind)) in unit_mesh.iter().enumerate() {
        let (c, r) = (u % cols, u / cols);
        let x = c as f32 * pitch + aisle(c) - width * 0.5;
        let z = r as f32 * pitch + aisle(r) - depth * 0.5;
        let mut node = json!({ "name": unit_name(u), "mesh": mesh });
        if kind == Kind::Vessel {
            // Lying on its side (about +Z), raised so it rests on the floor.
            let h = (FRAC_PI_2 * 0.5).sin();
            node["rotation"] = json!([0.0, 0.0, h, (FRAC_PI_2 * 0.5).cos()]);
            node["translation"] = json!([x + 1.3, 0.6, z]);
        } else {
            node["translation"] = json!([x, 0.0, z]);
        }
        gltf_nodes.push(node);
    }

    let materials: Vec<Value> = MATERIALS
        .iter()
        .map(|(name, rgb)| {
            json!({
                "name": name,
                "pbrMetallicRoughness": {
                    "baseColorFactor": [rgb[0], rgb[1], rgb[2], 1.0],
                    "metallicFactor": 0.2,
                    "roughnessFactor": 0.6
                }
            })
        })
        .collect();
    let doc = json!({
        "asset": { "version": "2.0", "generator": "twinlens gen-bench-plant" },
        "scene": 0,
        "scenes": [{ "name": "Plant", "nodes": [0] }],
        "nodes": gltf_nodes,
        "meshes": gltf_meshes,
        "materials": materials,
        "accessors": accessors,
        "bufferViews": views,
        "buffers": [{ "byteLength": bin.len() }]
    });
    let glb = write_glb(&doc, &bin);

    let sensor_list: Vec<Value> = (0..sensors)
        .map(|i| {
            let unit = i % nodes;
            json!({
                "id": sensor_id(i, nodes),
                "name": format!("{} {} #{}", kind_name(Kind::of(unit)), unit, i / nodes),
                "node": unit_name(unit),
                "unit": "%",
                "range": [0, 100],
                "warning": { "above": 80 },
                "alarm": { "above": 95 },
                "maxAgeSeconds": 5
            })
        })
        .collect();
    let manifest = json!({
        "name": format!("Scaled plant ({nodes} units, {sensors} sensors)"),
        "description": "Generated by twinlens gen-bench-plant for the benchmark suite.",
        "model": { "url": "plant.glb", "unitScale": 1.0, "upAxis": "y" },
        "sensors": sensor_list
    });
    let text = serde_json::to_string(&manifest).expect("manifest serialises");
    (glb, text)
}

/// Adds a `json` live source at `url` to a manifest built by [`build_plant`], in the message
/// shape `bench/feed.mjs` sends: `{"readings":[{"id":..,"v":..,"t":..}, ...]}`.
#[expect(
    clippy::expect_used,
    reason = "the input is a manifest this module generated"
)]
pub fn with_live_source(manifest: &str, url: &str) -> String {
    let mut doc: Value = serde_json::from_str(manifest).expect("a manifest from build_plant");
    doc["source"] = json!({
        "url": url,
        "adapter": "json",
        // 10,000 readings in one frame are about 600 kB; leave room for larger batches.
        "maxMessageBytes": 8 * 1024 * 1024,
        "payload": { "readings": "/readings", "id": "/id", "value": "/v", "timestamp": "/t" }
    });
    serde_json::to_string(&doc).expect("manifest serialises")
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Tank => "Tank",
        Kind::Column => "Column",
        Kind::Vessel => "Vessel",
        Kind::Pump => "Pump",
        Kind::Valve => "Valve",
        Kind::Instrument => "Instrument",
    }
}

/// GLB container: header, JSON chunk (space-padded), BIN chunk (zero-padded).
#[expect(
    clippy::expect_used,
    reason = "serialising into memory cannot fail and the generated GLB is far under 4 GiB"
)]
fn write_glb(doc: &Value, bin: &[u8]) -> Vec<u8> {
    let json = serde_json::to_vec(doc).expect("glTF JSON serialises");
    let mut out = Vec::with_capacity(28 + json.len() + bin.len() + 6);
    write_glb_chunks(&mut out, &json, &[bin]).expect("a GLB under 4 GiB writes into memory");
    out
}

/// Writes a GLB container: header, `json` as the JSON chunk (space-padded) and the pieces of
/// `bin` one after another as the BIN chunk (zero-padded), so a large buffer is never joined in
/// memory first. Fails when the whole would pass GLB's 4 GiB length field.
pub(crate) fn write_glb_chunks(
    out: &mut impl std::io::Write,
    json: &[u8],
    bin: &[&[u8]],
) -> std::io::Result<()> {
    let json_padded = json.len().next_multiple_of(4);
    let bin_len: usize = bin.iter().map(|b| b.len()).sum();
    let bin_padded = bin_len.next_multiple_of(4);
    let total = 12 + 8 + json_padded + 8 + bin_padded;
    let len32 = |n: usize| {
        u32::try_from(n).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("a GLB holds at most 4 GiB; this one would be {total} bytes"),
            )
        })
    };
    out.write_all(b"glTF")?;
    out.write_all(&2u32.to_le_bytes())?;
    out.write_all(&len32(total)?.to_le_bytes())?;
    out.write_all(&len32(json_padded)?.to_le_bytes())?;
    out.write_all(b"JSON")?;
    out.write_all(json)?;
    out.write_all(&b"   "[..json_padded - json.len()])?;
    out.write_all(&len32(bin_padded)?.to_le_bytes())?;
    out.write_all(b"BIN\0")?;
    for piece in bin {
        out.write_all(piece)?;
    }
    out.write_all(&[0u8; 3][..bin_padded - bin_len])
}

#[cfg(test)]
mod tests {
    use super::*;
    use twinlens::manifest::Manifest;
    use twinlens::model::{Resources, load_model};

    #[test]
    fn small_plant_loads_and_binds_every_sensor() {
        let (glb, text) = build_plant(40, 40_000, 90);
        let model = load_model(&glb, "plant.glb", &Resources::new()).expect("valid GLB");
        assert_eq!(model.nodes.len(), 41);
        let tris = model.triangle_count();
        assert!((38_000..=42_000).contains(&tris), "{tris} triangles");
        let manifest = Manifest::parse(text.as_bytes(), "plant.twin.json").expect("valid manifest");
        assert_eq!(manifest.sensors.len(), 90);
        assert!(manifest.check_against(&model).is_empty());
        assert_eq!(manifest.bound_sensor_count(&model), 90);
        assert_eq!(manifest.sensors[41].id, sensor_id(41, 40));
        assert_eq!(manifest.sensors[41].node, "Unit_0001");
        // Standard parts share meshes: fewer meshes than units.
        assert!(model.meshes.len() < 40);
    }

    #[test]
    fn live_source_is_a_valid_json_source() {
        let (_, text) = build_plant(10, 2_000, 20);
        let live = with_live_source(&text, "ws://127.0.0.1:9901/");
        let m = Manifest::parse(live.as_bytes(), "live.twin.json").expect("valid");
        let src = m.source.expect("source");
        assert_eq!(src.url, "ws://127.0.0.1:9901/");
        assert_eq!(src.payload.readings.as_deref(), Some("/readings"));
    }

    #[test]
    fn output_is_deterministic_and_triangle_count_tracks_the_target() {
        assert_eq!(build_plant(16, 8_000, 16), build_plant(16, 8_000, 16));
        let (seg, rings) = tessellation(1000);
        assert!((2 * seg * rings).abs_diff(1000) <= 8, "{seg} x {rings}");
    }
}
