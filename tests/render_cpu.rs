//! Host tests for the renderer's CPU-side preparation code, which lives in the wasm-only
//! `render` module: the files are pure std, so they are included here and their unit tests run
//! on the host.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test that panics has failed, with its message

#[allow(dead_code)]
#[path = "../src/render/texture_prep.rs"]
mod texture_prep;
