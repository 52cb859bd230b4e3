//! Drawing for WebXR sessions: every view of an XR frame into its viewport, either on the
//! renderer's own canvas (an `XRWebGLLayer` without framebuffer: emulators, some runtimes) or
//! into the session's opaque `WebGLFramebuffer` (headsets, phones), plus the in-world markers XR
//! needs (placement reticle, teleport arc, controller rays, alignment points, floor grid).
//!
//! The opaque framebuffer is wrapped as a wgpu texture through wgpu-hal's GLES
//! `TextureInner::ExternalFramebuffer`. Such a texture can be a pass's only attachment: wgpu
//! cannot attach its own depth buffer to a framebuffer it did not create. So a frame for it is
//! drawn offscreen (colour + depth, MSAA where available), resolved, and copied into the wrapped
//! framebuffer by a full-screen triangle (`shaders/xr.wgsl`, `fs_blit`), which also flips rows
//! and encodes sRGB. That costs one full-screen pass per frame and buys correct depth and
//! anti-aliasing on every runtime; rendering straight into the framebuffer without depth would
//! draw the twin's hidden parts over its visible ones.
//!
//! Everything an [`XrTarget`] holds is created for one session and freed when it is dropped;
//! the model and its pipelines stay with the [`Renderer`].

use glam::Mat4;

use super::{
    DEPTH_FORMAT, FrameTargets, Lighting, MAX_LOST_FRAMES, OverlayView, PipelineSet, RenderError,
    Renderer, TargetFormats, ViewDraw, ViewUniform, Viewport, lock,
};
use crate::camera::ViewMatrices;
pub use crate::xr::markers::MarkerVertex;

mod markers;

use markers::MarkerPass;

/// `GL_RGBA8`, `GL_RGBA`, `GL_UNSIGNED_BYTE`: how an XR framebuffer's colour buffer is laid out
/// (WebXR's opaque framebuffers are RGBA8).
const GL_RGBA8: u32 = 0x8058;
const GL_RGBA: u32 = 0x1908;
const GL_UNSIGNED_BYTE: u32 = 0x1401;

/// Colour format of the offscreen frame drawn for an XR framebuffer: sRGB, so the model shader
/// writes linear colour as it does on the canvas.
const OFFSCREEN_COLOR: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8UnormSrgb;

/// One view of an XR frame: its matrices and where it goes in the output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct XrViewDraw {
    /// View, projection (wgpu depth range) and eye, from `crate::xr::views`.
    pub matrices: ViewMatrices,
    /// The view's rectangle in output pixels, top-left origin (already flipped from WebXR's
    /// bottom-left origin and checked to lie inside the output).
    pub viewport: Viewport,
}

/// Where an XR frame is drawn.
#[derive(Debug, Clone, Copy)]
pub enum XrOutput<'a> {
    /// The renderer's canvas surface, resized to the frame size first (the layer's framebuffer
    /// is the canvas's default framebuffer when `XRWebGLLayer.framebuffer` is null).
    Canvas,
    /// The layer's opaque framebuffer, which must belong to this renderer's WebGL2 context.
    Framebuffer(&'a web_sys::WebGlFramebuffer),
}

/// Everything one XR frame needs.
#[derive(Debug, Clone, Copy)]
pub struct XrFrameDesc<'a> {
    /// Output target.
    pub output: XrOutput<'a>,
    /// Output size in pixels (`XRWebGLLayer.framebufferWidth/Height`).
    pub width: u32,
    /// Output size in pixels.
    pub height: u32,
    /// Views to draw, in order.
    pub views: &'a [XrViewDraw],
    /// World-to-head matrix, for one light direction shared by both eyes.
    pub head_view: Mat4,
    /// Clear colour (alpha 0 for see-through AR).
    pub clear: wgpu::Color,
    /// Marker triangles in the reference space (a triangle list; may be empty).
    pub markers: &'a [MarkerVertex],
    /// Where the model's world stands in the reference space: the AR placement or VR spot of the
    /// twin (with its scale). The views are moved by it rather than the model, so everything
    /// positioned in the model's world (the model root, the sensor labels) follows the twin
    /// without being rebuilt.
    pub twin_pose: Mat4,
    /// Whether the twin (and its sensor labels) is drawn (not while AR is still searching for
    /// a surface).
    pub draw_model: bool,
    /// Device pixels per label pixel for the sensor labels (about 1.5 to 2 for a headset eye,
    /// devicePixelRatio for a phone).
    pub label_pixel_scale: f32,
}

/// What an XR frame drew, for `stats().xr`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct XrFrameStats {
    /// Views drawn.
    pub views: u32,
    /// Draw calls of the busiest view (model + markers + overlay).
    pub draw_calls_per_view: u32,
    /// Triangles of the busiest view.
    pub triangles_per_view: u64,
    /// Wasm CPU time spent recording each view, milliseconds, averaged over the views.
    pub encode_ms_per_view: f64,
    /// Wasm CPU time of the submit (and present or framebuffer copy), milliseconds; on WebGL2
    /// this is where the recorded GL calls are made.
    pub submit_ms: f64,
    /// False when the canvas surface could not give a frame (skipped, not an error).
    pub presented: bool,
}

/// Live GPU objects on a renderer's device (WebGL2 only: wgpu counts them in wgpu-hal; the
/// browser's WebGPU keeps its own books and reports none). Buffers are left out: wgpu-hal's
/// GLES buffer count drifts with staging uploads, so it says nothing about leaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GpuCounts {
    /// Textures (an XR framebuffer wrapper counts as one).
    pub textures: isize,
    /// Texture views.
    pub texture_views: isize,
    /// Bind groups.
    pub bind_groups: isize,
    /// Render pipelines.
    pub render_pipelines: isize,
    /// Samplers.
    pub samplers: isize,
}

/// GPU objects made for one XR session: marker pipelines and buffers, and the offscreen frame
/// and framebuffer wrapper when the session has an opaque framebuffer. Dropping it frees them.
pub struct XrTarget {
    markers: MarkerPass,
    blit: Option<BlitPass>,
    offscreen: Option<Offscreen>,
}

struct BlitPass {
    layout: wgpu::BindGroupLayout,
    pipeline: wgpu::RenderPipeline,
}

/// The offscreen frame for an opaque XR framebuffer, and the framebuffer's wrapper.
struct Offscreen {
    framebuffer: web_sys::WebGlFramebuffer,
    width: u32,
    height: u32,
    formats: TargetFormats,
    targets: FrameTargets,
    resolved_view: wgpu::TextureView,
    external_view: wgpu::TextureView,
    blit_bind_group: wgpu::BindGroup,
    _resolved: wgpu::Texture,
    _external: wgpu::Texture,
}

impl Renderer {
    /// Creates the GPU objects an XR session draws with (freed when the target is dropped).
    pub fn create_xr_target(&self) -> XrTarget {
        let mut markers = MarkerPass::new(&self.device);
        // Built now for the canvas, so the first frames do not pay for it.
        markers.pipeline(&self.device, self.formats);
        XrTarget {
            markers,
            blit: None,
            offscreen: None,
        }
    }

    /// Live GPU object counts of this renderer's device; `None` on WebGPU, where the browser
    /// does the bookkeeping.
    pub fn gpu_counts(&self) -> Option<GpuCounts> {
        if self.backend() != "webgl" {
            return None;
        }
        // Let wgpu free resources whose last handle went away since the last submit.
        let _ = self.device.poll(wgpu::PollType::Poll);
        let hal = self.device.get_internal_counters().hal;
        Some(GpuCounts {
            textures: hal.textures.read(),
            texture_views: hal.texture_views.read(),
            bind_groups: hal.bind_groups.read(),
            render_pipelines: hal.render_pipelines.read(),
            samplers: hal.samplers.read(),
        })
    }

    /// Records every view of an XR frame into `pass` through [`Renderer::record_views`]: the
    /// model, the markers after it (it hides them), the labels last (on top); folds each view's
    /// draw calls and triangles into `stats`.
    #[allow(clippy::too_many_arguments)]
    fn record_xr_views(
        &self,
        pass: &mut wgpu::RenderPass<'_>,
        pipelines: PipelineSet,
        formats: TargetFormats,
        markers: &mut MarkerPass,
        marker_offsets: &[u32],
        view_draws: &[ViewDraw],
        frame: &XrFrameDesc<'_>,
        stats: &mut XrFrameStats,
    ) {
        self.record_views(
            pass,
            pipelines,
            view_draws,
            frame.draw_model,
            |pass, i| {
                markers.draw(
                    &self.device,
                    pass,
                    formats,
                    marker_offsets.get(i).copied(),
                    frame.markers.len() as u32,
                    frame.views[i].viewport,
                )
            },
            |_, drawn| {
                stats.draw_calls_per_view = stats.draw_calls_per_view.max(drawn.draw_calls);
                stats.triangles_per_view = stats.triangles_per_view.max(drawn.triangles);
            },
        );
    }

    /// Draws one XR frame: every view of `frame` into its viewport, model then markers, and
    /// presents it (canvas) or copies it into the session's framebuffer.
    ///
    /// A canvas frame the surface cannot provide right now is skipped (`presented: false`).
    pub fn render_xr(
        &mut self,
        target: &mut XrTarget,
        frame: &XrFrameDesc<'_>,
    ) -> Result<XrFrameStats, RenderError> {
        if let Some(reason) = lock(&self.errors).lost.clone() {
            return Err(RenderError::DeviceLost { reason });
        }
        let perf = web_sys::window().and_then(|w| w.performance());
        let now = || perf.as_ref().map_or(0.0, |p| p.now());

        // The views as seen from the model's world (see `XrFrameDesc::twin_pose`).
        let twin_from_world = frame.twin_pose.inverse();
        let model_views: Vec<ViewMatrices> = frame
            .views
            .iter()
            .map(|v| ViewMatrices {
                view: v.matrices.view * frame.twin_pose,
                proj: v.matrices.proj,
                eye: twin_from_world.transform_point3(v.matrices.eye),
            })
            .collect();
        let lighting = Lighting::headlight(frame.head_view * frame.twin_pose);
        let uniforms: Vec<ViewUniform> = model_views
            .iter()
            .zip(frame.views)
            .map(|(m, v)| {
                ViewUniform::new(m.proj * m.view, m.eye, &lighting).skip_parts_below(
                    self.small_part_px,
                    m.proj,
                    v.viewport.height,
                )
            })
            .collect();
        let slots = self.prepare_views(&uniforms);
        let overlay_slots = if frame.draw_model {
            let overlay_views: Vec<OverlayView> = model_views
                .iter()
                .zip(frame.views)
                .map(|(m, v)| OverlayView {
                    matrices: *m,
                    viewport: v.viewport,
                    pixel_scale: frame.label_pixel_scale,
                })
                .collect();
            self.prepare_overlay(&overlay_views)
        } else {
            Vec::new()
        };
        let view_draws: Vec<ViewDraw> = frame
            .views
            .iter()
            .enumerate()
            .map(|(i, v)| ViewDraw {
                slot: slots[i],
                overlay: overlay_slots.get(i).copied(),
                viewport: Some(v.viewport),
            })
            .collect();
        let view_projs: Vec<Mat4> = frame
            .views
            .iter()
            .map(|v| v.matrices.proj * v.matrices.view)
            .collect();
        let marker_offsets =
            target
                .markers
                .write(&self.device, &self.queue, &view_projs, frame.markers);

        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("XrTarget::encoder"),
            });
        let mut stats = XrFrameStats {
            views: frame.views.len() as u32,
            presented: true,
            ..Default::default()
        };
        let mut encode_ms = 0.0;

        match frame.output {
            XrOutput::Canvas => {
                self.resize(frame.width, frame.height);
                let Some((surface_texture, suboptimal)) = self.acquire_surface_texture()? else {
                    stats.presented = false;
                    return Ok(stats);
                };
                let frame_view =
                    surface_texture
                        .texture
                        .create_view(&wgpu::TextureViewDescriptor {
                            label: Some("XrTarget::canvas_view"),
                            format: Some(self.formats.color),
                            ..Default::default()
                        });
                let formats = self.formats;
                let pipelines = self.pipelines;
                {
                    let (color_view, resolve_target, store) = match &self.targets.msaa_view {
                        Some(msaa) => (msaa, Some(&frame_view), wgpu::StoreOp::Discard),
                        None => (&frame_view, None, wgpu::StoreOp::Store),
                    };
                    let mut pass = begin_pass(
                        &mut encoder,
                        "XrTarget::canvas_pass",
                        color_view,
                        resolve_target,
                        store,
                        &self.targets.depth_view,
                        frame.clear,
                    );
                    let started = now();
                    self.record_xr_views(
                        &mut pass,
                        pipelines,
                        formats,
                        &mut target.markers,
                        &marker_offsets,
                        &view_draws,
                        frame,
                        &mut stats,
                    );
                    encode_ms += now() - started;
                }
                let submitted = now();
                self.queue.submit([encoder.finish()]);
                self.queue.present(surface_texture);
                stats.submit_ms = now() - submitted;
                if suboptimal {
                    self.surface.configure(&self.device, &self.config);
                }
            }
            XrOutput::Framebuffer(framebuffer) => {
                let samples = if self.formats.color == OFFSCREEN_COLOR {
                    self.formats.samples
                } else {
                    1
                };
                let formats = TargetFormats {
                    color: OFFSCREEN_COLOR,
                    depth: DEPTH_FORMAT,
                    samples,
                };
                let pipelines = self.pipelines_for(formats);
                let blit = target
                    .blit
                    .get_or_insert_with(|| BlitPass::new(&self.device, &target.markers.shader));
                let offscreen = match target.offscreen.take() {
                    Some(o) if o.matches(framebuffer, frame.width, frame.height, formats) => o,
                    _ => {
                        // Free the old frame before allocating its replacement.
                        Offscreen::new(
                            &self.device,
                            blit,
                            framebuffer,
                            frame.width,
                            frame.height,
                            formats,
                        )
                    }
                };
                {
                    let (color_view, resolve_target, store) = match &offscreen.targets.msaa_view {
                        Some(msaa) => {
                            (msaa, Some(&offscreen.resolved_view), wgpu::StoreOp::Discard)
                        }
                        None => (&offscreen.resolved_view, None, wgpu::StoreOp::Store),
                    };
                    let mut pass = begin_pass(
                        &mut encoder,
                        "XrTarget::offscreen_pass",
                        color_view,
                        resolve_target,
                        store,
                        &offscreen.targets.depth_view,
                        frame.clear,
                    );
                    let started = now();
                    self.record_xr_views(
                        &mut pass,
                        pipelines,
                        formats,
                        &mut target.markers,
                        &marker_offsets,
                        &view_draws,
                        frame,
                        &mut stats,
                    );
                    encode_ms += now() - started;
                }
                {
                    let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                        label: Some("XrTarget::framebuffer_copy"),
                        color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                            view: &offscreen.external_view,
                            depth_slice: None,
                            resolve_target: None,
                            ops: wgpu::Operations {
                                load: wgpu::LoadOp::Clear(wgpu::Color::TRANSPARENT),
                                store: wgpu::StoreOp::Store,
                            },
                        })],
                        depth_stencil_attachment: None,
                        timestamp_writes: None,
                        occlusion_query_set: None,
                        multiview_mask: None,
                    });
                    pass.set_pipeline(&blit.pipeline);
                    pass.set_bind_group(0, &offscreen.blit_bind_group, &[]);
                    pass.draw(0..3, 0..1);
                }
                let submitted = now();
                self.queue.submit([encoder.finish()]);
                stats.submit_ms = now() - submitted;
                target.offscreen = Some(offscreen);
            }
        }
        if stats.views > 0 {
            stats.encode_ms_per_view = encode_ms / f64::from(stats.views);
        }
        Ok(stats)
    }

    /// The canvas surface's next texture, reconfiguring on loss as [`Renderer::render`] does;
    /// `None` when this frame has to be skipped.
    fn acquire_surface_texture(
        &mut self,
    ) -> Result<Option<(wgpu::SurfaceTexture, bool)>, RenderError> {
        match self.surface.get_current_texture() {
            wgpu::CurrentSurfaceTexture::Success(t) => {
                self.lost_frames = 0;
                Ok(Some((t, false)))
            }
            wgpu::CurrentSurfaceTexture::Suboptimal(t) => {
                self.lost_frames = 0;
                Ok(Some((t, true)))
            }
            wgpu::CurrentSurfaceTexture::Timeout | wgpu::CurrentSurfaceTexture::Occluded => {
                Ok(None)
            }
            status
            @ (wgpu::CurrentSurfaceTexture::Outdated | wgpu::CurrentSurfaceTexture::Lost) => {
                self.lost_frames += 1;
                if self.lost_frames > MAX_LOST_FRAMES {
                    return Err(RenderError::SurfaceLost {
                        reason: format!(
                            "{status:?} for {MAX_LOST_FRAMES} frames after reconfiguring"
                        ),
                    });
                }
                self.surface.configure(&self.device, &self.config);
                Ok(None)
            }
            wgpu::CurrentSurfaceTexture::Validation => {
                let detail = self
                    .take_gpu_error()
                    .unwrap_or_else(|| "validation error".to_owned());
                Err(RenderError::SurfaceLost { reason: detail })
            }
        }
    }
}

fn begin_pass<'e>(
    encoder: &'e mut wgpu::CommandEncoder,
    label: &'static str,
    color_view: &wgpu::TextureView,
    resolve_target: Option<&wgpu::TextureView>,
    store: wgpu::StoreOp,
    depth_view: &wgpu::TextureView,
    clear: wgpu::Color,
) -> wgpu::RenderPass<'e> {
    encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
        label: Some(label),
        color_attachments: &[Some(wgpu::RenderPassColorAttachment {
            view: color_view,
            depth_slice: None,
            resolve_target,
            ops: wgpu::Operations {
                load: wgpu::LoadOp::Clear(clear),
                store,
            },
        })],
        depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
            view: depth_view,
            depth_ops: Some(wgpu::Operations {
                load: wgpu::LoadOp::Clear(1.0),
                store: wgpu::StoreOp::Discard,
            }),
            stencil_ops: None,
        }),
        timestamp_writes: None,
        occlusion_query_set: None,
        multiview_mask: None,
    })
}

impl BlitPass {
    fn new(device: &wgpu::Device, shader: &wgpu::ShaderModule) -> Self {
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("XrTarget::blit_layout"),
            entries: &[wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::FRAGMENT,
                ty: wgpu::BindingType::Texture {
                    sample_type: wgpu::TextureSampleType::Float { filterable: false },
                    view_dimension: wgpu::TextureViewDimension::D2,
                    multisampled: false,
                },
                count: None,
            }],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("XrTarget::blit_pipeline_layout"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("XrTarget::blit_pipeline"),
            layout: Some(&pipeline_layout),
            vertex: wgpu::VertexState {
                module: shader,
                entry_point: Some("vs_blit"),
                compilation_options: wgpu::PipelineCompilationOptions::default(),
                buffers: &[],
            },
            primitive: wgpu::PrimitiveState::default(),
            depth_stencil: None,
            multisample: wgpu::MultisampleState::default(),
            fragment: Some(wgpu::FragmentState {
                module: shader,
                entry_point: Some("fs_blit"),
                compilation_options: wgpu::PipelineCompilationOptions::default(),
                targets: &[Some(wgpu::ColorTargetState {
                    format: wgpu::TextureFormat::Rgba8Unorm,
                    blend: None,
                    write_mask: wgpu::ColorWrites::ALL,
                })],
            }),
            multiview_mask: None,
            cache: None,
        });
        Self { layout, pipeline }
    }
}

impl Offscreen {
    fn new(
        device: &wgpu::Device,
        blit: &BlitPass,
        framebuffer: &web_sys::WebGlFramebuffer,
        width: u32,
        height: u32,
        formats: TargetFormats,
    ) -> Self {
        let max_dim = device.limits().max_texture_dimension_2d;
        let (width, height) = (width.clamp(1, max_dim), height.clamp(1, max_dim));
        let size = wgpu::Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        };
        let targets = FrameTargets::new(device, width, height, formats, OFFSCREEN_COLOR);
        let resolved = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("XrTarget::offscreen_color"),
            size,
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: OFFSCREEN_COLOR,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::TEXTURE_BINDING,
            view_formats: &[],
        });
        let resolved_view = resolved.create_view(&wgpu::TextureViewDescriptor {
            label: Some("XrTarget::offscreen_color_view"),
            ..Default::default()
        });
        let external_desc = wgpu::TextureDescriptor {
            label: Some("XrTarget::xr_framebuffer"),
            size,
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba8Unorm,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT,
            view_formats: &[],
        };
        let hal_texture = wgpu::hal::gles::Texture {
            inner: wgpu::hal::gles::TextureInner::ExternalFramebuffer {
                inner: framebuffer.clone(),
            },
            mip_level_count: 1,
            array_layer_count: 1,
            format: wgpu::TextureFormat::Rgba8Unorm,
            format_desc: wgpu::hal::gles::TextureFormatDesc {
                internal: GL_RGBA8,
                external: GL_RGBA,
                data_type: GL_UNSIGNED_BYTE,
            },
            copy_size: wgpu::hal::CopyExtent {
                width,
                height,
                depth: 1,
            },
            drop_guard: None,
        };
        // SAFETY: the framebuffer comes from the XR layer made for this renderer's WebGL2
        // context (the device's own context), is complete and RGBA8 with the layer's size, and
        // its contents may be discarded (the copy pass clears it first). wgpu never deletes an
        // external framebuffer, so the session keeps owning it.
        let external = unsafe {
            device.create_texture_from_hal::<wgpu::hal::api::Gles>(
                hal_texture,
                &external_desc,
                wgpu::TextureUses::UNINITIALIZED,
            )
        };
        let external_view = external.create_view(&wgpu::TextureViewDescriptor {
            label: Some("XrTarget::xr_framebuffer_view"),
            ..Default::default()
        });
        let blit_bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("XrTarget::blit_bind_group"),
            layout: &blit.layout,
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::TextureView(&resolved_view),
            }],
        });
        Self {
            framebuffer: framebuffer.clone(),
            width,
            height,
            formats,
            targets,
            resolved_view,
            external_view,
            blit_bind_group,
            _resolved: resolved,
            _external: external,
        }
    }

    fn matches(
        &self,
        framebuffer: &web_sys::WebGlFramebuffer,
        width: u32,
        height: u32,
        formats: TargetFormats,
    ) -> bool {
        self.framebuffer == *framebuffer
            && self.width == width
            && self.height == height
            && self.formats == formats
    }
}
