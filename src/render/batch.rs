//! Batching: the static geometry of every part packed into a few large vertex and index buffers,
//! so the number of draw calls does not grow with the number of parts.
//!
//! Every vertex carries its node slot and material, so per-node state (transform, tint,
//! visibility, selection) and material factors come from textures (see [`super::node_data`]),
//! and only what truly cannot share a draw splits one: the base colour texture, double-sidedness
//! and mirrored winding. Each such batch is sorted in space (Morton order of the parts' centres)
//! and cut into chunks of nearby parts with their bounds, which the culler tests per view.
//!
//! A mesh primitive that many parts reuse (a bolt, a valve body) is stored once and drawn
//! instanced: its batch's chunks are then ranges of instances (each naming its part's slot)
//! rather than of indices, culled the same way. Only the reuses that save the most vertices are
//! instanced, at most [`MAX_INSTANCED_BATCHES`], so the draw budget still holds.
//!
//! Pure data, no wgpu: host-tested. [`super::GpuModel`] uploads a [`BatchPlan`] as it is.

use std::collections::BTreeMap;
use std::ops::Range;

use glam::{Mat4, Vec3, Vec4};

use crate::model::{Aabb, Material, TwinModel};

/// Triangles a chunk collects before the next part starts a new one.
pub(crate) const CHUNK_TRIANGLES: u32 = 8192;
/// Parts a chunk collects before the next one starts a new one: with the triangle bound, coarse
/// enough that a view tests under a thousand boxes at 100,000 parts, fine enough to cull most of
/// a plant.
pub(crate) const CHUNK_PARTS: u32 = 128;
/// A primitive is drawn instanced only when at least this many parts draw it.
pub(crate) const INSTANCE_MIN_PARTS: usize = 4;
/// Instanced batches per model: each costs at least one draw per view, so with the merged
/// batches a view still fits [`super::cull::MAX_MODEL_DRAWS`].
pub(crate) const MAX_INSTANCED_BATCHES: usize = 8;

/// Vertex layout shared with `shaders/mesh.wgsl` (locations 0..=4): 44 bytes.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct GpuVertex {
    /// Position in the node's local space.
    pub position: [f32; 3],
    /// Unit normal in node space as snorm16 (w zero).
    pub normal: [i16; 4],
    /// Texture coordinate set 0.
    pub uv: [f32; 2],
    /// Linear RGBA vertex colour as unorm16.
    pub color: [u16; 4],
    /// Node slot: the index of the node's texels (zero in an instanced mesh: the instance
    /// names the slot, and the shader adds the two).
    pub node: u32,
    /// Material: the index of the material's texels.
    pub material: u32,
}

/// What splits a draw: pipeline state and bound texture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BatchKey {
    /// Back faces drawn.
    pub double_sided: bool,
    /// The node's world matrix mirrors (negative determinant): front faces wind clockwise.
    pub mirrored: bool,
    /// Base colour texture of the material (`None`: white).
    pub texture: Option<usize>,
}

/// One batch: a key, the buffer its indices live in and its chunks.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// What all its draws share.
    pub key: BatchKey,
    /// Index into [`BatchPlan::buffers`].
    pub buffer: usize,
    /// For an instanced batch, the index range of its one mesh primitive; its chunks then range
    /// over [`BatchPlan::instances`].
    pub instanced: Option<Range<u32>>,
    /// Index ranges (in the buffer's index list; for an instanced batch, instance ranges) and
    /// model-space bounds of its chunks, in order; consecutive chunks are adjacent.
    pub chunks: Vec<(Range<u32>, Aabb)>,
}

impl Batch {
    /// Triangles drawn by `range` of this batch's chunks (indices, or instances).
    pub fn triangles_in(&self, range: &Range<u32>) -> u64 {
        triangles_in(self.instanced.as_ref(), range)
    }
}

/// Triangles drawn by `range` of a batch's chunks: indices, or instances of the `instanced`
/// mesh index range.
pub(crate) fn triangles_in(instanced: Option<&Range<u32>>, range: &Range<u32>) -> u64 {
    let len = u64::from(range.end.saturating_sub(range.start));
    match instanced {
        Some(mesh) => u64::from(mesh.end.saturating_sub(mesh.start)) / 3 * len,
        None => len / 3,
    }
}

/// The size of one GPU buffer pair (indices absolute: WebGL2 has no base vertex).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BufferSize {
    /// Vertices in the vertex buffer.
    pub vertices: u32,
    /// Indices in the index buffer.
    pub indices: u32,
}

/// One primitive's place in a buffer pair: its vertices (tagged with `slot` and `material`) at
/// `base_vertex`, its indices (offset by `base_vertex`) at `first_index`. Pieces are listed in
/// buffer order and, within a buffer, in the order they fill it, so an upload that writes them
/// in turn fills each buffer from the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    /// Index into [`BatchPlan::buffers`].
    pub buffer: u32,
    /// Index into [`TwinModel::meshes`].
    pub mesh: u32,
    /// Index into the mesh's primitives.
    pub primitive: u32,
    /// The slot its vertices carry (zero for an instanced mesh).
    pub slot: u32,
    /// The material its vertices carry.
    pub material: u32,
    /// First vertex in the vertex buffer.
    pub base_vertex: u32,
    /// First index in the index buffer.
    pub first_index: u32,
    /// Indices written (a multiple of 3).
    pub indices: u32,
    /// Vertices written.
    pub vertices: u32,
}

/// Vertices and indices of one buffer pair, as [`BatchPlan::buffer_data`] assembles them.
#[cfg(test)]
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BufferData {
    /// Packed vertices.
    pub vertices: Vec<GpuVertex>,
    /// Triangle-list indices into `vertices`.
    pub indices: Vec<u32>,
}

/// A drawn node's slot: which node it is, its matrix and bounding sphere (model space).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slot {
    /// Index into [`TwinModel::nodes`].
    pub node: usize,
    /// Node to model space.
    pub world: Mat4,
    /// Bounding sphere of the node's geometry in model space: centre and radius.
    pub sphere: Vec4,
}

/// Where every part goes, ready for upload: buffer sizes, and the pieces that fill them (the
/// geometry itself is read from the model as it is uploaded, never all copied at once).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchPlan {
    /// Buffer pairs (one unless the device's buffer size limit forces more).
    pub buffers: Vec<BufferSize>,
    /// What fills the buffers, in buffer order.
    pub pieces: Vec<Piece>,
    /// Batches in pipeline order.
    pub batches: Vec<Batch>,
    /// Slots of nodes with geometry, in scene preorder (a subtree is one range of slots).
    pub slots: Vec<Slot>,
    /// Per model node, the slots of its subtree.
    pub node_slots: Vec<Range<u32>>,
    /// Per-instance slot numbers. Entry 0 is 0, the one instance of every merged draw (whose
    /// vertices carry their slot); instanced batches' chunks index the rest.
    pub instances: Vec<u32>,
    /// Triangles of the whole model (instances counted).
    pub triangles: u64,
    /// Parts skipped, each naming the file and the primitive.
    pub warnings: Vec<String>,
}

/// One primitive on one node: the unit that is sorted and chunked.
struct Item {
    slot: u32,
    mesh: usize,
    primitive: usize,
    material: u32,
    bounds: Aabb,
    triangles: u32,
    vertices: u32,
}

/// Packs `model` into buffers of at most `max_buffer_bytes` each. `texture_ok(t)` says whether
/// texture `t` can be bound (an unusable one batches as untextured).
pub fn plan(
    model: &TwinModel,
    max_buffer_bytes: u64,
    texture_ok: &dyn Fn(usize) -> bool,
) -> BatchPlan {
    let mut out = BatchPlan::default();
    let name = &model.source_name;
    let default_material = Material::default();
    let material_of = |i: usize| model.materials.get(i).unwrap_or(&default_material);
    let material_index = |i: usize| i.min(model.materials.len().saturating_sub(1)) as u32;

    let (order, spans) = preorder(model);
    let mut slots_before = Vec::with_capacity(order.len() + 1);
    let mut groups: BTreeMap<BatchKey, Vec<Item>> = BTreeMap::new();
    for &n in &order {
        slots_before.push(out.slots.len() as u32);
        let node = &model.nodes[n];
        let Some((mesh_i, mesh)) = node.mesh.and_then(|m| model.meshes.get(m).map(|x| (m, x)))
        else {
            continue;
        };
        let slot = out.slots.len() as u32;
        let mirrored = node.world.determinant() < 0.0;
        let mut node_bounds: Option<Aabb> = None;
        for (prim_i, prim) in mesh.primitives.iter().enumerate() {
            let nv = prim.vertex_count();
            let ni = prim.indices.len() - prim.indices.len() % 3;
            if nv == 0 || ni == 0 {
                continue;
            }
            if prim.indices[..ni].iter().any(|&i| i as usize >= nv) {
                out.warnings.push(format!(
                    "{name}: meshes[{mesh_i}].primitives[{prim_i}] has indices beyond its {nv} \
                     vertices; not drawn"
                ));
                continue;
            }
            let bytes = nv as u64 * size_of::<GpuVertex>() as u64;
            if bytes > max_buffer_bytes || ni as u64 * 4 > max_buffer_bytes {
                out.warnings.push(format!(
                    "{name}: meshes[{mesh_i}].primitives[{prim_i}] ({nv} vertices) exceeds this \
                     GPU's {max_buffer_bytes}-byte buffer limit; not drawn (split the mesh in the \
                     source file)"
                ));
                continue;
            }
            let bounds = world_bounds(node.world, prim);
            node_bounds = Some(match node_bounds {
                Some(b) => union(&b, &bounds),
                None => bounds,
            });
            let material = material_of(prim.material);
            let key = BatchKey {
                double_sided: material.double_sided,
                mirrored,
                texture: material.base_color_texture.filter(|&t| texture_ok(t)),
            };
            groups.entry(key).or_default().push(Item {
                slot,
                mesh: mesh_i,
                primitive: prim_i,
                material: material_index(prim.material),
                bounds,
                triangles: (ni / 3) as u32,
                vertices: nv as u32,
            });
        }
        if let Some(b) = node_bounds {
            out.slots.push(Slot {
                node: n,
                world: node.world,
                sphere: b.center().extend(b.radius()),
            });
        }
    }
    slots_before.push(out.slots.len() as u32);
    out.node_slots = spans
        .iter()
        .map(|&(a, b)| {
            let at = |i: usize| slots_before.get(i).copied().unwrap_or(0);
            at(a)..at(b)
        })
        .collect();

    let mut instanced = choose_instanced(model, &mut groups);
    out.instances.push(0);
    // Keys in pipeline order, each with its merged batch (if any parts remain) and then its
    // instanced ones.
    let mut keys: Vec<BatchKey> = groups
        .keys()
        .chain(instanced.iter().map(|(k, _)| k))
        .copied()
        .collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        if let Some(mut items) = groups.remove(&key) {
            sort_in_space(&mut items);
            pack_batch(key, &items, max_buffer_bytes, &mut out);
        }
        for (_, mut parts) in instanced.extract_if(.., |(k, _)| *k == key) {
            sort_in_space(&mut parts);
            pack_instanced(key, &parts, max_buffer_bytes, &mut out);
        }
    }
    out.triangles = out
        .batches
        .iter()
        .flat_map(|b| b.chunks.iter().map(move |(r, _)| b.triangles_in(r)))
        .sum();
    out
}

/// Takes out of `groups` the primitives worth drawing instanced: those that at least
/// [`INSTANCE_MIN_PARTS`] parts draw with the same key, the [`MAX_INSTANCED_BATCHES`] that save
/// the most vertices. Returns them by key, each the items of one primitive.
fn choose_instanced(
    model: &TwinModel,
    groups: &mut BTreeMap<BatchKey, Vec<Item>>,
) -> Vec<(BatchKey, Vec<Item>)> {
    // (saved vertices, key, mesh, primitive)
    let mut candidates: Vec<(u64, BatchKey, usize, usize)> = Vec::new();
    let mut uses: BTreeMap<(BatchKey, usize, usize), usize> = BTreeMap::new();
    for (key, items) in groups.iter() {
        for i in items {
            *uses.entry((*key, i.mesh, i.primitive)).or_default() += 1;
        }
    }
    for (&(key, mesh, primitive), &n) in &uses {
        if n >= INSTANCE_MIN_PARTS {
            let nv = model.meshes[mesh].primitives[primitive].vertex_count() as u64;
            candidates.push(((n as u64 - 1) * nv, key, mesh, primitive));
        }
    }
    // Most saved first; ties in a fixed order, so a model always batches the same way.
    candidates.sort_by(|a, b| b.0.cmp(&a.0).then((a.1, a.2, a.3).cmp(&(b.1, b.2, b.3))));
    candidates.truncate(MAX_INSTANCED_BATCHES);
    let mut out = Vec::with_capacity(candidates.len());
    for (_, key, mesh, primitive) in candidates {
        let Some(items) = groups.get_mut(&key) else {
            continue;
        };
        let parts: Vec<Item> = items
            .extract_if(.., |i| i.mesh == mesh && i.primitive == primitive)
            .collect();
        out.push((key, parts));
    }
    groups.retain(|_, items| !items.is_empty());
    out
}

/// Appends one instanced batch: the primitive's vertices and indices once (slot zero), and its
/// parts' slots as instances, cut into chunks of nearby parts.
fn pack_instanced(key: BatchKey, parts: &[Item], max_bytes: u64, out: &mut BatchPlan) {
    let Some(first) = parts.first() else { return };
    let ni = first.triangles as usize * 3;
    let nv = u64::from(first.vertices);
    if !out
        .buffers
        .last()
        .is_some_and(|b| fits(b, nv, ni as u64, max_bytes))
    {
        out.buffers.push(BufferSize::default());
    }
    let buffer = out.buffers.len() - 1;
    let mesh = place_primitive(out, buffer, first, ni, 0);
    let mut chunks: Vec<(Range<u32>, Aabb)> = Vec::new();
    let mut tris_in_chunk = 0u32;
    for part in parts {
        let at = out.instances.len() as u32;
        out.instances.push(part.slot);
        match chunks.last_mut() {
            Some((r, bounds))
                if tris_in_chunk < CHUNK_TRIANGLES && r.end - r.start < CHUNK_PARTS =>
            {
                r.end = at + 1;
                *bounds = union(bounds, &part.bounds);
                tris_in_chunk += part.triangles;
            }
            _ => {
                chunks.push((at..at + 1, part.bounds));
                tris_in_chunk = part.triangles;
            }
        }
    }
    out.batches.push(Batch {
        key,
        buffer,
        instanced: Some(mesh),
        chunks,
    });
}

/// Whether `nv` more vertices and `ni` more indices fit in buffer pair `b`.
fn fits(b: &BufferSize, nv: u64, ni: u64, max_bytes: u64) -> bool {
    let vertex_size = size_of::<GpuVertex>() as u64;
    (u64::from(b.vertices) + nv) * vertex_size <= max_bytes
        && (u64::from(b.indices) + ni) * 4 <= max_bytes
        && u64::from(b.vertices) + nv <= u64::from(u32::MAX)
        && u64::from(b.indices) + ni <= u64::from(u32::MAX)
}

/// Places `item`'s primitive (its first `ni` indices) at the end of buffer pair `buffer`, its
/// vertices tagged with `slot`; returns its index range.
fn place_primitive(
    out: &mut BatchPlan,
    buffer: usize,
    item: &Item,
    ni: usize,
    slot: u32,
) -> Range<u32> {
    let size = &mut out.buffers[buffer];
    let piece = Piece {
        buffer: buffer as u32,
        mesh: item.mesh as u32,
        primitive: item.primitive as u32,
        slot,
        material: item.material,
        base_vertex: size.vertices,
        first_index: size.indices,
        indices: ni as u32,
        vertices: item.vertices,
    };
    size.vertices += item.vertices;
    size.indices += ni as u32;
    out.pieces.push(piece);
    piece.first_index..piece.first_index + piece.indices
}

/// Appends piece `piece`'s vertices and indices, read from `model`, to `vertices` and `indices`
/// (indices already offset by the piece's base vertex). A piece that does not match `model`
/// appends nothing.
pub fn piece_data(
    model: &TwinModel,
    piece: &Piece,
    vertices: &mut Vec<GpuVertex>,
    indices: &mut Vec<u32>,
) {
    let Some(prim) = model
        .meshes
        .get(piece.mesh as usize)
        .and_then(|m| m.primitives.get(piece.primitive as usize))
    else {
        return;
    };
    let Some(src) = prim.indices.get(..piece.indices as usize) else {
        return;
    };
    vertices.extend(prim.positions.iter().enumerate().map(|(i, &position)| {
        let [x, y, z] = prim.normal16(i);
        GpuVertex {
            position,
            normal: [x, y, z, 0],
            uv: prim.uv(i),
            color: prim.color16(i),
            node: piece.slot,
            material: piece.material,
        }
    }));
    indices.extend(src.iter().map(|&i| i + piece.base_vertex));
}

#[cfg(test)]
impl BatchPlan {
    /// Every buffer's contents, assembled at once (the upload streams them instead).
    pub fn buffer_data(&self, model: &TwinModel) -> Vec<BufferData> {
        let mut out: Vec<BufferData> = vec![BufferData::default(); self.buffers.len()];
        for piece in &self.pieces {
            if let Some(b) = out.get_mut(piece.buffer as usize) {
                piece_data(model, piece, &mut b.vertices, &mut b.indices);
            }
        }
        out
    }
}

/// Appends one batch's items to the buffers, cutting chunks by triangle count and starting a
/// new buffer (and batch) where the current one is full.
fn pack_batch(key: BatchKey, items: &[Item], max_bytes: u64, out: &mut BatchPlan) {
    let mut batch: Option<Batch> = None;
    // (index range, bounds, triangles, parts)
    let mut chunk: Option<(Range<u32>, Aabb, u32, u32)> = None;
    for item in items {
        let ni = item.triangles as usize * 3;
        let fits = out
            .buffers
            .last()
            .is_some_and(|b| fits(b, u64::from(item.vertices), ni as u64, max_bytes));
        if !fits || batch.is_none() {
            // A new buffer only when the current one is full; a new batch for every new key.
            if !fits {
                out.buffers.push(BufferSize::default());
            }
            if let Some(mut b) = batch.take() {
                if let Some((r, bounds, _, _)) = chunk.take() {
                    b.chunks.push((r, bounds));
                }
                out.batches.push(b);
            }
            batch = Some(Batch {
                key,
                buffer: out.buffers.len() - 1,
                instanced: None,
                chunks: Vec::new(),
            });
        }
        let buffer_index = out.buffers.len() - 1;
        let Range { start: first, end } = place_primitive(out, buffer_index, item, ni, item.slot);
        chunk = Some(match chunk.take() {
            Some((r, bounds, tris, parts))
                if tris < CHUNK_TRIANGLES && parts < CHUNK_PARTS && r.end == first =>
            {
                (
                    r.start..end,
                    union(&bounds, &item.bounds),
                    tris + item.triangles,
                    parts + 1,
                )
            }
            Some((r, bounds, _, _)) => {
                if let Some(b) = batch.as_mut() {
                    b.chunks.push((r, bounds));
                }
                (first..end, item.bounds, item.triangles, 1)
            }
            None => (first..end, item.bounds, item.triangles, 1),
        });
    }
    if let Some(mut b) = batch {
        if let Some((r, bounds, _, _)) = chunk {
            b.chunks.push((r, bounds));
        }
        out.batches.push(b);
    }
}

fn union(a: &Aabb, b: &Aabb) -> Aabb {
    Aabb {
        min: a.min.min(b.min),
        max: a.max.max(b.max),
    }
}

/// Model-space bounds of a primitive on a node: its local box, transformed.
fn world_bounds(world: Mat4, prim: &crate::model::Primitive) -> Aabb {
    let mut min = Vec3::splat(f32::INFINITY);
    let mut max = Vec3::splat(f32::NEG_INFINITY);
    for &v in &prim.positions {
        let p = Vec3::from(v);
        min = min.min(p);
        max = max.max(p);
    }
    Aabb { min, max }.transformed(world)
}

/// Sorts items along a Morton curve of their centres, so that consecutive items (and so
/// chunks) are near each other.
fn sort_in_space(items: &mut [Item]) {
    let Some(first) = items.first() else {
        return;
    };
    let mut all = first.bounds;
    for i in items.iter() {
        all = union(&all, &i.bounds);
    }
    // One scale for all axes, so Morton cells are cubes even in a long, flat plant.
    let size = Vec3::splat((all.max - all.min).max_element().max(1e-6));
    let code = |b: &Aabb| {
        let q = ((b.center() - all.min) / size * 1023.0).clamp(Vec3::ZERO, Vec3::splat(1023.0));
        morton3(q.x as u32, q.y as u32, q.z as u32)
    };
    items.sort_by_cached_key(|i| (code(&i.bounds), i.slot));
}

/// Interleaves the low 10 bits of x, y and z.
fn morton3(x: u32, y: u32, z: u32) -> u32 {
    fn spread(v: u32) -> u32 {
        let mut v = v & 0x3ff;
        v = (v | (v << 16)) & 0x0300_00ff;
        v = (v | (v << 8)) & 0x0300_f00f;
        v = (v | (v << 4)) & 0x030c_30c3;
        (v | (v << 2)) & 0x0924_9249
    }
    spread(x) | (spread(y) << 1) | (spread(z) << 2)
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

#[cfg(test)]
mod tests;
