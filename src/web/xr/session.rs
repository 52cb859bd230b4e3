//! The running session's frame: poses, views, drawing and the markers. AR placement, anchors
//! and alignment are in `ar.rs`, the VR walkthrough in `vr.rs`, the HUD text in `hud_text.rs`.

use super::*;

impl ActiveSession {
    pub(super) fn new(
        app: Host,
        session: XrSession,
        mode: XrMode,
        queue: InputQueue,
        hud: Rc<RefCell<XrHud>>,
        twin: Twin,
    ) -> Self {
        let bounds = twin.bounds;
        let mut flow = PlacementFlow::new(bounds, ScaleMode::OneToOne);
        let mut placement_source = None;
        if mode == XrMode::Vr {
            flow.restore(vr_placement(bounds));
            placement_source = Some("vr");
        }
        ActiveSession {
            app,
            session,
            mode,
            queue,
            hud,
            twin,
            renderer: None,
            canvas: None,
            home: RendererHome::App,
            canvas_slot: None,
            layer: None,
            target: None,
            ref_space: None,
            ref_space_kind: "local-floor",
            hit_source: None,
            listeners: Vec::new(),
            frame_callback: None,
            frame_handle: None,
            ended: Rc::default(),
            answers: CommandQueue::unbounded(),
            running: false,
            path: None,
            blend_mode: None,
            dom_overlay: None,
            visibility: "visible".into(),
            tracking: "lost",
            frames: 0,
            last_time: None,
            timing: Rolling::default(),
            last_frame: XrFrameStats::default(),
            framebuffer: None,
            last_error: None,
            hud_due: 0.0,
            persist_due: None,
            overlay_refresh: true,
            markers: Vec::new(),
            root: Mat4::IDENTITY,
            viewer: None,
            view_fov: (1.0, 600.0),
            flow,
            placement_source,
            reticle: None,
            anchor: AnchorState {
                status: "none",
                ..Default::default()
            },
            offered: None,
            align: AlignState::default(),
            dragging: None,
            stick_pressed: false,
            note: None,
            note_shown: None,
            locomotion: Mat4::IDENTITY,
            snap: [SnapTurnInput::default(); 2],
            pointers: Vec::new(),
            arc: None,
            teleports: 0,
            snap_turns: 0,
            selects: 0,
            selected: None,
        }
    }

    pub(super) fn attach_renderer(
        &mut self,
        renderer: Renderer,
        canvas: HtmlCanvasElement,
        home: RendererHome,
    ) {
        self.canvas_slot = canvas.parent_node().map(|p| (p, canvas.next_sibling()));
        self.target = Some(renderer.create_xr_target());
        self.renderer = Some(renderer);
        self.canvas = Some(canvas);
        self.home = home;
    }

    /// Final set-up step: listeners, the stored placement, the first frame request.
    pub(super) fn start(
        state: &Rc<RefCell<ActiveSession>>,
        layer: XrWebGlLayer,
        ref_space: XrReferenceSpace,
        kind: &'static str,
        hit_source: Option<XrHitTestSource>,
    ) -> Result<(), String> {
        let mut s = state.borrow_mut();
        s.path = Some(if layer.framebuffer().is_some() {
            "webgl-layer"
        } else {
            "webgl-canvas"
        });
        s.layer = Some(layer);
        s.ref_space = Some(ref_space.clone());
        s.ref_space_kind = kind;
        s.hit_source = hit_source;
        s.blend_mode = s.session.ext().environment_blend_mode();
        s.dom_overlay = s
            .session
            .ext()
            .dom_overlay_state()
            .map(|o| o.overlay_type());
        let session = s.session.clone();
        let listeners =
            session_listeners(&session, &ref_space, &s.queue).map_err(|e| js_reason(&e))?;
        s.listeners.extend(listeners);
        {
            let answers = s.answers.sender();
            let l = Listener::new(session.as_ref(), "visibilitychange", true, move |_| {
                answer(&answers, SessionAnswer::Visibility);
            })
            .map_err(|e| js_reason(&e))?;
            s.listeners.push(l);
        }
        if s.mode == XrMode::Ar {
            s.begin_restore();
        }
        let weak = Rc::downgrade(state);
        let app = s.app.clone();
        s.frame_callback = Some(Closure::new(move |time: f64, frame: XrFrame| {
            // First the app's own per-frame work (live data into labels and tints, which it
            // hands to this session's renderer), while the session is not borrowed.
            with_host(&app, |h| h.tick_during_xr());
            let Some(st) = weak.upgrade() else { return };
            let Ok(mut st) = st.try_borrow_mut() else {
                return;
            };
            if st.ended.get() {
                return;
            }
            st.request_frame();
            st.on_frame(time, &frame);
        }));
        s.request_frame();
        s.running = true;
        let touch = s.dom_overlay.is_some();
        if let Ok(mut hud) = s.hud.try_borrow_mut() {
            hud.set_active(true, touch);
        }
        s.update_hud(perf_now(), true);
        Ok(())
    }

    pub(super) fn request_frame(&mut self) {
        if let Some(cb) = &self.frame_callback {
            self.frame_handle = Some(
                self.session
                    .request_animation_frame(cb.as_ref().unchecked_ref()),
            );
        }
    }

    /// Frees what the session created and returns the renderer to give back.
    pub(super) fn teardown(&mut self) -> Option<(Renderer, HtmlCanvasElement, RendererHome)> {
        self.running = false;
        if let Some(handle) = self.frame_handle.take() {
            self.session.cancel_animation_frame(handle);
        }
        self.frame_callback = None;
        self.listeners.clear();
        for late in self.answers.drain() {
            late.free();
        }
        if let Some(source) = self.hit_source.take() {
            let _ = source.cancel();
        }
        if let Some(anchor) = self.anchor.anchor.take() {
            // Persistent anchors keep their handle; this only stops tracking in this session.
            let _ = anchor.delete();
        }
        self.anchor.generation += 1;
        self.flush_persist();
        self.target = None;
        self.layer = None;
        self.ref_space = None;
        let renderer = self.renderer.take();
        let canvas = self.canvas.take();
        if let Some(canvas) = &canvas {
            // An emulator may have moved the canvas into its own container: put it back where
            // it was so the page layout is as before.
            if let Some((parent, next)) = self.canvas_slot.take() {
                let misplaced =
                    canvas.parent_node().as_ref() != Some(&parent) || canvas.next_sibling() != next;
                if misplaced {
                    let _ = parent.insert_before(canvas, next.as_ref());
                }
            }
        }
        match (renderer, canvas) {
            (Some(r), Some(c)) => {
                // Let wgpu free this session's GPU objects now rather than at some later submit.
                let _ = r.device().poll(wgpu::PollType::Poll);
                Some((r, c, self.home))
            }
            _ => None,
        }
    }

    pub(super) fn stats(&self) -> XrStats {
        let (cpu_frame, cpu_view, cpu_submit) = self.timing.means();
        let placement = self.flow.current();
        XrStats {
            active: self.running && !self.ended.get(),
            mode: Some(self.mode.as_str()),
            path: self.path,
            renderer: Some(match self.home {
                RendererHome::App => "inline",
                RendererHome::XrCanvas => "xr-canvas",
            }),
            reference_space: self.ref_space.as_ref().map(|_| self.ref_space_kind),
            frames: self.frames,
            views: self.last_frame.views,
            cpu_ms_per_frame: cpu_frame,
            cpu_ms_per_view: cpu_view,
            cpu_ms_submit: cpu_submit,
            draw_calls_per_view: self.last_frame.draw_calls_per_view,
            triangles_per_view: self.last_frame.triangles_per_view,
            framebuffer: self.framebuffer,
            placement: match self.flow.state() {
                PlacementState::Searching => "searching",
                PlacementState::Previewing(_) => "previewing",
                PlacementState::Placed(_) => "placed",
            },
            placement_pose: placement.map(|p| PoseStats {
                position: p.position.to_array(),
                yaw: p.yaw,
                scale: p.scale.factor(),
                pivot: p.pivot.to_array(),
            }),
            placement_source: self.placement_source,
            anchor: self.anchor.status,
            anchor_persistent: self.anchor.handle.is_some(),
            restore_offered: self.offered.is_some(),
            alignment_rms_cm: self.align.result.as_ref().map(|a| a.rms_cm),
            alignment: AlignStats {
                active: self.align.active,
                model_points: self.align.model.iter().map(|p| p.to_array()).collect(),
                real_points: self.align.real.iter().map(|p| p.to_array()).collect(),
                residuals_cm: self
                    .align
                    .result
                    .as_ref()
                    .map(|a| a.residuals_cm.clone())
                    .unwrap_or_default(),
                scale_ratio: self.align.result.as_ref().map(|a| a.scale_ratio),
                error: self.align.error.clone(),
            },
            tracking: self.tracking,
            visibility: Some(self.visibility.clone()),
            environment_blend_mode: self.blend_mode.clone(),
            dom_overlay: self.dom_overlay.clone(),
            reticle: self.reticle.map(|m| m.w_axis.truncate().to_array()),
            viewer: self.viewer.map(|m| m.w_axis.truncate().to_array()),
            viewer_yaw: self.viewer.map(viewer_yaw),
            locomotion: (self.mode == XrMode::Vr).then(|| LocomotionStats {
                offset: self.locomotion.w_axis.truncate().to_array(),
                yaw: viewer_yaw(self.locomotion),
            }),
            teleports: self.teleports,
            snap_turns: self.snap_turns,
            selects: self.selects,
            selected: self.selected.map(|n| SelectedStats {
                node: self.node_name(n),
                sensor: self.sensor_of(n).map(|s| s.id.clone()),
            }),
            gpu: self.renderer.as_ref().and_then(Renderer::gpu_counts),
            listeners: self.listeners.len(),
            session_closures: self.listeners.len() + usize::from(self.frame_callback.is_some()),
            hud: self
                .hud_view(perf_now())
                .buttons
                .iter()
                .map(|a| a.name())
                .collect(),
            last_error: self.last_error.clone(),
            ..Default::default()
        }
    }

    pub(super) fn node_name(&self, node: usize) -> String {
        self.twin
            .model
            .nodes
            .get(node)
            .and_then(|n| n.name.clone())
            .unwrap_or_else(|| format!("node {node}"))
    }

    pub(super) fn sensor_of(&self, node: usize) -> Option<&XrSensor> {
        sensor_for_node(&self.twin.model, &self.twin.node_sensors, node)
            .and_then(|i| self.twin.sensors.get(i))
    }

    // -----------------------------------------------------------------------------------------
    // Frame.

    pub(super) fn on_frame(&mut self, time: f64, frame: &XrFrame) {
        let started = perf_now();
        for answer in self.answers.drain() {
            self.apply_answer(answer);
        }
        let dt = self
            .last_time
            .map_or(0.0, |t| ((time - t) / 1000.0).clamp(0.0, 0.1)) as f32;
        self.last_time = Some(time);
        let Some(ref_space) = self.ref_space.clone() else {
            return;
        };
        self.visibility = visibility_name(&self.session);
        let visible = self.visibility == "visible";
        let mut inputs = self.queue.drain();
        if !visible {
            // Paused (system menu, permission prompt): input is ignored, Exit still works.
            inputs.retain(|i| matches!(i, XrInput::Action(HudAction::Exit)));
        }
        let had_input = !inputs.is_empty();

        let pose = frame.ext().viewer_pose(ref_space.as_ref()).ok().flatten();
        let Some(pose) = pose else {
            self.tracking = "lost";
            for input in inputs {
                if input == XrInput::Action(HudAction::Exit) {
                    let _ = self.session.end();
                }
            }
            self.update_hud(started, had_input);
            return;
        };
        self.tracking = if pose.emulated_position() {
            "limited"
        } else {
            "tracking"
        };
        let Some(base_viewer) = transform_matrix(&pose.transform()) else {
            self.tracking = "lost";
            return;
        };

        match self.mode {
            XrMode::Ar => self.ar_update(frame, &ref_space, base_viewer, inputs, dt),
            XrMode::Vr => self.vr_update(frame, &ref_space, base_viewer, inputs),
        }
        if self.ended.get() {
            return;
        }
        self.sync_root();
        self.build_markers();
        self.render(&pose, started);
        if let Some(due) = self.persist_due
            && started >= due
        {
            self.flush_persist();
        }
        self.update_hud(started, had_input);
    }

    /// Draws this frame's views.
    pub(super) fn render(&mut self, pose: &web_sys::XrViewerPose, started: f64) {
        let twin_pose = self.twin_pose();
        let (Some(layer), Some(renderer), Some(target)) = (
            self.layer.clone(),
            self.renderer.as_mut(),
            self.target.as_mut(),
        ) else {
            return;
        };
        let (fb_w, fb_h) = (layer.framebuffer_width(), layer.framebuffer_height());
        if fb_w == 0 || fb_h == 0 {
            return;
        }
        self.framebuffer = Some([fb_w, fb_h]);
        let framebuffer = layer.framebuffer();
        self.path = Some(if framebuffer.is_some() {
            "webgl-layer"
        } else {
            "webgl-canvas"
        });
        let to_moved = if self.mode == XrMode::Vr {
            self.locomotion
        } else {
            Mat4::IDENTITY
        };
        let mut draws = Vec::with_capacity(2);
        for view in pose.views().iter() {
            let view: web_sys::XrView = view.unchecked_into();
            let Some(vp) = layer.get_viewport(&view) else {
                continue;
            };
            let rect = PixelRect {
                x: vp.x(),
                y: vp.y(),
                width: vp.width(),
                height: vp.height(),
            }
            .flip_y(fb_h);
            if !rect.fits_within(fb_w, fb_h) {
                continue;
            }
            let Ok(mut m) = views::view_matrices(
                &view.projection_matrix(),
                &view.transform().inverse().matrix(),
                ClipDepth::MinusOneToOne,
            ) else {
                continue;
            };
            m.view *= to_moved;
            m.eye = to_moved.inverse().transform_point3(m.eye);
            if draws.is_empty() {
                let fov_y = 2.0 * (1.0 / m.proj.y_axis.y.abs().max(1e-6)).atan();
                let dpr = web_sys::window().map_or(1.0, |w| w.device_pixel_ratio()) as f32;
                self.view_fov = (fov_y, rect.height as f32 / dpr.max(0.1));
            }
            draws.push(XrViewDraw {
                matrices: m,
                viewport: Viewport {
                    x: rect.x as f32,
                    y: rect.y as f32,
                    width: rect.width as f32,
                    height: rect.height as f32,
                },
            });
        }
        if draws.is_empty() {
            return;
        }
        let head_view = self.viewer.map_or(Mat4::IDENTITY, |v| v.inverse());
        let clear = match (self.mode, self.blend_mode.as_deref()) {
            // See-through AR: transparent, so the world shows; additive displays show black as
            // transparent too.
            (XrMode::Ar, Some("alpha-blend") | Some("additive")) => wgpu::Color::TRANSPARENT,
            _ => CLEAR_COLOR,
        };
        let desc = XrFrameDesc {
            output: match &framebuffer {
                Some(fb) => XrOutput::Framebuffer(fb),
                None => XrOutput::Canvas,
            },
            width: fb_w,
            height: fb_h,
            views: &draws,
            head_view,
            clear,
            markers: &self.markers,
            draw_model: self.flow.current().is_some(),
            twin_pose,
            label_pixel_scale: match self.mode {
                // A phone: labels keep their CSS size.
                XrMode::Ar if draws.len() == 1 => {
                    web_sys::window().map_or(1.0, |w| w.device_pixel_ratio()) as f32
                }
                // A headset eye: scale with its resolution (about 2 on a Quest 3).
                _ => (draws[0].viewport.height / 900.0).clamp(1.0, 3.0),
            },
        };
        match renderer.render_xr(target, &desc) {
            Ok(stats) => {
                if stats.presented {
                    self.frames += 1;
                    self.last_frame = stats;
                    if self.frames > TIMING_WARMUP_FRAMES {
                        self.timing.push(
                            perf_now() - started,
                            stats.encode_ms_per_view,
                            stats.submit_ms,
                        );
                    }
                }
            }
            Err(e) => self.last_error = Some(format!("rendering failed: {e}")),
        }
        if let Some(e) = renderer.take_gpu_error() {
            self.last_error = Some(format!("GPU error: {e}"));
        }
    }

    /// Moves the model to the current placement.
    /// Where the model stands in the reference space this frame (for picking). The renderer's
    /// model root is left alone: the views move instead (see `XrFrameDesc::twin_pose`).
    pub(super) fn sync_root(&mut self) {
        self.root = self.twin_pose() * self.twin.root;
    }

    /// The twin's placement as a matrix from the inline view's world (where the model root and
    /// the sensor labels are) to the reference space; identity while there is none.
    pub(super) fn twin_pose(&self) -> Mat4 {
        self.flow.current().map_or(Mat4::IDENTITY, |p| p.pose())
    }

    pub(super) fn build_markers(&mut self) {
        let mut out = std::mem::take(&mut self.markers);
        out.clear();
        match self.mode {
            XrMode::Ar => {
                let show_reticle =
                    !matches!(self.flow.state(), PlacementState::Placed(_)) || self.align.active;
                if show_reticle && let Some(hit) = self.reticle {
                    markers::ring(&mut out, hit, 0.07, 0.09, 32, colors::RETICLE);
                    markers::disc(&mut out, hit, 0.008, 12, colors::RETICLE);
                }
                if let Some(p) = self.flow.current() {
                    let pose = p.pose();
                    // In-world warning where no HUD can be seen (headsets): the twin may drift.
                    if matches!(self.anchor.status, "lost" | "failed") {
                        let at = Mat4::from_translation(p.position);
                        markers::ring(&mut out, at, 0.25, 0.3, 48, colors::INVALID);
                    }
                    for m in &self.align.model {
                        markers::point_mark(
                            &mut out,
                            pose.transform_point3(*m),
                            0.05,
                            colors::MODEL_POINT,
                        );
                    }
                }
                for r in &self.align.real {
                    markers::ring(
                        &mut out,
                        Mat4::from_translation(*r),
                        0.015,
                        0.03,
                        16,
                        colors::REAL_POINT,
                    );
                }
            }
            XrMode::Vr => {
                let centre = self.viewer.map_or(Vec3::ZERO, |v| v.w_axis.truncate());
                markers::floor_grid(&mut out, centre, 0.0, 6.0, 1.0, 0.01, colors::GRID);
                for p in &self.pointers {
                    let o = p.ray.w_axis.truncate();
                    let d = (-p.ray.z_axis.truncate()).normalize_or_zero();
                    markers::polyline(&mut out, &[o, o + d * RAY_LENGTH_M], 0.004, colors::RAY);
                }
                if let Some(arc) = &self.arc {
                    let color = if arc.valid {
                        colors::VALID
                    } else {
                        colors::INVALID
                    };
                    markers::polyline(&mut out, &arc.points, 0.012, color);
                    if let Some(l) = arc.landing {
                        markers::ring(&mut out, Mat4::from_translation(l), 0.22, 0.27, 32, color);
                    }
                }
            }
        }
        self.markers = out;
    }
}
