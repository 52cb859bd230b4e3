//! Base colour images: PNG or JPEG, size-checked from the header before decoding to RGBA8.
//! The `png` and `zune-jpeg` decoders are used directly (not the `image` umbrella crate) because
//! the wasm download pays for every codec and colour-management layer linked in.

use std::io::Cursor;

use crate::model::Texture;

/// Largest width or height accepted for one image, in pixels.
pub(super) const MAX_TEXTURE_SIZE: u32 = 8192;

/// Most bytes all decoded textures together may take (RGBA8).
pub(super) const MAX_TOTAL_TEXTURE_BYTES: u64 = 512 << 20;

/// Decodes one image, charging its RGBA8 size to `budget` (bytes still allowed); the error says
/// what was wrong with it.
pub(super) fn decode(bytes: &[u8], budget: &mut u64) -> Result<Texture, String> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        decode_png(bytes, budget)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        decode_jpeg(bytes, budget)
    } else {
        let start: Vec<String> = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect();
        Err(format!(
            "is not a PNG or JPEG image (it starts with bytes [{}]); only PNG and JPEG are supported",
            start.join(" ")
        ))
    }
}

/// Refuses sizes outside 1..=MAX_TEXTURE_SIZE and decoded sizes beyond the budget, before any
/// pixel is decoded.
fn check_size(width: u32, height: u32, budget: u64) -> Result<u64, String> {
    if width == 0 || height == 0 || width > MAX_TEXTURE_SIZE || height > MAX_TEXTURE_SIZE {
        return Err(format!(
            "is {width}×{height} pixels; expected 1×1 up to {MAX_TEXTURE_SIZE}×{MAX_TEXTURE_SIZE}"
        ));
    }
    let size = u64::from(width) * u64::from(height) * 4;
    if size > budget {
        return Err(format!(
            "needs {size} bytes decoded, beyond the {MAX_TOTAL_TEXTURE_BYTES}-byte budget for all \
             textures together"
        ));
    }
    Ok(size)
}

fn decode_png(bytes: &[u8], budget: &mut u64) -> Result<Texture, String> {
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    // Palette and low bit depths expand to 8-bit channels, 16-bit channels shrink to 8.
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder
        .read_info()
        .map_err(|e| format!("could not read the PNG header: {e}"))?;
    let (width, height) = (reader.info().width, reader.info().height);
    let size = check_size(width, height, *budget)?;
    let buffer_len = reader
        .output_buffer_size()
        .ok_or_else(|| format!("is {width}×{height} pixels, too large to decode"))?;
    let mut buf = vec![0; buffer_len];
    let frame = reader
        .next_frame(&mut buf)
        .map_err(|e| format!("could not decode the PNG image: {e}"))?;
    let pixels = buf
        .get(..frame.buffer_size())
        .ok_or("decoded to fewer bytes than its header promised")?;
    let rgba = match frame.color_type {
        png::ColorType::Rgba => pixels.to_vec(),
        png::ColorType::Rgb => pixels
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect(),
        png::ColorType::GrayscaleAlpha => pixels
            .chunks_exact(2)
            .flat_map(|p| [p[0], p[0], p[0], p[1]])
            .collect(),
        png::ColorType::Grayscale => pixels.iter().flat_map(|&g| [g, g, g, 255]).collect(),
        png::ColorType::Indexed => {
            return Err("kept its palette after expansion; re-save it as RGB(A)".into());
        }
    };
    finish(rgba, width, height, size, budget, "PNG")
}

fn decode_jpeg(bytes: &[u8], budget: &mut u64) -> Result<Texture, String> {
    use zune_jpeg::zune_core::bytestream::ZCursor;
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;

    let options = DecoderOptions::default()
        .set_max_width(MAX_TEXTURE_SIZE as usize)
        .set_max_height(MAX_TEXTURE_SIZE as usize)
        .jpeg_set_out_colorspace(ColorSpace::RGBA);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    decoder
        .decode_headers()
        .map_err(|e| format!("could not read the JPEG header: {e:?}"))?;
    let info = decoder.info().ok_or("has no JPEG frame header")?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    let size = check_size(width, height, *budget)?;
    let len = decoder
        .output_buffer_size()
        .ok_or("has a JPEG header without an output size")?;
    let mut rgba = vec![0; len];
    decoder
        .decode_into(&mut rgba)
        .map_err(|e| format!("could not decode the JPEG image: {e:?}"))?;
    finish(rgba, width, height, size, budget, "JPEG")
}

fn finish(
    rgba: Vec<u8>,
    width: u32,
    height: u32,
    size: u64,
    budget: &mut u64,
    kind: &str,
) -> Result<Texture, String> {
    // Keeps `rgba` and the reported dimensions consistent whatever the decoder did.
    if rgba.len() as u64 != size {
        return Err(format!(
            "{kind} decoded to {} bytes but {width}×{height} RGBA needs {size}",
            rgba.len()
        ));
    }
    *budget -= size;
    Ok(Texture {
        width,
        height,
        rgba,
    })
}
