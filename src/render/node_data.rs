//! Per-node state as texels of two GPU textures, read in the vertex shader by the node id each
//! vertex carries (`shaders/mesh.wgsl`). WebGL2 has no storage buffers, so textures are the one
//! layout both backends share.
//!
//! - The transform texture holds [`TRANSFORM_TEXELS`] texels per node: the three rows of the
//!   node-to-model affine matrix and the node's bounding sphere (model space).
//! - The state texture holds one texel per node: tint colour, and tint mode, strength and flags
//!   packed into `w`. A recolouring rewrites 16 bytes per changed node, in as few range writes as
//!   the changed nodes' runs allow.
//!
//! Pure data, no wgpu: host-tested, and the shader's decoding mirrors [`decode_state`].

use glam::{Mat4, Vec4};

use crate::overlay::color::{Tint, TintMode};

/// Texels per node in the transform texture: three matrix rows and the bounding sphere.
pub(crate) const TRANSFORM_TEXELS: u32 = 4;
/// Texels per row of every per-node texture: within WebGL2's guaranteed 2048 and a power of two,
/// so the shader divides by a constant (`TEXTURE_WIDTH` in `mesh.wgsl`).
pub(crate) const TEXTURE_WIDTH: u32 = 1024;
/// Nodes per row of the transform texture.
pub(crate) const NODES_PER_ROW: u32 = TEXTURE_WIDTH / TRANSFORM_TEXELS;
/// Texels per material in the material texture: base colour, then metallic/roughness.
pub(crate) const MATERIAL_TEXELS: u32 = 2;
/// Materials per row of the material texture.
pub(crate) const MATERIALS_PER_ROW: u32 = TEXTURE_WIDTH / MATERIAL_TEXELS;
/// Bytes of one RGBA32F texel.
pub(crate) const TEXEL_BYTES: u32 = 16;

/// Node flag: the node is not drawn (the shader moves its vertices outside the clip volume).
pub const FLAG_HIDDEN: u32 = 1;
/// Node flag: the node is highlighted as the current selection.
pub const FLAG_SELECTED: u32 = 2;
/// All flags the shader knows.
const FLAGS_KNOWN: u32 = FLAG_HIDDEN | FLAG_SELECTED;

/// Tint mode in the state texel: the material colour as modelled.
pub(crate) const TINT_NONE: u32 = 0;
/// Tint mode: the material colour moved toward the tint colour by the strength.
pub(crate) const TINT_BLEND: u32 = 1;
/// Tint mode: the tint colour instead of the material colour.
pub(crate) const TINT_REPLACE: u32 = 2;

/// Rows a texture of `count` items at `per_row` items per row needs (at least one: a texture
/// cannot be empty).
pub(crate) fn rows_for(count: usize, per_row: u32) -> u32 {
    (count.div_ceil(per_row as usize)).max(1) as u32
}

/// The texel (x, y) where item `index` starts, at `per_row` items of `texels` texels each.
pub(crate) fn texel_of(index: u32, per_row: u32, texels: u32) -> (u32, u32) {
    ((index % per_row) * texels, index / per_row)
}

/// The transform texels of a node: rows 0..3 of `world` (node to model space) and the node's
/// bounding sphere `(centre, radius)` in model space.
pub(crate) fn transform_texels(world: Mat4, sphere: Vec4) -> [[f32; 4]; 4] {
    let r = world.transpose();
    [
        r.x_axis.to_array(),
        r.y_axis.to_array(),
        r.z_axis.to_array(),
        sphere.to_array(),
    ]
}

/// The state texel of a node with `tint` and `flags`: `rgb` the tint colour (linear), `w` =
/// strength + 2 × mode + 8 × flags (small integers and a fraction in [0, 1], exact in f32).
/// Non-finite colour or strength reads as 0, as [`crate::overlay::color::blend`] treats it.
pub(crate) fn state_texel(tint: Option<Tint>, flags: u32) -> [f32; 4] {
    let finite = |v: f32| {
        if v.is_finite() {
            v.clamp(0.0, 1.0)
        } else {
            0.0
        }
    };
    let (mode, color, strength) = match tint {
        None => (TINT_NONE, [0.0; 3], 0.0),
        Some(t) => match t.mode {
            TintMode::Tint => (TINT_BLEND, t.color, finite(t.strength)),
            TintMode::Replace => (TINT_REPLACE, t.color, 1.0),
        },
    };
    let w = strength + 2.0 * mode as f32 + 8.0 * (flags & FLAGS_KNOWN) as f32;
    [finite(color[0]), finite(color[1]), finite(color[2]), w]
}

/// What the shader reads back from a state texel's `w`: `(mode, strength, flags)`.
#[cfg(test)]
pub(crate) fn decode_state(w: f32) -> (u32, f32, u32) {
    let flags = (w / 8.0).floor();
    let rest = w - 8.0 * flags;
    let mode = (rest / 2.0).floor();
    (mode as u32, rest - 2.0 * mode, flags as u32)
}

/// The texels of a material: linear base colour factor, then `(metallic, roughness, 0, 0)`.
pub(crate) fn material_texels(
    base_color: [f32; 4],
    metallic: f32,
    roughness: f32,
) -> [[f32; 4]; 2] {
    [base_color, [metallic, roughness, 0.0, 0.0]]
}

/// A run of consecutive items in one texture row: what one range write covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Run {
    /// First item of the run.
    pub first: u32,
    /// Items in the run (at least one).
    pub count: u32,
}

/// Splits sorted, deduplicated item indices into runs of consecutive items that stay within one
/// row of `per_row` items, then joins neighbouring runs of a row across their gaps, smallest gap
/// first, while the items added by joining stay within `extra` (a write of a few unchanged items
/// costs less than another write call). Appends the runs to `out` (cleared first).
pub(crate) fn runs_into(sorted: &[u32], per_row: u32, extra: u32, out: &mut Vec<Run>) {
    out.clear();
    for &i in sorted {
        match out.last_mut() {
            Some(r) if r.first + r.count == i && i % per_row != 0 => r.count += 1,
            _ => out.push(Run { first: i, count: 1 }),
        }
    }
    if extra == 0 || out.len() < 2 {
        return;
    }
    // (gap, left run) for neighbours in the same row.
    let mut gaps: Vec<(u32, usize)> = out
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[0].first / per_row == w[1].first / per_row)
        .map(|(i, w)| (w[1].first - (w[0].first + w[0].count), i))
        .collect();
    gaps.sort_unstable();
    let mut join = vec![false; out.len()];
    let mut spent = 0u32;
    for (gap, left) in gaps {
        if spent + gap > extra {
            break;
        }
        spent += gap;
        join[left] = true;
    }
    let mut merged: Vec<Run> = Vec::with_capacity(out.len());
    let mut extend = false;
    for (i, r) in out.drain(..).enumerate() {
        match merged.last_mut() {
            Some(last) if extend => last.count = r.first + r.count - last.first,
            _ => merged.push(r),
        }
        extend = join[i];
    }
    *out = merged;
}

#[cfg(test)]
mod tests {
    use super::*;
    use glam::{Quat, Vec3};

    #[test]
    fn state_texel_round_trips_mode_strength_and_flags() {
        let cases = [
            (None, 0, (TINT_NONE, 0.0, 0)),
            (
                Some(Tint {
                    color: [1.0, 0.2, 0.1],
                    strength: 0.6,
                    mode: TintMode::Tint,
                }),
                FLAG_SELECTED,
                (TINT_BLEND, 0.6, FLAG_SELECTED),
            ),
            (
                Some(Tint {
                    color: [0.0, 1.0, 0.0],
                    strength: 0.3,
                    mode: TintMode::Replace,
                }),
                FLAG_HIDDEN | FLAG_SELECTED,
                (TINT_REPLACE, 1.0, FLAG_HIDDEN | FLAG_SELECTED),
            ),
            (
                Some(Tint {
                    color: [0.5; 3],
                    strength: 1.0,
                    mode: TintMode::Tint,
                }),
                0,
                (TINT_BLEND, 1.0, 0),
            ),
        ];
        for (tint, flags, (mode, strength, got_flags)) in cases {
            let texel = state_texel(tint, flags);
            let (m, s, f) = decode_state(texel[3]);
            assert_eq!((m, f), (mode, got_flags), "{tint:?} {flags}");
            assert!((s - strength).abs() < 1e-6, "{tint:?}: strength {s}");
        }
    }

    #[test]
    fn state_texel_sanitises_like_the_cpu_blend() {
        let t = Tint {
            color: [f32::NAN, 2.0, -1.0],
            strength: f32::INFINITY,
            mode: TintMode::Tint,
        };
        let texel = state_texel(Some(t), 64);
        assert_eq!(&texel[..3], &[0.0, 1.0, 0.0]);
        // Unknown flags are dropped; a non-finite strength blends nothing.
        assert_eq!(decode_state(texel[3]), (TINT_BLEND, 0.0, 0));
    }

    #[test]
    fn transform_texels_hold_the_affine_rows_and_the_sphere() {
        let m = Mat4::from_scale_rotation_translation(
            Vec3::new(2.0, 1.0, -1.0),
            Quat::from_rotation_y(0.7),
            Vec3::new(5.0, -3.0, 1.5),
        );
        let t = transform_texels(m, Vec4::new(1.0, 2.0, 3.0, 0.5));
        let p = Vec3::new(0.3, -0.7, 2.0);
        let want = m.transform_point3(p);
        let local = p.extend(1.0);
        let got = Vec3::new(
            Vec4::from(t[0]).dot(local),
            Vec4::from(t[1]).dot(local),
            Vec4::from(t[2]).dot(local),
        );
        assert!((got - want).length() < 1e-5, "{got} vs {want}");
        assert_eq!(t[3], [1.0, 2.0, 3.0, 0.5]);
    }

    #[test]
    fn runs_split_at_gaps_and_row_ends() {
        let mut out = Vec::new();
        runs_into(
            &[3, 4, 5, 9, 1022, 1023, 1024, 1025, 4000],
            1024,
            0,
            &mut out,
        );
        assert_eq!(
            out,
            vec![
                Run { first: 3, count: 3 },
                Run { first: 9, count: 1 },
                Run {
                    first: 1022,
                    count: 2
                },
                Run {
                    first: 1024,
                    count: 2
                },
                Run {
                    first: 4000,
                    count: 1
                },
            ]
        );
        runs_into(&[], 1024, 8, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn runs_join_across_the_smallest_gaps_within_the_extra_allowed() {
        let mut out = Vec::new();
        // Gaps 1, 3, 1, 1 in the first row; 16 starts the next row.
        let sorted = [2, 3, 4, 5, 7, 11, 13, 15, 16];
        runs_into(&sorted, 16, 3, &mut out);
        assert_eq!(
            out,
            vec![
                Run { first: 2, count: 6 },
                Run {
                    first: 11,
                    count: 5
                },
                Run {
                    first: 16,
                    count: 1
                },
            ]
        );
        let written: u32 = out.iter().map(|r| r.count).sum();
        assert!(written <= sorted.len() as u32 + 3);
        // Every changed item is still written.
        for i in sorted {
            assert!(
                out.iter().any(|r| r.first <= i && i < r.first + r.count),
                "{i}"
            );
        }
    }

    #[test]
    fn the_mesh_shader_uses_the_same_layout_constants() {
        let module = naga::front::wgsl::parse_str(crate::shaders::MESH).expect("mesh.wgsl parses");
        let value = |name: &str| {
            let c = module
                .constants
                .iter()
                .find(|(_, c)| c.name.as_deref() == Some(name))
                .unwrap_or_else(|| panic!("mesh.wgsl has no const {name}"))
                .1;
            match module.global_expressions[c.init] {
                naga::Expression::Literal(naga::Literal::U32(v)) => v,
                ref other => panic!("{name} = {other:?}"),
            }
        };
        assert_eq!(value("TEXTURE_WIDTH"), TEXTURE_WIDTH);
        assert_eq!(value("NODES_PER_ROW"), NODES_PER_ROW);
        assert_eq!(value("MATERIALS_PER_ROW"), MATERIALS_PER_ROW);
        assert_eq!(value("FLAG_HIDDEN"), FLAG_HIDDEN);
        assert_eq!(value("FLAG_SELECTED"), FLAG_SELECTED);
    }

    #[test]
    fn texel_positions_wrap_rows() {
        assert_eq!(texel_of(0, NODES_PER_ROW, TRANSFORM_TEXELS), (0, 0));
        assert_eq!(texel_of(257, NODES_PER_ROW, TRANSFORM_TEXELS), (4, 1));
        assert_eq!(texel_of(1500, TEXTURE_WIDTH, 1), (476, 1));
        assert_eq!(rows_for(0, 256), 1);
        assert_eq!(rows_for(100_000, NODES_PER_ROW), 391);
    }
}
