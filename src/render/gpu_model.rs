//! A [`TwinModel`] uploaded to the GPU as a few batches (see [`super::batch`]): packed vertex
//! and index buffers, per-node transforms and state in textures, material factors in a texture,
//! base colour textures with mips, and the chunks that the per-view culler draws from.
//!
//! Per-node sensor tints live in the node state texture: a tint set on a node applies to its
//! meshes and its descendants' (nearest tinted ancestor wins), and only the texels whose
//! effective tint changed are rewritten, 16 bytes each, in one range write per run of
//! consecutive changed slots.
//!
//! Dropping a `GpuModel` frees all of it; replacing the twin never leaks the previous one.

use std::ops::Range;

use glam::Mat4;
use wgpu::util::DeviceExt;

use super::batch::{self, BatchKey};
use super::cull::ChunkSource;
use super::model_bindings::ModelBindings;
use super::node_data::{
    self, FLAG_SELECTED, MATERIALS_PER_ROW, NODES_PER_ROW, Run, TEXEL_BYTES, TEXTURE_WIDTH,
    TRANSFORM_TEXELS,
};
use super::texture_prep::prepare_mips;
use super::uniforms::ModelUniform;
use crate::model::{Aabb, Material, TwinModel};
use crate::overlay::color::Tint;

/// One vertex buffer and one index buffer holding many parts.
pub(crate) struct GeometryBuffer {
    pub(crate) vertices: wgpu::Buffer,
    pub(crate) indices: wgpu::Buffer,
    /// Indices uploaded so far, from the start.
    pub(crate) ready_indices: u32,
    /// Vertices uploaded so far, from the start. Draws bind only the uploaded prefixes, so
    /// nothing is drawn from (or zero-filled in) the part not yet written.
    pub(crate) ready_vertices: u32,
}

/// One batch on the GPU: what it binds and its chunks.
pub(crate) struct GpuBatch {
    pub(crate) key: BatchKey,
    pub(crate) buffer: usize,
    /// Bind group of the base colour texture (index into `GpuModel::textures_bound`).
    pub(crate) texture_group: usize,
    /// For an instanced batch, its mesh's index range (chunks then range over instances).
    pub(crate) instanced: Option<Range<u32>>,
    pub(crate) chunks: Vec<(Range<u32>, Aabb)>,
    /// Chunks uploaded so far (a prefix: buffers fill in chunk order); only these are drawn.
    ready: usize,
}

/// A model's GPU resources and batches.
pub struct GpuModel {
    pub(crate) buffers: Vec<GeometryBuffer>,
    pub(crate) batches: Vec<GpuBatch>,
    /// Per-instance slot numbers (vertex buffer 1): entry 0 is zero, for merged draws.
    pub(crate) instances: wgpu::Buffer,
    /// Group 1: model uniform, node transforms, node state, materials.
    pub(crate) model_bind_group: wgpu::BindGroup,
    /// Group 2 per distinct base colour texture (the first is white).
    pub(crate) texture_groups: Vec<wgpu::BindGroup>,
    /// Whether the placement root mirrors (flips every batch's winding).
    pub(crate) root_mirrored: bool,
    /// The placement root (model to world).
    root: Mat4,
    model_buffer: wgpu::Buffer,
    state_texture: wgpu::Texture,
    /// CPU copy of the state texels, one per slot.
    state: Vec<[f32; 4]>,
    /// Flags per slot ([`node_data::FLAG_HIDDEN`], [`FLAG_SELECTED`]).
    slot_flags: Vec<u32>,
    /// Model node index of each slot.
    slot_nodes: Vec<usize>,
    /// Parent of each model node.
    node_parent: Vec<Option<usize>>,
    /// Per model node: the slots of its subtree.
    node_slots: Vec<Range<u32>>,
    /// Tints set per model node by [`Self::set_tints`].
    node_tints: Vec<Option<Tint>>,
    /// Effective tint per slot, as last written.
    slot_tints: Vec<Option<Tint>>,
    /// The node whose subtree is highlighted.
    selected: Option<usize>,
    /// Scratch: slots to rewrite, and their runs.
    changed: Vec<u32>,
    runs: Vec<Run>,
    /// Bytes written by the last [`Self::set_tints`] / [`Self::set_selected`].
    last_upload_bytes: u64,
    _transform_texture: wgpu::Texture,
    _material_texture: wgpu::Texture,
    _textures: Vec<wgpu::Texture>,
    triangles: u64,
    warnings: Vec<String>,
    /// Geometry not uploaded yet: the plan's pieces from `next_piece` on.
    pending: Vec<batch::Piece>,
    next_piece: usize,
    /// Scratch for `upload_step`.
    staging: (Vec<batch::GpuVertex>, Vec<u32>),
}

/// Geometry uploaded per [`GpuModel::upload_step`] by the renderers: large enough that a model
/// of a million triangles is on screen in a handful of frames, small enough that a frame never
/// stalls long and the upload's transient copies stay small.
pub const UPLOAD_BYTES_PER_STEP: u64 = 8 << 20;

/// Geometry gathered before it is written: bounds the CPU staging copy of a step.
const FLUSH_BYTES: u64 = 4 << 20;

impl GpuModel {
    /// Uploads `model` placed by `root` (applied on top of every node's world matrix).
    ///
    /// Problems that only degrade the picture (a malformed texture, a primitive with indices
    /// out of range or too large for one buffer, more parts than one texture holds) are skipped
    /// and reported by [`Self::warnings`] instead of failing the whole twin.
    pub fn new(
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        bindings: &ModelBindings,
        model: &TwinModel,
        root: Mat4,
    ) -> Self {
        let mut warnings = Vec::new();
        let name = &model.source_name;
        let limits = device.limits();
        let max_dim = limits.max_texture_dimension_2d;

        let default_material = [Material::default()];
        let materials_src: &[Material] = if model.materials.is_empty() {
            &default_material
        } else {
            &model.materials
        };
        let textures = upload_textures(device, queue, model, materials_src, &mut warnings);
        let mut plan = batch::plan(model, limits.max_buffer_size, &|t| {
            textures.get(t).is_some_and(Option::is_some)
        });
        warnings.append(&mut plan.warnings);

        // Every slot must fit the transform texture's rows.
        let max_slots = NODES_PER_ROW as usize * max_dim as usize;
        if plan.slots.len() > max_slots {
            warnings.push(format!(
                "{name}: {} parts exceed the {max_slots} this GPU's textures can hold; nothing \
                 drawn (split the model into several twins)",
                plan.slots.len()
            ));
            plan = batch::BatchPlan {
                node_slots: vec![0..0; model.nodes.len()],
                ..Default::default()
            };
        }

        // Sized now, filled by `upload_step` a few megabytes at a time.
        let buffers = plan
            .buffers
            .iter()
            .enumerate()
            .map(|(i, b)| GeometryBuffer {
                vertices: device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(&format!("GpuModel::vertices[{i}]")),
                    size: (u64::from(b.vertices) * size_of::<batch::GpuVertex>() as u64).max(4),
                    usage: wgpu::BufferUsages::VERTEX | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                }),
                indices: device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(&format!("GpuModel::indices[{i}]")),
                    size: (u64::from(b.indices) * 4).max(4),
                    usage: wgpu::BufferUsages::INDEX | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                }),
                ready_indices: 0,
                ready_vertices: 0,
            })
            .collect();

        let instances = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("GpuModel::instances"),
            contents: bytemuck::cast_slice(if plan.instances.is_empty() {
                &[0u32][..]
            } else {
                &plan.instances
            }),
            usage: wgpu::BufferUsages::VERTEX,
        });

        // Node transforms: 4 texels per slot.
        let mut transforms = vec![[0f32; 4]; plan.slots.len() * TRANSFORM_TEXELS as usize];
        for (i, s) in plan.slots.iter().enumerate() {
            let texels = node_data::transform_texels(s.world, s.sphere);
            transforms[i * 4..i * 4 + 4].copy_from_slice(&texels);
        }
        let transform_texture = data_texture(
            device,
            queue,
            "GpuModel::node_transforms",
            &transforms,
            node_data::rows_for(plan.slots.len(), NODES_PER_ROW),
        );
        let state = vec![node_data::state_texel(None, 0); plan.slots.len()];
        let state_texture = data_texture(
            device,
            queue,
            "GpuModel::node_state",
            &state,
            node_data::rows_for(plan.slots.len(), TEXTURE_WIDTH),
        );
        let mut material_texels = Vec::with_capacity(materials_src.len() * 2);
        for m in materials_src {
            material_texels.extend(node_data::material_texels(
                m.base_color,
                m.metallic,
                m.roughness,
            ));
        }
        let material_texture = data_texture(
            device,
            queue,
            "GpuModel::materials",
            &material_texels,
            node_data::rows_for(materials_src.len(), MATERIALS_PER_ROW),
        );

        let model_buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("GpuModel::model_uniform"),
            contents: bytemuck::bytes_of(&ModelUniform::new(root)),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        });
        let view = |t: &wgpu::Texture| t.create_view(&wgpu::TextureViewDescriptor::default());
        let (tv, sv, mv) = (
            view(&transform_texture),
            view(&state_texture),
            view(&material_texture),
        );
        let model_bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("GpuModel::model_bind_group"),
            layout: &bindings.model_layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: model_buffer.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::TextureView(&tv),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: wgpu::BindingResource::TextureView(&sv),
                },
                wgpu::BindGroupEntry {
                    binding: 3,
                    resource: wgpu::BindingResource::TextureView(&mv),
                },
            ],
        });

        // One texture bind group per distinct texture a batch uses; index 0 is white.
        let mut texture_ids: Vec<Option<usize>> = vec![None];
        let batches = plan
            .batches
            .iter()
            .map(|b| {
                let texture_group = match texture_ids.iter().position(|&t| t == b.key.texture) {
                    Some(i) => i,
                    None => {
                        texture_ids.push(b.key.texture);
                        texture_ids.len() - 1
                    }
                };
                GpuBatch {
                    key: b.key,
                    buffer: b.buffer,
                    texture_group,
                    instanced: b.instanced.clone(),
                    chunks: b.chunks.clone(),
                    ready: 0,
                }
            })
            .collect();
        let texture_groups = texture_ids
            .iter()
            .map(|t| {
                let tex_view = t
                    .and_then(|t| textures.get(t))
                    .and_then(Option::as_ref)
                    .map(|t| t.create_view(&wgpu::TextureViewDescriptor::default()));
                bindings.texture_bind_group(device, tex_view.as_ref())
            })
            .collect();

        let slot_count = plan.slots.len();
        Self {
            buffers,
            batches,
            instances,
            model_bind_group,
            texture_groups,
            root_mirrored: root.determinant() < 0.0,
            root,
            model_buffer,
            state_texture,
            state,
            slot_flags: vec![0; slot_count],
            slot_nodes: plan.slots.iter().map(|s| s.node).collect(),
            node_parent: model.nodes.iter().map(|n| n.parent).collect(),
            node_slots: plan.node_slots,
            node_tints: vec![None; model.nodes.len()],
            slot_tints: vec![None; slot_count],
            selected: None,
            changed: Vec::new(),
            runs: Vec::new(),
            last_upload_bytes: 0,
            _transform_texture: transform_texture,
            _material_texture: material_texture,
            _textures: textures.into_iter().flatten().collect(),
            triangles: plan.triangles,
            warnings,
            pending: plan.pieces,
            next_piece: 0,
            staging: (Vec::new(), Vec::new()),
        }
    }

    /// Uploads the next part of the geometry, about `budget_bytes` (at least one primitive),
    /// read from `model` (the one this was created from). Chunks whose geometry is complete are
    /// drawn from then on. Returns whether everything is uploaded.
    pub fn upload_step(
        &mut self,
        queue: &wgpu::Queue,
        model: &TwinModel,
        budget_bytes: u64,
    ) -> bool {
        let vertex_size = size_of::<batch::GpuVertex>() as u64;
        let mut written = 0u64;
        // The run being gathered: (buffer, first vertex, first index).
        let mut run: Option<(u32, u32, u32)> = None;
        let (mut vertices, mut indices) = std::mem::take(&mut self.staging);
        vertices.clear();
        indices.clear();
        while self.next_piece < self.pending.len() && (written < budget_bytes || run.is_none()) {
            let piece = self.pending[self.next_piece];
            // A run is written once it holds FLUSH_BYTES, so the staging copy stays small
            // however large the step.
            let gathered = vertices.len() as u64 * vertex_size + indices.len() as u64 * 4;
            let contiguous = gathered < FLUSH_BYTES
                && run.is_some_and(|(b, v, i)| {
                    b == piece.buffer
                        && v + vertices.len() as u32 == piece.base_vertex
                        && i + indices.len() as u32 == piece.first_index
                });
            if !contiguous {
                self.flush(queue, run, &vertices, &indices);
                vertices.clear();
                indices.clear();
                run = Some((piece.buffer, piece.base_vertex, piece.first_index));
            }
            let before = (vertices.len(), indices.len());
            batch::piece_data(model, &piece, &mut vertices, &mut indices);
            if (vertices.len() - before.0, indices.len() - before.1)
                != (piece.vertices as usize, piece.indices as usize)
            {
                // Not this model's piece (never expected): leave its range as it is.
                vertices.truncate(before.0);
                indices.truncate(before.1);
                self.flush(queue, run, &vertices, &indices);
                vertices.clear();
                indices.clear();
                run = None;
            }
            written += u64::from(piece.vertices) * vertex_size + u64::from(piece.indices) * 4;
            self.next_piece += 1;
        }
        self.flush(queue, run, &vertices, &indices);
        vertices.clear();
        indices.clear();
        self.staging = (vertices, indices);
        let done = self.next_piece >= self.pending.len();
        if done {
            self.pending = Vec::new();
            self.staging = (Vec::new(), Vec::new());
        }
        for b in &mut self.batches {
            let ready = self.buffers.get(b.buffer).map_or(0, |g| g.ready_indices);
            b.ready = match &b.instanced {
                Some(mesh) if mesh.end <= ready => b.chunks.len(),
                Some(_) => 0,
                None => b.chunks.partition_point(|(r, _)| r.end <= ready),
            };
        }
        done
    }

    /// Whether geometry is still to be uploaded by [`Self::upload_step`].
    pub fn uploading(&self) -> bool {
        self.next_piece < self.pending.len()
    }

    /// Writes a gathered run into its buffers and marks it uploaded.
    fn flush(
        &mut self,
        queue: &wgpu::Queue,
        run: Option<(u32, u32, u32)>,
        vertices: &[batch::GpuVertex],
        indices: &[u32],
    ) {
        let Some((b, first_vertex, first_index)) = run else {
            return;
        };
        let Some(buffer) = self.buffers.get_mut(b as usize) else {
            return;
        };
        let vertex_size = size_of::<batch::GpuVertex>() as u64;
        if !vertices.is_empty() {
            queue.write_buffer(
                &buffer.vertices,
                u64::from(first_vertex) * vertex_size,
                bytemuck::cast_slice(vertices),
            );
        }
        if !indices.is_empty() {
            queue.write_buffer(
                &buffer.indices,
                u64::from(first_index) * 4,
                bytemuck::cast_slice(indices),
            );
        }
        buffer.ready_indices = buffer.ready_indices.max(first_index + indices.len() as u32);
        buffer.ready_vertices = buffer
            .ready_vertices
            .max(first_vertex + vertices.len() as u32);
    }

    /// Re-places the model: rewrites the 128-byte model uniform. No per-node work.
    pub fn set_root(&mut self, queue: &wgpu::Queue, root: Mat4) {
        queue.write_buffer(
            &self.model_buffer,
            0,
            bytemuck::bytes_of(&ModelUniform::new(root)),
        );
        self.root_mirrored = root.determinant() < 0.0;
        self.root = root;
    }

    /// The placement root: model space to world space.
    pub fn root(&self) -> Mat4 {
        self.root
    }

    /// Sets or clears (`None`) the sensor tint of model nodes (indices into
    /// [`TwinModel::nodes`]); a node's tint covers its meshes and its descendants' unless a
    /// descendant has its own. Unknown indices are ignored. Only the slots whose effective tint
    /// changed are uploaded (16 bytes each, one write per run of consecutive slots). Returns how
    /// many slots were rewritten.
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
            if let Some(r) = self.node_slots.get(node) {
                self.changed.extend(r.clone());
            }
        }
        self.rewrite_changed(queue)
    }

    /// Highlights `node` and its descendants as the selection (`None` clears it); unknown nodes
    /// clear it too. Uploads only the slots whose highlight changed.
    pub fn set_selected(&mut self, queue: &wgpu::Queue, node: Option<usize>) -> usize {
        let node = node.filter(|&n| n < self.node_slots.len());
        self.changed.clear();
        if node == self.selected {
            self.last_upload_bytes = 0;
            return 0;
        }
        for n in [self.selected, node].into_iter().flatten() {
            if let Some(r) = self.node_slots.get(n) {
                self.changed.extend(r.clone());
            }
        }
        self.selected = node;
        let selected_range = node
            .and_then(|n| self.node_slots.get(n).cloned())
            .unwrap_or(0..0);
        for &slot in &self.changed {
            if let Some(f) = self.slot_flags.get_mut(slot as usize) {
                if selected_range.contains(&slot) {
                    *f |= FLAG_SELECTED;
                } else {
                    *f &= !FLAG_SELECTED;
                }
            }
        }
        self.rewrite_changed(queue)
    }

    /// Recomputes the state texels of `self.changed` and uploads those that differ.
    fn rewrite_changed(&mut self, queue: &wgpu::Queue) -> usize {
        self.last_upload_bytes = 0;
        if self.changed.is_empty() {
            return 0;
        }
        // Overlapping subtrees (a tinted node inside another) list slots twice.
        self.changed.sort_unstable();
        self.changed.dedup();
        let (nodes, parents) = (&self.node_tints, &self.node_parent);
        let (slot_nodes, slot_tints, flags, state) = (
            &self.slot_nodes,
            &mut self.slot_tints,
            &self.slot_flags,
            &mut self.state,
        );
        self.changed.retain(|&slot| {
            let slot = slot as usize;
            let (Some(&node), Some(applied), Some(texel)) = (
                slot_nodes.get(slot),
                slot_tints.get_mut(slot),
                state.get_mut(slot),
            ) else {
                return false;
            };
            let effective = effective_tint(node, nodes, parents);
            let new = node_data::state_texel(effective, flags[slot]);
            *applied = effective;
            if *texel == new {
                return false;
            }
            *texel = new;
            true
        });
        // Up to one unchanged texel per changed one may ride along: at most 32 bytes per changed slot.
        node_data::runs_into(
            &self.changed,
            TEXTURE_WIDTH,
            self.changed.len() as u32,
            &mut self.runs,
        );
        for run in &self.runs {
            let (x, y) = node_data::texel_of(run.first, TEXTURE_WIDTH, 1);
            let texels = &self.state[run.first as usize..(run.first + run.count) as usize];
            queue.write_texture(
                wgpu::TexelCopyTextureInfo {
                    texture: &self.state_texture,
                    mip_level: 0,
                    origin: wgpu::Origin3d { x, y, z: 0 },
                    aspect: wgpu::TextureAspect::All,
                },
                bytemuck::cast_slice(texels),
                wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(run.count * TEXEL_BYTES),
                    rows_per_image: Some(1),
                },
                wgpu::Extent3d {
                    width: run.count,
                    height: 1,
                    depth_or_array_layers: 1,
                },
            );
            self.last_upload_bytes += u64::from(run.count * TEXEL_BYTES);
        }
        self.changed.len()
    }

    /// Bytes uploaded by the last [`Self::set_tints`] or [`Self::set_selected`], and the
    /// number of range writes they took.
    pub fn last_upload(&self) -> (u64, usize) {
        (self.last_upload_bytes, self.runs.len())
    }

    /// Triangles of the whole model (what a view that sees everything draws).
    pub fn triangle_count(&self) -> u64 {
        self.triangles
    }

    /// Chunks over all batches (what each view culls).
    pub fn chunk_count(&self) -> usize {
        self.batches.iter().map(|b| b.chunks.len()).sum()
    }

    /// Problems found while uploading (each names the model file and what was skipped).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

impl GpuModel {
    /// Triangles drawn by `range` of batch `batch`'s chunks (indices, or instances).
    pub(crate) fn batch_triangles(&self, batch: usize, range: &Range<u32>) -> u64 {
        self.batches
            .get(batch)
            .map_or(0, |b| batch::triangles_in(b.instanced.as_ref(), range))
    }
}

impl ChunkSource for GpuModel {
    fn batch_count(&self) -> usize {
        self.batches.len()
    }
    fn chunks(&self, batch: usize) -> &[(Range<u32>, Aabb)] {
        self.batches
            .get(batch)
            .map_or(&[], |b| &b.chunks[..b.ready])
    }
}

/// An RGBA32F texture `TEXTURE_WIDTH` texels wide and `rows` high, filled from `texels` (row
/// by row; the rest zero).
fn data_texture(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    label: &str,
    texels: &[[f32; 4]],
    rows: u32,
) -> wgpu::Texture {
    let texture = device.create_texture(&wgpu::TextureDescriptor {
        label: Some(label),
        size: wgpu::Extent3d {
            width: TEXTURE_WIDTH,
            height: rows,
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format: wgpu::TextureFormat::Rgba32Float,
        usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
        view_formats: &[],
    });
    let width = TEXTURE_WIDTH as usize;
    let full_rows = (texels.len() / width) as u32;
    let write = |y: u32, data: &[[f32; 4]], w: u32, h: u32| {
        queue.write_texture(
            wgpu::TexelCopyTextureInfo {
                texture: &texture,
                mip_level: 0,
                origin: wgpu::Origin3d { x: 0, y, z: 0 },
                aspect: wgpu::TextureAspect::All,
            },
            bytemuck::cast_slice(data),
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(w * TEXEL_BYTES),
                rows_per_image: Some(h),
            },
            wgpu::Extent3d {
                width: w,
                height: h,
                depth_or_array_layers: 1,
            },
        );
    };
    if full_rows > 0 {
        write(
            0,
            &texels[..full_rows as usize * width],
            TEXTURE_WIDTH,
            full_rows,
        );
    }
    let tail = &texels[full_rows as usize * width..];
    if !tail.is_empty() {
        write(full_rows, tail, tail.len() as u32, 1);
    }
    texture
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
