//! BVH picking against the brute-force reference on generated plant-like scenes.

use glam::{Quat, Vec3};

use super::*;
use crate::model::{Node, Primitive, Vertex};
use crate::overlay::pick::pick_node;

/// SplitMix64: deterministic, seeded, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [lo, hi).
    fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * ((self.next() >> 40) as f32 / (1u64 << 24) as f32)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn unit(&mut self) -> Vec3 {
        loop {
            let v = Vec3::new(
                self.range(-1.0, 1.0),
                self.range(-1.0, 1.0),
                self.range(-1.0, 1.0),
            );
            if (0.01..=1.0).contains(&v.length_squared()) {
                return v.normalize();
            }
        }
    }
    fn in_box(&mut self, b: Aabb) -> Vec3 {
        Vec3::new(
            self.range(b.min.x, b.max.x),
            self.range(b.min.y, b.max.y),
            self.range(b.min.z, b.max.z),
        )
    }
}

fn vertex(p: Vec3) -> Vertex {
    Vertex {
        position: p.into(),
        normal: [0.0, 0.0, 1.0],
        uv: [0.0; 2],
        color: [1.0; 4],
    }
}

/// A unit cube around the origin: 8 vertices, 12 triangles.
fn cube_mesh() -> Mesh {
    let vertices: Vec<Vertex> = (0..8)
        .map(|i| {
            vertex(Vec3::new(
                if i & 1 == 0 { -0.5 } else { 0.5 },
                if i & 2 == 0 { -0.5 } else { 0.5 },
                if i & 4 == 0 { -0.5 } else { 0.5 },
            ))
        })
        .collect();
    #[rustfmt::skip]
    let indices = vec![
        0, 1, 3, 0, 3, 2,  4, 6, 7, 4, 7, 5,  0, 4, 5, 0, 5, 1,
        2, 3, 7, 2, 7, 6,  0, 2, 6, 0, 6, 4,  1, 5, 7, 1, 7, 3,
    ];
    Mesh {
        name: None,
        primitives: vec![Primitive::from_vertices(&vertices, indices, 0)],
    }
}

/// A UV sphere of radius 0.5 (384 triangles: gets a triangle BVH), in two primitives, the
/// second with a triangle whose index is out of range.
fn sphere_mesh() -> Mesh {
    let (rings, segments) = (12u32, 16u32);
    let mut vertices = Vec::new();
    for r in 0..=rings {
        let theta = std::f32::consts::PI * r as f32 / rings as f32;
        for s in 0..=segments {
            let phi = std::f32::consts::TAU * s as f32 / segments as f32;
            vertices.push(vertex(
                Vec3::new(
                    theta.sin() * phi.cos(),
                    theta.cos(),
                    theta.sin() * phi.sin(),
                ) * 0.5,
            ));
        }
    }
    let mut indices = Vec::new();
    for r in 0..rings {
        for s in 0..segments {
            let a = r * (segments + 1) + s;
            let b = a + segments + 1;
            indices.extend([a, b, a + 1, a + 1, b, b + 1]);
        }
    }
    let half = indices.len() / 2 / 3 * 3;
    let mut second = indices.split_off(half);
    second.extend([0, 1, 9999]);
    let prim = |indices| Primitive::from_vertices(&vertices, indices, 0);
    Mesh {
        name: None,
        primitives: vec![prim(indices), prim(second)],
    }
}

/// A plant-like scene: groups of small boxes and a few spheres, each with a random
/// rotation and non-uniform scale, groups rotated and scaled too, one group mirrored, and
/// one mesh node outside the scene's roots.
fn scene(parts: usize, seed: u64) -> TwinModel {
    let mut rng = Rng(seed);
    let mut nodes: Vec<Node> = Vec::new();
    let add = |nodes: &mut Vec<Node>, parent: Option<usize>, local: Mat4, mesh| {
        let world = parent.map_or(Mat4::IDENTITY, |p| nodes[p].world) * local;
        nodes.push(Node {
            name: Some(format!("n{}", nodes.len())),
            parent,
            children: vec![],
            local,
            world,
            mesh,
        });
        let i = nodes.len() - 1;
        if let Some(p) = parent {
            nodes[p].children.push(i);
        }
        i
    };
    let root = add(&mut nodes, None, Mat4::from_scale(Vec3::splat(0.5)), None);
    let per_group = 25;
    let groups = parts.div_ceil(per_group);
    let side = (groups as f32).sqrt().ceil() as usize;
    let mut left = parts;
    for g in 0..groups {
        let mirrored = g == 1;
        let local = Mat4::from_scale_rotation_translation(
            Vec3::new(if mirrored { -1.0 } else { 1.0 }, 1.0, 1.0) * rng.range(0.8, 1.25),
            Quat::from_axis_angle(rng.unit(), rng.range(0.0, 0.5)),
            Vec3::new(
                (g % side) as f32 * 8.0,
                rng.range(-1.0, 1.0),
                (g / side) as f32 * 8.0,
            ),
        );
        let group = add(&mut nodes, Some(root), local, None);
        for _ in 0..per_group.min(left) {
            // Mostly boxes; some pipes (thin and long) and a few needles too thin for a
            // box (a condition number over MAX_PART_CONDITION).
            let scale = match rng.below(50) {
                0..5 => Vec3::new(0.05, 0.05, rng.range(4.0, 12.0)),
                5 => Vec3::new(1e-3, 1.0, 2.0),
                _ => Vec3::new(
                    rng.range(0.2, 1.5),
                    rng.range(0.2, 1.5),
                    rng.range(0.2, 1.5),
                ),
            };
            let local = Mat4::from_scale_rotation_translation(
                scale,
                Quat::from_axis_angle(rng.unit(), rng.range(0.0, 6.3)),
                rng.in_box(Aabb {
                    min: Vec3::splat(-3.0),
                    max: Vec3::splat(3.0),
                }),
            );
            let mesh = if rng.below(20) == 0 { 1 } else { 0 };
            add(&mut nodes, Some(group), local, Some(mesh));
        }
        left = left.saturating_sub(per_group);
    }
    add(
        &mut nodes,
        None,
        Mat4::from_translation(Vec3::Y * 3.0),
        Some(0),
    );
    TwinModel {
        source_name: "plant.glb".into(),
        nodes,
        roots: vec![root],
        meshes: vec![cube_mesh(), sphere_mesh()],
        materials: vec![Default::default()],
        textures: vec![],
        origin: [0.0; 3],
    }
}

/// The placement of an AR twin: turned, moved and scaled.
fn placement() -> Mat4 {
    Mat4::from_scale_rotation_translation(
        Vec3::splat(2.0),
        Quat::from_rotation_y(0.7),
        Vec3::new(-20.0, 1.0, 5.0),
    )
}

fn world_bounds(model: &TwinModel, placement: Mat4) -> Aabb {
    model.bounds().unwrap().transformed(placement)
}

fn part_centre(model: &TwinModel, placement: Mat4, node: usize) -> Vec3 {
    placement.transform_point3(model.nodes[node].world.transform_point3(Vec3::ZERO))
}

fn mesh_nodes(model: &TwinModel) -> Vec<usize> {
    (0..model.nodes.len())
        .filter(|&i| model.nodes[i].mesh.is_some())
        .collect()
}

#[test]
fn bvh_picks_equal_brute_force_picks_on_random_rays() {
    let model = scene(3000, 1);
    let index = PickIndex::new(&model);
    // The stray node outside the scene's roots is not drawn, so not indexed.
    assert_eq!(index.part_count(), 3000);
    assert!(
        !index.unboxed.is_empty(),
        "the scene has needles, tested without a box"
    );
    assert!(
        index.meshes[1].bvh.len() > 1,
        "the sphere has a triangle BVH"
    );
    let targets = mesh_nodes(&model);
    let mut rng = Rng(2);
    let mut hits = 0;
    for placement in [Mat4::IDENTITY, placement()] {
        let around = world_bounds(&model, placement);
        let pad = (around.max - around.min) * 0.25;
        let around = Aabb {
            min: around.min - pad,
            max: around.max + pad,
        };
        for k in 0..300 {
            let origin = rng.in_box(around);
            // Half aimed at a part (mostly hits), half anywhere (mostly misses).
            let dir = if k % 2 == 0 {
                let target = part_centre(&model, placement, targets[rng.below(targets.len())]);
                (target - origin).normalize()
            } else {
                rng.unit()
            };
            let ray = Ray { origin, dir };
            let expected = pick_node(&model, placement, ray);
            assert_eq!(
                index.pick(&model, placement, ray),
                expected,
                "ray {k}: {ray:?}"
            );
            let reach = 20.0;
            assert_eq!(
                index.pick_within(&model, placement, ray, reach),
                expected.filter(|(_, t)| *t <= reach),
                "ray {k} within {reach}: {ray:?}"
            );
            hits += expected.is_some() as usize;
        }
    }
    assert!(hits > 250, "the rays test hits too: {hits} of 600");
}

#[test]
fn rays_that_miss_pick_nothing() {
    let model = scene(1000, 3);
    let index = PickIndex::new(&model);
    let b = world_bounds(&model, placement());
    let mut rng = Rng(4);
    for _ in 0..200 {
        // From outside the bounds, pointing away from them.
        let dir = rng.unit();
        let origin = b.center() + dir * (b.radius() * 1.1);
        let ray = Ray { origin, dir };
        let mut stats = PickStats::default();
        assert_eq!(
            index.pick_counted(&model, placement(), ray, f32::INFINITY, &mut stats),
            None
        );
        assert_eq!(pick_node(&model, placement(), ray), None);
        assert_eq!(stats.leaves, 0, "a ray leaving the bounds enters no leaf");
        assert_eq!(
            stats.parts as usize,
            index.unboxed.len(),
            "only the unboxed are tested"
        );
    }
}

#[test]
fn a_ray_starting_inside_a_part_hits_it_or_a_nearer_one_as_brute_force_does() {
    let model = scene(1000, 5);
    let index = PickIndex::new(&model);
    let mut rng = Rng(6);
    let targets = mesh_nodes(&model);
    for &node in targets.iter().step_by(7) {
        let origin = part_centre(&model, placement(), node);
        let ray = Ray {
            origin,
            dir: rng.unit(),
        };
        let expected = pick_node(&model, placement(), ray);
        assert!(expected.is_some(), "a closed part is hit from inside");
        assert_eq!(index.pick(&model, placement(), ray), expected);
    }
}

#[test]
fn an_empty_model_or_a_flattened_placement_picks_nothing() {
    let ray = Ray {
        origin: Vec3::Z * 5.0,
        dir: -Vec3::Z,
    };
    let empty = TwinModel {
        source_name: "empty.glb".into(),
        nodes: vec![],
        roots: vec![],
        meshes: vec![],
        materials: vec![],
        textures: vec![],
        origin: [0.0; 3],
    };
    let index = PickIndex::new(&empty);
    assert_eq!(index.part_count(), 0);
    assert_eq!(index.pick(&empty, Mat4::IDENTITY, ray), None);
    let mut no_geometry = scene(10, 7);
    no_geometry.meshes = vec![Mesh {
        name: None,
        primitives: vec![],
    }];
    for n in &mut no_geometry.nodes {
        n.mesh = n.mesh.map(|_| 0);
    }
    assert_eq!(
        PickIndex::new(&no_geometry).pick(&no_geometry, Mat4::IDENTITY, ray),
        None
    );
    let model = scene(10, 8);
    let flat = Mat4::from_scale(Vec3::new(1.0, 0.0, 1.0));
    assert_eq!(PickIndex::new(&model).pick(&model, flat, ray), None);
    assert_eq!(pick_node(&model, flat, ray), None);
}

#[test]
fn a_skewed_placement_still_picks_exactly() {
    let model = scene(500, 9);
    let index = PickIndex::new(&model);
    let skew = Mat4::from_cols(
        glam::Vec4::new(1.0, 0.0, 0.0, 0.0),
        glam::Vec4::new(0.999_999, 1e-6, 0.0, 0.0),
        glam::Vec4::new(0.0, 0.0, 1e3, 0.0),
        glam::Vec4::W,
    );
    let mut rng = Rng(10);
    let targets = mesh_nodes(&model);
    for _ in 0..50 {
        let target = part_centre(&model, skew, targets[rng.below(targets.len())]);
        let origin = target + rng.unit() * 50.0;
        let ray = Ray {
            origin,
            dir: (target - origin).normalize(),
        };
        assert_eq!(index.pick(&model, skew, ray), pick_node(&model, skew, ray));
    }
}

/// A 100 × 100 grid of unit boxes, 2 apart, on the ground.
fn grid(n: usize) -> TwinModel {
    let nodes = (0..n * n)
        .map(|i| {
            let world =
                Mat4::from_translation(Vec3::new((i % n) as f32 * 2.0, 0.0, (i / n) as f32 * 2.0));
            Node {
                name: None,
                parent: None,
                children: vec![],
                local: world,
                world,
                mesh: Some(0),
            }
        })
        .collect();
    TwinModel {
        source_name: "grid.glb".into(),
        nodes,
        roots: (0..n * n).collect(),
        meshes: vec![cube_mesh()],
        materials: vec![Default::default()],
        textures: vec![],
        origin: [0.0; 3],
    }
}

/// Rays from a viewer above the grid's corner, looking down at random grid points.
fn grid_rays(n: usize, count: usize) -> Vec<Ray> {
    let mut rng = Rng(11);
    let eye = Vec3::new(-5.0, 20.0, -5.0);
    (0..count)
        .map(|_| {
            let at = Vec3::new(
                rng.range(0.0, n as f32 * 2.0),
                0.0,
                rng.range(0.0, n as f32 * 2.0),
            );
            Ray {
                origin: eye,
                dir: (at - eye).normalize(),
            }
        })
        .collect()
}

#[test]
fn a_click_on_ten_thousand_parts_tests_only_a_few() {
    let model = grid(100);
    let index = PickIndex::new(&model);
    let rays = grid_rays(100, 200);
    let mut total = PickStats::default();
    let mut most = 0;
    for (k, &ray) in rays.iter().enumerate() {
        let mut stats = PickStats::default();
        let got = index.pick_counted(&model, Mat4::IDENTITY, ray, f32::INFINITY, &mut stats);
        if k % 20 == 0 {
            assert_eq!(got, pick_node(&model, Mat4::IDENTITY, ray));
        }
        most = most.max(stats.parts);
        total.parts += stats.parts;
        total.leaves += stats.leaves;
    }
    let mean = total.parts as f32 / rays.len() as f32;
    assert!(
        mean < 100.0,
        "{mean} parts tested per click on average, of 10,000"
    );
    assert!(most < 500, "at most {most} parts tested by one click");
    assert!(total.leaves <= total.parts);
}

#[test]
fn parts_outside_the_scene_are_not_picked() {
    // A 3×3 grid whose middle part is left out of the scene's roots: not drawn, not picked.
    let mut model = grid(3);
    model.roots.retain(|&r| r != 4);
    let index = PickIndex::new(&model);
    let down = |x: f32, z: f32| Ray {
        origin: Vec3::new(x, 10.0, z),
        dir: Vec3::NEG_Y,
    };
    assert_eq!(index.pick(&model, Mat4::IDENTITY, down(2.0, 2.0)), None);
    assert_eq!(pick_node(&model, Mat4::IDENTITY, down(2.0, 2.0)), None);
    assert_eq!(index.part_count(), 8);
    // Its neighbours still are.
    let hit = index.pick(&model, Mat4::IDENTITY, down(0.0, 2.0));
    assert_eq!(hit.map(|(n, _)| n), Some(3));
    assert_eq!(hit, pick_node(&model, Mat4::IDENTITY, down(0.0, 2.0)));
}

/// `cargo test --release -p twinlens --lib pick::index -- --ignored --nocapture`
#[test]
#[ignore = "timing, not a check"]
fn time_bvh_and_brute_force_picks_on_ten_thousand_parts() {
    use std::time::Instant;
    let model = grid(100);
    let start = Instant::now();
    let index = PickIndex::new(&model);
    let build = start.elapsed();
    let rays = grid_rays(100, 400);
    let start = Instant::now();
    let bvh: Vec<_> = rays
        .iter()
        .map(|&r| index.pick(&model, Mat4::IDENTITY, r))
        .collect();
    let bvh_time = start.elapsed();
    let start = Instant::now();
    let brute: Vec<_> = rays
        .iter()
        .map(|&r| pick_node(&model, Mat4::IDENTITY, r))
        .collect();
    let brute_time = start.elapsed();
    assert_eq!(bvh, brute);
    let per = |d: std::time::Duration| d.as_secs_f64() * 1e6 / rays.len() as f64;
    println!(
        "10,000 parts: build {:.1} ms, {} KiB; pick {:.2} µs (BVH) vs {:.1} µs (brute force)",
        build.as_secs_f64() * 1e3,
        index.heap_bytes() / 1024,
        per(bvh_time),
        per(brute_time),
    );
}
