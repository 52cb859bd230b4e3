//! Picking at plant scale: a BVH over the parts (and over the triangles of large meshes, named by
//! number and read from the model), so a click tests the parts along its ray, not all.

use glam::{Mat4, Vec3};

use super::{Ray, ray_triangle};
use crate::model::{Aabb, Mesh, TwinModel};
use crate::overlay::bvh::{self, BoxRay, BvhNode, WalkStats};

/// Parts per leaf of the part BVH.
const PARTS_PER_LEAF: usize = 4;
/// Triangles per leaf of a mesh's BVH.
const TRIANGLES_PER_LEAF: usize = 8;
/// Meshes with more triangles than this get their own BVH; smaller ones are tested whole.
const TRIANGLE_BVH_MIN: usize = 32;
/// A part's box is its vertices' when its mesh has at most this many, else its mesh's local box
/// transformed (looser under rotation, but 8 transforms instead of one per vertex).
const EXACT_BOX_MAX_VERTICES: usize = 64;
/// Boxes grow by this fraction of their coordinates' magnitude (more for a part whose matrix
/// loses precision when inverted), and so does the ray's reach, so rounding never puts a hit
/// outside its box.
const PAD: f32 = 1e-5;
/// A box may start this fraction beyond the best hit so far and still be entered: covers the
/// rounding of a hit's distance on a ray that grazes its triangle.
const REACH: f32 = 1e-3;
/// Parts (and placements times parts) whose condition number is above this are tested whole,
/// without boxes: their inverse is too imprecise for a box to bound what `pick_node` finds.
const MAX_PART_CONDITION: f32 = 1000.0;
/// Placements whose condition number (Frobenius, 3 for a rotation and uniform scale) is above
/// this are picked by testing every part: model-space boxes would be too imprecise.
const MAX_PLACEMENT_CONDITION: f32 = 24.0;

/// What picking needs of a twin model besides the model itself, built once per loaded model:
/// each mesh node's world matrix, a BVH over the parts' model-space boxes and, per mesh
/// (once however many nodes draw it), a BVH over its triangles, which it names by number and
/// reads from the model: no copy of the geometry. Picks take the model it was built from.
///
/// [`PickIndex::pick`] returns what the brute-force [`pick_node`](super::pick_node) returns
/// (same node, same distance bits: each part is tested with `pick_node`'s own arithmetic),
/// testing only the parts and triangles whose boxes the ray enters before the best hit so far.
/// Boxes and reach are padded for rounding, and matrices too ill-conditioned for that are
/// tested without boxes.
#[derive(Debug, Clone, Default)]
pub struct PickIndex {
    /// Parts in BVH leaf order.
    parts: Vec<Part>,
    /// Over `parts`, in model space.
    bvh: Vec<BvhNode>,
    /// Parts with no reliable box, tested on every pick.
    unboxed: Vec<Part>,
    /// Compact meshes, shared by the parts that draw them.
    meshes: Vec<PickMesh>,
}

/// A node that draws a mesh.
#[derive(Debug, Clone, Copy)]
struct Part {
    world: Mat4,
    node: u32,
    mesh: u32,
}

#[derive(Debug, Clone, Default)]
struct PickMesh {
    /// Index into [`TwinModel::meshes`].
    mesh: u32,
    /// Vertices of all its primitives.
    vertices: usize,
    /// Per primitive, the number of its first triangle (triangles are numbered across the
    /// primitives, one after the other); one more entry for the end.
    first_triangle: Vec<u32>,
    /// Triangle numbers in BVH leaf order; ones that can never be hit are left out.
    triangles: Vec<u32>,
    /// Over `triangles`, in mesh space; empty for a small mesh (all its triangles are tested).
    bvh: Vec<BvhNode>,
    /// Of the triangles' vertices; `None` without triangles.
    bounds: Option<Aabb>,
}

/// What one pick tested, to show that it is not linear in the model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PickStats {
    /// Part-BVH nodes entered.
    pub nodes: u32,
    /// Part-BVH leaves whose parts were tested.
    pub leaves: u32,
    /// Parts tested.
    pub parts: u32,
    /// Triangles tested.
    pub triangles: u32,
}

/// The best hit so far: (node, world distance).
type Best = Option<(u32, f32)>;

impl PickIndex {
    /// Builds the index for every drawn node of `model` that has a mesh (as
    /// [`pick_node`](super::pick_node) considers them; nodes outside the scene are not drawn).
    pub fn new(model: &TwinModel) -> Self {
        let mut slots: Vec<Option<u32>> = vec![None; model.meshes.len()];
        let mut meshes: Vec<PickMesh> = Vec::new();
        let mut parts = Vec::new();
        let mut boxes = Vec::new();
        let mut unboxed = Vec::new();
        let drawn = model.drawn_mask();
        for (index, node) in model.nodes.iter().enumerate() {
            let Some(m) = node
                .mesh
                .filter(|&m| m < model.meshes.len() && drawn[index])
            else {
                continue;
            };
            // A non-finite matrix gives a non-finite determinant: `pick_node` skips it too.
            if !node.world.is_finite() {
                continue;
            }
            let slot = *slots[m].get_or_insert_with(|| {
                meshes.push(PickMesh::new(&model.meshes[m], m as u32));
                (meshes.len() - 1) as u32
            });
            let mesh = &meshes[slot as usize];
            let Some(local) = mesh.bounds else { continue };
            let world_box = if mesh.vertices <= EXACT_BOX_MAX_VERTICES {
                model.meshes[m]
                    .primitives
                    .iter()
                    .flat_map(|p| &p.positions)
                    .fold(EMPTY, |b, &p| {
                        grow(b, node.world.transform_point3(p.into()))
                    })
            } else {
                local.transformed(node.world)
            };
            let part = Part {
                world: node.world,
                node: index as u32,
                mesh: slot,
            };
            // Rounding in `pick_node`'s inverse grows with the matrix's condition number.
            let condition = condition(node.world);
            if condition > MAX_PART_CONDITION
                || !world_box.min.is_finite()
                || !world_box.max.is_finite()
            {
                unboxed.push(part);
                continue;
            }
            boxes.push(padded(world_box, PAD * (condition / 3.0).max(1.0)));
            parts.push(part);
        }
        let built = bvh::build(&boxes, PARTS_PER_LEAF);
        let parts = built.order.iter().map(|&i| parts[i as usize]).collect();
        Self {
            parts,
            bvh: built.nodes,
            unboxed,
            meshes,
        }
    }

    /// Parts (mesh nodes) in the index.
    pub fn part_count(&self) -> usize {
        self.parts.len() + self.unboxed.len()
    }

    /// Bytes held on the heap, for `stats()`.
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let meshes: usize = self
            .meshes
            .iter()
            .map(|m| {
                m.first_triangle.len() * size_of::<u32>()
                    + m.triangles.len() * size_of::<u32>()
                    + m.bvh.len() * size_of::<BvhNode>()
            })
            .sum();
        meshes
            + self.part_count() * size_of::<Part>()
            + self.bvh.len() * size_of::<BvhNode>()
            + self.meshes.len() * size_of::<PickMesh>()
    }

    /// The nearest part of `model` (the one the index was built from) the world-space `ray`
    /// hits when `placement` maps model space to world space, and the world distance along the
    /// ray; the same as [`pick_node`](super::pick_node)`(model, placement, ray)`.
    pub fn pick(&self, model: &TwinModel, placement: Mat4, ray: Ray) -> Option<(usize, f32)> {
        self.pick_counted(
            model,
            placement,
            ray,
            f32::INFINITY,
            &mut PickStats::default(),
        )
    }

    /// [`pick`](Self::pick) for hits up to `max_distance` along the ray (a controller's reach),
    /// which spares testing the parts beyond it: `pick(..).filter(|(_, t)| *t <= max_distance)`.
    pub fn pick_within(
        &self,
        model: &TwinModel,
        placement: Mat4,
        ray: Ray,
        max_distance: f32,
    ) -> Option<(usize, f32)> {
        self.pick_counted(
            model,
            placement,
            ray,
            max_distance,
            &mut PickStats::default(),
        )
    }

    /// [`pick_within`](Self::pick_within), adding what it tested to `stats`.
    pub fn pick_counted(
        &self,
        model: &TwinModel,
        placement: Mat4,
        ray: Ray,
        max_distance: f32,
        stats: &mut PickStats,
    ) -> Option<(usize, f32)> {
        let mut best: Best = None;
        // Distances compare in world units; the slack covers rounding at the ray's coordinates.
        let slack = PAD * 10.0 * ray.origin.abs().max_element();
        let mut test = Tester {
            index: self,
            model,
            placement,
            ray,
            slack,
            reach: f32::INFINITY,
        };
        if max_distance < f32::INFINITY {
            test.reach = test.limit(Some((0, max_distance.max(0.0))));
        }
        if condition(placement) <= MAX_PLACEMENT_CONDITION {
            // One transform per click: the model-space ray's parameter is the world distance.
            let inv = placement.inverse();
            let model_ray = BoxRay::new(
                inv.transform_point3(ray.origin),
                inv.transform_vector3(ray.dir),
                PAD,
            );
            let mut walk = WalkStats::default();
            bvh::walk(&self.bvh, &model_ray, test.reach, &mut walk, |range| {
                for part in &self.parts[range] {
                    test.part(part, &mut best, stats);
                }
                test.limit(best)
            });
            stats.nodes += walk.nodes;
            stats.leaves += walk.leaves;
        } else {
            // Model-space boxes would be unreliable: test every part, still exactly.
            for part in &self.parts {
                test.part(part, &mut best, stats);
            }
        }
        for part in &self.unboxed {
            test.part(part, &mut best, stats);
        }
        best.filter(|&(_, t)| t <= max_distance)
            .map(|(n, t)| (n as usize, t))
    }
}

/// One pick's fixed inputs.
struct Tester<'a> {
    index: &'a PickIndex,
    model: &'a TwinModel,
    placement: Mat4,
    ray: Ray,
    slack: f32,
    /// The limit before any hit.
    reach: f32,
}

impl Tester<'_> {
    /// How far along the ray a box may start and still hold a hit as near as `best`.
    fn limit(&self, best: Best) -> f32 {
        best.map_or(self.reach, |(_, t)| t + t * REACH + self.slack)
    }

    /// Tests one part exactly as `pick_node` tests its node, keeping the nearer hit (the lower
    /// node index on a tie, as `pick_node`'s node order gives).
    fn part(&self, part: &Part, best: &mut Best, stats: &mut PickStats) {
        stats.parts += 1;
        let Some(mesh) = self.index.meshes.get(part.mesh as usize) else {
            return;
        };
        let Some(source) = self.model.meshes.get(mesh.mesh as usize) else {
            return;
        };
        let to_world = self.placement * part.world;
        let det = to_world.determinant();
        if !det.is_finite() || det.abs() < 1e-12 {
            return;
        }
        let inv = to_world.inverse();
        let origin = inv.transform_point3(self.ray.origin);
        let dir = inv.transform_vector3(self.ray.dir);
        let mut triangles = |tris: &[u32], best: &mut Best| {
            stats.triangles += tris.len() as u32;
            for &tri in tris {
                let Some([a, b, c]) = mesh.corners(source, tri) else {
                    continue;
                };
                if let Some(t) = ray_triangle(origin, dir, a, b, c) {
                    let world_t =
                        (to_world.transform_point3(origin + dir * t) - self.ray.origin).length();
                    if best.is_none_or(|(n, bt)| world_t < bt || (world_t == bt && part.node < n)) {
                        *best = Some((part.node, world_t));
                    }
                }
            }
        };
        // The local parameter is the world distance, up to how far the inverse is off: a hit
        // at world distance `w` lies at most `(w + moved) / stretch` along the local ray.
        let moved = (to_world.transform_point3(origin) - self.ray.origin).length();
        let stretch = to_world.transform_vector3(dir).length();
        if mesh.bvh.is_empty()
            || !(moved.is_finite() && stretch >= 0.5)
            || condition(to_world) > MAX_PART_CONDITION
        {
            triangles(&mesh.triangles, best);
            return;
        }
        let local_limit = |best: Best| (self.limit(best) + moved) / stretch;
        let local_ray = BoxRay::new(origin, dir, PAD);
        bvh::walk(
            &mesh.bvh,
            &local_ray,
            local_limit(*best),
            &mut WalkStats::default(),
            |range| {
                triangles(&mesh.triangles[range], best);
                local_limit(*best)
            },
        );
    }
}

impl PickMesh {
    fn new(source: &Mesh, mesh: u32) -> Self {
        let mut first_triangle = Vec::with_capacity(source.primitives.len() + 1);
        let mut triangles = Vec::new();
        let mut next = 0u32;
        let mut vertices = 0;
        for p in &source.primitives {
            first_triangle.push(next);
            vertices += p.positions.len();
            let at = |i: u32| p.positions.get(i as usize).map(|&v| Vec3::from(v));
            // `pick_node` skips triangles with an index out of range; one with a non-finite
            // vertex never hits (Möller–Trumbore's `t` comes out NaN), so both are left out.
            for (k, t) in p.indices.chunks_exact(3).enumerate() {
                if t.iter().all(|&i| at(i).is_some_and(|v| v.is_finite())) {
                    triangles.push(next + k as u32);
                }
            }
            next += (p.indices.len() / 3) as u32;
        }
        first_triangle.push(next);
        let mut out = Self {
            mesh,
            vertices,
            first_triangle,
            triangles,
            bvh: Vec::new(),
            bounds: None,
        };
        let tri_box = |m: &PickMesh, t: u32| {
            m.corners(source, t)
                .map_or(EMPTY, |c| c.iter().fold(EMPTY, |b, &p| grow(b, p)))
        };
        out.bounds = out
            .triangles
            .iter()
            .map(|&t| tri_box(&out, t))
            .reduce(|a, b| Aabb {
                min: a.min.min(b.min),
                max: a.max.max(b.max),
            });
        if out.triangles.len() > TRIANGLE_BVH_MIN {
            let boxes: Vec<Aabb> = out
                .triangles
                .iter()
                .map(|&t| padded(tri_box(&out, t), PAD))
                .collect();
            let built = bvh::build(&boxes, TRIANGLES_PER_LEAF);
            out.triangles = built
                .order
                .iter()
                .map(|&i| out.triangles[i as usize])
                .collect();
            out.bvh = built.nodes;
        }
        out
    }

    /// The corners of triangle number `t`, read from `source` (the mesh this was built from).
    fn corners(&self, source: &Mesh, t: u32) -> Option<[Vec3; 3]> {
        let p = self
            .first_triangle
            .partition_point(|&f| f <= t)
            .checked_sub(1)?;
        let prim = source.primitives.get(p)?;
        let local = (t - self.first_triangle[p]) as usize * 3;
        let tri = prim.indices.get(local..local + 3)?;
        let at = |i: u32| prim.positions.get(i as usize).map(|&v| Vec3::from(v));
        Some([at(tri[0])?, at(tri[1])?, at(tri[2])?])
    }
}

/// The condition number of `m`'s linear part in the Frobenius norm (`|A| |A⁻¹|`): 3 for a
/// rotation with uniform scale, larger the more it skews or squashes; infinite when singular.
fn condition(m: Mat4) -> f32 {
    let a = glam::Mat3::from_mat4(m);
    let det = a.determinant();
    if !(det.is_finite() && det != 0.0 && m.is_finite()) {
        return f32::INFINITY;
    }
    let frobenius = |a: glam::Mat3| {
        (a.x_axis.length_squared() + a.y_axis.length_squared() + a.z_axis.length_squared()).sqrt()
    };
    let c = frobenius(a) * frobenius(a.inverse());
    if c.is_finite() { c } else { f32::INFINITY }
}

const EMPTY: Aabb = Aabb {
    min: Vec3::INFINITY,
    max: Vec3::NEG_INFINITY,
};

fn grow(b: Aabb, p: Vec3) -> Aabb {
    Aabb {
        min: b.min.min(p),
        max: b.max.max(p),
    }
}

/// `b` grown by `pad` of its coordinates' magnitude; a non-finite box becomes one that every ray
/// enters.
fn padded(b: Aabb, pad: f32) -> Aabb {
    if !(b.min.is_finite() && b.max.is_finite()) {
        return Aabb {
            min: Vec3::splat(-f32::MAX),
            max: Vec3::splat(f32::MAX),
        };
    }
    let pad = Vec3::splat(pad * b.min.abs().max(b.max.abs()).max_element() + f32::MIN_POSITIVE);
    Aabb {
        min: b.min - pad,
        max: b.max + pad,
    }
}

#[cfg(test)]
mod tests;
