//! The label font: the signed-distance-field glyph atlas made offline by `twinlens gen-font`
//! (embedded from `font.sdf`; format documented in `cli/src/font.rs`), its glyph metrics, and
//! single-line text layout in pixels.
//!
//! The atlas holds printable ASCII, Latin-1, Greek and the symbols units and value formatting
//! use (`°`, `µ`, `²`, `³`, `Ω`, `‰`, `−`, `…`, `∞`, …); anything else is drawn as U+FFFD. There is
//! no kerning and no shaping: labels are short Latin text, and every glyph advances by its own
//! width. The glyphs are DejaVu Sans (licence in `FONT-LICENSE.txt` next to the atlas).

use std::io::Cursor;
use std::sync::OnceLock;

/// The embedded atlas file.
pub const FONT_FILE: &[u8] = include_bytes!("font.sdf");

const MAGIC: &[u8; 8] = b"TLFONT01";
const HEADER_LEN: usize = 40;
const RECORD_LEN: usize = 24;
/// Largest atlas side accepted: WebGL2 guarantees 2048; this bounds the decode too.
const MAX_ATLAS_SIDE: u16 = 4096;
/// The character drawn for every character the atlas lacks.
pub const REPLACEMENT: char = '\u{FFFD}';
/// Truncated lines end in this.
pub const ELLIPSIS: char = '…';

/// Why a font file could not be used. The embedded file is checked by tests, so at run time
/// this means a build that embedded a damaged or outdated `font.sdf`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FontError {
    /// The file is shorter than its header or tables say.
    #[error(
        "font.sdf is truncated ({0}); regenerate it with `cargo run -p twinlens-cli -- gen-font`"
    )]
    Truncated(&'static str),
    /// The file does not start with the version-1 magic.
    #[error(
        "font.sdf is not a twinlens SDF font (bad magic); regenerate it with \
         `cargo run -p twinlens-cli -- gen-font`"
    )]
    BadMagic,
    /// A header or glyph field is out of range.
    #[error("font.sdf is invalid: {0}; regenerate it with `cargo run -p twinlens-cli -- gen-font`")]
    Invalid(String),
    /// The pixel stream is not the PNG the header describes.
    #[error(
        "font.sdf has a broken atlas image ({0}); regenerate it with \
         `cargo run -p twinlens-cli -- gen-font`"
    )]
    Image(String),
}

/// One glyph of the atlas. Lengths are in em (multiply by the text size in pixels).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Glyph {
    /// The character this glyph draws.
    pub codepoint: char,
    /// Rectangle in the atlas, pixels: x, y, width, height; zero size for blank glyphs.
    pub rect: [u16; 4],
    /// The same rectangle in texture coordinates: u0, v0, u1, v1.
    pub uv: [f32; 4],
    /// Pen position to the quad's left edge.
    pub left: f32,
    /// Baseline up to the quad's top edge.
    pub top: f32,
    /// Quad width.
    pub width: f32,
    /// Quad height.
    pub height: f32,
    /// Distance the pen moves after this glyph.
    pub advance: f32,
}

/// A glyph placed on a line, in pixels relative to the line's start on the baseline (x right,
/// y down, so `min[1]` is negative above the baseline).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GlyphQuad {
    /// Top-left corner.
    pub min: [f32; 2],
    /// Bottom-right corner.
    pub max: [f32; 2],
    /// Texture coordinates of the corners: u0, v0, u1, v1.
    pub uv: [f32; 4],
    /// The same corners in atlas pixels: x0, y0, x1, y1.
    pub atlas: [u16; 4],
}

/// A parsed SDF font: metrics, glyph table and the atlas pixels.
#[derive(Debug, Clone)]
pub struct Font {
    atlas_size: [u32; 2],
    em_px: f32,
    spread_px: f32,
    ascent: f32,
    descent: f32,
    line_gap: f32,
    /// Sorted by codepoint.
    glyphs: Vec<Glyph>,
    /// Glyph index for codepoints below 256 (`u16::MAX`: none), the common case.
    latin1: Vec<u16>,
    replacement: usize,
    space: usize,
    pixels: Vec<u8>,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn f32_at(b: &[u8], at: usize) -> Option<f32> {
    u32_at(b, at).map(f32::from_bits)
}

impl Font {
    /// The font embedded in the app, parsed on first use.
    pub fn embedded() -> Result<&'static Font, FontError> {
        static EMBEDDED: OnceLock<Result<Font, FontError>> = OnceLock::new();
        EMBEDDED
            .get_or_init(|| Font::parse(FONT_FILE))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Parses a `font.sdf` file, checking every size, offset and rectangle.
    pub fn parse(bytes: &[u8]) -> Result<Font, FontError> {
        if bytes.len() < HEADER_LEN {
            return Err(FontError::Truncated("header"));
        }
        if &bytes[..8] != MAGIC {
            return Err(FontError::BadMagic);
        }
        let header = |at| u16_at(bytes, at).ok_or(FontError::Truncated("header"));
        let headerf = |at| f32_at(bytes, at).ok_or(FontError::Truncated("header"));
        let (width, height, count) = (header(8)?, header(10)?, header(12)?);
        if width == 0 || height == 0 || width > MAX_ATLAS_SIDE || height > MAX_ATLAS_SIDE {
            return Err(FontError::Invalid(format!(
                "atlas size {width}×{height} (expected 1..={MAX_ATLAS_SIDE} per side)"
            )));
        }
        let (em_px, spread_px) = (headerf(16)?, headerf(20)?);
        let (ascent, descent, line_gap) = (headerf(24)?, headerf(28)?, headerf(32)?);
        let sane = |v: f32, lo: f32, hi: f32| v.is_finite() && v >= lo && v <= hi;
        if !sane(em_px, 1.0, 1024.0) || !sane(spread_px, 0.5, 256.0) {
            return Err(FontError::Invalid(format!(
                "em size {em_px} px, spread {spread_px} px"
            )));
        }
        if !sane(ascent, 0.0, 4.0) || !sane(descent, -4.0, 0.0) || !sane(line_gap, 0.0, 4.0) {
            return Err(FontError::Invalid(format!(
                "line metrics ascent {ascent}, descent {descent}, gap {line_gap}"
            )));
        }
        let pixel_len = u32_at(bytes, 36).ok_or(FontError::Truncated("header"))? as usize;
        let table_end = HEADER_LEN + RECORD_LEN * usize::from(count);
        let table = bytes
            .get(HEADER_LEN..table_end)
            .ok_or(FontError::Truncated("glyph table"))?;
        let png = table_end
            .checked_add(pixel_len)
            .and_then(|end| bytes.get(table_end..end))
            .ok_or(FontError::Truncated("atlas image"))?;

        let atlas = [f32::from(width), f32::from(height)];
        let mut glyphs = Vec::with_capacity(usize::from(count));
        for (i, rec) in table.chunks_exact(RECORD_LEN).enumerate() {
            let bad = |what: String| FontError::Invalid(format!("glyph {i}: {what}"));
            let cp = u32_at(rec, 0).ok_or(FontError::Truncated("glyph table"))?;
            let codepoint =
                char::from_u32(cp).ok_or_else(|| bad(format!("U+{cp:X} is not a character")))?;
            if glyphs
                .last()
                .is_some_and(|g: &Glyph| g.codepoint >= codepoint)
            {
                return Err(bad("codepoints are not strictly ascending".into()));
            }
            let rect = [0, 2, 4, 6].map(|o| u16_at(rec, 4 + o).unwrap_or(0));
            let [x, y, w, h] = rect.map(u32::from);
            if x + w > u32::from(width) || y + h > u32::from(height) {
                return Err(bad(format!("rectangle {rect:?} leaves the atlas")));
            }
            let [left, top, advance] = [12, 16, 20].map(|o| f32_at(rec, o).unwrap_or(f32::NAN));
            if ![left, top, advance].iter().all(|v| sane(*v, -8.0, 8.0)) {
                return Err(bad(format!(
                    "metrics left {left}, top {top}, advance {advance}"
                )));
            }
            let [xf, yf, wf, hf] = rect.map(f32::from);
            glyphs.push(Glyph {
                codepoint,
                rect,
                uv: [
                    xf / atlas[0],
                    yf / atlas[1],
                    (xf + wf) / atlas[0],
                    (yf + hf) / atlas[1],
                ],
                left,
                top,
                width: wf / em_px,
                height: hf / em_px,
                advance,
            });
        }
        let find = |c: char| glyphs.binary_search_by_key(&c, |g| g.codepoint).ok();
        let replacement = find(REPLACEMENT)
            .ok_or_else(|| FontError::Invalid("no U+FFFD replacement glyph".into()))?;
        let space = find(' ').ok_or_else(|| FontError::Invalid("no space glyph".into()))?;
        let mut latin1 = vec![u16::MAX; 256];
        for (i, g) in glyphs.iter().enumerate() {
            if let Some(slot) = latin1.get_mut(g.codepoint as usize) {
                // At most 65535 glyphs (the count is a u16).
                *slot = i as u16;
            }
        }
        let pixels = decode_atlas(png, u32::from(width), u32::from(height))?;
        Ok(Font {
            atlas_size: [u32::from(width), u32::from(height)],
            em_px,
            spread_px,
            ascent,
            descent,
            line_gap,
            glyphs,
            latin1,
            replacement,
            space,
            pixels,
        })
    }

    /// The glyph for `c`: U+FFFD when the atlas lacks it, the space for whitespace it lacks
    /// (a tab in a name should not become a question mark).
    pub fn glyph(&self, c: char) -> &Glyph {
        let index = match self.index_of(c) {
            Some(i) => i,
            None if c.is_whitespace() => self.space,
            None => self.replacement,
        };
        &self.glyphs[index]
    }

    /// Whether the atlas has its own glyph for `c`.
    pub fn has_glyph(&self, c: char) -> bool {
        self.index_of(c).is_some()
    }

    fn index_of(&self, c: char) -> Option<usize> {
        match self.latin1.get(c as usize) {
            Some(&u16::MAX) => None,
            Some(&i) => Some(usize::from(i)),
            None => self.glyphs.binary_search_by_key(&c, |g| g.codepoint).ok(),
        }
    }

    /// Lays out `text` on one line at `size_px` pixels per em: its advance width and a quad
    /// per visible glyph.
    pub fn layout_line(&self, text: &str, size_px: f32) -> (f32, Vec<GlyphQuad>) {
        let mut quads = Vec::with_capacity(text.len());
        let width = self.layout_line_into(text, size_px, f32::INFINITY, &mut quads);
        (width, quads)
    }

    /// Appends the quads of `text` at `size_px` to `out` and returns the line's width. A line
    /// wider than `max_width` is cut and ends in `…` so that it fits (just the ellipsis, or
    /// nothing, when even that does not). Allocates nothing once `out` has grown.
    pub fn layout_line_into(
        &self,
        text: &str,
        size_px: f32,
        max_width: f32,
        out: &mut Vec<GlyphQuad>,
    ) -> f32 {
        let size = sane_size(size_px);
        let (end, ellipsis, _) = self.fit(text, size, max_width);
        let mut pen = 0.0;
        for c in text[..end].chars() {
            pen = self.push_glyph(c, pen, size, out);
        }
        if ellipsis {
            pen = self.push_glyph(ELLIPSIS, pen, size, out);
        }
        pen
    }

    /// Width of `text` at `size_px` as [`Self::layout_line_into`] would lay it out.
    pub fn line_width(&self, text: &str, size_px: f32, max_width: f32) -> f32 {
        self.fit(text, sane_size(size_px), max_width).2
    }

    /// Pen position after `text` at `size`, summed exactly as [`Self::push_glyph`] moves it.
    fn advance_of(&self, text: &str, size: f32) -> f32 {
        text.chars()
            .fold(0.0, |pen, c| pen + self.glyph(c).advance * size)
    }

    /// How much of `text` fits in `max_width` at `size`: the byte length kept, whether an
    /// ellipsis follows, and the width of the result.
    fn fit(&self, text: &str, size: f32, max_width: f32) -> (usize, bool, f32) {
        let full = self.advance_of(text, size);
        if full <= max_width || max_width.is_nan() {
            return (text.len(), false, full);
        }
        let ellipsis = self.glyph(ELLIPSIS).advance * size;
        if ellipsis > max_width {
            return (0, false, 0.0);
        }
        let mut pen = 0.0;
        let mut end = 0;
        for (i, c) in text.char_indices() {
            let next = pen + self.glyph(c).advance * size;
            if next + ellipsis > max_width {
                break;
            }
            pen = next;
            end = i + c.len_utf8();
        }
        // No dangling space before the ellipsis.
        let kept = text[..end].trim_end();
        (kept.len(), true, self.advance_of(kept, size) + ellipsis)
    }

    fn push_glyph(&self, c: char, pen: f32, size: f32, out: &mut Vec<GlyphQuad>) -> f32 {
        let g = self.glyph(c);
        if g.rect[2] > 0 && g.rect[3] > 0 {
            let x0 = pen + g.left * size;
            let y0 = -g.top * size;
            let [x, y, w, h] = g.rect;
            out.push(GlyphQuad {
                min: [x0, y0],
                max: [x0 + g.width * size, y0 + g.height * size],
                uv: g.uv,
                // Inside the atlas (checked when parsing), so no overflow.
                atlas: [x, y, x + w, y + h],
            });
        }
        pen + g.advance * size
    }

    /// Atlas size in pixels (width, height).
    pub fn atlas_size(&self) -> [u32; 2] {
        self.atlas_size
    }

    /// The atlas, one byte per pixel, row-major: `p` encodes the signed distance
    /// `(p − 128) / 127 × spread_px` atlas pixels to the outline, positive inside.
    pub fn atlas_pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// Atlas pixels per em.
    pub fn em_px(&self) -> f32 {
        self.em_px
    }

    /// Distance range of the atlas, atlas pixels (see [`Self::atlas_pixels`]).
    pub fn spread_px(&self) -> f32 {
        self.spread_px
    }

    /// Height above the baseline that the tallest glyphs reach, em.
    pub fn ascent(&self) -> f32 {
        self.ascent
    }

    /// Depth below the baseline (negative), em.
    pub fn descent(&self) -> f32 {
        self.descent
    }

    /// Ascent to descent plus the line gap, em: the distance between baselines.
    pub fn line_height(&self) -> f32 {
        self.ascent - self.descent + self.line_gap
    }

    /// Every glyph, codepoints ascending.
    pub fn glyphs(&self) -> &[Glyph] {
        &self.glyphs
    }
}

/// A text size that lays out to finite quads: NaN and infinities draw nothing.
fn sane_size(size_px: f32) -> f32 {
    if size_px.is_finite() {
        size_px.max(0.0)
    } else {
        0.0
    }
}

/// Decodes the atlas PNG, which must be 8-bit greyscale of exactly `width × height`.
fn decode_atlas(png_bytes: &[u8], width: u32, height: u32) -> Result<Vec<u8>, FontError> {
    let err = |e: String| FontError::Image(e);
    let decoder = png::Decoder::new(Cursor::new(png_bytes));
    let mut reader = decoder.read_info().map_err(|e| err(e.to_string()))?;
    let info = reader.info();
    if (info.width, info.height) != (width, height)
        || info.color_type != png::ColorType::Grayscale
        || info.bit_depth != png::BitDepth::Eight
    {
        return Err(err(format!(
            "{}×{} {:?} {:?}, expected {width}×{height} 8-bit greyscale",
            info.width, info.height, info.color_type, info.bit_depth
        )));
    }
    let mut pixels = vec![0; (width * height) as usize];
    let frame = reader
        .next_frame(&mut pixels)
        .map_err(|e| err(e.to_string()))?;
    if frame.buffer_size() != pixels.len() {
        return Err(err(format!(
            "decoded {} bytes, expected {}",
            frame.buffer_size(),
            pixels.len()
        )));
    }
    Ok(pixels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn font() -> &'static Font {
        match Font::embedded() {
            Ok(f) => f,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn every_character_of_typical_labels_has_its_own_glyph() {
        let f = font();
        let text = "Motor winding temperature 21.5 °C µS/cm m³/h 100 % 5 Ω";
        for c in text.chars() {
            assert!(f.has_glyph(c), "{c:?} (U+{:04X}) falls back", c as u32);
            assert_eq!(f.glyph(c).codepoint, c);
        }
        // What format.rs writes: minus, no-value dash, infinity, ellipsis, per mille, primes.
        for c in "−—∞…‰′″μΩ²·±⬣▲●".chars() {
            assert!(f.has_glyph(c), "{c:?} falls back");
        }
        // Greek, for symbols (Δp, θ, λ, σ) and Greek names.
        for c in "ΔΘΛΣΦΨΩ αβγδεηθκλνξπρστφχψω άέήίόύώ".chars() {
            assert!(f.has_glyph(c), "{c:?} falls back");
        }
        for c in (' '..='~').chain('\u{A0}'..='\u{FF}') {
            assert!(f.has_glyph(c), "{c:?} falls back");
        }
    }

    #[test]
    fn missing_characters_fall_back_to_the_replacement_glyph() {
        let f = font();
        for c in ['中', '語', '\u{1F600}', '\u{0}'] {
            assert!(!f.has_glyph(c));
            assert_eq!(f.glyph(c).codepoint, REPLACEMENT, "{c:?}");
        }
        // Whitespace the atlas lacks reads as a space, not as a box.
        assert_eq!(f.glyph('\t').codepoint, ' ');
        assert_eq!(f.glyph('\u{2003}').codepoint, ' ');
    }

    #[test]
    fn width_grows_with_text_and_with_size() {
        let f = font();
        let (w1, q1) = f.layout_line("21", 20.0);
        let (w2, q2) = f.layout_line("21.5 °C", 20.0);
        assert!(w1 > 0.0 && w2 > w1, "{w1} {w2}");
        assert_eq!(q1.len(), 2);
        assert_eq!(q2.len(), 6, "the space has no quad");
        let (w3, _) = f.layout_line("21.5 °C", 40.0);
        assert!((w3 - 2.0 * w2).abs() < 1e-3);
        assert_eq!(f.line_width("21.5 °C", 20.0, f32::INFINITY), w2);
        assert_eq!(f.layout_line("", 20.0), (0.0, vec![]));
        // Quads advance left to right and sit on the baseline (digits: above it).
        assert!(q1[1].min[0] > q1[0].min[0]);
        assert!(q1[0].min[1] < -10.0 && q1[0].max[1] > 0.0, "{:?}", q1[0]);
        assert!(q1.iter().all(|q| q.uv[0] < q.uv[2] && q.uv[1] < q.uv[3]));
    }

    #[test]
    fn a_line_too_wide_is_cut_with_an_ellipsis_that_fits() {
        let f = font();
        let text = "Motor winding temperature sensor";
        let full = f.line_width(text, 13.0, f32::INFINITY);
        let mut quads = Vec::new();
        let w = f.layout_line_into(text, 13.0, 100.0, &mut quads);
        assert!(w <= 100.0 && w > 80.0, "{w} of {full}");
        assert_eq!(w, f.line_width(text, 13.0, 100.0));
        let last = quads.last().copied();
        let ell = f.glyph(ELLIPSIS);
        assert!(last.is_some_and(|q| q.uv == ell.uv), "ends in …");
        // Too narrow for even the ellipsis: nothing.
        quads.clear();
        assert_eq!(f.layout_line_into(text, 13.0, 2.0, &mut quads), 0.0);
        assert!(quads.is_empty());
        // Fits exactly: unchanged.
        assert_eq!(f.line_width(text, 13.0, full), full);
        // Garbage sizes draw nothing rather than NaN quads.
        let (w, q) = f.layout_line("abc", f32::NAN);
        assert_eq!(w, 0.0);
        assert!(
            q.iter()
                .all(|q| q.min.iter().chain(&q.max).all(|v| v.is_finite()))
        );
    }

    #[test]
    fn embedded_atlas_is_consistent() {
        let f = font();
        let [w, h] = f.atlas_size();
        assert_eq!(f.atlas_pixels().len(), (w * h) as usize);
        assert!(f.ascent() > 0.5 && f.descent() < 0.0 && f.line_height() > 1.0);
        assert!(f.spread_px() >= 2.0 && f.em_px() >= 24.0);
        // Inside a glyph the field is above the outline value, at its padded corner below.
        let g = f.glyph('l');
        let [x, y, gw, gh] = g.rect.map(u32::from);
        let at = |px: u32, py: u32| f.atlas_pixels()[(py * w + px) as usize];
        assert!(at(x + gw / 2, y + gh / 2) > 128);
        assert!(at(x, y) < 64);
        assert!(
            FONT_FILE.len() < 150_000,
            "font.sdf is {} bytes",
            FONT_FILE.len()
        );
    }

    fn with(mut bytes: Vec<u8>, at: usize, patch: &[u8]) -> Vec<u8> {
        bytes[at..at + patch.len()].copy_from_slice(patch);
        bytes
    }

    #[test]
    fn broken_files_are_errors_never_panics() {
        let good = FONT_FILE.to_vec();
        assert!(Font::parse(&good).is_ok());
        // Every truncation, coarsely (the PNG part in big steps).
        let table_end = HEADER_LEN + RECORD_LEN * usize::from(u16_at(&good, 12).unwrap_or(0));
        let cuts = (0..table_end + 64).chain((table_end..good.len()).step_by(997));
        for len in cuts {
            assert!(
                Font::parse(&good[..len]).is_err(),
                "truncated to {len} parsed"
            );
        }
        assert_eq!(
            Font::parse(&with(good.clone(), 0, b"XXXXXXXX")).err(),
            Some(FontError::BadMagic)
        );
        // Zero-sized and huge atlases.
        assert!(Font::parse(&with(good.clone(), 8, &0u16.to_le_bytes())).is_err());
        assert!(Font::parse(&with(good.clone(), 10, &60000u16.to_le_bytes())).is_err());
        // A glyph count that runs past the end.
        assert!(Font::parse(&with(good.clone(), 12, &u16::MAX.to_le_bytes())).is_err());
        // Pixel length past the end, and a NaN em size.
        assert!(Font::parse(&with(good.clone(), 36, &u32::MAX.to_le_bytes())).is_err());
        assert!(Font::parse(&with(good.clone(), 16, &f32::NAN.to_le_bytes())).is_err());
        // First glyph: a rectangle outside the atlas, a surrogate codepoint, a NaN advance.
        let rec = HEADER_LEN;
        assert!(Font::parse(&with(good.clone(), rec + 4, &65000u16.to_le_bytes())).is_err());
        assert!(Font::parse(&with(good.clone(), rec, &0xD800u32.to_le_bytes())).is_err());
        assert!(Font::parse(&with(good.clone(), rec + 20, &f32::NAN.to_le_bytes())).is_err());
        // Out of order: the second glyph repeats the first's codepoint.
        let first = good[rec..rec + 4].to_vec();
        assert!(Font::parse(&with(good.clone(), rec + RECORD_LEN, &first)).is_err());
        // No U+FFFD: rename the last glyph (which is U+FFFD) to U+FFFC.
        let count = usize::from(u16_at(&good, 12).unwrap_or(0));
        let last = rec + RECORD_LEN * (count - 1);
        let renamed = with(good.clone(), last, &0xFFFCu32.to_le_bytes());
        assert!(matches!(Font::parse(&renamed), Err(FontError::Invalid(_))));
        // A corrupted image.
        let mut bad_png = good.clone();
        for b in &mut bad_png[table_end + 40..table_end + 80] {
            *b ^= 0x5A;
        }
        assert!(Font::parse(&bad_png).is_err());
    }
}
