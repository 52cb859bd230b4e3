// Sensor overlay: label plates, SDF text, state icons, sparklines, leader lines and markers,
// all as instanced screen-space quads, so one draw call paints a whole view's overlay.
//
// Instances come from `twinlens::overlay::scene::OverlayInstance` (vertex attributes with
// instance step; WebGL2 has no storage buffers) in painter's order: leader lines first, then
// labels from least to most important. Positions are pixels from the viewport's top-left;
// the pass's viewport maps them to the view. Output is premultiplied linear colour, blended
// "over" into an sRGB target, with no depth test: labels must stay readable in front of the
// model (and over camera passthrough, hence dark plates and dark outlines everywhere).
//
// `tests/shaders.rs` checks the uniform layout and the vertex inputs against the Rust side.

// Per view; selected by dynamic offset.
struct OverlayUniform {
    // Viewport size, pixels.
    viewport: vec2<f32>,
    // Glyph atlas size, pixels.
    atlas_size: vec2<f32>,
    // Position in the alarm pulse cycle, 0..1 (computed on the CPU so the period lives there).
    pulse_phase: f32,
    // Distance range of the atlas, atlas pixels: byte p is (p - 128) / 127 * spread.
    spread_px: f32,
    _pad0: f32,
    _pad1: f32,
}

@group(0) @binding(0) var<uniform> u: OverlayUniform;
// R8Unorm signed distance field, one channel.
@group(0) @binding(1) var t_atlas: texture_2d<f32>;
@group(0) @binding(2) var s_atlas: sampler;

// Must match `overlay::scene` (KIND_*, SHAPE_SHIFT, FLAG_*).
const KIND_PLATE: u32 = 0u;
const KIND_GLYPH: u32 = 1u;
const KIND_ICON: u32 = 2u;
const KIND_LINE: u32 = 3u;
const SHAPE_DOT: u32 = 0u;
const SHAPE_TRIANGLE: u32 = 1u;
const SHAPE_OCTAGON: u32 = 2u;
const SHAPE_CLOCK: u32 = 3u;
const FLAG_PULSE: u32 = 65536u;
const FLAG_BACKING: u32 = 131072u;
const FLAG_OUTLINE: u32 = 262144u;

// Backing plate: near-black, translucent enough to keep the scene behind in view.
const PLATE_RGB: vec3<f32> = vec3<f32>(0.010, 0.012, 0.016);
const PLATE_ALPHA: f32 = 0.78;
// Dark outline around text, icons and lines, for contrast on bright passthrough video.
const OUTLINE_ALPHA: f32 = 0.75;
// Glyph outline width in atlas pixels (~6 % of an em), at least one screen pixel.
const OUTLINE_TEXELS: f32 = 2.5;
// How far an alarm plate's glow reaches, pixels.
const GLOW_PX: f32 = 6.0;
// Icons on markers are drawn at this fraction of the marker, inside its backing disc.
const MARKER_ICON_SCALE: f32 = 0.62;

// Lengths in `aux` are in 1/16 pixel (`overlay::scene::LENGTH_UNITS_PER_PX`).
const LENGTH_UNITS_PER_PX: f32 = 16.0;

struct OverlayInstance {
    // Quad corners (x0, y0, x1, y1), or a line's two end points, pixels.
    @location(0) geom: vec4<f32>,
    // Glyphs: atlas rectangle (x0, y0, x1, y1), atlas pixels. Plates: (corner radius, border
    // width); lines: (width, 0); in 1/16 pixel.
    @location(1) aux: vec4<u32>,
    // Linear RGBA, straight alpha.
    @location(2) color: vec4<f32>,
    // Kind (bits 0..8), icon shape (8..16), flags.
    @location(3) kind: u32,
}

struct VertexOut {
    @builtin(position) clip: vec4<f32>,
    // Plates: pixels from the centre; lines: (along, across) pixels from the start;
    // icons: -1..1 across the icon, y up.
    @location(0) local: vec2<f32>,
    @location(1) uv: vec2<f32>,
    @location(2) color: vec4<f32>,
    // Plates: (half width, half height, radius, border); lines: (length, half width).
    @location(3) @interpolate(flat) params: vec4<f32>,
    @location(4) @interpolate(flat) kind: u32,
}

// 0 → 1 → 0 once per cycle, smooth at both ends.
fn pulse_amount() -> f32 {
    return 0.5 - 0.5 * cos(u.pulse_phase * 6.28318531);
}

@vertex
fn vs_main(@builtin(vertex_index) vertex: u32, inst: OverlayInstance) -> VertexOut {
    // Two triangles (0,0) (1,0) (0,1) / (0,1) (1,0) (1,1), as bit masks over the vertex index.
    let i = vertex % 6u;
    let corner = vec2<f32>(f32((0x32u >> i) & 1u), f32((0x2Cu >> i) & 1u));
    let kind = inst.kind & 0xFFu;
    let pulse = select(0.0, pulse_amount(), (inst.kind & FLAG_PULSE) != 0u);

    var out: VertexOut;
    var px: vec2<f32>;
    switch kind {
        case KIND_LINE: {
            let a = inst.geom.xy;
            let d = inst.geom.zw - a;
            let len = length(d);
            let dir = select(vec2<f32>(1.0, 0.0), d / len, len > 1e-4);
            let normal = vec2<f32>(-dir.y, dir.x);
            let half_w = 0.5 * f32(inst.aux.x) / LENGTH_UNITS_PER_PX;
            // Room for the anti-aliased edge and the dark outline around the line.
            let m = half_w + 2.0;
            let along = mix(-m, len + m, corner.x);
            let across = mix(-m, m, corner.y);
            px = a + dir * along + normal * across;
            out.local = vec2<f32>(along, across);
            out.params = vec4<f32>(len, half_w, 0.0, 0.0);
        }
        case KIND_PLATE: {
            let centre = 0.5 * (inst.geom.xy + inst.geom.zw);
            let half = 0.5 * abs(inst.geom.zw - inst.geom.xy);
            let margin = 1.0 + GLOW_PX * pulse;
            let offset = mix(-(half + margin), half + margin, corner);
            px = centre + offset;
            out.local = offset;
            out.params = vec4<f32>(half, vec2<f32>(inst.aux.xy) / LENGTH_UNITS_PER_PX);
        }
        case KIND_ICON: {
            let centre = 0.5 * (inst.geom.xy + inst.geom.zw);
            // Pulsing icons breathe a little; never enough to cover more of the scene.
            let half = 0.5 * abs(inst.geom.zw - inst.geom.xy) * (1.0 + 0.15 * pulse);
            let unit = corner * 2.0 - 1.0;
            px = centre + unit * half;
            out.local = vec2<f32>(unit.x, -unit.y);
        }
        default: {
            px = mix(inst.geom.xy, inst.geom.zw, corner);
            let atlas = max(u.atlas_size, vec2<f32>(1.0));
            out.uv = mix(vec2<f32>(inst.aux.xy), vec2<f32>(inst.aux.zw), corner) / atlas;
        }
    }
    let viewport = max(u.viewport, vec2<f32>(1.0));
    let ndc = vec2<f32>(px.x / viewport.x * 2.0 - 1.0, 1.0 - px.y / viewport.y * 2.0);
    out.clip = vec4<f32>(ndc, 0.0, 1.0);
    out.color = inst.color;
    out.kind = inst.kind;
    return out;
}

// Signed distance to a box of half size `half` with corner radius `r` (negative inside).
fn sd_round_box(p: vec2<f32>, half: vec2<f32>, r: f32) -> f32 {
    let q = abs(p) - half + vec2<f32>(r);
    return length(max(q, vec2<f32>(0.0))) + min(max(q.x, q.y), 0.0) - r;
}

// Distance from `p` to the segment a–b.
fn sd_segment(p: vec2<f32>, a: vec2<f32>, b: vec2<f32>) -> f32 {
    let pa = p - a;
    let ba = b - a;
    let h = clamp(dot(pa, ba) / max(dot(ba, ba), 1e-8), 0.0, 1.0);
    return length(pa - ba * h);
}

// An exclamation mark centred at `c` (bar above a dot), `s` its height scale.
fn sd_exclamation(p: vec2<f32>, c: vec2<f32>, s: f32) -> f32 {
    let bar = sd_round_box(p - c - vec2<f32>(0.0, 0.16 * s), vec2<f32>(0.09, 0.28) * s, 0.05 * s);
    let point = length(p - c - vec2<f32>(0.0, -0.33 * s)) - 0.1 * s;
    return min(bar, point);
}

// The state icon at `p` (-1..1, y up): x = shape distance, y = inner mark distance (a dark
// cut-out, e.g. the exclamation mark); both negative inside.
fn icon_sdf(shape: u32, p: vec2<f32>) -> vec2<f32> {
    switch shape {
        case SHAPE_DOT: {
            return vec2<f32>(length(p) - 0.55, 1.0);
        }
        case SHAPE_TRIANGLE: {
            // Equilateral, pointing up, circumradius r; shifted so its box is centred.
            let r = 0.98;
            let q = p + vec2<f32>(0.0, 0.25 * r);
            let d = max(-q.y, max(dot(q, vec2<f32>(0.8660254, 0.5)), dot(q, vec2<f32>(-0.8660254, 0.5)))) - 0.5 * r + 0.06;
            return vec2<f32>(d - 0.06, sd_exclamation(p, vec2<f32>(0.0, -0.08), 0.85));
        }
        case SHAPE_OCTAGON: {
            let a = abs(p);
            let d = max(max(a.x, a.y), (a.x + a.y) * 0.70710678) - 0.88;
            return vec2<f32>(d, sd_exclamation(p, vec2<f32>(0.0, 0.0), 1.0));
        }
        case SHAPE_CLOCK: {
            let ring = abs(length(p) - 0.72) - 0.13;
            let hands = min(
                sd_segment(p, vec2<f32>(0.0), vec2<f32>(0.0, 0.42)),
                sd_segment(p, vec2<f32>(0.0), vec2<f32>(0.32, 0.0)),
            ) - 0.09;
            return vec2<f32>(min(ring, hands), 1.0);
        }
        default: {
            // Dash.
            return vec2<f32>(sd_round_box(p, vec2<f32>(0.72, 0.17), 0.08), 1.0);
        }
    }
}

// Premultiplied `top` over premultiplied `bottom`.
fn over(top: vec4<f32>, bottom: vec4<f32>) -> vec4<f32> {
    return top + bottom * (1.0 - top.a);
}

@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4<f32> {
    // Sample and differentiate before branching: derivatives need uniform control flow.
    let field = textureSample(t_atlas, s_atlas, in.uv).r;
    let texel_rate = fwidth(in.uv * u.atlas_size);
    let local_rate = fwidth(in.local);

    let kind = in.kind & 0xFFu;
    let pulsing = (in.kind & FLAG_PULSE) != 0u;
    let pulse = select(0.0, pulse_amount(), pulsing);

    switch kind {
        case KIND_GLYPH: {
            // Atlas pixels per screen pixel: turns the field into screen-pixel distances, so
            // edges stay one pixel soft at any size.
            let texels_per_px = max(0.5 * (texel_rate.x + texel_rate.y), 1e-3);
            let dist = (field * 255.0 - 128.0) / 127.0 * u.spread_px / texels_per_px;
            let max_outline = max((u.spread_px - 1.0) / texels_per_px - 0.5, 0.0);
            let outline_px = min(max(OUTLINE_TEXELS / texels_per_px, 1.0), max_outline);
            let fill = clamp(dist + 0.5, 0.0, 1.0) * in.color.a;
            let edge = clamp(dist + outline_px + 0.5, 0.0, 1.0) * OUTLINE_ALPHA;
            return over(vec4<f32>(in.color.rgb * fill, fill), vec4<f32>(0.0, 0.0, 0.0, edge));
        }
        case KIND_PLATE: {
            let half = in.params.xy;
            let radius = min(in.params.z, min(half.x, half.y));
            let d = sd_round_box(in.local, half, radius);
            let inside = clamp(0.5 - d, 0.0, 1.0);
            var plate = vec4<f32>(PLATE_RGB, 1.0) * PLATE_ALPHA * inside;
            // Border: the band within `border` pixels inside the edge; alarms breathe.
            let border_w = in.params.w * (1.0 + 0.8 * pulse);
            let band = inside * clamp(d + border_w + 0.5, 0.0, 1.0);
            let border_a = band * in.color.a * select(1.0, 0.55 + 0.45 * pulse, pulsing);
            plate = over(vec4<f32>(in.color.rgb * border_a, border_a), plate);
            // Soft glow outside a pulsing plate.
            let glow = 0.45 * pulse * (1.0 - inside) * clamp(1.0 - d / GLOW_PX, 0.0, 1.0);
            return over(plate, vec4<f32>(in.color.rgb * glow, glow));
        }
        case KIND_ICON: {
            let backing = (in.kind & FLAG_BACKING) != 0u;
            let scale = select(1.0, MARKER_ICON_SCALE, backing);
            // Icon units per screen pixel, for one-pixel anti-aliasing.
            let aa = max(0.5 * (local_rate.x + local_rate.y), 1e-4);
            let aa_icon = aa / scale;
            let d = icon_sdf((in.kind >> 8u) & 0xFFu, in.local / scale);
            let shape = clamp(0.5 - d.x / aa_icon, 0.0, 1.0);
            let mark = clamp(0.5 - d.y / aa_icon, 0.0, 1.0);
            let rgb = mix(in.color.rgb, PLATE_RGB, mark);
            let a = shape * in.color.a;
            var icon = vec4<f32>(rgb * a, a);
            // A dark rim (one and a half pixels) keeps light icons readable on light scenes.
            let rim = clamp(0.5 - (d.x - 1.5 * aa_icon) / aa_icon, 0.0, 1.0) * OUTLINE_ALPHA;
            icon = over(icon, vec4<f32>(0.0, 0.0, 0.0, rim));
            if backing {
                let r = length(in.local);
                let disc = clamp(0.5 - (r - 0.97) / aa, 0.0, 1.0) * PLATE_ALPHA;
                // Thin ring in the state colour so a marker reads as this sensor's state.
                let ring = clamp(0.5 - (abs(r - 0.9) - 0.05) / aa, 0.0, 1.0) * 0.8 * in.color.a;
                let backdrop = over(vec4<f32>(in.color.rgb * ring, ring), vec4<f32>(PLATE_RGB, 1.0) * disc);
                icon = over(icon, backdrop);
            }
            return icon;
        }
        default: {
            // Line segment with round caps.
            let len = in.params.x;
            let half_w = in.params.y;
            let beyond = max(max(-in.local.x, in.local.x - len), 0.0);
            let dist = length(vec2<f32>(beyond, in.local.y));
            let line = clamp(half_w + 0.5 - dist, 0.0, 1.0) * in.color.a;
            let outlined = (in.kind & FLAG_OUTLINE) != 0u;
            let edge = select(0.0, clamp(half_w + 1.5 - dist, 0.0, 1.0) * OUTLINE_ALPHA * 0.6 * in.color.a, outlined);
            return over(vec4<f32>(in.color.rgb * line, line), vec4<f32>(0.0, 0.0, 0.0, edge));
        }
    }
}
