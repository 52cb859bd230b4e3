//! Limits a model cannot get past by reuse: a mesh drawn by many nodes costs the GPU its
//! triangles once per node, however small the file, and every node costs memory and upload.

use super::super::{ModelProblem, TwinModel};
use super::problem;

/// Most nodes a model may have (a node costs about 200 bytes on the CPU and 32 on the GPU).
pub(crate) const MAX_NODES: usize = 1_000_000;

/// Most triangles all drawn nodes together may show, counting a reused mesh once per node that
/// draws it: beyond this no device keeps an interactive frame rate.
pub(crate) const MAX_DRAWN_TRIANGLES: u64 = 100_000_000;

/// Most bytes all of a `.gltf`'s external files (buffers and images) together may have.
pub const MAX_RESOURCE_BYTES: u64 = 1 << 30;

/// The node count against [`MAX_NODES`], before any node is built.
pub(super) fn check_node_count(count: usize) -> Result<(), ModelProblem> {
    if count > MAX_NODES {
        return Err(problem(
            "nodes",
            format!(
                "the model has {count} nodes; this viewer shows at most {MAX_NODES} (merge small \
                 parts in the exporter, or split the plant into several twins)"
            ),
        ));
    }
    Ok(())
}

/// The triangles every node draws, reused meshes counted per node, against
/// [`MAX_DRAWN_TRIANGLES`].
pub(super) fn check_drawn_triangles(model: &TwinModel) -> Result<(), ModelProblem> {
    let total = model.triangle_count();
    let nodes_drawing = model.drawn_nodes().filter(|n| n.mesh.is_some()).count();
    if total > MAX_DRAWN_TRIANGLES {
        return Err(problem(
            "nodes",
            format!(
                "{nodes_drawing} nodes draw {total} triangles in all (a mesh counts once per node \
                 that uses it); this viewer draws at most {MAX_DRAWN_TRIANGLES} (simplify the \
                 meshes, e.g. with gltfpack -si, or split the plant into several twins)"
            ),
        ));
    }
    Ok(())
}

/// The external files' total size against [`MAX_RESOURCE_BYTES`].
pub(super) fn check_resource_bytes(total: u64) -> Result<(), ModelProblem> {
    if total > MAX_RESOURCE_BYTES {
        return Err(problem(
            "buffers",
            format!(
                "the model's external files hold {total} bytes together; at most \
                 {MAX_RESOURCE_BYTES} are allowed (pack the model as a compressed .glb)"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_total_past_the_cap_is_refused_with_the_figures() {
        assert!(check_resource_bytes(MAX_RESOURCE_BYTES).is_ok());
        let p = check_resource_bytes(MAX_RESOURCE_BYTES + 1).expect_err("over");
        assert!(
            p.message.contains(&(MAX_RESOURCE_BYTES + 1).to_string()),
            "{}",
            p.message
        );
        assert!(p.message.contains(".glb"), "{}", p.message);
    }

    #[test]
    fn node_count_past_the_cap_is_refused() {
        assert!(check_node_count(MAX_NODES).is_ok());
        let p = check_node_count(MAX_NODES + 1).expect_err("over");
        assert_eq!(p.path, "nodes");
        assert!(p.message.contains("1000001 nodes"), "{}", p.message);
    }
}
