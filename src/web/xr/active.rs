//! The running session's state ([`ActiveSession`]) and what it holds: anchors, alignment,
//! pointers, timing, the answers queued for its next frame, its input listeners, and the
//! WebXR helpers its frame uses.

use super::*;

/// Something the session learnt outside its frame, queued for the next one.
pub(super) enum SessionAnswer {
    /// An anchor request (placement or a restored persistent anchor) was answered.
    Anchor {
        generation: u32,
        result: Result<XrAnchor, JsValue>,
        restored: bool,
    },
    /// The runtime gave the anchor of `generation` a persistent handle.
    PersistentHandle { generation: u32, handle: String },
    /// The session's `visibilitychange` fired.
    Visibility,
}

impl SessionAnswer {
    /// Frees what an answer that will not be applied holds: a created anchor is deleted, so a
    /// late one does not stay tracked after its session or request is gone.
    pub(super) fn free(self) {
        if let SessionAnswer::Anchor { result: Ok(a), .. } = self {
            let _ = a.delete();
        }
    }
}

/// Queues `answer` for the session's next frame, or frees it when the session is gone.
pub(super) fn answer(to: &Sender<SessionAnswer>, answer: SessionAnswer) {
    if let Some(late) = to.push(answer).rejected() {
        late.free();
    }
}

/// Anchor bookkeeping for the placed AR twin.
#[derive(Default)]
pub(super) struct AnchorState {
    pub(super) anchor: Option<XrAnchor>,
    pub(super) status: &'static str,
    /// Increments with every anchor request; a late answer to an older request is discarded.
    pub(super) generation: u32,
    /// The placement when the anchor had pose `.1`: the twin follows the anchor from there.
    pub(super) base: Option<(Placement, Mat4)>,
    /// Last pose the anchor was located at.
    pub(super) last_pose: Option<Mat4>,
    /// The placement in the anchor's frame, for storage with the persistent handle.
    pub(super) relative: Option<Placement>,
    /// Persistent handle (Quest), once granted.
    pub(super) handle: Option<String>,
    /// Placement relative to an anchor being restored from a persistent handle.
    pub(super) restoring: Option<Placement>,
}

/// Precise alignment progress.
#[derive(Default)]
pub(super) struct AlignState {
    pub(super) active: bool,
    pub(super) model: Vec<Vec3>,
    pub(super) real: Vec<Vec3>,
    pub(super) result: Option<Alignment>,
    pub(super) error: Option<String>,
}

impl AlignState {
    pub(super) fn expects_model(&self) -> bool {
        self.model.len() <= self.real.len()
    }
}

/// A tracked controller or hand this frame (VR), in the moved space.
#[derive(Clone, Copy)]
pub(super) struct Pointer {
    pub(super) right: bool,
    pub(super) ray: Mat4,
    pub(super) stick: Vec2,
}

/// Rolling means over the last frames.
#[derive(Default)]
pub(super) struct Rolling {
    pub(super) frame: Vec<f64>,
    pub(super) view: Vec<f64>,
    pub(super) submit: Vec<f64>,
    pub(super) next: usize,
}

impl Rolling {
    pub(super) fn push(&mut self, frame: f64, view: f64, submit: f64) {
        if self.frame.len() < TIMING_WINDOW {
            self.frame.push(frame);
            self.view.push(view);
            self.submit.push(submit);
        } else {
            self.frame[self.next] = frame;
            self.view[self.next] = view;
            self.submit[self.next] = submit;
        }
        self.next = (self.next + 1) % TIMING_WINDOW;
    }

    /// Means of (frame, view, submit).
    pub(super) fn means(&self) -> (f64, f64, f64) {
        let mean = |v: &[f64]| {
            if v.is_empty() {
                0.0
            } else {
                v.iter().sum::<f64>() / v.len() as f64
            }
        };
        (mean(&self.frame), mean(&self.view), mean(&self.submit))
    }
}

/// A running session and everything it owns.
pub(super) struct ActiveSession {
    pub(super) app: Host,
    pub(super) session: XrSession,
    pub(super) mode: XrMode,
    pub(super) queue: InputQueue,
    pub(super) hud: Rc<RefCell<XrHud>>,
    pub(super) twin: Twin,
    pub(super) renderer: Option<Renderer>,
    pub(super) canvas: Option<HtmlCanvasElement>,
    pub(super) home: RendererHome,
    /// Where the canvas sat in the page, to put it back (an emulator moves it).
    pub(super) canvas_slot: Option<(web_sys::Node, Option<web_sys::Node>)>,
    pub(super) layer: Option<XrWebGlLayer>,
    pub(super) target: Option<XrTarget>,
    pub(super) ref_space: Option<XrReferenceSpace>,
    pub(super) ref_space_kind: &'static str,
    pub(super) hit_source: Option<XrHitTestSource>,
    pub(super) listeners: Vec<Listener>,
    pub(super) frame_callback: Option<Closure<dyn FnMut(f64, XrFrame)>>,
    pub(super) frame_handle: Option<u32>,
    /// Set by the session's `end` event (a flag, so the event never waits for a borrow).
    pub(super) ended: Rc<Cell<bool>>,
    /// Answers to the session's promises (anchors, persistent handles) and its visibility
    /// changes, applied at the start of its next frame.
    pub(super) answers: CommandQueue<SessionAnswer>,
    pub(super) running: bool,
    pub(super) path: Option<&'static str>,
    pub(super) blend_mode: Option<String>,
    pub(super) dom_overlay: Option<String>,
    pub(super) visibility: String,
    pub(super) tracking: &'static str,
    pub(super) frames: u64,
    pub(super) last_time: Option<f64>,
    pub(super) timing: Rolling,
    pub(super) last_frame: XrFrameStats,
    pub(super) framebuffer: Option<[u32; 2]>,
    pub(super) last_error: Option<String>,
    pub(super) hud_due: f64,
    pub(super) persist_due: Option<f64>,
    /// The app has not yet given this session's renderer the current labels and tints.
    pub(super) overlay_refresh: bool,
    pub(super) markers: Vec<MarkerVertex>,
    pub(super) root: Mat4,
    pub(super) viewer: Option<Mat4>,
    /// Vertical field of view and height (CSS px) of the first view, for gesture scaling.
    pub(super) view_fov: (f32, f32),
    // AR
    pub(super) flow: PlacementFlow,
    pub(super) placement_source: Option<&'static str>,
    pub(super) reticle: Option<Mat4>,
    pub(super) anchor: AnchorState,
    pub(super) offered: Option<Placement>,
    pub(super) align: AlignState,
    pub(super) dragging: Option<(bool, Vec3)>,
    /// A thumbstick was pressed last frame (headset AR: toggles alignment on the press).
    pub(super) stick_pressed: bool,
    pub(super) note: Option<String>,
    /// When the current note was first shown; notes disappear after a while.
    pub(super) note_shown: Option<(String, f64)>,
    // VR
    pub(super) locomotion: Mat4,
    pub(super) snap: [SnapTurnInput; 2],
    pub(super) pointers: Vec<Pointer>,
    pub(super) arc: Option<teleport::TeleportArc>,
    pub(super) teleports: u32,
    pub(super) snap_turns: u32,
    pub(super) selects: u32,
    pub(super) selected: Option<usize>,
}

/// Listeners for input events; each only queues.
pub(super) fn session_listeners(
    session: &XrSession,
    ref_space: &XrReferenceSpace,
    queue: &InputQueue,
) -> Result<Vec<Listener>, JsValue> {
    let mut out = Vec::new();
    {
        let q = queue.clone();
        let space: XrSpace = ref_space.clone().unchecked_into();
        out.push(Listener::new(session.as_ref(), "select", true, move |e| {
            let e: &XrInputSourceEvent = e.unchecked_ref();
            let source = e.input_source();
            // The event's frame is valid only now: read the ray pose here.
            let ray = e
                .frame()
                .ext()
                .pose(&source.target_ray_space(), &space)
                .ok()
                .flatten()
                .and_then(|p| transform_matrix(&p.transform()))
                .map(|m| m.to_cols_array());
            let kind = match source.target_ray_mode() {
                web_sys::XrTargetRayMode::Screen => SelectSource::Screen,
                web_sys::XrTargetRayMode::Gaze => SelectSource::Gaze,
                web_sys::XrTargetRayMode::TrackedPointer => SelectSource::Pointer,
                _ => SelectSource::Transient,
            };
            q.push(XrInput::Select {
                ray,
                source: kind,
                right: is_right(&source),
            });
        })?);
    }
    for (event, start) in [("squeezestart", true), ("squeezeend", false)] {
        let q = queue.clone();
        out.push(Listener::new(session.as_ref(), event, true, move |e| {
            let e: &XrInputSourceEvent = e.unchecked_ref();
            let right = is_right(&e.input_source());
            q.push(if start {
                XrInput::SqueezeStart { right }
            } else {
                XrInput::SqueezeEnd { right }
            });
        })?);
    }
    Ok(out)
}

pub(super) fn visibility_name(session: &XrSession) -> String {
    match session.visibility_state() {
        web_sys::XrVisibilityState::Visible => "visible",
        web_sys::XrVisibilityState::VisibleBlurred => "visible-blurred",
        web_sys::XrVisibilityState::Hidden => "hidden",
        _ => "visible",
    }
    .into()
}

pub(super) fn is_right(source: &web_sys::XrInputSource) -> bool {
    source.handedness() != web_sys::XrHandedness::Left
}

/// `xr-standard` gamepad button index of the thumbstick click.
pub(super) const STICK_BUTTON: u32 = 3;

/// Whether button `index` of the input source's gamepad is down.
pub(super) fn button_pressed(source: &web_sys::XrInputSource, index: u32) -> bool {
    // No `dyn_into`: an emulator's GamepadButton is not the browser's class (see xr_ffi).
    source.gamepad().is_some_and(|g| {
        let b = g.buttons().get(index);
        b.is_object() && b.unchecked_into::<web_sys::GamepadButton>().pressed()
    })
}

/// The thumbstick of an `xr-standard` gamepad (axes 2 and 3; touchpad-only pads use 0 and 1).
pub(super) fn stick(source: &web_sys::XrInputSource) -> Option<Vec2> {
    let axes = source.gamepad()?.axes();
    let get = |i: u32| axes.get(i).as_f64().unwrap_or(0.0) as f32;
    match axes.length() {
        n if n >= 4 => Some(Vec2::new(get(2), get(3))),
        n if n >= 2 => Some(Vec2::new(get(0), get(1))),
        _ => None,
    }
}

/// `XRRigidTransform.matrix` as a matrix, rejecting non-finite values.
pub(super) fn transform_matrix(t: &XrRigidTransform) -> Option<Mat4> {
    views::mat4_from_webxr("pose", &t.matrix()).ok()
}

/// An `XRRigidTransform` for `m` (rotation and translation only).
pub(super) fn rigid_transform(m: Mat4) -> Option<XrRigidTransform> {
    let (_, rotation, translation) = m.to_scale_rotation_translation();
    let position = web_sys::DomPointInit::new();
    position.set_x(f64::from(translation.x));
    position.set_y(f64::from(translation.y));
    position.set_z(f64::from(translation.z));
    position.set_w(1.0);
    let orientation = web_sys::DomPointInit::new();
    orientation.set_x(f64::from(rotation.x));
    orientation.set_y(f64::from(rotation.y));
    orientation.set_z(f64::from(rotation.z));
    orientation.set_w(f64::from(rotation.w));
    XrRigidTransform::new_with_position_and_orientation(&position, &orientation).ok()
}

/// The ray of a target-ray pose: its origin along its -Z axis.
pub(super) fn ray_of(pose: Mat4) -> Ray {
    Ray {
        origin: pose.w_axis.truncate(),
        dir: (-pose.z_axis.truncate()).normalize_or(Vec3::NEG_Z),
    }
}

/// Where the twin stands in VR: its front (+Z) towards the user, a step in front of them.
pub(super) fn vr_placement(bounds: Aabb) -> Placement {
    let depth = (bounds.max.z - bounds.min.z).max(0.0);
    let pivot = crate::xr::placement::pivot_for(bounds);
    Placement {
        position: Vec3::new(0.0, 0.0, -(depth * 0.5 + VR_STANDOFF_M)),
        yaw: 0.0,
        pivot,
        scale: ScaleMode::OneToOne,
    }
}
