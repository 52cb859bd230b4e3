//! Limits that reuse cannot get past: a small file whose one mesh is drawn by many nodes, and a
//! file with more nodes than the viewer holds, are refused with the figures and what to do.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test that panics has failed, with its message

use serde_json::json;
use twinlens::model::{ModelError, Resources, TwinModel, load_model};

/// A GLB whose one mesh has `triangles` (degenerate) triangles and is drawn by `nodes` nodes.
fn reused_mesh_glb(triangles: usize, nodes: usize) -> Vec<u8> {
    let mut bin: Vec<u8> = [0.0f32, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        .iter()
        .flat_map(|f| f.to_le_bytes())
        .collect();
    let positions_len = bin.len();
    for _ in 0..triangles {
        for i in [0u32, 1, 2] {
            bin.extend(i.to_le_bytes());
        }
    }
    let doc = json!({
        "asset": { "version": "2.0" },
        "buffers": [{ "byteLength": bin.len() }],
        "bufferViews": [
            { "buffer": 0, "byteOffset": 0, "byteLength": positions_len },
            { "buffer": 0, "byteOffset": positions_len, "byteLength": bin.len() - positions_len }
        ],
        "accessors": [
            { "bufferView": 0, "componentType": 5126, "count": 3, "type": "VEC3",
              "min": [0.0, 0.0, 0.0], "max": [1.0, 1.0, 0.0] },
            { "bufferView": 1, "componentType": 5125, "count": triangles * 3, "type": "SCALAR" }
        ],
        "meshes": [{ "primitives": [{ "attributes": { "POSITION": 0 }, "indices": 1 }] }],
        "nodes": (0..nodes).map(|i| json!({ "mesh": 0, "name": format!("part-{i}") })).collect::<Vec<_>>(),
        "scenes": [{ "nodes": (0..nodes).collect::<Vec<_>>() }],
        "scene": 0
    });
    glb(&doc.to_string(), &bin)
}

fn glb(json: &str, bin: &[u8]) -> Vec<u8> {
    let mut json = json.as_bytes().to_vec();
    json.resize(json.len().next_multiple_of(4), b' ');
    let mut bin = bin.to_vec();
    bin.resize(bin.len().next_multiple_of(4), 0);
    let mut out = Vec::new();
    out.extend(b"glTF");
    out.extend(2u32.to_le_bytes());
    out.extend((12 + 8 + json.len() as u32 + 8 + bin.len() as u32).to_le_bytes());
    out.extend((json.len() as u32).to_le_bytes());
    out.extend(b"JSON");
    out.extend(&json);
    out.extend((bin.len() as u32).to_le_bytes());
    out.extend(b"BIN\0");
    out.extend(&bin);
    out
}

fn load(bytes: &[u8]) -> Result<TwinModel, ModelError> {
    load_model(bytes, "plant.glb", &Resources::new())
}

#[test]
fn reused_mesh_past_the_drawn_triangle_cap_is_refused() {
    // 100,000 triangles drawn by 1,001 nodes: 100.1 million, from a 1.2 MB file.
    let err = load(&reused_mesh_glb(100_000, 1_001)).expect_err("over the cap");
    let text = err.to_string();
    assert!(
        text.contains("1001 nodes draw 100100000 triangles"),
        "{text}"
    );
    assert!(text.contains("at most 100000000"), "{text}");
}

#[test]
fn reused_mesh_under_the_drawn_triangle_cap_loads() {
    let model = load(&reused_mesh_glb(100_000, 999)).expect("under the cap");
    assert_eq!(model.nodes.len(), 999);
}

#[test]
fn more_nodes_than_the_cap_are_refused_before_building_them() {
    let nodes = vec![json!({}); 1_000_001];
    let doc = json!({ "asset": { "version": "2.0" }, "nodes": nodes });
    let err = load(doc.to_string().as_bytes()).expect_err("too many nodes");
    let text = err.to_string();
    assert!(text.contains("1000001 nodes"), "{text}");
    assert!(text.contains("at most 1000000"), "{text}");
}
