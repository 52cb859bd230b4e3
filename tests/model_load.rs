//! The glTF loader on hand-built models: valid files flatten as expected, and every kind of
//! malformed file gives an error naming the offending JSON path instead of panicking.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test that panics has failed, with its message

use std::time::{Duration, Instant};

use glam::{Mat4, Quat, Vec3};
use image::ImageEncoder as _;
use serde_json::{Value, json};
use twinlens::model::*;

const FLOAT: u32 = 5126;
const UNSIGNED_BYTE: u32 = 5121;
const UNSIGNED_SHORT: u32 = 5123;

/// Assembles a glTF document around one binary buffer, which becomes the GLB BIN chunk, a data
/// URI or an external file depending on how it is written out.
#[derive(Default)]
struct Doc {
    bin: Vec<u8>,
    views: Vec<Value>,
    accessors: Vec<Value>,
    meshes: Vec<Value>,
    nodes: Vec<Value>,
    materials: Vec<Value>,
    textures: Vec<Value>,
    images: Vec<Value>,
    scene: Option<Vec<usize>>,
    /// Top-level properties merged in last (to break things on purpose).
    extra: Vec<(&'static str, Value)>,
}

impl Doc {
    fn view(&mut self, bytes: &[u8], stride: Option<usize>) -> usize {
        while !self.bin.len().is_multiple_of(4) {
            self.bin.push(0);
        }
        let mut view =
            json!({ "buffer": 0, "byteOffset": self.bin.len(), "byteLength": bytes.len() });
        if let Some(stride) = stride {
            view["byteStride"] = json!(stride);
        }
        self.bin.extend_from_slice(bytes);
        self.views.push(view);
        self.views.len() - 1
    }

    fn accessor(&mut self, accessor: Value) -> usize {
        self.accessors.push(accessor);
        self.accessors.len() - 1
    }

    /// Tightly packed float data of `ty` (VEC2, VEC3, …) in its own view.
    fn floats(&mut self, data: &[f32], ty: &str) -> usize {
        let width = match ty {
            "SCALAR" => 1,
            "VEC2" => 2,
            "VEC3" => 3,
            _ => 4,
        };
        let view = self.view(&f32_bytes(data), None);
        self.accessor(json!({
            "bufferView": view, "componentType": FLOAT, "type": ty, "count": data.len() / width
        }))
    }

    fn indices_u16(&mut self, indices: &[u16]) -> usize {
        let bytes: Vec<u8> = indices.iter().flat_map(|i| i.to_le_bytes()).collect();
        let view = self.view(&bytes, None);
        self.accessor(json!({
            "bufferView": view, "componentType": UNSIGNED_SHORT, "type": "SCALAR",
            "count": indices.len()
        }))
    }

    fn mesh(&mut self, primitives: Vec<Value>) -> usize {
        self.meshes.push(json!({ "primitives": primitives }));
        self.meshes.len() - 1
    }

    fn node(&mut self, node: Value) -> usize {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    fn json(&self, buffer: Value) -> String {
        let mut root = json!({
            "asset": { "version": "2.0" },
            "buffers": [buffer],
            "bufferViews": self.views,
            "accessors": self.accessors,
            "meshes": self.meshes,
            "nodes": self.nodes,
            "materials": self.materials,
            "textures": self.textures,
            "images": self.images,
        });
        if let Some(nodes) = &self.scene {
            root["scenes"] = json!([{ "nodes": nodes }]);
            root["scene"] = json!(0);
        }
        for (key, value) in &self.extra {
            root[*key] = value.clone();
        }
        root.to_string()
    }

    fn glb(&self) -> Vec<u8> {
        glb(
            &self.json(json!({ "byteLength": self.bin.len() })),
            Some(&self.bin),
        )
    }

    fn gltf_data_uri(&self) -> Vec<u8> {
        use base64::Engine as _;
        let uri = format!(
            "data:application/octet-stream;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(&self.bin)
        );
        self.json(json!({ "byteLength": self.bin.len(), "uri": uri }))
            .into_bytes()
    }

    fn gltf_external(&self, uri: &str) -> Vec<u8> {
        self.json(json!({ "byteLength": self.bin.len(), "uri": uri }))
            .into_bytes()
    }
}

fn f32_bytes(data: &[f32]) -> Vec<u8> {
    data.iter().flat_map(|f| f.to_le_bytes()).collect()
}

/// A GLB container: header, JSON chunk padded with spaces, BIN chunk padded with zeros.
fn glb(json: &str, bin: Option<&[u8]>) -> Vec<u8> {
    let mut json = json.as_bytes().to_vec();
    while !json.len().is_multiple_of(4) {
        json.push(b' ');
    }
    let mut body = Vec::new();
    body.extend((json.len() as u32).to_le_bytes());
    body.extend(b"JSON");
    body.extend(&json);
    if let Some(bin) = bin {
        let mut bin = bin.to_vec();
        while !bin.len().is_multiple_of(4) {
            bin.push(0);
        }
        body.extend((bin.len() as u32).to_le_bytes());
        body.extend(b"BIN\0");
        body.extend(&bin);
    }
    let mut out = Vec::new();
    out.extend(b"glTF");
    out.extend(2u32.to_le_bytes());
    out.extend((12 + body.len() as u32).to_le_bytes());
    out.extend(body);
    out
}

const CUBE_POSITIONS: [f32; 24] = [
    -1.0, -1.0, -1.0, 1.0, -1.0, -1.0, 1.0, 1.0, -1.0, -1.0, 1.0, -1.0, //
    -1.0, -1.0, 1.0, 1.0, -1.0, 1.0, 1.0, 1.0, 1.0, -1.0, 1.0, 1.0,
];

/// Outward-facing (counter-clockwise seen from outside) triangles of the cube.
const CUBE_INDICES: [u16; 36] = [
    0, 2, 1, 0, 3, 2, // -z
    4, 5, 6, 4, 6, 7, // +z
    0, 1, 5, 0, 5, 4, // -y
    3, 7, 6, 3, 6, 2, // +y
    0, 4, 7, 0, 7, 3, // -x
    1, 2, 6, 1, 6, 5, // +x
];

/// One node with an indexed cube mesh.
fn cube() -> Doc {
    let mut doc = Doc::default();
    let position = doc.floats(&CUBE_POSITIONS, "VEC3");
    let indices = doc.indices_u16(&CUBE_INDICES);
    let mesh = doc.mesh(vec![
        json!({ "attributes": { "POSITION": position }, "indices": indices }),
    ]);
    doc.node(json!({ "name": "pump", "mesh": mesh }));
    doc
}

/// One node with a single non-indexed triangle, counter-clockwise seen from +z.
fn triangle() -> Doc {
    let mut doc = Doc::default();
    let position = doc.floats(&[0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0], "VEC3");
    let mesh = doc.mesh(vec![json!({ "attributes": { "POSITION": position } })]);
    doc.node(json!({ "mesh": mesh }));
    doc
}

fn load(bytes: &[u8]) -> Result<TwinModel, ModelError> {
    load_model(bytes, "test.glb", &Resources::new())
}

fn loaded(bytes: &[u8]) -> TwinModel {
    match load(bytes) {
        Ok(model) => model,
        Err(e) => panic!("expected the model to load, got:\n{e}"),
    }
}

/// Asserts that loading fails with a problem at `path` whose message contains `fragment`.
fn assert_problem(result: Result<TwinModel, ModelError>, path: &str, fragment: &str) {
    let error = match result {
        Ok(_) => panic!("expected an error at {path}, but the model loaded"),
        Err(e) => e,
    };
    assert!(
        error
            .problems
            .iter()
            .any(|p| p.path == path && p.message.contains(fragment)),
        "expected a problem at {path} containing {fragment:?}, got:\n{error}"
    );
    assert!(
        error.to_string().contains(path),
        "the message should name {path}: {error}"
    );
}

fn first_primitive(model: &TwinModel) -> &Primitive {
    &model.meshes[0].primitives[0]
}

fn assert_close(a: Vec3, b: Vec3) {
    assert!((a - b).length() < 1e-5, "{a} != {b}");
}

#[test]
fn indexed_cube_glb_loads() {
    let model = loaded(&cube().glb());
    assert_eq!(model.nodes.len(), 1);
    assert_eq!(model.roots, vec![0]);
    assert_eq!(model.node_by_name("pump"), Some(0));
    assert_eq!(model.triangle_count(), 12);
    assert_eq!(model.primitive_count(), 1);
    let bounds = model.bounds().expect("the cube has geometry");
    assert_close(bounds.min, Vec3::splat(-1.0));
    assert_close(bounds.max, Vec3::splat(1.0));

    let primitive = first_primitive(&model);
    assert_eq!(primitive.vertices().len(), 8);
    assert_eq!(primitive.indices, CUBE_INDICES.map(u32::from).to_vec());
    // No material in the file: the trailing default one.
    assert_eq!(model.materials, vec![Material::default()]);
    assert_eq!(primitive.material, 0);
    for v in &primitive.vertices() {
        let normal = Vec3::from(v.normal);
        assert!((normal.length() - 1.0).abs() < 1e-5);
        // Generated smooth normals of a centred cube point away from its centre.
        assert!(normal.dot(Vec3::from(v.position)) > 0.0, "{v:?}");
        assert_eq!(v.color, [1.0; 4]);
        assert_eq!(v.uv, [0.0; 2]);
    }
}

#[test]
fn non_indexed_primitive_counts_its_vertices() {
    let mut doc = Doc::default();
    let position = doc.floats(
        &[
            0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0,
            1.0,
        ],
        "VEC3",
    );
    doc.mesh(vec![json!({ "attributes": { "POSITION": position } })]);
    doc.node(json!({ "mesh": 0 }));
    let model = loaded(&doc.glb());
    assert_eq!(first_primitive(&model).indices, vec![0, 1, 2, 3, 4, 5]);
    assert_eq!(model.triangle_count(), 2);
}

#[test]
fn multiple_primitives_keep_their_materials() {
    let mut doc = cube();
    let position = doc.floats(&[5.0, 0.0, 0.0, 6.0, 0.0, 0.0, 5.0, 1.0, 0.0], "VEC3");
    doc.meshes[0]["primitives"][0]["material"] = json!(1);
    doc.meshes[0]["primitives"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "attributes": { "POSITION": position }, "material": 0 }));
    doc.materials = vec![
        json!({ "name": "red", "pbrMetallicRoughness": { "baseColorFactor": [1, 0, 0, 1] } }),
        json!({ "name": "steel", "pbrMetallicRoughness": { "metallicFactor": 0.9, "roughnessFactor": 0.3 }, "doubleSided": true }),
    ];
    let model = loaded(&doc.glb());
    assert_eq!(model.primitive_count(), 2);
    assert_eq!(model.triangle_count(), 13);
    let primitives = &model.meshes[0].primitives;
    assert_eq!(primitives[0].material, 1);
    assert_eq!(primitives[1].material, 0);
    assert_eq!(model.materials.len(), 3);
    assert_eq!(model.materials[0].base_color, [1.0, 0.0, 0.0, 1.0]);
    assert_eq!(model.materials[1].name.as_deref(), Some("steel"));
    assert_eq!(model.materials[1].metallic, 0.9);
    assert_eq!(model.materials[1].roughness, 0.3);
    assert!(model.materials[1].double_sided);
    assert_eq!(model.materials[2], Material::default());
    assert_close(model.bounds().unwrap().max, Vec3::new(6.0, 1.0, 1.0));
}

#[test]
fn child_world_is_parent_times_child() {
    let mut doc = triangle();
    doc.nodes[0]["translation"] = json!([0.0, 5.0, 0.0]);
    doc.node(json!({
        "name": "parent", "translation": [10.0, 0.0, 0.0], "scale": [2.0, 2.0, 2.0], "children": [0],
        "extras": { "sensor": "T1", "nested": [1, { "a": null }] }
    }));
    doc.scene = Some(vec![1]);
    let model = loaded(&doc.glb());
    assert_eq!(model.roots, vec![1]);
    assert_eq!(model.nodes[0].parent, Some(1));
    assert_eq!(model.nodes[1].children, vec![0]);
    assert_eq!(
        model.nodes[0].world,
        model.nodes[1].world * model.nodes[0].local
    );
    // Vertex (1, 0, 0): child → (1, 5, 0); parent scales by 2 and moves by 10 in x.
    let bounds = model.bounds().unwrap();
    assert_close(bounds.min, Vec3::new(10.0, 10.0, 0.0));
    assert_close(bounds.max, Vec3::new(12.0, 12.0, 0.0));
}

#[test]
fn trs_and_matrix_nodes() {
    let mut doc = triangle();
    let rotation = Quat::from_rotation_z(std::f32::consts::FRAC_PI_2);
    doc.nodes[0]["rotation"] = json!(rotation.to_array());
    doc.nodes[0]["scale"] = json!([3.0, 3.0, 3.0]);
    doc.node(json!({
        "mesh": 0,
        "matrix": [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 3.0, 4.0, 5.0, 1.0]
    }));
    let model = loaded(&doc.glb());
    assert_eq!(
        model.roots,
        vec![0, 1],
        "without scenes every parentless node is a root"
    );
    let rotated = model.nodes[0].world.transform_point3(Vec3::X);
    assert_close(rotated, Vec3::new(0.0, 3.0, 0.0));
    assert_eq!(
        model.nodes[1].local,
        Mat4::from_translation(Vec3::new(3.0, 4.0, 5.0))
    );
    let bounds = model.bounds().unwrap();
    assert_close(bounds.min, Vec3::new(-3.0, 0.0, 0.0));
    assert_close(bounds.max, Vec3::new(4.0, 5.0, 5.0));
}

#[test]
fn missing_normals_are_generated_unit_and_outward() {
    let model = loaded(&triangle().glb());
    for v in &first_primitive(&model).vertices() {
        assert_close(Vec3::from(v.normal), Vec3::Z);
    }
}

#[test]
fn given_normals_are_normalized_and_zero_ones_replaced() {
    let mut doc = triangle();
    let normals = doc.floats(&[0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 3.0, 0.0], "VEC3");
    doc.meshes[0]["primitives"][0]["attributes"]["NORMAL"] = json!(normals);
    let model = loaded(&doc.glb());
    let normals: Vec<Vec3> = first_primitive(&model)
        .vertices()
        .iter()
        .map(|v| Vec3::from(v.normal))
        .collect();
    assert_eq!(normals, vec![Vec3::Z, Vec3::Z, Vec3::Y]);
}

#[test]
fn interleaved_attributes_honour_byte_stride() {
    let mut doc = Doc::default();
    let interleaved: Vec<f32> = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
        .iter()
        .flat_map(|p| p.iter().copied().chain([0.0, 0.0, -1.0]))
        .collect();
    let view = doc.view(&f32_bytes(&interleaved), Some(24));
    let position = doc.accessor(
        json!({ "bufferView": view, "componentType": FLOAT, "type": "VEC3", "count": 3 }),
    );
    let normal = doc.accessor(json!({ "bufferView": view, "byteOffset": 12, "componentType": FLOAT, "type": "VEC3", "count": 3 }));
    doc.mesh(vec![
        json!({ "attributes": { "POSITION": position, "NORMAL": normal } }),
    ]);
    doc.node(json!({ "mesh": 0 }));
    let model = loaded(&doc.glb());
    let vertices = &first_primitive(&model).vertices();
    assert_eq!(vertices[1].position, [1.0, 0.0, 0.0]);
    assert_eq!(vertices[2].position, [0.0, 1.0, 0.0]);
    assert!(vertices.iter().all(|v| v.normal == [0.0, 0.0, -1.0]));
}

#[test]
fn normalized_u8_colours_and_u16_texcoords() {
    let mut doc = triangle();
    let colours: [u8; 12] = [255, 0, 0, 255, 0, 255, 0, 128, 0, 0, 51, 0];
    let view = doc.view(&colours, None);
    let colour = doc.accessor(json!({
        "bufferView": view, "componentType": UNSIGNED_BYTE, "normalized": true, "type": "VEC4", "count": 3
    }));
    let uvs: Vec<u8> = [0u16, 65535, 65535, 0, 0, 32768]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let view = doc.view(&uvs, None);
    let uv = doc.accessor(json!({
        "bufferView": view, "componentType": UNSIGNED_SHORT, "normalized": true, "type": "VEC2", "count": 3
    }));
    doc.meshes[0]["primitives"][0]["attributes"]["COLOR_0"] = json!(colour);
    doc.meshes[0]["primitives"][0]["attributes"]["TEXCOORD_0"] = json!(uv);
    let model = loaded(&doc.glb());
    let vertices = &first_primitive(&model).vertices();
    assert_eq!(vertices[0].color, [1.0, 0.0, 0.0, 1.0]);
    assert_eq!(vertices[1].color, [0.0, 1.0, 0.0, 128.0 / 255.0]);
    assert_eq!(vertices[2].color, [0.0, 0.0, 0.2, 0.0]);
    assert_eq!(vertices[0].uv, [0.0, 1.0]);
    assert_eq!(vertices[1].uv, [1.0, 0.0]);
    assert_eq!(vertices[2].uv, [0.0, 32768.0 / 65535.0]);
}

#[test]
fn vec3_float_colours_get_opaque_alpha() {
    let mut doc = triangle();
    let colour = doc.floats(&[0.5, 0.25, 1.0, 0.5, 0.25, 1.0, 0.5, 0.25, 1.0], "VEC3");
    doc.meshes[0]["primitives"][0]["attributes"]["COLOR_0"] = json!(colour);
    let model = loaded(&doc.glb());
    // Colours are kept as unorm16, as the GPU receives them: equal within one step.
    for v in first_primitive(&model).vertices() {
        let want = [0.5, 0.25, 1.0, 1.0];
        assert!(
            v.color
                .iter()
                .zip(want)
                .all(|(c, w)| (c - w).abs() <= 1.0 / 65535.0),
            "{:?}",
            v.color
        );
    }
}

fn png_2x2() -> (Vec<u8>, Vec<u8>) {
    let rgba = vec![
        255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 255, 255, 255, 128,
    ];
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&rgba, 2, 2, image::ExtendedColorType::Rgba8)
        .unwrap();
    (png, rgba)
}

#[test]
fn base_colour_factor_and_embedded_png_texture() {
    let mut doc = triangle();
    let (png, rgba) = png_2x2();
    let view = doc.view(&png, None);
    doc.images = vec![json!({ "bufferView": view, "mimeType": "image/png" })];
    doc.textures = vec![json!({ "source": 0 })];
    doc.materials = vec![
        json!({ "pbrMetallicRoughness": { "baseColorFactor": [0.5, 0.25, 1.0, 0.75], "baseColorTexture": { "index": 0 } } }),
        json!({ "pbrMetallicRoughness": { "baseColorTexture": { "index": 0 } } }),
    ];
    doc.meshes[0]["primitives"][0]["material"] = json!(0);
    let model = loaded(&doc.glb());
    assert_eq!(
        model.textures,
        vec![Texture {
            width: 2,
            height: 2,
            rgba
        }]
    );
    let material = &model.materials[0];
    assert_eq!(material.base_color, [0.5, 0.25, 1.0, 0.75]);
    assert_eq!(material.base_color_texture, Some(0));
    // glTF defaults for what the file leaves out.
    assert_eq!(
        (material.metallic, material.roughness, material.double_sided),
        (1.0, 1.0, false)
    );
    assert_eq!(
        model.materials[1].base_color_texture,
        Some(0),
        "one texture per image"
    );
    assert_eq!(first_primitive(&model).material, 0);
}

#[test]
fn embedded_jpeg_and_grey_png_textures_decode_to_rgba() {
    // A flat colour survives JPEG compression nearly exactly.
    let rgb: Vec<u8> = [200u8, 120, 40].repeat(16 * 16);
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95)
        .write_image(&rgb, 16, 16, image::ExtendedColorType::Rgb8)
        .unwrap();
    let mut grey = Vec::new();
    image::codecs::png::PngEncoder::new(&mut grey)
        .write_image(&[10, 250], 2, 1, image::ExtendedColorType::L8)
        .unwrap();
    let mut doc = triangle();
    let (jpeg_view, grey_view) = (doc.view(&jpeg, None), doc.view(&grey, None));
    doc.images = vec![
        json!({ "bufferView": jpeg_view, "mimeType": "image/jpeg" }),
        json!({ "bufferView": grey_view, "mimeType": "image/png" }),
    ];
    doc.textures = vec![json!({ "source": 0 }), json!({ "source": 1 })];
    doc.materials = vec![
        json!({ "pbrMetallicRoughness": { "baseColorTexture": { "index": 0 } } }),
        json!({ "pbrMetallicRoughness": { "baseColorTexture": { "index": 1 } } }),
    ];
    let model = loaded(&doc.glb());
    let jpeg_tex = &model.textures[0];
    assert_eq!(
        (jpeg_tex.width, jpeg_tex.height, jpeg_tex.rgba.len()),
        (16, 16, 16 * 16 * 4)
    );
    for px in jpeg_tex.rgba.chunks_exact(4) {
        assert!(
            px[0].abs_diff(200) <= 3 && px[1].abs_diff(120) <= 3 && px[2].abs_diff(40) <= 3,
            "{px:?}"
        );
        assert_eq!(px[3], 255);
    }
    assert_eq!(
        model.textures[1].rgba,
        vec![10, 10, 10, 255, 250, 250, 250, 255]
    );
}

#[test]
fn broken_image_names_it() {
    let mut doc = triangle();
    let (mut png, _) = png_2x2();
    png.truncate(png.len() / 2);
    let view = doc.view(&png, None);
    doc.images = vec![json!({ "bufferView": view, "mimeType": "image/png" })];
    doc.textures = vec![json!({ "source": 0 })];
    doc.materials = vec![json!({ "pbrMetallicRoughness": { "baseColorTexture": { "index": 0 } } })];
    assert_problem(load(&doc.glb()), "images[0]", "PNG");

    doc.bin.truncate(doc.bin.len() - png.len());
    doc.views.pop();
    let view = doc.view(b"GIF89a..", None);
    doc.images = vec![json!({ "bufferView": view })];
    assert_problem(load(&doc.glb()), "images[0]", "not a PNG or JPEG");
}

#[test]
fn oversized_image_is_refused_before_decoding() {
    let mut doc = triangle();
    let mut png = Vec::new();
    // A header claiming 100000×1 pixels; the loader must refuse it from the header alone.
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&vec![0; 100_000], 100_000, 1, image::ExtendedColorType::L8)
        .unwrap();
    let view = doc.view(&png, None);
    doc.images = vec![json!({ "bufferView": view })];
    doc.textures = vec![json!({ "source": 0 })];
    doc.materials = vec![json!({ "pbrMetallicRoughness": { "baseColorTexture": { "index": 0 } } })];
    assert_problem(load(&doc.glb()), "images[0]", "100000×1 pixels");
}

#[test]
fn gltf_with_data_uri_buffer() {
    let model = loaded(&cube().gltf_data_uri());
    assert_eq!(model.triangle_count(), 12);
    assert_eq!(
        required_resources(&cube().gltf_data_uri(), "cube.gltf").unwrap(),
        Vec::<String>::new()
    );
}

#[test]
fn malformed_data_uri_names_the_buffer() {
    let gltf = String::from_utf8(cube().gltf_data_uri())
        .unwrap()
        .replace("base64,", "base64,@@");
    assert_problem(load(gltf.as_bytes()), "buffers[0].uri", "base64");
}

#[test]
fn gltf_with_external_buffer() {
    let doc = cube();
    let gltf = doc.gltf_external("pump.bin");
    assert_eq!(
        required_resources(&gltf, "pump.gltf").unwrap(),
        vec!["pump.bin".to_owned()]
    );

    let resources = Resources::from([("pump.bin".to_owned(), doc.bin.clone())]);
    let model = load_model(&gltf, "pump.gltf", &resources).unwrap();
    assert_eq!(model.triangle_count(), 12);
    assert_eq!(model.source_name, "pump.gltf");

    let missing = load_model(&gltf, "pump.gltf", &Resources::new());
    assert_problem(missing, "buffers[0].uri", "\"pump.bin\" was not provided");

    let short = Resources::from([("pump.bin".to_owned(), doc.bin[..10].to_vec())]);
    assert_problem(
        load_model(&gltf, "pump.gltf", &short),
        "buffers[0]",
        "byteLength",
    );
}

#[test]
fn required_resources_lists_buffers_and_used_images_once() {
    let mut doc = triangle();
    doc.images = vec![
        json!({ "uri": "textures/paint.png" }),
        json!({ "uri": "unused.png" }),
        json!({ "uri": "data:image/png;base64,AAAA" }),
    ];
    doc.textures = vec![json!({ "source": 0 }), json!({ "source": 2 })];
    doc.materials = vec![
        json!({ "pbrMetallicRoughness": { "baseColorTexture": { "index": 0 } } }),
        json!({ "pbrMetallicRoughness": { "baseColorTexture": { "index": 0 } } }),
        json!({ "pbrMetallicRoughness": { "baseColorTexture": { "index": 1 } } }),
    ];
    let gltf = doc.gltf_external("model.bin");
    assert_eq!(
        required_resources(&gltf, "m.gltf").unwrap(),
        vec!["model.bin", "textures/paint.png"]
    );
    assert_eq!(
        required_resources(&cube().glb(), "m.glb").unwrap(),
        Vec::<String>::new()
    );
    assert!(required_resources(b"not a model", "x").is_err());
    assert!(required_resources(b"", "x").is_err());

    let (png, _) = png_2x2();
    let resources = Resources::from([
        ("model.bin".to_owned(), doc.bin.clone()),
        ("textures/paint.png".to_owned(), png),
    ]);
    // The data-URI image is valid base64 but not an image.
    assert_problem(
        load_model(&gltf, "m.gltf", &resources),
        "images[2]",
        "not a PNG or JPEG",
    );
}

#[test]
fn triangle_strips_and_fans_become_lists() {
    let mut doc = Doc::default();
    let position = doc.floats(
        &[0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0],
        "VEC3",
    );
    doc.mesh(vec![
        json!({ "attributes": { "POSITION": position }, "mode": 5 }),
        json!({ "attributes": { "POSITION": position }, "mode": 6 }),
        json!({ "attributes": { "POSITION": position }, "mode": 0 }),
        json!({ "attributes": { "POSITION": position }, "mode": 1 }),
    ]);
    doc.node(json!({ "mesh": 0 }));
    let model = loaded(&doc.glb());
    let primitives = &model.meshes[0].primitives;
    assert_eq!(primitives.len(), 2, "points and lines are skipped");
    assert_eq!(primitives[0].indices, vec![0, 1, 2, 1, 3, 2]);
    assert_eq!(primitives[1].indices, vec![1, 2, 0, 2, 3, 0]);
}

#[test]
fn accessor_without_buffer_view_reads_zeros() {
    let mut doc = triangle();
    let normal = doc.accessor(json!({ "componentType": FLOAT, "type": "VEC3", "count": 3 }));
    doc.meshes[0]["primitives"][0]["attributes"]["NORMAL"] = json!(normal);
    let model = loaded(&doc.glb());
    // All-zero normals fall back to generated ones.
    assert!(
        first_primitive(&model)
            .vertices()
            .iter()
            .all(|v| v.normal == [0.0, 0.0, 1.0])
    );

    doc.accessors[normal]["count"] = json!(1u64 << 40);
    assert_problem(
        load(&doc.glb()),
        &format!("accessors[{normal}]"),
        "no bufferView",
    );
}

#[test]
fn sparse_accessors_are_refused() {
    let mut doc = triangle();
    doc.accessors[0]["sparse"] = json!({
        "count": 1,
        "indices": { "bufferView": 0, "componentType": UNSIGNED_BYTE },
        "values": { "bufferView": 0 }
    });
    assert_problem(load(&doc.glb()), "accessors[0]", "sparse");
}

// ---- malformed containers and documents ----

#[test]
fn empty_input() {
    assert_problem(load(b""), "GLB", "empty");
}

#[test]
fn wrong_magic() {
    let mut bytes = cube().glb();
    bytes[3] = b'X';
    assert_problem(load(&bytes), "GLB", "glTX");
}

#[test]
fn wrong_version() {
    let mut bytes = cube().glb();
    bytes[4] = 1;
    assert_problem(load(&bytes), "GLB", "version 1");
}

#[test]
fn truncated_glb() {
    let bytes = cube().glb();
    assert_problem(load(&bytes[..bytes.len() / 2]), "GLB", "truncated");
    assert_problem(load(&bytes[..7]), "GLB", "12-byte");
}

#[test]
fn chunk_length_past_end() {
    let mut bytes = cube().glb();
    bytes[12..16].copy_from_slice(&100_000u32.to_le_bytes());
    assert_problem(load(&bytes), "GLB", "declares 100000 bytes");

    // The BIN chunk header sits right after the JSON chunk.
    let mut bytes = cube().glb();
    let json_len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    let bin_header = 20 + json_len;
    bytes[bin_header..bin_header + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_problem(load(&bytes), "GLB", "chunk 1");
}

#[test]
fn first_chunk_must_be_json() {
    let mut bytes = cube().glb();
    bytes[16..20].copy_from_slice(b"BIN\0");
    assert_problem(load(&bytes), "GLB", "first chunk must be JSON");
}

#[test]
fn buffer_longer_than_bin_chunk() {
    let doc = cube();
    let json = doc.json(json!({ "byteLength": doc.bin.len() + 100 }));
    assert_problem(load(&glb(&json, Some(&doc.bin))), "buffers[0]", "BIN chunk");
    assert_problem(load(&glb(&json, None)), "buffers[0]", "no uri");
}

#[test]
fn buffer_view_past_its_buffer() {
    let mut doc = cube();
    doc.views[1]["byteLength"] = json!(1000);
    assert_problem(
        load(&doc.glb()),
        "bufferViews[1]",
        "runs past the end of buffers[0]",
    );
    doc.views[1]["byteOffset"] = json!(u64::MAX);
    assert_problem(load(&doc.glb()), "bufferViews[1]", "runs past the end");
}

#[test]
fn accessor_count_past_its_view() {
    let mut doc = cube();
    doc.accessors[0]["count"] = json!(9);
    assert_problem(
        load(&doc.glb()),
        "accessors[0]",
        "bufferViews[0] has only 96 bytes",
    );
    let mut doc = cube();
    doc.accessors[0]["byteOffset"] = json!(4);
    assert_problem(load(&doc.glb()), "accessors[0]", "byteOffset 4");
}

#[test]
fn huge_counts_fail_fast() {
    for count in [1u64 << 31, u64::from(u32::MAX), u64::MAX] {
        let mut doc = cube();
        doc.accessors[0]["count"] = json!(count);
        doc.accessors[1]["count"] = json!(count);
        let start = Instant::now();
        let result = load(&doc.glb());
        assert!(start.elapsed() < Duration::from_secs(1));
        assert_problem(result, "accessors[0]", &format!("count {count}"));
    }
}

#[test]
fn index_out_of_range() {
    let mut doc = cube();
    let mut indices = CUBE_INDICES;
    indices[7] = 8;
    doc.bin.truncate(96);
    doc.views.pop();
    doc.accessors.pop();
    doc.indices_u16(&indices);
    assert_problem(
        load(&doc.glb()),
        "accessors[1]",
        "index 7 is 8, out of range",
    );
}

#[test]
fn index_count_must_form_triangles() {
    let mut doc = cube();
    doc.accessors[1]["count"] = json!(35);
    assert_problem(load(&doc.glb()), "accessors[1]", "multiple of 3");
}

#[test]
fn non_finite_positions() {
    for (bad, expected) in [
        (f32::NAN, "position 1 is NaN"),
        (f32::INFINITY, "position 1 is infinite"),
    ] {
        let mut doc = Doc::default();
        let position = doc.floats(&[0.0, 0.0, 0.0, 1.0, bad, 0.0, 0.0, 1.0, 0.0], "VEC3");
        doc.mesh(vec![json!({ "attributes": { "POSITION": position } })]);
        let result = load(&doc.glb());
        assert_problem(result, "accessors[0]", expected);
        let message = load(&doc.glb()).unwrap_err().to_string();
        assert!(
            message.contains("positions must be finite numbers"),
            "{message}"
        );
    }
}

#[test]
fn non_finite_node_transforms() {
    let mut doc = triangle();
    // 1e39 is beyond f32 and reads as infinity.
    doc.nodes[0]["translation"] = json!([1e39, 0.0, 0.0]);
    assert_problem(load(&doc.glb()), "nodes[0].translation", "finite");
    let mut doc = triangle();
    doc.nodes[0]["matrix"] = json!([1e39, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
    assert_problem(load(&doc.glb()), "nodes[0].matrix", "finite");
    let mut doc = triangle();
    doc.nodes[0]["rotation"] = json!([0, 0, 0, 0]);
    assert_problem(load(&doc.glb()), "nodes[0].rotation", "unit quaternion");
}

#[test]
fn node_that_is_its_own_child() {
    let mut doc = triangle();
    doc.nodes[0]["children"] = json!([0]);
    assert_problem(
        load(&doc.glb()),
        "nodes[0]",
        "node is its own ancestor (cycle through nodes[0] → nodes[0])",
    );
}

#[test]
fn two_node_cycle() {
    let mut doc = triangle();
    for _ in 0..4 {
        doc.node(json!({}));
    }
    doc.nodes[4]["children"] = json!([2]);
    doc.nodes[2]["children"] = json!([4]);
    doc.nodes[1]["children"] = json!([3]);
    assert_problem(
        load(&doc.glb()),
        "nodes[2]",
        "node is its own ancestor (cycle through nodes[2] → nodes[4] → nodes[2])",
    );
}

#[test]
fn longer_cycle_is_named_in_child_order() {
    let mut doc = triangle();
    for _ in 0..3 {
        doc.node(json!({}));
    }
    doc.nodes[1]["children"] = json!([3]);
    doc.nodes[3]["children"] = json!([2]);
    doc.nodes[2]["children"] = json!([1]);
    assert_problem(
        load(&doc.glb()),
        "nodes[1]",
        "cycle through nodes[1] → nodes[3] → nodes[2] → nodes[1]",
    );
}

#[test]
fn node_with_two_parents() {
    let mut doc = triangle();
    doc.node(json!({ "children": [0] }));
    doc.node(json!({ "children": [0] }));
    assert_problem(
        load(&doc.glb()),
        "nodes[0]",
        "two parents (nodes[1] and nodes[2])",
    );
}

#[test]
fn scene_must_list_roots() {
    let mut doc = triangle();
    doc.node(json!({ "children": [0] }));
    doc.scene = Some(vec![1, 0]);
    assert_problem(
        load(&doc.glb()),
        "scenes[0].nodes[1]",
        "nodes[0] is a child of nodes[1]",
    );
}

#[test]
fn u8_and_u32_indices() {
    for (component, bytes) in [
        (UNSIGNED_BYTE, vec![0u8, 2, 1]),
        (
            5125,
            [0u32, 2, 1].iter().flat_map(|i| i.to_le_bytes()).collect(),
        ),
    ] {
        let mut doc = triangle();
        let view = doc.view(&bytes, None);
        let indices = doc.accessor(json!({
            "bufferView": view, "componentType": component, "type": "SCALAR", "count": 3
        }));
        doc.meshes[0]["primitives"][0]["indices"] = json!(indices);
        let model = loaded(&doc.glb());
        assert_eq!(first_primitive(&model).indices, vec![0, 2, 1]);
        // Clockwise seen from +z, so the generated normals face -z.
        assert_close(
            Vec3::from(first_primitive(&model).vertices()[0].normal),
            Vec3::NEG_Z,
        );
    }
}

#[test]
fn deeply_nested_json_does_not_overflow_the_stack() {
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let mut doc = cube();
    doc.nodes[0]["extras"] = json!("NESTED_EXTRAS");
    doc.accessors[0]["min"] = json!("NESTED_MIN");
    let json = doc.json(json!({ "byteLength": doc.bin.len() }));
    // `extras` is kept as raw text, which serde_json skips without recursing.
    let extras_only = json.replacen("\"NESTED_EXTRAS\"", &nested, 1);
    assert!(load(&glb(&extras_only, Some(&doc.bin))).is_ok());
    // `min` is parsed into a JSON value, which stops at serde_json's recursion limit.
    let both = extras_only.replacen("\"NESTED_MIN\"", &nested, 1);
    assert_problem(
        load(&glb(&both, Some(&doc.bin))),
        "accessors[0].min[0][0][0][0][0][0][0]…",
        "recursion limit",
    );
}

#[test]
fn deep_hierarchy_does_not_recurse() {
    let mut doc = triangle();
    let depth = 100_000;
    for i in 1..depth {
        doc.node(json!({ "children": [i - 1], "translation": [0.0, 0.0, 0.0] }));
    }
    let model = loaded(&doc.glb());
    assert_eq!(model.roots, vec![depth - 1]);
    assert_eq!(model.triangle_count(), 1);
}

#[test]
fn wrong_json_types() {
    let mut doc = cube();
    doc.accessors[0]["count"] = json!("eight");
    assert_problem(load(&doc.glb()), "accessors[0].count", "invalid type");
    let mut doc = cube();
    doc.nodes[0]["children"] = json!({ "0": 1 });
    assert_problem(load(&doc.glb()), "nodes[0].children", "invalid type");
    let mut doc = cube();
    doc.extra.push(("meshes", json!("none")));
    assert_problem(load(&doc.glb()), "meshes", "invalid type");
}

#[test]
fn invalid_json_syntax() {
    assert_problem(load(b"{\"asset\": {\"version\": \"2.0\"},"), "JSON", "EOF");
    assert_problem(
        load(b"{\"asset\": {\"version\": \"2.0\"}} trailing"),
        "JSON",
        "unexpected data",
    );
}

#[test]
fn dangling_references_are_validation_problems() {
    let mut doc = cube();
    doc.nodes[0]["mesh"] = json!(7);
    assert_problem(load(&doc.glb()), "nodes[0].mesh", "does not exist");
    let mut doc = cube();
    doc.meshes[0]["primitives"][0]["attributes"]["POSITION"] = json!(9);
    assert_problem(
        load(&doc.glb()),
        "meshes[0].primitives[0].attributes[\"POSITION\"]",
        "accessors[9]",
    );
    let mut doc = cube();
    doc.accessors[0]["componentType"] = json!(1234);
    assert_problem(load(&doc.glb()), "accessors[0].componentType", "");
}

#[test]
fn unsupported_required_extension() {
    let mut doc = cube();
    doc.extra
        .push(("extensionsRequired", json!(["KHR_draco_mesh_compression"])));
    assert_problem(load(&doc.glb()), "extensionsRequired[0]", "not support");
}

#[test]
fn attribute_of_the_wrong_type() {
    let mut doc = triangle();
    doc.accessors[0]["type"] = json!("VEC2");
    doc.accessors[0]["count"] = json!(4);
    assert_problem(
        load(&doc.glb()),
        "accessors[0]",
        "is VEC2 of FLOAT, but meshes[0].primitives[0] uses it as POSITION",
    );
}

#[test]
fn attribute_count_mismatch() {
    let mut doc = triangle();
    let normals = doc.floats(&[0.0, 0.0, 1.0, 0.0, 0.0, 1.0], "VEC3");
    doc.meshes[0]["primitives"][0]["attributes"]["NORMAL"] = json!(normals);
    assert_problem(
        load(&doc.glb()),
        &format!("accessors[{normals}]"),
        "has 2 elements",
    );
}

#[test]
fn several_problems_are_reported_together() {
    let mut doc = cube();
    doc.accessors[0]["count"] = json!(1000);
    doc.accessors[1]["byteOffset"] = json!(1000);
    let error = load(&doc.glb()).unwrap_err();
    let paths: Vec<&str> = error.problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, vec!["accessors[0]", "accessors[1]"]);
}

/// A small deterministic generator, so failures reproduce.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn random_garbage() {
    let mut rng = Lcg(7);
    for len in [1, 3, 12, 100, 4096] {
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        assert!(load(&bytes).is_err());
        // Garbage behind a valid-looking magic too.
        let mut glb = b"glTF".to_vec();
        glb.extend(&bytes);
        assert!(load(&glb).is_err());
    }
    assert_problem(load(&[0x8f, 0x12, 0xa0, 0x33, 0x00]), "GLB", "8f 12 a0 33");
}

/// A model using most features, for the mutation loops below.
fn rich_model() -> Vec<u8> {
    let mut doc = cube();
    let (png, _) = png_2x2();
    let view = doc.view(&png, None);
    doc.images = vec![json!({ "bufferView": view, "mimeType": "image/png" })];
    doc.textures = vec![json!({ "source": 0 })];
    doc.materials = vec![json!({ "pbrMetallicRoughness": { "baseColorTexture": { "index": 0 } } })];
    let colours = doc.view(&[255; 32], None);
    let colour = doc.accessor(json!({
        "bufferView": colours, "componentType": UNSIGNED_BYTE, "normalized": true, "type": "VEC4", "count": 8
    }));
    doc.meshes[0]["primitives"][0]["attributes"]["COLOR_0"] = json!(colour);
    doc.meshes[0]["primitives"][0]["material"] = json!(0);
    doc.node(json!({ "children": [0], "rotation": [0.0, 0.0, 0.70710677, 0.70710677] }));
    doc.scene = Some(vec![1]);
    doc.glb()
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = rich_model();
    assert!(load(&bytes).is_ok());
    for len in 0..bytes.len() {
        let err = load(&bytes[..len]).expect_err("a cut GLB never loads");
        assert!(
            !err.problems.is_empty(),
            "cut at {len}: an error names a problem"
        );
        assert_eq!(err.source_name, "test.glb");
        let _ = required_resources(&bytes[..len], "cut.glb");
    }
}

#[test]
fn byte_flips_return_without_panic() {
    let bytes = rich_model();
    let mut rng = Lcg(42);
    for position in 0..bytes.len() {
        for flip in [0xFF, 1 << (rng.next() % 8), rng.next() as u8 | 1] {
            let mut mutated = bytes.clone();
            mutated[position] ^= flip;
            let _ = load(&mutated);
        }
    }
}

#[test]
fn json_mutations_return_without_panic() {
    let gltf = String::from_utf8(cube().gltf_data_uri()).unwrap();
    let mut rng = Lcg(3);
    let replacements = [
        "0",
        "-1",
        "4294967296",
        "1e39",
        "null",
        "[]",
        "{}",
        "\"x\"",
        "9999999999",
    ];
    let numbers: Vec<usize> = gltf
        .match_indices(|c: char| c.is_ascii_digit())
        .map(|(i, _)| i)
        .collect();
    for _ in 0..2000 {
        let at = numbers[rng.next() as usize % numbers.len()];
        let end = gltf[at..]
            .find(|c: char| !c.is_ascii_digit())
            .map_or(gltf.len(), |e| at + e);
        let replacement = replacements[rng.next() as usize % replacements.len()];
        let mutated = format!("{}{}{}", &gltf[..at], replacement, &gltf[end..]);
        let _ = load(mutated.as_bytes());
    }
}
