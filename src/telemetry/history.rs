//! A sensor's trend history: one compact value per resolution bucket over the manifest's
//! window, allocated as data arrives.

use std::cell::Cell;
use std::collections::VecDeque;

use crate::manifest::{HistorySpec, MAX_HISTORY_POINTS};

/// Trend points `(time_ms, value)`: at most one per resolution bucket (the latest value wins),
/// none older than the window before the newest, never more than its capacity.
///
/// Kept compact for plant scale (10,000 sensors × 600 buckets in about 24 MB): one `f32` per
/// bucket, the time implied by the bucket's position, so a point's time is the start of its
/// bucket (a multiple of the resolution). Values beyond `f32` are kept at `±f32::MAX`. Memory
/// is taken as buckets arrive, growing geometrically up to the capacity, so a sensor that
/// never reports a number costs nothing.
#[derive(Debug, Clone)]
pub struct History {
    /// One value per bucket, oldest first, for buckets `first_bucket..`; NaN marks a bucket
    /// without a point. The first and last entries are always points.
    points: VecDeque<f32>,
    first_bucket: i64,
    /// Entries that are points (not gaps).
    len: usize,
    capacity: usize,
    resolution_ms: f64,
    window_ms: f64,
    /// The newest point's time before rounding to its bucket, for the never-backwards rule.
    newest_ms: f64,
    /// Smallest and largest value, while known: pushes keep it exact or forget it, and
    /// [`min_max`](Self::min_max) recomputes a forgotten one once.
    range: Cell<Option<(f32, f32)>>,
}

/// Entries reserved by the first point; growth then doubles up to the capacity.
const FIRST_HISTORY_ALLOCATION: usize = 8;

impl History {
    /// An empty history for `spec`, holding at most `spec.capacity() + 1` points: a window of
    /// W seconds at resolution R touches up to ⌈W/R⌉ + 1 buckets, both ends included.
    pub fn new(spec: &HistorySpec) -> History {
        let defaults = HistorySpec::default();
        let positive = |v: f64, fallback: f64| {
            if v.is_finite() && v > 0.0 {
                v
            } else {
                fallback
            }
        };
        let spec = HistorySpec {
            window_seconds: positive(spec.window_seconds, defaults.window_seconds),
            resolution_seconds: positive(spec.resolution_seconds, defaults.resolution_seconds),
        };
        History {
            points: VecDeque::new(),
            first_bucket: 0,
            len: 0,
            // The validator caps capacity; clamp again so no spec can allocate without bound.
            capacity: spec.capacity().min(MAX_HISTORY_POINTS) + 1,
            resolution_ms: spec.resolution_seconds * 1000.0,
            window_ms: spec.window_seconds * 1000.0,
            newest_ms: 0.0,
            range: Cell::new(None),
        }
    }

    /// Adds a point. Within the newest point's resolution bucket it replaces that point (the
    /// latest value wins); points older than the window before `time_ms` are dropped.
    ///
    /// Time never runs backwards in the trend: a slightly earlier time (mixed source and
    /// receive clocks) is moved up to the newest point's; a jump back by more than the window
    /// means the time base changed, and the old points are discarded.
    pub fn push(&mut self, time_ms: f64, value: f64) {
        if !(time_ms.is_finite() && value.is_finite()) {
            return;
        }
        let v = to_f32(value);
        let mut t = time_ms;
        if self.len > 0 {
            if t < self.newest_ms - self.window_ms {
                self.clear();
            } else {
                t = t.max(self.newest_ms);
            }
        }
        let b = self.bucket(t);
        self.newest_ms = t;
        let last = self.last_bucket();
        if self.len > 0 && b == last {
            if let Some(p) = self.points.back_mut() {
                let old = std::mem::replace(p, v);
                let range = if self.len == 1 {
                    Some((v, v))
                } else {
                    replaced(self.range.get(), old, v)
                };
                self.range.set(range);
            }
            return;
        }
        // `b` is past the newest bucket here (times never run back). A gap of a whole
        // capacity or more would evict every point anyway.
        let gap = b.saturating_sub(last);
        if self.len == 0 || gap >= self.capacity as i64 {
            self.clear();
            self.first_bucket = b;
        } else {
            for _ in 1..gap {
                self.push_entry(f32::NAN);
            }
        }
        self.push_entry(v);
        self.len += 1;
        self.range.set(self.range.get().map(|r| widened(r, v)));
        if self.len == 1 {
            self.range.set(Some((v, v)));
        }
        // Drop leading gaps and points older than the window; the newest always stays, even
        // when the window is shorter than a bucket.
        let oldest_kept = t - self.window_ms;
        while self.points.len() > 1
            && self
                .points
                .front()
                .is_some_and(|f| f.is_nan() || self.bucket_start(self.first_bucket) < oldest_kept)
        {
            self.pop_entry();
        }
    }

    /// Points, oldest first; times are bucket starts.
    pub fn iter(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.points
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.is_nan())
            .map(|(i, v)| {
                let b = self.first_bucket.saturating_add(i as i64);
                (self.bucket_start(b), f64::from(*v))
            })
    }

    /// Smallest and largest value in the window, or None when empty. Usually O(1): the range
    /// is kept as points arrive and only recomputed after an extreme left the window.
    pub fn min_max(&self) -> Option<(f64, f64)> {
        if self.len == 0 {
            return None;
        }
        let range = match self.range.get() {
            Some(r) => r,
            None => {
                let r = self
                    .points
                    .iter()
                    .filter(|v| !v.is_nan())
                    .fold(None, |acc, v| {
                        Some(acc.map_or((*v, *v), |r| widened(r, *v)))
                    })?;
                self.range.set(Some(r));
                r
            }
        };
        Some((f64::from(range.0), f64::from(range.1)))
    }

    /// The newest point.
    pub fn last(&self) -> Option<(f64, f64)> {
        if self.len == 0 {
            return None;
        }
        let v = self.points.back()?;
        Some((self.bucket_start(self.last_bucket()), f64::from(*v)))
    }

    /// The oldest point.
    pub fn first(&self) -> Option<(f64, f64)> {
        if self.len == 0 {
            return None;
        }
        let v = self.points.front()?;
        Some((self.bucket_start(self.first_bucket), f64::from(*v)))
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no points.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Most points ever held (`HistorySpec::capacity() + 1`).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Drops every point (keeps the allocation).
    pub fn clear(&mut self) {
        self.points.clear();
        self.len = 0;
        self.range.set(None);
    }

    /// Heap bytes held: the bucket storage (0 until the first point).
    pub fn memory_bytes(&self) -> usize {
        self.points.capacity() * std::mem::size_of::<f32>()
    }

    fn bucket(&self, t: f64) -> i64 {
        // Saturating conversion: absurd times land in the first or last bucket, never wrap.
        (t / self.resolution_ms).floor() as i64
    }

    fn bucket_start(&self, b: i64) -> f64 {
        b as f64 * self.resolution_ms
    }

    fn last_bucket(&self) -> i64 {
        let n = self.points.len().saturating_sub(1) as i64;
        self.first_bucket.saturating_add(n)
    }

    /// Appends an entry for the next bucket, evicting the oldest when full; grows the storage
    /// geometrically but never past the capacity.
    fn push_entry(&mut self, v: f32) {
        if self.points.len() >= self.capacity {
            self.pop_entry();
        }
        let n = self.points.len();
        if n == self.points.capacity() {
            let more = n.max(FIRST_HISTORY_ALLOCATION).min(self.capacity - n);
            self.points.reserve_exact(more);
        }
        self.points.push_back(v);
    }

    fn pop_entry(&mut self) {
        if let Some(v) = self.points.pop_front() {
            self.first_bucket = self.first_bucket.saturating_add(1);
            if !v.is_nan() {
                self.len -= 1;
                if let Some((lo, hi)) = self.range.get()
                    && (v == lo || v == hi)
                {
                    self.range.set(None);
                }
            }
        }
    }
}

impl PartialEq for History {
    /// Same spec and the same points (the cached range is not compared).
    fn eq(&self, other: &History) -> bool {
        self.capacity == other.capacity
            && self.resolution_ms == other.resolution_ms
            && self.window_ms == other.window_ms
            && self.iter().eq(other.iter())
    }
}

/// A finite value as `f32`, keeping magnitudes beyond `f32` at `±f32::MAX` rather than
/// infinity, which would break the trend's scaling.
fn to_f32(v: f64) -> f32 {
    let x = v as f32;
    if x.is_infinite() {
        f32::MAX.copysign(x)
    } else {
        x
    }
}

fn widened((lo, hi): (f32, f32), v: f32) -> (f32, f32) {
    (lo.min(v), hi.max(v))
}

/// The range after the newest value changed from `old` to `new`, when still known: it is lost
/// only when `old` was an extreme and `new` does not take its place.
fn replaced(range: Option<(f32, f32)>, old: f32, new: f32) -> Option<(f32, f32)> {
    let (lo, hi) = range?;
    let lo_known = old != lo || new <= lo;
    let hi_known = old != hi || new >= hi;
    (lo_known && hi_known).then(|| widened((lo, hi), new))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-25T14:07:30Z, a multiple of every resolution used here.
    const T0: f64 = 1_795_615_650_000.0;

    fn history(window_s: f64, resolution_s: f64) -> History {
        History::new(&HistorySpec {
            window_seconds: window_s,
            resolution_seconds: resolution_s,
        })
    }

    #[test]
    fn values_keep_f32_precision_and_times_are_bucket_starts() {
        let mut h = history(60.0, 0.5);
        let values = [21.123_456_789, -0.000_123_4, 1.0e6 + 0.25, 101_325.0];
        for (i, v) in values.iter().enumerate() {
            h.push(T0 + i as f64 * 500.0 + 123.0, *v);
        }
        let points: Vec<(f64, f64)> = h.iter().collect();
        assert_eq!(points.len(), values.len());
        for (i, ((t, got), want)) in points.iter().zip(values).enumerate() {
            assert_eq!(*t, T0 + i as f64 * 500.0, "bucket start, not +123 ms");
            assert!(
                ((got - want) / want).abs() <= f64::from(f32::EPSILON),
                "{got} for {want}"
            );
        }
        assert_eq!(h.first().map(|p| p.0), Some(T0));
        assert_eq!(h.last().map(|p| p.0), Some(T0 + 1500.0));
    }

    #[test]
    fn values_beyond_f32_stay_finite() {
        let mut h = history(60.0, 1.0);
        h.push(T0, 1e300);
        h.push(T0 + 1000.0, -1e300);
        assert_eq!(
            h.min_max(),
            Some((f64::from(f32::MIN), f64::from(f32::MAX)))
        );
    }

    #[test]
    fn gaps_in_time_are_not_points_and_age_out_by_the_window() {
        let mut h = history(10.0, 1.0);
        h.push(T0, 1.0);
        h.push(T0 + 4000.0, 2.0); // three empty buckets between
        h.push(T0 + 9000.0, 3.0);
        assert_eq!(h.len(), 3);
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [(T0, 1.0), (T0 + 4000.0, 2.0), (T0 + 9000.0, 3.0)]
        );
        h.push(T0 + 12_000.0, 4.0);
        assert_eq!(h.first(), Some((T0 + 4000.0, 2.0)), "T0 left the window");
        assert_eq!(h.len(), 3);
        // A silence longer than the whole capacity leaves only the new point.
        h.push(T0 + 100_000.0, 5.0);
        assert_eq!(h.iter().collect::<Vec<_>>(), [(T0 + 100_000.0, 5.0)]);
        assert_eq!(h.min_max(), Some((5.0, 5.0)));
    }

    #[test]
    fn a_window_shorter_than_a_bucket_keeps_the_newest_point() {
        let mut h = history(0.5, 1.0);
        for i in 0..5 {
            h.push(T0 + f64::from(i) * 1000.0 + 900.0, f64::from(i));
        }
        assert_eq!(h.iter().collect::<Vec<_>>(), [(T0 + 4000.0, 4.0)]);
    }

    #[test]
    fn memory_is_taken_lazily_grows_geometrically_and_stops_at_the_capacity() {
        let mut h = history(600.0, 1.0);
        assert_eq!(h.memory_bytes(), 0);
        h.push(T0, 1.0);
        let first = h.memory_bytes();
        assert!(first > 0 && first <= 64, "{first} bytes for one point");
        let mut reallocations = 0;
        let mut last = first;
        for i in 1..2000 {
            // 10 Hz: ten readings share each 1 s bucket.
            for tick in 0..10 {
                h.push(T0 + f64::from(i) * 1000.0 + f64::from(tick) * 100.0, 1.0);
            }
            if h.memory_bytes() != last {
                reallocations += 1;
                last = h.memory_bytes();
            }
            assert!(h.memory_bytes() <= h.capacity() * 4, "after {i} s");
        }
        assert_eq!(h.memory_bytes(), 601 * 4, "exactly the capacity once full");
        assert!(reallocations <= 8, "{reallocations} reallocations");
        h.clear();
        assert_eq!(h.memory_bytes(), 601 * 4, "clear keeps the allocation");
    }

    #[test]
    fn cached_min_max_matches_a_full_scan() {
        let mut h = history(20.0, 1.0);
        // A deterministic wobbly signal with bursts, gaps and extremes leaving the window.
        let mut x: u64 = 12_345;
        let mut t = T0;
        for _ in 0..5000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let r = (x >> 33) as f64 / f64::from(1u32 << 31);
            t += match (x >> 20) % 8 {
                0 => 3000.0,
                1..=3 => 100.0,
                _ => 600.0,
            };
            h.push(t, (r * 200.0 - 100.0).round());
            let scan = h.iter().fold(None, |acc: Option<(f64, f64)>, (_, v)| {
                Some(acc.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))))
            });
            assert_eq!(h.min_max(), scan, "at {t}");
            assert_eq!(h.iter().count(), h.len());
            assert!(h.len() <= h.capacity());
        }
    }

    #[test]
    fn equal_histories_compare_equal_whatever_their_cache() {
        let mut a = history(60.0, 1.0);
        let mut b = history(60.0, 1.0);
        for h in [&mut a, &mut b] {
            h.push(T0, 1.0);
            h.push(T0 + 1000.0, 2.0);
        }
        let _ = a.min_max();
        b.push(T0 + 1500.0, 2.0);
        assert_eq!(a, b);
    }
}
