//! The node hierarchy: local transforms, the one-parent and no-cycle rules, scene roots and
//! world transforms. Every walk is iterative, so a deep or cyclic hierarchy cannot overflow the
//! stack.
//!
//! Transforms are composed in f64 from the file's own numbers (JSON carries doubles), and a
//! model whose parts sit far from its origin (site or UTM coordinates, common in plant CAD) is
//! recentred: node world matrices become relative to [`crate::model::TwinModel::origin`], so
//! float32 keeps millimetres at 500 km.

use glam::{DMat4, DVec3, Mat4, Quat, Vec4};
use gltf::json;
use serde::Deserialize;

use super::problem;
use crate::model::{ModelProblem, Node};

/// Walk state of a node during cycle detection.
#[derive(Clone, Copy, PartialEq)]
enum Walk {
    Unvisited,
    OnPath,
    Done,
}

/// World translations farther than this from the file's origin are recentred, metres: beyond
/// it float32 steps exceed a millimetre.
pub(crate) const RECENTRE_BEYOND_M: f64 = 10_000.0;

/// The translations and matrices of the nodes as double precision, read from the same JSON
/// (the glTF schema types hold `f32`).
#[derive(Debug, Default, Deserialize)]
pub(super) struct PreciseNodes {
    #[serde(default)]
    nodes: Vec<PreciseNode>,
}

#[derive(Debug, Default, Deserialize)]
struct PreciseNode {
    translation: Option<[f64; 3]>,
    matrix: Option<[f64; 16]>,
}

impl PreciseNodes {
    /// Whether any node is placed far enough out that its f32 translation may have lost
    /// precision (cheap: looks at the parsed numbers only).
    pub(super) fn worth_reading(root: &json::Root) -> bool {
        let far = |v: f32| v.abs() > 1000.0;
        root.nodes.iter().any(|n| {
            n.translation.is_some_and(|t| t.into_iter().any(far))
                || n.matrix.is_some_and(|m| m[12..15].iter().copied().any(far))
        })
    }

    /// Reads them from the glTF JSON text; `None` if it does not parse that way (the numbers then
    /// come from the schema types).
    pub(super) fn read(json_text: &[u8]) -> Option<PreciseNodes> {
        serde_json::from_slice(json_text).ok()
    }
}

/// The flattened hierarchy: all nodes (index = glTF node index), the scene's root nodes and
/// the origin the node world matrices are relative to.
pub(super) struct Hierarchy {
    pub(super) nodes: Vec<Node>,
    pub(super) roots: Vec<usize>,
    pub(super) origin: [f64; 3],
}

/// Builds the [`Hierarchy`].
pub(super) fn build(
    root: &json::Root,
    precise: Option<&PreciseNodes>,
) -> Result<Hierarchy, Vec<ModelProblem>> {
    let mut problems = Vec::new();
    let count = root.nodes.len();
    let precise = precise.filter(|p| p.nodes.len() == count);

    let locals: Vec<DMat4> = root
        .nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let exact = precise.and_then(|p| p.nodes.get(i));
            local_transform(node, exact).unwrap_or_else(|p| {
                problems.push(problem(format!("nodes[{i}].{}", p.0), p.1));
                DMat4::IDENTITY
            })
        })
        .collect();

    let mut parents: Vec<Option<usize>> = vec![None; count];
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); count];
    for (i, node) in root.nodes.iter().enumerate() {
        for child in node.children.iter().flatten().map(json::Index::value) {
            let Some(slot) = parents.get_mut(child) else {
                problems.push(problem(
                    format!("nodes[{i}].children"),
                    format!("nodes[{child}] does not exist"),
                ));
                continue;
            };
            match *slot {
                Some(p) if p == i => problems.push(problem(
                    format!("nodes[{child}]"),
                    format!("node is listed twice in nodes[{i}].children"),
                )),
                Some(p) => problems.push(problem(
                    format!("nodes[{child}]"),
                    format!(
                        "node has two parents (nodes[{p}] and nodes[{i}]); a node may appear in \
                         only one children list"
                    ),
                )),
                None => {
                    *slot = Some(i);
                    if let Some(list) = children.get_mut(i) {
                        list.push(child);
                    }
                }
            }
        }
    }
    problems.extend(find_cycles(&parents));

    let roots = scene_roots(root, &parents, &mut problems);
    if !problems.is_empty() {
        return Err(problems);
    }

    // With one parent each and no cycles, every node is reached exactly once from the
    // parentless ones.
    let mut worlds = locals.clone();
    let mut stack: Vec<usize> = (0..count)
        .filter(|&i| parents.get(i) == Some(&None))
        .collect();
    while let Some(i) = stack.pop() {
        let parent_world = worlds.get(i).copied().unwrap_or(DMat4::IDENTITY);
        for &child in children.get(i).into_iter().flatten() {
            if let (Some(world), Some(local)) = (worlds.get_mut(child), locals.get(child)) {
                *world = parent_world * *local;
                stack.push(child);
            }
        }
    }
    for (i, world) in worlds.iter().enumerate() {
        if !world.is_finite() || !world.as_mat4().is_finite() {
            problems.push(problem(
                format!("nodes[{i}]"),
                "the world transform overflows (the ancestors' scales multiply beyond f32 range)",
            ));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }

    let origin = recentre_origin(root, &worlds);
    let to_origin = DMat4::from_translation(-origin);
    let nodes = root
        .nodes
        .iter()
        .zip(locals.iter().map(DMat4::as_mat4))
        .zip(worlds.iter().map(|w| (to_origin * *w).as_mat4()))
        .zip(parents)
        .zip(children)
        .map(|((((node, local), world), parent), children)| Node {
            name: node.name.clone(),
            parent,
            children,
            local,
            world,
            mesh: node.mesh.map(|m| m.value()),
        })
        .collect();
    Ok(Hierarchy {
        nodes,
        roots,
        origin: origin.to_array(),
    })
}

/// Zero, or the centre of the world translations of the mesh nodes (of all nodes when none has
/// a mesh) when any of them lies farther than [`RECENTRE_BEYOND_M`] from the file's origin.
fn recentre_origin(root: &json::Root, worlds: &[DMat4]) -> DVec3 {
    let with_mesh: Vec<DVec3> = worlds
        .iter()
        .zip(&root.nodes)
        .filter(|(_, n)| n.mesh.is_some())
        .map(|(w, _)| w.w_axis.truncate())
        .collect();
    let points: Vec<DVec3> = if with_mesh.is_empty() {
        worlds.iter().map(|w| w.w_axis.truncate()).collect()
    } else {
        with_mesh
    };
    if !points
        .iter()
        .any(|p| p.abs().max_element() > RECENTRE_BEYOND_M)
    {
        return DVec3::ZERO;
    }
    let (min, max) = points.iter().fold(
        (DVec3::splat(f64::INFINITY), DVec3::splat(f64::NEG_INFINITY)),
        |(lo, hi), p| (lo.min(*p), hi.max(*p)),
    );
    // Whole metres: the origin is a reference point a person may read and reuse.
    ((min + max) * 0.5).round()
}

/// The node's transform relative to its parent, with the double-precision translation or
/// matrix where `exact` has them; on failure, the offending field and why.
fn local_transform(
    node: &json::Node,
    exact: Option<&PreciseNode>,
) -> Result<DMat4, (&'static str, String)> {
    if let Some(matrix) = node.matrix {
        if let Some(bad) = matrix.iter().find(|v| !v.is_finite()) {
            return Err((
                "matrix",
                format!("contains {bad}; transforms must be finite numbers"),
            ));
        }
        return Ok(match exact.and_then(|e| e.matrix) {
            Some(m) if m.iter().all(|v| v.is_finite()) => DMat4::from_cols_array(&m),
            _ => Mat4::from_cols_array(&matrix).as_dmat4(),
        });
    }
    let translation = node.translation.unwrap_or([0.0; 3]);
    let scale = node.scale.unwrap_or([1.0; 3]);
    for (field, values) in [("translation", &translation[..]), ("scale", &scale[..])] {
        if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
            return Err((
                field,
                format!("contains {bad}; transforms must be finite numbers"),
            ));
        }
    }
    let rotation = node.rotation.map_or(Quat::IDENTITY.to_array(), |r| r.0);
    // Writers round quaternions, so normalize rather than demand exactly unit length.
    let Some(rotation) = Vec4::from_array(rotation).try_normalize() else {
        return Err((
            "rotation",
            format!("{rotation:?} cannot be normalized; expected a finite unit quaternion"),
        ));
    };
    let translation = match exact.and_then(|e| e.translation) {
        Some(t) if t.iter().all(|v| v.is_finite()) => DVec3::from_array(t),
        _ => DVec3::from_array(translation.map(f64::from)),
    };
    Ok(DMat4::from_scale_rotation_translation(
        DVec3::from_array(scale.map(f64::from)),
        Quat::from_vec4(rotation).as_dquat(),
        translation,
    ))
}

/// One problem per cycle in the parent links, naming the cycle in child order starting from its
/// lowest node index.
fn find_cycles(parents: &[Option<usize>]) -> Vec<ModelProblem> {
    let mut problems = Vec::new();
    let mut state = vec![Walk::Unvisited; parents.len()];
    let mut path = Vec::new();
    for start in 0..parents.len() {
        path.clear();
        let mut current = Some(start);
        while let Some(i) = current {
            match state.get(i).copied() {
                Some(Walk::Unvisited) => {
                    if let Some(s) = state.get_mut(i) {
                        *s = Walk::OnPath;
                    }
                    path.push(i);
                    current = parents.get(i).copied().flatten();
                }
                Some(Walk::OnPath) => {
                    let from = path.iter().position(|&p| p == i).unwrap_or(0);
                    problems.push(cycle_problem(path.get(from..).unwrap_or_default()));
                    current = None;
                }
                Some(Walk::Done) | None => current = None,
            }
        }
        for &i in &path {
            if let Some(s) = state.get_mut(i) {
                *s = Walk::Done;
            }
        }
    }
    problems
}

/// `upward` lists a cycle's nodes from one of them through its parent, grandparent and so on.
fn cycle_problem(upward: &[usize]) -> ModelProblem {
    let mut ring: Vec<usize> = upward.iter().rev().copied().collect();
    let lowest = ring
        .iter()
        .enumerate()
        .min_by_key(|(_, n)| **n)
        .map_or(0, |(at, _)| at);
    ring.rotate_left(lowest);
    let first = ring.first().copied().unwrap_or(0);
    let chain: Vec<String> = ring
        .iter()
        .chain([&first])
        .map(|n| format!("nodes[{n}]"))
        .collect();
    problem(
        format!("nodes[{first}]"),
        format!(
            "node is its own ancestor (cycle through {})",
            chain.join(" → ")
        ),
    )
}

/// The default scene's nodes (or scene 0's), or every parentless node when there are no scenes.
fn scene_roots(
    root: &json::Root,
    parents: &[Option<usize>],
    problems: &mut Vec<ModelProblem>,
) -> Vec<usize> {
    let scene_index = root
        .scene
        .map(|s| s.value())
        .or((!root.scenes.is_empty()).then_some(0));
    let Some((scene_index, scene)) = scene_index.and_then(|s| Some((s, root.scenes.get(s)?)))
    else {
        return (0..parents.len())
            .filter(|&i| parents.get(i) == Some(&None))
            .collect();
    };
    let mut roots = Vec::new();
    let mut listed = vec![false; parents.len()];
    for (k, node) in scene.nodes.iter().map(json::Index::value).enumerate() {
        match parents.get(node) {
            None => problems.push(problem(
                format!("scenes[{scene_index}].nodes[{k}]"),
                format!("nodes[{node}] does not exist"),
            )),
            Some(Some(parent)) => problems.push(problem(
                format!("scenes[{scene_index}].nodes[{k}]"),
                format!(
                    "nodes[{node}] is a child of nodes[{parent}]; a scene lists only root nodes"
                ),
            )),
            Some(None) => {
                // A scene may list a node twice; draw it once.
                if listed
                    .get_mut(node)
                    .is_some_and(|seen| !std::mem::replace(seen, true))
                {
                    roots.push(node);
                }
            }
        }
    }
    roots
}
