//! Reference-image tests of the renderer on a software Vulkan device (lavapipe).
//!
//! Each scene is rendered small and compared with `tests/reference/<name>.png` within a
//! tolerance. `TWINLENS_BLESS=1 cargo test --lib render::headless` rewrites the references
//! (look at them before committing). A machine without a Vulkan driver fails with the message
//! of [`RenderError::NoAdapter`]: the README's test command installs lavapipe.

use std::path::PathBuf;

use glam::{Mat4, Vec3};

use super::*;
use crate::camera::OrbitCamera;
use crate::overlay::color::TintMode;
use crate::render::cull::MAX_MODEL_DRAWS;
use crate::render::test_scene::{assembly, reuse_meshes};

const W: u32 = 160;
const H: u32 = 120;

fn headless() -> Headless {
    Headless::new(W, H).unwrap_or_else(|e| panic!("{e}"))
}

/// A camera looking at `target` from `distance`, a little from above and the side.
fn camera(target: Vec3, distance: f32, radius: f32) -> ViewMatrices {
    OrbitCamera {
        target,
        yaw: 0.5,
        pitch: 0.45,
        distance,
        scene_radius: radius,
    }
    .matrices(W as f32 / H as f32)
}

/// The framing of `model`'s bounds.
fn framed(model: &TwinModel) -> ViewMatrices {
    let b = model.bounds().expect("scene has geometry");
    camera(b.center(), b.radius() * 2.6, b.radius())
}

fn reference_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/reference")
        .join(format!("{name}.png"))
}

/// Mean absolute difference per channel (0..255) and the share of pixels off by more than 24
/// in any channel.
fn difference(a: &[u8], b: &[u8]) -> (f64, f64) {
    let total: u64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    let bad = a
        .chunks(4)
        .zip(b.chunks(4))
        .filter(|(p, q)| p.iter().zip(q.iter()).any(|(x, y)| x.abs_diff(*y) > 24))
        .count();
    (
        total as f64 / a.len() as f64,
        bad as f64 / (a.len() / 4) as f64,
    )
}

/// Compares `rgba` with the committed reference `name` (or writes it when blessing).
fn check_reference(name: &str, rgba: &[u8]) {
    let path = reference_path(name);
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/render-output");
    std::fs::create_dir_all(&out).expect("target dir is writable");
    let got = image::RgbaImage::from_raw(W, H, rgba.to_vec()).expect("frame has W×H pixels");
    got.save(out.join(format!("{name}.png")))
        .expect("write output image");
    if std::env::var_os("TWINLENS_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("has parent")).expect("mkdir");
        got.save(&path).expect("write reference");
        return;
    }
    let want = image::open(&path)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run with TWINLENS_BLESS=1 to create it",
                path.display()
            )
        })
        .to_rgba8();
    assert_eq!(want.dimensions(), (W, H), "{name}: reference size");
    let (mean, bad) = difference(want.as_raw(), rgba);
    assert!(
        mean < 1.5 && bad < 0.01,
        "{name}: differs from {} (mean {mean:.3}/255, {:.2} % of pixels off); the output is in \
         target/render-output/{name}.png",
        path.display(),
        bad * 100.0
    );
}

/// The mean colour of a `size`-pixel square centred on where `p` (world) projects.
fn colour_at(view: &ViewMatrices, rgba: &[u8], p: Vec3, size: u32) -> [f32; 3] {
    let clip = (view.proj * view.view).project_point3(p);
    let x = ((clip.x * 0.5 + 0.5) * W as f32) as i64;
    let y = ((0.5 - clip.y * 0.5) * H as f32) as i64;
    let mut sum = [0f32; 3];
    let mut n = 0.0f32;
    let half = i64::from(size / 2);
    for yy in (y - half).max(0)..(y + half + 1).min(i64::from(H)) {
        for xx in (x - half).max(0)..(x + half + 1).min(i64::from(W)) {
            let at = ((yy * i64::from(W) + xx) * 4) as usize;
            for c in 0..3 {
                sum[c] += f32::from(rgba[at + c]);
            }
            n += 1.0;
        }
    }
    sum.map(|s| s / n.max(1.0))
}

#[test]
fn batched_parts_match_the_reference_image() {
    let model = assembly(216, 2, 6, true);
    let mut r = headless();
    r.set_model(&model, Mat4::IDENTITY);
    let frame = r.render(&framed(&model));
    assert!(frame.stats.draw_calls as usize <= MAX_MODEL_DRAWS);
    assert_eq!(frame.stats.triangles, 216 * 12);
    check_reference("batched-parts", &frame.rgba);
}

#[test]
fn ten_thousand_parts_take_at_most_sixteen_draws() {
    let model = assembly(10_000, 25, 8, true);
    let mut r = headless();
    r.set_model(&model, Mat4::IDENTITY);
    let gpu = r.model().expect("model uploaded");
    assert!(
        gpu.chunk_count() > MAX_MODEL_DRAWS,
        "{} chunks",
        gpu.chunk_count()
    );
    let frame = r.render(&framed(&model));
    assert!(
        (1..=MAX_MODEL_DRAWS as u32).contains(&frame.stats.draw_calls),
        "{} draws",
        frame.stats.draw_calls
    );
    assert_eq!(
        frame.stats.triangles, 120_000,
        "the framed model is drawn whole"
    );
}

#[test]
fn tints_and_selection_colour_only_their_parts_with_small_range_writes() {
    let model = assembly(216, 2, 6, false);
    let view = framed(&model);
    let mut r = headless();
    r.set_model(&model, Mat4::IDENTITY);
    let plain = r.render(&view).rgba;
    let red = Tint {
        color: [1.0, 0.0, 0.0],
        strength: 1.0,
        mode: TintMode::Replace,
    };
    // Tinting a unit colours its whole subtree: 108 slots, one run of consecutive texels.
    let unit = model.roots[0];
    assert_eq!(r.set_tints(&[(unit, Some(red))]), 108);
    let gpu = r.model().expect("model");
    assert_eq!(gpu.last_upload(), (108 * 16, 1));
    let tinted = r.render(&view).rgba;
    let part0 = model.nodes[unit].children[0];
    let p0 = model.nodes[part0].world.transform_point3(Vec3::ZERO);
    // The part of the second unit nearest the camera (the lattice's far corner), in full view.
    let other = *model.nodes[model.roots[1]]
        .children
        .last()
        .expect("unit has parts");
    let p1 = model.nodes[other].world.transform_point3(Vec3::ZERO);
    let before = colour_at(&view, &plain, p0, 3);
    let after = colour_at(&view, &tinted, p0, 3);
    assert!(
        after[0] > after[1] + 40.0 && after[0] > after[2] + 40.0,
        "{before:?} -> {after:?}"
    );
    assert_eq!(
        colour_at(&view, &plain, p1, 3),
        colour_at(&view, &tinted, p1, 3),
        "the other unit is unchanged"
    );
    check_reference("tinted-unit", &tinted);

    // Setting the same tint again uploads nothing; clearing restores the picture.
    assert_eq!(r.set_tints(&[(unit, Some(red))]), 0);
    assert_eq!(r.set_tints(&[(unit, None)]), 108);
    assert_eq!(r.render(&view).rgba, plain);

    // Selecting a unit highlights its subtree; selecting one part of the other unit moves the
    // highlight: 108 texels cleared and one set, at most 32 bytes each.
    assert_eq!(r.set_selected(Some(unit)), 108);
    let selected = r.render(&view).rgba;
    let c = colour_at(&view, &selected, p0, 3);
    assert!(
        c[2] > c[0] + 30.0,
        "selected unit is highlighted: {before:?} -> {c:?}"
    );
    assert_eq!(
        colour_at(&view, &selected, p1, 3),
        colour_at(&view, &plain, p1, 3)
    );
    check_reference("selected-unit", &selected);
    assert_eq!(r.set_selected(Some(other)), 109);
    let (bytes, _) = r.model().expect("model").last_upload();
    assert!((109 * 16..=109 * 32).contains(&bytes), "{bytes} bytes");
    let part = r.render(&view).rgba;
    let changed: Vec<usize> = (0..plain.len() / 4)
        .filter(|&i| plain[i * 4..i * 4 + 3] != part[i * 4..i * 4 + 3])
        .collect();
    assert!(
        !changed.is_empty() && changed.len() < (W * H / 20) as usize,
        "one small part changes {} pixels",
        changed.len()
    );
    assert!(
        changed.iter().all(|&i| part[i * 4 + 2] >= plain[i * 4 + 2]),
        "the highlight only adds blue"
    );
    assert_eq!(r.set_selected(None), 1);
    assert_eq!(r.render(&view).rgba, plain);
}

#[test]
fn recolouring_ten_thousand_scattered_parts_uploads_at_most_32_bytes_each() {
    let model = assembly(50_000, 50, 4, false);
    let mut r = headless();
    r.set_model(&model, Mat4::IDENTITY);
    // Every fifth part: no two changed slots are neighbours.
    let tint = Some(Tint {
        color: [1.0, 0.5, 0.0],
        strength: 0.7,
        mode: TintMode::Tint,
    });
    let parts: Vec<(usize, Option<Tint>)> = (0..model.nodes.len())
        .filter(|&n| model.nodes[n].mesh.is_some())
        .step_by(5)
        .map(|n| (n, tint))
        .collect();
    assert_eq!(parts.len(), 10_000);
    assert_eq!(r.set_tints(&parts), 10_000);
    let (bytes, writes) = r.model().expect("model").last_upload();
    assert!(bytes <= 320_000, "{bytes} bytes");
    assert!(
        bytes >= 160_000,
        "{bytes} bytes: every changed texel is written"
    );
    assert!(writes < 10_000, "{writes} writes");
}

#[test]
fn culling_skips_what_the_view_cannot_see_without_changing_the_picture() {
    // 40 units in a row along +X, 4 m apart; look at the first one closely.
    let model = assembly(4_000, 40, 3, false);
    let view = camera(Vec3::new(1.0, 1.0, 1.0), 6.0, 3.0);
    let mut r = headless();
    r.set_model(&model, Mat4::IDENTITY);
    let culled = r.render(&view);
    r.set_culling(false);
    let all = r.render(&view);
    assert_eq!(all.stats.triangles, 48_000);
    assert!(
        culled.stats.triangles * 4 < all.stats.triangles,
        "culled {} of {} triangles",
        culled.stats.triangles,
        all.stats.triangles
    );
    assert_eq!(culled.rgba, all.rgba, "culling changed the picture");
    check_reference("culled-row", &culled.rgba);
}

#[test]
fn moving_the_placement_root_moves_the_model_without_reupload() {
    let model = assembly(27, 1, 2, false);
    let view = framed(&model);
    let mut r = headless();
    r.set_model(&model, Mat4::IDENTITY);
    let at_origin = r.render(&view).rgba;
    r.set_root(Mat4::from_translation(Vec3::new(100.0, 0.0, 0.0)));
    let away = r.render(&view);
    assert_eq!(
        away.stats.draw_calls, 0,
        "the moved model is outside the view"
    );
    let background = &away.rgba[..4];
    assert!(away.rgba.chunks(4).all(|p| p == background));
    r.set_root(Mat4::IDENTITY);
    assert_eq!(r.render(&view).rgba, at_origin);
}

#[test]
fn reused_meshes_drawn_instanced_look_the_same_as_merged_parts() {
    // Part k's own cube has material k % 6, so sharing six cubes keeps every part as it was.
    let merged = assembly(216, 2, 6, true);
    let mut shared = merged.clone();
    reuse_meshes(&mut shared, 6);
    let view = framed(&merged);
    let mut r = headless();
    r.set_model(&merged, Mat4::IDENTITY);
    let a = r.render(&view);
    r.set_model(&shared, Mat4::IDENTITY);
    let gpu = r.model().expect("model uploaded");
    assert!(
        gpu.batches.iter().any(|b| b.instanced.is_some()),
        "the shared cubes are instanced"
    );
    let b = r.render(&view);
    assert_eq!(b.stats.triangles, a.stats.triangles);
    assert!(b.stats.draw_calls as usize <= MAX_MODEL_DRAWS);
    let (mean, bad) = difference(&a.rgba, &b.rgba);
    assert!(
        mean < 0.5 && bad < 0.002,
        "instanced picture differs: mean {mean:.3}, {:.2} % of pixels",
        bad * 100.0
    );
    // Tints reach instanced parts through the same node state (a unit tints its parts).
    let part = shared.node_by_name("U00").expect("unit exists");
    r.set_tints(&[(
        part,
        Some(crate::overlay::color::Tint {
            color: [1.0, 0.0, 0.0],
            strength: 1.0,
            mode: TintMode::Replace,
        }),
    )]);
    let tinted = r.render(&view);
    let (mean, _) = difference(&b.rgba, &tinted.rgba);
    assert!(mean > 0.0, "tinting an instanced part changed nothing");
}

#[test]
fn a_model_uploaded_in_steps_draws_what_has_arrived_then_all_of_it() {
    let mut model = assembly(2_000, 8, 4, true);
    // A mix of merged and instanced batches.
    for (k, node) in model
        .nodes
        .iter_mut()
        .filter(|n| n.mesh.is_some())
        .enumerate()
    {
        if k % 2 == 0 {
            node.mesh = Some(k % 8);
        }
    }
    let view = framed(&model);
    let mut r = headless();
    r.set_model(&model, Mat4::IDENTITY);
    let whole = r.render(&view);
    assert_eq!(whole.stats.triangles, 24_000);

    r.start_model(&model, Mat4::IDENTITY);
    assert_eq!(
        r.render(&view).stats.triangles,
        0,
        "nothing uploaded, nothing drawn"
    );
    // Each step uploads about 100 parts' worth.
    let step = 100 * 24 * size_of::<crate::render::GpuVertex>() as u64;
    let mut drawn = Vec::new();
    let mut steps = 0;
    while !r.upload_step(&model, step) {
        steps += 1;
        assert!(steps < 100, "the upload never finishes");
        drawn.push(r.render(&view).stats.triangles);
    }
    assert!(steps >= 5, "{steps} steps");
    assert!(drawn.windows(2).all(|w| w[0] <= w[1]), "{drawn:?}");
    assert!(
        drawn.iter().any(|&t| t > 0 && t < 24_000),
        "part of the model is drawn before all of it: {drawn:?}"
    );
    let last = r.render(&view);
    assert_eq!(last.stats.triangles, 24_000);
    assert_eq!(
        last.rgba, whole.rgba,
        "the streamed model looks as the one uploaded at once"
    );
}

#[test]
fn small_parts_are_skipped_on_request_unless_tinted() {
    // One large cube and, beside it, 27 tiny ones (2 cm), seen from 6 m: each tiny one is
    // well under 4 px across at 120 px high.
    let mut model = assembly(28, 1, 1, false);
    let parts: Vec<usize> = (0..model.nodes.len())
        .filter(|&i| model.nodes[i].mesh.is_some())
        .collect();
    for (k, &i) in parts.iter().enumerate() {
        let scale = if k == 0 { 1.0 } else { 0.02 };
        let at = Vec3::new(if k == 0 { 0.0 } else { 1.0 }, 0.0, k as f32 * 0.05);
        model.nodes[i].local =
            Mat4::from_scale_rotation_translation(Vec3::splat(scale), glam::Quat::IDENTITY, at);
        model.nodes[i].world =
            model.nodes[model.nodes[i].parent.expect("parent")].world * model.nodes[i].local;
    }
    let view = camera(Vec3::new(0.5, 0.0, 0.6), 6.0, 2.0);
    let mut r = headless();
    r.set_model(&model, Mat4::IDENTITY);
    let all = r.render(&view).rgba;
    let big_only = {
        let mut m = model.clone();
        for &i in &parts[1..] {
            m.nodes[i].mesh = None;
        }
        r.set_model(&m, Mat4::IDENTITY);
        r.render(&view).rgba
    };
    assert_ne!(all, big_only, "the tiny parts show when nothing is skipped");
    r.set_model(&model, Mat4::IDENTITY);
    r.set_small_part_px(4.0);
    let skipped = r.render(&view).rgba;
    assert_eq!(skipped, big_only, "only the tiny parts are skipped");
    // A tinted tiny part shows even so.
    r.set_tints(&[(
        parts[5],
        Some(crate::overlay::color::Tint {
            color: [1.0, 0.0, 1.0],
            strength: 1.0,
            mode: TintMode::Replace,
        }),
    )]);
    let tinted = r.render(&view).rgba;
    assert_ne!(tinted, big_only, "a tinted small part is never skipped");
    r.set_small_part_px(0.0);
    r.set_tints(&[(parts[5], None)]);
    assert_eq!(
        r.render(&view).rgba,
        all,
        "turning it off draws every part again"
    );
}
