//! Threshold levels marked across a sparkline: which threshold, and at what height on the
//! sparkline's own scale.

use crate::overlay::state::SensorState;

/// Most threshold levels one sparkline marks: warning and alarm, each above and below.
pub const MAX_SPARK_LEVELS: usize = 4;

/// Which threshold a sparkline level marks; it is drawn in that state's colour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LevelKind {
    /// A warning threshold.
    #[default]
    Warning,
    /// An alarm threshold.
    Alarm,
}

impl LevelKind {
    /// The state whose colour the level is drawn in.
    pub fn state(self) -> SensorState {
        match self {
            LevelKind::Warning => SensorState::Warning,
            LevelKind::Alarm => SensorState::Alarm,
        }
    }
}

/// A threshold level on a sparkline's vertical scale.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SparkLevel {
    /// Height on the sparkline's scale: 0 is the bottom, 1 the top, as for its points.
    pub at: f32,
    /// The threshold's kind.
    pub kind: LevelKind,
}

/// The threshold levels a sparkline marks, at most [`MAX_SPARK_LEVELS`], stored inline so a
/// label carries them without allocating. Each is drawn as a thin horizontal line across the
/// sparkline in its state's colour, under the trend line.
#[derive(Debug, Clone, Copy, Default)]
pub struct SparkLevels {
    levels: [SparkLevel; MAX_SPARK_LEVELS],
    len: u8,
}

impl SparkLevels {
    /// No levels.
    pub const NONE: Self = Self {
        levels: [SparkLevel {
            at: 0.0,
            kind: LevelKind::Warning,
        }; MAX_SPARK_LEVELS],
        len: 0,
    };

    /// Removes every level.
    pub fn clear(&mut self) {
        *self = Self::NONE;
    }

    /// Adds a level; returns false (and drops it) when [`MAX_SPARK_LEVELS`] are already held.
    pub fn push(&mut self, level: SparkLevel) -> bool {
        match self.levels.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = level;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// The levels, in the order pushed.
    pub fn as_slice(&self) -> &[SparkLevel] {
        &self.levels[..usize::from(self.len)]
    }

    /// Number of levels.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether there are no levels.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl PartialEq for SparkLevels {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}
