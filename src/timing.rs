//! Per-frame timing figures for `stats()`: a fixed-size window of recent samples per phase and
//! their percentiles, so benchmarks read p50/p95 from inside the app without unbounded memory.

use serde::Serialize;

/// Samples kept per phase; older ones are overwritten.
pub const WINDOW: usize = 4096;

/// A ring of recent samples of one figure, in milliseconds.
#[derive(Debug, Clone)]
pub struct Window {
    samples: Vec<f64>,
    next: usize,
}

impl Default for Window {
    fn default() -> Self {
        Self {
            samples: Vec::with_capacity(WINDOW),
            next: 0,
        }
    }
}

/// The median and 95th percentile of a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
}

impl Window {
    /// Records one sample; non-finite samples are ignored.
    pub fn push(&mut self, ms: f64) {
        if !ms.is_finite() {
            return;
        }
        if self.samples.len() < WINDOW {
            self.samples.push(ms);
        } else {
            self.samples[self.next] = ms;
        }
        self.next = (self.next + 1) % WINDOW;
    }

    /// Number of samples held.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether no sample was recorded.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Nearest-rank percentiles; zeros when empty.
    pub fn percentiles(&self) -> Percentiles {
        if self.samples.is_empty() {
            return Percentiles::default();
        }
        let mut sorted = self.samples.clone();
        sorted.sort_by(f64::total_cmp);
        let rank =
            |p: f64| sorted[((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
        Percentiles {
            p50: rank(0.50),
            p95: rank(0.95),
        }
    }
}

/// The frame phases measured in the page.
#[derive(Debug, Clone, Default)]
pub struct FrameTimings {
    /// Whole wasm CPU time of a frame.
    pub cpu: Window,
    /// Draining socket events and applying samples.
    pub apply: Window,
    /// Building the overlay (labels, colours) and laying labels out.
    pub overlay: Window,
    /// Recording and submitting GPU commands.
    pub encode: Window,
    /// Time between consecutive frames.
    pub interval: Window,
    frames: u64,
    last_frame_start: Option<f64>,
}

/// What `stats().timings` shows.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TimingReport {
    /// Frames measured since the last reset.
    pub frames: u64,
    /// Whole wasm CPU time per frame.
    pub cpu_ms: Percentiles,
    /// Applying sensor updates.
    pub apply_ms: Percentiles,
    /// Overlay build and layout.
    pub overlay_ms: Percentiles,
    /// GPU command encoding.
    pub encode_ms: Percentiles,
    /// Interval between frames.
    pub interval_ms: Percentiles,
}

impl FrameTimings {
    /// Records one frame that started at `start_ms` with its phase durations.
    pub fn record(&mut self, start_ms: f64, apply: f64, overlay: f64, encode: f64, cpu: f64) {
        if let Some(last) = self.last_frame_start {
            self.interval.push(start_ms - last);
        }
        self.last_frame_start = Some(start_ms);
        self.frames += 1;
        self.apply.push(apply);
        self.overlay.push(overlay);
        self.encode.push(encode);
        self.cpu.push(cpu);
    }

    /// Percentiles of everything recorded since the last reset.
    pub fn report(&self) -> TimingReport {
        TimingReport {
            frames: self.frames,
            cpu_ms: self.cpu.percentiles(),
            apply_ms: self.apply.percentiles(),
            overlay_ms: self.overlay.percentiles(),
            encode_ms: self.encode.percentiles(),
            interval_ms: self.interval.percentiles(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut w = Window::default();
        for v in 1..=100 {
            w.push(v as f64);
        }
        assert_eq!(
            w.percentiles(),
            Percentiles {
                p50: 50.0,
                p95: 95.0
            }
        );
        assert_eq!(Window::default().percentiles(), Percentiles::default());
    }

    #[test]
    fn the_window_is_bounded_and_keeps_the_newest() {
        let mut w = Window::default();
        for _ in 0..WINDOW {
            w.push(1000.0);
        }
        for _ in 0..WINDOW {
            w.push(1.0);
        }
        w.push(f64::NAN);
        assert_eq!(w.len(), WINDOW);
        assert_eq!(w.percentiles().p95, 1.0, "old samples were overwritten");
    }

    #[test]
    fn intervals_start_with_the_second_frame() {
        let mut t = FrameTimings::default();
        t.record(0.0, 0.1, 0.2, 0.3, 0.7);
        t.record(16.0, 0.1, 0.2, 0.3, 0.7);
        t.record(33.0, 0.1, 0.2, 0.3, 0.7);
        let r = t.report();
        assert_eq!(r.frames, 3);
        assert_eq!(t.interval.len(), 2);
        assert_eq!(r.interval_ms.p95, 17.0);
        assert_eq!(r.cpu_ms.p50, 0.7);
    }
}
