//! Typed events the server publishes for the console, the demo and metrics.
//!
//! Publishing never blocks and never allocates when nobody subscribes: each subscriber has a
//! bounded channel, a full channel drops the event and counts it, and the event is only built
//! (the closure passed to [`EventBus::publish`] only runs) when there is a subscriber.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

/// Client or neighbour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnKind {
    /// A client speaking IAMAT/WHATSAT.
    Client,
    /// A neighbouring server.
    Peer,
}

/// Direction of a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Received.
    In,
    /// Sent.
    Out,
}

/// A neighbour link's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// Handshake done; updates flow.
    Up,
    /// Dialing or handshaking.
    Connecting,
    /// Not connected; the dialer retries.
    Down,
    /// Cut by the operator; nobody retries until restored.
    Cut,
}

/// One thing that happened.
#[derive(Clone, Debug)]
pub enum EventKind {
    /// A connection opened (on the client port or the peer port).
    Opened {
        /// Connection id.
        id: u64,
        /// Remote address.
        addr: SocketAddr,
    },
    /// A connection closed.
    Closed {
        /// Connection id.
        id: u64,
        /// Why.
        reason: String,
    },
    /// A client line in, or a reply out (without its terminator).
    Line {
        /// Connection id.
        id: u64,
        /// In or out.
        dir: Dir,
        /// The bytes, lossily decoded.
        text: String,
    },
    /// A neighbour link changed state.
    Link {
        /// Neighbour name.
        peer: Arc<str>,
        /// New state.
        state: LinkState,
        /// Why, when it went down or failed.
        reason: Option<String>,
    },
    /// An update crossed a link.
    Flood {
        /// Neighbour name.
        peer: Arc<str>,
        /// Sent to, or received from, that neighbour.
        dir: Dir,
        /// The AT line.
        at: Arc<[u8]>,
        /// For received floods: whether it changed our table (false = ignored).
        applied: bool,
    },
}

/// An event with its server and time.
#[derive(Clone, Debug)]
pub struct Event {
    /// The server that published it.
    pub server: Arc<str>,
    /// When.
    pub at: SystemTime,
    /// What.
    pub kind: EventKind,
}

/// Which events a subscriber wants (`None`: all).
pub type Filter = Option<Arc<dyn Fn(&EventKind) -> bool + Send + Sync>>;

/// One subscription.
struct Subscriber {
    /// Where its events go.
    tx: async_channel::Sender<Event>,
    /// What it wants.
    filter: Filter,
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber")
            .field("tx", &self.tx)
            .field("filtered", &self.filter.is_some())
            .finish()
    }
}

impl Subscriber {
    fn wants(&self, kind: &EventKind) -> bool {
        self.filter.as_ref().is_none_or(|f| f(kind))
    }
}

/// Fan-out of events to bounded subscriber channels.
#[derive(Debug)]
pub struct EventBus {
    /// The publishing server's name.
    server: Arc<str>,
    /// Open subscriptions.
    subscribers: RwLock<Vec<Subscriber>>,
    /// Fast check that skips building events nobody reads.
    active: AtomicBool,
    /// Events lost to full subscriber channels.
    dropped: AtomicU64,
}

impl EventBus {
    /// A bus for `server` with no subscribers.
    pub fn new(server: Arc<str>) -> Self {
        EventBus {
            server,
            subscribers: RwLock::new(Vec::new()),
            active: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
        }
    }

    /// A new subscription that buffers at most `capacity` events.
    pub fn subscribe(&self, capacity: usize) -> async_channel::Receiver<Event> {
        self.subscribe_filtered(capacity, None)
    }

    /// A new subscription to the events `filter` accepts (the others never take its room:
    /// a benchmark can follow its own updates through a herd under load).
    pub fn subscribe_filtered(
        &self,
        capacity: usize,
        filter: Filter,
    ) -> async_channel::Receiver<Event> {
        let (tx, rx) = async_channel::bounded(capacity.max(1));
        let mut subs = self.write();
        subs.push(Subscriber { tx, filter });
        self.active.store(true, Ordering::Release);
        rx
    }

    /// Whether anybody listens (so callers can skip costly preparation).
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Publishes the event `make` builds, if anybody listens. Never blocks.
    ///
    /// The subscriber list is read under a shared lock, and the last subscriber gets the event
    /// itself rather than a copy (usually there is one: the console).
    pub fn publish(&self, make: impl FnOnce() -> EventKind) {
        if !self.is_active() {
            return;
        }
        // Subscribers that fell behind would drop it anyway: don't build it.
        if self.read().iter().all(|sub| sub.tx.is_full()) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let event = Event {
            server: self.server.clone(),
            at: SystemTime::now(),
            kind: make(),
        };
        let mut closed = false;
        {
            let subs = self.read();
            // Every subscriber that wants it gets a copy, but the last one gets the event.
            let last = subs.iter().rposition(|s| s.wants(&event.kind));
            if let Some(last) = last {
                for sub in subs[..last].iter().filter(|s| s.wants(&event.kind)) {
                    closed |= self.offer(&sub.tx, event.clone());
                }
                closed |= self.offer(&subs[last].tx, event);
            }
            closed |= subs.iter().any(|s| s.tx.is_closed());
        }
        if closed {
            let mut subs = self.write();
            subs.retain(|sub| !sub.tx.is_closed());
            if subs.is_empty() {
                self.active.store(false, Ordering::Release);
            }
        }
    }

    /// Offers `event` to one subscriber; true if that subscriber is gone.
    fn offer(&self, tx: &async_channel::Sender<Event>, event: Event) -> bool {
        match tx.try_send(event) {
            Ok(()) => false,
            Err(async_channel::TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
            Err(async_channel::TrySendError::Closed(_)) => true,
        }
    }

    /// Events dropped because a subscriber fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Subscriber>> {
        crate::sync::read(&self.subscribers)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Subscriber>> {
        crate::sync::write(&self.subscribers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: u64) -> EventKind {
        EventKind::Line {
            id,
            dir: Dir::In,
            text: "x".into(),
        }
    }

    #[test]
    fn nothing_is_built_without_subscribers() {
        let bus = EventBus::new("S".into());
        let mut built = false;
        bus.publish(|| {
            built = true;
            line(1)
        });
        assert!(!built);
    }

    #[test]
    fn full_subscribers_drop_and_count_closed_ones_are_forgotten() {
        let bus = EventBus::new("S".into());
        let rx = bus.subscribe(2);
        for i in 0..5 {
            bus.publish(|| line(i));
        }
        assert_eq!(bus.dropped(), 3);
        let got: Vec<u64> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|e| match e.kind {
                EventKind::Line { id, .. } => id,
                _ => u64::MAX,
            })
            .collect();
        assert_eq!(got, [0, 1]);
        drop(rx);
        bus.publish(|| line(9));
        assert!(!bus.is_active());
    }

    #[test]
    fn a_filtered_subscriber_gets_only_what_it_wants_and_keeps_its_room() {
        let bus = EventBus::new("S".into());
        let odd: Filter = Some(Arc::new(
            |k: &EventKind| matches!(k, EventKind::Line { id, .. } if id % 2 == 1),
        ));
        let rx = bus.subscribe_filtered(2, odd);
        for i in 0..6 {
            bus.publish(|| line(i));
        }
        let got: Vec<u64> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|e| match e.kind {
                EventKind::Line { id, .. } => id,
                _ => u64::MAX,
            })
            .collect();
        assert_eq!(
            got,
            [1, 3],
            "5 found the channel full; the even ones never took room"
        );
        // Once every subscriber is full nothing is built, so nothing is filtered either: 4 and
        // 5 both count as dropped.
        assert_eq!(bus.dropped(), 2);
    }
}
