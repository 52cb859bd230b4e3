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
// Per-node state and material factors are read from textures by the node and material ids each
// vertex carries (WebGL2 has no storage buffers), so one draw covers any number of parts.

// One rendered view: the inline canvas, or one eye of an XR session. Selected by dynamic offset.
struct ViewUniform {
    view_proj: mat4x4<f32>,
    // xyz: eye position in world space; w: parts whose bounding-sphere radius is below w times
    // their distance from the eye are skipped (0: none).
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

// Where the model stands in the world: the placement root.
struct ModelUniform {
    root: mat4x4<f32>,
    // Inverse-transpose of `root` (computed on the CPU).
    root_normal: mat4x4<f32>,
}

@group(0) @binding(0) var<uniform> u_view: ViewUniform;
@group(1) @binding(0) var<uniform> u_model: ModelUniform;
// Per node slot, 4 texels: rows 0..2 of the node-to-model affine matrix, then its bounding sphere.
@group(1) @binding(1) var t_nodes: texture_2d<f32>;
// Per node slot, 1 texel: tint colour (rgb) and w = tint strength + 2 × tint mode + 8 × flags.
@group(1) @binding(2) var t_node_state: texture_2d<f32>;
// Per material, 2 texels: linear base colour factor, then (metallic, roughness, 0, 0).
@group(1) @binding(3) var t_materials: texture_2d<f32>;
// An Rgba8UnormSrgb texture, so sampling returns linear colour.
@group(2) @binding(0) var t_base_color: texture_2d<f32>;
@group(2) @binding(1) var s_base_color: sampler;

// Texels per row of the per-node and material textures (`node_data::TEXTURE_WIDTH`).
const TEXTURE_WIDTH: u32 = 1024u;
const NODES_PER_ROW: u32 = 256u;
const MATERIALS_PER_ROW: u32 = 512u;
const FLAG_HIDDEN: u32 = 1u;
const FLAG_SELECTED: u32 = 2u;

struct VertexIn {
    @location(0) position: vec3<f32>,
    @location(1) normal: vec4<f32>,
    @location(2) uv: vec2<f32>,
    @location(3) color: vec4<f32>,
    // x: node slot, y: material.
    @location(4) ids: vec2<u32>,
    // Per instance: the slot of an instanced part (zero for merged geometry, whose vertices
    // carry theirs); the two are added.
    @location(5) instance_slot: u32,
}

struct VertexOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) world_pos: vec3<f32>,
    @location(1) world_normal: vec3<f32>,
    @location(2) uv: vec2<f32>,
    @location(3) color: vec4<f32>,
    // rgb: tint colour; a: tint strength.
    @location(4) @interpolate(flat) tint: vec4<f32>,
    // Material base colour factor.
    @location(5) @interpolate(flat) base: vec4<f32>,
    // x: metallic, y: roughness, z: tint mode, w: flags.
    @location(6) @interpolate(flat) params: vec4<f32>,
}

// The material colour under the node's sensor tint (as `overlay::color::blend` on the CPU).
fn apply_tint(base: vec3<f32>, tint: vec4<f32>, mode: u32) -> vec3<f32> {
    switch mode {
        case 1u: {
            return mix(base, tint.rgb, clamp(tint.a, 0.0, 1.0));
        }
        case 2u: {
            return tint.rgb;
        }
        default: {
            return base;
        }
    }
}

@vertex
fn vs_main(v: VertexIn) -> VertexOut {
    let node = v.ids.x + v.instance_slot;
    let at = vec2<i32>(i32((node % NODES_PER_ROW) * 4u), i32(node / NODES_PER_ROW));
    let r0 = textureLoad(t_nodes, at, 0);
    let r1 = textureLoad(t_nodes, at + vec2<i32>(1, 0), 0);
    let r2 = textureLoad(t_nodes, at + vec2<i32>(2, 0), 0);
    let local = vec4<f32>(v.position, 1.0);
    let model_pos = vec3<f32>(dot(r0, local), dot(r1, local), dot(r2, local));
    let world = u_model.root * vec4<f32>(model_pos, 1.0);

    // Normals by the cofactor matrix (the inverse-transpose times the determinant), sign-fixed
    // for mirrored nodes; the fragment shader normalises.
    let c0 = vec3<f32>(r0.x, r1.x, r2.x);
    let c1 = vec3<f32>(r0.y, r1.y, r2.y);
    let c2 = vec3<f32>(r0.z, r1.z, r2.z);
    let cofactor = mat3x3<f32>(cross(c1, c2), cross(c2, c0), cross(c0, c1));
    let det = dot(c0, cross(c1, c2));
    let model_normal = cofactor * v.normal.xyz * select(1.0, -1.0, det < 0.0);

    let state = textureLoad(t_node_state, vec2<i32>(i32(node % TEXTURE_WIDTH), i32(node / TEXTURE_WIDTH)), 0);
    // Decoded as `node_data::decode_state`.
    let flags = floor(state.w / 8.0);
    let rest = state.w - 8.0 * flags;
    let mode = floor(rest / 2.0);

    let m = v.ids.y;
    let mat_at = vec2<i32>(i32((m % MATERIALS_PER_ROW) * 2u), i32(m / MATERIALS_PER_ROW));
    let base = textureLoad(t_materials, mat_at, 0);
    let pbr = textureLoad(t_materials, mat_at + vec2<i32>(1, 0), 0);

    var out: VertexOut;
    out.clip = u_view.view_proj * world;
    var skip = (u32(flags) & FLAG_HIDDEN) != 0u;
    if u_view.eye.w > 0.0 && mode == 0.0 && (u32(flags) & FLAG_SELECTED) == 0u {
        // Too small to see (a tinted or selected part always shows): its bounding sphere,
        // texel 3, in world space against the eye distance.
        let sphere = textureLoad(t_nodes, at + vec2<i32>(3, 0), 0);
        let centre = (u_model.root * vec4<f32>(sphere.xyz, 1.0)).xyz;
        let scale = max(length(u_model.root[0].xyz), max(length(u_model.root[1].xyz), length(u_model.root[2].xyz)));
        skip = skip || sphere.w * scale < u_view.eye.w * distance(centre, u_view.eye.xyz);
    }
    if skip {
        // Outside the clip volume: every triangle of a hidden or skipped part is clipped away.
        out.clip = vec4<f32>(0.0, 0.0, 2.0, 1.0);
    }
    out.world_pos = world.xyz;
    out.world_normal = (u_model.root_normal * vec4<f32>(model_normal, 0.0)).xyz;
    out.uv = v.uv;
    out.color = v.color;
    out.tint = vec4<f32>(state.rgb, rest - 2.0 * mode);
    out.base = base;
    out.params = vec4<f32>(pbr.x, pbr.y, mode, flags);
    return out;
}

@fragment
fn fs_main(in: VertexOut, @builtin(front_facing) front: bool) -> @location(0) vec4<f32> {
    // Sample first, in uniform control flow (required for implicit derivatives).
    let tex = textureSample(t_base_color, s_base_color, in.uv);
    let material = in.base * tex * in.color;
    // A sensor's tint replaces or shifts the albedo before lighting, so tinted parts keep
    // their shading and still read as 3D.
    let base = vec4<f32>(apply_tint(material.rgb, in.tint, u32(in.params.z)), material.a);

    // Degenerate normals (zero-area or collapsed by a zero scale) must not produce NaN.
    let n_len = length(in.world_normal);
    var n = select(vec3<f32>(0.0, 1.0, 0.0), in.world_normal / n_len, n_len > 1e-8);
    // Double-sided materials are drawn without culling: light back faces from their own side.
    n = select(-n, n, front);

    let metallic = clamp(in.params.x, 0.0, 1.0);
    let roughness = clamp(in.params.y, 0.0, 1.0);

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

    var lit = ambient + u_view.key_color.rgb * (diffuse_albedo * n_dot_l + specular);
    if (u32(in.params.w) & FLAG_SELECTED) != 0u {
        // The selected part glows cyan, bright enough to find in a crowded assembly.
        lit = mix(lit, vec3<f32>(0.1, 0.55, 1.0), 0.45);
    }
    // Drawn opaque (no blending yet): alpha 1 keeps the WebGL2 canvas, whose context has
    // premultiplied alpha, from letting the page show through.
    return vec4<f32>(lit, 1.0);
}
