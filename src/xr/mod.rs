//! XR pose math, free of browser APIs so it is tested on the host: per-view matrices from
//! WebXR views, AR placement and its gestures, precise point-pair alignment, and VR locomotion.
//!
//! The web glue (`src/web/`) reads WebXR objects into plain numbers, calls into here, and hands
//! the resulting matrices to the renderer and the reference space.

pub mod align;
pub mod markers;
pub mod placement;
pub mod teleport;
pub mod views;
