//! glTF 2.0 loading: the GLB container or glTF JSON parsed, every reference and byte range
//! checked against the data actually present, then flattened into a [`TwinModel`].
//!
//! The stages run in order and stop at the first one that finds problems (each stage collects
//! all of its own): container and JSON, gltf validation, buffers, buffer views and accessors,
//! the node hierarchy, then materials, textures and meshes.

mod accessor;
mod glb;
pub mod limits;
mod nodes;
mod texture;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use base64::Engine as _;
use glam::Vec3;
use gltf::json;
use gltf::json::accessor::{ComponentType, Type};
use gltf::json::mesh::{Mode, Semantic};
use gltf::json::validation::{Checked, Validate as _};

use super::{Material, Mesh, ModelError, ModelProblem, Primitive, Texture, TwinModel, Vertex};
use accessor::Accessor;

/// External files a `.gltf` refers to (relative URIs of buffers and images, not data: URIs),
/// keyed by the URI as written in the file.
pub type Resources = HashMap<String, Vec<u8>>;

/// Most vertices all primitives together may have. Stored at 20 to 36 bytes a vertex (see
/// [`Primitive`]) this is 320 to 576 MiB, as much as a wasm32 heap can be expected to spare
/// next to the indices (the loader's 48-byte working copy is one primitive at a time).
const MAX_TOTAL_VERTICES: u64 = 16_000_000;

/// Most triangle-list indices all primitives together may have (192 MiB).
const MAX_TOTAL_INDICES: u64 = 48_000_000;

/// Which external URIs must be fetched before [`load_model`] can run: the non-data URIs of all
/// buffers and of the images used as base colour textures, each once, in file order. Empty for a
/// `.glb` or a `.gltf` that embeds everything as data URIs.
pub fn required_resources(bytes: &[u8], source_name: &str) -> Result<Vec<String>, ModelError> {
    let (root, _, _) = parse(bytes).map_err(|problems| error(source_name, problems))?;
    let buffer_uris = root.buffers.iter().filter_map(|b| b.uri.as_deref());
    let image_uris = base_color_images(&root)
        .into_iter()
        .filter_map(|i| root.images.get(i)?.uri.as_deref());
    let mut seen = HashSet::new();
    Ok(buffer_uris
        .chain(image_uris)
        .filter(|uri| !uri.starts_with("data:") && seen.insert(*uri))
        .map(str::to_owned)
        .collect())
}

/// Parses a GLB or glTF JSON file (told apart by the `glTF` magic), checks everything against
/// the bytes present, and flattens it into a [`TwinModel`]. External files come from
/// `resources` (see [`required_resources`]).
pub fn load_model(
    bytes: &[u8],
    source_name: &str,
    resources: &Resources,
) -> Result<TwinModel, ModelError> {
    let fail = |problems| error(source_name, problems);
    let (root, bin, json_text) = parse(bytes).map_err(fail)?;
    limits::check_node_count(root.nodes.len()).map_err(|p| fail(vec![p]))?;
    limits::check_resource_bytes(resources.values().map(|b| b.len() as u64).sum())
        .map_err(|p| fail(vec![p]))?;
    let mut problems = Vec::new();

    let buffers = load_buffers(&root, bin, resources, &mut problems);
    let buffers = trim_buffers(&root, &buffers, &mut problems);
    let views = check_views(&root, &buffers, &mut problems);
    let accessors: Vec<Option<Accessor>> = root
        .accessors
        .iter()
        .enumerate()
        .map(|(i, a)| {
            accessor::check(i, a, &views)
                .map_err(|p| problems.extend(p))
                .ok()
        })
        .collect();
    if !problems.is_empty() {
        return Err(fail(problems));
    }

    let precise = nodes::PreciseNodes::worth_reading(&root)
        .then(|| nodes::PreciseNodes::read(json_text))
        .flatten();
    let nodes::Hierarchy {
        nodes,
        roots,
        origin,
    } = nodes::build(&root, precise.as_ref()).map_err(fail)?;
    let (materials, textures) = load_materials(&root, &views, resources, &mut problems);
    // The trailing default material; `load_materials` always appends it.
    let default_material = materials.len() - 1;
    let meshes = load_meshes(&root, &accessors, default_material, &mut problems);
    if !problems.is_empty() {
        return Err(fail(problems));
    }
    let model = TwinModel {
        source_name: source_name.to_owned(),
        nodes,
        roots,
        meshes,
        materials,
        textures,
        origin,
    };
    limits::check_drawn_triangles(&model).map_err(|p| fail(vec![p]))?;
    Ok(model)
}

fn problem(path: impl Into<String>, message: impl Into<String>) -> ModelProblem {
    ModelProblem {
        path: path.into(),
        message: message.into(),
    }
}

fn error(source_name: &str, problems: Vec<ModelProblem>) -> ModelError {
    ModelError {
        source_name: source_name.to_owned(),
        problems,
    }
}

/// The validated JSON document and, for a GLB, its BIN chunk.
/// A parsed file: the document, the GLB BIN chunk if any, and the JSON text.
type Parsed<'a> = (json::Root, Option<&'a [u8]>, &'a [u8]);

fn parse(bytes: &[u8]) -> Result<Parsed<'_>, Vec<ModelProblem>> {
    let (text, bin) = if bytes.starts_with(glb::MAGIC) {
        let chunks = glb::split(bytes).map_err(|p| vec![p])?;
        // Some writers pad the JSON chunk with NULs instead of the spaces the format asks for.
        let end = chunks
            .json
            .iter()
            .rposition(|&b| b != 0)
            .map_or(0, |last| last + 1);
        (chunks.json.get(..end).unwrap_or_default(), chunks.bin)
    } else {
        let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        if text.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(vec![not_a_model(bytes)]);
        }
        (text, None)
    };

    let mut deserializer = serde_json::Deserializer::from_slice(text);
    let root: json::Root = match serde_path_to_error::deserialize(&mut deserializer) {
        Ok(root) => root,
        Err(e) => {
            let path = json_path(e.path());
            return Err(vec![problem(path, e.into_inner().to_string())]);
        }
    };
    deserializer.end().map_err(|e| {
        vec![problem(
            "JSON",
            format!("unexpected data after the document: {e}"),
        )]
    })?;

    check_position_references(&root)?;
    let mut problems = Vec::new();
    root.validate(
        &root,
        json::Path::new,
        &mut |path: &dyn Fn() -> json::Path, e| {
            let path = path().to_string();
            if relaxed(&path, e) {
                return;
            }
            // Some paths end in ` = "value"`; the value belongs in the message.
            problems.push(match path.split_once(" = ") {
                Some((path, value)) => problem(path, format!("{value} {}", validation_message(e))),
                None => problem(path, validation_message(e)),
            });
        },
    );
    if problems.is_empty() {
        Ok((root, bin, text))
    } else {
        Err(problems)
    }
}

/// A serde error's location as a glTF JSON path (`accessors[0].count`), cut short inside deeply
/// nested values, or `JSON` for the document as a whole.
fn json_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    // Deeper than any property glTF defines; beyond it the path only repeats `[0]`s.
    const MAX_SEGMENTS: usize = 10;
    let mut out = String::new();
    // `Unknown` stands for a map key not yet read, as at an unexpected end of input.
    let segments = path.iter().filter(|s| !matches!(s, Segment::Unknown));
    for (depth, segment) in segments.enumerate() {
        if depth == MAX_SEGMENTS {
            out.push('…');
            break;
        }
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            named => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&named.to_string());
            }
        }
    }
    if out.is_empty() {
        "JSON".to_owned()
    } else {
        out
    }
}

fn not_a_model(bytes: &[u8]) -> ModelProblem {
    if bytes.is_empty() {
        return problem(
            "GLB",
            "the file is empty; expected a binary glTF (.glb) or glTF JSON (.gltf)",
        );
    }
    let start = bytes.get(..4).unwrap_or(bytes);
    let hex: Vec<String> = start.iter().map(|b| format!("{b:02x}")).collect();
    let text = match std::str::from_utf8(start) {
        Ok(text) if text.chars().all(|c| c.is_ascii_graphic()) => format!(" ({text:?})"),
        _ => String::new(),
    };
    problem(
        "GLB",
        format!(
            "the file starts with bytes [{}]{text}, which is neither the GLB magic \"glTF\" nor a \
             JSON object; expected a .glb or .gltf model",
            hex.join(" "),
        ),
    )
}

/// gltf-json's validation looks up each primitive's POSITION accessor without a bounds check,
/// so out-of-range references must be caught before it runs.
fn check_position_references(root: &json::Root) -> Result<(), Vec<ModelProblem>> {
    let accessors = root.accessors.len();
    let mut problems = Vec::new();
    for (m, mesh) in root.meshes.iter().enumerate() {
        for (p, primitive) in mesh.primitives.iter().enumerate() {
            let Some(index) = primitive
                .attributes
                .get(&Checked::Valid(Semantic::Positions))
            else {
                continue;
            };
            if index.value() >= accessors {
                problems.push(problem(
                    format!("meshes[{m}].primitives[{p}].attributes[\"POSITION\"]"),
                    format!(
                        "refers to accessors[{}], but the file has {accessors}",
                        index.value()
                    ),
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Validation rules the loader relaxes because it handles the case itself: POSITION `min` and
/// `max` are not needed (bounds come from the data), and an accessor without a `bufferView`
/// reads as zeros, as the specification allows.
fn relaxed(path: &str, error: json::validation::Error) -> bool {
    path.ends_with("[\"POSITION\"].min")
        || path.ends_with("[\"POSITION\"].max")
        || (error == json::validation::Error::Missing
            && path.starts_with("accessors[")
            && path.ends_with("].bufferView"))
}

fn validation_message(error: json::validation::Error) -> &'static str {
    use json::validation::Error;
    match error {
        Error::IndexOutOfBounds => "refers to an object that does not exist (index out of range)",
        Error::Invalid => "has a value glTF does not allow here",
        Error::Missing => "is required but missing",
        Error::Oversize => "is too large to address on this system",
        Error::Unsupported => "is a required extension this viewer does not support",
    }
}

/// A buffer's bytes before trimming to `byteLength`.
struct LoadedBuffer<'a> {
    data: Cow<'a, [u8]>,
    /// Where the bytes came from, for messages.
    origin: String,
}

/// Each buffer's bytes; `None` where a problem was recorded.
fn load_buffers<'a>(
    root: &json::Root,
    bin: Option<&'a [u8]>,
    resources: &'a Resources,
    problems: &mut Vec<ModelProblem>,
) -> Vec<Option<LoadedBuffer<'a>>> {
    let mut loaded = Vec::with_capacity(root.buffers.len());
    for (i, buffer) in root.buffers.iter().enumerate() {
        let path = format!("buffers[{i}]");
        let buffer = match (buffer.uri.as_deref(), bin) {
            (Some(uri), _) => external(uri, resources)
                .map(|data| LoadedBuffer {
                    data,
                    origin: if uri.starts_with("data:") {
                        "its data URI".to_owned()
                    } else {
                        format!("{uri:?}")
                    },
                })
                .map_err(|message| problem(format!("{path}.uri"), message)),
            (None, Some(bin)) if i == 0 => Ok(LoadedBuffer {
                data: Cow::Borrowed(bin),
                origin: "the GLB BIN chunk".to_owned(),
            }),
            (None, _) => Err(problem(
                path,
                "has no uri and is not buffers[0] of a GLB with a BIN chunk; expected a uri",
            )),
        };
        loaded.push(buffer.map_err(|p| problems.push(p)).ok());
    }
    loaded
}

/// The bytes a `uri` stands for: a decoded data URI, or the provided external file.
fn external<'a>(uri: &str, resources: &'a Resources) -> Result<Cow<'a, [u8]>, String> {
    let Some(rest) = uri.strip_prefix("data:") else {
        return resources
            .get(uri)
            .map(|data| Cow::Borrowed(data.as_slice()))
            .ok_or_else(|| format!("{uri:?} was not provided"));
    };
    match rest.split_once(',') {
        Some((header, payload)) if header.ends_with(";base64") => {
            base64::engine::general_purpose::STANDARD
                .decode(payload)
                .map(Cow::Owned)
                .map_err(|e| format!("the data URI is not valid base64: {e}"))
        }
        Some(_) => Err("the data URI is not base64-encoded; expected \";base64,\" data".to_owned()),
        None => Err("the data URI has no ',' before its data".to_owned()),
    }
}

/// Each buffer cut to its declared `byteLength`, which must not exceed the bytes present
/// (GLB BIN chunks may carry up to three padding bytes beyond it).
fn trim_buffers<'a>(
    root: &json::Root,
    loaded: &'a [Option<LoadedBuffer>],
    problems: &mut Vec<ModelProblem>,
) -> Vec<Option<&'a [u8]>> {
    root.buffers
        .iter()
        .zip(loaded)
        .enumerate()
        .map(|(i, (buffer, loaded))| {
            let LoadedBuffer { data, origin } = loaded.as_ref()?;
            let declared = buffer.byte_length.0;
            let trimmed = usize::try_from(declared).ok().and_then(|n| data.get(..n));
            if trimmed.is_none() {
                problems.push(problem(
                    format!("buffers[{i}]"),
                    format!(
                        "byteLength is {declared} but {origin} holds only {} bytes",
                        data.len()
                    ),
                ));
            }
            trimmed
        })
        .collect()
}

/// A buffer view's bytes, proven to lie within its buffer.
#[derive(Clone, Copy)]
struct View<'a> {
    bytes: &'a [u8],
    /// `byteStride`, when the view interleaves elements.
    stride: Option<usize>,
}

/// Each buffer view's bytes; `None` where a problem was recorded (here or for its buffer).
fn check_views<'a>(
    root: &json::Root,
    buffers: &[Option<&'a [u8]>],
    problems: &mut Vec<ModelProblem>,
) -> Vec<Option<View<'a>>> {
    root.buffer_views
        .iter()
        .enumerate()
        .map(|(i, view)| {
            let b = view.buffer.value();
            // A missing or broken buffer has been reported already.
            let buffer = (*buffers.get(b)?)?;
            let offset = view.byte_offset.map_or(0, |o| o.0);
            let length = view.byte_length.0;
            let end = u128::from(offset) + u128::from(length);
            let bytes = usize::try_from(end)
                .ok()
                .and_then(|end| buffer.get(usize::try_from(offset).ok()?..end));
            if bytes.is_none() {
                problems.push(problem(
                    format!("bufferViews[{i}]"),
                    format!(
                        "byteOffset {offset} + byteLength {length} = {end} runs past the end of \
                         buffers[{b}], which is {} bytes long",
                        buffer.len()
                    ),
                ));
            }
            Some(View {
                bytes: bytes?,
                stride: view.byte_stride.map(|s| s.0),
            })
        })
        .collect()
}

/// Images used as base colour textures, each once, in order of first use by a material.
fn base_color_images(root: &json::Root) -> Vec<usize> {
    let mut seen = HashSet::new();
    root.materials
        .iter()
        .filter_map(|m| base_color_image(root, m))
        .filter(|&image| seen.insert(image))
        .collect()
}

fn base_color_image(root: &json::Root, material: &json::Material) -> Option<usize> {
    let info = material
        .pbr_metallic_roughness
        .base_color_texture
        .as_ref()?;
    Some(root.textures.get(info.index.value())?.source.value())
}

/// The file's materials plus a trailing default one, and the decoded textures (one per image
/// used as a base colour texture).
fn load_materials(
    root: &json::Root,
    views: &[Option<View>],
    resources: &Resources,
    problems: &mut Vec<ModelProblem>,
) -> (Vec<Material>, Vec<Texture>) {
    let mut textures = Vec::new();
    // glTF image index → index into `textures`, or `None` when it failed to load.
    let mut texture_of_image: HashMap<usize, Option<usize>> = HashMap::new();
    let mut budget = texture::MAX_TOTAL_TEXTURE_BYTES;
    for image in base_color_images(root) {
        let texture = load_image(root, image, views, resources, &mut budget)
            .map_err(|p| problems.push(p))
            .ok()
            .map(|texture| {
                textures.push(texture);
                textures.len() - 1
            });
        texture_of_image.insert(image, texture);
    }

    let mut materials: Vec<Material> = root
        .materials
        .iter()
        .map(|m| {
            let pbr = &m.pbr_metallic_roughness;
            Material {
                name: m.name.clone(),
                // JSON has no NaN, so clamping keeps every factor finite and in range.
                base_color: pbr.base_color_factor.0.map(|c| c.clamp(0.0, 1.0)),
                base_color_texture: base_color_image(root, m)
                    .and_then(|image| texture_of_image.get(&image).copied().flatten()),
                metallic: pbr.metallic_factor.0.clamp(0.0, 1.0),
                roughness: pbr.roughness_factor.0.clamp(0.0, 1.0),
                double_sided: m.double_sided,
            }
        })
        .collect();
    materials.push(Material::default());
    (materials, textures)
}

fn load_image(
    root: &json::Root,
    index: usize,
    views: &[Option<View>],
    resources: &Resources,
    budget: &mut u64,
) -> Result<Texture, ModelProblem> {
    let path = format!("images[{index}]");
    let Some(image) = root.images.get(index) else {
        return Err(problem(path, "does not exist"));
    };
    let bytes = match (image.buffer_view, image.uri.as_deref()) {
        (Some(view), _) => match views.get(view.value()) {
            Some(Some(view)) => Cow::Borrowed(view.bytes),
            _ => {
                return Err(problem(
                    format!("{path}.bufferView"),
                    "refers to an invalid buffer view",
                ));
            }
        },
        (None, Some(uri)) => {
            external(uri, resources).map_err(|message| problem(format!("{path}.uri"), message))?
        }
        (None, None) => return Err(problem(path, "has neither a uri nor a bufferView")),
    };
    texture::decode(&bytes, budget).map_err(|message| problem(path, message))
}

/// Vertices and indices of all primitives so far, against the totals' limits.
#[derive(Default)]
struct Totals {
    vertices: u64,
    indices: u64,
}

/// All meshes (index = glTF mesh index). Stops at the first primitive that would exceed the
/// total limits, since every later one would too.
fn load_meshes(
    root: &json::Root,
    accessors: &[Option<Accessor>],
    default_material: usize,
    problems: &mut Vec<ModelProblem>,
) -> Vec<Mesh> {
    let mut totals = Totals::default();
    let mut meshes = Vec::with_capacity(root.meshes.len());
    'meshes: for (m, mesh) in root.meshes.iter().enumerate() {
        let mut primitives = Vec::with_capacity(mesh.primitives.len());
        for (p, primitive) in mesh.primitives.iter().enumerate() {
            let built = PrimitiveSource {
                accessors,
                path: format!("meshes[{m}].primitives[{p}]"),
            }
            .build(primitive, default_material, &mut totals);
            match built {
                Ok(Some(built)) => primitives.push(built),
                Ok(None) => {}
                Err(p) => {
                    problems.push(p);
                    if totals.vertices > MAX_TOTAL_VERTICES || totals.indices > MAX_TOTAL_INDICES {
                        break 'meshes;
                    }
                }
            }
        }
        meshes.push(Mesh {
            name: mesh.name.clone(),
            primitives,
        });
    }
    meshes
}

/// What one primitive is built from: the checked accessors and its path for messages.
struct PrimitiveSource<'r, 'a> {
    accessors: &'r [Option<Accessor<'a>>],
    path: String,
}

/// An accessor a primitive reads, with its index for messages.
type Input<'a> = (usize, Accessor<'a>);

/// The accessors one triangle primitive reads, their types checked and counts matched.
struct Inputs<'a> {
    positions: Input<'a>,
    normals: Option<Input<'a>>,
    uvs: Option<Input<'a>>,
    colors: Option<Input<'a>>,
    indices: Option<Input<'a>>,
}

impl<'a> PrimitiveSource<'_, 'a> {
    /// The triangle list of one primitive; `None` for points and lines.
    fn build(
        &self,
        primitive: &json::mesh::Primitive,
        default_material: usize,
        totals: &mut Totals,
    ) -> Result<Option<Primitive>, ModelProblem> {
        let path = &self.path;
        let Checked::Valid(mode) = primitive.mode else {
            return Err(problem(
                format!("{path}.mode"),
                "is not a glTF primitive mode",
            ));
        };
        if !matches!(
            mode,
            Mode::Triangles | Mode::TriangleStrip | Mode::TriangleFan
        ) {
            return Ok(None);
        }
        let material = match primitive.material.map(|m| m.value()) {
            None => default_material,
            Some(m) if m < default_material => m,
            Some(m) => {
                return Err(problem(
                    format!("{path}.material"),
                    format!("materials[{m}] does not exist"),
                ));
            }
        };
        let inputs = self.inputs(primitive)?;
        self.reserve(&inputs, mode, totals)?;
        let mut vertices = read_vertices(&inputs)?;
        let indices = triangle_list(mode, self.index_list(&inputs)?);
        fill_missing_normals(&mut vertices, &indices);
        Ok(Some(Primitive::from_vertices(&vertices, indices, material)))
    }

    fn inputs(&self, primitive: &json::mesh::Primitive) -> Result<Inputs<'a>, ModelProblem> {
        let path = &self.path;
        let attribute = |semantic: Semantic, name: &str, fits: fn(&Accessor) -> bool, expected| {
            let Some(index) = primitive.attributes.get(&Checked::Valid(semantic)) else {
                return Ok(None);
            };
            self.accessor(index.value(), name, fits, expected).map(Some)
        };
        let Some(positions) = attribute(
            Semantic::Positions,
            "POSITION",
            is_vec3_float,
            "VEC3 of FLOAT",
        )?
        else {
            return Err(problem(format!("{path}.attributes"), "has no POSITION"));
        };
        let inputs = Inputs {
            positions,
            normals: attribute(Semantic::Normals, "NORMAL", is_vec3_float, "VEC3 of FLOAT")?,
            uvs: attribute(
                Semantic::TexCoords(0),
                "TEXCOORD_0",
                |a| a.dims == Type::Vec2 && is_float_or_unorm(a),
                "VEC2 of FLOAT, or of normalized UNSIGNED_BYTE or UNSIGNED_SHORT",
            )?,
            colors: attribute(
                Semantic::Colors(0),
                "COLOR_0",
                |a| matches!(a.dims, Type::Vec3 | Type::Vec4) && is_float_or_unorm(a),
                "VEC3 or VEC4 of FLOAT, or of normalized UNSIGNED_BYTE or UNSIGNED_SHORT",
            )?,
            indices: primitive
                .indices
                .map(|i| {
                    self.accessor(
                        i.value(),
                        "indices",
                        |a| a.dims == Type::Scalar && is_unsigned_int(a),
                        "SCALAR of UNSIGNED_BYTE, UNSIGNED_SHORT or UNSIGNED_INT",
                    )
                })
                .transpose()?,
        };

        let (position_index, positions) = inputs.positions;
        let attributes = [
            ("NORMAL", inputs.normals),
            ("TEXCOORD_0", inputs.uvs),
            ("COLOR_0", inputs.colors),
        ];
        for (name, attribute) in attributes {
            if let Some((index, a)) = attribute
                && a.count != positions.count
            {
                return Err(problem(
                    format!("accessors[{index}]"),
                    format!(
                        "has {} elements but POSITION (accessors[{position_index}]) has {}; \
                         {name} of {path} must match it",
                        a.count, positions.count
                    ),
                ));
            }
        }
        Ok(inputs)
    }

    /// Checks that the index count forms triangles and that this primitive keeps the model
    /// within the total limits, before anything is allocated for it.
    fn reserve(
        &self,
        inputs: &Inputs,
        mode: Mode,
        totals: &mut Totals,
    ) -> Result<(), ModelProblem> {
        let path = &self.path;
        let vertex_count = inputs.positions.1.count;
        let index_count = inputs.indices.map_or(vertex_count, |(_, a)| a.count);
        if mode == Mode::Triangles && !index_count.is_multiple_of(3) {
            let (at, what) = match inputs.indices {
                Some((i, _)) => (format!("accessors[{i}]"), "indices"),
                None => (path.clone(), "vertices (non-indexed)"),
            };
            return Err(problem(
                at,
                format!(
                    "{index_count} {what} do not form whole triangles; TRIANGLES needs a multiple of 3"
                ),
            ));
        }
        // In u64: a strip's tripled count could overflow a 32-bit usize.
        let triangle_indices = match mode {
            Mode::Triangles => index_count as u64,
            _ => (index_count as u64).saturating_sub(2) * 3,
        };
        totals.vertices = totals.vertices.saturating_add(vertex_count as u64);
        totals.indices = totals.indices.saturating_add(triangle_indices);
        if totals.vertices > MAX_TOTAL_VERTICES {
            return Err(problem(
                path,
                format!("brings the model past {MAX_TOTAL_VERTICES} vertices, this viewer's limit"),
            ));
        }
        if totals.indices > MAX_TOTAL_INDICES {
            return Err(problem(
                path,
                format!(
                    "brings the model past {MAX_TOTAL_INDICES} triangle indices, this viewer's limit"
                ),
            ));
        }
        Ok(())
    }

    /// The index accessor's values, each checked against the vertex count, or 0..n when the
    /// primitive is not indexed.
    fn index_list(&self, inputs: &Inputs) -> Result<Vec<u32>, ModelProblem> {
        let count = inputs.positions.1.count;
        let Some((index, a)) = inputs.indices else {
            // The vertex limit keeps `count` far below u32::MAX.
            return Ok((0..count).map(|i| i as u32).collect());
        };
        let mut list = Vec::with_capacity(a.count);
        let mut bad = None;
        a.for_each_u32(|k, vertex| {
            if bad.is_none() && vertex as usize >= count {
                bad = Some((k, vertex));
            }
            list.push(vertex);
        });
        match bad {
            None => Ok(list),
            Some((k, vertex)) => Err(problem(
                format!("accessors[{index}]"),
                format!(
                    "index {k} is {vertex}, out of range: {} has {count} vertices (valid indices \
                     0..{count})",
                    self.path
                ),
            )),
        }
    }

    /// The checked accessor `index`, used as attribute `name` of this primitive, if its type
    /// `fits`.
    fn accessor(
        &self,
        index: usize,
        name: &str,
        fits: fn(&Accessor) -> bool,
        expected: &str,
    ) -> Result<Input<'a>, ModelProblem> {
        let path = &self.path;
        let Some(Some(accessor)) = self.accessors.get(index) else {
            return Err(problem(
                format!("{path}.attributes"),
                format!("{name} refers to accessors[{index}], which is missing or invalid"),
            ));
        };
        if !fits(accessor) {
            return Err(problem(
                format!("accessors[{index}]"),
                format!(
                    "is {}, but {path} uses it as {name}, which must be {expected}",
                    accessor.describe()
                ),
            ));
        }
        Ok((index, *accessor))
    }
}

/// The primitive's vertices; positions must be finite, normals are normalized (zero where
/// missing or degenerate, for [`fill_missing_normals`]).
fn read_vertices(inputs: &Inputs) -> Result<Vec<Vertex>, ModelProblem> {
    let (position_index, positions) = inputs.positions;
    let blank = Vertex {
        position: [0.0; 3],
        normal: [0.0; 3],
        uv: [0.0; 2],
        color: [1.0; 4],
    };
    let mut vertices = vec![blank; positions.count];
    let mut bad = None;
    positions.for_each_f32([0.0; 4], |i, [x, y, z, _]| {
        if bad.is_none() && !(x.is_finite() && y.is_finite() && z.is_finite()) {
            bad = Some((i, [x, y, z]));
        }
        if let Some(v) = vertices.get_mut(i) {
            v.position = [x, y, z];
        }
    });
    if let Some((i, p)) = bad {
        let what = if p.iter().any(|c| c.is_nan()) {
            "NaN".to_owned()
        } else {
            format!("infinite ({p:?})")
        };
        return Err(problem(
            format!("accessors[{position_index}]"),
            format!("position {i} is {what}; positions must be finite numbers"),
        ));
    }
    if let Some((_, a)) = inputs.uvs {
        a.for_each_f32([0.0; 4], |i, [u, v, _, _]| {
            if let Some(vertex) = vertices.get_mut(i) {
                vertex.uv = [u, v];
            }
        });
    }
    if let Some((_, a)) = inputs.colors {
        a.for_each_f32([1.0; 4], |i, color| {
            if let Some(vertex) = vertices.get_mut(i) {
                vertex.color = color;
            }
        });
    }
    if let Some((_, a)) = inputs.normals {
        a.for_each_f32([0.0; 4], |i, [x, y, z, _]| {
            if let Some(vertex) = vertices.get_mut(i) {
                vertex.normal = Vec3::new(x, y, z).normalize_or_zero().to_array();
            }
        });
    }
    Ok(vertices)
}

/// Replaces zero normals (absent, zero-length or non-finite in the file) with generated ones.
fn fill_missing_normals(vertices: &mut [Vertex], indices: &[u32]) {
    if vertices.iter().all(|v| v.normal != [0.0; 3]) {
        return;
    }
    let generated = smooth_normals(vertices, indices);
    for (vertex, normal) in vertices.iter_mut().zip(generated) {
        if vertex.normal == [0.0; 3] {
            vertex.normal = normal.to_array();
        }
    }
}

fn is_unsigned_int(a: &Accessor) -> bool {
    matches!(
        a.component,
        ComponentType::U8 | ComponentType::U16 | ComponentType::U32
    )
}

fn is_vec3_float(a: &Accessor) -> bool {
    a.dims == Type::Vec3 && a.component == ComponentType::F32
}

fn is_float_or_unorm(a: &Accessor) -> bool {
    a.component == ComponentType::F32
        || (a.normalized && matches!(a.component, ComponentType::U8 | ComponentType::U16))
}

/// Converts strips and fans to a plain triangle list, keeping every triangle's winding
/// counter-clockwise as the specification orders strip and fan vertices.
fn triangle_list(mode: Mode, list: Vec<u32>) -> Vec<u32> {
    match mode {
        Mode::TriangleStrip => {
            let mut out = Vec::with_capacity(list.len().saturating_sub(2) * 3);
            for (i, window) in list.windows(3).enumerate() {
                if let [a, b, c] = *window {
                    out.extend(if i % 2 == 0 { [a, b, c] } else { [a, c, b] });
                }
            }
            out
        }
        Mode::TriangleFan => {
            let Some(&first) = list.first() else {
                return list;
            };
            let mut out = Vec::with_capacity(list.len().saturating_sub(2) * 3);
            for window in list.windows(2).skip(1) {
                if let [b, c] = *window {
                    out.extend([b, c, first]);
                }
            }
            out
        }
        _ => list,
    }
}

/// Area-weighted smooth normals: each triangle's unnormalized face normal (whose length is twice
/// its area) summed into its vertices. Vertices touching no proper triangle point up.
fn smooth_normals(vertices: &[Vertex], indices: &[u32]) -> Vec<Vec3> {
    let mut sums = vec![Vec3::ZERO; vertices.len()];
    let position = |i: u32| vertices.get(i as usize).map(|v| Vec3::from(v.position));
    for triangle in indices.chunks_exact(3) {
        let [a, b, c] = *triangle else { continue };
        let (Some(pa), Some(pb), Some(pc)) = (position(a), position(b), position(c)) else {
            continue;
        };
        let face = (pb - pa).cross(pc - pa);
        if !face.is_finite() {
            continue;
        }
        for i in [a, b, c] {
            if let Some(sum) = sums.get_mut(i as usize) {
                *sum += face;
            }
        }
    }
    sums.into_iter()
        .map(|n| n.try_normalize().unwrap_or(Vec3::Y))
        .collect()
}
