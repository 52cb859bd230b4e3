//! The pure overlay core: what each sensor's label says, which state it shows, how its part is
//! coloured and where its label goes on screen. Everything here is plain data in, plain data
//! out, tested on the host; the GPU drawing consumes the results.
//!
//! - [`rules`]: per-sensor display rules from the manifest (`sensors[i].display`).
//! - [`state`]: a reading's state (normal, warning, alarm, stale, no data) and its style.
//! - [`format`]: value and age text.
//! - [`color`]: the tint a sensor puts on its node's meshes.
//! - [`layout`]: screen-space label placement and decluttering, per view.
//! - [`build`]: from the manifest, model and sensor store to each label's anchor and content.

pub mod build;
pub mod bvh;
pub mod color;
pub mod format;
pub mod layout;
pub mod pick;
pub mod present;
pub mod rules;
pub mod scene;
pub mod state;
pub mod text;
