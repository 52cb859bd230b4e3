//! Web glue: the page entry point, loading the twin with progress, and `window.twinlens`.
//! Everything browser-specific lives under this module; the core stays platform-free.

mod app;
mod dom;
mod fetch;
mod input;
mod live;
pub(crate) mod shown;
mod stats;
mod xr;
mod xr_ffi;
mod xr_hud;

use std::cell::RefCell;
use std::rc::Rc;

use glam::Mat4;
use serde::Serialize;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use crate::manifest::{MAX_MANIFEST_BYTES, Manifest};
use crate::model::{MAX_RESOURCE_BYTES, Resources, load_model, required_resources};
use crate::redact::Secrets;
use crate::render::{BackendChoice, Renderer};
use crate::trust::{CONFIG_FILE, Resource, SiteConfig};
use app::{App, SharedApp};
use dom::{StatusLine, query_param, resolve_url};
use fetch::{FetchError, MAX_DOWNLOAD_BYTES, fetch, fetch_bytes};
use stats::{SharedStats, Stats};
use xr::XrHost as _;

/// Largest site configuration the page reads.
const MAX_CONFIG_BYTES: usize = 64 * 1024;

thread_local! {
    /// The page's viewer; it lives as long as the page (its closures are registered with the
    /// browser, which may call them at any time).
    static APP: RefCell<Option<SharedApp>> = const { RefCell::new(None) };
}

/// The manifest shown when the page names none.
const DEFAULT_MANIFEST: &str = "demo/pump-skid.twin.json";

/// Page entry point, run by the generated JS once the wasm module is instantiated.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
    let stats: SharedStats = Rc::new(RefCell::new(Stats {
        state: "loading",
        ..Default::default()
    }));
    if let Err(e) = install_api(&stats) {
        web_sys::console::error_2(&"twinlens: cannot install window.twinlens".into(), &e);
    }
    wasm_bindgen_futures::spawn_local(async move {
        let Some(document) = web_sys::window().and_then(|w| w.document()) else {
            return;
        };
        let status = StatusLine::find(&document);
        if let Err(message) = run(&document, stats.clone(), status.clone()).await {
            let mut s = stats.borrow_mut();
            s.state = "error";
            s.last_error = Some(message.clone());
            status.error(&message);
        }
    });
}

/// Runs `f` on the app when it exists and is not busy.
fn with_app(f: impl FnOnce(&App)) {
    APP.with(|slot| {
        if let Ok(slot) = slot.try_borrow()
            && let Some(app) = slot.as_ref()
            && let Ok(a) = app.try_borrow()
        {
            f(&a);
        }
    });
}

/// The page's app, as XR holds it.
fn xr_host() -> Option<xr::Host> {
    APP.with(|slot| {
        let app: Rc<RefCell<dyn xr::XrHost>> = slot.borrow().as_ref()?.clone();
        Some(Rc::downgrade(&app))
    })
}

/// `window.twinlens = { stats() }`: the test and operations hook documented in README.
fn install_api(stats: &SharedStats) -> Result<(), JsValue> {
    let window = web_sys::window().ok_or("no window")?;
    let api = js_sys::Object::new();
    let shared = stats.clone();
    let stats_fn = Closure::<dyn Fn() -> JsValue>::new(move || {
        let serializer = serde_wasm_bindgen::Serializer::json_compatible();
        let mut stats = shared.borrow().clone();
        // Readings are computed on request: a page with 10,000 sensors pays only when asked.
        with_app(|a| {
            stats.timings = a.timing_report();
            stats.labels = a.label_stats();
            if let Some((connection, readings)) = a.live_stats() {
                stats.connection = Some(connection);
                stats.readings = readings;
            }
            stats.xr = a.xr_stats();
        });
        let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
        stats.memory.wasm_bytes = memory
            .buffer()
            .unchecked_into::<js_sys::ArrayBuffer>()
            .byte_length() as u64;
        // Every text in it passes the secrets gate, whatever produced it.
        match serde_json::to_value(&stats) {
            Ok(mut value) => {
                scrub_json(&mut value);
                value.serialize(&serializer).unwrap_or(JsValue::NULL)
            }
            Err(_) => JsValue::NULL,
        }
    });
    js_sys::Reflect::set(&api, &"stats".into(), &stats_fn.into_js_value())?;
    let reset = Closure::<dyn Fn()>::new(|| {
        APP.with(|slot| {
            if let Some(app) = slot.borrow().as_ref()
                && let Ok(mut a) = app.try_borrow_mut()
            {
                a.reset_timings();
            }
        })
    });
    js_sys::Reflect::set(&api, &"resetTimings".into(), &reset.into_js_value())?;
    js_sys::Reflect::set(&api, &"version".into(), &env!("CARGO_PKG_VERSION").into())?;
    xr::install_api(&api, xr_host)?;
    js_sys::Reflect::set(&window, &"twinlens".into(), &api)?;
    Ok(())
}

/// Starts the renderer, loads the twin and shows it; any failure comes back as the message the
/// page shows.
async fn run(
    document: &web_sys::Document,
    stats: SharedStats,
    status: StatusLine,
) -> Result<(), String> {
    let canvas: web_sys::HtmlCanvasElement = document
        .get_element_by_id("twin-canvas")
        .and_then(|e| e.dyn_into().ok())
        .ok_or(
            "the page has no <canvas id=\"twin-canvas\">; use the index.html shipped with twinlens",
        )?;
    let choice = match query_param("backend").as_deref() {
        None | Some("auto") => BackendChoice::Auto,
        Some("webgpu") => BackendChoice::WebGpu,
        Some("webgl") | Some("webgl2") => BackendChoice::WebGl,
        Some(other) => {
            return Err(format!(
                "?backend={other} is not a backend: use webgpu, webgl or leave it out"
            ));
        }
    };
    let app = App::new(canvas.clone(), stats.clone(), status.clone())
        .map_err(|e| format!("cannot start the viewer: {}", fetch::js_reason(&e)))?;
    APP.with(|slot| *slot.borrow_mut() = Some(app.clone()));
    status.info("Starting the GPU renderer…");
    let renderer = Renderer::new(canvas, choice)
        .await
        .map_err(|e| e.to_string())?;
    App::set_renderer(&app, renderer);
    load_twin(&app, &stats, &status).await?;
    Ok(())
}

async fn load_twin(
    app: &SharedApp,
    stats: &SharedStats,
    status: &StatusLine,
) -> Result<(), String> {
    let page = web_sys::window()
        .and_then(|w| w.location().href().ok())
        .unwrap_or_default();
    let site = site_config(&page, status).await?;
    // Whatever goes wrong later, the page's own address keeps its secrets to itself.
    let mut secrets = Secrets::default();
    secrets.add_from_url(&page);
    shown::remember(&secrets);
    let mut live_refused = None;
    let (model_url, manifest) = match query_param("model") {
        Some(model) => (resolve_url(&model, &page), None),
        None => {
            let url = resolve_url(
                &query_param("manifest").unwrap_or(DEFAULT_MANIFEST.into()),
                &page,
            );
            site.check(Resource::Manifest, &url, &page)
                .map_err(|e| e.to_string())?;
            status.info(&format!("Loading twin manifest {url}…"));
            let bytes = fetch_bytes(
                &url,
                MAX_MANIFEST_BYTES,
                allowed(&site, Resource::Manifest, &page),
                |_, _| {},
            )
            .await
            .map_err(|e| format!("twin manifest: {e}"))?;
            let manifest = Manifest::parse(&bytes, &url).map_err(|e| e.to_string())?;
            shown::remember(&manifest.secrets());
            (resolve_url(&manifest.model.url, &url), Some(manifest))
        }
    };
    site.check(Resource::Model, &model_url, &page)
        .map_err(|e| e.to_string())?;
    // Live data connects while the model downloads, so values are there at first frame.
    if let Some(m) = &manifest
        && let Some(source) = &m.source
    {
        let socket = live::ws_url(&source.url, &page);
        match site.check(Resource::Live, &socket, &page) {
            Ok(()) => App::start_live(app, m, &page),
            Err(e) => live_refused = Some(format!("live data: {e}")),
        }
    }

    let progress = |done: u64, total: u64| {
        {
            let mut s = stats.borrow_mut();
            s.bytes_loaded = done;
            s.bytes_total = total;
        }
        let mb = |b: u64| b as f64 / 1_048_576.0;
        let text = if total > 0 {
            format!(
                "Loading model {model_url}: {:.1} of {:.1} MB ({:.0}%)",
                mb(done),
                mb(total),
                done as f64 * 100.0 / total as f64
            )
        } else {
            format!("Loading model {model_url}: {:.1} MB", mb(done))
        };
        status.info(&text);
    };
    // The file and its resources are dropped once parsed, before the upload allocates: wasm
    // memory never shrinks, so what is alive at once sets its size.
    let model = {
        let bytes = fetch_bytes(
            &model_url,
            MAX_DOWNLOAD_BYTES,
            allowed(&site, Resource::Model, &page),
            progress,
        )
        .await
        .map_err(|e| format!("model: {e}"))?;
        let needed = required_resources(&bytes, &model_url).map_err(|e| e.to_string())?;
        let mut resources = Resources::new();
        // All external files together share one budget; each download gets what is left.
        let mut left = MAX_RESOURCE_BYTES as usize;
        for uri in needed {
            let url = resolve_url(&uri, &model_url);
            site.check(Resource::Model, &url, &page)
                .map_err(|e| format!("model resource: {e}"))?;
            status.info(&format!("Loading {url}…"));
            let data = fetch_bytes(
                &url,
                left,
                allowed(&site, Resource::Model, &page),
                |_, _| {},
            )
            .await
            .map_err(|e| match e {
                FetchError::TooLarge { limit, .. } if limit < MAX_DOWNLOAD_BYTES => format!(
                    "model resource: {url}: the model's external files together exceed \
                         {MAX_RESOURCE_BYTES} bytes, the most the page downloads for one model \
                         (pack it as a compressed .glb)"
                ),
                e => format!("model resource: {e}"),
            })?;
            left = left.saturating_sub(data.len());
            resources.insert(uri, data);
        }
        status.info("Preparing model…");
        // One CPU copy, shared by the inline view's picking and the XR session.
        Rc::new(load_model(&bytes, &model_url, &resources).map_err(|e| e.to_string())?)
    };
    if model.bounds().is_none() {
        return Err(format!("{model_url}: the model has no triangles to show"));
    }

    let placement = manifest
        .as_ref()
        .map(|m| m.model.placement())
        .unwrap_or(Mat4::IDENTITY);
    let warnings = App::show_model(app, model.clone(), placement);
    if let Some(m) = &manifest {
        App::set_twin(app, m, &model, placement);
    }
    let sensors = manifest
        .as_ref()
        .map(|m| {
            m.sensors
                .iter()
                .map(|s| xr::XrSensor {
                    id: s.id.clone(),
                    name: s.name.clone(),
                    node: model.node_by_name(&s.node),
                })
                .collect()
        })
        .unwrap_or_default();
    let twin_name = manifest
        .as_ref()
        .map_or(model_url.as_str(), |m| m.name.as_str());
    if let Some(xr) = app.borrow_mut().xr_controller() {
        xr.set_twin_info(twin_name, sensors);
    }
    let binding_problems = manifest
        .as_ref()
        .map(|m| m.check_against(&model))
        .unwrap_or_default();
    let security = manifest
        .as_ref()
        .map(|m| m.security_warnings())
        .unwrap_or_default();
    let mut s = stats.borrow_mut();
    if let Some(m) = &manifest {
        s.sensors = m.sensors.len();
        s.sensors_bound = m.bound_sensor_count(&model);
    }
    s.state = "ready";
    if live_refused.is_some() || !binding_problems.is_empty() {
        // The model still shows; a refused source is named so the site can allow it, unbound
        // sensors so the manifest can be fixed.
        let text = live_refused
            .into_iter()
            .chain(
                binding_problems
                    .iter()
                    .map(|p| format!("{}: {}", p.path, p.message)),
            )
            .chain(security)
            .collect::<Vec<_>>()
            .join("\n");
        status.error(&text);
        s.last_error = Some(text);
    } else if !warnings.is_empty() || !security.is_empty() {
        let mut lines = security;
        if !warnings.is_empty() {
            lines.push(format!("{model_url}:\n{}", warnings.join("\n")));
        }
        status.info(&lines.join("\n"));
    } else {
        status.clear();
    }
    Ok(())
}

/// The redirect check for a download of `what`: the final URL must pass the same allow-list.
fn allowed<'a>(
    site: &'a SiteConfig,
    what: Resource,
    page: &'a str,
) -> impl Fn(&str) -> Result<(), String> + 'a {
    move |to: &str| site.check(what, to, page).map_err(|e| e.to_string())
}

/// The site configuration next to the app: none (404, or a server that answers every path
/// with its HTML page) means the page's own origin only; one that cannot be parsed stops the
/// page, since it is the site's word on what to trust.
async fn site_config(page: &str, status: &StatusLine) -> Result<SiteConfig, String> {
    let url = resolve_url(CONFIG_FILE, page);
    status.info("Loading the site configuration…");
    let same_origin = |to: &str| {
        SiteConfig::default()
            .check(Resource::Manifest, to, page)
            .map_err(|e| e.to_string())
    };
    match fetch(&url, MAX_CONFIG_BYTES, same_origin, |_, _| {}).await {
        Ok(f) if f.content_type.starts_with("text/html") || f.bytes.first() == Some(&b'<') => {
            shown::warn(&format!(
                "twinlens: {url} answered with an HTML page, not a site configuration: only \
                 this page's origin is trusted"
            ));
            Ok(SiteConfig::default())
        }
        Ok(f) => {
            let text = std::str::from_utf8(&f.bytes)
                .map_err(|_| format!("{url}: the site configuration is not UTF-8 text"))?;
            SiteConfig::parse(text).map_err(|e| format!("{e} (fix {url})"))
        }
        Err(FetchError::Status { status: 404, .. }) => Ok(SiteConfig::default()),
        Err(e) => Err(format!("site configuration: {e}")),
    }
}

/// Masks secrets in every string of `value`.
fn scrub_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => {
            let clean = shown::scrub(s);
            if clean != *s {
                *s = clean;
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(scrub_json),
        serde_json::Value::Object(map) => map.values_mut().for_each(scrub_json),
        _ => {}
    }
}
