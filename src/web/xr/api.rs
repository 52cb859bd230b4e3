//! `window.twinlens.xr`: the console and test hooks that drive XR.

use super::*;

/// Adds `xr` to the `window.twinlens` object: `enter(mode)`, `exit()`, `select()`,
/// `action(name)`, `markModelPoint([x, y, z])`, `rotate(radians)`, `nudge(right, forward)`,
/// `setTabletop(bool)`. Tests and the console drive XR with them; `stats().xr` reports back.
/// `page` finds the page once it exists.
pub(in crate::web) fn install_api(api: &Object, page: fn() -> Option<Host>) -> Result<(), JsValue> {
    let xr = Object::new();
    let app = page;
    let queue = move || with_controller(&page()?, |c| c.queue.clone());
    let set = |name: &str, f: JsValue| Reflect::set(&xr, &name.into(), &f);

    let enter_fn = Closure::<dyn Fn(JsValue)>::new(move |mode: JsValue| {
        let mode = match mode.as_string().as_deref() {
            Some("immersive-vr") | Some("vr") => XrMode::Vr,
            _ => XrMode::Ar,
        };
        if let Some(app) = app() {
            enter(&app, mode);
        }
    });
    set("enter", enter_fn.into_js_value())?;
    let exit_fn = Closure::<dyn Fn()>::new(move || {
        if let Some(app) = app() {
            exit(&app);
        }
    });
    set("exit", exit_fn.into_js_value())?;
    let select_fn = Closure::<dyn Fn()>::new(move || {
        if let Some(q) = queue() {
            q.push(XrInput::Select {
                ray: None,
                source: SelectSource::Api,
                right: true,
            });
        }
    });
    set("select", select_fn.into_js_value())?;
    let action_fn = Closure::<dyn Fn(String) -> bool>::new(move |name: String| {
        let (Some(action), Some(q)) = (HudAction::parse(&name), queue()) else {
            return false;
        };
        q.push(XrInput::Action(action));
        true
    });
    set("action", action_fn.into_js_value())?;
    let model_point = Closure::<dyn Fn(Vec<f32>) -> bool>::new(move |p: Vec<f32>| {
        let (Ok(p), Some(q)) = (<[f32; 3]>::try_from(p.as_slice()), queue()) else {
            return false;
        };
        q.push(XrInput::ModelPoint(p));
        true
    });
    set("markModelPoint", model_point.into_js_value())?;
    let rotate = Closure::<dyn Fn(f32)>::new(move |r: f32| {
        if let Some(q) = queue() {
            q.push(XrInput::Rotate(r));
        }
    });
    set("rotate", rotate.into_js_value())?;
    let nudge = Closure::<dyn Fn(f32, f32)>::new(move |r: f32, f: f32| {
        if let Some(q) = queue() {
            q.push(XrInput::Nudge(r, f));
        }
    });
    set("nudge", nudge.into_js_value())?;
    let tabletop = Closure::<dyn Fn(bool)>::new(move |t: bool| {
        if let Some(q) = queue() {
            q.push(XrInput::SetTabletop(t));
        }
    });
    set("setTabletop", tabletop.into_js_value())?;
    Reflect::set(api, &"xr".into(), &xr)?;
    Ok(())
}
