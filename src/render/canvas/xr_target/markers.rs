//! The in-world markers of an XR frame (placement reticle, teleport arc, controller rays,
//! alignment points, floor grid): their shader, per-view uniforms, vertex buffer and pipelines.

use std::mem::size_of;
use std::num::NonZeroU64;

use glam::Mat4;

use super::{MarkerVertex, TargetFormats, Viewport};

/// Marker view slots allocated up front: two eyes, twice over for a quad-view runtime.
const INITIAL_MARKER_VIEWS: u64 = 4;

pub(super) struct MarkerPass {
    pub(super) shader: wgpu::ShaderModule,
    view_layout: wgpu::BindGroupLayout,
    pipeline_layout: wgpu::PipelineLayout,
    pipelines: Vec<(TargetFormats, wgpu::RenderPipeline)>,
    view_buffer: wgpu::Buffer,
    view_bind_group: wgpu::BindGroup,
    view_stride: u64,
    view_capacity: u64,
    vertices: Option<wgpu::Buffer>,
    vertex_capacity: u64,
}

impl MarkerPass {
    pub(super) fn new(device: &wgpu::Device) -> Self {
        let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("XrTarget::shader(xr.wgsl)"),
            source: wgpu::ShaderSource::Wgsl(crate::shaders::XR.into()),
        });
        let view_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("XrTarget::marker_view_layout"),
            entries: &[wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::VERTEX,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: true,
                    min_binding_size: NonZeroU64::new(size_of::<[[f32; 4]; 4]>() as u64),
                },
                count: None,
            }],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("XrTarget::marker_pipeline_layout"),
            bind_group_layouts: &[Some(&view_layout)],
            immediate_size: 0,
        });
        let view_stride =
            crate::render::model_pass::uniform_stride(device, size_of::<[[f32; 4]; 4]>());
        let (view_buffer, view_bind_group) =
            marker_view_uniforms(device, &view_layout, view_stride, INITIAL_MARKER_VIEWS);
        Self {
            shader,
            view_layout,
            pipeline_layout,
            pipelines: Vec::new(),
            view_buffer,
            view_bind_group,
            view_stride,
            view_capacity: INITIAL_MARKER_VIEWS,
            vertices: None,
            vertex_capacity: 0,
        }
    }

    /// Index of the pipeline for `formats`, built on first use.
    pub(super) fn pipeline(&mut self, device: &wgpu::Device, formats: TargetFormats) -> usize {
        if let Some(i) = self.pipelines.iter().position(|(f, _)| *f == formats) {
            return i;
        }
        let pipeline = create_marker_pipeline(device, &self.shader, &self.pipeline_layout, formats);
        self.pipelines.push((formats, pipeline));
        self.pipelines.len() - 1
    }

    /// Uploads this frame's per-view matrices and marker vertices; returns each view's uniform
    /// offset (empty when there is nothing to draw).
    pub(super) fn write(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        view_projs: &[Mat4],
        markers: &[MarkerVertex],
    ) -> Vec<u32> {
        if markers.is_empty() || view_projs.is_empty() {
            return Vec::new();
        }
        let count = view_projs.len() as u64;
        if count > self.view_capacity {
            let capacity = count.next_power_of_two();
            let (buffer, bind_group) =
                marker_view_uniforms(device, &self.view_layout, self.view_stride, capacity);
            self.view_buffer = buffer;
            self.view_bind_group = bind_group;
            self.view_capacity = capacity;
        }
        let mut bytes = vec![0u8; (self.view_stride * count) as usize];
        let mut offsets = Vec::with_capacity(view_projs.len());
        for (i, m) in view_projs.iter().enumerate() {
            let offset = i * self.view_stride as usize;
            bytes[offset..offset + 64].copy_from_slice(bytemuck::bytes_of(&m.to_cols_array()));
            offsets.push(offset as u32);
        }
        queue.write_buffer(&self.view_buffer, 0, &bytes);

        let data: &[u8] = bytemuck::cast_slice(markers);
        let needed = data.len() as u64;
        if needed > self.vertex_capacity || self.vertices.is_none() {
            let capacity = needed.next_power_of_two().max(4096);
            self.vertices = Some(device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("XrTarget::marker_vertices"),
                size: capacity,
                usage: wgpu::BufferUsages::VERTEX | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }));
            self.vertex_capacity = capacity;
        }
        if let Some(buffer) = &self.vertices {
            queue.write_buffer(buffer, 0, data);
        }
        offsets
    }

    /// Records the marker draw for one view (after the model, same viewport); returns the
    /// number of draw calls (0 or 1).
    pub(super) fn draw(
        &mut self,
        device: &wgpu::Device,
        pass: &mut wgpu::RenderPass<'_>,
        formats: TargetFormats,
        offset: Option<u32>,
        vertex_count: u32,
        viewport: Viewport,
    ) -> u32 {
        let Some(offset) = offset else { return 0 };
        if vertex_count < 3 || self.vertices.is_none() {
            return 0;
        }
        let index = self.pipeline(device, formats);
        let Some(vertices) = self.vertices.as_ref() else {
            return 0;
        };
        pass.set_viewport(
            viewport.x,
            viewport.y,
            viewport.width,
            viewport.height,
            0.0,
            1.0,
        );
        pass.set_pipeline(&self.pipelines[index].1);
        pass.set_bind_group(0, &self.view_bind_group, &[offset]);
        pass.set_vertex_buffer(
            0,
            vertices.slice(..u64::from(vertex_count) * size_of::<MarkerVertex>() as u64),
        );
        pass.draw(0..vertex_count - vertex_count % 3, 0..1);
        1
    }
}

fn marker_view_uniforms(
    device: &wgpu::Device,
    layout: &wgpu::BindGroupLayout,
    stride: u64,
    slots: u64,
) -> (wgpu::Buffer, wgpu::BindGroup) {
    let buffer = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("XrTarget::marker_views"),
        size: stride * slots,
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("XrTarget::marker_view_bind_group"),
        layout,
        entries: &[wgpu::BindGroupEntry {
            binding: 0,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: &buffer,
                offset: 0,
                size: NonZeroU64::new(size_of::<[[f32; 4]; 4]>() as u64),
            }),
        }],
    });
    (buffer, bind_group)
}

fn create_marker_pipeline(
    device: &wgpu::Device,
    shader: &wgpu::ShaderModule,
    layout: &wgpu::PipelineLayout,
    formats: TargetFormats,
) -> wgpu::RenderPipeline {
    let attributes = [
        wgpu::VertexAttribute {
            format: wgpu::VertexFormat::Float32x3,
            offset: std::mem::offset_of!(MarkerVertex, position) as u64,
            shader_location: 0,
        },
        wgpu::VertexAttribute {
            format: wgpu::VertexFormat::Float32x4,
            offset: std::mem::offset_of!(MarkerVertex, color) as u64,
            shader_location: 1,
        },
    ];
    device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some("XrTarget::marker_pipeline"),
        layout: Some(layout),
        vertex: wgpu::VertexState {
            module: shader,
            entry_point: Some("vs_marker"),
            compilation_options: wgpu::PipelineCompilationOptions::default(),
            buffers: &[Some(wgpu::VertexBufferLayout {
                array_stride: size_of::<MarkerVertex>() as u64,
                step_mode: wgpu::VertexStepMode::Vertex,
                attributes: &attributes,
            })],
        },
        primitive: wgpu::PrimitiveState {
            topology: wgpu::PrimitiveTopology::TriangleList,
            cull_mode: None,
            ..Default::default()
        },
        // Markers are hidden by the twin in front of them but never hide each other.
        depth_stencil: Some(wgpu::DepthStencilState {
            format: formats.depth,
            depth_write_enabled: Some(false),
            depth_compare: Some(wgpu::CompareFunction::LessEqual),
            stencil: wgpu::StencilState::default(),
            bias: wgpu::DepthBiasState::default(),
        }),
        multisample: wgpu::MultisampleState {
            count: formats.samples,
            ..Default::default()
        },
        fragment: Some(wgpu::FragmentState {
            module: shader,
            entry_point: Some("fs_marker"),
            compilation_options: wgpu::PipelineCompilationOptions::default(),
            targets: &[Some(wgpu::ColorTargetState {
                format: formats.color,
                blend: Some(wgpu::BlendState::PREMULTIPLIED_ALPHA_BLENDING),
                write_mask: wgpu::ColorWrites::ALL,
            })],
        }),
        multiview_mask: None,
        cache: None,
    })
}
