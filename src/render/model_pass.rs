//! The lit-mesh drawable: shader, bind group layouts, pipelines and per-view uniforms, and the
//! function that records a [`GpuModel`]'s draws for one view into a caller's render pass: the
//! chunks the view's frustum keeps, in at most [`cull::MAX_MODEL_DRAWS`] draws per view.
//!
//! Nothing here knows about the canvas: the inline renderer and the XR views both call
//! [`ModelPass::draw`] with their own attachments and viewports.

use std::mem::{offset_of, size_of};
use std::num::NonZeroU64;
use std::ops::Range;

use glam::Mat4;

use super::FrameStats;
use super::batch::GpuVertex;
use super::cull::{self, DrawRange, Frustum};
use super::gpu_model::GpuModel;
use super::model_bindings::ModelBindings;
use super::uniforms::{ViewUniform, align_up};

/// Colour/depth formats and sample count of the attachments a pass draws into; pipelines are
/// built per combination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetFormats {
    /// Format of the colour attachment view (an sRGB format, so the shader writes linear).
    pub color: wgpu::TextureFormat,
    /// Format of the depth attachment.
    pub depth: wgpu::TextureFormat,
    /// MSAA sample count of both attachments.
    pub samples: u32,
}

/// Handle to the pipelines built for one [`TargetFormats`] by [`ModelPass::pipelines_for`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipelineSet(usize);

/// Handle to one view's uniforms written by [`ModelPass::write_views`] this frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewSlot {
    offset: u32,
}

/// A viewport in attachment pixels (origin top-left).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Viewport {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width (positive).
    pub width: f32,
    /// Height (positive).
    pub height: f32,
}

/// How a draw is rasterised: winding of front faces and whether back faces are culled.
///
/// glTF front faces are counter-clockwise, but a node whose world transform has a negative
/// determinant (a mirror) flips them; double-sided materials need the right winding too, for
/// the shader's `front_facing` normal flip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Raster {
    /// Counter-clockwise front faces, back faces culled.
    CcwCulled = 0,
    /// Clockwise front faces (mirrored node), back faces culled.
    CwCulled = 1,
    /// Counter-clockwise front faces, both sides drawn.
    CcwDoubleSided = 2,
    /// Clockwise front faces (mirrored node), both sides drawn.
    CwDoubleSided = 3,
}

impl Raster {
    const ALL: [Raster; 4] = [
        Self::CcwCulled,
        Self::CwCulled,
        Self::CcwDoubleSided,
        Self::CwDoubleSided,
    ];

    /// The raster state for a material (`double_sided`) on a node whose model matrix has
    /// determinant sign `mirrored`.
    pub(crate) fn new(double_sided: bool, mirrored: bool) -> Self {
        match (double_sided, mirrored) {
            (false, false) => Self::CcwCulled,
            (false, true) => Self::CwCulled,
            (true, false) => Self::CcwDoubleSided,
            (true, true) => Self::CwDoubleSided,
        }
    }

    fn primitive_state(self) -> wgpu::PrimitiveState {
        let (front_face, cull_mode) = match self {
            Self::CcwCulled => (wgpu::FrontFace::Ccw, Some(wgpu::Face::Back)),
            Self::CwCulled => (wgpu::FrontFace::Cw, Some(wgpu::Face::Back)),
            Self::CcwDoubleSided => (wgpu::FrontFace::Ccw, None),
            Self::CwDoubleSided => (wgpu::FrontFace::Cw, None),
        };
        wgpu::PrimitiveState {
            topology: wgpu::PrimitiveTopology::TriangleList,
            front_face,
            cull_mode,
            ..Default::default()
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::CcwCulled => "ModelPass::pipeline(ccw, culled)",
            Self::CwCulled => "ModelPass::pipeline(cw, culled)",
            Self::CcwDoubleSided => "ModelPass::pipeline(ccw, double-sided)",
            Self::CwDoubleSided => "ModelPass::pipeline(cw, double-sided)",
        }
    }
}

/// View slots allocated up front: the inline view plus two XR eyes fit without growing.
const INITIAL_VIEW_SLOTS: u64 = 4;

/// The vertex buffer's attributes: [`GpuVertex`]'s fields to `vs_main`'s locations 0..=4 (the
/// instance slot is location 5, from its own buffer).
pub const VERTEX_ATTRIBUTES: [wgpu::VertexAttribute; 5] = [
    wgpu::VertexAttribute {
        format: wgpu::VertexFormat::Float32x3,
        offset: offset_of!(GpuVertex, position) as u64,
        shader_location: 0,
    },
    wgpu::VertexAttribute {
        format: wgpu::VertexFormat::Snorm16x4,
        offset: offset_of!(GpuVertex, normal) as u64,
        shader_location: 1,
    },
    wgpu::VertexAttribute {
        format: wgpu::VertexFormat::Float32x2,
        offset: offset_of!(GpuVertex, uv) as u64,
        shader_location: 2,
    },
    wgpu::VertexAttribute {
        format: wgpu::VertexFormat::Unorm16x4,
        offset: offset_of!(GpuVertex, color) as u64,
        shader_location: 3,
    },
    wgpu::VertexAttribute {
        format: wgpu::VertexFormat::Uint32x2,
        offset: offset_of!(GpuVertex, node) as u64,
        shader_location: 4,
    },
];

/// Shader, layouts, shared sampler/fallback texture, per-view uniforms and pipelines for
/// drawing [`GpuModel`]s.
pub struct ModelPass {
    /// Scratch for a view's draw ranges, reused by every `draw` (no allocation per view).
    ranges: std::cell::RefCell<Vec<DrawRange>>,
    shader: wgpu::ShaderModule,
    pipeline_layout: wgpu::PipelineLayout,
    /// The model and texture bind group layouts and what they share.
    bindings: ModelBindings,
    view_layout: wgpu::BindGroupLayout,
    view_buffer: wgpu::Buffer,
    view_bind_group: wgpu::BindGroup,
    view_stride: u64,
    view_capacity: u64,
    /// World-to-clip matrix of each view slot written this frame, for culling.
    view_clips: Vec<Mat4>,
    /// Whether chunks outside a view's frustum are skipped (on unless a test turns it off).
    culling: bool,
    /// Per target combination: one pipeline per [`Raster`], indexed by its discriminant.
    pipelines: Vec<(TargetFormats, [wgpu::RenderPipeline; 4])>,
}

impl ModelPass {
    /// Creates the shader, layouts and shared resources. Pipelines are built on demand by
    /// [`Self::pipelines_for`].
    pub fn new(device: &wgpu::Device, queue: &wgpu::Queue) -> Self {
        let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("ModelPass::shader(mesh.wgsl)"),
            source: wgpu::ShaderSource::Wgsl(crate::shaders::MESH.into()),
        });

        let uniform_entry = |binding: u32, size: usize, dynamic: bool| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::VERTEX_FRAGMENT,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: dynamic,
                min_binding_size: NonZeroU64::new(size as u64),
            },
            count: None,
        };
        let view_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("ModelPass::view_layout"),
            entries: &[uniform_entry(0, size_of::<ViewUniform>(), true)],
        });
        let bindings = ModelBindings::new(device, queue);
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("ModelPass::pipeline_layout"),
            bind_group_layouts: &[
                Some(&view_layout),
                Some(&bindings.model_layout),
                Some(&bindings.texture_layout),
            ],
            immediate_size: 0,
        });

        let view_stride = uniform_stride(device, size_of::<ViewUniform>());
        let (view_buffer, view_bind_group) =
            create_view_uniforms(device, &view_layout, view_stride, INITIAL_VIEW_SLOTS);

        Self {
            shader,
            pipeline_layout,
            bindings,
            view_layout,
            view_buffer,
            view_bind_group,
            view_stride,
            view_capacity: INITIAL_VIEW_SLOTS,
            view_clips: Vec::new(),
            culling: true,
            pipelines: Vec::new(),
            ranges: std::cell::RefCell::new(Vec::new()),
        }
    }

    /// The layouts a [`GpuModel`]'s bind groups are made for.
    pub(crate) fn bindings(&self) -> &ModelBindings {
        &self.bindings
    }

    /// The pipelines for drawing into attachments of `targets`, built on first request.
    pub fn pipelines_for(&mut self, device: &wgpu::Device, targets: TargetFormats) -> PipelineSet {
        if let Some(i) = self.pipelines.iter().position(|(t, _)| *t == targets) {
            return PipelineSet(i);
        }
        let set = Raster::ALL.map(|raster| self.create_pipeline(device, targets, raster));
        self.pipelines.push((targets, set));
        PipelineSet(self.pipelines.len() - 1)
    }

    /// The attachment formats `pipelines` was built for; `None` for a set from another pass.
    pub fn targets_of(&self, pipelines: PipelineSet) -> Option<TargetFormats> {
        self.pipelines.get(pipelines.0).map(|(t, _)| *t)
    }

    fn create_pipeline(
        &self,
        device: &wgpu::Device,
        targets: TargetFormats,
        raster: Raster,
    ) -> wgpu::RenderPipeline {
        device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some(raster.label()),
            layout: Some(&self.pipeline_layout),
            vertex: wgpu::VertexState {
                module: &self.shader,
                entry_point: Some("vs_main"),
                compilation_options: wgpu::PipelineCompilationOptions::default(),
                buffers: &[
                    Some(wgpu::VertexBufferLayout {
                        array_stride: size_of::<GpuVertex>() as u64,
                        step_mode: wgpu::VertexStepMode::Vertex,
                        attributes: &VERTEX_ATTRIBUTES,
                    }),
                    // The instance's slot, added to the vertex's (see `batch::BatchPlan::instances`).
                    Some(wgpu::VertexBufferLayout {
                        array_stride: 4,
                        step_mode: wgpu::VertexStepMode::Instance,
                        attributes: &[wgpu::VertexAttribute {
                            format: wgpu::VertexFormat::Uint32,
                            offset: 0,
                            shader_location: 5,
                        }],
                    }),
                ],
            },
            primitive: raster.primitive_state(),
            depth_stencil: Some(wgpu::DepthStencilState {
                format: targets.depth,
                depth_write_enabled: Some(true),
                // Standard (not reversed) depth: `ViewMatrices::proj` maps near to 0, far to 1.
                depth_compare: Some(wgpu::CompareFunction::Less),
                stencil: wgpu::StencilState::default(),
                bias: wgpu::DepthBiasState::default(),
            }),
            multisample: wgpu::MultisampleState {
                count: targets.samples,
                ..Default::default()
            },
            fragment: Some(wgpu::FragmentState {
                module: &self.shader,
                entry_point: Some("fs_main"),
                compilation_options: wgpu::PipelineCompilationOptions::default(),
                targets: &[Some(wgpu::ColorTargetState {
                    format: targets.color,
                    blend: None,
                    write_mask: wgpu::ColorWrites::ALL,
                })],
            }),
            multiview_mask: None,
            cache: None,
        })
    }

    /// Writes this frame's view uniforms (one per view drawn, e.g. one inline or two XR eyes)
    /// and returns their slots, in order. Call once per frame before recording any draw: the
    /// buffer may be reallocated here, which would lose slots written by an earlier call.
    pub fn write_views(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        views: &[ViewUniform],
    ) -> Vec<ViewSlot> {
        let count = views.len() as u64;
        if count > self.view_capacity {
            let capacity = count.next_power_of_two();
            let (buffer, bind_group) =
                create_view_uniforms(device, &self.view_layout, self.view_stride, capacity);
            self.view_buffer = buffer;
            self.view_bind_group = bind_group;
            self.view_capacity = capacity;
        }
        let mut bytes = vec![0u8; (self.view_stride * count) as usize];
        let mut slots = Vec::with_capacity(views.len());
        self.view_clips.clear();
        for (i, view) in views.iter().enumerate() {
            self.view_clips
                .push(Mat4::from_cols_array_2d(&view.view_proj));
            let offset = i * self.view_stride as usize;
            bytes[offset..offset + size_of::<ViewUniform>()]
                .copy_from_slice(bytemuck::bytes_of(view));
            // Offsets stay far below 4 GiB: the buffer holds a handful of 256-byte slots.
            slots.push(ViewSlot {
                offset: offset as u32,
            });
        }
        if !bytes.is_empty() {
            queue.write_buffer(&self.view_buffer, 0, &bytes);
        }
        slots
    }

    /// Turns frustum culling of chunks on (the default) or off; with it off every chunk is
    /// drawn, which must give the same picture.
    pub fn set_culling(&mut self, on: bool) {
        self.culling = on;
    }

    /// The draw ranges of `model` that the view in `view` sees: its chunks culled against the
    /// view frustum (in model space, through the placement `root`), joined and merged to at most
    /// [`cull::MAX_MODEL_DRAWS`] draws. Appends to `out` (cleared first).
    pub fn visible_ranges(
        &self,
        model: &GpuModel,
        root: Mat4,
        view: ViewSlot,
        out: &mut Vec<DrawRange>,
    ) -> usize {
        let index = (u64::from(view.offset) / self.view_stride) as usize;
        match self.view_clips.get(index).filter(|_| self.culling) {
            Some(&clip) => {
                let frustum = Frustum::from_clip(clip * root);
                cull::draw_ranges(
                    model,
                    &|b| frustum.intersects(b),
                    cull::MAX_MODEL_DRAWS,
                    out,
                )
            }
            // A slot not written this frame: draw everything rather than nothing.
            None => cull::draw_ranges(model, &|_| true, cull::MAX_MODEL_DRAWS, out),
        }
    }

    /// Records `model`'s draws for one view into `pass`, whose attachments must match the
    /// formats `pipelines` was built for: the chunks inside the view's frustum, in at most
    /// [`cull::MAX_MODEL_DRAWS`] draws (one per batch at least). `viewport` restricts drawing
    /// to part of the attachments (one eye of a side-by-side XR framebuffer); `None` keeps the
    /// pass's current viewport (the whole attachment unless the caller set one).
    pub fn draw(
        &self,
        pass: &mut wgpu::RenderPass<'_>,
        model: &GpuModel,
        pipelines: PipelineSet,
        view: ViewSlot,
        viewport: Option<Viewport>,
    ) -> FrameStats {
        let Some((_, set)) = self.pipelines.get(pipelines.0) else {
            // A PipelineSet from another ModelPass: nothing sensible to draw with.
            return FrameStats::default();
        };
        let mut ranges = std::mem::take(&mut *self.ranges.borrow_mut());
        self.visible_ranges(model, model.root(), view, &mut ranges);
        let stats = self.record(pass, model, set, view, viewport, &ranges);
        *self.ranges.borrow_mut() = ranges;
        stats
    }

    /// Records the draws of `ranges` (one view's visible chunks) into `pass`.
    fn record(
        &self,
        pass: &mut wgpu::RenderPass<'_>,
        model: &GpuModel,
        set: &[wgpu::RenderPipeline; 4],
        view: ViewSlot,
        viewport: Option<Viewport>,
        ranges: &[DrawRange],
    ) -> FrameStats {
        let mut stats = FrameStats::default();
        if ranges.is_empty() {
            return stats;
        }
        if let Some(v) = viewport {
            pass.set_viewport(v.x, v.y, v.width, v.height, 0.0, 1.0);
        }
        pass.set_bind_group(0, &self.view_bind_group, &[view.offset]);
        pass.set_bind_group(1, &model.model_bind_group, &[]);

        // Ranges come in batch order and batches in pipeline order; track what is bound to
        // skip redundant calls.
        let mut bound_raster = None;
        let mut bound_buffer = None;
        let mut bound_texture = None;
        let mut bound_instances: Option<Range<u64>> = None;
        for range in ranges {
            let Some(batch) = model.batches.get(range.batch) else {
                continue;
            };
            let raster = Raster::new(
                batch.key.double_sided,
                batch.key.mirrored != model.root_mirrored,
            );
            if bound_raster != Some(raster) {
                pass.set_pipeline(&set[raster as usize]);
                bound_raster = Some(raster);
            }
            if bound_buffer != Some(batch.buffer) {
                let Some(buffer) = model.buffers.get(batch.buffer) else {
                    continue;
                };
                if buffer.ready_vertices == 0 || buffer.ready_indices == 0 {
                    continue;
                }
                // Only the uploaded prefixes: the rest is not drawn from, and binding it would
                // make WebGL zero-fill it first.
                let vertex_bytes = u64::from(buffer.ready_vertices) * size_of::<GpuVertex>() as u64;
                pass.set_vertex_buffer(0, buffer.vertices.slice(..vertex_bytes));
                pass.set_index_buffer(
                    buffer.indices.slice(..u64::from(buffer.ready_indices) * 4),
                    wgpu::IndexFormat::Uint32,
                );
                bound_buffer = Some(batch.buffer);
            }
            if bound_texture != Some(batch.texture_group) {
                pass.set_bind_group(2, &model.texture_groups[batch.texture_group], &[]);
                bound_texture = Some(batch.texture_group);
            }
            // WebGL2 has no base instance: an instanced draw binds its instances at an offset.
            let (first, last) = match &batch.instanced {
                Some(_) => (range.indices.start, range.indices.end),
                None => (0, 1),
            };
            let bytes = u64::from(first) * 4..u64::from(last) * 4;
            if bound_instances.as_ref() != Some(&bytes) {
                pass.set_vertex_buffer(1, model.instances.slice(bytes.clone()));
                bound_instances = Some(bytes);
            }
            let indices = batch.instanced.clone().unwrap_or(range.indices.clone());
            pass.draw_indexed(indices, 0, 0..last - first);
            stats.draw_calls += 1;
            stats.triangles += model.batch_triangles(range.batch, &range.indices);
        }
        stats
    }
}

/// Stride between dynamic-offset uniform slots: the struct size rounded up to the device's
/// `min_uniform_buffer_offset_alignment` (256 on most devices).
pub(crate) fn uniform_stride(device: &wgpu::Device, size: usize) -> u64 {
    align_up(
        size as u64,
        u64::from(device.limits().min_uniform_buffer_offset_alignment),
    )
}

fn create_view_uniforms(
    device: &wgpu::Device,
    layout: &wgpu::BindGroupLayout,
    stride: u64,
    slots: u64,
) -> (wgpu::Buffer, wgpu::BindGroup) {
    let buffer = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("ModelPass::view_uniforms"),
        size: stride * slots,
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("ModelPass::view_bind_group"),
        layout,
        entries: &[wgpu::BindGroupEntry {
            binding: 0,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: &buffer,
                offset: 0,
                size: NonZeroU64::new(size_of::<ViewUniform>() as u64),
            }),
        }],
    });
    (buffer, bind_group)
}
