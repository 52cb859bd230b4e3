//! The sensor-overlay drawable: glyph atlas, pipelines, per-view uniforms and one instance
//! buffer, and the function that records one view's overlay into a caller's render pass.
//!
//! The CPU work (layout, declutter, text, icons, sparklines) is
//! [`OverlayScene`](crate::overlay::scene::OverlayScene), pure and host-tested. Here each
//! frame's views are laid out into one staging vector, compared with what the buffer holds, and
//! only the instances that changed are written (a reading that changes one label rewrites that
//! label's instances), into per-view regions of a buffer that only grows; each view is one
//! instanced draw.
//! Like [`ModelPass`](super::ModelPass), nothing here knows about the canvas: the inline view
//! and the XR views call [`OverlayPass::draw`] with their own passes and viewports.

use std::mem::{offset_of, size_of};
use std::num::NonZeroU64;

use super::FrameStats;
use super::changed_runs::{MAX_EQUAL_GAP, changed_runs};
use super::model_pass::{TargetFormats, Viewport, uniform_stride};
use super::uniforms::OverlayUniform;
use crate::camera::ViewMatrices;
use crate::overlay::layout::Placed;
use crate::overlay::scene::{OverlayFrame, OverlayInstance, OverlayScene, ViewCounts};
use crate::overlay::text::Font;

/// Instances allocated up front: a few hundred labels without growing.
const INITIAL_INSTANCES: u64 = 16 * 1024;

/// View slots allocated up front: the inline view plus two XR eyes.
const INITIAL_VIEW_SLOTS: u64 = 4;

/// Seconds per alarm pulse: slow enough to read as breathing, not flashing.
pub const PULSE_PERIOD_S: f64 = 1.6;

/// One view to lay the overlay out for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OverlayView {
    /// The view's matrices (the same the model is drawn with).
    pub matrices: ViewMatrices,
    /// The view's rectangle in attachment pixels (only its size matters for the layout).
    pub viewport: Viewport,
    /// Device pixels per label pixel: the canvas's devicePixelRatio, or about 1.5 to 2 for a
    /// headset eye, so labels keep their physical size.
    pub pixel_scale: f32,
}

/// Handle to one view's overlay prepared by [`OverlayPass::prepare`] this frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverlaySlot {
    /// Which `prepare` call it belongs to; a stale slot draws nothing.
    generation: u64,
    uniform_offset: u32,
    first_instance: u64,
    instances: u32,
    counts: ViewCounts,
}

/// The overlay instance buffer's attributes: [`OverlayInstance`]'s fields, in order, to
/// `vs_main`'s locations 0..=3.
pub const INSTANCE_ATTRIBUTES: [wgpu::VertexAttribute; 4] = [
    wgpu::VertexAttribute {
        format: wgpu::VertexFormat::Float32x4,
        offset: offset_of!(OverlayInstance, geom) as u64,
        shader_location: 0,
    },
    wgpu::VertexAttribute {
        format: wgpu::VertexFormat::Uint16x4,
        offset: offset_of!(OverlayInstance, aux) as u64,
        shader_location: 1,
    },
    wgpu::VertexAttribute {
        format: wgpu::VertexFormat::Unorm8x4,
        offset: offset_of!(OverlayInstance, color) as u64,
        shader_location: 2,
    },
    wgpu::VertexAttribute {
        format: wgpu::VertexFormat::Uint32,
        offset: offset_of!(OverlayInstance, kind) as u64,
        shader_location: 3,
    },
];

/// Pipelines, atlas, buffers and the CPU scene of the overlay.
pub struct OverlayPass {
    shader: wgpu::ShaderModule,
    bind_group_layout: wgpu::BindGroupLayout,
    pipeline_layout: wgpu::PipelineLayout,
    pipelines: Vec<(TargetFormats, wgpu::RenderPipeline)>,
    atlas_view: wgpu::TextureView,
    sampler: wgpu::Sampler,
    _atlas: wgpu::Texture,
    atlas_size: [f32; 2],
    spread_px: f32,
    uniform_buffer: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
    uniform_stride: u64,
    uniform_capacity: u64,
    instance_buffer: wgpu::Buffer,
    instance_capacity: u64,
    scene: OverlayScene<'static>,
    /// Whether the labels changed since the last upload.
    scene_changed: bool,
    /// The views of the last upload: the same views with unchanged labels reuse it.
    last_views: Vec<OverlayView>,
    /// The instance ranges and counts of the last upload, per view.
    last_slots: Vec<OverlaySlot>,
    /// This frame's instances, all views back to back; reused every frame.
    staging: Vec<OverlayInstance>,
    /// What the instance buffer holds (a copy of the last upload).
    uploaded: Vec<OverlayInstance>,
    /// Scratch: the changed runs of `staging`.
    runs: Vec<std::ops::Range<usize>>,
    /// Bytes written into the instance buffer by the last `prepare`.
    last_upload_bytes: u64,
    uniform_bytes: Vec<u8>,
    generation: u64,
}

impl OverlayPass {
    /// Creates the shader, layouts, the glyph atlas texture and the buffers. Pipelines are
    /// built on demand by [`Self::ensure_pipeline`].
    pub fn new(device: &wgpu::Device, queue: &wgpu::Queue, font: &'static Font) -> Self {
        let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("OverlayPass::shader(overlay.wgsl)"),
            source: wgpu::ShaderSource::Wgsl(crate::shaders::OVERLAY.into()),
        });
        let bind_group_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("OverlayPass::bind_group_layout"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::VERTEX_FRAGMENT,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: true,
                        min_binding_size: NonZeroU64::new(size_of::<OverlayUniform>() as u64),
                    },
                    count: None,
                },
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
            label: Some("OverlayPass::pipeline_layout"),
            bind_group_layouts: &[Some(&bind_group_layout)],
            immediate_size: 0,
        });

        let [width, height] = font.atlas_size();
        let size = wgpu::Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        };
        // A distance field, not a colour: linear R8, sampled bilinearly, no mips (the shader
        // widens its smoothing by the screen-space derivative instead).
        let atlas = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("OverlayPass::glyph_atlas"),
            size,
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::R8Unorm,
            usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        });
        queue.write_texture(
            atlas.as_image_copy(),
            font.atlas_pixels(),
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(width),
                rows_per_image: Some(height),
            },
            size,
        );
        let atlas_view = atlas.create_view(&wgpu::TextureViewDescriptor {
            label: Some("OverlayPass::glyph_atlas_view"),
            ..Default::default()
        });
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("OverlayPass::sampler"),
            address_mode_u: wgpu::AddressMode::ClampToEdge,
            address_mode_v: wgpu::AddressMode::ClampToEdge,
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });

        let uniform_stride = uniform_stride(device, size_of::<OverlayUniform>());
        let (uniform_buffer, bind_group) = create_uniforms(
            device,
            &bind_group_layout,
            &atlas_view,
            &sampler,
            uniform_stride,
            INITIAL_VIEW_SLOTS,
        );
        let instance_buffer = create_instances(device, INITIAL_INSTANCES);

        Self {
            shader,
            bind_group_layout,
            pipeline_layout,
            pipelines: Vec::new(),
            atlas_view,
            sampler,
            _atlas: atlas,
            atlas_size: [width as f32, height as f32],
            spread_px: font.spread_px(),
            uniform_buffer,
            bind_group,
            uniform_stride,
            uniform_capacity: INITIAL_VIEW_SLOTS,
            instance_buffer,
            instance_capacity: INITIAL_INSTANCES,
            scene: OverlayScene::new(font),
            scene_changed: true,
            last_views: Vec::new(),
            last_slots: Vec::new(),
            staging: Vec::new(),
            uploaded: Vec::new(),
            runs: Vec::new(),
            last_upload_bytes: 0,
            uniform_bytes: Vec::new(),
            generation: 0,
        }
    }

    /// Replaces the labels (kept until the next call).
    pub fn set_frame(&mut self, frame: &OverlayFrame) {
        self.scene.set_frame(frame);
        self.scene_changed = true;
    }

    /// Whether some label pulses, so views must keep redrawing while it is shown.
    pub fn animating(&self) -> bool {
        self.scene.animating()
    }

    /// Placements of view `view_index` of the last [`Self::prepare`] and the visible labels
    /// most important first (drawing order reversed), for picking exactly what was drawn.
    pub fn placed(&self, view_index: usize) -> (&[Placed], &[u32]) {
        self.scene.placed(view_index)
    }

    /// Builds the pipeline for attachments of `targets` if there is none yet.
    pub fn ensure_pipeline(&mut self, device: &wgpu::Device, targets: TargetFormats) {
        if self.pipelines.iter().any(|(t, _)| *t == targets) {
            return;
        }
        let pipeline = self.create_pipeline(device, targets);
        self.pipelines.push((targets, pipeline));
    }

    fn create_pipeline(
        &self,
        device: &wgpu::Device,
        targets: TargetFormats,
    ) -> wgpu::RenderPipeline {
        device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("OverlayPass::pipeline"),
            layout: Some(&self.pipeline_layout),
            vertex: wgpu::VertexState {
                module: &self.shader,
                entry_point: Some("vs_main"),
                compilation_options: wgpu::PipelineCompilationOptions::default(),
                buffers: &[Some(wgpu::VertexBufferLayout {
                    array_stride: size_of::<OverlayInstance>() as u64,
                    step_mode: wgpu::VertexStepMode::Instance,
                    attributes: &INSTANCE_ATTRIBUTES,
                })],
            },
            primitive: wgpu::PrimitiveState {
                topology: wgpu::PrimitiveTopology::TriangleList,
                // Line quads may come out either way round.
                cull_mode: None,
                ..Default::default()
            },
            // The pass has the model's depth buffer; labels ignore it and leave it alone, so
            // they stay readable in front of (and behind) the parts they describe.
            depth_stencil: Some(wgpu::DepthStencilState {
                format: targets.depth,
                depth_write_enabled: Some(false),
                depth_compare: Some(wgpu::CompareFunction::Always),
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
                    blend: Some(wgpu::BlendState::PREMULTIPLIED_ALPHA_BLENDING),
                    write_mask: wgpu::ColorWrites::ALL,
                })],
            }),
            multiview_mask: None,
            cache: None,
        })
    }

    /// Lays out and uploads this frame's views (one call per frame, before recording; it
    /// invalidates the slots of the previous call). `time_s` drives the alarm pulse.
    ///
    /// When neither the labels nor the views changed since the last call (a still inline
    /// view redrawn for the pulse), the last upload is reused and only the per-view uniforms
    /// are rewritten.
    pub fn prepare(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        views: &[OverlayView],
        time_s: f64,
    ) -> Vec<OverlaySlot> {
        self.generation += 1;
        let reuse = !self.scene_changed && views == self.last_views.as_slice();
        self.scene_changed = false;
        self.last_views.clear();
        self.last_views.extend_from_slice(views);
        if !reuse {
            self.staging.clear();
        }
        let mut slots = Vec::with_capacity(views.len());
        let count = views.len() as u64;
        if count > self.uniform_capacity {
            let capacity = count.next_power_of_two();
            let (buffer, bind_group) = create_uniforms(
                device,
                &self.bind_group_layout,
                &self.atlas_view,
                &self.sampler,
                self.uniform_stride,
                capacity,
            );
            self.uniform_buffer = buffer;
            self.bind_group = bind_group;
            self.uniform_capacity = capacity;
        }
        let phase = if time_s.is_finite() {
            (time_s / PULSE_PERIOD_S).rem_euclid(1.0) as f32
        } else {
            0.0
        };
        self.uniform_bytes.clear();
        self.uniform_bytes
            .resize((self.uniform_stride * count) as usize, 0);
        for (i, view) in views.iter().enumerate() {
            let size = [view.viewport.width, view.viewport.height];
            let (first, counts) = match self.last_slots.get(i) {
                Some(last) if reuse => (last.first_instance as usize, last.counts),
                _ => {
                    let first = self.staging.len();
                    let counts = self.scene.build_view(
                        i,
                        &view.matrices,
                        size,
                        view.pixel_scale,
                        &mut self.staging,
                    );
                    (first, counts)
                }
            };
            let uniform = OverlayUniform {
                viewport: size,
                atlas_size: self.atlas_size,
                pulse_phase: phase,
                spread_px: self.spread_px,
                _pad: [0.0; 2],
            };
            let at = i * self.uniform_stride as usize;
            self.uniform_bytes[at..at + size_of::<OverlayUniform>()]
                .copy_from_slice(bytemuck::bytes_of(&uniform));
            slots.push(OverlaySlot {
                generation: self.generation,
                // A handful of 256-byte slots: far below 4 GiB.
                uniform_offset: at as u32,
                first_instance: first as u64,
                instances: counts.instances,
                counts,
            });
        }
        if !self.uniform_bytes.is_empty() {
            queue.write_buffer(&self.uniform_buffer, 0, &self.uniform_bytes);
        }
        self.last_slots.clone_from(&slots);
        if reuse {
            self.last_upload_bytes = 0;
            return slots;
        }

        let needed = self.staging.len() as u64;
        if needed > self.instance_capacity {
            // Grow to the next power of two (the old buffer is freed when replaced), so a
            // scene that keeps growing reallocates a logarithmic number of times.
            let capacity = needed.next_power_of_two();
            let max = device.limits().max_buffer_size / size_of::<OverlayInstance>() as u64;
            if needed > max {
                // Only with absurd label counts; drop this frame's overlay rather than fail.
                for s in &mut slots {
                    s.instances = 0;
                }
                self.last_slots.clone_from(&slots);
                return slots;
            }
            self.instance_buffer = create_instances(device, capacity.min(max));
            self.instance_capacity = capacity.min(max);
            self.uploaded.clear();
        }
        changed_runs(&self.uploaded, &self.staging, MAX_EQUAL_GAP, &mut self.runs);
        let stride = size_of::<OverlayInstance>();
        self.last_upload_bytes = 0;
        for run in &self.runs {
            queue.write_buffer(
                &self.instance_buffer,
                (run.start * stride) as u64,
                bytemuck::cast_slice(&self.staging[run.clone()]),
            );
            self.last_upload_bytes += (run.len() * stride) as u64;
        }
        self.uploaded.clone_from(&self.staging);
        slots
    }

    /// Bytes of label instances written by the last [`Self::prepare`] (only what changed).
    pub fn last_upload_bytes(&self) -> u64 {
        self.last_upload_bytes
    }

    /// Records one view's overlay into `pass` (attachments of `targets`), inside `viewport` if
    /// given (else the pass's current viewport, which must have the size the view was prepared
    /// with). One instanced draw; nothing when the view shows no labels, the slot is from an
    /// earlier frame, or no pipeline was built for `targets`.
    pub fn draw(
        &self,
        pass: &mut wgpu::RenderPass<'_>,
        targets: TargetFormats,
        slot: OverlaySlot,
        viewport: Option<Viewport>,
    ) -> FrameStats {
        if slot.generation != self.generation || slot.instances == 0 {
            return FrameStats::default();
        }
        let Some((_, pipeline)) = self.pipelines.iter().find(|(t, _)| *t == targets) else {
            return FrameStats::default();
        };
        if let Some(v) = viewport {
            pass.set_viewport(v.x, v.y, v.width, v.height, 0.0, 1.0);
        }
        let stride = size_of::<OverlayInstance>() as u64;
        let start = slot.first_instance * stride;
        let end = start + u64::from(slot.instances) * stride;
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, &self.bind_group, &[slot.uniform_offset]);
        pass.set_vertex_buffer(0, self.instance_buffer.slice(start..end));
        pass.draw(0..6, 0..slot.instances);
        FrameStats {
            draw_calls: 1,
            triangles: 2 * u64::from(slot.instances),
            overlay_draw_calls: 1,
            labels_drawn: slot.counts.labels,
            markers_drawn: slot.counts.markers,
        }
    }
}

fn create_uniforms(
    device: &wgpu::Device,
    layout: &wgpu::BindGroupLayout,
    atlas: &wgpu::TextureView,
    sampler: &wgpu::Sampler,
    stride: u64,
    slots: u64,
) -> (wgpu::Buffer, wgpu::BindGroup) {
    let buffer = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("OverlayPass::view_uniforms"),
        size: stride * slots,
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("OverlayPass::bind_group"),
        layout,
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &buffer,
                    offset: 0,
                    size: NonZeroU64::new(size_of::<OverlayUniform>() as u64),
                }),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: wgpu::BindingResource::TextureView(atlas),
            },
            wgpu::BindGroupEntry {
                binding: 2,
                resource: wgpu::BindingResource::Sampler(sampler),
            },
        ],
    });
    (buffer, bind_group)
}

fn create_instances(device: &wgpu::Device, instances: u64) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("OverlayPass::instances"),
        size: instances * size_of::<OverlayInstance>() as u64,
        usage: wgpu::BufferUsages::VERTEX | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}
