//! Base colour images: PNG or JPEG, size-checked from the header before decoding to RGBA8.

use std::io::Cursor;

use image::{ImageFormat, ImageReader, Limits};

use crate::model::Texture;

/// Largest width or height accepted for one image, in pixels.
pub(super) const MAX_TEXTURE_SIZE: u32 = 8192;

/// Most bytes all decoded textures together may take (RGBA8).
pub(super) const MAX_TOTAL_TEXTURE_BYTES: u64 = 512 << 20;

/// Decodes one image, charging its RGBA8 size to `budget` (bytes still allowed); the error says
/// what was wrong with it.
pub(super) fn decode(bytes: &[u8], budget: &mut u64) -> Result<Texture, String> {
    let format = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        ImageFormat::Png
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        ImageFormat::Jpeg
    } else {
        let start: Vec<String> = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect();
        return Err(format!(
            "is not a PNG or JPEG image (it starts with bytes [{}]); only PNG and JPEG are supported",
            start.join(" ")
        ));
    };
    let name = format!("{format:?}").to_uppercase();
    // Read the size from the header first, so an oversized image gets a message with its size.
    let (width, height) = ImageReader::with_format(Cursor::new(bytes), format)
        .into_dimensions()
        .map_err(|e| format!("could not read the {name} header: {e}"))?;
    if width == 0 || height == 0 || width > MAX_TEXTURE_SIZE || height > MAX_TEXTURE_SIZE {
        return Err(format!(
            "is {width}×{height} pixels; expected 1×1 up to {MAX_TEXTURE_SIZE}×{MAX_TEXTURE_SIZE}"
        ));
    }
    let size = u64::from(width) * u64::from(height) * 4;
    if size > *budget {
        return Err(format!(
            "needs {size} bytes decoded, beyond the {MAX_TOTAL_TEXTURE_BYTES}-byte budget for all \
             textures together"
        ));
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_TEXTURE_SIZE);
    limits.max_image_height = Some(MAX_TEXTURE_SIZE);
    reader.limits(limits);
    let rgba = reader
        .decode()
        .map_err(|e| format!("could not decode the {name} image: {e}"))?
        .into_rgba8();
    // The decoder already enforces the header's size; this keeps `rgba` and the reported
    // dimensions consistent whatever it does.
    if rgba.dimensions() != (width, height) {
        return Err(format!(
            "decoded to {}×{} pixels but its header says {width}×{height}",
            rgba.width(),
            rgba.height()
        ));
    }
    *budget -= size;
    Ok(Texture {
        width,
        height,
        rgba: rgba.into_raw(),
    })
}
