//! WebXR bindings that web-sys 0.3.107 lacks: hit-test, anchors (with Quest's persistent
//! anchors), DOM overlay and a few session attributes. Everything WebXR that web-sys does have
//! is used from web-sys. (`XRGPUBinding` is not bound: see `xr.rs` for why sessions render
//! with WebGL2.)
//!
//! Two rules for code using these types:
//! - Never `dyn_into`/`dyn_ref` them; use `unchecked_into`/`unchecked_ref`. An emulator (IWER)
//!   supplies its own `XRHitTestSource`, `XRHitTestResult` and `XRAnchor` objects without
//!   replacing the browser's global classes, so an `instanceof` check fails on perfectly good
//!   objects. All methods are `structural` (called by name on the object) for the same reason.
//! - Every call that can throw is `catch`: a browser without the feature has no such method
//!   (calling `undefined` throws), and hit-test results throw when asked about a source the
//!   frame has no results for yet (a source created after the frame began).
//!
//! Session methods and attributes missing from `web_sys::XrSession`/`XrFrame` are declared on
//! duck-typed views ([`XrSessionExt`], [`XrFrameExt`]) reached through [`SessionExt::ext`] and
//! [`FrameExt::ext`], since methods cannot be added to web-sys's own types.

use js_sys::{Array, Object, Promise, Reflect};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{XrFrame, XrPose, XrRigidTransform, XrSession, XrSpace};

#[wasm_bindgen]
extern "C" {
    // ---------------------------------------------------------------------------------------
    // Session and frame extensions.

    /// An `XRSession`, seen with the members web-sys lacks. Obtain with [`SessionExt::ext`].
    #[wasm_bindgen(extends = Object, js_name = XRSession)]
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub type XrSessionExt;

    /// `XRSession.requestHitTestSource(options)` (hit-test module). Resolves to an
    /// [`XrHitTestSource`]; rejects when the session lacks the `hit-test` feature.
    #[wasm_bindgen(method, structural, catch, js_name = requestHitTestSource)]
    pub fn request_hit_test_source(
        this: &XrSessionExt,
        options: &XrHitTestOptionsInit,
    ) -> Result<Promise, JsValue>;

    /// `XRSession.requestHitTestSourceForTransientInput(options)`: hit tests along screen taps
    /// on a phone (input profile `"generic-touchscreen"`).
    #[wasm_bindgen(method, structural, catch, js_name = requestHitTestSourceForTransientInput)]
    pub fn request_hit_test_source_for_transient_input(
        this: &XrSessionExt,
        options: &XrTransientInputHitTestOptionsInit,
    ) -> Result<Promise, JsValue>;

    /// `XRSession.persistentAnchors` (Meta Quest): UUIDs of anchors persisted by this origin.
    /// `None` where persistence is not supported.
    #[wasm_bindgen(method, structural, getter, js_name = persistentAnchors)]
    pub fn persistent_anchors(this: &XrSessionExt) -> Option<Array>;

    /// `XRSession.restorePersistentAnchor(uuid)` (Meta Quest): resolves to an [`XrAnchor`] once
    /// the runtime has relocalised it, which happens during a later frame.
    #[wasm_bindgen(method, structural, catch, js_name = restorePersistentAnchor)]
    pub fn restore_persistent_anchor(this: &XrSessionExt, uuid: &str) -> Result<Promise, JsValue>;

    /// `XRSession.deletePersistentAnchor(uuid)` (Meta Quest).
    #[wasm_bindgen(method, structural, catch, js_name = deletePersistentAnchor)]
    pub fn delete_persistent_anchor(this: &XrSessionExt, uuid: &str) -> Result<Promise, JsValue>;

    /// `XRSession.updateRenderState(state)`, with the exception caught (an ended session, a
    /// layer from another session).
    #[wasm_bindgen(method, structural, catch, js_name = updateRenderState)]
    pub fn update_render_state(
        this: &XrSessionExt,
        state: &web_sys::XrRenderStateInit,
    ) -> Result<(), JsValue>;

    /// `XRSession.domOverlayState` (DOM overlay module); `None` when no overlay is active.
    #[wasm_bindgen(method, structural, getter, js_name = domOverlayState)]
    pub fn dom_overlay_state(this: &XrSessionExt) -> Option<XrDomOverlayState>;

    /// `XRSession.enabledFeatures`: which requested features were granted (optional features
    /// may be dropped). `None` on browsers that predate the attribute.
    #[wasm_bindgen(method, structural, getter, js_name = enabledFeatures)]
    pub fn enabled_features(this: &XrSessionExt) -> Option<Array>;

    /// `XRSession.environmentBlendMode`: `"opaque"`, `"alpha-blend"` (see-through AR: clear to
    /// transparent) or `"additive"`.
    #[wasm_bindgen(method, structural, getter, js_name = environmentBlendMode)]
    pub fn environment_blend_mode(this: &XrSessionExt) -> Option<String>;

    /// An `XRFrame`, seen with the members web-sys lacks. Obtain with [`FrameExt::ext`].
    #[wasm_bindgen(extends = Object, js_name = XRFrame)]
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub type XrFrameExt;

    /// `XRFrame.getViewerPose(referenceSpace)`, with the exception caught (web-sys's binding
    /// does not catch it; a frame used outside its callback throws).
    #[wasm_bindgen(method, structural, catch, js_name = getViewerPose)]
    pub fn viewer_pose(
        this: &XrFrameExt,
        reference_space: &XrSpace,
    ) -> Result<Option<web_sys::XrViewerPose>, JsValue>;

    /// `XRFrame.getPose(space, baseSpace)`, with the exception caught (a deleted anchor's space,
    /// a frame used outside its callback).
    #[wasm_bindgen(method, structural, catch, js_name = getPose)]
    pub fn pose(
        this: &XrFrameExt,
        space: &XrSpace,
        base_space: &XrSpace,
    ) -> Result<Option<XrPose>, JsValue>;

    /// `XRFrame.getHitTestResults(source)`: an array of [`XrHitTestResult`], nearest first.
    #[wasm_bindgen(method, structural, catch, js_name = getHitTestResults)]
    pub fn get_hit_test_results(
        this: &XrFrameExt,
        source: &XrHitTestSource,
    ) -> Result<Array, JsValue>;

    /// `XRFrame.getHitTestResultsForTransientInput(source)`: an array of
    /// `XRTransientInputHitTestResult` (each has `inputSource` and `results`).
    #[wasm_bindgen(method, structural, catch, js_name = getHitTestResultsForTransientInput)]
    pub fn get_hit_test_results_for_transient_input(
        this: &XrFrameExt,
        source: &XrTransientInputHitTestSource,
    ) -> Result<Array, JsValue>;

    /// `XRFrame.trackedAnchors` (an `XRAnchorSet`, set-like); `None` without the `anchors`
    /// feature. Throws outside the frame's callback.
    #[wasm_bindgen(method, structural, getter, catch, js_name = trackedAnchors)]
    pub fn tracked_anchors(this: &XrFrameExt) -> Result<Option<js_sys::Set>, JsValue>;

    /// `XRFrame.createAnchor(pose, space)`: resolves to an [`XrAnchor`] at `pose` in `space`.
    #[wasm_bindgen(method, structural, catch, js_name = createAnchor)]
    pub fn create_anchor(
        this: &XrFrameExt,
        pose: &XrRigidTransform,
        space: &XrSpace,
    ) -> Result<Promise, JsValue>;

    // ---------------------------------------------------------------------------------------
    // Hit test.

    /// `XRHitTestOptionsInit`: build with [`XrHitTestOptionsInit::new`].
    #[wasm_bindgen(extends = Object)]
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub type XrHitTestOptionsInit;

    /// Sets `space`: the ray starts at this space's origin along its -Z (viewer space for a
    /// screen-centre reticle, an input source's `targetRaySpace` for a controller).
    #[wasm_bindgen(method, structural, setter = space)]
    pub fn set_space(this: &XrHitTestOptionsInit, space: &XrSpace);

    /// Sets `entityTypes` (`"point"`, `"plane"`, `"mesh"`); the default is `["plane"]`.
    #[wasm_bindgen(method, structural, setter = entityTypes)]
    pub fn set_entity_types(this: &XrHitTestOptionsInit, types: &Array);

    /// `XRTransientInputHitTestOptionsInit`: build with
    /// [`XrTransientInputHitTestOptionsInit::new`].
    #[wasm_bindgen(extends = Object)]
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub type XrTransientInputHitTestOptionsInit;

    /// Sets `profile`, the input profile to follow (`"generic-touchscreen"` for screen taps).
    #[wasm_bindgen(method, structural, setter = profile)]
    pub fn set_profile(this: &XrTransientInputHitTestOptionsInit, profile: &str);

    /// `XRHitTestSource`: subscribe once, read results every frame, cancel when done.
    #[wasm_bindgen(extends = Object, js_name = XRHitTestSource)]
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub type XrHitTestSource;

    /// `XRHitTestSource.cancel()`: stops the runtime's ray casts for this source.
    #[wasm_bindgen(method, structural, catch)]
    pub fn cancel(this: &XrHitTestSource) -> Result<(), JsValue>;

    /// `XRTransientInputHitTestSource`.
    #[wasm_bindgen(extends = Object, js_name = XRTransientInputHitTestSource)]
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub type XrTransientInputHitTestSource;

    /// `XRTransientInputHitTestSource.cancel()`.
    #[wasm_bindgen(method, structural, catch)]
    pub fn cancel(this: &XrTransientInputHitTestSource) -> Result<(), JsValue>;

    /// `XRHitTestResult`: one surface the ray met this frame.
    #[wasm_bindgen(extends = Object, js_name = XRHitTestResult)]
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub type XrHitTestResult;

    /// `XRHitTestResult.getPose(baseSpace)`: the hit in `base_space`; its +Y axis is the
    /// surface normal. Throws outside the frame's callback.
    #[wasm_bindgen(method, structural, catch, js_name = getPose)]
    pub fn get_pose(
        this: &XrHitTestResult,
        base_space: &XrSpace,
    ) -> Result<Option<XrPose>, JsValue>;

    /// `XRHitTestResult.createAnchor()`: resolves to an [`XrAnchor`] at the hit (in a later
    /// frame); needs the `anchors` feature.
    #[wasm_bindgen(method, structural, catch, js_name = createAnchor)]
    pub fn create_anchor(this: &XrHitTestResult) -> Result<Promise, JsValue>;

    // ---------------------------------------------------------------------------------------
    // Anchors.

    /// `XRAnchor`: a pose the runtime keeps fixed to the real world as its map improves.
    #[wasm_bindgen(extends = Object, js_name = XRAnchor)]
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub type XrAnchor;

    /// `XRAnchor.anchorSpace`: locate with `XRFrame.getPose(anchorSpace, refSpace)` each
    /// frame. Throws once the anchor was deleted.
    #[wasm_bindgen(method, structural, getter, catch, js_name = anchorSpace)]
    pub fn anchor_space(this: &XrAnchor) -> Result<XrSpace, JsValue>;

    /// `XRAnchor.delete()`: stops tracking.
    #[wasm_bindgen(method, structural, catch)]
    pub fn delete(this: &XrAnchor) -> Result<(), JsValue>;

    /// `XRAnchor.requestPersistentHandle()` (Meta Quest): resolves to a UUID string that
    /// [`XrSessionExt::restore_persistent_anchor`] accepts in a later session.
    #[wasm_bindgen(method, structural, catch, js_name = requestPersistentHandle)]
    pub fn request_persistent_handle(this: &XrAnchor) -> Result<Promise, JsValue>;

    // ---------------------------------------------------------------------------------------
    // DOM overlay.

    /// `XRDOMOverlayState`.
    #[wasm_bindgen(extends = Object, js_name = XRDOMOverlayState)]
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub type XrDomOverlayState;

    /// `XRDOMOverlayState.type`: `"screen"` (phones), `"floating"` or `"head-locked"`.
    #[wasm_bindgen(method, structural, getter, js_name = "type")]
    pub fn overlay_type(this: &XrDomOverlayState) -> String;
}

/// Reaches the members of `XRSession` that web-sys lacks.
pub trait SessionExt {
    /// This session as an [`XrSessionExt`].
    fn ext(&self) -> &XrSessionExt;
}

impl SessionExt for XrSession {
    fn ext(&self) -> &XrSessionExt {
        self.unchecked_ref()
    }
}

/// Reaches the members of `XRFrame` that web-sys lacks.
pub trait FrameExt {
    /// This frame as an [`XrFrameExt`].
    fn ext(&self) -> &XrFrameExt;
}

impl FrameExt for XrFrame {
    fn ext(&self) -> &XrFrameExt {
        self.unchecked_ref()
    }
}

impl XrHitTestOptionsInit {
    /// Options casting from `space` (entity types left at the runtime's default).
    pub fn new(space: &XrSpace) -> XrHitTestOptionsInit {
        let init: XrHitTestOptionsInit = Object::new().unchecked_into();
        init.set_space(space);
        init
    }
}

impl XrTransientInputHitTestOptionsInit {
    /// Options following transient inputs of `profile` (e.g. `"generic-touchscreen"`).
    pub fn new(profile: &str) -> XrTransientInputHitTestOptionsInit {
        let init: XrTransientInputHitTestOptionsInit = Object::new().unchecked_into();
        init.set_profile(profile);
        init
    }
}

impl XrSessionExt {
    /// Whether the session was granted `feature` (e.g. `"hit-test"`, `"anchors"`). Without
    /// `enabledFeatures` (older browsers) the answer is unknown: `None`.
    pub fn has_feature(&self, feature: &str) -> Option<bool> {
        self.enabled_features()
            .map(|list| list.includes(&JsValue::from_str(feature), 0))
    }
}

/// Sets `XRSessionInit.domOverlay = { root }` (web-sys has no setter). Add `"dom-overlay"` to
/// the optional features as well; the browser shows `root` over the camera view on phones.
pub fn set_dom_overlay_root(
    init: &web_sys::XrSessionInit,
    root: &web_sys::Element,
) -> Result<(), JsValue> {
    let overlay = Object::new();
    Reflect::set(&overlay, &JsValue::from_str("root"), root)?;
    Reflect::set(init, &JsValue::from_str("domOverlay"), &overlay)?;
    Ok(())
}

/// Awaits a promise from one of the calls above and casts its value without an `instanceof`
/// check (see the module notes).
pub async fn resolve<T: JsCast>(promise: Promise) -> Result<T, JsValue> {
    Ok(JsFuture::from(promise).await?.unchecked_into())
}

/// `session.requestHitTestSource({ space })`, awaited.
pub async fn request_hit_test_source(
    session: &XrSession,
    space: &XrSpace,
) -> Result<XrHitTestSource, JsValue> {
    let promise = session
        .ext()
        .request_hit_test_source(&XrHitTestOptionsInit::new(space))?;
    resolve(promise).await
}

/// This frame's hit results for `source`, nearest first; empty when the frame has none for it
/// (e.g. the source is newer than the frame) rather than an error, since that is routine.
pub fn hit_test_results(frame: &XrFrame, source: &XrHitTestSource) -> Vec<XrHitTestResult> {
    match frame.ext().get_hit_test_results(source) {
        Ok(list) => list.iter().map(JsCast::unchecked_into).collect(),
        Err(_) => Vec::new(),
    }
}
