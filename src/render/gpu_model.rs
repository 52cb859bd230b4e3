//! A [`TwinModel`] uploaded to the GPU: packed vertex/index buffers, base colour textures with
//! mips, per-material bind groups, per-node uniforms, and the sorted draw list that
//! [`ModelPass::draw`](super::model_pass::ModelPass::draw) walks.
//!
//! Per-node sensor tints live in the node uniforms too: a tint set on a node applies to its
//! meshes and its descendants' (nearest tinted ancestor wins), and only the slots whose
//! effective tint changed are rewritten.
//!
//! Dropping a `GpuModel` frees all of it; replacing the twin never leaks the previous one.

use std::mem::size_of;
use std::num::NonZeroU64;

use glam::Mat4;
use wgpu::util::DeviceExt;

use super::model_pass::{ModelPass, Raster, uniform_stride};
use super::texture_prep::prepare_mips;
use super::uniforms::{
    MaterialUniform, NODE_TINT_BYTES, NodeUniform, TINT_BLEND, TINT_NONE, TINT_REPLACE,
};
use crate::model::{Material, TwinModel, Vertex};
use crate::overlay::color::{Tint, TintMode};

/// Changed node slots closer than this are uploaded as one range: copying a few unchanged
/// 256-byte slots costs less than another `writeBuffer` call.
const TINT_MERGE_GAP: u32 = 16;

/// One vertex buffer and one index buffer holding many primitives. Indices are rebased to the
/// chunk, so every draw uses base vertex 0 (WebGL2 has no base-vertex draws).
pub(crate) struct GeometryChunk {
    pub(crate) vertices: wgpu::Buffer,
    pub(crate) indices: wgpu::Buffer,
}

/// One indexed draw: a primitive of a mesh, on one node instance.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DrawItem {
    pub(crate) raster: Raster,
    pub(crate) material: usize,
    pub(crate) chunk: usize,
    pub(crate) node_slot: u32,
    pub(crate) first_index: u32,
    pub(crate) index_count: u32,
    /// Whether the material is double-sided (kept to recompute `raster` in `set_root`).
    double_sided: bool,
}

/// Where a primitive's indices live after packing.
#[derive(Debug, Clone, Copy)]
struct PackedPrimitive {
    chunk: usize,
    first_index: u32,
    index_count: u32,
    material: usize,
}

/// A model's GPU resources and draw list.
pub struct GpuModel {
    pub(crate) chunks: Vec<GeometryChunk>,
    pub(crate) materials: Vec<wgpu::BindGroup>,
    pub(crate) node_bind_group: wgpu::BindGroup,
    /// Byte stride between node uniform slots (a dynamic offset, hence u32).
    pub(crate) node_stride: u32,
    pub(crate) draws: Vec<DrawItem>,
    node_buffer: wgpu::Buffer,
    /// Node-to-model matrices per node slot, kept to re-place the model without re-uploading.
    node_worlds: Vec<Mat4>,
    /// CPU copy of `node_buffer`, so a recolouring rewrites tints without touching matrices.
    node_bytes: Vec<u8>,
    /// Model node index of each slot.
    slot_nodes: Vec<usize>,
    /// Parent of each model node.
    node_parent: Vec<Option<usize>>,
    /// Per model node: the slots of its subtree, `start..end` (slots are in preorder).
    node_slots: Vec<(u32, u32)>,
    /// Tints set per model node by [`Self::set_tints`].
    node_tints: Vec<Option<Tint>>,
    /// Effective tint per slot, as last written.
    slot_tints: Vec<Option<Tint>>,
    /// Scratch: slots to rewrite.
    changed: Vec<u32>,
    _material_buffer: wgpu::Buffer,
    _textures: Vec<wgpu::Texture>,
    triangles: u64,
    warnings: Vec<String>,
}

impl GpuModel {
    /// Uploads `model` placed by `root` (applied on top of every node's world matrix).
    ///
    /// Problems that only degrade the picture (a malformed texture, a primitive with indices
    /// out of range or too large for one buffer) are skipped and reported by
    /// [`Self::warnings`] instead of failing the whole twin.
    pub fn new(
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        pass: &ModelPass,
        model: &TwinModel,
        root: Mat4,
    ) -> Self {
        let mut warnings = Vec::new();
        let name = &model.source_name;

        // A model always carries a trailing default material; guard anyway so an empty list
        // cannot make every material index dangle.
        let default_material = [Material::default()];
        let materials_src: &[Material] = if model.materials.is_empty() {
            &default_material
        } else {
            &model.materials
        };
        let material_index = |i: usize| i.min(materials_src.len() - 1);

        let textures = upload_textures(device, queue, model, materials_src, &mut warnings);
        let (material_buffer, materials) = upload_materials(device, pass, materials_src, &textures);

        let (chunks, packed) = pack_geometry(device, model, &material_index, &mut warnings);

        // One node slot per drawn node that has geometry, in preorder so every subtree's
        // slots are one range (a tint on a node covers that range); draws reference slots.
        let (order, spans) = preorder(model);
        let mut node_worlds = Vec::new();
        let mut slot_nodes = Vec::new();
        let mut slots_before = Vec::with_capacity(order.len() + 1);
        let mut draws = Vec::new();
        for &n in &order {
            slots_before.push(node_worlds.len() as u32);
            let node = &model.nodes[n];
            let Some(mesh_packed) = node.mesh.and_then(|m| packed.get(m)) else {
                continue;
            };
            let live: Vec<&PackedPrimitive> = mesh_packed.iter().flatten().collect();
            if live.is_empty() {
                continue;
            }
            let slot = node_worlds.len() as u32;
            node_worlds.push(node.world);
            slot_nodes.push(n);
            for p in live {
                let double_sided = materials_src[p.material].double_sided;
                draws.push(DrawItem {
                    raster: Raster::CcwCulled, // set by `place` below
                    material: p.material,
                    chunk: p.chunk,
                    node_slot: slot,
                    first_index: p.first_index,
                    index_count: p.index_count,
                    double_sided,
                });
            }
        }
        let node_stride = uniform_stride(device, size_of::<NodeUniform>());
        let node_bytes = node_stride * node_worlds.len() as u64;
        // Dynamic offsets are u32 and one buffer is bounded by the device; a twin with millions
        // of mesh nodes would need instancing, which this renderer does not do yet.
        if node_bytes > device.limits().max_buffer_size.min(u64::from(u32::MAX)) {
            warnings.push(format!(
                "{name}: {} mesh nodes need {node_bytes} bytes of node uniforms, more than this \
                 GPU allows in one buffer; nothing drawn",
                node_worlds.len()
            ));
            draws.clear();
            node_worlds.clear();
            slot_nodes.clear();
        }
        slots_before.push(node_worlds.len() as u32);
        let node_slots = spans
            .iter()
            .map(|&(a, b)| {
                let at = |i: usize| slots_before.get(i).copied().unwrap_or(0);
                // After a cleared (oversized) model every range is empty.
                (
                    at(a).min(node_worlds.len() as u32),
                    at(b).min(node_worlds.len() as u32),
                )
            })
            .collect();
        let node_buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("GpuModel::node_uniforms"),
            // At least one slot: a zero-sized uniform binding is invalid.
            size: node_stride * node_worlds.len().max(1) as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let node_bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("GpuModel::node_bind_group"),
            layout: &pass.node_layout,
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &node_buffer,
                    offset: 0,
                    size: NonZeroU64::new(size_of::<NodeUniform>() as u64),
                }),
            }],
        });
        let triangles = draws.iter().map(|d| u64::from(d.index_count / 3)).sum();

        let mut gpu = Self {
            chunks,
            materials,
            node_bind_group,
            // An alignment-rounded 128-byte struct: a few hundred bytes at most.
            node_stride: node_stride as u32,
            draws,
            node_buffer,
            node_bytes: Vec::new(),
            slot_tints: vec![None; node_worlds.len()],
            node_worlds,
            slot_nodes,
            node_parent: model.nodes.iter().map(|n| n.parent).collect(),
            node_slots,
            node_tints: vec![None; model.nodes.len()],
            changed: Vec::new(),
            _material_buffer: material_buffer,
            _textures: textures.into_iter().flatten().collect(),
            triangles,
            warnings,
        };
        gpu.set_root(queue, root);
        gpu
    }

    /// Re-places the model: rewrites every node uniform with `root × node.world` and picks the
    /// face winding per node (a mirroring transform flips it). Cheap; no re-upload of geometry.
    pub fn set_root(&mut self, queue: &wgpu::Queue, root: Mat4) {
        let stride = self.node_stride as usize;
        self.node_bytes.clear();
        self.node_bytes.resize(stride * self.node_worlds.len(), 0);
        let mut mirrored = Vec::with_capacity(self.node_worlds.len());
        for (i, world) in self.node_worlds.iter().enumerate() {
            let model = root * *world;
            mirrored.push(model.determinant() < 0.0);
            let u = node_uniform(model, self.slot_tints[i]);
            self.node_bytes[i * stride..i * stride + size_of::<NodeUniform>()]
                .copy_from_slice(bytemuck::bytes_of(&u));
        }
        if !self.node_bytes.is_empty() {
            queue.write_buffer(&self.node_buffer, 0, &self.node_bytes);
        }
        for d in &mut self.draws {
            d.raster = Raster::new(d.double_sided, mirrored[d.node_slot as usize]);
        }
        // Group by pipeline, then material, then buffers: fewest state changes per pass.
        self.draws
            .sort_by_key(|d| (d.raster, d.material, d.chunk, d.node_slot));
    }

    /// Sets or clears (`None`) the sensor tint of model nodes (indices into
    /// [`TwinModel::nodes`]); a node's tint covers its meshes and its descendants' unless a
    /// descendant has its own. Unknown indices are ignored. Only the node slots whose effective
    /// tint changed are uploaded, in as few writes as their spread allows. Returns how many
    /// slots were rewritten.
    pub fn set_tints(&mut self, queue: &wgpu::Queue, tints: &[(usize, Option<Tint>)]) -> usize {
        self.changed.clear();
        for &(node, tint) in tints {
            let Some(current) = self.node_tints.get_mut(node) else {
                continue;
            };
            if *current == tint {
                continue;
            }
            *current = tint;
            if let Some(&(a, b)) = self.node_slots.get(node) {
                self.changed.extend(a..b);
            }
        }
        if self.changed.is_empty() {
            return 0;
        }
        // Overlapping subtrees (a tinted node inside another) list slots twice.
        self.changed.sort_unstable();
        self.changed.dedup();
        let stride = self.node_stride as usize;
        let (nodes, parents) = (&self.node_tints, &self.node_parent);
        let (slot_nodes, slot_tints, bytes) =
            (&self.slot_nodes, &mut self.slot_tints, &mut self.node_bytes);
        self.changed.retain(|&slot| {
            let slot = slot as usize;
            let (Some(&node), Some(applied)) = (slot_nodes.get(slot), slot_tints.get_mut(slot))
            else {
                return false;
            };
            let effective = effective_tint(node, nodes, parents);
            if *applied == effective {
                return false;
            }
            *applied = effective;
            let at = slot * stride;
            let Some(uniform) = bytes.get_mut(at..at + size_of::<NodeUniform>()) else {
                return false;
            };
            let mut u: NodeUniform = bytemuck::pod_read_unaligned(uniform);
            set_uniform_tint(&mut u, effective);
            uniform[NODE_TINT_BYTES].copy_from_slice(&bytemuck::bytes_of(&u)[NODE_TINT_BYTES]);
            true
        });
        // Upload runs of nearby slots, each from the first slot's tint to the last one's.
        let mut i = 0;
        while i < self.changed.len() {
            let first = self.changed[i];
            let mut last = first;
            i += 1;
            while i < self.changed.len() && self.changed[i] - last <= TINT_MERGE_GAP {
                last = self.changed[i];
                i += 1;
            }
            let start = first as usize * stride + NODE_TINT_BYTES.start;
            let end = last as usize * stride + NODE_TINT_BYTES.end;
            if let Some(run) = self.node_bytes.get(start..end) {
                queue.write_buffer(&self.node_buffer, start as u64, run);
            }
        }
        self.changed.len()
    }

    /// Triangles drawn per view.
    pub fn triangle_count(&self) -> u64 {
        self.triangles
    }

    /// Draw calls per view.
    pub fn draw_count(&self) -> usize {
        self.draws.len()
    }

    /// Problems found while uploading (each names the model file and what was skipped).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

/// The node uniform for world matrix `model` with `tint`.
fn node_uniform(model: Mat4, tint: Option<Tint>) -> NodeUniform {
    let mut u = NodeUniform::new(model);
    set_uniform_tint(&mut u, tint);
    u
}

fn set_uniform_tint(u: &mut NodeUniform, tint: Option<Tint>) {
    match tint {
        None => u.set_tint(TINT_NONE, [0.0; 3], 0.0),
        Some(t) => {
            let mode = match t.mode {
                TintMode::Tint => TINT_BLEND,
                TintMode::Replace => TINT_REPLACE,
            };
            u.set_tint(mode, t.color, t.strength);
        }
    }
}

/// The tint that applies to `node`: its own, else its nearest tinted ancestor's.
fn effective_tint(node: usize, tints: &[Option<Tint>], parents: &[Option<usize>]) -> Option<Tint> {
    let mut at = Some(node);
    // Bounded walk: a malformed parent chain must not loop forever.
    for _ in 0..=parents.len() {
        let i = at?;
        if let Some(t) = tints.get(i).copied().flatten() {
            return Some(t);
        }
        at = parents.get(i).copied().flatten();
    }
    None
}

/// The nodes reachable from the roots in depth-first preorder, and per model node its span
/// `start..end` in that order (its subtree; `(0, 0)` when unreachable). Each node is visited
/// once even if the children lists are malformed.
fn preorder(model: &TwinModel) -> (Vec<usize>, Vec<(usize, usize)>) {
    let n = model.nodes.len();
    let mut order = Vec::with_capacity(n);
    let mut spans = vec![(0, 0); n];
    let mut seen = vec![false; n];
    // (node, entering): the exit marker closes the node's span after its descendants.
    let mut stack: Vec<(usize, bool)> = model.roots.iter().rev().map(|&r| (r, true)).collect();
    while let Some((i, entering)) = stack.pop() {
        if !entering {
            spans[i].1 = order.len();
            continue;
        }
        if i >= n || std::mem::replace(&mut seen[i], true) {
            continue;
        }
        spans[i].0 = order.len();
        order.push(i);
        stack.push((i, false));
        stack.extend(model.nodes[i].children.iter().rev().map(|&c| (c, true)));
    }
    (order, spans)
}

/// Uploads every texture some material references, as Rgba8UnormSrgb with a full mip chain,
/// downscaled to the device's `max_texture_dimension_2d` if needed. `None` where a texture is
/// unused or malformed (its materials then fall back to white).
fn upload_textures(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    model: &TwinModel,
    materials: &[Material],
    warnings: &mut Vec<String>,
) -> Vec<Option<wgpu::Texture>> {
    let max_dim = device.limits().max_texture_dimension_2d;
    let mut used = vec![false; model.textures.len()];
    for m in materials {
        if let Some(slot) = m.base_color_texture.and_then(|t| used.get_mut(t)) {
            *slot = true;
        }
    }
    model
        .textures
        .iter()
        .enumerate()
        .map(|(i, tex)| {
            if !used[i] {
                return None;
            }
            let levels = match prepare_mips(tex.width, tex.height, &tex.rgba, max_dim) {
                Ok(levels) => levels,
                Err(e) => {
                    warnings.push(format!(
                        "{}: texture {i} is drawn as white because {e}",
                        model.source_name
                    ));
                    return None;
                }
            };
            if levels[0].width != tex.width || levels[0].height != tex.height {
                warnings.push(format!(
                    "{}: texture {i} ({}×{}) exceeds this GPU's {max_dim} px limit; \
                     downscaled to {}×{}",
                    model.source_name, tex.width, tex.height, levels[0].width, levels[0].height
                ));
            }
            let label = format!("GpuModel::texture[{i}]");
            let texture = device.create_texture(&wgpu::TextureDescriptor {
                label: Some(&label),
                size: wgpu::Extent3d {
                    width: levels[0].width,
                    height: levels[0].height,
                    depth_or_array_layers: 1,
                },
                mip_level_count: levels.len() as u32,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                // sRGB-encoded bytes in an sRGB format: sampling returns linear colour.
                format: wgpu::TextureFormat::Rgba8UnormSrgb,
                usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                view_formats: &[],
            });
            for (mip, level) in levels.iter().enumerate() {
                queue.write_texture(
                    wgpu::TexelCopyTextureInfo {
                        texture: &texture,
                        mip_level: mip as u32,
                        origin: wgpu::Origin3d::ZERO,
                        aspect: wgpu::TextureAspect::All,
                    },
                    &level.rgba,
                    wgpu::TexelCopyBufferLayout {
                        offset: 0,
                        bytes_per_row: Some(level.width * 4),
                        rows_per_image: Some(level.height),
                    },
                    wgpu::Extent3d {
                        width: level.width,
                        height: level.height,
                        depth_or_array_layers: 1,
                    },
                );
            }
            Some(texture)
        })
        .collect()
}

/// One uniform buffer with a slot per material, and a bind group per material (uniform slot,
/// base colour texture or white, shared sampler).
fn upload_materials(
    device: &wgpu::Device,
    pass: &ModelPass,
    materials: &[Material],
    textures: &[Option<wgpu::Texture>],
) -> (wgpu::Buffer, Vec<wgpu::BindGroup>) {
    let stride = uniform_stride(device, size_of::<MaterialUniform>());
    let mut bytes = vec![0u8; stride as usize * materials.len()];
    for (i, m) in materials.iter().enumerate() {
        let u = MaterialUniform::new(m.base_color, m.metallic, m.roughness);
        let at = i * stride as usize;
        bytes[at..at + size_of::<MaterialUniform>()].copy_from_slice(bytemuck::bytes_of(&u));
    }
    let buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("GpuModel::material_uniforms"),
        contents: &bytes,
        usage: wgpu::BufferUsages::UNIFORM,
    });
    let views: Vec<Option<wgpu::TextureView>> = textures
        .iter()
        .map(|t| {
            t.as_ref()
                .map(|t| t.create_view(&wgpu::TextureViewDescriptor::default()))
        })
        .collect();
    let bind_groups = materials
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let view = m
                .base_color_texture
                .and_then(|t| views.get(t))
                .and_then(Option::as_ref)
                .unwrap_or(&pass.white_view);
            let label = format!("GpuModel::material[{i}]");
            device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(&label),
                layout: &pass.material_layout,
                entries: &[
                    wgpu::BindGroupEntry {
                        binding: 0,
                        resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                            buffer: &buffer,
                            offset: i as u64 * stride,
                            size: NonZeroU64::new(size_of::<MaterialUniform>() as u64),
                        }),
                    },
                    wgpu::BindGroupEntry {
                        binding: 1,
                        resource: wgpu::BindingResource::TextureView(view),
                    },
                    wgpu::BindGroupEntry {
                        binding: 2,
                        resource: wgpu::BindingResource::Sampler(&pass.sampler),
                    },
                ],
            })
        })
        .collect();
    (buffer, bind_groups)
}

/// CPU staging for one chunk before it becomes buffers.
#[derive(Default)]
struct ChunkBuilder {
    vertices: Vec<Vertex>,
    indices: Vec<u32>,
}

/// Packs every primitive of every mesh into as few buffers as the device's `max_buffer_size`
/// allows. Returns the chunks and, per mesh and primitive, where it went (`None`: skipped).
fn pack_geometry(
    device: &wgpu::Device,
    model: &TwinModel,
    material_index: &dyn Fn(usize) -> usize,
    warnings: &mut Vec<String>,
) -> (Vec<GeometryChunk>, Vec<Vec<Option<PackedPrimitive>>>) {
    let max_bytes = device.limits().max_buffer_size;
    let vertex_size = size_of::<Vertex>() as u64;
    let mut builders: Vec<ChunkBuilder> = Vec::new();
    let mut packed = Vec::with_capacity(model.meshes.len());

    for (mesh_i, mesh) in model.meshes.iter().enumerate() {
        let mut mesh_packed = Vec::with_capacity(mesh.primitives.len());
        for (prim_i, prim) in mesh.primitives.iter().enumerate() {
            let (nv, ni) = (prim.vertices.len() as u64, prim.indices.len() as u64);
            // Whole triangles only; the loader guarantees multiples of 3, but a stray tail
            // would shift every later triangle of the chunk.
            let ni = ni - ni % 3;
            if nv == 0 || ni == 0 {
                mesh_packed.push(None);
                continue;
            }
            if nv * vertex_size > max_bytes
                || ni * 4 > max_bytes
                || nv.max(ni) > u64::from(u32::MAX)
            {
                warnings.push(format!(
                    "{}: meshes[{mesh_i}].primitives[{prim_i}] ({nv} vertices) exceeds this GPU's \
                     {max_bytes}-byte buffer limit; not drawn (split the mesh in the source file)",
                    model.source_name
                ));
                mesh_packed.push(None);
                continue;
            }
            if prim.indices[..ni as usize]
                .iter()
                .any(|&i| u64::from(i) >= nv)
            {
                warnings.push(format!(
                    "{}: meshes[{mesh_i}].primitives[{prim_i}] has indices beyond its {nv} \
                     vertices; not drawn",
                    model.source_name
                ));
                mesh_packed.push(None);
                continue;
            }
            let fits = |b: &ChunkBuilder| {
                (b.vertices.len() as u64 + nv) * vertex_size <= max_bytes
                    && (b.indices.len() as u64 + ni) * 4 <= max_bytes
                    // Rebased indices and index offsets must stay u32.
                    && b.vertices.len() as u64 + nv <= u64::from(u32::MAX)
                    && b.indices.len() as u64 + ni <= u64::from(u32::MAX)
            };
            if !builders.last().is_some_and(fits) {
                builders.push(ChunkBuilder::default());
            }
            let chunk = builders.len() - 1;
            let b = &mut builders[chunk];
            // Both fit in u32 (checked by `fits`).
            let base = b.vertices.len() as u32;
            let first_index = b.indices.len() as u32;
            b.vertices.extend_from_slice(&prim.vertices);
            b.indices
                .extend(prim.indices[..ni as usize].iter().map(|&i| i + base));
            mesh_packed.push(Some(PackedPrimitive {
                chunk,
                first_index,
                index_count: ni as u32,
                material: material_index(prim.material),
            }));
        }
        packed.push(mesh_packed);
    }

    let chunks = builders
        .into_iter()
        .enumerate()
        .map(|(i, b)| GeometryChunk {
            vertices: device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(&format!("GpuModel::vertices[{i}]")),
                contents: bytemuck::cast_slice(&b.vertices),
                usage: wgpu::BufferUsages::VERTEX,
            }),
            indices: device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(&format!("GpuModel::indices[{i}]")),
                contents: bytemuck::cast_slice(&b.indices),
                usage: wgpu::BufferUsages::INDEX,
            }),
        })
        .collect();
    (chunks, packed)
}
