//! Fuzzes the glTF loader: any bytes, read as GLB and as glTF JSON, must give `Ok` or `Err`,
//! never a panic, hang or runaway allocation.

#![no_main]

use libfuzzer_sys::fuzz_target;
use twinlens::model::{Resources, load_model, required_resources};

fuzz_target!(|data: &[u8]| {
    let resources = Resources::new();
    // As given: the loader tells GLB from JSON by the `glTF` magic.
    let _ = load_model(data, "fuzz.gltf", &resources);
    let _ = required_resources(data, "fuzz.gltf");
    // Behind a GLB header whose declared length matches, so the fuzzer reaches the chunks.
    let mut glb = Vec::with_capacity(data.len() + 12);
    glb.extend_from_slice(b"glTF");
    glb.extend_from_slice(&2u32.to_le_bytes());
    glb.extend_from_slice(&u32::try_from(data.len() + 12).unwrap_or(u32::MAX).to_le_bytes());
    glb.extend_from_slice(data);
    let _ = load_model(&glb, "fuzz.glb", &resources);
});
