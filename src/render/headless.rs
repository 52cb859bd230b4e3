//! Rendering without a window (native builds): a device on the adapter Vulkan offers (Mesa's
//! lavapipe on a machine without a GPU), an offscreen sRGB colour target with depth, and a
//! read-back of the pixels. The same [`ModelPass`] and [`GpuModel`] draw here as in the page and
//! in XR, so the reference-image tests exercise the renderer itself.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use glam::Mat4;

use super::{
    CLEAR_COLOR, DEPTH_FORMAT, FrameStats, GpuModel, Lighting, ModelPass, PipelineSet, RenderError,
    TargetFormats, UPLOAD_BYTES_PER_STEP, ViewUniform,
};
use crate::camera::ViewMatrices;
use crate::model::TwinModel;
use crate::overlay::color::Tint;

/// Colour format of the offscreen target: sRGB, so the shader writes linear colour as on the
/// canvas.
const COLOR_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8UnormSrgb;

/// An offscreen renderer with one model.
pub struct Headless {
    device: wgpu::Device,
    queue: wgpu::Queue,
    model_pass: ModelPass,
    pipelines: PipelineSet,
    model: Option<GpuModel>,
    /// Parts smaller than this many pixels are skipped (0: none).
    small_part_px: f32,
    width: u32,
    height: u32,
    color: wgpu::Texture,
    depth: wgpu::Texture,
    adapter_name: String,
}

/// One rendered frame: what was drawn and the pixels, RGBA8 sRGB, rows top to bottom.
pub struct Frame {
    /// Draw calls and triangles.
    pub stats: FrameStats,
    /// `width * height * 4` bytes.
    pub rgba: Vec<u8>,
}

impl Headless {
    /// Opens a Vulkan device and a `width`×`height` target (clamped to 1..=4096).
    pub fn new(width: u32, height: u32) -> Result<Headless, RenderError> {
        let (width, height) = (width.clamp(1, 4096), height.clamp(1, 4096));
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: wgpu::Backends::VULKAN,
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        let adapter = block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default()))
            .map_err(|e| RenderError::NoAdapter {
            reason: e.to_string(),
        })?;
        let (device, queue) = block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("Headless::device"),
            // The page's WebGL2 limits: what works here works on every backend.
            required_limits:
                wgpu::Limits::downlevel_webgl2_defaults().using_resolution(adapter.limits()),
            ..Default::default()
        }))
        .map_err(|e| RenderError::NoAdapter {
            reason: e.to_string(),
        })?;
        let mut model_pass = ModelPass::new(&device, &queue);
        let pipelines = model_pass.pipelines_for(
            &device,
            TargetFormats {
                color: COLOR_FORMAT,
                depth: DEPTH_FORMAT,
                samples: 1,
            },
        );
        let target = |label, format, usage| {
            device.create_texture(&wgpu::TextureDescriptor {
                label: Some(label),
                size: wgpu::Extent3d {
                    width,
                    height,
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format,
                usage,
                view_formats: &[],
            })
        };
        let color = target(
            "Headless::color",
            COLOR_FORMAT,
            wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
        );
        let depth = target(
            "Headless::depth",
            DEPTH_FORMAT,
            wgpu::TextureUsages::RENDER_ATTACHMENT,
        );
        Ok(Headless {
            adapter_name: adapter.get_info().name,
            device,
            queue,
            model_pass,
            pipelines,
            model: None,
            small_part_px: 0.0,
            width,
            height,
            color,
            depth,
        })
    }

    /// The adapter's name (`llvmpipe (LLVM …)` for lavapipe).
    pub fn adapter_name(&self) -> &str {
        &self.adapter_name
    }

    /// Uploads `model` placed by `root`, replacing the previous one; all of it before
    /// returning.
    pub fn set_model(&mut self, model: &TwinModel, root: Mat4) {
        self.start_model(model, root);
        if let Some(gpu) = &mut self.model {
            while !gpu.upload_step(&self.queue, model, UPLOAD_BYTES_PER_STEP) {}
        }
    }

    /// Creates `model`'s GPU resources placed by `root`, replacing the previous model, with no
    /// geometry uploaded yet: [`Self::upload_step`] uploads it, as the browser renderers do
    /// over several frames.
    pub fn start_model(&mut self, model: &TwinModel, root: Mat4) {
        self.model = None;
        self.model = Some(GpuModel::new(
            &self.device,
            &self.queue,
            self.model_pass.bindings(),
            model,
            root,
        ));
    }

    /// Uploads about `budget_bytes` more of `model`'s geometry (see [`GpuModel::upload_step`]);
    /// returns whether it is all uploaded.
    pub fn upload_step(&mut self, model: &TwinModel, budget_bytes: u64) -> bool {
        match &mut self.model {
            Some(gpu) => gpu.upload_step(&self.queue, model, budget_bytes),
            None => true,
        }
    }

    /// The uploaded model.
    pub fn model(&self) -> Option<&GpuModel> {
        self.model.as_ref()
    }

    /// Sets sensor tints as [`GpuModel::set_tints`]; returns the slots rewritten.
    pub fn set_tints(&mut self, tints: &[(usize, Option<Tint>)]) -> usize {
        match &mut self.model {
            Some(m) => m.set_tints(&self.queue, tints),
            None => 0,
        }
    }

    /// Highlights a node's subtree as [`GpuModel::set_selected`].
    pub fn set_selected(&mut self, node: Option<usize>) -> usize {
        match &mut self.model {
            Some(m) => m.set_selected(&self.queue, node),
            None => 0,
        }
    }

    /// Skips parts drawn smaller than `px` pixels across (0: draw all), as the browser
    /// renderer's option.
    pub fn set_small_part_px(&mut self, px: f32) {
        self.small_part_px = px;
    }

    /// Moves the model as [`GpuModel::set_root`].
    pub fn set_root(&mut self, root: Mat4) {
        if let Some(m) = &mut self.model {
            m.set_root(&self.queue, root);
        }
    }

    /// Renders one view and reads the pixels back.
    pub fn render(&mut self, view: &ViewMatrices) -> Frame {
        let uniform = ViewUniform::new(
            view.proj * view.view,
            view.eye,
            &Lighting::headlight(view.view),
        )
        .skip_parts_below(self.small_part_px, view.proj, self.height as f32);
        let slot = self
            .model_pass
            .write_views(&self.device, &self.queue, &[uniform])[0];
        let color_view = self
            .color
            .create_view(&wgpu::TextureViewDescriptor::default());
        let depth_view = self
            .depth
            .create_view(&wgpu::TextureViewDescriptor::default());
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("Headless::encoder"),
            });
        let stats = {
            let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("Headless::pass"),
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: &color_view,
                    depth_slice: None,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(CLEAR_COLOR),
                        store: wgpu::StoreOp::Store,
                    },
                })],
                depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                    view: &depth_view,
                    depth_ops: Some(wgpu::Operations {
                        load: wgpu::LoadOp::Clear(1.0),
                        store: wgpu::StoreOp::Discard,
                    }),
                    stencil_ops: None,
                }),
                timestamp_writes: None,
                occlusion_query_set: None,
                multiview_mask: None,
            });
            match &self.model {
                Some(m) => self
                    .model_pass
                    .draw(&mut pass, m, self.pipelines, slot, None),
                None => FrameStats::default(),
            }
        };
        let row = self.width * 4;
        let padded =
            row.div_ceil(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT) * wgpu::COPY_BYTES_PER_ROW_ALIGNMENT;
        let readback = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("Headless::readback"),
            size: u64::from(padded * self.height),
            usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
            mapped_at_creation: false,
        });
        encoder.copy_texture_to_buffer(
            self.color.as_image_copy(),
            wgpu::TexelCopyBufferInfo {
                buffer: &readback,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(padded),
                    rows_per_image: Some(self.height),
                },
            },
            wgpu::Extent3d {
                width: self.width,
                height: self.height,
                depth_or_array_layers: 1,
            },
        );
        self.queue.submit([encoder.finish()]);
        let slice = readback.slice(..);
        slice.map_async(wgpu::MapMode::Read, |_| {});
        // A software device finishes or reports loss; either way the map below is answered.
        let _ = self.device.poll(wgpu::PollType::wait_indefinitely());
        let mut rgba = Vec::with_capacity((row * self.height) as usize);
        if let Ok(data) = slice.get_mapped_range() {
            for y in 0..self.height {
                let at = (y * padded) as usize;
                rgba.extend_from_slice(&data[at..at + row as usize]);
            }
        }
        readback.unmap();
        // A failed map (device lost) leaves the frame black rather than short.
        rgba.resize((row * self.height) as usize, 0);
        Frame { stats, rgba }
    }

    /// Turns chunk culling on or off as [`ModelPass::set_culling`].
    pub fn set_culling(&mut self, on: bool) {
        self.model_pass.set_culling(on);
    }

    /// Target size in pixels.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }
}

/// Drives a future that the native backend completes without an event loop.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}

#[cfg(test)]
mod tests;
