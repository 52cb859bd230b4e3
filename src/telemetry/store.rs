//! Per-sensor live state: the latest sample (never replaced by an older one), a bounded trend
//! history, freshness, the per-frame [`Inbox`] that coalesces bursts, and the bad-input
//! counters with their log-the-first-few policy.
//!
//! Everything is sized when the store is built from the manifest; after that, memory per sensor
//! is bounded whatever the source sends (one latest sample, at most
//! [`HistorySpec::capacity`](crate::manifest::HistorySpec::capacity)` + 1` history points, at most one pending sample in the inbox).

pub use super::history::History;
use super::{BadInput, BadInputKind, Quality, Sample, Value};
use crate::manifest::Manifest;

/// A source timestamp this far ahead of the page's clock is not trusted for ordering.
///
/// Ordering by source time means one reading stamped in the year 9000 would block every later
/// reading of its sensor forever. Clocks skewed by up to a day still order by source time.
pub const MAX_FUTURE_SKEW_MS: f64 = 24.0 * 3600.0 * 1000.0;

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
    /// No reading since the page loaded.
    NoData,
}

impl Freshness {
    /// Name for `stats()` (camelCase).
    pub fn name(&self) -> &'static str {
        match self {
            Freshness::Live => "live",
            Freshness::Stale { .. } => "stale",
            Freshness::NoData => "noData",
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
    /// Samples whose source timestamp was more than [`MAX_FUTURE_SKEW_MS`] ahead of their
    /// receive time; they were kept, ordered by receive time instead.
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
        }
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
        if sample.source_ms.is_some() && trusted_source_ms(&sample).is_none() {
            if sample.source_ms.is_some_and(f64::is_finite) {
                self.counters.future_timestamps += 1;
            }
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
    /// `Stale` once it has been received; `NoData` only means nothing arrived yet.
    pub fn freshness(&self, sensor: usize, now_ms: f64) -> Freshness {
        let Some(slot) = self.slots.get(sensor) else {
            return Freshness::NoData;
        };
        match &slot.latest {
            None => Freshness::NoData,
            Some(s) => {
                let age_ms = age(now_ms, s.received_ms);
                if age_ms > slot.max_age_ms {
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

    /// How many sensors are live, stale and without data at `now_ms`.
    pub fn freshness_counts(&self, now_ms: f64) -> (usize, usize, usize) {
        (0..self.slots.len()).fold((0, 0, 0), |(live, stale, none), i| {
            match self.freshness(i, now_ms) {
                Freshness::Live => (live + 1, stale, none),
                Freshness::Stale { .. } => (live, stale + 1, none),
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
pub const ALL_BAD_INPUT_KINDS: [BadInputKind; 8] = [
    BadInputKind::NotJson,
    BadInputKind::WrongType,
    BadInputKind::UnknownSensor,
    BadInputKind::NonFinite,
    BadInputKind::TooLarge,
    BadInputKind::WrongFrameType,
    BadInputKind::MalformedMqtt,
    BadInputKind::MalformedDitto,
];

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
    }
}

const SUMMARY_PREFIX: &str = "... and ";
const SUMMARY_SUFFIX: &str = " more like this";

/// The reason of a summary entry standing for `n` further bad inputs of its kind
/// ("... and 17 more like this"). [`BadInputCounters::record`] counts such an entry as `n`.
pub fn summary_reason(n: u64) -> String {
    format!("{SUMMARY_PREFIX}{n}{SUMMARY_SUFFIX}")
}

/// The `n` of a [`summary_reason`], or None for an ordinary reason.
pub fn parse_summary(reason: &str) -> Option<u64> {
    reason
        .strip_prefix(SUMMARY_PREFIX)?
        .strip_suffix(SUMMARY_SUFFIX)?
        .parse()
        .ok()
}

/// Bad inputs of one frame, bounded: the first [`MAX_BAD_PER_FRAME`] in detail, then one
/// summary entry per kind for the rest ([`summary_reason`]), so a frame of 100,000 broken
/// readings neither floods the log nor loses the counts. Reasons are built lazily, so the
/// entries beyond the limit cost no formatting or allocation.
#[derive(Debug, Clone, Default)]
pub struct BadInputBatch {
    entries: Vec<BadInput>,
    overflow: [u64; 8],
}

impl BadInputBatch {
    /// An empty batch.
    pub fn new() -> BadInputBatch {
        BadInputBatch::default()
    }

    /// Adds one bad input; `reason` is only called while the detail limit is not reached.
    pub fn push(&mut self, kind: BadInputKind, reason: impl FnOnce() -> String) {
        if self.entries.len() < MAX_BAD_PER_FRAME {
            self.entries.push(BadInput {
                kind,
                reason: reason(),
            });
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
                self.entries.push(BadInput {
                    kind: *kind,
                    reason: summary_reason(n),
                });
            }
        }
        self.entries
    }
}

/// Bad-input counts per kind, with a log-the-first-few policy so a misbehaving source cannot
/// flood the console: [`record`](Self::record) says whether this one should be logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadInputCounters {
    counts: [u64; 8],
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
            counts: [0; 8],
            log_first: n,
        }
    }

    /// Counts `bad` (a [`summary_reason`] entry counts as its `n`) and returns whether the
    /// caller should log it: true while fewer than the first `n` of its kind were counted.
    pub fn record(&mut self, bad: &BadInput) -> bool {
        let n = parse_summary(&bad.reason).unwrap_or(1);
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
mod tests {
    use super::*;
    use crate::manifest::{HistorySpec, MAX_HISTORY_POINTS};

    const T0: f64 = 1_795_615_653_000.0;

    fn manifest(sensors: usize, window_s: f64, resolution_s: f64) -> Manifest {
        let sensors: Vec<serde_json::Value> = (0..sensors)
            .map(|i| {
                serde_json::json!({
                    "id": format!("s{i}"), "name": format!("Sensor {i}"), "node": "N",
                    "unit": "°C", "maxAgeSeconds": 10
                })
            })
            .collect();
        let doc = serde_json::json!({
            "name": "Test", "model": { "url": "m.glb" }, "sensors": sensors,
            "history": { "windowSeconds": window_s, "resolutionSeconds": resolution_s }
        });
        match Manifest::parse(doc.to_string().as_bytes(), "test.json") {
            Ok(m) => m,
            Err(e) => panic!("{e}"),
        }
    }

    fn sample(sensor: usize, v: f64, source_ms: Option<f64>, received_ms: f64) -> Sample {
        Sample {
            sensor,
            value: Value::Number(v),
            unit: None,
            source_ms,
            received_ms,
            quality: Quality::Good,
        }
    }

    fn value_of(store: &SensorStore, sensor: usize) -> Option<Value> {
        store.latest(sensor).map(|s| s.value.clone())
    }

    #[test]
    fn older_source_time_does_not_replace_the_latest() {
        let mut store = SensorStore::new(&manifest(1, 60.0, 1.0));
        assert_eq!(
            store.apply(sample(0, 1.0, Some(T0 + 2000.0), T0)),
            Applied::Updated
        );
        assert_eq!(
            store.apply(sample(0, 2.0, Some(T0 + 1000.0), T0 + 5.0)),
            Applied::OutOfOrder
        );
        assert_eq!(value_of(&store, 0), Some(Value::Number(1.0)));
        assert_eq!(store.counters().out_of_order, 1);
        assert_eq!(store.counters().updates, 1);
    }

    #[test]
    fn equal_timestamps_let_the_later_arrival_win() {
        let mut store = SensorStore::new(&manifest(1, 60.0, 1.0));
        store.apply(sample(0, 1.0, Some(T0), T0));
        assert_eq!(store.apply(sample(0, 2.0, Some(T0), T0)), Applied::Updated);
        assert_eq!(value_of(&store, 0), Some(Value::Number(2.0)));
    }

    #[test]
    fn receive_time_orders_when_either_lacks_a_source_time() {
        let mut store = SensorStore::new(&manifest(1, 60.0, 1.0));
        store.apply(sample(0, 1.0, None, T0 + 100.0));
        // A source time far in the past does not matter: the current one has none.
        assert_eq!(
            store.apply(sample(0, 2.0, Some(1000.0), T0 + 200.0)),
            Applied::Updated
        );
        assert_eq!(
            store.apply(sample(0, 3.0, None, T0 + 150.0)),
            Applied::OutOfOrder
        );
        assert_eq!(value_of(&store, 0), Some(Value::Number(2.0)));
    }

    #[test]
    fn a_far_future_source_time_cannot_freeze_a_sensor() {
        let mut store = SensorStore::new(&manifest(1, 60.0, 1.0));
        let year_9000 = 221_845_392_000_000.0;
        assert_eq!(
            store.apply(sample(0, 1.0, Some(year_9000), T0)),
            Applied::Updated
        );
        assert_eq!(
            store.latest(0).and_then(|s| s.source_ms),
            None,
            "untrusted time dropped"
        );
        assert_eq!(store.counters().future_timestamps, 1);
        assert_eq!(
            store.apply(sample(0, 2.0, Some(T0 + 1000.0), T0 + 1000.0)),
            Applied::Updated
        );
    }

    #[test]
    fn non_finite_numbers_are_never_stored() {
        let mut store = SensorStore::new(&manifest(1, 60.0, 1.0));
        store.apply(sample(0, 1.0, None, T0));
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(
                store.apply(sample(0, bad, None, T0 + 1.0)),
                Applied::NonFinite
            );
        }
        assert_eq!(
            store.apply(sample(0, 5.0, None, f64::NAN)),
            Applied::NonFinite
        );
        assert_eq!(value_of(&store, 0), Some(Value::Number(1.0)));
        assert!(
            store
                .history(0)
                .all(|(t, v)| t.is_finite() && v.is_finite())
        );
        assert_eq!(store.counters().non_finite, 4);
        // A NaN source time is ignored rather than poisoning the ordering.
        assert_eq!(
            store.apply(sample(0, 6.0, Some(f64::NAN), T0 + 2.0)),
            Applied::Updated
        );
        assert_eq!(
            store.apply(sample(0, 7.0, Some(T0), T0 + 3.0)),
            Applied::Updated
        );
    }

    #[test]
    fn unknown_sensor_indices_are_refused_without_panicking() {
        let mut store = SensorStore::new(&manifest(2, 60.0, 1.0));
        assert_eq!(
            store.apply(sample(2, 1.0, None, T0)),
            Applied::UnknownSensor
        );
        assert_eq!(
            store.apply(sample(usize::MAX, 1.0, None, T0)),
            Applied::UnknownSensor
        );
        assert_eq!(store.freshness(99, T0), Freshness::NoData);
        assert!(store.reading(99, T0).is_none());
        assert_eq!(store.history(99).count(), 0);
        assert_eq!(store.counters().unknown_sensor, 2);
    }

    #[test]
    fn freshness_goes_from_no_data_to_live_to_stale_and_back_to_live() {
        let mut store = SensorStore::new(&manifest(1, 60.0, 1.0)); // maxAgeSeconds 10
        assert_eq!(store.freshness(0, T0), Freshness::NoData);
        store.apply(sample(0, 1.0, None, T0));
        assert_eq!(store.freshness(0, T0), Freshness::Live);
        assert_eq!(
            store.freshness(0, T0 + 10_000.0),
            Freshness::Live,
            "at max age still live"
        );
        assert_eq!(
            store.freshness(0, T0 + 10_001.0),
            Freshness::Stale { age_ms: 10_001.0 }
        );
        assert_eq!(
            store.freshness(0, T0 + 3_600_000.0).name(),
            "stale",
            "never back to noData once a sample arrived"
        );
        store.apply(sample(0, 2.0, None, T0 + 20_000.0));
        assert_eq!(store.freshness(0, T0 + 20_500.0), Freshness::Live);
        assert_eq!(
            store.freshness(0, T0),
            Freshness::Live,
            "a clock going back is age 0"
        );
    }

    #[test]
    fn freshness_uses_receive_time_so_a_lagging_source_clock_stays_live() {
        let mut store = SensorStore::new(&manifest(1, 60.0, 1.0));
        store.apply(sample(0, 1.0, Some(T0 - 3_600_000.0), T0));
        assert_eq!(store.freshness(0, T0 + 1000.0), Freshness::Live);
    }

    #[test]
    fn history_never_exceeds_its_capacity() {
        let m = manifest(1, 60.0, 1.0);
        let cap = m.history.capacity() + 1;
        let mut store = SensorStore::new(&m);
        for i in 0..10 * cap {
            store.apply(sample(0, i as f64, None, T0 + i as f64 * 1000.0));
            let h = store.history_buffer(0).map(History::len).unwrap_or(0);
            assert!(h <= cap, "{h} points after {i} pushes");
        }
        assert_eq!(store.history_buffer(0).map(History::capacity), Some(cap));
    }

    #[test]
    fn history_drops_points_older_than_the_window() {
        let mut store = SensorStore::new(&manifest(1, 10.0, 1.0));
        for i in 0..30 {
            store.apply(sample(0, i as f64, None, T0 + i as f64 * 1000.0));
        }
        let points: Vec<(f64, f64)> = store.history(0).collect();
        let newest = T0 + 29_000.0;
        assert!(points.iter().all(|(t, _)| *t >= newest - 10_000.0));
        assert_eq!(points.len(), 11, "10 s window at 1 s: both ends included");
        assert_eq!(points.first().map(|p| p.1), Some(19.0), "oldest first");
        assert_eq!(points.last().map(|p| p.1), Some(29.0));
        assert_eq!(store.min_max(0), Some((19.0, 29.0)));
    }

    #[test]
    fn history_keeps_one_point_per_resolution_bucket_the_latest() {
        let mut store = SensorStore::new(&manifest(1, 60.0, 5.0));
        let base = 1_795_615_650_000.0; // a multiple of 5 s
        for (dt, v) in [
            (0.0, 1.0),
            (1000.0, 2.0),
            (4999.0, 3.0),
            (5000.0, 4.0),
            (9000.0, 5.0),
        ] {
            store.apply(sample(0, v, None, base + dt));
        }
        let points: Vec<(f64, f64)> = store.history(0).collect();
        assert_eq!(
            points,
            [(base, 3.0), (base + 5000.0, 5.0)],
            "times are bucket starts"
        );
    }

    #[test]
    fn history_uses_source_time_and_bools_as_0_1_but_skips_text_and_bad_quality() {
        let mut store = SensorStore::new(&manifest(1, 60.0, 1.0));
        let mut s = sample(0, 0.0, Some(T0 - 500_000.0), T0);
        s.value = Value::Bool(true);
        store.apply(s.clone());
        s.value = Value::Text("RUNNING".into());
        s.received_ms += 2000.0;
        s.source_ms = Some(T0 - 498_000.0);
        store.apply(s.clone());
        s.value = Value::Number(99.0);
        s.quality = Quality::Bad;
        s.received_ms += 2000.0;
        s.source_ms = Some(T0 - 496_000.0);
        assert_eq!(
            store.apply(s),
            Applied::Updated,
            "bad quality is still the latest value"
        );
        assert_eq!(
            store.history(0).collect::<Vec<_>>(),
            [(T0 - 500_000.0, 1.0)]
        );
    }

    #[test]
    fn history_discards_points_when_time_jumps_back_beyond_the_window() {
        let spec = HistorySpec {
            window_seconds: 10.0,
            resolution_seconds: 1.0,
        };
        let mut h = History::new(&spec);
        h.push(T0, 1.0);
        h.push(T0 + 1000.0, 2.0);
        h.push(T0 + 500.0, 3.0); // small step back: folded into the newest bucket
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [(T0, 1.0), (T0 + 1000.0, 3.0)]
        );
        h.push(T0 - 60_000.0, 4.0);
        assert_eq!(h.iter().collect::<Vec<_>>(), [(T0 - 60_000.0, 4.0)]);
        h.push(f64::NAN, 5.0);
        h.push(T0, f64::INFINITY);
        assert_eq!(h.len(), 1, "non-finite points are ignored");
    }

    #[test]
    fn history_with_unusable_spec_stays_bounded() {
        let h = History::new(&HistorySpec {
            window_seconds: f64::INFINITY,
            resolution_seconds: 0.0,
        });
        assert!(h.capacity() <= MAX_HISTORY_POINTS + 1);
        let h = History::new(&HistorySpec {
            window_seconds: 1e12,
            resolution_seconds: 1e-9,
        });
        assert_eq!(h.capacity(), MAX_HISTORY_POINTS + 1);
    }

    #[test]
    fn sensors_without_numbers_take_no_history_memory() {
        let store = SensorStore::new(&manifest(3, 600.0, 1.0));
        assert!(store.slots.iter().all(|s| s.history.memory_bytes() == 0));
        assert_eq!(
            store.memory_bytes(),
            store.slots.capacity() * size_of::<Slot>() + 3 * 3
        );
    }

    #[test]
    fn inbox_holds_at_most_one_sample_per_sensor_the_newest() {
        let mut store = SensorStore::new(&manifest(3, 60.0, 1.0));
        let mut inbox = Inbox::with_sensors(3);
        for i in 0..1000 {
            inbox.push(sample(i % 3, i as f64, Some(T0 + i as f64), T0 + i as f64));
            assert!(inbox.len() <= 3);
        }
        assert!(
            !inbox.push(sample(0, -1.0, Some(T0 - 1.0), T0 + 2000.0)),
            "older than pending"
        );
        assert_eq!(inbox.coalesced(), 998);
        assert_eq!(inbox.drain_into(&mut store), 3);
        assert!(inbox.is_empty());
        assert_eq!(value_of(&store, 0), Some(Value::Number(999.0)));
        assert_eq!(value_of(&store, 1), Some(Value::Number(997.0)));
        assert_eq!(value_of(&store, 2), Some(Value::Number(998.0)));
        assert_eq!(store.counters().coalesced, 998);
        assert_eq!(inbox.drain_into(&mut store), 0, "drained inbox is empty");
    }

    #[test]
    fn inbox_refuses_non_finite_and_unknown_samples_so_they_cannot_displace_good_ones() {
        let mut store = SensorStore::new(&manifest(1, 60.0, 1.0));
        let mut inbox = Inbox::with_sensors(1);
        assert!(inbox.push(sample(0, 1.0, None, T0)));
        assert!(!inbox.push(sample(0, f64::NAN, None, T0 + 1.0)));
        assert!(!inbox.push(sample(5, 1.0, None, T0 + 1.0)));
        assert_eq!(inbox.drain_into(&mut store), 1);
        assert_eq!(value_of(&store, 0), Some(Value::Number(1.0)));
        let c = store.counters();
        assert_eq!(
            (c.non_finite, c.unknown_sensor),
            (1, 1),
            "counts reach the store"
        );
    }

    #[test]
    fn inbox_drain_does_not_count_samples_older_than_the_store() {
        let mut store = SensorStore::new(&manifest(1, 60.0, 1.0));
        store.apply(sample(0, 1.0, Some(T0 + 10.0), T0));
        let mut inbox = Inbox::with_sensors(1);
        inbox.push(sample(0, 2.0, Some(T0), T0 + 1.0));
        assert_eq!(inbox.drain_into(&mut store), 0);
        assert_eq!(store.counters().out_of_order, 1);
    }

    #[test]
    fn readings_report_value_unit_freshness_and_counts() {
        let mut store = SensorStore::new(&manifest(2, 60.0, 1.0));
        let mut s = sample(0, 21.5, Some(T0 - 50.0), T0);
        s.unit = Some("K".into());
        s.quality = Quality::Uncertain;
        store.apply(s);
        store.apply(sample(0, 21.6, None, T0 + 100.0));
        let r: Vec<Reading<'_>> = store.readings(T0 + 1100.0).collect();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].value, Some(&Value::Number(21.6)));
        assert_eq!(
            r[0].unit,
            Some("°C"),
            "no unit in the message: the manifest's"
        );
        assert_eq!(r[0].quality, Quality::Good);
        assert_eq!(r[0].freshness, Freshness::Live);
        assert_eq!(r[0].age_ms, Some(1000.0));
        assert_eq!(r[0].source_ms, None);
        assert_eq!(r[0].updates, 2);
        assert_eq!(r[1].value, None);
        assert_eq!(r[1].freshness, Freshness::NoData);
        assert_eq!(r[1].age_ms, None);
        assert_eq!(store.freshness_counts(T0 + 1100.0), (1, 0, 1));
    }

    #[test]
    fn message_unit_overrides_the_manifest_unit() {
        let mut store = SensorStore::new(&manifest(1, 60.0, 1.0));
        let mut s = sample(0, 300.0, None, T0);
        s.unit = Some("K".into());
        store.apply(s);
        assert_eq!(store.reading(0, T0).and_then(|r| r.unit), Some("K"));
    }

    #[test]
    fn bad_input_counters_log_only_the_first_five_of_each_kind() {
        let mut c = BadInputCounters::new();
        let bad = |kind| BadInput {
            kind,
            reason: "x".into(),
        };
        let logged: Vec<bool> = (0..7)
            .map(|_| c.record(&bad(BadInputKind::NotJson)))
            .collect();
        assert_eq!(logged, [true, true, true, true, true, false, false]);
        assert!(
            c.record(&bad(BadInputKind::TooLarge)),
            "each kind has its own allowance"
        );
        assert_eq!(c.count(BadInputKind::NotJson), 7);
        assert_eq!(c.total(), 8);
        assert_eq!(c.by_kind().count(), 8);
        assert_eq!(
            c.by_kind().find(|(k, _)| *k == BadInputKind::TooLarge),
            Some((BadInputKind::TooLarge, 1))
        );
    }

    #[test]
    fn bad_input_batch_is_bounded_but_counts_everything() {
        let mut batch = BadInputBatch::new();
        let mut formatted = 0;
        for i in 0..1000 {
            let kind = if i % 2 == 0 {
                BadInputKind::UnknownSensor
            } else {
                BadInputKind::WrongType
            };
            batch.push(kind, || {
                formatted += 1;
                format!("reading {i}")
            });
        }
        assert_eq!(
            formatted, MAX_BAD_PER_FRAME,
            "reasons beyond the limit are not built"
        );
        assert_eq!(batch.total(), 1000);
        let entries = batch.finish();
        assert_eq!(
            entries.len(),
            MAX_BAD_PER_FRAME + 2,
            "one summary per overflowing kind"
        );
        let mut counters = BadInputCounters::new();
        for e in &entries {
            counters.record(e);
        }
        assert_eq!(counters.count(BadInputKind::UnknownSensor), 500);
        assert_eq!(counters.count(BadInputKind::WrongType), 500);
        assert_eq!(parse_summary(&summary_reason(17)), Some(17));
        assert_eq!(parse_summary("... and lots more like this"), None);
    }
}
