//! The twin's 3D model on the CPU side: glTF 2.0 (`.glb`, or `.gltf` with external or data-URI
//! buffers) loaded, bounds-checked and flattened into plain data the renderer uploads as is.
//!
//! Everything here treats its input as hostile: every count, length, offset and index is checked
//! against the bytes actually present before anything is read or allocated.

mod load;

pub use load::limits::MAX_RESOURCE_BYTES;
pub use load::{Resources, load_model, required_resources};

use glam::{Mat4, Vec3};

/// One problem found in a model, located by its glTF JSON path (`accessors[3].count`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelProblem {
    /// JSON path inside the glTF document, or `GLB` for container-level problems.
    pub path: String,
    /// What was wrong and what was expected.
    pub message: String,
}

/// Why a model could not be loaded: the file it came from and every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct ModelError {
    /// File name or URL the model came from.
    pub source_name: String,
    /// At least one problem.
    pub problems: Vec<ModelProblem>,
}

impl ModelError {
    /// An error with a single problem.
    pub fn single(source_name: &str, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            source_name: source_name.to_owned(),
            problems: vec![ModelProblem {
                path: path.into(),
                message: message.into(),
            }],
        }
    }

    fn render(&self) -> String {
        self.problems
            .iter()
            .map(|p| format!("{}: {}: {}", self.source_name, p.path, p.message))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// One vertex, decoded: what the loader reads and what [`Primitive::vertices`] returns. The
/// model stores vertices compactly instead (see [`Primitive`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Vertex {
    /// Position in the node's local space, metres after unit scaling.
    pub position: [f32; 3],
    /// Unit normal in the node's local space (generated when the file has none).
    pub normal: [f32; 3],
    /// Texture coordinate set 0 (zero when absent).
    pub uv: [f32; 2],
    /// Linear RGBA vertex colour (white when absent).
    pub color: [f32; 4],
}

/// A triangle list with one material, stored compactly: 20 bytes a vertex (position and
/// normal), plus 8 for texture coordinates and 8 for vertex colours only when the primitive has
/// them. Normals and colours are quantised as the GPU receives them anyway (snorm16, unorm16).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Primitive {
    /// Positions in the node's local space, metres after unit scaling.
    pub positions: Vec<[f32; 3]>,
    /// Unit normals as snorm16, one per position.
    pub normals: Vec<[i16; 3]>,
    /// Texture coordinate set 0, one per position; empty when the primitive has none (zero).
    pub uvs: Vec<[f32; 2]>,
    /// Linear RGBA vertex colours as unorm16, one per position; empty when none (white).
    pub colors: Vec<[u16; 4]>,
    /// Triangle-list indices into the vertices, always a multiple of 3 and in range.
    pub indices: Vec<u32>,
    /// Index into [`TwinModel::materials`] (the default material is always present).
    pub material: usize,
}

/// Unorm16 white: the colour of a vertex without one.
pub const WHITE16: [u16; 4] = [u16::MAX; 4];

impl Primitive {
    /// A primitive of `vertices` (quantised), keeping texture coordinates only when some are
    /// not zero and colours only when some are not white.
    pub fn from_vertices(vertices: &[Vertex], indices: Vec<u32>, material: usize) -> Self {
        let has_uv = vertices.iter().any(|v| v.uv != [0.0; 2]);
        let colors: Vec<[u16; 4]> = vertices.iter().map(|v| v.color.map(unorm16)).collect();
        let has_color = colors.iter().any(|c| *c != WHITE16);
        Self {
            positions: vertices.iter().map(|v| v.position).collect(),
            normals: vertices.iter().map(|v| v.normal.map(snorm16)).collect(),
            uvs: if has_uv {
                vertices.iter().map(|v| v.uv).collect()
            } else {
                Vec::new()
            },
            colors: if has_color { colors } else { Vec::new() },
            indices,
            material,
        }
    }

    /// Number of vertices.
    pub fn vertex_count(&self) -> usize {
        self.positions.len()
    }

    /// Vertex `i`'s normal, quantised (zero when out of range).
    pub fn normal16(&self, i: usize) -> [i16; 3] {
        self.normals.get(i).copied().unwrap_or_default()
    }

    /// Vertex `i`'s texture coordinates (zero when the primitive has none).
    pub fn uv(&self, i: usize) -> [f32; 2] {
        self.uvs.get(i).copied().unwrap_or_default()
    }

    /// Vertex `i`'s colour, quantised (white when the primitive has none).
    pub fn color16(&self, i: usize) -> [u16; 4] {
        self.colors.get(i).copied().unwrap_or(WHITE16)
    }

    /// Every vertex, decoded (for tools and tests; drawing reads the compact arrays).
    pub fn vertices(&self) -> Vec<Vertex> {
        (0..self.vertex_count())
            .map(|i| Vertex {
                position: self.positions[i],
                normal: self.normal16(i).map(|c| (f32::from(c) / 32767.0).max(-1.0)),
                uv: self.uv(i),
                color: self.color16(i).map(|c| f32::from(c) / 65535.0),
            })
            .collect()
    }

    /// Bytes of vertex and index data held.
    pub fn heap_bytes(&self) -> usize {
        self.positions.len() * 12
            + self.normals.len() * 6
            + self.uvs.len() * 8
            + self.colors.len() * 8
            + self.indices.len() * 4
    }
}

/// `v` in -1..=1 as snorm16 (non-finite as zero).
pub fn snorm16(v: f32) -> i16 {
    let v = if v.is_finite() {
        v.clamp(-1.0, 1.0)
    } else {
        0.0
    };
    (v * 32767.0).round() as i16
}

/// `v` in 0..=1 as unorm16 (non-finite as zero).
pub fn unorm16(v: f32) -> u16 {
    let v = if v.is_finite() {
        v.clamp(0.0, 1.0)
    } else {
        0.0
    };
    (v * 65535.0).round() as u16
}

/// A node of the scene graph, flattened; index equals the glTF node index.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The glTF node name, if any.
    pub name: Option<String>,
    /// Parent node index; `None` for roots.
    pub parent: Option<usize>,
    /// Child node indices.
    pub children: Vec<usize>,
    /// Transform relative to the parent.
    pub local: Mat4,
    /// Transform from node space to model space (parents applied; relative to
    /// [`TwinModel::origin`]).
    pub world: Mat4,
    /// Index into [`TwinModel::meshes`].
    pub mesh: Option<usize>,
}

/// A glTF mesh: one or more primitives.
#[derive(Debug, Clone, PartialEq)]
pub struct Mesh {
    /// The glTF mesh name, if any.
    pub name: Option<String>,
    /// Triangle primitives; points and lines are skipped.
    pub primitives: Vec<Primitive>,
}

/// Metallic-roughness material reduced to what the simple lighting model uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Material {
    /// The glTF material name, if any.
    pub name: Option<String>,
    /// Linear RGBA base colour factor.
    pub base_color: [f32; 4],
    /// Index into [`TwinModel::textures`] for the base colour texture.
    pub base_color_texture: Option<usize>,
    /// Metallic factor 0..=1.
    pub metallic: f32,
    /// Roughness factor 0..=1.
    pub roughness: f32,
    /// Whether back faces are drawn.
    pub double_sided: bool,
}

impl Default for Material {
    fn default() -> Self {
        Self {
            name: None,
            base_color: [1.0; 4],
            base_color_texture: None,
            metallic: 0.0,
            roughness: 1.0,
            double_sided: false,
        }
    }
}

/// A decoded image, RGBA8 with sRGB-encoded colour as glTF specifies for base colour.
#[derive(Debug, Clone, PartialEq)]
pub struct Texture {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 4` bytes.
    pub rgba: Vec<u8>,
}

/// Axis-aligned box in model space.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Aabb {
    /// Smallest corner.
    pub min: Vec3,
    /// Largest corner.
    pub max: Vec3,
}

impl Aabb {
    /// Centre of the box.
    pub fn center(&self) -> Vec3 {
        (self.min + self.max) * 0.5
    }
    /// Radius of the sphere around the box.
    pub fn radius(&self) -> f32 {
        (self.max - self.min).length() * 0.5
    }

    /// The box around this box's corners after `m` (rotation makes it grow).
    pub fn transformed(&self, m: Mat4) -> Aabb {
        let mut out = Aabb {
            min: Vec3::splat(f32::INFINITY),
            max: Vec3::splat(f32::NEG_INFINITY),
        };
        for i in 0..8 {
            let corner = Vec3::new(
                if i & 1 == 0 { self.min.x } else { self.max.x },
                if i & 2 == 0 { self.min.y } else { self.max.y },
                if i & 4 == 0 { self.min.z } else { self.max.z },
            );
            let p = m.transform_point3(corner);
            out.min = out.min.min(p);
            out.max = out.max.max(p);
        }
        out
    }
}

/// A loaded twin model: plain data, ready for upload.
#[derive(Debug, Clone, PartialEq)]
pub struct TwinModel {
    /// File name or URL it came from (used in messages).
    pub source_name: String,
    /// All nodes; index equals the glTF node index.
    pub nodes: Vec<Node>,
    /// Root nodes of the default scene (or of all parentless nodes when no scene is given).
    pub roots: Vec<usize>,
    /// Meshes referenced by nodes.
    pub meshes: Vec<Mesh>,
    /// Materials; index 0 .. n-1 from the file, plus a trailing default material.
    pub materials: Vec<Material>,
    /// Decoded textures.
    pub textures: Vec<Texture>,
    /// Where model space's origin lies in the file's coordinates, metres: node world matrices
    /// are relative to it. Zero unless the file places parts more than 10 km out (site or UTM
    /// coordinates), which are recentred so float32 keeps millimetres.
    pub origin: [f64; 3],
}

impl TwinModel {
    /// Index of the node with exactly this name.
    pub fn node_by_name(&self, name: &str) -> Option<usize> {
        self.nodes
            .iter()
            .position(|n| n.name.as_deref() == Some(name))
    }

    /// Names of all named nodes, in node order.
    pub fn node_names(&self) -> impl Iterator<Item = &str> {
        self.nodes.iter().filter_map(|n| n.name.as_deref())
    }

    /// Triangles drawn for the whole scene (each node instance of a mesh counts).
    pub fn triangle_count(&self) -> u64 {
        self.drawn_nodes()
            .filter_map(|n| n.mesh)
            .filter_map(|m| self.meshes.get(m))
            .flat_map(|m| m.primitives.iter())
            .map(|p| p.indices.len() as u64 / 3)
            .sum()
    }

    /// Number of mesh primitives drawn for the whole scene (a lower bound on draw calls).
    pub fn primitive_count(&self) -> usize {
        self.drawn_nodes()
            .filter_map(|n| n.mesh)
            .filter_map(|m| self.meshes.get(m))
            .map(|m| m.primitives.len())
            .sum()
    }

    /// Per node, whether it is reachable from the roots (drawn).
    pub fn drawn_mask(&self) -> Vec<bool> {
        let mut stack: Vec<usize> = self.roots.clone();
        let mut seen = vec![false; self.nodes.len()];
        while let Some(i) = stack.pop() {
            if i >= self.nodes.len() || seen[i] {
                continue;
            }
            seen[i] = true;
            stack.extend(self.nodes[i].children.iter().copied());
        }
        seen
    }

    /// Nodes reachable from the roots.
    pub fn drawn_nodes(&self) -> impl Iterator<Item = &Node> {
        let mut stack: Vec<usize> = self.roots.clone();
        let mut out = Vec::new();
        let mut seen = vec![false; self.nodes.len()];
        while let Some(i) = stack.pop() {
            if i >= self.nodes.len() || seen[i] {
                continue;
            }
            seen[i] = true;
            out.push(&self.nodes[i]);
            stack.extend(self.nodes[i].children.iter().copied());
        }
        out.into_iter()
    }

    /// World-space bounds of everything drawn; `None` for a model without geometry.
    pub fn bounds(&self) -> Option<Aabb> {
        let mut min = Vec3::splat(f32::INFINITY);
        let mut max = Vec3::splat(f32::NEG_INFINITY);
        for node in self.drawn_nodes() {
            let Some(mesh) = node.mesh.and_then(|m| self.meshes.get(m)) else {
                continue;
            };
            for p in &mesh.primitives {
                for &v in &p.positions {
                    let w = node.world.transform_point3(Vec3::from(v));
                    min = min.min(w);
                    max = max.max(w);
                }
            }
        }
        (min.x <= max.x).then_some(Aabb { min, max })
    }
}
