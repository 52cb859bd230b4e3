//! A bounding-volume hierarchy over boxes: built once (binned SAH), walked front to back along a
//! ray, skipping every subtree that starts beyond the best hit so far. Picking uses one over a
//! model's parts and one per large mesh over its triangles.

use glam::Vec3;

use crate::model::Aabb;

/// SAH bins per axis.
const BINS: usize = 12;
/// SAH cost of visiting a node, relative to testing one item.
const TRAVERSAL_COST: f32 = 1.0;

/// One node of a flat BVH: 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BvhNode {
    /// Smallest corner of everything below.
    pub min: Vec3,
    /// Leaf: the first of its items (in build order). Interior: the index of its second child;
    /// the first child is the next node.
    pub first: u32,
    /// Largest corner of everything below.
    pub max: Vec3,
    /// Items in a leaf; 0 for an interior node.
    pub count: u32,
}

/// A built hierarchy: `nodes[0]` is the root (none when there were no items), and `order[k]` is
/// the input index of the `k`-th item in leaf order (callers store their items in that order so
/// a leaf is one range).
#[derive(Debug, Clone, Default)]
pub struct Built {
    /// Flat nodes, depth first.
    pub nodes: Vec<BvhNode>,
    /// Input indices in leaf order.
    pub order: Vec<u32>,
}

/// Builds a BVH over `boxes`, with at most `max_leaf` items per leaf where a split helps.
/// Boxes must be finite.
pub fn build(boxes: &[Aabb], max_leaf: usize) -> Built {
    let max_leaf = max_leaf.max(1);
    let centroids: Vec<Vec3> = boxes.iter().map(Aabb::center).collect();
    let mut order: Vec<u32> = (0..boxes.len() as u32).collect();
    let mut nodes: Vec<BvhNode> = Vec::with_capacity(boxes.len().div_ceil(max_leaf) * 2);
    if boxes.is_empty() {
        return Built { nodes, order };
    }
    // Depth first with an explicit stack: a node is allocated when popped, so a first child
    // always lands right after its parent; a second child patches its index into the parent.
    let mut todo: Vec<(usize, usize, Option<usize>)> = vec![(0, boxes.len(), None)];
    while let Some((start, end, parent)) = todo.pop() {
        let index = nodes.len();
        if let Some(p) = parent {
            nodes[p].first = index as u32;
        }
        let items = &mut order[start..end];
        let mut bounds = EMPTY;
        let mut cbounds = EMPTY;
        for &i in items.iter() {
            bounds = union(bounds, boxes[i as usize]);
            cbounds = grow(cbounds, centroids[i as usize]);
        }
        let leaf = BvhNode {
            min: bounds.min,
            first: start as u32,
            max: bounds.max,
            count: items.len() as u32,
        };
        let split = if items.len() <= max_leaf {
            None
        } else {
            split(items, boxes, &centroids, bounds, cbounds, max_leaf)
        };
        match split {
            Some(mid) => {
                nodes.push(BvhNode { count: 0, ..leaf });
                todo.push((start + mid, end, Some(index)));
                todo.push((start, start + mid, None));
            }
            None => nodes.push(leaf),
        }
    }
    Built { nodes, order }
}

/// Reorders `items` into two non-empty halves and returns the size of the first, or `None` when
/// keeping them in one leaf is cheaper.
fn split(
    items: &mut [u32],
    boxes: &[Aabb],
    centroids: &[Vec3],
    bounds: Aabb,
    cbounds: Aabb,
    max_leaf: usize,
) -> Option<usize> {
    let n = items.len();
    let extent = cbounds.max - cbounds.min;
    let mut best: Option<(f32, usize, usize)> = None; // (cost, axis, bins left of the split)
    for axis in 0..3 {
        if extent[axis] <= 0.0 {
            continue;
        }
        let bin_of = |c: Vec3| bin(c, axis, cbounds.min, extent);
        let mut counts = [0usize; BINS];
        let mut bin_bounds = [EMPTY; BINS];
        for &i in items.iter() {
            let b = bin_of(centroids[i as usize]);
            counts[b] += 1;
            bin_bounds[b] = union(bin_bounds[b], boxes[i as usize]);
        }
        // Sweep from the right for the right-hand areas, then from the left for the costs.
        let mut right_area = [0.0f32; BINS];
        let mut acc = EMPTY;
        for b in (1..BINS).rev() {
            acc = union(acc, bin_bounds[b]);
            right_area[b] = area(acc);
        }
        let (mut acc, mut left_n) = (EMPTY, 0);
        for b in 0..BINS - 1 {
            acc = union(acc, bin_bounds[b]);
            left_n += counts[b];
            let right_n = n - left_n;
            if left_n == 0 || right_n == 0 {
                continue;
            }
            let cost = area(acc) * left_n as f32 + right_area[b + 1] * right_n as f32;
            if best.is_none_or(|(c, _, _)| cost < c) {
                best = Some((cost, axis, b + 1));
            }
        }
    }
    let parent_area = area(bounds);
    let sah = best.filter(|(cost, _, _)| {
        // A flat box (area 0) gives no SAH signal: split anyway.
        parent_area <= 0.0 || TRAVERSAL_COST + cost / parent_area < n as f32
    });
    if let Some((_, axis, left_bins)) = sah {
        let mid = partition(items, |i| {
            bin(centroids[i as usize], axis, cbounds.min, extent) < left_bins
        });
        if mid > 0 && mid < n {
            return Some(mid);
        }
    }
    if best.is_some() && n <= max_leaf * 4 {
        // SAH says one leaf is cheaper, and the leaf stays small.
        return None;
    }
    // Median on the widest axis: the fallback for ties and for identical centroids, which
    // also keeps the tree's depth logarithmic there.
    let axis = extent.max_position();
    let mid = n / 2;
    items.select_nth_unstable_by(mid, |&a, &b| {
        centroids[a as usize][axis].total_cmp(&centroids[b as usize][axis])
    });
    Some(mid)
}

/// The SAH bin of centroid `c` along `axis` (the same sum at binning and partitioning, so an
/// item never changes sides).
fn bin(c: Vec3, axis: usize, min: Vec3, extent: Vec3) -> usize {
    let f = (c[axis] - min[axis]) / extent[axis] * BINS as f32;
    (f as usize).min(BINS - 1)
}

/// Moves the items for which `left` holds to the front; returns how many there are.
fn partition(items: &mut [u32], left: impl Fn(u32) -> bool) -> usize {
    let mut mid = 0;
    for k in 0..items.len() {
        if left(items[k]) {
            items.swap(k, mid);
            mid += 1;
        }
    }
    mid
}

const EMPTY: Aabb = Aabb {
    min: Vec3::INFINITY,
    max: Vec3::NEG_INFINITY,
};

fn union(a: Aabb, b: Aabb) -> Aabb {
    Aabb {
        min: a.min.min(b.min),
        max: a.max.max(b.max),
    }
}

fn grow(a: Aabb, p: Vec3) -> Aabb {
    Aabb {
        min: a.min.min(p),
        max: a.max.max(p),
    }
}

/// Half the surface area (the factor 2 cancels in SAH); 0 for an empty box.
fn area(b: Aabb) -> f32 {
    let d = (b.max - b.min).max(Vec3::ZERO);
    d.x * d.y + d.y * d.z + d.z * d.x
}

/// A ray prepared for box tests. Its parameter is whatever the caller's direction measures
/// (picking passes a direction whose parameter is the world distance).
#[derive(Debug, Clone, Copy)]
pub struct BoxRay {
    origin: Vec3,
    inv_dir: Vec3,
    /// Every box is met as if this much larger: rounding at the origin's coordinates.
    pad: Vec3,
}

impl BoxRay {
    /// Prepares `origin + t * dir`, meeting boxes grown by `relative_pad` of the origin's
    /// largest coordinate (so a far-off origin's rounding does not miss a box).
    pub fn new(origin: Vec3, dir: Vec3, relative_pad: f32) -> Self {
        // A zero component would give 0 * inf = NaN on a slab plane; a tiny one gives a huge
        // but ordered slab instead.
        let tiny = |d: f32| {
            if d.abs() < 1e-30 {
                1e-30f32.copysign(d)
            } else {
                d
            }
        };
        let dir = Vec3::new(tiny(dir.x), tiny(dir.y), tiny(dir.z));
        Self {
            origin,
            inv_dir: dir.recip(),
            pad: Vec3::splat(relative_pad * origin.abs().max_element()),
        }
    }

    /// Where the ray enters the node's box (0 when it starts inside), if it meets the box at
    /// or after its start.
    pub fn entry(&self, node: &BvhNode) -> Option<f32> {
        let t1 = (node.min - self.pad - self.origin) * self.inv_dir;
        let t2 = (node.max + self.pad - self.origin) * self.inv_dir;
        let near = t1.min(t2).max_element().max(0.0);
        let far = t1.max(t2).min_element();
        (near <= far).then_some(near)
    }
}

/// Counts from one walk, for tests and `stats()`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalkStats {
    /// Nodes whose box was entered.
    pub nodes: u32,
    /// Leaves whose items were handed to the caller.
    pub leaves: u32,
}

/// Walks `nodes` along `ray`, nearest box first, handing each leaf's item range to `leaf`, which
/// returns the new limit: subtrees entered beyond it are skipped. `limit` is the first one.
pub fn walk(
    nodes: &[BvhNode],
    ray: &BoxRay,
    mut limit: f32,
    stats: &mut WalkStats,
    mut leaf: impl FnMut(std::ops::Range<usize>) -> f32,
) {
    let Some(root) = nodes.first() else { return };
    let Some(t) = ray.entry(root) else { return };
    let mut stack: Vec<(u32, f32)> = Vec::with_capacity(64);
    stack.push((0, t));
    while let Some((index, t)) = stack.pop() {
        if t > limit {
            continue;
        }
        let Some(node) = nodes.get(index as usize) else {
            continue;
        };
        stats.nodes += 1;
        if node.count > 0 {
            stats.leaves += 1;
            let start = node.first as usize;
            limit = leaf(start..start + node.count as usize);
            continue;
        }
        let (a, b) = (index + 1, node.first);
        let ta = nodes.get(a as usize).and_then(|n| ray.entry(n));
        let tb = nodes.get(b as usize).and_then(|n| ray.entry(n));
        // Push the farther first so the nearer is popped next.
        let mut push = |i: u32, t: Option<f32>| {
            if let Some(t) = t.filter(|&t| t <= limit) {
                stack.push((i, t));
            }
        };
        if ta.unwrap_or(f32::INFINITY) <= tb.unwrap_or(f32::INFINITY) {
            push(b, tb);
            push(a, ta);
        } else {
            push(a, ta);
            push(b, tb);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cube(c: Vec3, h: f32) -> Aabb {
        Aabb {
            min: c - Vec3::splat(h),
            max: c + Vec3::splat(h),
        }
    }

    /// Every item sits in exactly one leaf, and every node's box holds its items.
    fn check(boxes: &[Aabb], built: &Built) {
        let mut seen = vec![0u32; boxes.len()];
        let mut sorted = built.order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..boxes.len() as u32).collect::<Vec<_>>());
        for node in &built.nodes {
            if node.count == 0 {
                continue;
            }
            for k in node.first..node.first + node.count {
                let b = boxes[built.order[k as usize] as usize];
                seen[k as usize] += 1;
                assert!(b.min.cmpge(node.min).all() && b.max.cmple(node.max).all());
            }
        }
        assert!(seen.iter().all(|&s| s == 1), "{seen:?}");
    }

    #[test]
    fn every_item_lands_in_exactly_one_leaf() {
        let grid: Vec<Aabb> = (0..1000)
            .map(|i| {
                cube(
                    Vec3::new((i % 10) as f32, (i / 10 % 10) as f32, (i / 100) as f32),
                    0.3,
                )
            })
            .collect();
        let built = build(&grid, 4);
        check(&grid, &built);
        assert!(
            built.nodes.len() < grid.len(),
            "{} nodes",
            built.nodes.len()
        );
        let same = vec![cube(Vec3::ONE, 1.0); 100];
        let built = build(&same, 4);
        check(&same, &built);
        assert!(
            built.nodes.iter().all(|n| n.count <= 4),
            "identical boxes are split too"
        );
        assert!(build(&[], 4).nodes.is_empty());
        check(&same[..1], &build(&same[..1], 4));
    }

    #[test]
    fn a_ray_along_a_row_enters_boxes_in_order_and_stops_at_the_limit() {
        let row: Vec<Aabb> = (0..64).map(|i| cube(Vec3::X * i as f32, 0.25)).collect();
        let built = build(&row, 1);
        let ray = BoxRay::new(Vec3::new(-5.0, 0.0, 0.0), Vec3::X, 0.0);
        let mut hits = Vec::new();
        let mut stats = WalkStats::default();
        walk(&built.nodes, &ray, f32::INFINITY, &mut stats, |r| {
            hits.extend(r.map(|k| built.order[k]));
            f32::INFINITY
        });
        assert_eq!(hits, (0..64).collect::<Vec<_>>(), "front to back");
        let mut first = Vec::new();
        walk(&built.nodes, &ray, f32::INFINITY, &mut stats, |r| {
            first.extend(r.map(|k| built.order[k]));
            7.0 // boxes entered by then: the first three
        });
        assert_eq!(first, vec![0, 1, 2]);
        let touched = |y: f32| {
            let mut n = 0;
            let ray = BoxRay::new(Vec3::new(-5.0, y, 0.0), Vec3::X, 0.0);
            walk(
                &built.nodes,
                &ray,
                f32::INFINITY,
                &mut WalkStats::default(),
                |r| {
                    n += r.len();
                    f32::INFINITY
                },
            );
            n
        };
        assert_eq!(touched(0.2), 64, "a ray parallel to faces, inside the slab");
        assert_eq!(touched(0.3), 0, "a ray parallel to faces, outside the slab");
    }
}
