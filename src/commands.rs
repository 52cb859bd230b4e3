//! The command queue between the page's callbacks and its frame.
//!
//! DOM events, socket events, timers and the answers to promises (an XR session granted, an
//! anchor created) never change the viewer's state themselves: they push a command, and the
//! frame drains the queue, updates, then renders. The queue's own borrow is held only inside
//! [`CommandQueue::push`] and [`CommandQueue::drain`], never while a command is handled, so a
//! push from any callback always lands: nothing is lost to a busy borrow.
//!
//! A [`Sender`] is a weak handle for work that may outlive its receiver (a promise answered
//! after its XR session ended): its push hands the command back, so the caller can free what
//! the command holds (delete the late anchor) instead of leaking it.
//!
//! A queue may be bounded. When it is full, the oldest command the queue's policy calls
//! displaceable (a pointer move superseded by newer ones) makes room and is handed back; when
//! none is, the new command is refused and handed back. Both are counted.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::{Rc, Weak};

/// What became of a pushed command.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a command handed back may hold something to free"]
pub enum Pushed<T> {
    /// Queued; the frame will see it.
    Queued,
    /// Queued, and this older command was dropped to make room.
    Displaced(T),
    /// The queue is full of commands that may not be dropped: this one was refused.
    Full(T),
    /// The receiver is gone (its session or page ended): the command was not queued.
    Closed(T),
}

impl<T> Pushed<T> {
    /// The command that was not kept (the displaced, refused or undelivered one), if any.
    pub fn rejected(self) -> Option<T> {
        match self {
            Pushed::Queued => None,
            Pushed::Displaced(t) | Pushed::Full(t) | Pushed::Closed(t) => Some(t),
        }
    }
}

struct Inner<T> {
    items: VecDeque<T>,
    capacity: usize,
    displaceable: fn(&T) -> bool,
    dropped: u64,
}

impl<T> Inner<T> {
    fn push(&mut self, command: T) -> Pushed<T> {
        if self.items.len() < self.capacity {
            self.items.push_back(command);
            return Pushed::Queued;
        }
        self.dropped += 1;
        match self.items.iter().position(self.displaceable) {
            Some(i) => {
                let old = self.items.remove(i);
                self.items.push_back(command);
                old.map_or(Pushed::Queued, Pushed::Displaced)
            }
            None => Pushed::Full(command),
        }
    }
}

/// The receiving end, owned by whoever runs the frame. Clones share one queue.
pub struct CommandQueue<T> {
    inner: Rc<RefCell<Inner<T>>>,
}

impl<T> Clone for CommandQueue<T> {
    fn clone(&self) -> Self {
        CommandQueue {
            inner: self.inner.clone(),
        }
    }
}

impl<T> Default for CommandQueue<T> {
    fn default() -> Self {
        CommandQueue::unbounded()
    }
}

impl<T> CommandQueue<T> {
    /// A queue without a bound, for answers whose number the requester limits (each anchor
    /// request is answered once).
    pub fn unbounded() -> Self {
        CommandQueue::bounded(usize::MAX, |_| false)
    }

    /// A queue of at most `capacity` commands (at least one); when full, the oldest command
    /// for which `displaceable` holds makes room.
    pub fn bounded(capacity: usize, displaceable: fn(&T) -> bool) -> Self {
        CommandQueue {
            inner: Rc::new(RefCell::new(Inner {
                items: VecDeque::new(),
                capacity: capacity.max(1),
                displaceable,
                dropped: 0,
            })),
        }
    }

    /// A weak handle that pushes onto this queue while it lives.
    pub fn sender(&self) -> Sender<T> {
        Sender {
            inner: Rc::downgrade(&self.inner),
        }
    }

    /// Queues `command`.
    pub fn push(&self, command: T) -> Pushed<T> {
        self.inner.borrow_mut().push(command)
    }

    /// Takes every queued command, oldest first. Commands pushed while the caller handles
    /// these wait for the next drain.
    pub fn drain(&self) -> Vec<T> {
        self.inner.borrow_mut().items.drain(..).collect()
    }

    pub fn len(&self) -> usize {
        self.inner.borrow().items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Commands displaced or refused because the queue was full, since it was made.
    pub fn dropped(&self) -> u64 {
        self.inner.borrow().dropped
    }
}

/// A weak pushing handle: it does not keep the queue alive.
pub struct Sender<T> {
    inner: Weak<RefCell<Inner<T>>>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            inner: self.inner.clone(),
        }
    }
}

impl<T> Sender<T> {
    /// Queues `command`, or hands it back as [`Pushed::Closed`] when the queue is gone.
    pub fn push(&self, command: T) -> Pushed<T> {
        match self.inner.upgrade() {
            Some(inner) => inner.borrow_mut().push(command),
            None => Pushed::Closed(command),
        }
    }

    /// Whether the receiving queue still exists.
    pub fn is_open(&self) -> bool {
        self.inner.strong_count() > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_come_out_in_the_order_they_were_pushed() {
        let q = CommandQueue::unbounded();
        for i in 0..5 {
            assert_eq!(q.push(i), Pushed::Queued);
        }
        assert_eq!(q.len(), 5);
        assert_eq!(q.drain(), vec![0, 1, 2, 3, 4]);
        assert!(q.is_empty());
        assert_eq!(q.drain(), Vec::<i32>::new());
    }

    #[test]
    fn a_push_while_commands_are_handled_lands_in_the_next_drain() {
        let q = CommandQueue::unbounded();
        let sender = q.sender();
        q.push(1).rejected();
        let mut seen = Vec::new();
        for c in q.drain() {
            seen.push(c);
            // A callback fired while this command is handled (re-entrant) still gets through.
            assert_eq!(sender.push(c + 10), Pushed::Queued);
            assert_eq!(q.push(c + 20), Pushed::Queued);
        }
        assert_eq!(seen, vec![1]);
        assert_eq!(q.drain(), vec![11, 21]);
    }

    #[test]
    fn a_full_queue_drops_the_oldest_displaceable_command_and_counts_it() {
        // Even numbers stand for pointer moves (displaceable), odd ones for clicks.
        let q = CommandQueue::bounded(3, |c: &i32| c % 2 == 0);
        for c in [1, 2, 4] {
            assert_eq!(q.push(c), Pushed::Queued);
        }
        assert_eq!(q.push(5), Pushed::Displaced(2));
        assert_eq!(q.push(7), Pushed::Displaced(4));
        assert_eq!(q.dropped(), 2);
        assert_eq!(q.drain(), vec![1, 5, 7]);
    }

    #[test]
    fn a_full_queue_of_commands_that_must_stay_refuses_the_new_one() {
        let q = CommandQueue::bounded(2, |_: &i32| false);
        assert_eq!(q.push(1), Pushed::Queued);
        assert_eq!(q.push(2), Pushed::Queued);
        assert_eq!(q.push(3), Pushed::Full(3));
        assert_eq!(q.dropped(), 1);
        assert_eq!(q.drain(), vec![1, 2]);
        assert_eq!(q.push(3), Pushed::Queued, "room again after a drain");
    }

    #[test]
    fn drop_oldest_policy_keeps_the_newest_commands() {
        let q = CommandQueue::bounded(4, |_: &u32| true);
        for c in 0..10 {
            let _ = q.push(c);
        }
        assert_eq!(q.drain(), vec![6, 7, 8, 9]);
        assert_eq!(q.dropped(), 6);
    }

    #[test]
    fn a_sender_hands_the_command_back_once_its_queue_is_gone() {
        let q = CommandQueue::unbounded();
        let sender = q.sender();
        assert!(sender.is_open());
        assert_eq!(sender.push("kept"), Pushed::Queued);
        assert_eq!(q.drain(), vec!["kept"]);
        drop(q);
        assert!(!sender.is_open());
        // The late answer (an anchor created after its session ended) comes back to be freed.
        assert_eq!(sender.push("late"), Pushed::Closed("late"));
        assert_eq!(sender.push("late").rejected(), Some("late"));
    }

    #[test]
    fn clones_share_one_queue_and_a_sender_does_not_keep_it_alive() {
        let q = CommandQueue::unbounded();
        let other = q.clone();
        let sender = q.sender();
        other.push(1).rejected();
        drop(q);
        assert!(sender.is_open(), "a clone still holds the queue");
        sender.push(2).rejected();
        assert_eq!(other.drain(), vec![1, 2]);
        drop(other);
        assert!(!sender.is_open());
    }

    #[test]
    fn a_zero_capacity_is_taken_as_one() {
        let q = CommandQueue::bounded(0, |_: &i32| true);
        assert_eq!(q.push(1), Pushed::Queued);
        assert_eq!(q.push(2), Pushed::Displaced(1));
        assert_eq!(q.drain(), vec![2]);
    }
}
