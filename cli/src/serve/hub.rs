//! Fan-out of simulation frames to `/ws/sim` clients (and the MQTT publisher) through bounded
//! queues: a subscriber that falls behind is dropped rather than buffered for, so one slow
//! reader costs the server a fixed amount of memory.

use std::sync::Mutex;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::mpsc;

/// Fans frames out to subscribers through bounded queues; a subscriber whose queue is full is
/// dropped rather than buffered for.
pub struct Hub {
    inner: Mutex<HubInner>,
    queue: usize,
}

struct HubInner {
    latest: Option<Utf8Bytes>,
    subscribers: Vec<mpsc::Sender<Utf8Bytes>>,
    closed: bool,
}

impl Hub {
    pub fn new(queue: usize) -> Self {
        Self {
            inner: Mutex::new(HubInner {
                latest: None,
                subscribers: Vec::new(),
                closed: false,
            }),
            queue: queue.max(1),
        }
    }

    /// A receiver whose first frame is the current state; it ends when the subscriber falls
    /// behind (see [`Hub::publish`]) or the hub closes.
    pub fn subscribe(&self) -> mpsc::Receiver<Utf8Bytes> {
        let (tx, rx) = mpsc::channel(self.queue);
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.closed {
            return rx;
        }
        if let Some(latest) = &inner.latest {
            let _ = tx.try_send(latest.clone());
        }
        inner.subscribers.push(tx);
        rx
    }

    /// Queues `frame` for every subscriber; returns how many were dropped for a full queue.
    pub fn publish(&self, frame: Utf8Bytes) -> usize {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut dropped = 0;
        inner
            .subscribers
            .retain(|tx| match tx.try_send(frame.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    dropped += 1;
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            });
        inner.latest = Some(frame);
        dropped
    }

    /// Ends every subscription (server shutdown).
    pub fn close(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.closed = true;
        inner.subscribers.clear();
    }

    pub fn is_closed(&self) -> bool {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hub_starts_subscribers_with_the_latest_and_drops_slow_ones() {
        let hub = Hub::new(4);
        hub.publish("a".into());
        let mut fast = hub.subscribe();
        let mut slow = hub.subscribe();
        assert_eq!(fast.recv().await.unwrap().as_str(), "a");
        for i in 0..3 {
            assert_eq!(hub.publish(format!("f{i}").into()), 0);
            assert_eq!(fast.recv().await.unwrap().as_str(), format!("f{i}"));
        }
        // `slow` has 4 frames queued and read none: the next publish drops it.
        assert_eq!(hub.publish("x".into()), 1);
        assert_eq!(fast.recv().await.unwrap().as_str(), "x");
        assert_eq!(slow.sender_strong_count(), 0);
        assert_eq!(slow.recv().await.unwrap().as_str(), "a");
        hub.close();
        assert!(fast.recv().await.is_none());
        assert!(hub.subscribe().recv().await.is_none());
    }
}
