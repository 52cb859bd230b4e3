//! CPU preparation of base colour textures before upload: size checks, downscaling textures
//! larger than the device allows, and a full mip chain filtered in linear light.
//!
//! Mips are built on the CPU because WebGL2 has no compute and a render-pass blit per level
//! would need a second pipeline; a 2×2 box filter over linear values is cheap enough at load
//! time. Averaging sRGB-encoded bytes directly would darken fine detail at a distance.
//!
//! Pure std (no `crate::` paths) so `tests/render_cpu.rs` can run the tests on the host.

use std::borrow::Cow;
use std::sync::OnceLock;

/// One mip level, tightly packed RGBA8 with sRGB-encoded colour.
#[derive(Debug, Clone, PartialEq)]
pub struct MipLevel<'a> {
    /// Width in pixels (at least 1).
    pub width: u32,
    /// Height in pixels (at least 1).
    pub height: u32,
    /// `width * height * 4` bytes.
    pub rgba: Cow<'a, [u8]>,
}

/// Why a texture cannot be prepared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TexturePrepError {
    /// Width or height is zero.
    Empty {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
    },
    /// The pixel data does not hold `width * height * 4` bytes.
    SizeMismatch {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// Bytes present.
        len: usize,
    },
}

impl std::fmt::Display for TexturePrepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Empty { width, height } => write!(f, "it is {width}×{height} pixels (empty)"),
            Self::SizeMismatch { width, height, len } => write!(
                f,
                "it declares {width}×{height} RGBA8 pixels but holds {len} bytes, expected {}",
                u64::from(*width) * u64::from(*height) * 4
            ),
        }
    }
}

/// Builds the mip chain for an RGBA8 sRGB image: level 0 is the image itself, or the image
/// halved until both sides are at most `max_dim`; then every level down to 1×1.
pub fn prepare_mips(
    width: u32,
    height: u32,
    rgba: &[u8],
    max_dim: u32,
) -> Result<Vec<MipLevel<'_>>, TexturePrepError> {
    if width == 0 || height == 0 {
        return Err(TexturePrepError::Empty { width, height });
    }
    let expected = (width as usize)
        .checked_mul(height as usize)
        .and_then(|n| n.checked_mul(4));
    if expected != Some(rgba.len()) {
        return Err(TexturePrepError::SizeMismatch {
            width,
            height,
            len: rgba.len(),
        });
    }
    let max_dim = max_dim.max(1);

    let mut top = MipLevel {
        width,
        height,
        rgba: Cow::Borrowed(rgba),
    };
    while top.width > max_dim || top.height > max_dim {
        top = halve(&top);
    }
    let mut levels = Vec::with_capacity(mip_level_count(top.width, top.height) as usize);
    levels.push(top);
    loop {
        let last = &levels[levels.len() - 1];
        if last.width == 1 && last.height == 1 {
            break;
        }
        let next = halve(last);
        levels.push(next);
    }
    Ok(levels)
}

/// Number of levels in a full mip chain for a `width`×`height` image.
pub fn mip_level_count(width: u32, height: u32) -> u32 {
    32 - width.max(height).max(1).leading_zeros()
}

/// Next mip level: each side halved (rounded down, at least 1), each texel the average of up to
/// 2×2 source texels in linear light; alpha averaged as is.
fn halve<'a>(src: &MipLevel<'_>) -> MipLevel<'a> {
    let tables = tables();
    let (w, h) = (src.width as usize, src.height as usize);
    let (nw, nh) = ((w / 2).max(1), (h / 2).max(1));
    let mut out = vec![0u8; nw * nh * 4];
    for y in 0..nh {
        // Clamping repeats the edge row/column where a side was already 1.
        let rows = [(2 * y).min(h - 1), (2 * y + 1).min(h - 1)];
        for x in 0..nw {
            let cols = [(2 * x).min(w - 1), (2 * x + 1).min(w - 1)];
            let mut lin = [0.0f32; 3];
            let mut alpha = 0u32;
            for &sy in &rows {
                for &sx in &cols {
                    let p = (sy * w + sx) * 4;
                    for (c, l) in lin.iter_mut().enumerate() {
                        *l += tables.to_linear[src.rgba[p + c] as usize];
                    }
                    alpha += u32::from(src.rgba[p + 3]);
                }
            }
            let d = (y * nw + x) * 4;
            for (c, l) in lin.iter().enumerate() {
                out[d + c] = tables.encode(l * 0.25);
            }
            // Rounded mean of four bytes fits in a byte.
            out[d + 3] = ((alpha + 2) / 4) as u8;
        }
    }
    MipLevel {
        width: nw as u32,
        height: nh as u32,
        rgba: Cow::Owned(out),
    }
}

/// Steps of the linear-to-sRGB table: fine enough that the steep dark end of the curve stays
/// within a fraction of one output code.
const ENCODE_STEPS: usize = 16384;

struct SrgbTables {
    to_linear: [f32; 256],
    to_srgb: Vec<u8>,
}

impl SrgbTables {
    fn encode(&self, linear: f32) -> u8 {
        let i = (linear.clamp(0.0, 1.0) * ENCODE_STEPS as f32).round() as usize;
        self.to_srgb[i.min(ENCODE_STEPS)]
    }
}

/// Lookup tables, built once: per-texel `powf` is slow in wasm.
fn tables() -> &'static SrgbTables {
    static TABLES: OnceLock<SrgbTables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut to_linear = [0.0f32; 256];
        for (i, v) in to_linear.iter_mut().enumerate() {
            *v = srgb_to_linear(i as f32 / 255.0);
        }
        let to_srgb = (0..=ENCODE_STEPS)
            .map(|i| (linear_to_srgb(i as f32 / ENCODE_STEPS as f32) * 255.0).round() as u8)
            .collect();
        SrgbTables { to_linear, to_srgb }
    })
}

fn srgb_to_linear(c: f32) -> f32 {
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

fn linear_to_srgb(c: f32) -> f32 {
    if c <= 0.003_130_8 {
        c * 12.92
    } else {
        1.055 * c.powf(1.0 / 2.4) - 0.055
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(w: u32, h: u32, px: [u8; 4]) -> Vec<u8> {
        px.iter()
            .copied()
            .cycle()
            .take((w * h * 4) as usize)
            .collect()
    }

    #[test]
    fn full_chain_reaches_one_by_one_for_non_square_odd_sizes() {
        let data = solid(5, 3, [10, 20, 30, 255]);
        let levels = prepare_mips(5, 3, &data, 8192).expect("valid image");
        let sizes: Vec<_> = levels.iter().map(|l| (l.width, l.height)).collect();
        assert_eq!(sizes, vec![(5, 3), (2, 1), (1, 1)]);
        assert_eq!(levels.len() as u32, mip_level_count(5, 3));
        for l in &levels {
            assert_eq!(l.rgba.len(), (l.width * l.height * 4) as usize);
        }
    }

    #[test]
    fn level_zero_is_borrowed_when_it_fits() {
        let data = solid(4, 4, [1, 2, 3, 4]);
        let levels = prepare_mips(4, 4, &data, 4).expect("valid image");
        assert!(matches!(levels[0].rgba, Cow::Borrowed(_)));
    }

    #[test]
    fn too_large_textures_are_downscaled_to_the_device_limit() {
        let data = solid(100, 20, [200, 100, 50, 255]);
        let levels = prepare_mips(100, 20, &data, 32).expect("valid image");
        assert_eq!((levels[0].width, levels[0].height), (25, 5));
        assert_eq!(levels.last().map(|l| (l.width, l.height)), Some((1, 1)));
    }

    #[test]
    fn uniform_colour_survives_filtering() {
        let data = solid(8, 8, [37, 128, 250, 77]);
        let levels = prepare_mips(8, 8, &data, 8).expect("valid image");
        for l in &levels {
            for px in l.rgba.chunks_exact(4) {
                assert_eq!(px, [37, 128, 250, 77]);
            }
        }
    }

    #[test]
    fn averaging_happens_in_linear_light() {
        // Black and white checker: the linear mean is 0.5, which encodes to sRGB 188, not 128.
        let mut data = Vec::new();
        for i in 0..4 {
            let v = if i == 0 || i == 3 { 255 } else { 0 };
            data.extend_from_slice(&[v, v, v, 255]);
        }
        let levels = prepare_mips(2, 2, &data, 2).expect("valid image");
        assert_eq!(&levels[1].rgba[..], &[188, 188, 188, 255]);
    }

    #[test]
    fn malformed_images_are_rejected() {
        assert_eq!(
            prepare_mips(0, 4, &[], 16),
            Err(TexturePrepError::Empty {
                width: 0,
                height: 4
            })
        );
        assert_eq!(
            prepare_mips(2, 2, &[0; 15], 16),
            Err(TexturePrepError::SizeMismatch {
                width: 2,
                height: 2,
                len: 15
            })
        );
    }
}
