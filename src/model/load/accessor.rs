//! Accessors: proving that every element lies inside its buffer view before any is read, then
//! decoding elements to `f32` or `u32`.

use gltf::json;
use gltf::json::accessor::{ComponentType, Type};
use gltf::json::validation::Checked;

use super::{View, problem};
use crate::model::ModelProblem;

/// Most elements an accessor without a `bufferView` may declare. Such an accessor is all zeros
/// by the specification, so nothing in the file backs its size.
pub(super) const MAX_UNBACKED_COUNT: u64 = 1 << 20;

/// An accessor whose elements are proven to lie within real bytes (or to be all zeros).
#[derive(Clone, Copy)]
pub(super) struct Accessor<'a> {
    /// From the first byte of the first element to the last byte of the last; `None` when the
    /// accessor has no buffer view and reads as zeros.
    data: Option<&'a [u8]>,
    /// Bytes from one element to the next, at least the element size (so never zero).
    stride: usize,
    /// Number of elements.
    pub count: usize,
    /// Data type of each component.
    pub component: ComponentType,
    /// Shape of each element.
    pub dims: Type,
    /// Whether integer components map to 0..1 (unsigned) or -1..1 (signed).
    pub normalized: bool,
}

/// Checks `accessors[index]` against the buffer views. `Err(None)` means its buffer view is
/// broken, which has been reported already.
pub(super) fn check<'a>(
    index: usize,
    accessor: &json::Accessor,
    views: &[Option<View<'a>>],
) -> Result<Accessor<'a>, Option<ModelProblem>> {
    let path = format!("accessors[{index}]");
    let fail = |message: String| Err(Some(problem(&path, message)));
    if accessor.sparse.is_some() {
        return fail("sparse accessors are not supported; store the values densely".to_owned());
    }
    let (Checked::Valid(component), Checked::Valid(dims)) =
        (accessor.component_type.as_ref(), accessor.type_.as_ref())
    else {
        return fail("componentType or type is not one glTF defines".to_owned());
    };
    let (component, dims) = (component.0, *dims);
    let count = accessor.count.0;
    let element = element_size(component, dims);

    let Some(view_index) = accessor.buffer_view.map(|v| v.value()) else {
        if accessor.byte_offset.is_some_and(|o| o.0 != 0) {
            return fail("has a byteOffset but no bufferView".to_owned());
        }
        if count > MAX_UNBACKED_COUNT {
            return fail(format!(
                "has no bufferView (all zeros) and a count of {count}; at most \
                 {MAX_UNBACKED_COUNT} elements are accepted without data behind them"
            ));
        }
        return Ok(Accessor {
            data: None,
            stride: element,
            count: count as usize,
            component,
            dims,
            normalized: accessor.normalized,
        });
    };
    let Some(view) = views.get(view_index) else {
        return fail(format!("bufferView {view_index} does not exist"));
    };
    let Some(view) = view else { return Err(None) };

    let stride = view.stride.unwrap_or(element);
    if stride < element {
        return fail(format!(
            "bufferViews[{view_index}].byteStride is {stride}, smaller than one {} element \
             ({element} bytes)",
            describe(component, dims, accessor.normalized)
        ));
    }
    let offset = accessor.byte_offset.map_or(0, |o| o.0);
    // u128 cannot overflow here: every factor is at most u64::MAX and stride is small.
    let span = match count {
        0 => 0,
        n => u128::from(n - 1) * stride as u128 + element as u128,
    };
    let end = u128::from(offset) + span;
    let data = usize::try_from(end)
        .ok()
        .and_then(|end| view.bytes.get(usize::try_from(offset).ok()?..end));
    let Some(data) = data else {
        return fail(format!(
            "count {count} with stride {stride} and {element}-byte elements from byteOffset \
             {offset} needs bytes up to {end}, but bufferViews[{view_index}] has only {} bytes",
            view.bytes.len()
        ));
    };
    Ok(Accessor {
        data: Some(data),
        stride,
        // The elements lie within `data`, so the count fits in memory's address range.
        count: count as usize,
        component,
        dims,
        normalized: accessor.normalized,
    })
}

impl Accessor<'_> {
    /// Calls `f` with each element's first (up to) four components as `f32`: floats as stored,
    /// normalized integers mapped per the glTF specification, other integers by value.
    /// Components the element lacks keep their value from `fill`.
    pub fn for_each_f32(&self, fill: [f32; 4], mut f: impl FnMut(usize, [f32; 4])) {
        let size = self.component.size();
        let components = self.dims.multiplicity().min(4);
        match self.data {
            None => {
                let mut zero = fill;
                zero.iter_mut().take(components).for_each(|c| *c = 0.0);
                (0..self.count).for_each(|i| f(i, zero));
            }
            Some(data) => {
                for (i, element) in data.chunks(self.stride).take(self.count).enumerate() {
                    let mut value = fill;
                    for (slot, bytes) in value.iter_mut().zip(element.chunks_exact(size)) {
                        *slot = decode_f32(self.component, self.normalized, bytes);
                    }
                    f(i, value);
                }
            }
        }
    }

    /// Calls `f` with each element's first component as an unsigned integer. Meant for index
    /// accessors, whose type the caller has checked to be an unsigned SCALAR; other component
    /// types read their raw bits.
    pub fn for_each_u32(&self, mut f: impl FnMut(usize, u32)) {
        match self.data {
            None => (0..self.count).for_each(|i| f(i, 0)),
            Some(data) => {
                for (i, element) in data.chunks(self.stride).take(self.count).enumerate() {
                    let value = match self.component {
                        ComponentType::U8 | ComponentType::I8 => {
                            u32::from(u8::from_le_bytes(le(element)))
                        }
                        ComponentType::U16 | ComponentType::I16 => {
                            u32::from(u16::from_le_bytes(le(element)))
                        }
                        ComponentType::U32 | ComponentType::F32 => u32::from_le_bytes(le(element)),
                    };
                    f(i, value);
                }
            }
        }
    }

    /// "VEC3 of FLOAT", for messages.
    pub fn describe(&self) -> String {
        describe(self.component, self.dims, self.normalized)
    }
}

/// Bytes one element occupies, including the column padding the specification requires for
/// byte and short matrices.
fn element_size(component: ComponentType, dims: Type) -> usize {
    match (dims, component.size()) {
        (Type::Mat2, 1) => 8,
        (Type::Mat3, 1) => 12,
        (Type::Mat3, 2) => 24,
        (dims, size) => dims.multiplicity() * size,
    }
}

fn decode_f32(component: ComponentType, normalized: bool, bytes: &[u8]) -> f32 {
    match component {
        ComponentType::F32 => f32::from_le_bytes(le(bytes)),
        ComponentType::U8 => scale(f32::from(u8::from_le_bytes(le(bytes))), normalized, 255.0),
        ComponentType::I8 => scale(f32::from(i8::from_le_bytes(le(bytes))), normalized, 127.0),
        ComponentType::U16 => scale(
            f32::from(u16::from_le_bytes(le(bytes))),
            normalized,
            65535.0,
        ),
        ComponentType::I16 => scale(
            f32::from(i16::from_le_bytes(le(bytes))),
            normalized,
            32767.0,
        ),
        ComponentType::U32 => u32::from_le_bytes(le(bytes)) as f32,
    }
}

/// The specification's normalization: divide by the type's maximum, and clamp signed types'
/// extra negative value to -1.
fn scale(value: f32, normalized: bool, max: f32) -> f32 {
    if normalized {
        (value / max).max(-1.0)
    } else {
        value
    }
}

/// The first `N` bytes of `bytes` as an array; callers pass slices proven long enough, and a
/// shorter one would read as zeros rather than panic.
fn le<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    out.iter_mut().zip(bytes).for_each(|(o, b)| *o = *b);
    out
}

fn describe(component: ComponentType, dims: Type, normalized: bool) -> String {
    let dims = match dims {
        Type::Scalar => "SCALAR",
        Type::Vec2 => "VEC2",
        Type::Vec3 => "VEC3",
        Type::Vec4 => "VEC4",
        Type::Mat2 => "MAT2",
        Type::Mat3 => "MAT3",
        Type::Mat4 => "MAT4",
    };
    let component = match component {
        ComponentType::I8 => "BYTE",
        ComponentType::U8 => "UNSIGNED_BYTE",
        ComponentType::I16 => "SHORT",
        ComponentType::U16 => "UNSIGNED_SHORT",
        ComponentType::U32 => "UNSIGNED_INT",
        ComponentType::F32 => "FLOAT",
    };
    let normalized = if normalized { " (normalized)" } else { "" };
    format!("{dims} of {component}{normalized}")
}
