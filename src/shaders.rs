//! WGSL sources, embedded at compile time from `shaders/` and validated by a host test.

/// Lit mesh shader: base colour (factor × texture × vertex colour), ambient + key light.
pub const MESH: &str = include_str!("../shaders/mesh.wgsl");

/// Every shader with its file name, for validation.
pub const ALL: &[(&str, &str)] = &[("mesh.wgsl", MESH)];
