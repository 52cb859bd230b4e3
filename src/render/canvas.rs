//! The inline view in the page: a canvas surface on WebGPU or WebGL2, its depth and MSAA
//! targets, and the [`Renderer`] that owns the device and the drawables shared with XR.

pub mod xr_target;

use std::sync::{Arc, Mutex, PoisonError};

use glam::Mat4;
use wasm_bindgen::JsValue;

use super::{
    BackendChoice, CLEAR_COLOR, DEPTH_FORMAT, FrameStats, GpuModel, Lighting, ModelPass,
    OverlayPass, OverlaySlot, OverlayView, PipelineSet, RenderError, TargetFormats,
    UPLOAD_BYTES_PER_STEP, ViewSlot, ViewUniform, Viewport,
};
use crate::camera::ViewMatrices;
use crate::model::TwinModel;
use crate::overlay::color::Tint;
use crate::overlay::layout::Placed;
use crate::overlay::scene::OverlayFrame;
use crate::overlay::text::Font;

/// Consecutive frames the surface may report Outdated/Lost before `render` gives up.
const MAX_LOST_FRAMES: u32 = 10;

/// The graphics API in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    WebGpu,
    WebGl,
}

impl Backend {
    fn as_str(self) -> &'static str {
        match self {
            Self::WebGpu => "webgpu",
            Self::WebGl => "webgl",
        }
    }
}

/// Errors the device reports asynchronously, shared with its callbacks (which must be
/// `Send + Sync`, hence `Arc<Mutex>` even on single-threaded wasm).
#[derive(Debug, Default)]
struct GpuErrors {
    /// The first uncaptured error not yet taken: later ones are usually its consequences.
    first: Option<String>,
    /// Uncaptured errors after `first`.
    more: u32,
    /// Set once the device is lost.
    lost: Option<String>,
}

type SharedErrors = Arc<Mutex<GpuErrors>>;

fn lock(errors: &SharedErrors) -> std::sync::MutexGuard<'_, GpuErrors> {
    // A panic while holding this lock leaves plain data behind; keep using it.
    errors.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Depth and (with MSAA) multisampled colour targets matching the surface size.
struct FrameTargets {
    depth_view: wgpu::TextureView,
    msaa_view: Option<wgpu::TextureView>,
    _depth: wgpu::Texture,
    _msaa: Option<wgpu::Texture>,
}

impl FrameTargets {
    /// `surface_format` is the surface's storage format; `targets.color` the (sRGB) format it
    /// is viewed as.
    fn new(
        device: &wgpu::Device,
        width: u32,
        height: u32,
        targets: TargetFormats,
        surface_format: wgpu::TextureFormat,
    ) -> Self {
        let size = wgpu::Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        };
        let depth = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("Renderer::depth"),
            size,
            mip_level_count: 1,
            sample_count: targets.samples,
            dimension: wgpu::TextureDimension::D2,
            format: targets.depth,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT,
            view_formats: &[],
        });
        let depth_view = depth.create_view(&wgpu::TextureViewDescriptor::default());
        // WebGPU requires the multisampled texture and the resolve target to share their
        // texture format, not just their view format: on a WebGPU canvas (rgba8unorm storage
        // viewed as -srgb) an sRGB-format MSAA texture resolves without encoding on Vulkan
        // (seen as a too-dark picture in Chromium). So the MSAA texture mirrors the surface:
        // same storage format, rendered through the same sRGB view format.
        let reinterpret = [targets.color];
        let msaa = (targets.samples > 1).then(|| {
            device.create_texture(&wgpu::TextureDescriptor {
                label: Some("Renderer::msaa_color"),
                size,
                mip_level_count: 1,
                sample_count: targets.samples,
                dimension: wgpu::TextureDimension::D2,
                format: surface_format,
                usage: wgpu::TextureUsages::RENDER_ATTACHMENT,
                view_formats: if surface_format == targets.color {
                    &[]
                } else {
                    &reinterpret
                },
            })
        });
        let msaa_view = msaa.as_ref().map(|t| {
            t.create_view(&wgpu::TextureViewDescriptor {
                label: Some("Renderer::msaa_color_view"),
                format: Some(targets.color),
                ..Default::default()
            })
        });
        Self {
            depth_view,
            msaa_view,
            _depth: depth,
            _msaa: msaa,
        }
    }
}

/// The device and queue, with the surface where it had to be created first (WebGL2).
struct Opened {
    backend: Backend,
    instance: wgpu::Instance,
    adapter: wgpu::Adapter,
    device: wgpu::Device,
    queue: wgpu::Queue,
    surface: Option<wgpu::Surface<'static>>,
}

/// One view for [`Renderer::record_views`]: its uniforms, its labels and where it goes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ViewDraw {
    /// Model uniforms written by [`Renderer::prepare_views`] this frame.
    pub(crate) slot: ViewSlot,
    /// Labels prepared by [`Renderer::prepare_overlay`] this frame, if any.
    pub(crate) overlay: Option<OverlaySlot>,
    /// The view's rectangle; `None` for the whole attachment.
    pub(crate) viewport: Option<Viewport>,
}

/// Draws the twin to a canvas with WebGPU or WebGL2.
pub struct Renderer {
    backend: Backend,
    device: wgpu::Device,
    queue: wgpu::Queue,
    surface: wgpu::Surface<'static>,
    config: wgpu::SurfaceConfiguration,
    formats: TargetFormats,
    targets: FrameTargets,
    model_pass: ModelPass,
    pipelines: PipelineSet,
    model: Option<GpuModel>,
    /// Parts drawn smaller than this many pixels across are skipped (0: none).
    pub(crate) small_part_px: f32,
    /// When the last upload step ran (`performance.now()`), for sizing the next.
    last_upload_ms: f64,
    /// The model whose geometry is still being uploaded, a step per frame.
    uploading: Option<std::rc::Rc<TwinModel>>,
    /// `None` only if the embedded font could not be read (logged; the twin still draws).
    overlay: Option<OverlayPass>,
    /// Label pixel scale of the inline view (devicePixelRatio).
    overlay_pixel_scale: f32,
    errors: SharedErrors,
    lost_frames: u32,
}

impl Renderer {
    /// Starts the renderer on `canvas` with the requested backend.
    ///
    /// For [`BackendChoice::Auto`], WebGPU is probed before the canvas is touched (a canvas
    /// that handed out a `webgpu` context can never give a `webgl2` one), and WebGL2 is used
    /// when the browser offers no WebGPU adapter or device.
    pub async fn new(
        canvas: web_sys::HtmlCanvasElement,
        choice: BackendChoice,
    ) -> Result<Renderer, RenderError> {
        let opened = match choice {
            BackendChoice::WebGpu => {
                if !wgpu::util::is_browser_webgpu_supported().await {
                    return Err(RenderError::WebGpuUnavailable);
                }
                open_webgpu()
                    .await
                    .map_err(|reason| RenderError::WebGpuFailed { reason })?
            }
            BackendChoice::WebGl => open_webgl(&canvas).await?,
            BackendChoice::Auto => {
                let webgpu = if wgpu::util::is_browser_webgpu_supported().await {
                    Some(open_webgpu().await)
                } else {
                    None
                };
                match webgpu {
                    Some(Ok(opened)) => opened,
                    Some(Err(reason)) => {
                        log(&format!(
                            "twinlens: WebGPU failed ({reason}); falling back to WebGL2"
                        ));
                        open_webgl(&canvas).await.map_err(|e| match e {
                            RenderError::WebGlUnavailable { reason: gl } => {
                                RenderError::WebGlUnavailable {
                                    reason: format!("{gl}; WebGPU also failed: {reason}"),
                                }
                            }
                            other => other,
                        })?
                    }
                    None => open_webgl(&canvas).await?,
                }
            }
        };
        Self::finish(canvas, opened)
    }

    /// Creates the surface (WebGPU) and configures it with the targets and shared state.
    fn finish(canvas: web_sys::HtmlCanvasElement, opened: Opened) -> Result<Self, RenderError> {
        let Opened {
            backend,
            instance,
            adapter,
            device,
            queue,
            surface,
        } = opened;

        let errors = SharedErrors::default();
        {
            let errors = errors.clone();
            device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
                let message = e.to_string();
                log(&format!("twinlens: GPU error: {message}"));
                let mut errs = lock(&errors);
                if errs.first.is_none() {
                    errs.first = Some(message);
                } else {
                    errs.more += 1;
                }
            }));
        }
        {
            let errors = errors.clone();
            device.set_device_lost_callback(move |reason, message| {
                lock(&errors).lost = Some(format!("{reason:?}: {message}"));
            });
        }

        let (width, height) = (canvas.width(), canvas.height());
        let surface = match surface {
            Some(s) => s,
            None => instance
                .create_surface(wgpu::SurfaceTarget::Canvas(canvas))
                .map_err(|e| RenderError::WebGpuFailed {
                    reason: e.to_string(),
                })?,
        };

        let caps = surface.get_capabilities(&adapter);
        let (format, view_format) =
            choose_surface_format(&caps.formats).ok_or_else(|| RenderError::NoSurfaceFormat {
                offered: format!("{:?}", caps.formats),
            })?;
        // Opaque for the inline view. AR passthrough will need PreMultiplied (WebGPU offers it;
        // wgpu's WebGL2 surface only offers Opaque, so AR there goes through the XR layer).
        let alpha_mode = if caps.alpha_modes.contains(&wgpu::CompositeAlphaMode::Opaque) {
            wgpu::CompositeAlphaMode::Opaque
        } else {
            caps.alpha_modes
                .first()
                .copied()
                .unwrap_or(wgpu::CompositeAlphaMode::Auto)
        };
        let max_dim = device.limits().max_texture_dimension_2d;
        let config = wgpu::SurfaceConfiguration {
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT,
            format,
            color_space: wgpu::SurfaceColorSpace::Auto,
            width: width.clamp(1, max_dim),
            height: height.clamp(1, max_dim),
            present_mode: wgpu::PresentMode::Fifo,
            desired_maximum_frame_latency: 2,
            alpha_mode,
            // WebGPU canvases store non-sRGB formats; the sRGB view is what we render into.
            view_formats: if view_format == format {
                Vec::new()
            } else {
                vec![view_format]
            },
        };
        surface.configure(&device, &config);

        let samples = msaa_samples_for(&adapter, format, view_format, DEPTH_FORMAT);
        let formats = TargetFormats {
            color: view_format,
            depth: DEPTH_FORMAT,
            samples,
        };
        let targets = FrameTargets::new(&device, config.width, config.height, formats, format);
        let mut model_pass = ModelPass::new(&device, &queue);
        let pipelines = model_pass.pipelines_for(&device, formats);
        let overlay = match Font::embedded() {
            Ok(font) => {
                let mut pass = OverlayPass::new(&device, &queue, font);
                pass.ensure_pipeline(&device, formats);
                Some(pass)
            }
            Err(e) => {
                warn(&format!("twinlens: sensor labels disabled: {e}"));
                None
            }
        };

        let info = adapter.get_info();
        log(&format!(
            "twinlens: {} renderer on {} ({:?}), surface {:?} viewed as {:?}, {}x MSAA",
            backend.as_str(),
            // Browsers may hide the adapter name (WebGPU exposes it only on request).
            if info.name.is_empty() {
                "an unnamed adapter"
            } else {
                &info.name
            },
            info.backend,
            format,
            view_format,
            samples
        ));

        Ok(Self {
            backend,
            device,
            queue,
            surface,
            config,
            formats,
            targets,
            model_pass,
            pipelines,
            model: None,
            uploading: None,
            last_upload_ms: f64::INFINITY,
            small_part_px: 0.0,
            overlay,
            overlay_pixel_scale: 1.0,
            errors,
            lost_frames: 0,
        })
    }

    /// `"webgpu"` or `"webgl"`.
    pub fn backend(&self) -> &'static str {
        self.backend.as_str()
    }

    /// MSAA sample count of the canvas targets: 4 where the colour and depth formats support
    /// it, else 1.
    pub fn msaa_samples(&self) -> u32 {
        self.formats.samples
    }

    /// Uploads `model`, placed by `root` (applied on top of the node world matrices), replacing
    /// and freeing the previous one. Parts that cannot be drawn are skipped and listed by
    /// [`Self::model_warnings`] (and logged to the console).
    ///
    /// The geometry is uploaded over the next frames, [`UPLOAD_BYTES_PER_STEP`] each (more when
    /// frames come further apart than 60 Hz, up to 8 steps' worth, 2 on WebGL2), and each
    /// frame draws the parts uploaded so far: a large model is on screen at once, and no frame
    /// holds more than one step's copy of it. [`Self::uploading`] says when it is complete.
    pub fn set_model(&mut self, model: std::rc::Rc<TwinModel>, root: Mat4) {
        // Free the old model's buffers before allocating the new one's.
        self.model = None;
        let gpu = GpuModel::new(
            &self.device,
            &self.queue,
            self.model_pass.bindings(),
            &model,
            root,
        );
        for w in gpu.warnings() {
            warn(&format!("twinlens: {w}"));
        }
        self.model = Some(gpu);
        self.uploading = Some(model);
        self.last_upload_ms = f64::INFINITY;
    }

    /// Skips parts drawn smaller than `px` pixels across, in every view (inline and XR); a part
    /// tinted by a sensor or selected always shows. 0 (the default) draws every part.
    pub fn set_small_part_px(&mut self, px: f32) {
        self.small_part_px = if px.is_finite() && px > 0.0 { px } else { 0.0 };
    }

    /// Whether the model's geometry is still being uploaded (keep requesting frames).
    pub fn uploading(&self) -> bool {
        self.uploading.is_some()
    }

    /// Uploads the next step of the model's geometry, if any is left.
    fn upload_step(&mut self) {
        if self.uploading.is_none() {
            // Nothing left: every frame after the upload costs one check.
            return;
        }
        let webgl = self.backend() == "webgl";
        let (Some(gpu), Some(model)) = (self.model.as_mut(), self.uploading.as_ref()) else {
            self.uploading = None;
            return;
        };
        // The step grows with the time since the last one (up to 8 steps' worth), so a slow
        // device, whose frames come seconds apart, still has the model in a few frames.
        let now = now_ms();
        let elapsed = now - self.last_upload_ms;
        self.last_upload_ms = now;
        // WebGL keeps each write's staging copy in wasm memory until the frame is done, so it
        // grows less there.
        let max_scale = if webgl {
            MAX_UPLOAD_SCALE_WEBGL
        } else {
            MAX_UPLOAD_SCALE
        };
        let scale = if elapsed.is_finite() {
            (elapsed / UPLOAD_FRAME_MS).clamp(1.0, max_scale)
        } else {
            1.0
        };
        let budget = (UPLOAD_BYTES_PER_STEP as f64 * scale) as u64;
        if gpu.upload_step(&self.queue, model, budget) {
            self.uploading = None;
        }
    }

    /// Sets or clears the sensor tint of model nodes (indices into [`TwinModel::nodes`] of the
    /// current model). A tint covers the node's meshes and its descendants' (a sensor bound to
    /// `Motor` colours the whole motor) unless a descendant has its own; the mesh shader blends
    /// it with the material colour like [`crate::overlay::color::blend`]. Only the node state
    /// texels whose tint changed are uploaded, in range writes. Tints are cleared by [`Self::set_model`]; unknown
    /// indices are ignored.
    pub fn set_node_tints(&mut self, tints: &[(usize, Option<Tint>)]) {
        if let Some(m) = &mut self.model {
            m.set_tints(&self.queue, tints);
        }
    }

    /// Highlights model node `node` and its descendants as the selection (`None` clears it).
    /// Only the parts whose highlight changes are uploaded.
    pub fn set_selected_node(&mut self, node: Option<usize>) {
        if let Some(m) = &mut self.model {
            m.set_selected(&self.queue, node);
        }
    }

    /// Bytes and range writes of the last per-node state upload (tints or selection).
    pub fn last_node_upload(&self) -> (u64, usize) {
        self.model.as_ref().map_or((0, 0), GpuModel::last_upload)
    }

    /// Replaces the sensor labels with `frame`'s (copied; kept until the next call). Call it
    /// when sensor data changes, not every frame: each view lays the labels out again anyway.
    pub fn set_overlay(&mut self, frame: &OverlayFrame) {
        if let Some(o) = &mut self.overlay {
            o.set_frame(frame);
        }
    }

    /// Label pixel scale of the inline view: set it to `devicePixelRatio` so labels keep their
    /// CSS size on high-density screens. Default 1.
    pub fn set_overlay_pixel_scale(&mut self, scale: f32) {
        self.overlay_pixel_scale = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            1.0
        };
    }

    /// Bytes of label instances the last frame wrote (only the labels that changed).
    pub fn overlay_upload_bytes(&self) -> u64 {
        self.overlay
            .as_ref()
            .map_or(0, OverlayPass::last_upload_bytes)
    }

    /// Whether a label is animating (a live alarm pulses): keep requesting frames while true,
    /// even when nothing else changed.
    pub fn overlay_animating(&self) -> bool {
        self.overlay.as_ref().is_some_and(OverlayPass::animating)
    }

    /// The label placements of view `view_index` as last drawn (in label order) and the
    /// visible labels most important first, for picking what the user sees.
    pub fn overlay_placed(&self, view_index: usize) -> (&[Placed], &[u32]) {
        self.overlay
            .as_ref()
            .map_or((&[], &[]), |o| o.placed(view_index))
    }

    /// Lays out and uploads the labels for this frame's views (e.g. both XR eyes; the first
    /// view decides which labels are full and the others follow it, so the eyes agree) and
    /// returns their slots for [`Self::draw_overlay`]. Call once per frame, before recording;
    /// [`Self::render`] also uses it, so the two must not be interleaved within one frame.
    pub fn prepare_overlay(&mut self, views: &[OverlayView]) -> Vec<OverlaySlot> {
        let time_s = now_ms() / 1000.0;
        match &mut self.overlay {
            Some(o) => o.prepare(&self.device, &self.queue, views, time_s),
            None => Vec::new(),
        }
    }

    /// Records one view's labels into a caller's render pass (attachments matching
    /// `pipelines`), after its model: one instanced draw, no depth test. `viewport` as for
    /// [`Self::draw_model`]; it must have the size the view was prepared with.
    pub fn draw_overlay(
        &self,
        pass: &mut wgpu::RenderPass<'_>,
        pipelines: PipelineSet,
        slot: OverlaySlot,
        viewport: Option<Viewport>,
    ) -> FrameStats {
        match (&self.overlay, self.model_pass.targets_of(pipelines)) {
            (Some(o), Some(targets)) => o.draw(pass, targets, slot, viewport),
            _ => FrameStats::default(),
        }
    }

    /// Moves the current model to a new placement without re-uploading it.
    pub fn set_root(&mut self, root: Mat4) {
        if let Some(m) = &mut self.model {
            m.set_root(&self.queue, root);
        }
    }

    /// Problems found while uploading the current model (empty when none or no model).
    pub fn model_warnings(&self) -> &[String] {
        self.model.as_ref().map_or(&[], |m| m.warnings())
    }

    /// Resizes the canvas drawing buffer to `width_px`×`height_px` device pixels (clamped to
    /// the GPU's texture limit) and recreates the depth and MSAA targets. Zero sizes (a hidden
    /// canvas) are ignored.
    pub fn resize(&mut self, width_px: u32, height_px: u32) {
        if width_px == 0 || height_px == 0 {
            return;
        }
        let max_dim = self.device.limits().max_texture_dimension_2d;
        let (width, height) = (width_px.min(max_dim), height_px.min(max_dim));
        if (width, height) == (self.config.width, self.config.height) {
            return;
        }
        self.config.width = width;
        self.config.height = height;
        self.surface.configure(&self.device, &self.config);
        self.targets = FrameTargets::new(
            &self.device,
            width,
            height,
            self.formats,
            self.config.format,
        );
    }

    /// Draws one frame of the current model (or just the background) to the canvas.
    ///
    /// A frame the surface cannot provide right now (resized, hidden, lost and reconfigured)
    /// is skipped and reported as zero draws.
    pub fn render(&mut self, view: &ViewMatrices) -> Result<FrameStats, RenderError> {
        if let Some(reason) = lock(&self.errors).lost.clone() {
            return Err(RenderError::DeviceLost { reason });
        }
        let (frame, suboptimal) = match self.surface.get_current_texture() {
            wgpu::CurrentSurfaceTexture::Success(frame) => (frame, false),
            wgpu::CurrentSurfaceTexture::Suboptimal(frame) => (frame, true),
            wgpu::CurrentSurfaceTexture::Timeout | wgpu::CurrentSurfaceTexture::Occluded => {
                return Ok(FrameStats::default());
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
                return Ok(FrameStats::default());
            }
            wgpu::CurrentSurfaceTexture::Validation => {
                let detail = self
                    .take_gpu_error()
                    .unwrap_or_else(|| "validation error".to_owned());
                return Err(RenderError::SurfaceLost { reason: detail });
            }
        };
        self.lost_frames = 0;

        let frame_view = frame.texture.create_view(&wgpu::TextureViewDescriptor {
            label: Some("Renderer::frame_view"),
            format: Some(self.formats.color),
            ..Default::default()
        });
        let uniform = ViewUniform::new(
            view.proj * view.view,
            view.eye,
            &Lighting::headlight(view.view),
        )
        .skip_parts_below(self.small_part_px, view.proj, self.config.height as f32);
        let slots = self.prepare_views(&[uniform]);
        // One slot per view given; none would mean nothing to draw this frame.
        let Some(&slot) = slots.first() else {
            return Ok(FrameStats::default());
        };
        let (width, height) = (self.config.width as f32, self.config.height as f32);
        let overlay_slot = self
            .prepare_overlay(&[OverlayView {
                matrices: *view,
                viewport: Viewport {
                    x: 0.0,
                    y: 0.0,
                    width,
                    height,
                },
                pixel_scale: self.overlay_pixel_scale,
            }])
            .first()
            .copied();

        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("Renderer::encoder"),
            });
        let stats = {
            // With MSAA, draw into the multisampled target and resolve into the frame; the
            // multisampled contents are not needed afterwards.
            let (color_view, resolve_target, store) = match &self.targets.msaa_view {
                Some(msaa) => (msaa, Some(&frame_view), wgpu::StoreOp::Discard),
                None => (&frame_view, None, wgpu::StoreOp::Store),
            };
            let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("Renderer::canvas_pass"),
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: color_view,
                    depth_slice: None,
                    resolve_target,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(CLEAR_COLOR),
                        store,
                    },
                })],
                depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                    view: &self.targets.depth_view,
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
            let view = ViewDraw {
                slot,
                overlay: overlay_slot,
                viewport: None,
            };
            let mut stats = FrameStats::default();
            self.record_views(
                &mut pass,
                self.pipelines,
                &[view],
                true,
                |_, _| 0,
                |_, drawn| stats = drawn,
            );
            stats
        };
        self.queue.submit([encoder.finish()]);
        self.queue.present(frame);
        if suboptimal {
            self.surface.configure(&self.device, &self.config);
        }
        Ok(stats)
    }

    /// The first GPU error reported since the last call (validation, out of memory), with a
    /// count of later ones; `None` if there were none. Poll once per frame and show it.
    pub fn take_gpu_error(&self) -> Option<String> {
        let mut errs = lock(&self.errors);
        let first = errs.first.take()?;
        let more = std::mem::take(&mut errs.more);
        Some(if more > 0 {
            format!("{first} (and {more} more GPU errors)")
        } else {
            first
        })
    }

    /// The device, for other drawables and targets (XR) sharing this renderer's GPU.
    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }

    /// The queue belonging to [`Self::device`].
    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }

    /// Pipelines for drawing the model into attachments of `targets` (e.g. an XR framebuffer),
    /// built on first request and cached.
    pub fn pipelines_for(&mut self, targets: TargetFormats) -> PipelineSet {
        if let Some(o) = &mut self.overlay {
            o.ensure_pipeline(&self.device, targets);
        }
        self.model_pass.pipelines_for(&self.device, targets)
    }

    /// Writes the uniforms of this frame's views (e.g. both XR eyes) and returns their slots,
    /// after uploading the next step of a model still uploading. Call once per frame, before
    /// recording; [`Self::render`] also uses the slots, so the two
    /// must not be interleaved within one frame.
    pub fn prepare_views(&mut self, views: &[ViewUniform]) -> Vec<ViewSlot> {
        self.upload_step();
        self.model_pass
            .write_views(&self.device, &self.queue, views)
    }

    /// The one render path of every view, inline or XR: records each of `views` into `pass`
    /// (attachments matching `pipelines`): the model (when `draw_model`), then whatever
    /// `between(pass, view index)` adds (XR markers, which the model hides; it returns its draw
    /// calls), then the labels on top. `done(view index, stats)` receives each view's figures.
    pub(crate) fn record_views(
        &self,
        pass: &mut wgpu::RenderPass<'_>,
        pipelines: PipelineSet,
        views: &[ViewDraw],
        draw_model: bool,
        mut between: impl FnMut(&mut wgpu::RenderPass<'_>, usize) -> u32,
        mut done: impl FnMut(usize, FrameStats),
    ) {
        for (i, view) in views.iter().enumerate() {
            let mut drawn = FrameStats::default();
            if draw_model {
                drawn += self.draw_model(pass, pipelines, view.slot, view.viewport);
            }
            drawn.draw_calls += between(pass, i);
            if let Some(overlay) = view.overlay {
                drawn += self.draw_overlay(pass, pipelines, overlay, view.viewport);
            }
            done(i, drawn);
        }
    }

    /// Records the current model's draws for one view into a caller's render pass (whose
    /// attachments match `pipelines`), restricted to `viewport` if given. Draws nothing
    /// without a model.
    pub fn draw_model(
        &self,
        pass: &mut wgpu::RenderPass<'_>,
        pipelines: PipelineSet,
        view: ViewSlot,
        viewport: Option<Viewport>,
    ) -> FrameStats {
        match &self.model {
            Some(model) => self.model_pass.draw(pass, model, pipelines, view, viewport),
            None => FrameStats::default(),
        }
    }
}

/// WebGPU: instance, adapter and device, without touching the canvas (so a failure can still
/// fall back to WebGL2 on it).
async fn open_webgpu() -> Result<Opened, String> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: wgpu::Backends::BROWSER_WEBGPU,
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    let adapter = instance
        .request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    let (device, queue) = request_device(&adapter, wgpu::Limits::downlevel_defaults())
        .await
        .map_err(|e| e.to_string())?;
    Ok(Opened {
        backend: Backend::WebGpu,
        instance,
        adapter,
        device,
        queue,
        surface: None,
    })
}

/// WebGL2: the surface comes first, since the adapter is the canvas's WebGL2 context.
async fn open_webgl(canvas: &web_sys::HtmlCanvasElement) -> Result<Opened, RenderError> {
    let fail = |reason: String| RenderError::WebGlUnavailable { reason };
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: wgpu::Backends::GL,
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    let surface = instance
        .create_surface(wgpu::SurfaceTarget::Canvas(canvas.clone()))
        .map_err(|e| fail(e.to_string()))?;
    let adapter = instance
        .request_adapter(&wgpu::RequestAdapterOptions {
            compatible_surface: Some(&surface),
            ..Default::default()
        })
        .await
        .map_err(|e| fail(e.to_string()))?;
    let (device, queue) = request_device(&adapter, wgpu::Limits::downlevel_webgl2_defaults())
        .await
        .map_err(|e| fail(e.to_string()))?;
    Ok(Opened {
        backend: Backend::WebGl,
        instance,
        adapter,
        device,
        queue,
        surface: Some(surface),
    })
}

/// Requests a device with `base` limits, never above what the adapter has, but with the
/// adapter's texture size, buffer size and uniform alignment (big canvases, big twins, dense
/// dynamic offsets).
async fn request_device(
    adapter: &wgpu::Adapter,
    base: wgpu::Limits,
) -> Result<(wgpu::Device, wgpu::Queue), wgpu::RequestDeviceError> {
    let supported = adapter.limits();
    let required_limits = wgpu::Limits {
        max_buffer_size: supported.max_buffer_size,
        ..base.or_worse_values_from(&supported)
    }
    .using_resolution(supported.clone())
    .using_alignment(supported);
    adapter
        .request_device(&wgpu::DeviceDescriptor {
            label: Some("Renderer::device"),
            required_features: wgpu::Features::empty(),
            required_limits,
            ..Default::default()
        })
        .await
}

/// Picks `(surface format, view format)` so that rendering always goes through an sRGB view:
/// an sRGB surface format directly where offered (WebGL2), else a non-sRGB canvas format with
/// its sRGB variant as view format (WebGPU canvases are bgra8unorm/rgba8unorm only).
fn choose_surface_format(
    formats: &[wgpu::TextureFormat],
) -> Option<(wgpu::TextureFormat, wgpu::TextureFormat)> {
    if let Some(&srgb) = formats.iter().find(|f| f.is_srgb()) {
        return Some((srgb, srgb));
    }
    formats
        .iter()
        .find(|f| f.add_srgb_suffix() != **f)
        .map(|&f| (f, f.add_srgb_suffix()))
}

/// 4 if the colour formats (storage and view) and the depth format can be rendered with 4
/// samples and the colour resolved, else 1.
fn msaa_samples_for(
    adapter: &wgpu::Adapter,
    storage: wgpu::TextureFormat,
    view: wgpu::TextureFormat,
    depth: wgpu::TextureFormat,
) -> u32 {
    let color_ok = |format| {
        let flags = adapter.get_texture_format_features(format).flags;
        flags.sample_count_supported(4)
            && flags.contains(wgpu::TextureFormatFeatureFlags::MULTISAMPLE_RESOLVE)
    };
    let depth_ok = adapter
        .get_texture_format_features(depth)
        .flags
        .sample_count_supported(4);
    if color_ok(storage) && color_ok(view) && depth_ok {
        4
    } else {
        1
    }
}

/// Milliseconds on the page's monotonic clock (0 where there is none, e.g. in a worker
/// without `performance`): drives the alarm pulse.
/// A frame at 60 Hz: an upload step of [`UPLOAD_BYTES_PER_STEP`] per such interval.
const UPLOAD_FRAME_MS: f64 = 1000.0 / 60.0;
/// At most this many steps' worth in one frame (64 MB; written 4 MB at a time, and WebGPU
/// copies each write out of wasm memory at once).
const MAX_UPLOAD_SCALE: f64 = 8.0;
/// On WebGL2 (16 MB): its staging copies stay in wasm memory until the frame is done.
const MAX_UPLOAD_SCALE_WEBGL: f64 = 2.0;

fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

fn log(message: &str) {
    web_sys::console::log_1(&JsValue::from_str(message));
}

fn warn(message: &str) {
    web_sys::console::warn_1(&JsValue::from_str(message));
}
