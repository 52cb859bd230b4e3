//! Per-sensor live state: the latest sample (never replaced by an older one), a bounded trend
//! history, freshness (including "connection lost" while the source is down), the per-frame
//! [`Inbox`] that coalesces bursts, and the bad-input counters with their log-the-first-few
//! policy.
//!
//! Everything is sized when the store is built from the manifest; after that, memory per sensor
//! is bounded whatever the source sends (one latest sample, at most
//! [`HistorySpec::capacity`](crate::manifest::HistorySpec::capacity)` + 1` history points, at most one pending sample in the inbox).

pub use super::history::History;
use super::{BadInput, BadInputKind, Quality, Sample, Value};
use crate::manifest::Manifest;

/// A source timestamp more than this ahead of the reading's arrival is not trusted for
/// ordering (5 minutes).
///
/// Ordering by source time means one reading stamped hours ahead would make every later,
/// correctly stamped reading of its sensor "out of order" until the clock caught up: the
/// sensor would freeze. Five minutes covers clocks that are merely unsynchronised; anything
/// further ahead is a broken clock, counted as [`BadInputKind::FutureTimestamp`], and the
/// reading is ordered by its arrival time instead.
pub const MAX_FUTURE_SKEW_MS: f64 = 5.0 * 60.0 * 1000.0;

/// Used when a sensor's `maxAgeSeconds` is unusable (the manifest validator normally refuses
/// it); the manifest's default.
const FALLBACK_MAX_AGE_MS: f64 = 30_000.0;

/// Whether a sensor's latest reading can be trusted as current.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Freshness {
    /// Received within the sensor's `maxAgeSeconds`.
    Live,
    /// The latest reading is older than `maxAgeSeconds`.
    Stale {
        /// Milliseconds since it was received.
        age_ms: f64,
    },
    /// The source's connection is down (after having been up): whatever its age, the latest
    /// reading is only the last value known, not a live one.
    ConnectionLost {
        /// Milliseconds since it was received.
        age_ms: f64,
    },
    /// No reading since the page loaded.
    NoData,
}

impl Freshness {
    /// Name for `stats()` (camelCase).
    pub fn name(&self) -> &'static str {
        match self {
            Freshness::Live => "live",
            Freshness::Stale { .. } => "stale",
            Freshness::ConnectionLost { .. } => "connectionLost",
            Freshness::NoData => "noData",
        }
    }

    /// Milliseconds since the reading was received, when it is not live (stale or lost).
    pub fn age_ms(&self) -> Option<f64> {
        match self {
            Freshness::Stale { age_ms } | Freshness::ConnectionLost { age_ms } => Some(*age_ms),
            Freshness::Live | Freshness::NoData => None,
        }
    }
}

/// What [`SensorStore::apply`] did with a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// It is now the sensor's latest reading.
    Updated,
    /// The sensor already has a newer reading; the sample was dropped.
    OutOfOrder,
    /// A NaN or infinite value or receive time; dropped.
    NonFinite,
    /// The sensor index is not in the manifest; dropped.
    UnknownSensor,
}

/// Counters of what happened to samples, for `stats()`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreCounters {
    /// Samples that became a sensor's latest reading.
    pub updates: u64,
    /// Samples dropped because the sensor already had a newer one.
    pub out_of_order: u64,
    /// Samples replaced in the [`Inbox`] by a newer one of the same sensor before a frame.
    pub coalesced: u64,
    /// Samples with a NaN or infinite value or receive time.
    pub non_finite: u64,
    /// Samples naming a sensor index outside the manifest.
    pub unknown_sensor: u64,
    /// Samples reaching [`SensorStore::apply`] with a source timestamp more than
    /// [`MAX_FUTURE_SKEW_MS`] ahead of their receive time; they were kept, ordered by receive
    /// time instead. (A live session screens them first with [`distrust_future_time`] and
    /// counts them as bad input.)
    pub future_timestamps: u64,
}

/// A compact per-sensor view for stats and labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading<'a> {
    /// Index of the sensor in the manifest.
    pub sensor: usize,
    /// Latest value, if any.
    pub value: Option<&'a Value>,
    /// The message's unit, else the manifest's.
    pub unit: Option<&'a str>,
    /// Quality of the latest value (`Good` when there is none).
    pub quality: Quality,
    /// Freshness at the time asked.
    pub freshness: Freshness,
    /// Milliseconds since the latest value was received (never negative).
    pub age_ms: Option<f64>,
    /// Source timestamp of the latest value.
    pub source_ms: Option<f64>,
    /// How many samples became the latest value.
    pub updates: u64,
}

#[derive(Debug, Clone)]
struct Slot {
    latest: Option<Sample>,
    updates: u64,
    max_age_ms: f64,
    /// The manifest's unit, shown when messages carry none.
    unit: Option<String>,
    history: History,
}

/// Latest value, history and freshness of every sensor in a manifest.
#[derive(Debug, Clone)]
pub struct SensorStore {
    slots: Vec<Slot>,
    counters: StoreCounters,
    /// Since when the source's connection is down, after having been up; `None` while it is
    /// live or before it first was.
    lost_since_ms: Option<f64>,
}

impl SensorStore {
    /// A store for `manifest`'s sensors: each with its `maxAgeSeconds` and a history sized by
    /// `manifest.history`. History memory is only taken once a sensor reports a number.
    pub fn new(manifest: &Manifest) -> SensorStore {
        let slots = manifest
            .sensors
            .iter()
            .map(|s| {
                let max_age_ms = s.max_age_seconds * 1000.0;
                Slot {
                    latest: None,
                    updates: 0,
                    // Infinity is a meaningful "never stale"; NaN and ≤ 0 are not.
                    max_age_ms: if max_age_ms > 0.0 {
                        max_age_ms
                    } else {
                        FALLBACK_MAX_AGE_MS
                    },
                    unit: s.unit.clone(),
                    history: History::new(&manifest.history),
                }
            })
            .collect();
        SensorStore {
            slots,
            counters: StoreCounters::default(),
            lost_since_ms: None,
        }
    }

    /// Tells the store whether its source is connected: `Some(since_ms)` while the connection
    /// is down after having been live, `None` while it is live (or has not been up yet, when
    /// readings are judged by their age alone). See [`freshness`](Self::freshness).
    pub fn set_connection_lost(&mut self, since_ms: Option<f64>) {
        self.lost_since_ms = since_ms;
    }

    /// Since when the connection is down (see [`set_connection_lost`](Self::set_connection_lost)).
    pub fn connection_lost_since(&self) -> Option<f64> {
        self.lost_since_ms
    }

    /// Number of sensors.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the manifest has no sensors.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Makes `sample` the sensor's latest reading unless the sensor already has a newer one
    /// (see [`is_older`]), it has a non-finite number, or its sensor index is unknown. Numbers
    /// and booleans (as 0/1) of good or uncertain quality also go into the trend history; text
    /// does not, and neither do readings the source marks bad, which would distort the range.
    pub fn apply(&mut self, mut sample: Sample) -> Applied {
        if !is_finite_sample(&sample) {
            self.counters.non_finite += 1;
            return Applied::NonFinite;
        }
        let Some(slot) = self.slots.get_mut(sample.sensor) else {
            self.counters.unknown_sensor += 1;
            return Applied::UnknownSensor;
        };
        // Keep only a source time that can order readings (see MAX_FUTURE_SKEW_MS).
        if distrust_future_time(&mut sample).is_some() {
            self.counters.future_timestamps += 1;
        }
        if sample.source_ms.is_some_and(|t| !t.is_finite()) {
            sample.source_ms = None;
        }
        if let Some(current) = &slot.latest
            && is_older(&sample, current)
        {
            self.counters.out_of_order += 1;
            return Applied::OutOfOrder;
        }
        if sample.quality != Quality::Bad
            && let Some(v) = numeric(&sample.value)
        {
            slot.history
                .push(sample.source_ms.unwrap_or(sample.received_ms), v);
        }
        slot.updates += 1;
        slot.latest = Some(sample);
        self.counters.updates += 1;
        Applied::Updated
    }

    /// The latest sample of `sensor`.
    pub fn latest(&self, sensor: usize) -> Option<&Sample> {
        self.slots.get(sensor).and_then(|s| s.latest.as_ref())
    }

    /// Trend points of `sensor` as `(time_ms, value)`, oldest first (empty for an unknown
    /// sensor). Times are source times where the readings had them, else receive times,
    /// rounded down to the history resolution (see [`History`]). The
    /// window is measured back from the newest point, not from now: a silent sensor keeps its
    /// last trend, and [`freshness`](Self::freshness) says it is stale.
    pub fn history(&self, sensor: usize) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.slots
            .get(sensor)
            .into_iter()
            .flat_map(|s| s.history.iter())
    }

    /// How many samples became `sensor`'s latest value (0 for an unknown sensor).
    pub fn update_count(&self, sensor: usize) -> u64 {
        self.slots.get(sensor).map_or(0, |s| s.updates)
    }

    /// The history buffer of `sensor`, for its length and capacity.
    pub fn history_buffer(&self, sensor: usize) -> Option<&History> {
        self.slots.get(sensor).map(|s| &s.history)
    }

    /// Smallest and largest value in `sensor`'s history window.
    pub fn min_max(&self, sensor: usize) -> Option<(f64, f64)> {
        self.slots.get(sensor).and_then(|s| s.history.min_max())
    }

    /// Whether `sensor`'s latest reading is current at `now_ms`.
    ///
    /// Age is measured from when the page *received* the reading, not from its source time:
    /// a source whose clock runs minutes behind would otherwise show every live sensor as
    /// stale, and the question the page answers is "is data still arriving". A reading stays
    /// `Stale` once it has been received; `NoData` only means nothing arrived yet. While the
    /// connection is lost ([`set_connection_lost`](Self::set_connection_lost)) every received
    /// reading is `ConnectionLost`, whatever its `maxAgeSeconds`: no reading may look live
    /// while nothing can arrive.
    pub fn freshness(&self, sensor: usize, now_ms: f64) -> Freshness {
        let Some(slot) = self.slots.get(sensor) else {
            return Freshness::NoData;
        };
        match &slot.latest {
            None => Freshness::NoData,
            Some(s) => {
                let age_ms = age(now_ms, s.received_ms);
                if self.lost_since_ms.is_some() {
                    Freshness::ConnectionLost { age_ms }
                } else if age_ms > slot.max_age_ms {
                    Freshness::Stale { age_ms }
                } else {
                    Freshness::Live
                }
            }
        }
    }

    /// The compact view of one sensor at `now_ms`.
    pub fn reading(&self, sensor: usize, now_ms: f64) -> Option<Reading<'_>> {
        let slot = self.slots.get(sensor)?;
        let latest = slot.latest.as_ref();
        Some(Reading {
            sensor,
            value: latest.map(|s| &s.value),
            unit: latest
                .and_then(|s| s.unit.as_deref())
                .or(slot.unit.as_deref()),
            quality: latest.map(|s| s.quality).unwrap_or_default(),
            freshness: self.freshness(sensor, now_ms),
            age_ms: latest.map(|s| age(now_ms, s.received_ms)),
            source_ms: latest.and_then(|s| s.source_ms),
            updates: slot.updates,
        })
    }

    /// The compact view of every sensor at `now_ms`, in manifest order.
    pub fn readings(&self, now_ms: f64) -> impl Iterator<Item = Reading<'_>> + '_ {
        (0..self.slots.len()).filter_map(move |i| self.reading(i, now_ms))
    }

    /// How many sensors are live, not live (stale or connection lost) and without data at
    /// `now_ms`.
    pub fn freshness_counts(&self, now_ms: f64) -> (usize, usize, usize) {
        (0..self.slots.len()).fold((0, 0, 0), |(live, stale, none), i| {
            match self.freshness(i, now_ms) {
                Freshness::Live => (live + 1, stale, none),
                Freshness::Stale { .. } | Freshness::ConnectionLost { .. } => {
                    (live, stale + 1, none)
                }
                Freshness::NoData => (live, stale, none + 1),
            }
        })
    }

    /// What happened to samples so far.
    pub fn counters(&self) -> StoreCounters {
        self.counters
    }

    /// Heap bytes held: the per-sensor slots, every history, units and the latest samples'
    /// text. For `stats()` and the plant-scale memory budget.
    pub fn memory_bytes(&self) -> usize {
        let text = |s: &Option<String>| s.as_ref().map_or(0, String::capacity);
        self.slots.capacity() * std::mem::size_of::<Slot>()
            + self
                .slots
                .iter()
                .map(|s| {
                    let latest = s.latest.as_ref().map_or(0, |l| {
                        text(&l.unit)
                            + match &l.value {
                                Value::Text(t) => t.capacity(),
                                _ => 0,
                            }
                    });
                    s.history.memory_bytes() + text(&s.unit) + latest
                })
                .sum::<usize>()
    }
}

/// Whether `new` is older than `current`, so must not replace it: by source time when both
/// have a trusted one, else by receive time. Equal times are not older: the later arrival
/// wins, so a correction re-sent with the same timestamp (or a later reading in the same
/// frame) takes effect.
pub fn is_older(new: &Sample, current: &Sample) -> bool {
    match (trusted_source_ms(new), trusted_source_ms(current)) {
        (Some(a), Some(b)) => a < b,
        _ => new.received_ms < current.received_ms,
    }
}

/// The sample's source time if it is finite and at most [`MAX_FUTURE_SKEW_MS`] ahead of its
/// receive time.
fn trusted_source_ms(s: &Sample) -> Option<f64> {
    s.source_ms
        .filter(|t| t.is_finite() && *t <= s.received_ms + MAX_FUTURE_SKEW_MS)
}

/// Drops `sample`'s source time when it lies more than [`MAX_FUTURE_SKEW_MS`] ahead of the
/// sample's arrival, so the reading is ordered by its arrival time and cannot freeze its
/// sensor. Returns how far ahead it was (ms), for the bad-input count; `None` when the time
/// is absent, not finite (ignored elsewhere) or close enough.
pub fn distrust_future_time(sample: &mut Sample) -> Option<f64> {
    let t = sample.source_ms.filter(|t| t.is_finite())?;
    let ahead = t - sample.received_ms;
    if ahead > MAX_FUTURE_SKEW_MS {
        sample.source_ms = None;
        Some(ahead)
    } else {
        None
    }
}

/// Numbers must be finite and the receive time too (it drives ordering and freshness).
/// Adapters already refuse NaN; this is the store's own guard.
fn is_finite_sample(s: &Sample) -> bool {
    s.received_ms.is_finite() && !matches!(s.value, Value::Number(v) if !v.is_finite())
}

/// The value as a trend number: numbers as they are, booleans as 0/1, text not at all.
fn numeric(v: &Value) -> Option<f64> {
    match v {
        Value::Number(x) => Some(*x),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Value::Text(_) => None,
    }
}

/// Milliseconds from `received_ms` to `now_ms`; 0 when the clock went back (or is NaN).
fn age(now_ms: f64, received_ms: f64) -> f64 {
    let a = now_ms - received_ms;
    if a > 0.0 { a } else { 0.0 }
}

/// Samples waiting for the next frame, at most one per sensor.
///
/// A burst of many readings of one sensor between two frames only needs its newest: the
/// inbox keeps that one (by the same ordering as the store), so it never holds more samples
/// than there are sensors, and the work per frame is bounded by the sensor count, not the
/// message rate.
#[derive(Debug, Clone)]
pub struct Inbox {
    slots: Vec<Option<Sample>>,
    /// Sensors with a pending sample, in order of first arrival.
    order: Vec<usize>,
    /// Counts not yet handed to the store.
    pending_counters: StoreCounters,
    coalesced_total: u64,
}

impl Inbox {
    /// An inbox for `n` sensors.
    pub fn with_sensors(n: usize) -> Inbox {
        Inbox {
            slots: std::iter::repeat_with(|| None).take(n).collect(),
            order: Vec::new(),
            pending_counters: StoreCounters::default(),
            coalesced_total: 0,
        }
    }

    /// Queues `sample`, replacing a pending older sample of the same sensor; an older sample
    /// than the pending one is dropped instead. Samples with non-finite numbers or unknown
    /// sensors are refused here already, so they cannot displace a good pending sample.
    /// Returns whether the sample is now pending.
    pub fn push(&mut self, sample: Sample) -> bool {
        if !is_finite_sample(&sample) {
            self.pending_counters.non_finite += 1;
            return false;
        }
        let Some(slot) = self.slots.get_mut(sample.sensor) else {
            self.pending_counters.unknown_sensor += 1;
            return false;
        };
        match slot {
            None => {
                self.order.push(sample.sensor);
                *slot = Some(sample);
                true
            }
            Some(pending) => {
                self.pending_counters.coalesced += 1;
                self.coalesced_total += 1;
                if is_older(&sample, pending) {
                    false
                } else {
                    *pending = sample;
                    true
                }
            }
        }
    }

    /// Applies every pending sample to `store` (in order of first arrival) and adds this
    /// inbox's counts to the store's counters. Returns how many samples became a latest value.
    pub fn drain_into(&mut self, store: &mut SensorStore) -> usize {
        let mut updated = 0;
        for sensor in self.order.drain(..) {
            if let Some(sample) = self.slots.get_mut(sensor).and_then(Option::take)
                && store.apply(sample) == Applied::Updated
            {
                updated += 1;
            }
        }
        let c = std::mem::take(&mut self.pending_counters);
        store.counters.coalesced += c.coalesced;
        store.counters.non_finite += c.non_finite;
        store.counters.unknown_sensor += c.unknown_sensor;
        updated
    }

    /// Number of pending samples (never more than the sensor count).
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Samples coalesced away since the inbox was made.
    pub fn coalesced(&self) -> u64 {
        self.coalesced_total
    }
}

/// How many bad inputs of each kind are logged before the rest are only counted.
pub const LOG_FIRST_PER_KIND: u64 = 5;

/// Most detailed [`BadInput`] entries one frame produces (see [`BadInputBatch`]).
pub const MAX_BAD_PER_FRAME: usize = 32;

/// Every bad-input kind, in `stats()` order.
pub const ALL_BAD_INPUT_KINDS: [BadInputKind; KINDS] = [
    BadInputKind::NotJson,
    BadInputKind::WrongType,
    BadInputKind::UnknownSensor,
    BadInputKind::NonFinite,
    BadInputKind::TooLarge,
    BadInputKind::WrongFrameType,
    BadInputKind::MalformedMqtt,
    BadInputKind::MalformedDitto,
    BadInputKind::FutureTimestamp,
];

/// Number of bad-input kinds.
const KINDS: usize = 9;

fn kind_index(kind: BadInputKind) -> usize {
    match kind {
        BadInputKind::NotJson => 0,
        BadInputKind::WrongType => 1,
        BadInputKind::UnknownSensor => 2,
        BadInputKind::NonFinite => 3,
        BadInputKind::TooLarge => 4,
        BadInputKind::WrongFrameType => 5,
        BadInputKind::MalformedMqtt => 6,
        BadInputKind::MalformedDitto => 7,
        BadInputKind::FutureTimestamp => 8,
    }
}

/// Bad inputs of one frame, bounded: the first [`MAX_BAD_PER_FRAME`] in detail, then one
/// summary entry per kind for the rest ([`BadInput::summary`]), so a frame of 100,000 broken
/// readings neither floods the log nor loses the counts. Reasons are built lazily, so the
/// entries beyond the limit cost no formatting or allocation.
#[derive(Debug, Clone, Default)]
pub struct BadInputBatch {
    entries: Vec<BadInput>,
    overflow: [u64; KINDS],
}

impl BadInputBatch {
    /// An empty batch.
    pub fn new() -> BadInputBatch {
        BadInputBatch::default()
    }

    /// Adds one bad input; `reason` is only called while the detail limit is not reached.
    pub fn push(&mut self, kind: BadInputKind, reason: impl FnOnce() -> String) {
        if self.entries.len() < MAX_BAD_PER_FRAME {
            self.entries.push(BadInput::new(kind, reason()));
        } else if let Some(n) = self.overflow.get_mut(kind_index(kind)) {
            *n += 1;
        }
    }

    /// Number of bad inputs pushed (detailed and summarised).
    pub fn total(&self) -> u64 {
        self.entries.len() as u64 + self.overflow.iter().sum::<u64>()
    }

    /// The entries: at most [`MAX_BAD_PER_FRAME`] detailed ones, then a summary per kind.
    pub fn finish(mut self) -> Vec<BadInput> {
        for (kind, n) in ALL_BAD_INPUT_KINDS.iter().zip(self.overflow) {
            if n > 0 {
                self.entries.push(BadInput::summary(*kind, n));
            }
        }
        self.entries
    }
}

/// Bad-input counts per kind, with a log-the-first-few policy so a misbehaving source cannot
/// flood the console: [`record`](Self::record) says whether this one should be logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadInputCounters {
    counts: [u64; KINDS],
    log_first: u64,
}

impl Default for BadInputCounters {
    fn default() -> Self {
        BadInputCounters::new()
    }
}

impl BadInputCounters {
    /// Counters logging the first [`LOG_FIRST_PER_KIND`] of each kind.
    pub fn new() -> BadInputCounters {
        BadInputCounters::with_log_first(LOG_FIRST_PER_KIND)
    }

    /// Counters logging the first `n` of each kind.
    pub fn with_log_first(n: u64) -> BadInputCounters {
        BadInputCounters {
            counts: [0; KINDS],
            log_first: n,
        }
    }

    /// Counts `bad` (a summary counts as the inputs it stands for) and returns whether the
    /// caller should log it: true while fewer than the first `n` of its kind were counted.
    pub fn record(&mut self, bad: &BadInput) -> bool {
        let n = bad.count;
        let Some(count) = self.counts.get_mut(kind_index(bad.kind)) else {
            return false;
        };
        let before = *count;
        *count = count.saturating_add(n);
        before < self.log_first
    }

    /// How many of `kind` were counted.
    pub fn count(&self, kind: BadInputKind) -> u64 {
        self.counts.get(kind_index(kind)).copied().unwrap_or(0)
    }

    /// All kinds together.
    pub fn total(&self) -> u64 {
        self.counts.iter().fold(0u64, |a, b| a.saturating_add(*b))
    }

    /// Every kind with its count, in [`ALL_BAD_INPUT_KINDS`] order (zeros included, so
    /// `stats()` always has the same keys).
    pub fn by_kind(&self) -> impl Iterator<Item = (BadInputKind, u64)> + '_ {
        ALL_BAD_INPUT_KINDS.iter().map(|k| (*k, self.count(*k)))
    }
}

#[cfg(test)]
mod tests;
