//! The GLB container: a 12-byte header, the JSON chunk, then at most one BIN chunk.
//!
//! Parsed here rather than with `gltf::binary::Glb::from_slice`, which subtracts the header size
//! from the declared total length without checking it first (an underflow on hostile input) and
//! reports problems without saying which chunk or byte they concern.

use super::problem;
use crate::model::ModelProblem;

/// The first four bytes of every GLB file.
pub(super) const MAGIC: &[u8; 4] = b"glTF";

const HEADER_LEN: usize = 12;
const CHUNK_HEADER_LEN: usize = 8;
const CHUNK_JSON: [u8; 4] = *b"JSON";
const CHUNK_BIN: [u8; 4] = *b"BIN\0";

/// The chunks of a GLB file, borrowed from it.
pub(super) struct Chunks<'a> {
    /// The JSON document.
    pub json: &'a [u8],
    /// The binary buffer that `buffers[0]` refers to when it has no `uri`.
    pub bin: Option<&'a [u8]>,
}

/// Splits a GLB file (which starts with [`MAGIC`]) into its chunks, checking every length.
pub(super) fn split(bytes: &[u8]) -> Result<Chunks<'_>, ModelProblem> {
    let fail = |message: String| Err(problem("GLB", message));
    let (Some(version), Some(declared)) = (read_u32(bytes, 4), read_u32(bytes, 8)) else {
        return fail(format!(
            "the file is {} bytes long, shorter than the {HEADER_LEN}-byte GLB header",
            bytes.len()
        ));
    };
    if version != 2 {
        return fail(format!(
            "GLB version {version} is not supported; expected version 2"
        ));
    }
    let declared = u64::from(declared);
    if declared > bytes.len() as u64 {
        return fail(format!(
            "the header declares a total length of {declared} bytes but the file has only {} \
             (truncated download?)",
            bytes.len()
        ));
    }
    if declared < (HEADER_LEN + CHUNK_HEADER_LEN) as u64 {
        return fail(format!(
            "the header declares a total length of {declared} bytes; a GLB needs at least {} for \
             its header and JSON chunk header",
            HEADER_LEN + CHUNK_HEADER_LEN
        ));
    }
    // Bytes past the declared length are not part of the GLB and are ignored.
    let body = usize::try_from(declared)
        .ok()
        .and_then(|end| bytes.get(HEADER_LEN..end))
        .unwrap_or_default();

    let mut json = None;
    let mut bin = None;
    let mut at = 0usize;
    let mut index = 0usize;
    while at < body.len() {
        let file_offset = HEADER_LEN + at;
        let (Some(length), Some(kind)) = (read_u32(body, at), read_array::<4>(body, at + 4)) else {
            return fail(format!(
                "chunk {index} at byte {file_offset}: only {} bytes remain, too few for an \
                 {CHUNK_HEADER_LEN}-byte chunk header",
                body.len() - at
            ));
        };
        let start = at + CHUNK_HEADER_LEN;
        let available = body.len() - start;
        let Some(data) = usize::try_from(length)
            .ok()
            .and_then(|length| body.get(start..start.checked_add(length)?))
        else {
            return fail(format!(
                "chunk {index} ({}) at byte {file_offset} declares {length} bytes of data but only \
                 {available} remain in the file",
                chunk_name(kind)
            ));
        };
        match (index, kind) {
            (0, CHUNK_JSON) => json = Some(data),
            (0, _) => {
                return fail(format!(
                    "the first chunk must be JSON, found {}",
                    chunk_name(kind)
                ));
            }
            (1, CHUNK_BIN) => bin = Some(data),
            (_, CHUNK_JSON | CHUNK_BIN) => {
                return fail(format!(
                    "chunk {index} is another {} chunk; a GLB has one JSON chunk first and at most \
                     one BIN chunk second",
                    chunk_name(kind)
                ));
            }
            // The GLB specification tells readers to skip chunk types they do not know.
            _ => {}
        }
        at = start + data.len();
        index += 1;
    }
    match json {
        Some(json) => Ok(Chunks { json, bin }),
        None => fail("the file has no JSON chunk".to_owned()),
    }
}

fn read_array<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    read_array(bytes, at).map(u32::from_le_bytes)
}

fn chunk_name(kind: [u8; 4]) -> String {
    format!("{:?}", String::from_utf8_lossy(&kind))
}
