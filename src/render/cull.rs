//! Frustum culling of spatial chunks and the per-view draw list: the visible chunks of each
//! batch become index ranges, and ranges are merged across the smallest gaps until the view
//! fits the draw budget. Pure math, no wgpu: host-tested.

use std::ops::Range;

use glam::{Mat4, Vec3, Vec4};

use crate::model::Aabb;

/// Draw calls a view may spend on the model: every batch of chunks is drawn in at most this many
/// ranges together (more only when there are more batches than this).
pub const MAX_MODEL_DRAWS: usize = 16;

/// The six planes of a view volume, `a·x + b·y + c·z + d >= 0` inside.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frustum {
    planes: [Vec4; 6],
}

impl Frustum {
    /// The volume that `clip` (model or world to clip space, wgpu depth 0..1) maps into the
    /// clip box. Planes are normalised, so distances are in the input's units.
    pub fn from_clip(clip: Mat4) -> Frustum {
        let r = clip.transpose();
        let (r0, r1, r2, r3) = (r.x_axis, r.y_axis, r.z_axis, r.w_axis);
        let planes = [r3 + r0, r3 - r0, r3 + r1, r3 - r1, r2, r3 - r2].map(|p| {
            let len = p.truncate().length();
            if len > 0.0 && len.is_finite() {
                p / len
            } else {
                p
            }
        });
        Frustum { planes }
    }

    /// Whether any part of `aabb` may be inside (conservative: a box near a corner outside
    /// every plane's half-space separately may still count as visible).
    pub fn intersects(&self, aabb: &Aabb) -> bool {
        self.planes.iter().all(|p| {
            let n = p.truncate();
            // The box corner farthest along the plane normal.
            let far = Vec3::select(n.cmpge(Vec3::ZERO), aabb.max, aabb.min);
            n.dot(far) + p.w >= 0.0
        })
    }
}

/// A range of indices to draw in one call: batch `batch`'s indices `indices`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrawRange {
    /// The batch (pipeline, textures and buffers) the range belongs to.
    pub batch: usize,
    /// Index range within the batch's index buffer.
    pub indices: Range<u32>,
}

/// A batch's chunks as the culler sees them: contiguous index ranges in chunk order, each with
/// its bounds.
pub trait ChunkSource {
    /// Number of batches.
    fn batch_count(&self) -> usize;
    /// The chunks of `batch`: `(index range, bounds)`, consecutive chunks adjacent in the index
    /// buffer.
    fn chunks(&self, batch: usize) -> &[(Range<u32>, Aabb)];
}

/// The draw ranges of `source` for a view: chunks that `visible` accepts, consecutive visible
/// chunks joined, and ranges of the same batch merged across the smallest gaps until there are
/// at most `budget` (but always at least one per batch with anything visible). Writes into `out`
/// (cleared first); returns the number of visible chunks.
pub fn draw_ranges(
    source: &dyn ChunkSource,
    visible: &dyn Fn(&Aabb) -> bool,
    budget: usize,
    out: &mut Vec<DrawRange>,
) -> usize {
    out.clear();
    let mut visible_chunks = 0;
    for batch in 0..source.batch_count() {
        for (range, bounds) in source.chunks(batch) {
            if !visible(bounds) {
                continue;
            }
            visible_chunks += 1;
            match out.last_mut() {
                Some(d) if d.batch == batch && d.indices.end == range.start => {
                    d.indices.end = range.end;
                }
                _ => out.push(DrawRange {
                    batch,
                    indices: range.clone(),
                }),
            }
        }
    }
    if out.len() > budget {
        merge_to_budget(out, budget);
    }
    visible_chunks
}

/// Joins neighbouring ranges of the same batch, smallest index gap first, until `ranges` has at
/// most `budget` entries or nothing more can be joined.
fn merge_to_budget(ranges: &mut Vec<DrawRange>, budget: usize) {
    // Gaps between neighbours of one batch: (gap length, index of the left range).
    let mut gaps: Vec<(u32, usize)> = ranges
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[0].batch == w[1].batch)
        .map(|(i, w)| (w[1].indices.start - w[0].indices.end, i))
        .collect();
    gaps.sort_unstable();
    let excess = ranges.len().saturating_sub(budget);
    let mut join = vec![false; ranges.len()];
    for &(_, left) in gaps.iter().take(excess) {
        join[left] = true;
    }
    let mut merged: Vec<DrawRange> = Vec::with_capacity(budget);
    let mut extend_last = false;
    for (i, r) in ranges.drain(..).enumerate() {
        match merged.last_mut() {
            Some(last) if extend_last => last.indices.end = r.indices.end,
            _ => merged.push(r),
        }
        extend_last = join[i];
    }
    *ranges = merged;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::{OrbitCamera, ViewMatrices};

    struct Grid {
        batches: Vec<Vec<(Range<u32>, Aabb)>>,
    }

    impl ChunkSource for Grid {
        fn batch_count(&self) -> usize {
            self.batches.len()
        }
        fn chunks(&self, batch: usize) -> &[(Range<u32>, Aabb)] {
            &self.batches[batch]
        }
    }

    /// `n` unit boxes along +X (box i spans x = 2i..2i+1), `batches` batches of them.
    fn grid(n: u32, batches: usize) -> Grid {
        Grid {
            batches: (0..batches)
                .map(|_| {
                    (0..n)
                        .map(|i| {
                            let x = 2.0 * i as f32;
                            (
                                i * 36..(i + 1) * 36,
                                Aabb {
                                    min: Vec3::new(x, 0.0, 0.0),
                                    max: Vec3::new(x + 1.0, 1.0, 1.0),
                                },
                            )
                        })
                        .collect()
                })
                .collect(),
        }
    }

    fn view_of(target: Vec3, distance: f32) -> ViewMatrices {
        OrbitCamera {
            target,
            distance,
            yaw: 0.0,
            pitch: 0.0,
            ..Default::default()
        }
        .matrices(1.0)
    }

    #[test]
    fn boxes_behind_or_beside_the_view_are_culled() {
        let v = view_of(Vec3::new(0.5, 0.5, 0.5), 3.0);
        let f = Frustum::from_clip(v.proj * v.view);
        let at = |x: f32| Aabb {
            min: Vec3::new(x, 0.0, 0.0),
            max: Vec3::new(x + 1.0, 1.0, 1.0),
        };
        assert!(f.intersects(&at(0.0)), "the target box is visible");
        assert!(!f.intersects(&at(500.0)), "a box far to the side is culled");
        let behind = Aabb {
            min: v.eye + Vec3::splat(40.0) * (v.eye - Vec3::splat(0.5)).normalize() - 0.5,
            max: v.eye + Vec3::splat(40.0) * (v.eye - Vec3::splat(0.5)).normalize() + 0.5,
        };
        assert!(!f.intersects(&behind), "a box behind the eye is culled");
        let huge = Aabb {
            min: Vec3::splat(-1e4),
            max: Vec3::splat(1e4),
        };
        assert!(f.intersects(&huge), "a box around the eye is visible");
    }

    #[test]
    fn visible_neighbours_join_into_one_range() {
        let g = grid(100, 1);
        let mut out = Vec::new();
        let n = draw_ranges(&g, &|_| true, MAX_MODEL_DRAWS, &mut out);
        assert_eq!(n, 100);
        assert_eq!(
            out,
            vec![DrawRange {
                batch: 0,
                indices: 0..3600
            }]
        );
    }

    #[test]
    fn scattered_visibility_is_merged_to_the_budget_over_the_smallest_gaps() {
        let g = grid(1000, 3);
        let mut out = Vec::new();
        // Every third chunk visible: 334 runs per batch before merging.
        let visible = |b: &Aabb| (b.min.x as u32 / 2).is_multiple_of(3);
        let n = draw_ranges(&g, &visible, MAX_MODEL_DRAWS, &mut out);
        assert_eq!(n, 3 * 334);
        assert!(out.len() <= MAX_MODEL_DRAWS, "{} draws", out.len());
        // Every visible chunk is still covered by a range of its batch.
        for batch in 0..3 {
            for (range, bounds) in g.chunks(batch) {
                if visible(bounds) {
                    assert!(
                        out.iter().any(|d| d.batch == batch
                            && d.indices.start <= range.start
                            && range.end <= d.indices.end),
                        "chunk {range:?} of batch {batch} not drawn"
                    );
                }
            }
        }
        // Ranges never straddle batches.
        assert!(out.windows(2).all(|w| w[0].batch <= w[1].batch));
    }

    #[test]
    fn more_batches_than_the_budget_keep_one_range_each() {
        let g = grid(10, 20);
        let mut out = Vec::new();
        let visible = |b: &Aabb| b.min.x < 1.0 || b.min.x > 17.0;
        draw_ranges(&g, &visible, MAX_MODEL_DRAWS, &mut out);
        assert_eq!(out.len(), 20);
        assert!(out.iter().all(|d| d.indices == (0..360)));
    }

    #[test]
    fn nothing_visible_draws_nothing() {
        let g = grid(10, 2);
        let mut out = vec![DrawRange {
            batch: 9,
            indices: 0..1,
        }];
        assert_eq!(draw_ranges(&g, &|_| false, MAX_MODEL_DRAWS, &mut out), 0);
        assert!(out.is_empty());
    }
}
