//! The VR walkthrough: pointers, teleport arcs, snap turns and part selection.

use super::*;

impl ActiveSession {
    pub(super) fn vr_update(
        &mut self,
        frame: &XrFrame,
        ref_space: &XrReferenceSpace,
        base_viewer: Mat4,
        inputs: Vec<XrInput>,
    ) {
        let to_moved = self.locomotion.inverse();
        let viewer = to_moved * base_viewer;
        self.viewer = Some(viewer);
        self.pointers.clear();
        for source in input_sources(&self.session) {
            if source.target_ray_mode() != web_sys::XrTargetRayMode::TrackedPointer {
                continue;
            }
            let Some(ray) = frame
                .ext()
                .pose(&source.target_ray_space(), ref_space.as_ref())
                .ok()
                .flatten()
                .and_then(|p| transform_matrix(&p.transform()))
            else {
                continue;
            };
            self.pointers.push(Pointer {
                right: is_right(&source),
                ray: to_moved * ray,
                stick: stick(&source).unwrap_or(Vec2::ZERO),
            });
        }
        let primary = self
            .pointers
            .iter()
            .find(|p| p.right)
            .or(self.pointers.first())
            .copied();
        let world_bounds = self
            .twin
            .bounds
            .transformed(self.flow.current().map_or(Mat4::IDENTITY, |p| p.pose()));
        let cast = |pose: Mat4| {
            let r = ray_of(pose);
            teleport::cast_arc(
                r.origin,
                r.dir,
                &ArcParams::default(),
                0.0,
                teleport::near_footprint(world_bounds, TELEPORT_RADIUS_M),
            )
        };
        self.arc = primary.map(|p| cast(p.ray));

        let mut offset = Mat4::IDENTITY;
        for input in inputs {
            match input {
                XrInput::Select { ray, .. } => {
                    self.selects += 1;
                    let pose = ray
                        .and_then(|m| views::mat4_from_webxr("select ray", &m).ok())
                        .map(|m| to_moved * m)
                        .or(primary.map(|p| p.ray))
                        .unwrap_or(viewer);
                    let r = ray_of(pose);
                    if let Some((node, _)) = self.twin.pick.pick_within(self.root, r, PICK_RANGE_M)
                    {
                        self.selected = if self.selected == Some(node) {
                            None
                        } else {
                            Some(node)
                        };
                        continue;
                    }
                    let arc = cast(pose);
                    if let (true, Some(landing)) = (arc.valid, arc.landing) {
                        let step = teleport::teleport_offset(viewer.w_axis.truncate(), landing);
                        offset *= step.matrix();
                        self.teleports += 1;
                    }
                }
                XrInput::Action(HudAction::Exit) => {
                    let _ = self.session.end();
                }
                _ => {}
            }
        }
        for p in &self.pointers {
            let hand = usize::from(p.right);
            if let Some(turn) = self.snap[hand].update(p.stick.x) {
                let step =
                    teleport::snap_turn_offset(viewer.w_axis.truncate(), turn, SNAP_TURN_STEP);
                offset *= step.matrix();
                self.snap_turns += 1;
            }
        }
        if offset != Mat4::IDENTITY {
            self.locomotion *= offset;
            let to_moved = self.locomotion.inverse();
            let viewer = to_moved * base_viewer;
            self.viewer = Some(viewer);
            // Controllers are drawn in the moved space too.
            let change = offset.inverse();
            for p in &mut self.pointers {
                p.ray = change * p.ray;
            }
            self.arc = self
                .pointers
                .iter()
                .find(|p| p.right)
                .or(self.pointers.first())
                .map(|p| cast(p.ray));
        }
    }
}
