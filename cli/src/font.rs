//! `twinlens gen-font`: rasterises the label glyph set from a TrueType font into a
//! single-channel signed-distance-field atlas and writes it as `src/overlay/font.sdf`, the file
//! the web app embeds (format below, parsed by `twinlens::overlay::text`).
//!
//! It runs offline, so it favours simple and exact over fast: each glyph is rasterised at
//! [`OVERSAMPLE`]× the atlas size, an exact Euclidean distance transform runs on that bitmap,
//! and the distance is sampled at the centre of every atlas pixel.
//!
//! # `font.sdf`, version 1 (all numbers little-endian)
//!
//! | offset | type | field |
//! |---|---|---|
//! | 0 | `[u8; 8]` | magic `TLFONT01` |
//! | 8 | `u16` | atlas width, pixels |
//! | 10 | `u16` | atlas height, pixels |
//! | 12 | `u16` | glyph count |
//! | 14 | `u16` | reserved, 0 |
//! | 16 | `f32` | atlas pixels per em |
//! | 20 | `f32` | spread: the distance, in atlas pixels, that bytes 1 and 255 stand for |
//! | 24 | `f32` | ascent, em (positive, above the baseline) |
//! | 28 | `f32` | descent, em (negative, below the baseline) |
//! | 32 | `f32` | line gap, em |
//! | 36 | `u32` | byte length of the pixel stream |
//! | 40 | 24 bytes × glyph count | glyph records, codepoints strictly ascending |
//! | … | pixel stream | the atlas as an 8-bit greyscale PNG, atlas width × height |
//!
//! A glyph record is `u32` codepoint, `u16` x, y, w, h (its rectangle in the atlas, spread
//! padding included; zero size for blank glyphs such as the space), then `f32` left (em, pen
//! position to the rectangle's left edge), `f32` top (em, baseline up to the rectangle's top
//! edge) and `f32` advance (em).
//!
//! A pixel `p` encodes the signed distance `(p − 128) / 127 × spread` atlas pixels to the
//! glyph outline, positive inside; 128 is the outline itself.

use std::io::Cursor;

use image::ImageEncoder;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};

/// Atlas pixels per em. 40 keeps text crisp up to roughly twice that on screen (SDF
/// magnification) while the whole glyph set fits a 512-pixel-wide atlas.
pub const EM_PX: f32 = 40.0;

/// Distance range encoded around the outline, atlas pixels: room for an outline of about a
/// tenth of an em plus anti-aliasing when the text is minified.
pub const SPREAD_PX: i32 = 5;

/// Rasterisation resolution relative to the atlas, for an accurate distance field.
pub const OVERSAMPLE: i32 = 4;

/// Atlas width, pixels (R8: 512 bytes per row, a multiple of wgpu's 256-byte row alignment).
pub const ATLAS_WIDTH: u32 = 512;

/// File magic of `font.sdf` version 1.
pub const MAGIC: &[u8; 8] = b"TLFONT01";

/// Header size in bytes, before the glyph records.
pub const HEADER_LEN: usize = 40;

/// Size of one glyph record in bytes.
pub const RECORD_LEN: usize = 24;

/// Glyphs a label can need: printable ASCII, Latin-1 Supplement, Greek (engineering symbols:
/// Δp, θ, λ, σ, Ω, μ, and Greek names), and the symbols of units, value formatting (`−`, `—`,
/// `…`, `∞`) and status (`▲`, `●`, `⬣`). U+FFFD is required: it stands in for everything else.
pub fn glyph_set() -> Vec<char> {
    // Greek capitals Α..Ω (around the unassigned U+03A2), small letters with the accented
    // vowels ά..ώ.
    let ranges = [
        (0x20u32, 0x7E),
        (0xA0, 0xFF),
        (0x0391, 0x03A1),
        (0x03A3, 0x03A9),
        (0x03AC, 0x03CE),
    ];
    let extra = [
        0x2013, // – en dash
        0x2014, // — em dash (no value)
        0x2022, // • bullet
        0x2026, // … ellipsis (truncated text)
        0x2030, // ‰ per mille
        0x2032, // ′ prime (arc minutes, feet)
        0x2033, // ″ double prime
        0x207B, // ⁻ superscript minus (s⁻¹)
        0x2126, // Ω ohm sign
        0x2190, 0x2191, 0x2192, 0x2193, // ← ↑ → ↓ trends
        0x2212, // − minus
        0x2248, // ≈
        0x221E, // ∞
        0x2264, 0x2265, // ≤ ≥
        0x25B2, // ▲
        0x25CF, // ●
        0x2B23, // ⬣
        0xFFFD, // replacement character
    ];
    ranges
        .iter()
        .flat_map(|&(a, b)| a..=b)
        .chain(extra)
        .filter_map(char::from_u32)
        .collect()
}

/// One glyph's place in the atlas and its metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GlyphEntry {
    /// The character.
    pub codepoint: char,
    /// Rectangle in the atlas, pixels: x, y, width, height (spread padding included).
    pub rect: [u16; 4],
    /// Pen position to the rectangle's left edge, em.
    pub left: f32,
    /// Baseline up to the rectangle's top edge, em.
    pub top: f32,
    /// Horizontal advance, em.
    pub advance: f32,
}

/// A generated atlas: pixels, glyph table and line metrics.
#[derive(Debug, Clone)]
pub struct FontAtlas {
    /// Atlas width, pixels.
    pub width: u32,
    /// Atlas height, pixels.
    pub height: u32,
    /// R8 distance values, row-major, `width × height`.
    pub pixels: Vec<u8>,
    /// Glyphs, codepoints ascending.
    pub glyphs: Vec<GlyphEntry>,
    /// Ascent, em.
    pub ascent: f32,
    /// Descent, em (negative).
    pub descent: f32,
    /// Line gap, em.
    pub line_gap: f32,
    /// Characters of [`glyph_set`] the font does not have (left out; they fall back to U+FFFD).
    pub missing: Vec<char>,
}

/// Rasterises [`glyph_set`] from `ttf` into an SDF atlas. Fails on a font that cannot be
/// parsed, that lacks U+FFFD, or whose glyphs do not fit a 512 × 4096 atlas.
pub fn build_font_atlas(ttf: &[u8]) -> Result<FontAtlas, String> {
    let font = fontdue::Font::from_bytes(ttf, fontdue::FontSettings::default())
        .map_err(|e| format!("not a usable TrueType/OpenType font: {e}"))?;
    let hi_px = EM_PX * OVERSAMPLE as f32;
    let line = font
        .horizontal_line_metrics(1.0)
        .ok_or("the font has no horizontal line metrics (hhea table)")?;

    let mut missing = Vec::new();
    let mut sdfs = Vec::new();
    for c in glyph_set() {
        if font.lookup_glyph_index(c) == 0 {
            missing.push(c);
            continue;
        }
        let (metrics, coverage) = font.rasterize(c, hi_px);
        sdfs.push(glyph_sdf(c, &metrics, &coverage, hi_px));
    }
    if missing.contains(&'\u{FFFD}') {
        return Err(
            "the font has no U+FFFD replacement glyph, which stands in for every \
                    character the atlas lacks; pick a font that has one (DejaVu Sans does)"
                .into(),
        );
    }

    let (places, height) = shelf_pack(&sdfs, ATLAS_WIDTH)?;
    let mut pixels = vec![0u8; (ATLAS_WIDTH * height) as usize];
    let mut glyphs = Vec::with_capacity(sdfs.len());
    for (g, &(x, y)) in sdfs.iter().zip(&places) {
        for row in 0..g.h {
            let dst = ((y + row) * ATLAS_WIDTH + x) as usize;
            let src = (row * g.w) as usize;
            pixels[dst..dst + g.w as usize].copy_from_slice(&g.pixels[src..src + g.w as usize]);
        }
        glyphs.push(GlyphEntry {
            codepoint: g.codepoint,
            // The packer keeps everything inside 512 × 4096.
            rect: [x as u16, y as u16, g.w as u16, g.h as u16],
            left: g.left,
            top: g.top,
            advance: g.advance,
        });
    }
    glyphs.sort_by_key(|g| g.codepoint);
    Ok(FontAtlas {
        width: ATLAS_WIDTH,
        height,
        pixels,
        glyphs,
        ascent: line.ascent,
        descent: line.descent,
        line_gap: line.line_gap,
        missing,
    })
}

impl FontAtlas {
    /// The `font.sdf` bytes (format in the module docs).
    pub fn to_file_bytes(&self) -> Result<Vec<u8>, String> {
        let mut png = Vec::new();
        PngEncoder::new_with_quality(
            Cursor::new(&mut png),
            CompressionType::Best,
            FilterType::Adaptive,
        )
        .write_image(
            &self.pixels,
            self.width,
            self.height,
            image::ExtendedColorType::L8,
        )
        .map_err(|e| format!("could not encode the atlas as PNG: {e}"))?;

        let count = u16::try_from(self.glyphs.len()).map_err(|_| "too many glyphs")?;
        let mut out = Vec::with_capacity(HEADER_LEN + RECORD_LEN * self.glyphs.len() + png.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.width as u16).to_le_bytes());
        out.extend_from_slice(&(self.height as u16).to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        for v in [
            EM_PX,
            SPREAD_PX as f32,
            self.ascent,
            self.descent,
            self.line_gap,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&(png.len() as u32).to_le_bytes());
        for g in &self.glyphs {
            out.extend_from_slice(&u32::from(g.codepoint).to_le_bytes());
            for v in g.rect {
                out.extend_from_slice(&v.to_le_bytes());
            }
            for v in [g.left, g.top, g.advance] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out.extend_from_slice(&png);
        Ok(out)
    }
}

/// One glyph's distance field before packing.
struct GlyphSdf {
    codepoint: char,
    w: u32,
    h: u32,
    pixels: Vec<u8>,
    left: f32,
    top: f32,
    advance: f32,
}

/// The distance field of one glyph rasterised at `hi_px` per em (`coverage` is fontdue's
/// bitmap: rows top to bottom, `metrics.xmin`/`ymin` its offset from the pen, y up).
fn glyph_sdf(c: char, metrics: &fontdue::Metrics, coverage: &[u8], hi_px: f32) -> GlyphSdf {
    let advance = metrics.advance_width / hi_px;
    let (bw, bh) = (metrics.width as i32, metrics.height as i32);
    if bw == 0 || bh == 0 || !coverage.iter().any(|&v| v >= 128) {
        return GlyphSdf {
            codepoint: c,
            w: 0,
            h: 0,
            pixels: Vec::new(),
            left: 0.0,
            top: 0.0,
            advance,
        };
    }
    let os = OVERSAMPLE;
    // The atlas-pixel box around the glyph, spread padding included (x right, y up).
    let lx0 = metrics.xmin.div_euclid(os) - SPREAD_PX;
    let lx1 = (metrics.xmin + bw + os - 1).div_euclid(os) + SPREAD_PX;
    let ly0 = metrics.ymin.div_euclid(os) - SPREAD_PX;
    let ly1 = (metrics.ymin + bh + os - 1).div_euclid(os) + SPREAD_PX;
    let (lw, lh) = (lx1 - lx0, ly1 - ly0);

    // The same box at the raster resolution; row 0 at the top.
    let (hw, hh) = ((lw * os) as usize, (lh * os) as usize);
    let mut inside = vec![false; hw * hh];
    for r in 0..bh {
        for col in 0..bw {
            if coverage[(r * bw + col) as usize] < 128 {
                continue;
            }
            let hx = metrics.xmin + col - lx0 * os;
            // Raster row r spans y (up) from ymin + bh - 1 - r; the box's top is ly1 * os.
            let y_up = metrics.ymin + bh - 1 - r;
            let hy = ly1 * os - 1 - y_up;
            inside[hy as usize * hw + hx as usize] = true;
        }
    }
    let to_inside = edt(&inside, hw, hh, true);
    let to_outside = edt(&inside, hw, hh, false);
    // Signed distance (raster pixels, positive inside) from pixel centre to the outline.
    let signed = |i: usize| {
        if inside[i] {
            (to_outside[i].sqrt() - 0.5) as f32
        } else {
            (0.5 - to_inside[i].sqrt()) as f32
        }
    };

    let half = (os / 2) as usize;
    let mut pixels = Vec::with_capacity((lw * lh) as usize);
    for ly in 0..lh as usize {
        for lx in 0..lw as usize {
            // The atlas pixel's centre lies between four raster pixels: average them.
            let (cx, cy) = (lx * os as usize + half, ly * os as usize + half);
            let d = (signed((cy - 1) * hw + cx - 1)
                + signed((cy - 1) * hw + cx)
                + signed(cy * hw + cx - 1)
                + signed(cy * hw + cx))
                * 0.25
                / os as f32;
            let v = 128.0 + d / SPREAD_PX as f32 * 127.0;
            pixels.push(v.round().clamp(0.0, 255.0) as u8);
        }
    }
    GlyphSdf {
        codepoint: c,
        w: lw as u32,
        h: lh as u32,
        pixels,
        left: lx0 as f32 / EM_PX,
        top: ly1 as f32 / EM_PX,
        advance,
    }
}

/// Squared Euclidean distance from every pixel to the nearest pixel whose `inside` equals
/// `target` (Felzenszwalb–Huttenlocher, separable, exact). Pixels with no such pixel anywhere
/// get more than `w² + h²`.
fn edt(inside: &[bool], w: usize, h: usize, target: bool) -> Vec<f64> {
    // Larger than any real squared distance in the grid, yet small enough that the parabola
    // intersections stay exact in f64 (an infinity would turn them into NaN).
    let far = 2.0 * ((w + h) as f64).powi(2) + 1.0;
    let mut grid: Vec<f64> = inside
        .iter()
        .map(|&v| if v == target { 0.0 } else { far })
        .collect();
    let n = w.max(h);
    let (mut f, mut d) = (vec![0.0f64; n], vec![0.0f64; n]);
    let (mut v, mut z) = (vec![0usize; n], vec![0.0f64; n + 1]);
    for x in 0..w {
        for y in 0..h {
            f[y] = grid[y * w + x];
        }
        edt_1d(&f[..h], &mut d[..h], &mut v, &mut z);
        for y in 0..h {
            grid[y * w + x] = d[y];
        }
    }
    for y in 0..h {
        f[..w].copy_from_slice(&grid[y * w..(y + 1) * w]);
        edt_1d(&f[..w], &mut d[..w], &mut v, &mut z);
        grid[y * w..(y + 1) * w].copy_from_slice(&d[..w]);
    }
    grid
}

/// One-dimensional squared distance transform of `f` into `d` (lower envelope of parabolas).
fn edt_1d(f: &[f64], d: &mut [f64], v: &mut [usize], z: &mut [f64]) {
    let n = f.len();
    if n == 0 {
        return;
    }
    let mut k = 0;
    v[0] = 0;
    z[0] = f64::NEG_INFINITY;
    z[1] = f64::INFINITY;
    for q in 1..n {
        let qf = q as f64;
        loop {
            let p = v[k] as f64;
            let s = ((f[q] + qf * qf) - (f[v[k]] + p * p)) / (2.0 * (qf - p));
            if s <= z[k] && k > 0 {
                k -= 1;
            } else {
                k += 1;
                v[k] = q;
                z[k] = s;
                z[k + 1] = f64::INFINITY;
                break;
            }
        }
    }
    k = 0;
    for (q, out) in d.iter_mut().enumerate() {
        let qf = q as f64;
        while z[k + 1] < qf {
            k += 1;
        }
        let p = v[k] as f64;
        *out = (qf - p) * (qf - p) + f[v[k]];
    }
}

/// Shelf packing, tallest first, with a 1-pixel gutter. Returns each glyph's top-left corner
/// (in input order) and the atlas height (a multiple of 4).
fn shelf_pack(glyphs: &[GlyphSdf], width: u32) -> Result<(Vec<(u32, u32)>, u32), String> {
    const GUTTER: u32 = 1;
    const MAX_HEIGHT: u32 = 4096;
    let mut order: Vec<usize> = (0..glyphs.len()).collect();
    order.sort_by_key(|&i| {
        (
            std::cmp::Reverse(glyphs[i].h),
            std::cmp::Reverse(glyphs[i].w),
        )
    });
    let mut places = vec![(0, 0); glyphs.len()];
    let (mut x, mut y, mut shelf_h) = (0u32, 0u32, 0u32);
    for i in order {
        let g = &glyphs[i];
        if g.w == 0 {
            continue;
        }
        if g.w > width {
            return Err(format!("glyph {:?} is wider than the atlas", g.codepoint));
        }
        if x + g.w > width {
            y += shelf_h + GUTTER;
            x = 0;
            shelf_h = 0;
        }
        places[i] = (x, y);
        x += g.w + GUTTER;
        shelf_h = shelf_h.max(g.h);
    }
    let height = (y + shelf_h).div_ceil(4) * 4;
    if height > MAX_HEIGHT {
        return Err(format!(
            "the glyphs need a {width}×{height} atlas, more than {MAX_HEIGHT} rows"
        ));
    }
    Ok((places, height.max(4)))
}

/// The `gen-font` command: reads `ttf`, writes the atlas to `out`, prints a summary.
pub fn run(ttf: &std::path::Path, out: &std::path::Path) -> std::process::ExitCode {
    use std::process::ExitCode;
    let bytes = match std::fs::read(ttf) {
        Ok(b) => b,
        Err(e) => {
            eprintln!(
                "error: cannot read {}: {e} (on Debian: apt-get install fonts-dejavu-core, or \
                 pass --ttf path/to/DejaVuSans.ttf)",
                ttf.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let atlas = match build_font_atlas(&bytes) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {}: {e}", ttf.display());
            return ExitCode::FAILURE;
        }
    };
    let file = match atlas.to_file_bytes() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = std::fs::write(out, &file) {
        eprintln!("error: cannot write {}: {e}", out.display());
        return ExitCode::FAILURE;
    }
    println!(
        "wrote {} ({} bytes): {} glyphs in a {}×{} SDF atlas",
        out.display(),
        file.len(),
        atlas.glyphs.len(),
        atlas.width,
        atlas.height
    );
    if !atlas.missing.is_empty() {
        let list: String = atlas
            .missing
            .iter()
            .map(|c| format!(" U+{:04X} {c}", u32::from(*c)))
            .collect();
        println!("not in the font (drawn as U+FFFD):{list}");
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEJAVU: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

    fn dejavu() -> Option<Vec<u8>> {
        let bytes = std::fs::read(DEJAVU).ok();
        if bytes.is_none() {
            eprintln!("skipped: {DEJAVU} missing (apt-get install fonts-dejavu-core)");
        }
        bytes
    }

    #[test]
    fn distance_transform_is_exact_on_a_small_grid() {
        // One inside pixel in the middle of a 5×5 grid.
        let mut inside = vec![false; 25];
        inside[12] = true;
        let d = edt(&inside, 5, 5, true);
        assert_eq!(d[12], 0.0);
        assert_eq!(d[13], 1.0);
        assert_eq!(d[0], 8.0, "corner is (2,2) away");
        let none = edt(&[false; 4], 2, 2, true);
        assert!(none.iter().all(|&v| v > 8.0), "{none:?}");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(build_font_atlas(b"not a font").is_err());
        assert!(build_font_atlas(&[]).is_err());
    }

    #[test]
    fn dejavu_atlas_has_the_label_glyphs_and_a_sane_field() {
        let Some(ttf) = dejavu() else { return };
        let atlas = match build_font_atlas(&ttf) {
            Ok(a) => a,
            Err(e) => panic!("{e}"),
        };
        for c in "Motor 21.5 °C µS/cm m³/h 100 % 5 Ω −∞ … —\u{FFFD}".chars() {
            assert!(
                atlas.glyphs.iter().any(|g| g.codepoint == c),
                "{c:?} missing"
            );
        }
        assert!(
            atlas
                .glyphs
                .windows(2)
                .all(|w| w[0].codepoint < w[1].codepoint)
        );
        // 'l' is a vertical bar: inside at its middle, outside at the rectangle's corner.
        let Some(l) = atlas.glyphs.iter().find(|g| g.codepoint == 'l') else {
            panic!("no l")
        };
        let [x, y, w, h] = l.rect.map(u32::from);
        let at = |px: u32, py: u32| atlas.pixels[(py * atlas.width + px) as usize];
        assert!(at(x + w / 2, y + h / 2) > 140, "inside is above 128");
        assert!(at(x, y) < 10, "the padded corner is far outside");
        assert!(l.top > 0.7 && l.advance > 0.2 && l.advance < 0.4);
        // Every rectangle stays inside the atlas and rectangles do not overlap.
        for (i, a) in atlas.glyphs.iter().enumerate() {
            let [ax, ay, aw, ah] = a.rect.map(u32::from);
            assert!(ax + aw <= atlas.width && ay + ah <= atlas.height);
            for b in &atlas.glyphs[i + 1..] {
                let [bx, by, bw, bh] = b.rect.map(u32::from);
                let apart = aw == 0
                    || bw == 0
                    || ax + aw <= bx
                    || bx + bw <= ax
                    || ay + ah <= by
                    || by + bh <= ay;
                assert!(apart, "{:?} overlaps {:?}", a.codepoint, b.codepoint);
            }
        }
        let file = match atlas.to_file_bytes() {
            Ok(f) => f,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(&file[..8], MAGIC);
        assert!(file.len() < 150_000, "font.sdf is {} bytes", file.len());
    }
}
