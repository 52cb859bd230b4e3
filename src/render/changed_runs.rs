//! Which parts of a GPU array changed since its last upload: the runs of elements that differ,
//! joined across short equal stretches, so a frame re-uploads what changed in a few writes
//! instead of everything. Pure, host-tested.

use std::ops::Range;

/// Equal elements between two changed ones that are written anyway rather than starting a
/// second write: a write costs more than a few dozen bytes.
pub(crate) const MAX_EQUAL_GAP: usize = 4;

/// The ranges of `new` to write over a buffer that holds `old` so it holds `new`: elements
/// that differ (compared as bytes) or lie beyond `old`, joined across at most `max_gap` equal
/// ones. Writes into `out` (cleared first).
pub(crate) fn changed_runs<T: bytemuck::Pod>(
    old: &[T],
    new: &[T],
    max_gap: usize,
    out: &mut Vec<Range<usize>>,
) {
    out.clear();
    let same = |i: usize| {
        old.get(i)
            .is_some_and(|o| bytemuck::bytes_of(o) == bytemuck::bytes_of(&new[i]))
    };
    let mut i = 0;
    while i < new.len() {
        if same(i) {
            i += 1;
            continue;
        }
        let start = i;
        let mut end = i + 1;
        let mut j = i + 1;
        while j < new.len() && j - end <= max_gap {
            if !same(j) {
                end = j + 1;
            }
            j += 1;
        }
        out.push(start..end);
        i = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The runs, into a vector holding stale entries (cleared first).
    fn runs(old: &[u32], new: &[u32], gap: usize) -> Vec<Range<usize>> {
        let mut out = vec![0..1, 5..6];
        changed_runs(old, new, gap, &mut out);
        out
    }

    #[test]
    fn nothing_changed_writes_nothing() {
        assert!(runs(&[1, 2, 3], &[1, 2, 3], 4).is_empty());
        assert!(
            runs(&[1, 2, 3, 4], &[1, 2], 4).is_empty(),
            "a shorter array needs no write"
        );
    }

    #[test]
    fn one_change_writes_one_element() {
        assert_eq!(runs(&[1, 2, 3, 4, 5], &[1, 2, 9, 4, 5], 4), vec![2..3]);
    }

    #[test]
    fn close_changes_join_and_far_ones_do_not() {
        let old: Vec<u32> = (0..40).collect();
        let mut new = old.clone();
        new[3] = 100;
        new[6] = 100; // two equal elements between: joined
        new[30] = 100; // far away: its own write
        assert_eq!(runs(&old, &new, 4), vec![3..7, 30..31]);
        assert_eq!(runs(&old, &new, 1), vec![3..4, 6..7, 30..31]);
    }

    #[test]
    fn growth_writes_the_new_tail_and_an_empty_old_writes_everything() {
        assert_eq!(runs(&[1, 2], &[1, 2, 3, 4], 4), vec![2..4]);
        assert_eq!(runs(&[], &[7, 8, 9], 0), vec![0..3]);
    }

    #[test]
    fn applying_the_runs_turns_old_into_new() {
        // A pseudo-random mix of changes over a long array, at several gaps.
        let old: Vec<u32> = (0..500).map(|i| (i * 7919) % 101).collect();
        let new: Vec<u32> = old
            .iter()
            .enumerate()
            .map(|(i, &v)| if (i * 31) % 17 < 3 { v + 1 } else { v })
            .chain(0..20)
            .collect();
        for gap in [0, 1, 4, 16] {
            let r = runs(&old, &new, gap);
            let mut buffer = old.clone();
            buffer.resize(new.len(), u32::MAX);
            for run in &r {
                buffer[run.clone()].copy_from_slice(&new[run.clone()]);
            }
            assert_eq!(buffer, new, "gap {gap}");
            let written: usize = r.iter().map(|r| r.len()).sum();
            // Changes lie at most 17 apart: a gap of 16 may join them all.
            if gap < 8 {
                assert!(written < new.len(), "gap {gap}: wrote everything");
            }
            assert!(
                r.windows(2).all(|w| w[1].start - w[0].end > gap),
                "gap {gap}: {r:?}"
            );
        }
    }
}
