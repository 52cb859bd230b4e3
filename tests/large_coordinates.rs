//! Models placed in site or UTM coordinates, hundreds of kilometres from the file's origin: the
//! loader composes transforms in double precision and recentres the model, so parts a
//! millimetre apart stay a millimetre apart and the picture is the same as near the origin.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test that panics has failed, with its message

use glam::{Mat4, Vec3};
use serde_json::{Value, json};
use twinlens::camera::OrbitCamera;
use twinlens::model::{Resources, TwinModel, load_model};

/// A glTF with one unit cube mesh (data URI) used by one node per entry of `nodes` (each a
/// node JSON object without `mesh`).
fn gltf(nodes: Vec<Value>) -> Vec<u8> {
    use base64::Engine as _;
    let corners: [[f32; 3]; 8] = [
        [-0.5, -0.5, -0.5],
        [0.5, -0.5, -0.5],
        [0.5, 0.5, -0.5],
        [-0.5, 0.5, -0.5],
        [-0.5, -0.5, 0.5],
        [0.5, -0.5, 0.5],
        [0.5, 0.5, 0.5],
        [-0.5, 0.5, 0.5],
    ];
    let indices: [u16; 36] = [
        0, 2, 1, 0, 3, 2, 4, 5, 6, 4, 6, 7, 0, 1, 5, 0, 5, 4, 3, 7, 6, 3, 6, 2, 0, 4, 7, 0, 7, 3,
        1, 2, 6, 1, 6, 5,
    ];
    let mut bin: Vec<u8> = corners
        .iter()
        .flatten()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    bin.extend(indices.iter().flat_map(|i| i.to_le_bytes()));
    let uri = format!(
        "data:application/octet-stream;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(&bin)
    );
    let count = nodes.len();
    let nodes: Vec<Value> = nodes
        .into_iter()
        .map(|mut n| {
            n["mesh"] = json!(0);
            n
        })
        .collect();
    json!({
        "asset": { "version": "2.0" },
        "scene": 0,
        "scenes": [{ "nodes": (0..count).collect::<Vec<_>>() }],
        "nodes": nodes,
        "meshes": [{ "primitives": [{ "attributes": { "POSITION": 0 }, "indices": 1 }] }],
        "buffers": [{ "byteLength": bin.len(), "uri": uri }],
        "bufferViews": [
            { "buffer": 0, "byteOffset": 0, "byteLength": 96 },
            { "buffer": 0, "byteOffset": 96, "byteLength": 72 }
        ],
        "accessors": [
            { "bufferView": 0, "componentType": 5126, "type": "VEC3", "count": 8,
              "min": [-0.5, -0.5, -0.5], "max": [0.5, 0.5, 0.5] },
            { "bufferView": 1, "componentType": 5123, "type": "SCALAR", "count": 36 }
        ]
    })
    .to_string()
    .into_bytes()
}

fn load(bytes: &[u8]) -> TwinModel {
    load_model(bytes, "site.gltf", &Resources::new()).unwrap_or_else(|e| panic!("{e}"))
}

/// Parts on a 1 mm and 1.5 m lattice around (`east`, 0, `north`), scaled to 0.2 m cubes.
fn lattice(east: f64, north: f64, use_matrix: bool) -> Vec<Value> {
    let mut nodes = Vec::new();
    for (dx, dz) in [(0.0, 0.0), (0.001, 0.0), (1.5, 0.0), (0.0, 1.5), (1.5, 1.5)] {
        let (x, y, z) = (east + dx, 0.25, north + dz);
        nodes.push(if use_matrix {
            json!({ "matrix": [0.2, 0, 0, 0, 0, 0.2, 0, 0, 0, 0, 0.2, 0, x, y, z, 1] })
        } else {
            json!({ "translation": [x, y, z], "scale": [0.2, 0.2, 0.2] })
        });
    }
    nodes
}

fn position(model: &TwinModel, node: usize) -> Vec3 {
    model.nodes[node].world.w_axis.truncate()
}

#[test]
fn parts_a_millimetre_apart_at_500_km_stay_a_millimetre_apart() {
    for use_matrix in [false, true] {
        let model = load(&gltf(lattice(512_345.678, 5_432_109.876, use_matrix)));
        let o = model.origin;
        assert!(
            (o[0] - 512_346.0).abs() <= 1.0 && (o[2] - 5_432_111.0).abs() <= 1.0,
            "origin {o:?}"
        );
        // In float32 without recentring both would be the same number at 512 km.
        let gap = position(&model, 1) - position(&model, 0);
        assert!(
            (gap - Vec3::new(0.001, 0.0, 0.0)).length() < 2e-6,
            "matrix {use_matrix}: gap {gap}"
        );
        // And the file's coordinates come back through the origin.
        let east = f64::from(position(&model, 0).x) + o[0];
        assert!((east - 512_345.678).abs() < 1e-4, "{east}");
    }
}

#[test]
fn a_model_near_its_origin_is_not_moved() {
    let model = load(&gltf(lattice(12.0, -3.0, false)));
    assert_eq!(model.origin, [0.0; 3]);
    assert!((position(&model, 0) - Vec3::new(12.0, 0.25, -3.0)).length() < 1e-6);
}

#[test]
fn a_site_at_500_km_renders_like_the_same_site_at_the_origin() {
    let near = load(&gltf(lattice(0.0, 0.0, false)));
    let far = load(&gltf(lattice(500_000.25, 4_999_999.75, false)));
    let render = |model: &TwinModel| {
        let mut r =
            twinlens::render::headless::Headless::new(96, 72).unwrap_or_else(|e| panic!("{e}"));
        let b = model.bounds().expect("geometry");
        // Frame the near model's lattice, moved to where each model's parts are.
        let view = OrbitCamera {
            target: b.center(),
            yaw: 0.6,
            pitch: 0.5,
            distance: 5.0,
            scene_radius: 2.0,
        }
        .matrices(96.0 / 72.0);
        r.set_model(model, Mat4::IDENTITY);
        r.render(&view).rgba
    };
    let (a, b) = (render(&near), render(&far));
    let differing = a
        .chunks(4)
        .zip(b.chunks(4))
        .filter(|(p, q)| p.iter().zip(q.iter()).any(|(x, y)| x.abs_diff(*y) > 8))
        .count();
    assert!(
        differing * 200 < a.len() / 4,
        "{differing} of {} pixels differ",
        a.len() / 4
    );
    // Something was drawn at all.
    assert!(
        a.chunks(4).any(|p| p != &a[..4]),
        "the near model is visible"
    );
}
