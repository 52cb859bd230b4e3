// XR helpers: in-world markers (placement reticle, teleport arc, controller rays, alignment
// points, VR floor grid) and the copy of an offscreen frame into a session's opaque framebuffer.
//
// Markers are flat-coloured triangles in world space, built on the CPU each frame, so one draw
// per view covers all of them. The colour is linear and premultiplied by alpha (blend state
// One / OneMinusSrcAlpha), which is also what an AR compositor expects in the alpha channel.
//
// Only uniform buffers are used (WebGL2 has no storage buffers).

struct MarkerView {
    view_proj: mat4x4<f32>,
}

@group(0) @binding(0) var<uniform> u_marker_view: MarkerView;

struct MarkerIn {
    @location(0) position: vec3<f32>,
    @location(1) color: vec4<f32>,
}

struct MarkerOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) color: vec4<f32>,
}

@vertex
fn vs_marker(v: MarkerIn) -> MarkerOut {
    var out: MarkerOut;
    out.clip = u_marker_view.view_proj * vec4<f32>(v.position, 1.0);
    out.color = vec4<f32>(v.color.rgb * v.color.a, v.color.a);
    return out;
}

@fragment
fn fs_marker(v: MarkerOut) -> @location(0) vec4<f32> {
    return v.color;
}

// Copy into an XR framebuffer: a full-screen triangle reading the resolved offscreen frame
// texel for texel (same size), flipped vertically, and encoded to sRGB by hand because the
// session's framebuffer is a plain RGBA8 target that does no encoding itself.
//
// Why flipped: wgpu's GL backend renders upside down (it negates clip y so that texture rows
// match WebGPU's top-down order), and presents the canvas with a flipping blit. An XR
// framebuffer is read by the compositor in GL's bottom-up order with no such blit, so the copy
// puts the offscreen image's bottom row into the framebuffer's row 0.

@group(0) @binding(0) var t_frame: texture_2d<f32>;

@vertex
fn vs_blit(@builtin(vertex_index) index: u32) -> @builtin(position) vec4<f32> {
    // (-1,-1), (3,-1), (-1,3): one triangle covering the whole target.
    let x = f32(i32(index & 1u) * 4 - 1);
    let y = f32(i32(index >> 1u) * 4 - 1);
    return vec4<f32>(x, y, 0.0, 1.0);
}

fn linear_to_srgb(c: vec3<f32>) -> vec3<f32> {
    let lo = c * 12.92;
    let hi = 1.055 * pow(max(c, vec3<f32>(0.0)), vec3<f32>(1.0 / 2.4)) - 0.055;
    return select(hi, lo, c <= vec3<f32>(0.0031308));
}

@fragment
fn fs_blit(@builtin(position) pos: vec4<f32>) -> @location(0) vec4<f32> {
    let size = vec2<i32>(textureDimensions(t_frame));
    let x = clamp(i32(pos.x), 0, size.x - 1);
    let y = clamp(size.y - 1 - i32(pos.y), 0, size.y - 1);
    let c = textureLoad(t_frame, vec2<i32>(x, y), 0);
    return vec4<f32>(linear_to_srgb(c.rgb), c.a);
}
