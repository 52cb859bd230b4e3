//! AR on a running session: placement at the hit-test reticle, gestures, anchors and their
//! persistence, and precise alignment from point pairs.

use super::*;

impl ActiveSession {
    // -----------------------------------------------------------------------------------------
    // AR.

    #[allow(clippy::too_many_arguments)]
    pub(super) fn ar_update(
        &mut self,
        frame: &XrFrame,
        ref_space: &XrReferenceSpace,
        viewer: Mat4,
        inputs: Vec<XrInput>,
        dt: f32,
    ) {
        self.viewer = Some(viewer);
        let hits = self
            .hit_source
            .as_ref()
            .map(|s| hit_test_results(frame, s))
            .unwrap_or_default();
        self.reticle = hits
            .first()
            .and_then(|h| h.get_pose(ref_space.as_ref()).ok().flatten())
            .and_then(|p| transform_matrix(&p.transform()));
        self.follow_anchor(frame, ref_space);
        // The twin stands on floors and tables, not on walls (the reticle still shows there, for
        // alignment points on a machine's side).
        let standable = self
            .reticle
            .filter(|m| m.y_axis.truncate().normalize_or_zero().y >= MIN_SURFACE_UP);
        self.flow.on_hit(standable, viewer.w_axis.truncate());

        let last_multi = self
            .hud
            .try_borrow()
            .map_or(0.0, |h| h.last_multi_touch_ms());
        let now = perf_now();
        for input in inputs {
            match input {
                XrInput::Select { ray, source, .. } => {
                    if source == SelectSource::Screen && now - last_multi < GESTURE_SELECT_GRACE_MS
                    {
                        continue;
                    }
                    let ray = ray
                        .and_then(|m| views::mat4_from_webxr("select ray", &m).ok())
                        .unwrap_or(viewer);
                    self.selects += 1;
                    self.ar_select(frame, ref_space, &hits, ray);
                }
                XrInput::Action(action) => self.ar_action(action, frame, ref_space, &hits, viewer),
                XrInput::Twist(yaw) => self.adjust(|p| p.rotate(yaw)),
                XrInput::Rotate(r) => self.adjust(|p| p.rotate(r)),
                XrInput::DragPx(delta) => {
                    let Some(p) = self.flow.current() else {
                        continue;
                    };
                    let distance = (p.position - viewer.w_axis.truncate()).length();
                    let mpp = metres_per_px(distance, self.view_fov.0, self.view_fov.1);
                    let step = drag_nudge(delta, mpp);
                    let yaw = viewer_yaw(viewer);
                    self.adjust(|p| p.nudge(step.x, step.y, yaw));
                }
                XrInput::Nudge(right, forward) => {
                    let yaw = viewer_yaw(viewer);
                    self.adjust(|p| p.nudge(right, forward, yaw));
                }
                XrInput::SetTabletop(t) => self.set_tabletop(t),
                XrInput::ModelPoint(p) => {
                    let p = Vec3::from_array(p);
                    if p.is_finite() {
                        self.align_model_point(p);
                    }
                }
                XrInput::SqueezeStart { right } => {
                    if let Some(g) = self.grip_position(frame, ref_space, right) {
                        self.dragging = Some((right, g));
                    }
                }
                XrInput::SqueezeEnd { right } => {
                    if self.dragging.is_some_and(|(r, _)| r == right) {
                        self.dragging = None;
                        self.rebase_anchor();
                        self.flush_persist();
                    }
                }
            }
        }
        // Grip drag and thumbstick turn for headsets in AR.
        if let Some((right, last)) = self.dragging {
            match self.grip_position(frame, ref_space, right) {
                Some(now_at) => {
                    let delta = now_at - last;
                    self.dragging = Some((right, now_at));
                    self.adjust(|p| p.drag(delta));
                }
                None => self.dragging = None,
            }
        }
        let sources = input_sources(&self.session);
        if matches!(self.flow.state(), PlacementState::Placed(_)) {
            let turn = sources
                .iter()
                .filter_map(stick)
                .map(|s| s.x)
                .find(|x| x.abs() > 0.2);
            if let Some(x) = turn {
                self.adjust(|p| p.rotate(-x * STICK_TURN_SPEED * dt));
            }
        }
        // Headsets have no DOM overlay for the Align… button: a thumbstick click toggles
        // alignment, whose points are then marked with the trigger (twin point along the
        // controller ray, real point at the gaze reticle).
        let pressed = sources.iter().any(|s| button_pressed(s, STICK_BUTTON));
        if pressed && !self.stick_pressed && matches!(self.flow.state(), PlacementState::Placed(_))
        {
            if self.align.active {
                self.align.active = false;
            } else {
                self.align = AlignState {
                    active: true,
                    ..Default::default()
                };
            }
            self.hud_due = 0.0;
        }
        self.stick_pressed = pressed;
    }

    pub(super) fn grip_position(
        &self,
        frame: &XrFrame,
        ref_space: &XrReferenceSpace,
        right: bool,
    ) -> Option<Vec3> {
        input_sources(&self.session).into_iter().find_map(|s| {
            if is_right(&s) != right {
                return None;
            }
            let space = s.grip_space()?;
            let pose = frame
                .ext()
                .pose(&space, ref_space.as_ref())
                .ok()
                .flatten()?;
            transform_matrix(&pose.transform()).map(|m| m.w_axis.truncate())
        })
    }

    pub(super) fn ar_select(
        &mut self,
        frame: &XrFrame,
        ref_space: &XrReferenceSpace,
        hits: &[XrHitTestResult],
        ray: Mat4,
    ) {
        if self.align.active {
            if self.align.expects_model() {
                self.pick_model_point(ray);
            } else {
                self.mark_real_point(frame, ref_space);
            }
            return;
        }
        match self.flow.state() {
            PlacementState::Previewing(_) => self.place(frame, ref_space, hits),
            PlacementState::Placed(_) => self.select_part(ray),
            PlacementState::Searching => {
                self.note = Some("No surface under the ring yet: move the phone slowly over the floor or a table.".into());
            }
        }
    }

    pub(super) fn ar_action(
        &mut self,
        action: HudAction,
        frame: &XrFrame,
        ref_space: &XrReferenceSpace,
        hits: &[XrHitTestResult],
        viewer: Mat4,
    ) {
        match action {
            HudAction::Place => match self.flow.state() {
                PlacementState::Previewing(_) => self.place(frame, ref_space, hits),
                _ => self.note = Some(
                    "Point the phone at the floor or a table until the ring appears, then place."
                        .into(),
                ),
            },
            HudAction::Restore => {
                if let Some(p) = self.offered.take() {
                    self.flow.restore(p);
                    self.placement_source = Some("restored-storage");
                    self.create_anchor(frame, ref_space, None);
                    self.persist_now();
                }
            }
            HudAction::RotateLeft => self.adjust(|p| p.rotate(ROTATE_STEP)),
            HudAction::RotateRight => self.adjust(|p| p.rotate(-ROTATE_STEP)),
            HudAction::ToggleScale => {
                let tabletop = matches!(
                    self.flow.current().map(|p| p.scale),
                    Some(ScaleMode::Tabletop { .. })
                );
                self.set_tabletop(!tabletop);
            }
            HudAction::Reset => {
                self.flow.reset();
                self.placement_source = None;
                self.align = AlignState::default();
                self.drop_anchor();
            }
            HudAction::Align => {
                if self.flow.current().is_some()
                    && matches!(self.flow.state(), PlacementState::Placed(_))
                {
                    self.align = AlignState {
                        active: true,
                        ..Default::default()
                    };
                } else {
                    self.note =
                        Some("Place the twin roughly first, then align it precisely.".into());
                }
            }
            HudAction::MarkModel => {
                if !self.align.active {
                    self.align.active = true;
                }
                self.pick_model_point(viewer);
            }
            HudAction::MarkReal => self.mark_real_point(frame, ref_space),
            HudAction::AlignDone => self.align.active = false,
            HudAction::Exit => {
                let _ = self.session.end();
            }
        }
    }

    /// Places the previewed twin and anchors it.
    pub(super) fn place(
        &mut self,
        frame: &XrFrame,
        ref_space: &XrReferenceSpace,
        hits: &[XrHitTestResult],
    ) {
        if self.flow.on_select().is_some() {
            self.placement_source = Some("hit");
            self.offered = None;
            self.note = None;
            self.create_anchor(frame, ref_space, hits.first());
            self.persist_now();
        }
    }

    /// Applies a gesture to the placed twin, then moves its anchor reference along.
    pub(super) fn adjust(&mut self, f: impl FnOnce(&mut Placement)) {
        if let Some(p) = self.flow.placed_mut() {
            f(p);
            self.rebase_anchor();
            self.persist_due = Some(perf_now() + PERSIST_DELAY_MS);
        }
    }

    pub(super) fn set_tabletop(&mut self, tabletop: bool) {
        self.flow.set_tabletop(tabletop);
        self.rebase_anchor();
        self.persist_now();
    }

    /// The twin keeps following its anchor from its new placement.
    pub(super) fn rebase_anchor(&mut self) {
        if let (Some(p), Some(pose)) = (self.flow.current(), self.anchor.last_pose) {
            self.anchor.base = Some((p, pose));
            self.anchor.relative = Some(p.follow_anchor(pose, Mat4::IDENTITY));
        }
    }

    pub(super) fn drop_anchor(&mut self) {
        if let Some(a) = self.anchor.anchor.take() {
            let _ = a.delete();
        }
        self.anchor.generation += 1;
        self.anchor.status = "none";
        self.anchor.base = None;
        self.anchor.last_pose = None;
        self.anchor.relative = None;
    }

    /// Requests an anchor at the hit (preferred: attached to the surface) or at the placement.
    pub(super) fn create_anchor(
        &mut self,
        frame: &XrFrame,
        ref_space: &XrReferenceSpace,
        hit: Option<&XrHitTestResult>,
    ) {
        self.drop_anchor();
        if self.session.ext().has_feature("anchors") == Some(false) {
            self.anchor.status = "unsupported";
            return;
        }
        let promise = match hit {
            Some(h) => h.create_anchor(),
            None => match self.flow.current().and_then(|p| {
                rigid_transform(Mat4::from_rotation_translation(
                    Quat::from_rotation_y(p.yaw),
                    p.position,
                ))
            }) {
                Some(t) => frame.ext().create_anchor(&t, ref_space.as_ref()),
                None => return,
            },
        };
        let promise = match promise {
            Ok(p) => p,
            Err(e) => {
                self.anchor.status = "unsupported";
                self.last_error = Some(format!(
                    "anchors are not available here ({})",
                    js_reason(&e)
                ));
                return;
            }
        };
        self.anchor.status = "pending";
        let generation = self.anchor.generation;
        let answers = self.answers.sender();
        spawn_local(async move {
            let result = resolve::<XrAnchor>(promise).await;
            let restored = false;
            answer(
                &answers,
                SessionAnswer::Anchor {
                    generation,
                    result,
                    restored,
                },
            );
        });
    }

    /// Starts restoring a stored placement: a persistent anchor where the runtime has it,
    /// otherwise an offer to put the twin back where it was stored.
    pub(super) fn begin_restore(&mut self) {
        let Some(storage) = local_storage() else {
            return;
        };
        let Ok(Some(text)) = storage.get_item(&self.twin.storage_key) else {
            return;
        };
        match Placement::from_json(&text) {
            Ok((relative, Some(handle))) => {
                let known = self
                    .session
                    .ext()
                    .persistent_anchors()
                    .is_some_and(|list| list.includes(&JsValue::from_str(&handle), 0));
                if !known {
                    self.note = Some(
                        "The saved anchor is not known on this device: place the twin again."
                            .into(),
                    );
                    return;
                }
                match self.session.ext().restore_persistent_anchor(&handle) {
                    Ok(promise) => {
                        self.anchor.status = "pending";
                        self.anchor.handle = Some(handle);
                        self.anchor.restoring = Some(relative);
                        let generation = self.anchor.generation;
                        let answers = self.answers.sender();
                        spawn_local(async move {
                            let result = resolve::<XrAnchor>(promise).await;
                            let restored = true;
                            answer(
                                &answers,
                                SessionAnswer::Anchor {
                                    generation,
                                    result,
                                    restored,
                                },
                            );
                        });
                    }
                    Err(e) => {
                        self.note = Some(format!(
                            "The saved anchor could not be restored ({}): place the twin again.",
                            js_reason(&e)
                        ))
                    }
                }
            }
            Ok((placement, None)) => self.offered = Some(placement),
            Err(e) => {
                self.note = Some(e.to_string());
                let _ = storage.remove_item(&self.twin.storage_key);
            }
        }
    }

    /// Locates the anchor and moves the twin with it.
    pub(super) fn follow_anchor(&mut self, frame: &XrFrame, ref_space: &XrReferenceSpace) {
        let Some(anchor) = &self.anchor.anchor else {
            return;
        };
        let pose = anchor
            .anchor_space()
            .ok()
            .and_then(|space| frame.ext().pose(&space, ref_space.as_ref()).ok().flatten())
            .and_then(|p| transform_matrix(&p.transform()));
        let Some(pose) = pose else {
            self.anchor.status = "lost";
            return;
        };
        self.anchor.status = "tracked";
        self.anchor.last_pose = Some(pose);
        if let Some(relative) = self.anchor.restoring.take() {
            self.flow
                .restore(relative.follow_anchor(Mat4::IDENTITY, pose));
            self.placement_source = Some("restored-anchor");
            self.offered = None;
        }
        match self.anchor.base {
            None => {
                if self.flow.current().is_some() {
                    self.rebase_anchor();
                    self.persist_now();
                }
            }
            Some((base, then)) => {
                let now = base.follow_anchor(then, pose);
                if Some(now) != self.flow.current() {
                    self.flow.restore(now);
                }
            }
        }
    }

    /// Writes the placement to `localStorage`: relative to the persistent anchor when there is
    /// one, else in reference-space coordinates (offered for confirmation next time).
    pub(super) fn persist_now(&mut self) {
        self.persist_due = None;
        let Some(storage) = local_storage() else {
            return;
        };
        let text = match (&self.anchor.relative, &self.anchor.handle) {
            (Some(rel), Some(handle)) => rel.to_json(Some(handle)),
            _ => match self.flow.state() {
                PlacementState::Placed(p) => p.to_json(None),
                _ => return,
            },
        };
        let _ = storage.set_item(&self.twin.storage_key, &text);
    }

    pub(super) fn flush_persist(&mut self) {
        if self.persist_due.is_some() {
            self.persist_now();
        }
    }

    // Alignment.

    pub(super) fn pick_model_point(&mut self, ray_pose: Mat4) {
        let Some(p) = self.flow.current() else { return };
        let ray = ray_of(ray_pose);
        let placement = p.pose() * self.twin.root;
        match self.twin.pick.pick_within(placement, ray, PICK_RANGE_M) {
            Some((_, t)) => {
                let world = ray.origin + ray.dir * t;
                let twin_point = p.pose().inverse().transform_point3(world);
                self.align_model_point(twin_point);
            }
            _ => self.align.error = Some("The aim point is not on the twin: aim at a corner or edge of the twin and try again.".into()),
        }
    }

    pub(super) fn align_model_point(&mut self, p: Vec3) {
        self.align.active = true;
        self.align.error = None;
        if self.align.expects_model() {
            if self.align.model.len() >= MAX_ALIGN_PAIRS {
                self.align.error = Some(format!(
                    "At most {MAX_ALIGN_PAIRS} point pairs: press Done."
                ));
                return;
            }
            self.align.model.push(p);
        } else if let Some(last) = self.align.model.last_mut() {
            // A second model point before its real point replaces the first.
            *last = p;
        }
    }

    pub(super) fn mark_real_point(&mut self, frame: &XrFrame, ref_space: &XrReferenceSpace) {
        if !self.align.active || self.align.expects_model() {
            self.align.active = true;
            self.align.error = Some(
                "Mark the point on the twin first, then the same point on the machine.".into(),
            );
            return;
        }
        let Some(hit) = self.reticle else {
            self.align.error = Some(
                "No surface under the ring: aim at the machine until the ring appears.".into(),
            );
            return;
        };
        self.align.real.push(hit.w_axis.truncate());
        self.align.error = None;
        if self.align.real.len() >= 2 {
            let pairs: Vec<PointPair> = self
                .align
                .model
                .iter()
                .zip(&self.align.real)
                .map(|(m, w)| PointPair {
                    model: *m,
                    world: *w,
                })
                .collect();
            match align::solve(&pairs) {
                Ok(result) => {
                    let placement = Placement::from_alignment(&result, self.twin.bounds);
                    self.flow.restore(placement);
                    self.placement_source = Some("aligned");
                    if (result.scale_ratio - 1.0).abs() > 0.05 {
                        self.align.error = Some(format!(
                            "Measured distances are {:.0}% of the model's: check the twin's units (model.unitScale) or the order of the points.",
                            result.scale_ratio * 100.0
                        ));
                    }
                    self.align.result = Some(result);
                    self.create_anchor(frame, ref_space, None);
                    self.persist_now();
                }
                Err(e) => self.align.error = Some(e.to_string()),
            }
        }
    }

    pub(super) fn select_part(&mut self, ray_pose: Mat4) {
        let ray = ray_of(ray_pose);
        let hit = self.twin.pick.pick_within(self.root, ray, PICK_RANGE_M);
        self.selected = hit.map(|(n, _)| n);
    }
}

impl ActiveSession {
    /// Applies an answer queued since the last frame.
    pub(super) fn apply_answer(&mut self, answer: SessionAnswer) {
        match answer {
            SessionAnswer::Anchor {
                generation,
                result,
                restored,
            } => self.anchor_arrived(generation, result, restored),
            SessionAnswer::PersistentHandle { generation, handle } => {
                if self.anchor.generation == generation {
                    self.anchor.handle = Some(handle);
                    self.persist_now();
                }
            }
            SessionAnswer::Visibility => {
                self.visibility = visibility_name(&self.session);
                self.hud_due = 0.0;
            }
        }
    }

    /// An anchor request finished: keep it (and ask for a persistent handle) if still wanted,
    /// delete it otherwise.
    fn anchor_arrived(
        &mut self,
        generation: u32,
        result: Result<XrAnchor, JsValue>,
        restored: bool,
    ) {
        let anchor = match result {
            Ok(a) => a,
            Err(e) => {
                if self.anchor.generation == generation {
                    self.anchor.status = "failed";
                    self.anchor.restoring = None;
                    self.last_error = Some(format!("anchor: {}", js_reason(&e)));
                }
                return;
            }
        };
        if self.anchor.generation != generation || self.ended.get() {
            let _ = anchor.delete();
            return;
        }
        if let Some(old) = self.anchor.anchor.replace(anchor.clone()) {
            // Only one anchor carries the twin; the one it replaces stops being tracked.
            let _ = old.delete();
        }
        self.anchor.base = None;
        if restored {
            return;
        }
        // Quest: a handle that restores this anchor in a later session.
        let persistable = Reflect::has(&anchor, &"requestPersistentHandle".into()).unwrap_or(false);
        if !persistable {
            return;
        }
        let Ok(promise) = anchor.request_persistent_handle() else {
            return;
        };
        let old = self.anchor.handle.take();
        let session = self.session.clone();
        let answers = self.answers.sender();
        spawn_local(async move {
            let Ok(handle) = JsFuture::from(promise).await else {
                return;
            };
            let Some(handle) = handle.as_string() else {
                return;
            };
            if let Some(old) = old.filter(|o| *o != handle) {
                // The twin moved to a new anchor: the old handle would restore a stale place.
                if let Ok(p) = session.ext().delete_persistent_anchor(&old) {
                    let _ = JsFuture::from(p).await;
                }
            }
            answer(
                &answers,
                SessionAnswer::PersistentHandle { generation, handle },
            );
        });
    }
}
