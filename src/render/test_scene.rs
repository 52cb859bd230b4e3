//! Small generated scenes for the renderer's host tests: boxes as separate parts in a hierarchy
//! of units, like a CAD export, without a file.

use glam::{Mat4, Quat, Vec3};

use crate::model::{Material, Mesh, Node, Primitive, TwinModel, Vertex};

/// A unit cube centred on the origin: 24 vertices (flat normals), 12 triangles.
pub(crate) fn cube(material: usize) -> Primitive {
    let mut vertices = Vec::new();
    let mut indices = Vec::new();
    let faces = [
        (Vec3::X, Vec3::Y),
        (Vec3::NEG_X, Vec3::Y),
        (Vec3::Y, Vec3::Z),
        (Vec3::NEG_Y, Vec3::Z),
        (Vec3::Z, Vec3::Y),
        (Vec3::NEG_Z, Vec3::Y),
    ];
    for (n, up) in faces {
        let right = up.cross(n);
        let base = vertices.len() as u32;
        for (u, v) in [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)] {
            let p = (n + right * u + up * v) * 0.5;
            vertices.push(Vertex {
                position: p.to_array(),
                normal: n.to_array(),
                uv: [(u + 1.0) * 0.5, (v + 1.0) * 0.5],
                color: [1.0; 4],
            });
        }
        indices.extend([base, base + 1, base + 2, base, base + 2, base + 3]);
    }
    Primitive::from_vertices(&vertices, indices, material)
}

/// `materials` plain materials of distinct colours (every fourth double-sided) plus the
/// trailing default.
pub(crate) fn materials(count: usize) -> Vec<Material> {
    let mut out: Vec<Material> = (0..count)
        .map(|i| {
            let h = i as f32 / count.max(1) as f32;
            Material {
                name: Some(format!("m{i}")),
                base_color: [
                    0.2 + 0.8 * h,
                    0.9 - 0.7 * h,
                    0.3 + 0.4 * (h * 7.0).fract(),
                    1.0,
                ],
                metallic: (i % 3) as f32 * 0.4,
                roughness: 0.3 + 0.2 * (i % 4) as f32,
                double_sided: i % 4 == 3,
                ..Material::default()
            }
        })
        .collect();
    out.push(Material::default());
    out
}

/// An assembly of `parts` cubes, each its own node and mesh, under `units` unit nodes laid out in
/// a grid (unit `u` at x = 4u metres); parts of a unit sit on a 0.5 m lattice, scaled 0.3 m and
/// turned a little. The last unit is mirrored (negative x scale) when `mirror` is set.
pub(crate) fn assembly(
    parts: usize,
    units: usize,
    material_count: usize,
    mirror: bool,
) -> TwinModel {
    let units = units.max(1);
    let mut nodes = Vec::new();
    let mut meshes = Vec::new();
    let mut roots = Vec::new();
    let per_unit = parts.div_ceil(units);
    let mut made = 0;
    for u in 0..units {
        let mut local = Mat4::from_translation(Vec3::new(4.0 * u as f32, 0.0, 0.0));
        if mirror && u == units - 1 && units > 1 {
            local *= Mat4::from_scale(Vec3::new(-1.0, 1.0, 1.0));
        }
        let unit = nodes.len();
        roots.push(unit);
        nodes.push(Node {
            name: Some(format!("U{u:02}")),
            parent: None,
            children: Vec::new(),
            local,
            world: local,
            mesh: None,
        });
        let side = (per_unit as f32).cbrt().ceil().max(1.0) as usize;
        for p in 0..per_unit {
            if made == parts {
                break;
            }
            let (x, y, z) = (p % side, (p / side) % side, p / (side * side));
            let part_local = Mat4::from_scale_rotation_translation(
                Vec3::splat(0.3),
                Quat::from_rotation_y(0.1 * (p % 5) as f32),
                Vec3::new(x as f32, y as f32, z as f32) * 0.5,
            );
            let i = nodes.len();
            nodes[unit].children.push(i);
            meshes.push(Mesh {
                name: None,
                primitives: vec![cube(made % material_count.max(1))],
            });
            nodes.push(Node {
                name: Some(format!("U{u:02}/P{p:05}")),
                parent: Some(unit),
                children: Vec::new(),
                local: part_local,
                world: local * part_local,
                mesh: Some(meshes.len() - 1),
            });
            made += 1;
        }
    }
    TwinModel {
        source_name: "assembly.glb".into(),
        nodes,
        roots,
        meshes,
        materials: materials(material_count),
        textures: Vec::new(),
        origin: [0.0; 3],
    }
}

/// Makes the parts of `model` share `distinct` meshes (part `k` draws mesh `k % distinct`), as a
/// plant reuses one valve or bolt; unused meshes stay in the list. Same geometry and materials
/// per part as before when the parts' meshes were alike.
pub(crate) fn reuse_meshes(model: &mut TwinModel, distinct: usize) {
    let mut k = 0;
    for node in &mut model.nodes {
        if node.mesh.is_some() {
            node.mesh = Some(k % distinct.max(1));
            k += 1;
        }
    }
}
