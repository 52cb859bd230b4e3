//! twinlens: a WebXR digital-twin overlay. The pure core (manifest, model, camera, telemetry,
//! overlay rules, XR pose math) builds and is tested on the host; the renderer builds
//! for both (natively it draws offscreen, for reference-image tests); the web glue exists only in
//! the wasm build.

pub mod camera;
pub mod commands;
pub mod manifest;
pub mod model;
pub mod overlay;
pub mod redact;
pub mod render;
pub mod shaders;
pub mod telemetry;
pub mod timing;
pub mod trust;
pub mod xr;

#[cfg(target_arch = "wasm32")]
pub mod web;
