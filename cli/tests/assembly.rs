//! `twinlens gen-assembly` as a user runs it: a CAD-like assembly whose every part is its own node
//! and mesh three levels below the root, laid out on a floor grid, byte-for-byte reproducible,
//! loadable by the viewer's own loader and accepted by `twinlens validate`; bad arguments are
//! refused with a message naming the flag and its limit.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test that panics has failed, with its message

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use twinlens::manifest::Manifest;
use twinlens::model::{Resources, TwinModel, load_model};

/// The layout's fixed fan-outs, as `gen-assembly --help` and the module doc state them.
const PARTS_PER_SUB_UNIT: usize = 24;
const SUB_UNITS_PER_UNIT: usize = 16;
const UNIT_PITCH_M: f32 = 34.0;

fn twinlens(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_twinlens"))
        .args(args)
        .output()
        .expect("the twinlens binary starts");
    assert_ne!(
        out.status.code(),
        Some(101),
        "twinlens {args:?} panicked: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A scratch folder per test, under Cargo's target tmp dir.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

/// Runs `gen-assembly --json` with `extra` arguments and returns its summary.
fn generate(out: &Path, parts: usize, extra: &[&str]) -> Value {
    let parts = parts.to_string();
    let mut args = vec![
        "gen-assembly",
        "--parts",
        &parts,
        "--out",
        path_str(out),
        "--json",
    ];
    args.extend_from_slice(extra);
    let run = twinlens(&args);
    assert!(
        run.status.success(),
        "gen-assembly {args:?} failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    serde_json::from_slice(&run.stdout).expect("one JSON summary")
}

fn load(path: &Path) -> TwinModel {
    let bytes = std::fs::read(path).expect("the GLB was written");
    load_model(&bytes, &path.display().to_string(), &Resources::new())
        .unwrap_or_else(|e| panic!("the viewer's loader refuses {}: {e}", path.display()))
}

/// Nodes expected for `parts` parts: root, units, sub-units, parts.
fn expected_nodes(parts: usize) -> usize {
    let subs = parts.div_ceil(PARTS_PER_SUB_UNIT);
    1 + subs.div_ceil(SUB_UNITS_PER_UNIT) + subs + parts
}

fn depth(model: &TwinModel, mut i: usize) -> usize {
    let mut d = 0;
    while let Some(p) = model.nodes[i].parent {
        i = p;
        d += 1;
    }
    d
}

fn name(model: &TwinModel, i: usize) -> &str {
    model.nodes[i].name.as_deref().unwrap_or("")
}

/// `m` applied to point `p` (column-major matrix).
fn transform_point(m: &[f32; 16], p: [f32; 3]) -> [f32; 3] {
    [0, 1, 2].map(|r| m[r] * p[0] + m[4 + r] * p[1] + m[8 + r] * p[2] + m[12 + r])
}

#[test]
fn every_part_is_its_own_node_with_its_own_mesh_three_levels_below_the_root() {
    let dir = scratch("assembly-structure");
    let glb = dir.join("a.glb");
    let summary = generate(&glb, 1000, &[]);
    let model = load(&glb);

    // 1000 parts: 42 sub-units (the last one of 16 parts), 3 units.
    assert_eq!(expected_nodes(1000), 1 + 3 + 42 + 1000);
    assert_eq!(model.nodes.len(), expected_nodes(1000));
    assert_eq!(summary["nodes"], model.nodes.len());
    assert_eq!(summary["parts"], 1000);
    assert_eq!(summary["units"], 3);
    assert_eq!(summary["subUnits"], 42);
    assert_eq!(summary["triangles"], model.triangle_count());

    let parts: Vec<usize> = (0..model.nodes.len())
        .filter(|&i| model.nodes[i].mesh.is_some())
        .collect();
    assert_eq!(parts.len(), 1000, "exactly the parts carry meshes");
    let meshes: HashSet<usize> = parts.iter().filter_map(|&i| model.nodes[i].mesh).collect();
    assert_eq!(meshes.len(), 1000, "no two parts share a mesh");
    assert_eq!(model.meshes.len(), 1000);

    assert_eq!(model.roots, vec![0]);
    assert_eq!(name(&model, 0), "Assembly");
    let mut by_depth = [0usize; 4];
    for i in 0..model.nodes.len() {
        let d = depth(&model, i);
        assert!(
            d <= 3,
            "{} is {d} levels deep; the hierarchy has 3",
            name(&model, i)
        );
        by_depth[d] += 1;
        assert_eq!(
            model.nodes[i].mesh.is_some(),
            d == 3,
            "{}: only parts (depth 3) have meshes",
            name(&model, i)
        );
    }
    assert_eq!(by_depth, [1, 3, 42, 1000]);

    // Names are unique paths: a part's name extends its sub-unit's, which extends its unit's.
    let names: HashSet<&str> = (0..model.nodes.len()).map(|i| name(&model, i)).collect();
    assert_eq!(names.len(), model.nodes.len(), "node names are unique");
    for &i in &parts {
        let n = name(&model, i);
        let sub = model.nodes[i].parent.expect("a part has a sub-unit");
        let unit = model.nodes[sub].parent.expect("a sub-unit has a unit");
        assert!(
            n.starts_with(&format!("{}/P", name(&model, sub))),
            "{n} under {}",
            name(&model, sub)
        );
        assert!(name(&model, sub).starts_with(&format!("{}/S", name(&model, unit))));
        let segments: Vec<&str> = n.split('/').collect();
        assert!(
            segments.len() == 3
                && segments[0].starts_with('U')
                && segments[1].starts_with('S')
                && segments[2].len() == 5
                && segments[2][1..].bytes().all(|b| b.is_ascii_digit()),
            "part name {n} is not like U03/S12/P0457"
        );
    }
    assert_eq!(name(&model, parts[457]), "U01/S03/P0457");
}

#[test]
fn parts_are_boxes_cylinders_flanges_and_sheets_facing_outwards() {
    let dir = scratch("assembly-shapes");
    let glb = dir.join("a.glb");
    generate(&glb, 600, &[]);
    let model = load(&glb);
    let mut triangle_counts = HashSet::new();
    for mesh in &model.meshes {
        assert_eq!(mesh.primitives.len(), 1);
        let prim = &mesh.primitives[0];
        triangle_counts.insert(prim.indices.len() / 3);
        for tri in prim.indices.chunks_exact(3) {
            let [a, b, c] = [0, 1, 2].map(|k| prim.positions[tri[k] as usize]);
            let e1 = [0, 1, 2].map(|k| b[k] - a[k]);
            let e2 = [0, 1, 2].map(|k| c[k] - a[k]);
            let face = [
                e1[1] * e2[2] - e1[2] * e2[1],
                e1[2] * e2[0] - e1[0] * e2[2],
                e1[0] * e2[1] - e1[1] * e2[0],
            ];
            let area2 = face.iter().map(|f| f * f).sum::<f32>().sqrt();
            assert!(area2 > 1e-9, "{:?}: a degenerate triangle", mesh.name);
            let [na, nb, nc] = [0, 1, 2].map(|k| prim.normal16(tri[k] as usize));
            let n = [0, 1, 2].map(|k| f32::from(na[k]) + f32::from(nb[k]) + f32::from(nc[k]));
            let dot: f32 = (0..3).map(|k| face[k] * n[k]).sum();
            assert!(
                dot > 0.0,
                "{:?}: a triangle wound against its normals",
                mesh.name
            );
        }
    }
    // Boxes (12 triangles), L-sheets (4), cylinders (4 × 16..24 segments), flanges and pipes
    // (8 × 16..24).
    assert!(triangle_counts.contains(&12), "{triangle_counts:?}");
    assert!(triangle_counts.contains(&4), "{triangle_counts:?}");
    let cylinders = (16..=24)
        .map(|s| 4 * s)
        .filter(|t| triangle_counts.contains(t));
    assert!(cylinders.count() >= 3, "cylinders: {triangle_counts:?}");
    let rings = (16..=24)
        .map(|s| 8 * s)
        .filter(|t| triangle_counts.contains(t));
    assert!(rings.count() >= 3, "flanges and pipes: {triangle_counts:?}");
}

#[test]
fn a_few_shared_plain_materials_some_double_sided() {
    let dir = scratch("assembly-materials");
    let glb = dir.join("a.glb");
    generate(&glb, 600, &[]);
    let model = load(&glb);
    // The loader appends its default material after the file's own.
    let materials = &model.materials[..model.materials.len() - 1];
    assert!(
        (6..=10).contains(&materials.len()),
        "{} materials",
        materials.len()
    );
    let colours: HashSet<String> = materials
        .iter()
        .map(|m| format!("{:?}", m.base_color))
        .collect();
    assert_eq!(colours.len(), materials.len(), "distinct base colours");
    assert!(materials.iter().all(|m| m.base_color_texture.is_none()));
    let double_sided = materials.iter().filter(|m| m.double_sided).count();
    assert!(
        (2..=4).contains(&double_sided),
        "{double_sided} double-sided"
    );
    let metals: HashSet<String> = materials
        .iter()
        .map(|m| format!("{}/{}", m.metallic, m.roughness))
        .collect();
    assert!(metals.len() >= 5, "varied metallic/roughness: {metals:?}");
    let mut used = HashMap::new();
    for mesh in &model.meshes {
        *used.entry(mesh.primitives[0].material).or_insert(0) += 1;
    }
    assert_eq!(used.len(), materials.len(), "every material is used");
    assert!(model.textures.is_empty());
}

#[test]
fn one_sub_unit_is_mirrored_and_parts_are_turned_and_scaled_unevenly() {
    let dir = scratch("assembly-transforms");
    let glb = dir.join("a.glb");
    generate(&glb, 800, &[]);
    let model = load(&glb);
    let mirrored: Vec<usize> = (0..model.nodes.len())
        .filter(|&i| model.nodes[i].local.determinant() < 0.0)
        .collect();
    assert_eq!(mirrored.len(), 1, "one node carries the mirror");
    let m = mirrored[0];
    assert_eq!(depth(&model, m), 2, "the mirrored node is a sub-unit");
    assert_eq!(name(&model, m), "U00/S01");
    for (i, node) in model.nodes.iter().enumerate() {
        let under_mirror = node.parent == Some(m) || i == m;
        assert_eq!(
            node.world.determinant() < 0.0,
            under_mirror,
            "{}: mirrored in world space exactly under U00/S01",
            name(&model, i)
        );
    }
    let mut uneven = 0;
    let mut turned = 0;
    for node in model.nodes.iter().filter(|n| n.mesh.is_some()) {
        let (scale, rotation, _) = node.local.to_scale_rotation_translation();
        if (scale.x - scale.y).abs() > 0.01 || (scale.y - scale.z).abs() > 0.01 {
            uneven += 1;
        }
        if rotation.w.abs() < 0.999 {
            turned += 1;
        }
    }
    assert!(uneven >= 50, "{uneven} parts scaled unevenly");
    assert!(turned >= 400, "{turned} parts turned");
}

#[test]
fn units_stand_apart_on_a_floor_grid() {
    let dir = scratch("assembly-grid");
    let glb = dir.join("a.glb");
    // 9 units (a 3 × 3 grid).
    let summary = generate(&glb, 9 * SUB_UNITS_PER_UNIT * PARTS_PER_SUB_UNIT, &[]);
    let model = load(&glb);
    // The summary's bounds are the loader's, so tests and benchmarks can aim at the model.
    let b = model.bounds().expect("geometry");
    let (lo, hi) = (b.min.to_array(), b.max.to_array());
    for k in 0..3 {
        let (slo, shi) = (
            summary["bounds"]["min"][k].as_f64().unwrap(),
            summary["bounds"]["max"][k].as_f64().unwrap(),
        );
        assert!(
            (slo - f64::from(lo[k])).abs() < 1e-3 && (shi - f64::from(hi[k])).abs() < 1e-3,
            "summary bounds {} vs loader {lo:?} {hi:?}",
            summary["bounds"]
        );
    }
    let units: Vec<usize> = model.nodes[0].children.clone();
    assert_eq!(units.len(), 9);
    let mut cells = HashSet::new();
    let mut boxes = Vec::new();
    for &u in &units {
        let t = model.nodes[u].world.to_cols_array();
        let (x, y, z) = (t[12] / UNIT_PITCH_M, t[13], t[14] / UNIT_PITCH_M);
        assert_eq!(y, 0.0);
        assert!(
            (x - x.round()).abs() < 1e-4 && (z - z.round()).abs() < 1e-4,
            "{} at {x} {z} pitches: not on the grid",
            name(&model, u)
        );
        cells.insert((x.round() as i32, z.round() as i32));
        // The unit's extent: every vertex of every part under it, in model space.
        let mut lo = [f32::INFINITY; 3];
        let mut hi = [f32::NEG_INFINITY; 3];
        for &s in &model.nodes[u].children {
            for &p in &model.nodes[s].children {
                let node = &model.nodes[p];
                let w = node.world.to_cols_array();
                let mesh = &model.meshes[node.mesh.expect("a part")];
                for &v in &mesh.primitives[0].positions {
                    let q = transform_point(&w, v);
                    for k in 0..3 {
                        lo[k] = lo[k].min(q[k]);
                        hi[k] = hi[k].max(q[k]);
                    }
                }
            }
        }
        assert!(
            lo[1] >= -0.01,
            "{}: parts stand on the floor",
            name(&model, u)
        );
        assert!(hi[0] - lo[0] < UNIT_PITCH_M && hi[2] - lo[2] < UNIT_PITCH_M);
        boxes.push((lo, hi));
    }
    assert_eq!(cells.len(), 9, "units on distinct grid cells");
    for (a, (alo, ahi)) in boxes.iter().enumerate() {
        for (blo, bhi) in &boxes[a + 1..] {
            let overlap = (0..3).all(|k| alo[k] < bhi[k] && blo[k] < ahi[k]);
            assert!(!overlap, "unit extents overlap: spatial chunks must not");
        }
    }
}

#[test]
fn the_same_arguments_give_the_same_bytes_and_the_offset_moves_only_the_root() {
    let dir = scratch("assembly-determinism");
    let [a, b, far] = ["a.glb", "b.glb", "far.glb"].map(|f| dir.join(f));
    generate(&a, 700, &[]);
    generate(&b, 700, &[]);
    let bytes_a = std::fs::read(&a).unwrap();
    assert!(
        bytes_a == std::fs::read(&b).unwrap(),
        "same arguments, same bytes"
    );

    generate(&far, 700, &["--offset-km", "250"]);
    let (near, far) = (load(&a), load(&far));
    let root = far.nodes[0].local.to_cols_array();
    assert_eq!(root[12], 250_000.0, "250 km along +X in the root node");
    assert_eq!(root[13..15], [0.0, 0.0]);
    assert_eq!(near.nodes[0].local.to_cols_array()[12], 0.0);
    for i in 1..near.nodes.len() {
        assert_eq!(near.nodes[i].local, far.nodes[i].local, "node {i}");
        assert_eq!(near.nodes[i].name, far.nodes[i].name);
    }
    assert_eq!(near.meshes, far.meshes);
}

#[test]
fn validate_accepts_the_assembly_and_the_manifest_binds_every_sensor_to_a_part() {
    let dir = scratch("assembly-validate");
    let glb = dir.join("models").join("plant area.glb");
    let manifest = dir.join("twins").join("area.twin.json");
    let summary = generate(
        &glb,
        500,
        &[
            "--sensors",
            "120",
            "--manifest-out",
            path_str(&manifest),
            "--feed-url",
            "ws://127.0.0.1:9901/",
        ],
    );
    assert_eq!(summary["sensors"], 120);

    let v = twinlens(&["validate", path_str(&glb), "--json"]);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
    let v: Value = serde_json::from_slice(&v.stdout).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["nodes"], summary["nodes"]);
    assert_eq!(v["meshes"], 500);
    assert_eq!(v["triangles"], summary["triangles"]);

    // The manifest points at the model from its own folder and binds all 120 sensors.
    let v = twinlens(&["validate", path_str(&manifest), "--json"]);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
    let v: Value = serde_json::from_slice(&v.stdout).unwrap();
    assert_eq!(
        (v["sensors"].clone(), v["sensorsBound"].clone()),
        (120.into(), 120.into())
    );

    let text = std::fs::read(&manifest).unwrap();
    let m = Manifest::parse(&text, "area.twin.json").expect("a valid manifest");
    assert_eq!(m.model.url, "../models/plant%20area.glb");
    assert_eq!(
        m.source.expect("--feed-url adds a source").url,
        "ws://127.0.0.1:9901/"
    );
    let model = load(&glb);
    let mut nodes = HashSet::new();
    for s in &m.sensors {
        let node = model.node_by_name(&s.node).expect("bound");
        assert!(
            model.nodes[node].mesh.is_some(),
            "{} is bound to a part",
            s.id
        );
        assert!(
            s.warning.is_some() && s.alarm.is_some(),
            "{}: thresholds",
            s.id
        );
        nodes.insert(node);
    }
    assert_eq!(nodes.len(), 120, "fewer sensors than parts: one part each");
    let spread = nodes.iter().map(|&n| depth(&model, n)).all(|d| d == 3);
    assert!(spread);
    let units: HashSet<&str> = m.sensors.iter().map(|s| &s.node[..3]).collect();
    assert_eq!(units.len(), 2, "spread over both units");
}

#[test]
fn more_sensors_than_parts_share_parts_with_unique_ids() {
    let dir = scratch("assembly-many-sensors");
    let glb = dir.join("a.glb");
    let manifest = dir.join("a.twin.json");
    generate(
        &glb,
        30,
        &["--sensors", "70", "--manifest-out", path_str(&manifest)],
    );
    let v = twinlens(&["validate", path_str(&manifest)]);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    assert!(String::from_utf8_lossy(&v.stdout).contains("70 of 70 sensors bound"));
    let m = Manifest::parse(&std::fs::read(&manifest).unwrap(), "a.twin.json").unwrap();
    assert_eq!(m.model.url, "a.glb");
    assert!(m.source.is_none(), "no --feed-url, no source");
}

#[test]
fn bad_arguments_are_refused_with_the_flag_and_its_limit() {
    let dir = scratch("assembly-bad-args");
    let out = dir.join("never.glb");
    let o = path_str(&out);
    let cases: [(&[&str], &str); 6] = [
        (
            &["--parts", "0"],
            "--parts 0: an assembly needs at least 1 part",
        ),
        (&["--parts", "200001"], "above the cap of 200000 parts"),
        (
            &["--parts", "10", "--sensors", "5"],
            "--sensors 5 needs --manifest-out",
        ),
        (
            &["--parts", "10", "--sensors", "50001", "--manifest-out", o],
            "above the cap of 50000 sensors",
        ),
        (
            &["--parts", "10", "--offset-km", "1e9"],
            "--offset-km 1000000000 must be",
        ),
        (
            &["--parts", "10", "--offset-km", "NaN"],
            "--offset-km NaN must be",
        ),
    ];
    for (args, message) in cases {
        let mut full = vec!["gen-assembly", "--out", o];
        full.extend_from_slice(args);
        let run = twinlens(&full);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{full:?}: {stderr}");
        assert!(stderr.contains(message), "{full:?}: {stderr}");
        assert!(!out.exists(), "{full:?} wrote a file");
    }
    // Not a number at all: clap says so.
    let run = twinlens(&["gen-assembly", "--out", o, "--parts", "many"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("--parts"));
}

#[test]
fn ten_thousand_parts_are_quick_and_compact() {
    let dir = scratch("assembly-10k");
    let glb = dir.join("a.glb");
    let started = std::time::Instant::now();
    let summary = generate(&glb, 10_000, &[]);
    let seconds = started.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(&glb).unwrap().len();
    println!("10,000 parts: {bytes} bytes in {seconds:.2} s (debug build), {summary}");
    assert_eq!(summary["bytes"], bytes);
    assert_eq!(summary["nodes"], expected_nodes(10_000));
    assert!(seconds < 60.0, "{seconds:.1} s for 10,000 parts");
    assert!(bytes < 40_000_000, "{bytes} bytes for 10,000 parts");
    let model = load(&glb);
    assert_eq!(model.nodes.len(), expected_nodes(10_000));
    assert_eq!(summary["triangles"], model.triangle_count());
}
