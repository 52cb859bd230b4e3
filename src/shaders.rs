//! WGSL sources, embedded at compile time from `shaders/` and validated by a host test.

/// Lit mesh shader: base colour (factor × texture × vertex colour), ambient + key light.
pub const MESH: &str = include_str!("../shaders/mesh.wgsl");

/// XR helpers: in-world markers (reticle, teleport arc, rays) and the copy into an XR
/// framebuffer.
pub const XR: &str = include_str!("../shaders/xr.wgsl");

/// Sensor overlay: label plates, SDF text, state icons, sparklines, leader lines, markers.
pub const OVERLAY: &str = include_str!("../shaders/overlay.wgsl");

/// Every shader with its file name, for validation.
pub const ALL: &[(&str, &str)] = &[
    ("mesh.wgsl", MESH),
    ("xr.wgsl", XR),
    ("overlay.wgsl", OVERLAY),
];
