//! Host checks of the WGSL shaders, without a GPU: every shader parses and validates with naga,
//! and the uniform structs the renderer writes have exactly the size and member offsets the
//! shader declares.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test that panics has failed, with its message

use std::mem::{offset_of, size_of};

use naga::valid::{Capabilities, ValidationFlags, Validator};

// The uniform structs are private to the renderer; include the (dependency-free) file directly
// so the Rust side of the layout is checked too, not just a number written here.
#[allow(dead_code)]
#[path = "../src/render/uniforms.rs"]
mod uniforms;

use uniforms::{ModelUniform, OverlayUniform, ViewUniform};

fn parse(name: &str, source: &str) -> naga::Module {
    naga::front::wgsl::parse_str(source).unwrap_or_else(|e| {
        panic!(
            "{name} does not parse:\n{}",
            e.emit_to_string_with_path(source, name)
        )
    })
}

#[test]
fn every_shader_parses_and_validates() {
    assert!(
        !twinlens::shaders::ALL.is_empty(),
        "no shaders listed in shaders::ALL"
    );
    for &(name, source) in twinlens::shaders::ALL {
        let module = parse(name, source);
        Validator::new(ValidationFlags::all(), Capabilities::empty())
            .validate(&module)
            .unwrap_or_else(|e| {
                panic!(
                    "{name} fails validation:\n{}",
                    e.emit_to_string_with_path(source, name)
                )
            });
    }
}

/// Size and `(member, offset)` list of the WGSL struct `name` in `module`.
fn wgsl_struct(module: &naga::Module, name: &str) -> (u32, Vec<(String, u32)>) {
    let ty = module
        .types
        .iter()
        .map(|(_, ty)| ty)
        .find(|ty| ty.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("mesh.wgsl declares no struct {name}"));
    match &ty.inner {
        naga::TypeInner::Struct { members, span } => (
            *span,
            members
                .iter()
                .map(|m| (m.name.clone().unwrap_or_default(), m.offset))
                .collect(),
        ),
        other => panic!("{name} in mesh.wgsl is not a struct: {other:?}"),
    }
}

/// Asserts the WGSL struct's size equals `expected_size` (the number stated here, so a change
/// on either side fails loudly) and the Rust struct's, and that members sit at `rust_offsets`.
fn assert_layout(
    module: &naga::Module,
    name: &str,
    expected_size: u32,
    rust_size: usize,
    rust_offsets: &[(&str, usize)],
) {
    let (span, members) = wgsl_struct(module, name);
    assert_eq!(
        span, expected_size,
        "WGSL {name} is {span} bytes; the renderer expects {expected_size}"
    );
    assert_eq!(
        rust_size, expected_size as usize,
        "Rust {name} is {rust_size} bytes, WGSL {span}"
    );
    for &(member, rust_offset) in rust_offsets {
        let wgsl_offset = members
            .iter()
            .find(|(n, _)| n == member)
            .map(|(_, o)| *o)
            .unwrap_or_else(|| panic!("WGSL {name} has no member {member}"));
        assert_eq!(
            wgsl_offset as usize, rust_offset,
            "{name}.{member}: WGSL offset {wgsl_offset}, Rust offset {rust_offset}"
        );
    }
}

#[test]
fn mesh_uniform_layouts_match_the_rust_structs() {
    let module = parse("mesh.wgsl", twinlens::shaders::MESH);

    assert_layout(
        &module,
        "ViewUniform",
        144,
        size_of::<ViewUniform>(),
        &[
            ("view_proj", offset_of!(ViewUniform, view_proj)),
            ("eye", offset_of!(ViewUniform, eye)),
            ("key_dir", offset_of!(ViewUniform, key_dir)),
            ("key_color", offset_of!(ViewUniform, key_color)),
            ("sky_color", offset_of!(ViewUniform, sky_color)),
            ("ground_color", offset_of!(ViewUniform, ground_color)),
        ],
    );
    assert_layout(
        &module,
        "ModelUniform",
        128,
        size_of::<ModelUniform>(),
        &[
            ("root", offset_of!(ModelUniform, root)),
            ("root_normal", offset_of!(ModelUniform, root_normal)),
        ],
    );
}

#[test]
fn mesh_vertex_inputs_match_the_model_vertex_layout() {
    // The pipeline feeds `twinlens::render::GpuVertex` fields to locations 0..=4 in field
    // order and the instance slot to 5; the shader must declare exactly those locations with matching widths and kinds.
    let module = parse("mesh.wgsl", twinlens::shaders::MESH);
    let entry = module
        .entry_points
        .iter()
        .find(|e| e.name == "vs_main")
        .expect("mesh.wgsl has a vs_main entry point");
    let arg_ty = &module.types[entry.function.arguments[0].ty];
    let naga::TypeInner::Struct { members, .. } = &arg_ty.inner else {
        panic!("vs_main takes a struct of vertex inputs");
    };
    let mut found: Vec<(u32, u32, bool)> = members
        .iter()
        .map(|m| {
            let Some(naga::Binding::Location { location, .. }) = m.binding else {
                panic!("vertex input {:?} has no @location", m.name);
            };
            let (width, scalar) = match module.types[m.ty].inner {
                naga::TypeInner::Vector { size, scalar } => (size as u32, scalar),
                naga::TypeInner::Scalar(scalar) => (1, scalar),
                ref other => panic!("unexpected vertex input type {other:?}"),
            };
            (location, width, scalar.kind == naga::ScalarKind::Uint)
        })
        .collect();
    found.sort_unstable();
    // Locations 0..=4 come from the vertex buffer as the pass declares them; 5 is the
    // instance's slot, a u32 from its own buffer.
    use twinlens::render::GpuVertex;
    let slot = found.pop();
    assert_eq!(
        slot,
        Some((5, 1, true)),
        "the instance slot is location 5, a u32"
    );
    let found: Vec<(u32, u32, naga::ScalarKind)> = found
        .into_iter()
        .map(|(l, n, uint)| {
            let kind = if uint {
                naga::ScalarKind::Uint
            } else {
                naga::ScalarKind::Float
            };
            (l, n, kind)
        })
        .collect();
    assert_attributes(
        "GpuVertex",
        &twinlens::render::VERTEX_ATTRIBUTES,
        size_of::<GpuVertex>(),
        &found,
    );
    assert_eq!(
        offset_of!(GpuVertex, material),
        offset_of!(GpuVertex, node) + 4
    );
}

#[test]
fn view_uniform_carries_the_light_towards_the_upper_front_left() {
    use glam::{Mat4, Vec3};
    // Camera at +Z looking down -Z at the origin: view space is world space shifted along Z.
    let view = Mat4::from_translation(Vec3::new(0.0, 0.0, -5.0));
    let lighting = uniforms::Lighting::headlight(view);
    assert!(lighting.key_dir.x < 0.0 && lighting.key_dir.y > 0.0 && lighting.key_dir.z > 0.0);
    assert!((lighting.key_dir.length() - 1.0).abs() < 1e-5);
    // Orbiting the camera half-way round moves the light with it.
    let behind = Mat4::from_rotation_y(std::f32::consts::PI) * view;
    assert!(uniforms::Lighting::headlight(behind).key_dir.z < 0.0);
    let u = ViewUniform::new(Mat4::IDENTITY, Vec3::new(0.0, 0.0, 5.0), &lighting);
    assert_eq!(
        u.eye,
        [0.0, 0.0, 5.0, 0.0],
        "no small-part skipping unless asked"
    );
    // 4 px at a 600 px high view with a 90° vertical field of view (y scale 1, so a focal
    // length of 300 px): radius below 2 / 300 of the distance.
    let proj = Mat4::IDENTITY;
    let skipping = u.skip_parts_below(4.0, proj, 600.0);
    assert!(
        (skipping.eye[3] - 2.0 / 300.0).abs() < 1e-6,
        "{}",
        skipping.eye[3]
    );
    assert_eq!(u.skip_parts_below(0.0, proj, 600.0).eye[3], 0.0);
    assert_eq!(u.skip_parts_below(f32::NAN, proj, 600.0).eye[3], 0.0);
}

#[test]
fn model_uniform_normal_matrix_is_the_inverse_transpose() {
    use glam::{Mat4, Vec3};
    let root = Mat4::from_scale(Vec3::new(2.0, 1.0, 1.0));
    let u = ModelUniform::new(root);
    let normal = Mat4::from_cols_array_2d(&u.root_normal);
    // Non-uniform scale: normals scale by the reciprocal.
    assert!((normal.transform_vector3(Vec3::X) - Vec3::new(0.5, 0.0, 0.0)).length() < 1e-6);
    // A collapsed axis has no inverse; the result must stay finite.
    let flat = ModelUniform::new(Mat4::from_scale(Vec3::new(1.0, 0.0, 1.0)));
    assert!(flat.root_normal.iter().flatten().all(|v| v.is_finite()));
}

#[test]
fn overlay_uniform_layout_matches_the_rust_struct() {
    let module = parse("overlay.wgsl", twinlens::shaders::OVERLAY);
    assert_layout(
        &module,
        "OverlayUniform",
        32,
        size_of::<OverlayUniform>(),
        &[
            ("viewport", offset_of!(OverlayUniform, viewport)),
            ("atlas_size", offset_of!(OverlayUniform, atlas_size)),
            ("pulse_phase", offset_of!(OverlayUniform, pulse_phase)),
            ("spread_px", offset_of!(OverlayUniform, spread_px)),
        ],
    );
}

/// Components and scalar kind a shader sees for a vertex attribute of `format` (normalized
/// formats arrive as floats).
fn shader_view(format: wgpu::VertexFormat) -> (u32, naga::ScalarKind) {
    use naga::ScalarKind::{Float, Sint, Uint};
    use wgpu::VertexFormat as F;
    match format {
        F::Float32 => (1, Float),
        F::Float32x2 => (2, Float),
        F::Float32x3 => (3, Float),
        F::Float32x4 | F::Unorm8x4 | F::Snorm8x4 | F::Unorm16x4 | F::Snorm16x4 => (4, Float),
        F::Unorm16x2 | F::Snorm16x2 | F::Float16x2 => (2, Float),
        F::Uint32 => (1, Uint),
        F::Uint32x2 | F::Uint16x2 => (2, Uint),
        F::Uint32x3 => (3, Uint),
        F::Uint32x4 | F::Uint16x4 | F::Uint8x4 => (4, Uint),
        F::Sint32 => (1, Sint),
        other => panic!("add {other:?} to shader_view"),
    }
}

/// The pipeline's `attributes` over a `stride`-byte Rust struct agree with the shader's inputs
/// `found` (`(location, components, kind)`, sorted): one input per attribute with matching
/// width and kind, and attributes that neither overlap nor run past the struct.
fn assert_attributes(
    what: &str,
    attributes: &[wgpu::VertexAttribute],
    stride: usize,
    found: &[(u32, u32, naga::ScalarKind)],
) {
    let mut expected: Vec<(u32, u32, naga::ScalarKind)> = attributes
        .iter()
        .map(|a| {
            let (n, kind) = shader_view(a.format);
            (a.shader_location, n, kind)
        })
        .collect();
    expected.sort_unstable_by_key(|e| e.0);
    assert_eq!(
        found,
        expected.as_slice(),
        "{what}: shader inputs vs pipeline attributes"
    );
    let mut spans: Vec<(u64, u64)> = attributes
        .iter()
        .map(|a| (a.offset, a.offset + a.format.size()))
        .collect();
    spans.sort_unstable();
    for pair in spans.windows(2) {
        assert!(
            pair[0].1 <= pair[1].0,
            "{what}: attributes {pair:?} overlap"
        );
    }
    let end = spans.last().map_or(0, |s| s.1);
    assert!(
        end <= stride as u64,
        "{what}: attributes end at {end}, past the {stride}-byte struct"
    );
}

#[test]
fn overlay_instance_attributes_match_the_rust_struct() {
    use twinlens::overlay::scene::{self, OverlayInstance};
    // The attributes the overlay pipeline is built with, read from the pass itself.
    let attributes = &twinlens::render::INSTANCE_ATTRIBUTES;
    let module = parse("overlay.wgsl", twinlens::shaders::OVERLAY);
    let entry = module
        .entry_points
        .iter()
        .find(|e| e.name == "vs_main")
        .expect("overlay.wgsl has a vs_main entry point");
    let instance = entry
        .function
        .arguments
        .iter()
        .find(|a| a.binding.is_none())
        .expect("vs_main takes the instance struct");
    let naga::TypeInner::Struct { members, .. } = &module.types[instance.ty].inner else {
        panic!("the instance argument is a struct");
    };
    let mut found: Vec<(u32, u32, naga::ScalarKind)> = members
        .iter()
        .map(|m| {
            let Some(naga::Binding::Location { location, .. }) = m.binding else {
                panic!("instance input {:?} has no @location", m.name);
            };
            match module.types[m.ty].inner {
                naga::TypeInner::Vector { size, scalar } => (location, size as u32, scalar.kind),
                naga::TypeInner::Scalar(scalar) => (location, 1, scalar.kind),
                ref other => panic!("unexpected instance input type {other:?}"),
            }
        })
        .collect();
    found.sort_unstable_by_key(|f| f.0);
    assert_attributes(
        "OverlayInstance",
        attributes,
        size_of::<OverlayInstance>(),
        &found,
    );

    // Kind codes and flags are spelled out in the shader too.
    let src = twinlens::shaders::OVERLAY;
    let units = format!(
        "const LENGTH_UNITS_PER_PX: f32 = {:.1};",
        scene::LENGTH_UNITS_PER_PX
    );
    assert!(src.contains(&units), "overlay.wgsl must declare `{units}`");
    for (name, value) in [
        ("KIND_PLATE", scene::KIND_PLATE),
        ("KIND_GLYPH", scene::KIND_GLYPH),
        ("KIND_ICON", scene::KIND_ICON),
        ("KIND_LINE", scene::KIND_LINE),
        ("FLAG_PULSE", scene::FLAG_PULSE),
        ("FLAG_BACKING", scene::FLAG_BACKING),
        ("FLAG_OUTLINE", scene::FLAG_OUTLINE),
    ] {
        let decl = format!("const {name}: u32 = {value}u;");
        assert!(src.contains(&decl), "overlay.wgsl must declare `{decl}`");
    }
    use twinlens::overlay::state::Icon;
    for (name, icon) in [
        ("SHAPE_DOT", Icon::Dot),
        ("SHAPE_TRIANGLE", Icon::Triangle),
        ("SHAPE_OCTAGON", Icon::Octagon),
        ("SHAPE_CLOCK", Icon::Clock),
    ] {
        let decl = format!("const {name}: u32 = {}u;", scene::shape_code(icon));
        assert!(src.contains(&decl), "overlay.wgsl must declare `{decl}`");
    }
    assert!(src.contains("(inst.kind >> 8u)") || src.contains("(in.kind >> 8u)"));
    assert_eq!(scene::SHAPE_SHIFT, 8);
}
