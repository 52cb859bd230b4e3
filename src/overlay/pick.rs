//! Picking: which label or part is under a click, a tap or a controller ray. Labels win over
//! parts (they are drawn on top); parts are hit-tested against their triangles, through a BVH
//! ([`PickIndex`]) so that a click on a plant of 100,000 parts tests only those along its ray.

use glam::{Mat4, Vec2, Vec3};

use crate::camera::ViewMatrices;
use crate::model::TwinModel;
use crate::overlay::layout::{MARKER_SIZE_PX, Placed};

mod index;
mod lazy;

pub use index::{PickIndex, PickStats};
pub use lazy::LazyPickIndex;

/// A ray in world space.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ray {
    /// Start point.
    pub origin: Vec3,
    /// Unit direction.
    pub dir: Vec3,
}

/// The world-space ray through pixel `px` (top-left origin) of a `viewport`-sized view.
pub fn screen_ray(view: &ViewMatrices, viewport: [f32; 2], px: [f32; 2]) -> Option<Ray> {
    let ndc = Vec2::new(
        px[0] / viewport[0].max(1.0) * 2.0 - 1.0,
        1.0 - px[1] / viewport[1].max(1.0) * 2.0,
    );
    let inv = (view.proj * view.view).inverse();
    let near = inv.project_point3(ndc.extend(0.0));
    let far = inv.project_point3(ndc.extend(1.0));
    let dir = (far - near).normalize_or_zero();
    (dir != Vec3::ZERO && near.is_finite()).then_some(Ray { origin: near, dir })
}

/// The label under `px`, given the layout's placements and their drawing order (most important
/// first, as [`LabelLayout::order`](crate::overlay::layout::LabelLayout::order) gives it).
pub fn pick_label(placed: &[Placed], order: &[u32], px: [f32; 2]) -> Option<usize> {
    order.iter().map(|&i| i as usize).find(|&i| {
        let Some(p) = placed.get(i) else { return false };
        if !p.visible {
            return false;
        }
        // `size_px` is already scaled (or the marker size); a tiny target still gets a
        // finger-sized hit area.
        let half = [
            p.size_px[0].max(MARKER_SIZE_PX) * 0.5,
            p.size_px[1].max(MARKER_SIZE_PX) * 0.5,
        ];
        (px[0] - p.screen_pos[0]).abs() <= half[0] && (px[1] - p.screen_pos[1]).abs() <= half[1]
    })
}

/// The nearest drawn node whose triangles the ray hits, and the distance along the ray.
///
/// Tests every triangle of every mesh node: the reference that [`PickIndex::pick`] matches
/// without being linear in the model. The app picks through a [`PickIndex`].
pub fn pick_node(model: &TwinModel, placement: Mat4, ray: Ray) -> Option<(usize, f32)> {
    let mut best: Option<(usize, f32)> = None;
    let drawn = model.drawn_mask();
    for (index, node) in model.nodes.iter().enumerate() {
        // A node outside the scene is not drawn, so it cannot be picked either.
        if !drawn[index] {
            continue;
        }
        let Some(mesh) = node.mesh.and_then(|m| model.meshes.get(m)) else {
            continue;
        };
        let to_world = placement * node.world;
        let det = to_world.determinant();
        if !det.is_finite() || det.abs() < 1e-12 {
            continue;
        }
        // Test in the node's space: one inverse per node instead of transforming every vertex.
        let inv = to_world.inverse();
        let origin = inv.transform_point3(ray.origin);
        let dir = inv.transform_vector3(ray.dir);
        for p in &mesh.primitives {
            for tri in p.indices.chunks_exact(3) {
                let v = |k: usize| p.positions.get(tri[k] as usize).map(|&v| Vec3::from(v));
                let (Some(a), Some(b), Some(c)) = (v(0), v(1), v(2)) else {
                    continue;
                };
                if let Some(t) = ray_triangle(origin, dir, a, b, c) {
                    // `t` is in units of the transformed direction; convert to world distance.
                    let world_t =
                        (to_world.transform_point3(origin + dir * t) - ray.origin).length();
                    if best.is_none_or(|(_, bt)| world_t < bt) {
                        best = Some((index, world_t));
                    }
                }
            }
        }
    }
    best
}

/// The sensor bound to `node` or, failing that, to its nearest ancestor.
pub fn sensor_for_node(
    model: &TwinModel,
    node_sensors: &[(usize, usize)],
    node: usize,
) -> Option<usize> {
    let mut current = Some(node);
    let mut steps = 0;
    while let Some(n) = current {
        if let Some(&(_, sensor)) = node_sensors.iter().find(|(nn, _)| *nn == n) {
            return Some(sensor);
        }
        current = model.nodes.get(n).and_then(|n| n.parent);
        steps += 1;
        if steps > model.nodes.len() {
            return None;
        }
    }
    None
}

/// Möller–Trumbore ray/triangle intersection, both faces; the hit's ray parameter.
fn ray_triangle(origin: Vec3, dir: Vec3, a: Vec3, b: Vec3, c: Vec3) -> Option<f32> {
    let e1 = b - a;
    let e2 = c - a;
    let p = dir.cross(e2);
    let det = e1.dot(p);
    if det.abs() < 1e-12 {
        return None;
    }
    let inv = 1.0 / det;
    let s = origin - a;
    let u = s.dot(p) * inv;
    if !(0.0..=1.0).contains(&u) {
        return None;
    }
    let q = s.cross(e1);
    let v = dir.dot(q) * inv;
    if v < 0.0 || u + v > 1.0 {
        return None;
    }
    let t = e2.dot(q) * inv;
    (t > 0.0).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::OrbitCamera;
    use crate::model::{Aabb, Mesh, Node, Primitive, Vertex};

    fn quad_model() -> TwinModel {
        let v = |x: f32, y: f32| Vertex {
            position: [x, y, 0.0],
            normal: [0.0, 0.0, 1.0],
            uv: [0.0; 2],
            color: [1.0; 4],
        };
        let quad = Mesh {
            name: None,
            primitives: vec![Primitive::from_vertices(
                &[v(-0.5, -0.5), v(0.5, -0.5), v(0.5, 0.5), v(-0.5, 0.5)],
                vec![0, 1, 2, 0, 2, 3],
                0,
            )],
        };
        let node = |name: &str, parent, children: Vec<usize>, z: f32, mesh| Node {
            name: Some(name.into()),
            parent,
            children,
            local: Mat4::from_translation(Vec3::Z * z),
            world: Mat4::from_translation(Vec3::Z * z),
            mesh,
        };
        TwinModel {
            source_name: "q.glb".into(),
            nodes: vec![
                node("Back", None, vec![1], 0.0, Some(0)),
                node("Front", Some(0), vec![], 1.0, Some(0)),
            ],
            roots: vec![0],
            meshes: vec![quad],
            materials: vec![Default::default()],
            textures: vec![],
            origin: [0.0; 3],
        }
    }

    #[test]
    fn the_centre_pixel_ray_hits_the_framed_target() {
        let mut cam = OrbitCamera::default();
        cam.frame(
            Aabb {
                min: Vec3::splat(-1.0),
                max: Vec3::splat(1.0),
            },
            1.0,
        );
        let ray = screen_ray(&cam.matrices(1.0), [800.0, 800.0], [400.0, 400.0]).unwrap();
        let closest = ray.origin + ray.dir * (cam.target - ray.origin).dot(ray.dir);
        assert!((closest - cam.target).length() < 1e-3, "{closest}");
    }

    #[test]
    fn the_nearest_part_along_the_ray_is_picked() {
        let model = quad_model();
        let ray = Ray {
            origin: Vec3::new(0.1, 0.1, 5.0),
            dir: -Vec3::Z,
        };
        assert_eq!(
            pick_node(&model, Mat4::IDENTITY, ray).map(|(n, _)| n),
            Some(1),
            "front quad first"
        );
        let (_, t) = pick_node(&model, Mat4::IDENTITY, ray).unwrap();
        assert!((t - 4.0).abs() < 1e-4, "world distance {t}");
        let miss = Ray {
            origin: Vec3::new(3.0, 0.0, 5.0),
            dir: -Vec3::Z,
        };
        assert_eq!(pick_node(&model, Mat4::IDENTITY, miss), None);
        let moved = Mat4::from_translation(Vec3::X * 3.0);
        assert_eq!(
            pick_node(&model, moved, miss).map(|(n, _)| n),
            Some(1),
            "placement is honoured"
        );
    }

    #[test]
    fn a_part_without_a_sensor_selects_its_ancestor_sensor() {
        let model = quad_model();
        assert_eq!(sensor_for_node(&model, &[(0, 7)], 1), Some(7));
        assert_eq!(sensor_for_node(&model, &[(1, 3), (0, 7)], 1), Some(3));
        assert_eq!(sensor_for_node(&model, &[], 1), None);
    }

    #[test]
    fn labels_are_picked_in_drawing_priority_and_markers_by_their_icon() {
        let label = |x: f32, marker: bool| Placed {
            visible: true,
            screen_pos: [x, 100.0],
            anchor_px: None,
            scale: 1.0,
            as_marker: marker,
            size_px: if marker {
                [MARKER_SIZE_PX; 2]
            } else {
                [200.0, 60.0]
            },
            depth: 0.5,
            distance: 2.0,
        };
        let placed = [label(100.0, false), label(150.0, false), label(400.0, true)];
        assert_eq!(
            pick_label(&placed, &[1, 0, 2], [140.0, 110.0]),
            Some(1),
            "the first in order wins an overlap"
        );
        assert_eq!(pick_label(&placed, &[0, 1, 2], [140.0, 110.0]), Some(0));
        assert_eq!(pick_label(&placed, &[0, 1, 2], [405.0, 100.0]), Some(2));
        assert_eq!(
            pick_label(&placed, &[0, 1, 2], [430.0, 100.0]),
            None,
            "a marker is only its icon"
        );
    }
}
