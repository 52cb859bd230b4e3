use glam::Vec3;

use super::*;
use crate::model::Mesh;
use crate::render::cull::{ChunkSource, DrawRange, MAX_MODEL_DRAWS, draw_ranges};
use crate::render::test_scene::{assembly, cube, reuse_meshes};

const BIG: u64 = 1 << 30;

struct Plan<'a>(&'a BatchPlan);

impl ChunkSource for Plan<'_> {
    fn batch_count(&self) -> usize {
        self.0.batches.len()
    }
    fn chunks(&self, batch: usize) -> &[(Range<u32>, Aabb)] {
        &self.0.batches[batch].chunks
    }
}

fn all_visible(plan: &BatchPlan) -> Vec<DrawRange> {
    let mut out = Vec::new();
    draw_ranges(&Plan(plan), &|_| true, MAX_MODEL_DRAWS, &mut out);
    out
}

#[test]
fn any_part_count_batches_into_the_draw_budget() {
    for parts in [1, 10, 1_000, 10_000] {
        let model = assembly(parts, 8, 8, true);
        let plan = plan(&model, BIG, &|_| true);
        // 8 materials, two double-sided, one mirrored unit: at most four pipeline states.
        assert!(
            plan.batches.len() <= 4,
            "{parts} parts: {} batches",
            plan.batches.len()
        );
        let draws = all_visible(&plan);
        assert!(
            draws.len() <= MAX_MODEL_DRAWS,
            "{parts} parts: {} draws",
            draws.len()
        );
        assert_eq!(plan.triangles, 12 * parts as u64);
        assert_eq!(plan.slots.len(), parts);
        assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
    }
}

#[test]
fn every_vertex_names_the_slot_of_its_own_part() {
    let model = assembly(300, 3, 5, true);
    let plan = plan(&model, BIG, &|_| true);
    let data = plan.buffer_data(&model);
    let buf = &data[0];
    for tri in buf.indices.chunks(3) {
        let slot = buf.vertices[tri[0] as usize].node;
        // A triangle never mixes parts.
        assert!(tri.iter().all(|&i| buf.vertices[i as usize].node == slot));
        let s = plan.slots[slot as usize];
        let node = &model.nodes[s.node];
        assert_eq!(s.world, node.world);
        // The vertex is one of that part's own mesh vertices, untransformed.
        let mesh = &model.meshes[node.mesh.expect("a slot's node has a mesh")];
        let v = buf.vertices[tri[0] as usize];
        assert!(
            mesh.primitives[0].positions.contains(&v.position),
            "vertex {v:?} not from {:?}",
            node.name
        );
        assert_eq!(v.material as usize, mesh.primitives[0].material);
        // And its bounding sphere contains the transformed vertex.
        let p = node.world.transform_point3(Vec3::from(v.position));
        assert!(p.distance(s.sphere.truncate()) <= s.sphere.w + 1e-4);
    }
}

#[test]
fn a_subtree_is_one_range_of_slots() {
    let model = assembly(40, 4, 2, false);
    let plan = plan(&model, BIG, &|_| true);
    for &unit in &model.roots {
        let range = plan.node_slots[unit].clone();
        assert_eq!(range.len(), 10);
        for slot in range {
            let node = plan.slots[slot as usize].node;
            assert_eq!(model.nodes[node].parent, Some(unit));
        }
    }
    // A leaf part's range is just its own slot.
    let part = model.nodes[model.roots[1]].children[3];
    let r = plan.node_slots[part].clone();
    assert_eq!(r.len(), 1);
    assert_eq!(plan.slots[r.start as usize].node, part);
}

#[test]
fn mirrored_parts_and_double_sided_materials_get_their_own_batches() {
    let model = assembly(64, 2, 4, true);
    let plan = plan(&model, BIG, &|_| true);
    let keys: Vec<BatchKey> = plan.batches.iter().map(|b| b.key).collect();
    for (mirrored, double_sided) in [(false, false), (false, true), (true, false), (true, true)] {
        assert!(
            keys.iter()
                .any(|k| k.mirrored == mirrored && k.double_sided == double_sided),
            "{keys:?}"
        );
    }
    let data = plan.buffer_data(&model);
    for b in &plan.batches {
        for (r, _) in &b.chunks {
            for &i in &data[b.buffer].indices[r.start as usize..r.end as usize] {
                let v = data[b.buffer].vertices[i as usize];
                let node = &model.nodes[plan.slots[v.node as usize].node];
                assert_eq!(node.world.determinant() < 0.0, b.key.mirrored);
                assert_eq!(
                    model.materials[v.material as usize].double_sided,
                    b.key.double_sided
                );
            }
        }
    }
}

#[test]
fn chunks_hold_nearby_parts_and_bound_their_triangles() {
    let model = assembly(20_000, 16, 1, false);
    let plan = plan(&model, BIG, &|_| true);
    let batch = &plan.batches[0];
    assert!(batch.chunks.len() > 16, "{} chunks", batch.chunks.len());
    let data = plan.buffer_data(&model);
    let buf = &data[batch.buffer];
    let mut covered = 0;
    for (r, bounds) in &batch.chunks {
        assert!(r.len() as u32 / 3 <= CHUNK_TRIANGLES + 12);
        covered += r.len();
        for &i in &buf.indices[r.start as usize..r.end as usize] {
            let v = buf.vertices[i as usize];
            let p = plan.slots[v.node as usize]
                .world
                .transform_point3(Vec3::from(v.position));
            assert!(p.cmpge(bounds.min - 1e-4).all() && p.cmple(bounds.max + 1e-4).all());
        }
        // Spatial order: a chunk of the 64 m wide assembly spans far less than all of it.
        assert!((bounds.max - bounds.min).x < 20.0, "{bounds:?}");
    }
    assert_eq!(covered, buf.indices.len());
}

#[test]
fn a_small_buffer_limit_spreads_batches_over_buffers() {
    let model = assembly(100, 1, 1, false);
    // Room for about ten cubes per buffer.
    let limit = 24 * 10 * size_of::<GpuVertex>() as u64;
    let plan = plan(&model, limit, &|_| true);
    assert!(plan.buffers.len() >= 10, "{} buffers", plan.buffers.len());
    let data = plan.buffer_data(&model);
    for (b, size) in data.iter().zip(&plan.buffers) {
        assert!(b.vertices.len() as u64 * size_of::<GpuVertex>() as u64 <= limit);
        assert!(b.indices.iter().all(|&i| (i as usize) < b.vertices.len()));
        assert_eq!(
            (b.vertices.len(), b.indices.len()),
            (size.vertices as usize, size.indices as usize),
            "the pieces fill the buffer exactly"
        );
    }
    assert_eq!(plan.triangles, 1200);
    assert_eq!(plan.batches.len(), plan.buffers.len());
}

#[test]
fn broken_primitives_are_skipped_with_a_warning_naming_them() {
    let mut model = assembly(3, 1, 1, false);
    model.meshes[1].primitives[0].indices[4] = 999;
    let plan = plan(&model, BIG, &|_| true);
    assert_eq!(plan.triangles, 24);
    assert_eq!(plan.slots.len(), 2);
    assert_eq!(plan.warnings.len(), 1);
    assert!(
        plan.warnings[0].contains("meshes[1].primitives[0]"),
        "{}",
        plan.warnings[0]
    );
}

#[test]
fn unusable_textures_batch_as_untextured() {
    let mut model = assembly(10, 1, 2, false);
    model.materials[0].base_color_texture = Some(0);
    let with = plan(&model, BIG, &|_| true);
    assert!(with.batches.iter().any(|b| b.key.texture == Some(0)));
    let without = plan(&model, BIG, &|_| false);
    assert!(without.batches.iter().all(|b| b.key.texture.is_none()));
}

#[test]
fn the_vertex_is_44_bytes_and_normals_survive_quantisation() {
    use crate::model::{snorm16, unorm16};
    assert_eq!(size_of::<GpuVertex>(), 44);
    for v in [-1.0, -0.5, 0.0, 0.25, 1.0] {
        assert!((f32::from(snorm16(v)) / 32767.0 - v).abs() < 1e-4);
    }
    assert_eq!(snorm16(f32::NAN), 0);
    assert_eq!(unorm16(2.0), u16::MAX);
}

/// The plan's instanced batches.
fn instanced_batches(plan: &BatchPlan) -> Vec<&Batch> {
    plan.batches
        .iter()
        .filter(|b| b.instanced.is_some())
        .collect()
}

#[test]
fn reused_meshes_are_stored_once_and_drawn_instanced() {
    let mut model = assembly(1_000, 4, 8, false);
    reuse_meshes(&mut model, 8);
    let plan = plan(&model, BIG, &|_| true);
    let instanced = instanced_batches(&plan);
    assert_eq!(instanced.len(), 8, "one instanced batch per reused mesh");
    assert!(
        plan.batches.iter().all(|b| b.instanced.is_some()),
        "nothing is left to merge"
    );
    // Each mesh's 24 vertices once, not once per part.
    let data = plan.buffer_data(&model);
    let vertices: usize = data.iter().map(|b| b.vertices.len()).sum();
    assert_eq!(vertices, 8 * 24);
    assert_eq!(plan.triangles, 12 * 1_000);
    // Every part is exactly one instance, of a batch drawing its own mesh's material.
    let mut seen = vec![0; plan.slots.len()];
    for b in &instanced {
        let mesh = b.instanced.clone().expect("instanced");
        let buf = &data[b.buffer];
        let first = buf.indices[mesh.start as usize] as usize;
        let material = buf.vertices[first].material as usize;
        assert_eq!(
            buf.vertices[first].node, 0,
            "instanced vertices carry slot zero"
        );
        for (r, bounds) in &b.chunks {
            for &slot in &plan.instances[r.start as usize..r.end as usize] {
                seen[slot as usize] += 1;
                let node = &model.nodes[plan.slots[slot as usize].node];
                let part_mesh = &model.meshes[node.mesh.expect("a part has a mesh")];
                assert_eq!(part_mesh.primitives[0].material, material);
                let c = plan.slots[slot as usize].sphere.truncate();
                assert!(bounds.min.cmple(c).all() && c.cmple(bounds.max).all());
            }
        }
    }
    assert!(seen.iter().all(|&n| n == 1), "{seen:?}");
    assert_eq!(plan.instances[0], 0, "merged draws' one instance");
    assert!(all_visible(&plan).len() <= MAX_MODEL_DRAWS);
}

#[test]
fn only_the_most_reused_meshes_are_instanced_and_rare_ones_merge() {
    // 660 parts over 20 meshes (33 parts each), except six parts that draw three extra meshes
    // two apiece.
    let mut model = assembly(660, 4, 8, false);
    reuse_meshes(&mut model, 20);
    let rare = model.meshes.len();
    model.meshes.extend((0..3).map(|_| Mesh {
        name: None,
        primitives: vec![cube(1)],
    }));
    for (k, node) in model
        .nodes
        .iter_mut()
        .filter(|n| n.mesh.is_some())
        .take(6)
        .enumerate()
    {
        node.mesh = Some(rare + k / 2);
    }
    let plan = plan(&model, BIG, &|_| true);
    let instanced = instanced_batches(&plan);
    assert_eq!(instanced.len(), MAX_INSTANCED_BATCHES);
    for b in &instanced {
        for (r, _) in &b.chunks {
            for &slot in &plan.instances[r.start as usize..r.end as usize] {
                let mesh = model.nodes[plan.slots[slot as usize].node].mesh;
                assert!(mesh < Some(rare), "a mesh drawn twice is instanced");
            }
        }
    }
    let instances = plan.instances.len() - 1;
    let merged_triangles: u64 = plan
        .batches
        .iter()
        .filter(|b| b.instanced.is_none())
        .flat_map(|b| b.chunks.iter().map(move |(r, _)| b.triangles_in(r)))
        .sum();
    assert_eq!(merged_triangles as usize, 12 * (660 - instances));
    assert_eq!(plan.triangles, 12 * 660);
    assert!(all_visible(&plan).len() <= MAX_MODEL_DRAWS);
}

#[test]
fn distinct_meshes_are_not_instanced() {
    let model = assembly(500, 4, 8, true);
    let plan = plan(&model, BIG, &|_| true);
    assert!(plan.batches.iter().all(|b| b.instanced.is_none()));
    assert_eq!(plan.instances, vec![0]);
}
