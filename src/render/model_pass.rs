//! The lit-mesh drawable: shader, bind group layouts, pipelines and per-view uniforms, and the
//! function that records a [`GpuModel`]'s draws for one view into a caller's render pass.
//!
//! Nothing here knows about the canvas: the inline renderer and the XR views both call
//! [`ModelPass::draw`] with their own attachments and viewports.

use std::mem::{offset_of, size_of};
use std::num::NonZeroU64;

use super::FrameStats;
use super::gpu_model::GpuModel;
use super::uniforms::{ViewUniform, align_up};
use crate::model::Vertex;

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

/// Shader, layouts, shared sampler/fallback texture, per-view uniforms and pipelines for
/// drawing [`GpuModel`]s.
pub struct ModelPass {
    shader: wgpu::ShaderModule,
    pipeline_layout: wgpu::PipelineLayout,
    pub(crate) node_layout: wgpu::BindGroupLayout,
    pub(crate) material_layout: wgpu::BindGroupLayout,
    view_layout: wgpu::BindGroupLayout,
    /// Trilinear, repeating: glTF's default sampler (the CPU model keeps no sampler state).
    pub(crate) sampler: wgpu::Sampler,
    /// 1×1 white, bound where a material has no base colour texture.
    pub(crate) white_view: wgpu::TextureView,
    _white: wgpu::Texture,
    view_buffer: wgpu::Buffer,
    view_bind_group: wgpu::BindGroup,
    view_stride: u64,
    view_capacity: u64,
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
        let node_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("ModelPass::node_layout"),
            entries: &[uniform_entry(
                0,
                size_of::<super::uniforms::NodeUniform>(),
                true,
            )],
        });
        let material_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("ModelPass::material_layout"),
            entries: &[
                uniform_entry(0, size_of::<super::uniforms::MaterialUniform>(), false),
                wgpu::BindGroupLayoutEntry {
                    binding: 1,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Texture {
                        sample_type: wgpu::TextureSampleType::Float { filterable: true },
                        view_dimension: wgpu::TextureViewDimension::D2,
                        multisampled: false,
                    },
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 2,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                    count: None,
                },
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("ModelPass::pipeline_layout"),
            bind_group_layouts: &[
                Some(&view_layout),
                Some(&node_layout),
                Some(&material_layout),
            ],
            immediate_size: 0,
        });

        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("ModelPass::sampler"),
            address_mode_u: wgpu::AddressMode::Repeat,
            address_mode_v: wgpu::AddressMode::Repeat,
            address_mode_w: wgpu::AddressMode::Repeat,
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            mipmap_filter: wgpu::MipmapFilterMode::Linear,
            ..Default::default()
        });

        let white = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("ModelPass::white_texture"),
            size: wgpu::Extent3d {
                width: 1,
                height: 1,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba8UnormSrgb,
            usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        });
        queue.write_texture(
            white.as_image_copy(),
            &[255; 4],
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(4),
                rows_per_image: Some(1),
            },
            wgpu::Extent3d {
                width: 1,
                height: 1,
                depth_or_array_layers: 1,
            },
        );
        let white_view = white.create_view(&wgpu::TextureViewDescriptor {
            label: Some("ModelPass::white_texture_view"),
            ..Default::default()
        });

        let view_stride = uniform_stride(device, size_of::<ViewUniform>());
        let (view_buffer, view_bind_group) =
            create_view_uniforms(device, &view_layout, view_stride, INITIAL_VIEW_SLOTS);

        Self {
            shader,
            pipeline_layout,
            node_layout,
            material_layout,
            view_layout,
            sampler,
            white_view,
            _white: white,
            view_buffer,
            view_bind_group,
            view_stride,
            view_capacity: INITIAL_VIEW_SLOTS,
            pipelines: Vec::new(),
        }
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
        let attributes = [
            wgpu::VertexAttribute {
                format: wgpu::VertexFormat::Float32x3,
                offset: offset_of!(Vertex, position) as u64,
                shader_location: 0,
            },
            wgpu::VertexAttribute {
                format: wgpu::VertexFormat::Float32x3,
                offset: offset_of!(Vertex, normal) as u64,
                shader_location: 1,
            },
            wgpu::VertexAttribute {
                format: wgpu::VertexFormat::Float32x2,
                offset: offset_of!(Vertex, uv) as u64,
                shader_location: 2,
            },
            wgpu::VertexAttribute {
                format: wgpu::VertexFormat::Float32x4,
                offset: offset_of!(Vertex, color) as u64,
                shader_location: 3,
            },
        ];
        device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some(raster.label()),
            layout: Some(&self.pipeline_layout),
            vertex: wgpu::VertexState {
                module: &self.shader,
                entry_point: Some("vs_main"),
                compilation_options: wgpu::PipelineCompilationOptions::default(),
                buffers: &[Some(wgpu::VertexBufferLayout {
                    array_stride: size_of::<Vertex>() as u64,
                    step_mode: wgpu::VertexStepMode::Vertex,
                    attributes: &attributes,
                })],
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
        for (i, view) in views.iter().enumerate() {
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

    /// Records `model`'s draws for one view into `pass`, whose attachments must match the
    /// formats `pipelines` was built for. `viewport` restricts drawing to part of the
    /// attachments (one eye of a side-by-side XR framebuffer); `None` keeps the pass's current
    /// viewport (the whole attachment unless the caller set one).
    pub fn draw(
        &self,
        pass: &mut wgpu::RenderPass<'_>,
        model: &GpuModel,
        pipelines: PipelineSet,
        view: ViewSlot,
        viewport: Option<Viewport>,
    ) -> FrameStats {
        let mut stats = FrameStats::default();
        let Some((_, set)) = self.pipelines.get(pipelines.0) else {
            // A PipelineSet from another ModelPass: nothing sensible to draw with.
            return stats;
        };
        if model.draws.is_empty() {
            return stats;
        }
        if let Some(v) = viewport {
            pass.set_viewport(v.x, v.y, v.width, v.height, 0.0, 1.0);
        }
        pass.set_bind_group(0, &self.view_bind_group, &[view.offset]);

        // Draws are sorted by (raster, material, chunk), so each state change happens once
        // per run; track what is bound to skip redundant calls.
        let mut bound_raster = None;
        let mut bound_chunk = None;
        let mut bound_material = None;
        let mut bound_node = None;
        for draw in &model.draws {
            if bound_raster != Some(draw.raster) {
                pass.set_pipeline(&set[draw.raster as usize]);
                bound_raster = Some(draw.raster);
            }
            if bound_chunk != Some(draw.chunk) {
                let chunk = &model.chunks[draw.chunk];
                pass.set_vertex_buffer(0, chunk.vertices.slice(..));
                pass.set_index_buffer(chunk.indices.slice(..), wgpu::IndexFormat::Uint32);
                bound_chunk = Some(draw.chunk);
            }
            if bound_material != Some(draw.material) {
                pass.set_bind_group(2, &model.materials[draw.material], &[]);
                bound_material = Some(draw.material);
            }
            if bound_node != Some(draw.node_slot) {
                pass.set_bind_group(
                    1,
                    &model.node_bind_group,
                    &[draw.node_slot * model.node_stride],
                );
                bound_node = Some(draw.node_slot);
            }
            pass.draw_indexed(
                draw.first_index..draw.first_index + draw.index_count,
                0,
                0..1,
            );
            stats.draw_calls += 1;
            stats.triangles += u64::from(draw.index_count / 3);
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
