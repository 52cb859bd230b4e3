// Lit mesh shader for the twin model.
//
// Base colour = material factor × base colour texture × vertex colour, then the node's sensor
// tint (blend or replace). Lighting is deliberately simple (no image-based lighting, no
// shadows): a sky/ground hemisphere ambient plus one directional key light with Lambert diffuse
// and a Blinn-Phong highlight whose strength and shininess follow the glTF metallic/roughness
// factors. The output is linear colour; the render target is an sRGB view on both backends, so
// the hardware encodes it.
//
// Layouts mirror `src/render/uniforms.rs`; `tests/shaders.rs` checks struct sizes and offsets.
// Only uniform buffers are used (WebGL2 has no storage buffers).

// One rendered view: the inline canvas, or one eye of an XR session. Selected by dynamic offset.
struct ViewUniform {
    view_proj: mat4x4<f32>,
    // xyz: eye position in world space; w unused.
    eye: vec4<f32>,
    // xyz: unit direction from surfaces towards the key light, world space; w unused.
    key_dir: vec4<f32>,
    // rgb: key light colour × intensity (linear); a unused.
    key_color: vec4<f32>,
    // rgb: ambient light from above (world +Y); a unused.
    sky_color: vec4<f32>,
    // rgb: ambient light from below; a unused.
    ground_color: vec4<f32>,
}

// One drawn node instance. Selected by dynamic offset.
struct NodeUniform {
    model: mat4x4<f32>,
    // Inverse-transpose of `model` (computed on the CPU), as a mat4 to avoid mat3 padding rules.
    normal: mat4x4<f32>,
    // Sensor tint: rgb linear colour; a unused.
    tint_color: vec4<f32>,
    // 0 none, 1 blend toward tint_color by tint_strength, 2 replace.
    tint_mode: u32,
    tint_strength: f32,
    _pad0: f32,
    _pad1: f32,
}

struct MaterialUniform {
    // Linear RGBA base colour factor.
    base_color: vec4<f32>,
    metallic: f32,
    roughness: f32,
    _pad0: f32,
    _pad1: f32,
}

@group(0) @binding(0) var<uniform> u_view: ViewUniform;
@group(1) @binding(0) var<uniform> u_node: NodeUniform;
@group(2) @binding(0) var<uniform> u_material: MaterialUniform;
// An Rgba8UnormSrgb texture, so sampling returns linear colour.
@group(2) @binding(1) var t_base_color: texture_2d<f32>;
@group(2) @binding(2) var s_base_color: sampler;

struct VertexIn {
    @location(0) position: vec3<f32>,
    @location(1) normal: vec3<f32>,
    @location(2) uv: vec2<f32>,
    @location(3) color: vec4<f32>,
}

struct VertexOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) world_pos: vec3<f32>,
    @location(1) world_normal: vec3<f32>,
    @location(2) uv: vec2<f32>,
    @location(3) color: vec4<f32>,
}

// The material colour under the node's sensor tint (as `overlay::color::blend` on the CPU).
fn apply_tint(base: vec3<f32>) -> vec3<f32> {
    switch u_node.tint_mode {
        case 1u: {
            return mix(base, u_node.tint_color.rgb, clamp(u_node.tint_strength, 0.0, 1.0));
        }
        case 2u: {
            return u_node.tint_color.rgb;
        }
        default: {
            return base;
        }
    }
}

@vertex
fn vs_main(v: VertexIn) -> VertexOut {
    let world = u_node.model * vec4<f32>(v.position, 1.0);
    var out: VertexOut;
    out.clip = u_view.view_proj * world;
    out.world_pos = world.xyz;
    out.world_normal = (u_node.normal * vec4<f32>(v.normal, 0.0)).xyz;
    out.uv = v.uv;
    out.color = v.color;
    return out;
}

@fragment
fn fs_main(in: VertexOut, @builtin(front_facing) front: bool) -> @location(0) vec4<f32> {
    // Sample first, in uniform control flow (required for implicit derivatives).
    let tex = textureSample(t_base_color, s_base_color, in.uv);
    let material = u_material.base_color * tex * in.color;
    // A sensor's tint replaces or shifts the albedo before lighting, so tinted parts keep
    // their shading and still read as 3D.
    let base = vec4<f32>(apply_tint(material.rgb), material.a);

    // Degenerate normals (zero-area or collapsed by a zero scale) must not produce NaN.
    let n_len = length(in.world_normal);
    var n = select(vec3<f32>(0.0, 1.0, 0.0), in.world_normal / n_len, n_len > 1e-8);
    // Double-sided materials are drawn without culling: light back faces from their own side.
    n = select(-n, n, front);

    let metallic = clamp(u_material.metallic, 0.0, 1.0);
    let roughness = clamp(u_material.roughness, 0.0, 1.0);

    // Metals keep little diffuse and tint their highlight; dielectrics reflect ~4 % uncoloured.
    let diffuse_albedo = base.rgb * (1.0 - 0.7 * metallic);
    let spec_color = mix(vec3<f32>(0.04), base.rgb, metallic);

    let l = normalize(u_view.key_dir.xyz);
    let v = normalize(u_view.eye.xyz - in.world_pos);
    let h = normalize(l + v);
    let n_dot_l = max(dot(n, l), 0.0);
    let n_dot_h = max(dot(n, h), 0.0);

    // Smooth surfaces: tight, bright highlight; rough: broad, dim. Normalised Blinn-Phong keeps
    // the reflected energy roughly constant across shininess.
    let shininess = exp2(11.0 * (1.0 - roughness) + 1.0);
    let spec_norm = (shininess + 8.0) / 25.1327412; // 8π
    let specular = spec_color * spec_norm * pow(n_dot_h, shininess) * n_dot_l;

    let hemi = mix(u_view.ground_color.rgb, u_view.sky_color.rgb, n.y * 0.5 + 0.5);
    // Without an environment map, metals would render black outside the highlight; a share of
    // the hemisphere reflected in the specular colour keeps them readable.
    let ambient = hemi * (diffuse_albedo + spec_color * (0.5 * metallic * (1.0 - 0.5 * roughness)));

    let lit = ambient + u_view.key_color.rgb * (diffuse_albedo * n_dot_l + specular);
    // Drawn opaque (no blending yet): alpha 1 keeps the WebGL2 canvas, whose context has
    // premultiplied alpha, from letting the page show through.
    return vec4<f32>(lit, 1.0);
}
