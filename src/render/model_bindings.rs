//! The bind group layouts of a model's draws (its per-model data and each base colour
//! texture) and the resources they share: the sampler and a white texture. A
//! [`GpuModel`](super::gpu_model::GpuModel) makes its bind groups with these; the
//! [`ModelPass`](super::model_pass::ModelPass) builds its pipelines on them.

use std::mem::size_of;
use std::num::NonZeroU64;

use super::uniforms::ModelUniform;

/// Layouts and shared resources for a model's bind groups (groups 1 and 2 of `mesh.wgsl`).
pub struct ModelBindings {
    /// Group 1: the model uniform and its transform, state and material data textures.
    pub(crate) model_layout: wgpu::BindGroupLayout,
    /// Group 2: a base colour texture and the sampler.
    pub(crate) texture_layout: wgpu::BindGroupLayout,
    /// Trilinear, repeating: glTF's default sampler (the CPU model keeps no sampler state).
    sampler: wgpu::Sampler,
    /// 1×1 white, bound where a material has no base colour texture.
    white_view: wgpu::TextureView,
    _white: wgpu::Texture,
}

impl ModelBindings {
    pub fn new(device: &wgpu::Device, queue: &wgpu::Queue) -> Self {
        let uniform_entry = |binding: u32, size: usize| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::VERTEX_FRAGMENT,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: false,
                min_binding_size: NonZeroU64::new(size as u64),
            },
            count: None,
        };
        let data_texture = |binding: u32| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::VERTEX,
            ty: wgpu::BindingType::Texture {
                sample_type: wgpu::TextureSampleType::Float { filterable: false },
                view_dimension: wgpu::TextureViewDimension::D2,
                multisampled: false,
            },
            count: None,
        };
        let model_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("ModelBindings::model_layout"),
            entries: &[
                uniform_entry(0, size_of::<ModelUniform>()),
                data_texture(1),
                data_texture(2),
                data_texture(3),
            ],
        });
        let texture_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("ModelBindings::texture_layout"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Texture {
                        sample_type: wgpu::TextureSampleType::Float { filterable: true },
                        view_dimension: wgpu::TextureViewDimension::D2,
                        multisampled: false,
                    },
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 1,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                    count: None,
                },
            ],
        });
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("ModelBindings::sampler"),
            address_mode_u: wgpu::AddressMode::Repeat,
            address_mode_v: wgpu::AddressMode::Repeat,
            address_mode_w: wgpu::AddressMode::Repeat,
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            mipmap_filter: wgpu::MipmapFilterMode::Linear,
            ..Default::default()
        });

        let white = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("ModelBindings::white_texture"),
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
            label: Some("ModelBindings::white_texture_view"),
            ..Default::default()
        });

        ModelBindings {
            model_layout,
            texture_layout,
            sampler,
            white_view,
            _white: white,
        }
    }

    /// A bind group for the base colour texture `view` (white where `None`) with the shared
    /// sampler.
    pub(crate) fn texture_bind_group(
        &self,
        device: &wgpu::Device,
        view: Option<&wgpu::TextureView>,
    ) -> wgpu::BindGroup {
        device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("ModelBindings::texture_bind_group"),
            layout: &self.texture_layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::TextureView(view.unwrap_or(&self.white_view)),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::Sampler(&self.sampler),
                },
            ],
        })
    }
}
