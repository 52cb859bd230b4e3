//! Starting and ending sessions: the support check, `requestSession` and the set-up that
//! follows it (renderer, layer, reference spaces, hit-test source), and the Exit path.

use super::*;

/// Checks `isSessionSupported` for both modes; the answer shows the buttons or the reason.
pub(super) fn check_support(to: Sender<ControllerEvent>, wake: Rc<dyn Fn()>) {
    spawn_local(async move {
        let support = probe_support().await;
        notify(&to, &wake, ControllerEvent::Support(support));
    });
}

pub(super) async fn probe_support() -> SupportStats {
    let secure = web_sys::window().is_some_and(|w| w.is_secure_context());
    let Some(system) = xr_system() else {
        let reason = if secure {
            "AR and VR are not available: this browser has no WebXR. Open the page in Chrome on an \
             ARCore-capable Android phone for AR, or in the Meta Quest Browser for AR and VR."
        } else {
            "AR and VR need a secure page, and this one was opened over plain http from another \
             device, so the browser hides WebXR. Start the server with `twinlens serve --https \
             --host 0.0.0.0` and open the https:// address it prints (accept its self-signed \
             certificate once)."
        };
        return SupportStats {
            checked: true,
            reason: Some(reason.into()),
            ..Default::default()
        };
    };
    let ar = is_supported(&system, web_sys::XrSessionMode::ImmersiveAr).await;
    let vr = is_supported(&system, web_sys::XrSessionMode::ImmersiveVr).await;
    let blocked = ar.as_ref().err().or(vr.as_ref().err()).cloned();
    let (ar, vr) = (ar.unwrap_or(false), vr.unwrap_or(false));
    let reason = match (ar, vr, blocked) {
        (false, false, Some(why)) => Some(format!(
            "AR and VR are blocked on this page ({why}); open the viewer directly rather than \
             inside a frame, or allow xr-spatial-tracking for it."
        )),
        (false, false, None) => Some(
            "AR and VR are not available: this browser has WebXR but reports no AR or VR device. \
             AR needs Chrome on an ARCore-capable Android phone; VR needs a headset (Meta Quest \
             Browser, or a desktop browser with a connected headset)."
                .into(),
        ),
        _ => None,
    };
    SupportStats {
        checked: true,
        ar,
        vr,
        reason,
        webgpu_binding: web_sys::window()
            .is_some_and(|w| Reflect::has(&w, &"XRGPUBinding".into()).unwrap_or(false)),
    }
}

/// `isSessionSupported(mode)`; an error (e.g. blocked by permissions policy) in words.
pub(super) async fn is_supported(
    system: &web_sys::XrSystem,
    mode: web_sys::XrSessionMode,
) -> Result<bool, String> {
    let promise: Promise = JsValue::from(system.is_session_supported(mode)).unchecked_into();
    JsFuture::from(promise)
        .await
        .map(|v| v.as_bool().unwrap_or(false))
        .map_err(|e| js_reason(&e))
}

/// The session's input sources, whatever array type the runtime uses.
pub(super) fn input_sources(session: &XrSession) -> Vec<web_sys::XrInputSource> {
    let list = session.input_sources();
    (0..list.length()).filter_map(|i| list.get(i)).collect()
}

/// Starts a session of `mode` (the entry buttons and `window.twinlens.xr.enter`).
pub(super) fn enter(app: &Host, mode: XrMode) {
    let request = with_host(app, |h| {
        let ready = h.ready();
        let c = h.xr_controller()?;
        match c.begin_request(mode, ready) {
            Ok(p) => Some(p),
            Err(message) => {
                c.report(format!("cannot start {}: {message}", mode.as_str()));
                None
            }
        }
    })
    .flatten();
    let Some(request) = request else { return };
    let Some((to, wake)) = with_controller(app, |c| (c.events.sender(), c.wake.clone())) else {
        return;
    };
    let app = app.clone();
    spawn_local(async move {
        if let Err(message) = start_session(&app, mode, request).await {
            notify(&to, &wake, ControllerEvent::StartFailed { mode, message });
        }
    });
}

/// Ends the running session (the HUD's Exit, `window.twinlens.xr.exit`).
pub(super) fn exit(app: &Host) {
    let session = with_controller(app, |c| {
        c.session
            .as_ref()
            .and_then(|s| s.try_borrow().ok().map(|s| s.session.clone()))
    })
    .flatten();
    if let Some(session) = session {
        // The `end` event does the rest; a session that already ended rejects harmlessly.
        let _ = session.end();
    }
}

/// A promise that resolves after `ms` milliseconds.
pub(super) fn delay(ms: i32) -> Promise {
    Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    })
}

/// Takes the renderer the session draws with: the page's (WebGL2 page) or the XR renderer
/// (WebGPU page), creating that one at the first session.
pub(super) async fn acquire_renderer(
    app: &Host,
) -> Result<(Renderer, HtmlCanvasElement, RendererHome), String> {
    let backend = with_host(app, |h| h.backend()).flatten();
    if backend == Some("webgl") {
        let taken = with_host(app, |h| h.take_renderer_for_xr()).flatten();
        let (renderer, canvas) = taken.ok_or("the renderer is not ready")?;
        return Ok((renderer, canvas, RendererHome::App));
    }
    if let Some(Some((r, c))) = with_controller(app, |c| c.xr_renderer.take()) {
        return Ok((r, c, RendererHome::XrCanvas));
    }
    let twin = with_controller(app, |c| c.twin.clone())
        .flatten()
        .ok_or("no twin loaded")?;
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let canvas: HtmlCanvasElement = document
        .create_element("canvas")
        .map_err(|e| js_reason(&e))?
        .unchecked_into();
    canvas.set_id("twin-xr-canvas");
    canvas.set_attribute("aria-hidden", "true").ok();
    let (w, h) = web_sys::window()
        .map(|w| {
            let dpr = w.device_pixel_ratio();
            let px = |v: Result<JsValue, JsValue>| {
                (v.ok().and_then(|v| v.as_f64()).unwrap_or(800.0) * dpr).round() as u32
            };
            (px(w.inner_width()), px(w.inner_height()))
        })
        .unwrap_or((800, 600));
    canvas.set_width(w.max(1));
    canvas.set_height(h.max(1));
    if let Some(body) = document.body() {
        body.append_child(&canvas).map_err(|e| js_reason(&e))?;
    }
    let mut renderer = match Renderer::new(canvas.clone(), BackendChoice::WebGl).await {
        Ok(r) => r,
        Err(e) => {
            canvas.remove();
            return Err(format!("the XR renderer (WebGL2) could not start: {e}"));
        }
    };
    renderer.set_small_part_px(crate::web::dom::small_part_px());
    renderer.set_model(twin.model.clone(), twin.root);
    Ok((renderer, canvas, RendererHome::XrCanvas))
}

/// Sets the session up after the browser granted it: renderer, layer, spaces, listeners and
/// the frame loop.
pub(super) async fn start_session(
    app: &Host,
    mode: XrMode,
    request: Promise,
) -> Result<(), String> {
    let session: XrSession = JsFuture::from(request)
        .await
        .map_err(|e| format!("the browser refused it ({})", js_reason(&e)))?
        .unchecked_into();
    let (queue, hud, twin) =
        with_controller(app, |c| (c.queue.clone(), c.hud.clone(), c.twin.clone()))
            .ok_or("the page is gone")?;
    let Some(twin) = twin else {
        let _ = session.end();
        return Err("no twin loaded".into());
    };
    queue.clear();
    let state = Rc::new(RefCell::new(ActiveSession::new(
        app.clone(),
        session.clone(),
        mode,
        queue,
        hud,
        twin,
    )));
    // The end listener goes first, so a session ended during the set-up below is noticed.
    {
        let ended = state.borrow().ended.clone();
        let (to, wake) = with_controller(app, |c| (c.events.sender(), c.wake.clone()))
            .ok_or("the page is gone")?;
        let end = Listener::new(session.as_ref(), "end", true, move |_| {
            ended.set(true);
            // Not here: this closure belongs to the session being torn down. The page's next
            // frame does it.
            notify(&to, &wake, ControllerEvent::SessionEnded);
        })
        .map_err(|e| js_reason(&e))?;
        state.borrow_mut().listeners.push(end);
    }
    with_controller(app, |c| {
        c.session = Some(state.clone());
        c.sessions += 1;
    });

    let setup = async {
        let (renderer, canvas, home) = acquire_renderer(app).await?;
        state
            .borrow_mut()
            .attach_renderer(renderer, canvas.clone(), home);
        if home == RendererHome::XrCanvas {
            let _ = canvas.class_list().add_1("active");
        }
        let gl: WebGl2RenderingContext = canvas
            .get_context("webgl2")
            .map_err(|e| js_reason(&e))?
            .ok_or("the canvas has no WebGL2 context")?
            .unchecked_into();
        let compatible = Promise::race(&Array::of2(
            &gl.make_xr_compatible(),
            &delay(MAKE_XR_COMPATIBLE_TIMEOUT_MS),
        ));
        if let Err(e) = JsFuture::from(compatible).await {
            // Continue: the layer constructor reports a real incompatibility.
            crate::web::shown::warn(&format!(
                "twinlens XR: makeXRCompatible failed: {}",
                js_reason(&e)
            ));
        }
        check_running(&state)?;
        let init = XrWebGlLayerInit::new();
        init.set_alpha(mode == XrMode::Ar);
        // Depth and anti-aliasing happen offscreen (render::xr_target); the layer needs neither.
        init.set_depth(false);
        init.set_stencil(false);
        init.set_antialias(false);
        let layer =
            XrWebGlLayer::new_with_web_gl2_rendering_context_and_layer_init(&session, &gl, &init)
                .map_err(|e| format!("no XR layer for the WebGL2 context ({})", js_reason(&e)))?;
        let render_state = XrRenderStateInit::new();
        render_state.set_base_layer(Some(&layer));
        render_state.set_depth_near(0.05);
        render_state.set_depth_far(1000.0);
        session
            .ext()
            .update_render_state(&render_state)
            .map_err(|e| format!("updateRenderState failed ({})", js_reason(&e)))?;

        let (space, kind) = match JsFuture::from(Promise::from(JsValue::from(
            session.request_reference_space(XrReferenceSpaceType::LocalFloor),
        )))
        .await
        {
            Ok(s) => (s, "local-floor"),
            Err(_) => (
                JsFuture::from(Promise::from(JsValue::from(
                    session.request_reference_space(XrReferenceSpaceType::Local),
                )))
                .await
                .map_err(|e| format!("no reference space ({})", js_reason(&e)))?,
                "local",
            ),
        };
        check_running(&state)?;
        let ref_space: XrReferenceSpace = space.unchecked_into();
        let mut hit_source = None;
        if mode == XrMode::Ar {
            let viewer: XrReferenceSpace = JsFuture::from(Promise::from(JsValue::from(
                session.request_reference_space(XrReferenceSpaceType::Viewer),
            )))
            .await
            .map_err(|e| format!("no viewer space ({})", js_reason(&e)))?
            .unchecked_into();
            hit_source = match request_hit_test_source(&session, viewer.as_ref()).await {
                Ok(s) => Some(s),
                Err(e) => {
                    crate::web::shown::warn(&format!(
                        "twinlens XR: no hit-test source: {}",
                        js_reason(&e)
                    ));
                    None
                }
            };
            check_running(&state)?;
        }
        ActiveSession::start(&state, layer, ref_space, kind, hit_source)?;
        Ok::<(), String>(())
    };
    let result = setup.await;
    with_controller(app, |c| {
        c.starting = false;
        c.hud.borrow().set_entry_busy(c.session.is_some());
    });
    if let Err(message) = result {
        let still_ours = with_controller(app, |c| {
            c.session.as_ref().is_some_and(|s| Rc::ptr_eq(s, &state))
        })
        .unwrap_or(false);
        if still_ours {
            state.borrow_mut().last_error = Some(message.clone());
            // Its `end` event queues the teardown (or already has, if it ended first).
            let _ = session.end();
        }
        return Err(message);
    }
    Ok(())
}

/// Fails the set-up once the session has ended under it.
pub(super) fn check_running(state: &Rc<RefCell<ActiveSession>>) -> Result<(), String> {
    if state.borrow().ended.get() {
        Err("the session ended while starting".into())
    } else {
        Ok(())
    }
}
