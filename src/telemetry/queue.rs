//! The queue between a socket's callbacks and the frame that drains them, bounded in frames
//! and in bytes.
//!
//! Callbacks only push; the frame loop drains. When the page is hidden or cannot keep up, the
//! oldest data frames are dropped to stay within both budgets, and a frame larger than
//! `maxMessageBytes` is refused before it is even copied out of JavaScript. Neither loss is
//! silent: it leaves a [`Skipped`] marker in the frame's place, so the session counts it and a
//! stream protocol (MQTT, whose packets may span frames) knows its stream has a hole and
//! reconnects instead of decoding garbage. Connection events (open, close) are never dropped.

use std::collections::VecDeque;

/// Data frames held at most; beyond this the oldest are dropped.
pub const MAX_QUEUED_FRAMES: usize = 4096;

/// Bytes of data frames held at most, unless four of the source's largest allowed frames
/// need more.
pub const MIN_QUEUED_BYTES: usize = 8 * 1024 * 1024;

/// Something that happened on a socket, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum SocketEvent {
    /// The socket opened.
    Open,
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Vec<u8>),
    /// Frames that arrived here but were not kept.
    Skipped(Skipped),
    /// The socket closed (or never opened).
    Closed {
        /// WebSocket close code (1006 when the connection was lost or never made).
        code: u16,
        /// Close reason the server gave; may be empty.
        reason: String,
        /// Whether the closing handshake completed.
        clean: bool,
    },
}

/// Frames lost at one place in a socket's stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Frames refused unread because they exceeded `maxMessageBytes`.
    pub too_large: u64,
    /// The largest of those, in bytes (for text, at least this many: counted in UTF-16 units).
    pub largest_bytes: usize,
    /// Frames dropped because the queue was over its frame or byte budget.
    pub dropped: u64,
    /// Bytes of those.
    pub dropped_bytes: u64,
}

impl Skipped {
    fn merge(&mut self, other: Skipped) {
        self.too_large += other.too_large;
        self.largest_bytes = self.largest_bytes.max(other.largest_bytes);
        self.dropped += other.dropped;
        self.dropped_bytes += other.dropped_bytes;
    }
}

/// Socket events tagged with the generation of the socket they came from.
#[derive(Debug, Clone)]
pub struct FrameQueue {
    entries: VecDeque<(u32, SocketEvent)>,
    frames: usize,
    bytes: usize,
    max_frames: usize,
    max_bytes: usize,
}

impl FrameQueue {
    /// A queue holding at most `max_frames` data frames of at most `max_bytes` bytes in all
    /// (each at least 1).
    pub fn new(max_frames: usize, max_bytes: usize) -> FrameQueue {
        FrameQueue {
            entries: VecDeque::new(),
            frames: 0,
            bytes: 0,
            max_frames: max_frames.max(1),
            max_bytes: max_bytes.max(1),
        }
    }

    /// The queue for a source whose frames are at most `max_message_bytes`:
    /// [`MAX_QUEUED_FRAMES`] frames and the larger of [`MIN_QUEUED_BYTES`] and four such frames.
    pub fn for_source(max_message_bytes: usize) -> FrameQueue {
        FrameQueue::new(
            MAX_QUEUED_FRAMES,
            MIN_QUEUED_BYTES.max(max_message_bytes.saturating_mul(4)),
        )
    }

    /// Appends `event`. A data frame first makes room by dropping the oldest data frames; one
    /// larger than the whole byte budget is dropped itself.
    pub fn push(&mut self, generation: u32, event: SocketEvent) {
        let Some(size) = data_size(&event) else {
            self.entries.push_back((generation, event));
            return;
        };
        if size > self.max_bytes {
            self.push_skipped(
                generation,
                Skipped {
                    dropped: 1,
                    dropped_bytes: size as u64,
                    ..Skipped::default()
                },
            );
            return;
        }
        while (self.frames >= self.max_frames || self.bytes + size > self.max_bytes)
            && self.drop_oldest()
        {}
        self.frames += 1;
        self.bytes += size;
        self.entries.push_back((generation, event));
    }

    /// Records a frame of `bytes` refused unread for being over `maxMessageBytes`.
    pub fn push_too_large(&mut self, generation: u32, bytes: usize) {
        self.push_skipped(
            generation,
            Skipped {
                too_large: 1,
                largest_bytes: bytes,
                ..Skipped::default()
            },
        );
    }

    /// Takes every queued event, oldest first.
    pub fn drain(&mut self) -> Vec<(u32, SocketEvent)> {
        self.frames = 0;
        self.bytes = 0;
        self.entries.drain(..).collect()
    }

    /// Events queued (data frames, markers and connection events).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Data frames queued.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Bytes of the data frames queued.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Appends a marker, merged into the last entry when that is a marker of the same socket.
    fn push_skipped(&mut self, generation: u32, skipped: Skipped) {
        if let Some((g, SocketEvent::Skipped(last))) = self.entries.back_mut()
            && *g == generation
        {
            last.merge(skipped);
            return;
        }
        self.entries
            .push_back((generation, SocketEvent::Skipped(skipped)));
    }

    /// Replaces the oldest data frame by a marker in its place (merged with a marker next to
    /// it from the same socket). Returns false when no data frame is queued.
    fn drop_oldest(&mut self) -> bool {
        let Some(i) = self
            .entries
            .iter()
            .position(|(_, e)| data_size(e).is_some())
        else {
            return false;
        };
        let Some((generation, event)) = self.entries.get_mut(i) else {
            return false;
        };
        let generation = *generation;
        let size = data_size(event).unwrap_or(0);
        *event = SocketEvent::Skipped(Skipped {
            dropped: 1,
            dropped_bytes: size as u64,
            ..Skipped::default()
        });
        self.frames -= 1;
        self.bytes -= size;
        // Neighbouring markers of the same socket become one, so markers never pile up.
        let mut at = i;
        if i > 0 && self.merge_into(i - 1, i, generation) {
            at = i - 1;
        }
        self.merge_into(at, at + 1, generation);
        true
    }

    /// Merges the marker at `from` into the marker at `into` (`into + 1 == from`) when both
    /// are markers of `generation`; returns whether it did.
    fn merge_into(&mut self, into: usize, from: usize, generation: u32) -> bool {
        let taken = match self.entries.get(from) {
            Some((g, SocketEvent::Skipped(s))) if *g == generation => *s,
            _ => return false,
        };
        match self.entries.get_mut(into) {
            Some((g, SocketEvent::Skipped(s))) if *g == generation => s.merge(taken),
            _ => return false,
        }
        self.entries.remove(from);
        true
    }
}

/// The byte size of a data frame; `None` for connection events and markers.
fn data_size(event: &SocketEvent) -> Option<usize> {
    match event {
        SocketEvent::Text(t) => Some(t.len()),
        SocketEvent::Binary(b) => Some(b.len()),
        SocketEvent::Open | SocketEvent::Skipped(_) | SocketEvent::Closed { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(n: usize) -> SocketEvent {
        SocketEvent::Text("x".repeat(n))
    }

    fn skipped(e: &SocketEvent) -> Option<Skipped> {
        match e {
            SocketEvent::Skipped(s) => Some(*s),
            _ => None,
        }
    }

    #[test]
    fn the_frame_budget_drops_the_oldest_and_leaves_one_marker() {
        let mut q = FrameQueue::new(3, 1 << 20);
        q.push(1, SocketEvent::Open);
        for i in 0..10 {
            q.push(1, SocketEvent::Binary(vec![i; 10]));
            assert!(q.frames() <= 3);
        }
        let events = q.drain();
        assert_eq!(
            events.len(),
            5,
            "open, one marker, three frames: {events:?}"
        );
        assert_eq!(events[0], (1, SocketEvent::Open), "connection events stay");
        assert_eq!(
            skipped(&events[1].1),
            Some(Skipped {
                dropped: 7,
                dropped_bytes: 70,
                ..Skipped::default()
            })
        );
        assert_eq!(events[2].1, SocketEvent::Binary(vec![7; 10]));
        assert_eq!(events[4].1, SocketEvent::Binary(vec![9; 10]));
        assert!(q.is_empty());
        assert_eq!((q.frames(), q.bytes()), (0, 0));
    }

    #[test]
    fn the_byte_budget_holds_whatever_the_frame_count() {
        let mut q = FrameQueue::new(1000, 1000);
        for _ in 0..50 {
            q.push(1, text(300));
            assert!(q.bytes() <= 1000, "{} bytes queued", q.bytes());
        }
        assert_eq!(q.frames(), 3);
        let events = q.drain();
        let s = events.iter().find_map(|(_, e)| skipped(e));
        assert_eq!(
            s,
            Some(Skipped {
                dropped: 47,
                dropped_bytes: 47 * 300,
                ..Skipped::default()
            })
        );
    }

    #[test]
    fn a_frame_over_the_whole_budget_is_dropped_itself() {
        let mut q = FrameQueue::new(10, 100);
        q.push(1, text(50));
        q.push(1, text(101));
        let events = q.drain();
        assert_eq!(events[0].1, text(50), "the queued frame stays");
        assert_eq!(skipped(&events[1].1).map(|s| s.dropped_bytes), Some(101));
    }

    #[test]
    fn too_large_frames_leave_a_marker_in_their_place() {
        let mut q = FrameQueue::for_source(1024);
        q.push(2, text(5));
        q.push_too_large(2, 5000);
        q.push_too_large(2, 7000);
        q.push(2, text(6));
        let events = q.drain();
        assert_eq!(events.len(), 3);
        assert_eq!(
            skipped(&events[1].1),
            Some(Skipped {
                too_large: 2,
                largest_bytes: 7000,
                ..Skipped::default()
            }),
            "between the frames around it, merged"
        );
    }

    #[test]
    fn markers_of_different_sockets_stay_apart() {
        let mut q = FrameQueue::new(1, 1 << 20);
        q.push(1, text(1));
        q.push(2, SocketEvent::Open);
        q.push(2, text(2));
        q.push(2, text(3));
        let events = q.drain();
        assert_eq!(events.len(), 4, "{events:?}");
        assert_eq!(events[0].0, 1);
        assert_eq!(skipped(&events[0].1).map(|s| s.dropped), Some(1));
        assert_eq!(events[1], (2, SocketEvent::Open));
        assert_eq!(events[2].0, 2);
        assert_eq!(skipped(&events[2].1).map(|s| s.dropped), Some(1));
        assert_eq!(events[3], (2, text(3)));
    }

    #[test]
    fn the_byte_budget_is_at_least_four_of_the_largest_frames() {
        let q = FrameQueue::for_source(16 << 20);
        assert_eq!(q.max_bytes, 64 << 20);
        assert_eq!(FrameQueue::for_source(1024).max_bytes, MIN_QUEUED_BYTES);
        assert_eq!(FrameQueue::for_source(usize::MAX).max_bytes, usize::MAX);
    }

    #[test]
    fn a_flood_keeps_memory_bounded_and_markers_few() {
        let mut q = FrameQueue::new(64, 64 * 1024);
        for i in 0..100_000u32 {
            if i % 7 == 0 {
                q.push_too_large(1, 2_000_000);
            } else {
                q.push(1, SocketEvent::Binary(vec![0; (i % 1500) as usize]));
            }
            assert!(q.frames() <= 64 && q.bytes() <= 64 * 1024);
            assert!(q.len() <= 2 * 64 + 2, "{} entries", q.len());
        }
    }
}
