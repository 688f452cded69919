//! The state of one `sinkgen` relay: producers' sessions, and per declared
//! subscriber its backlog (frames not yet acknowledged by it, and gap notices in
//! place of the frames dropped from it).
//!
//! Everything here runs under one lock per relay, taken once per read batch.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::now_nanos;
use bytes::Bytes;
use sinkgen_runtime::protocol::Control;
use tokio::sync::Notify;

use crate::stats::RelayStats;

/// A relay's shared state.
pub(crate) struct Hub {
    backlog: usize,
    pub(crate) stats: Arc<RelayStats>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    producers: HashMap<u64, Producer>,
    subs: Vec<Sub>,
    next_conn: u64,
}

struct Producer {
    service: String,
    sink: String,
    /// Highest sequence received in order.
    have: u64,
    /// Woken when a subscriber's progress may let the relay acknowledge more.
    wake: Arc<Notify>,
}

#[derive(Default)]
struct Sub {
    queue: VecDeque<Item>,
    /// Items at the front of `queue` already written to the current connection.
    written: usize,
    /// Data items not acknowledged (nor dropped): the backlog's depth.
    live: usize,
    /// The current connection, 0 when none.
    conn: u64,
    /// Not connected yet since the relay started, and the start's grace period is
    /// not over: the relay does not acknowledge on its behalf (see [`Hub::ackable`]).
    expected: bool,
    /// Sessions named (PRODUCER) on the current connection.
    announced: HashSet<u64>,
    /// The connection the current one replaced, still read for its last
    /// acknowledgements, with the highest sequence of each session written on it.
    replaced: Option<(u64, HashMap<u64, u64>)>,
    views: HashMap<u64, View>,
    wake: Arc<Notify>,
}

/// One subscriber's progress in one producer session.
#[derive(Default)]
struct View {
    /// Data items of the session in the backlog.
    live: usize,
    /// Every frame of the session up to here is acknowledged by, or dropped for, the
    /// subscriber (frames of a session leave a backlog in sequence order).
    floor: u64,
}

enum Item {
    Data {
        session: u64,
        seq: u64,
        frame: Bytes,
        /// Acknowledged, or dropped while in flight: no longer part of the backlog.
        gone: bool,
    },
    Gap {
        session: u64,
        first: u64,
        count: u64,
    },
    /// A gap notice already written.
    Done,
}

impl Item {
    fn is_live(&self) -> bool {
        matches!(self, Item::Data { gone: false, .. })
    }
}

/// What happened to one batch from a producer.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Published {
    pub(crate) accepted: u64,
    pub(crate) duplicates: u64,
    /// Frames that never came from upstream (a hole in the producer's sequence).
    pub(crate) missing: u64,
}

/// A subscriber's backlog at the end: what could not be delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Left {
    pub(crate) subscriber: String,
    pub(crate) frames: usize,
    pub(crate) connected: bool,
}

impl Hub {
    pub(crate) fn new(name: &str, subscribers: &[String], backlog: usize) -> Hub {
        let stats = RelayStats::new(name, subscribers);
        let state = State {
            subs: subscribers
                .iter()
                .map(|_| Sub {
                    expected: true,
                    ..Sub::default()
                })
                .collect(),
            ..State::default()
        };
        Hub {
            backlog: backlog.max(1),
            stats,
            state: Mutex::new(state),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic under the lock leaves plain counters and queues: still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A producer session says hello: returns the highest sequence of it the relay
    /// has, and what wakes its connection when more can be acknowledged.
    pub(crate) fn producer_hello(
        &self,
        session: u64,
        service: &str,
        sink: &str,
    ) -> (u64, Arc<Notify>) {
        let mut st = self.lock();
        let p = st.producers.entry(session).or_insert_with(|| Producer {
            service: service.to_owned(),
            sink: sink.to_owned(),
            have: 0,
            wake: Arc::new(Notify::new()),
        });
        (p.have, p.wake.clone())
    }

    /// Takes one producer read batch of `(sequence, whole frame)` of `session`.
    pub(crate) fn publish(&self, session: u64, frames: Vec<(u64, Bytes)>) -> Published {
        let mut out = Published::default();
        let mut guard = self.lock();
        let st = &mut *guard;
        let Some(p) = st.producers.get_mut(&session) else {
            return out;
        };
        for (seq, frame) in frames {
            if seq <= p.have {
                out.duplicates += 1;
                continue;
            }
            out.missing += seq - p.have - 1;
            p.have = seq;
            out.accepted += 1;
            for (i, sub) in st.subs.iter_mut().enumerate() {
                let dropped = sub.push(session, seq, frame.clone(), self.backlog);
                if dropped > 0 {
                    self.stats.subscribers[i].dropped(dropped);
                    self.stats.dropped(dropped);
                }
            }
        }
        for (i, sub) in st.subs.iter().enumerate() {
            self.stats.subscribers[i].depth(sub.live);
            if out.accepted > 0 {
                sub.wake.notify_one();
            }
        }
        out
    }

    /// The highest sequence of `session` the relay may acknowledge to its producer:
    /// for every declared subscriber, acknowledged by it, held for it while it is
    /// away, or dropped from its backlog.
    ///
    /// A subscriber that has not connected since the relay started counts as away only
    /// once the start's grace period is over ([`Hub::grace_over`]): a relay restarted
    /// after a crash would otherwise acknowledge, on behalf of subscribers still
    /// reconnecting, frames that die with it if it crashes again, and a subscriber
    /// that was connected all along would see a gap.
    pub(crate) fn ackable(&self, session: u64) -> u64 {
        let st = self.lock();
        let Some(p) = st.producers.get(&session) else {
            return 0;
        };
        st.subs
            .iter()
            .map(|sub| match sub.views.get(&session) {
                _ if sub.conn == 0 && !sub.expected => p.have,
                Some(v) if v.live > 0 => v.floor,
                _ => p.have,
            })
            .min()
            .unwrap_or(p.have)
    }

    /// The grace period after the relay's start is over: subscribers that have not
    /// connected yet count as away from now on.
    pub(crate) fn grace_over(&self) {
        let mut st = self.lock();
        st.subs.iter_mut().for_each(|s| s.expected = false);
        st.wake_producers(None);
    }

    /// Subscriber `idx` connects: its backlog is written again from the start.
    pub(crate) fn subscriber_connect(&self, idx: usize) -> (u64, Arc<Notify>) {
        let mut st = self.lock();
        st.next_conn += 1;
        let conn = st.next_conn;
        let sub = &mut st.subs[idx];
        // A connection still open is being replaced: what it acknowledges before its
        // end still counts, up to what was written on it.
        sub.replaced = (sub.conn != 0).then(|| (sub.conn, sub.written_upto()));
        sub.conn = conn;
        sub.expected = false;
        sub.written = 0;
        sub.announced.clear();
        // A connection it replaces stops at its next look at the queue; the new one
        // has its own wake-up, so that none is lost to the old one.
        std::mem::replace(&mut sub.wake, Arc::new(Notify::new())).notify_one();
        (conn, sub.wake.clone())
    }

    /// Subscriber `idx`'s connection `conn` ended (a replaced one changes nothing).
    pub(crate) fn subscriber_gone(&self, idx: usize, conn: u64) {
        let mut st = self.lock();
        let sub = &mut st.subs[idx];
        if sub.conn != conn {
            if sub.replaced.as_ref().is_some_and(|(c, _)| *c == conn) {
                sub.replaced = None;
            }
            return;
        }
        sub.conn = 0;
        sub.written = 0;
        // What it held unacknowledged now counts as held for an absent subscriber.
        st.wake_producers(None);
    }

    /// Subscriber `idx` acknowledges `session` up to `seq` on connection `conn`: the
    /// current connection (for frames written on it), or the one it replaced (for
    /// frames written on that one, wherever they are in the backlog now: its
    /// successor need not get what the subscriber acknowledged before it went).
    pub(crate) fn subscriber_ack(&self, idx: usize, conn: u64, session: u64, seq: u64) {
        let mut st = self.lock();
        let sub = &mut st.subs[idx];
        let (seq, within) = if sub.conn == conn {
            (seq, sub.written)
        } else {
            match &sub.replaced {
                Some((c, upto)) if *c == conn => (
                    seq.min(upto.get(&session).copied().unwrap_or(0)),
                    sub.queue.len(),
                ),
                _ => return,
            }
        };
        for item in sub.queue.iter_mut().take(within) {
            if let Item::Data {
                session: s,
                seq: q,
                gone: gone @ false,
                ..
            } = item
                && *s == session
                && *q <= seq
            {
                *gone = true;
                sub.live -= 1;
                if let Some(v) = sub.views.get_mut(&session) {
                    v.live -= 1;
                }
            }
        }
        let view = sub.views.entry(session).or_default();
        view.floor = view.floor.max(seq);
        sub.compact();
        self.stats.subscribers[idx].depth(sub.live);
        st.wake_producers(Some(session));
    }

    /// Appends to `buf` what subscriber `idx` has not been sent on connection `conn`,
    /// up to about `max` bytes; returns the data frames appended, or `None` when the
    /// connection was replaced.
    pub(crate) fn take(&self, idx: usize, conn: u64, buf: &mut Vec<u8>, max: usize) -> Option<u64> {
        let mut guard = self.lock();
        let st = &mut *guard;
        let sub = &mut st.subs[idx];
        if sub.conn != conn {
            return None;
        }
        let mut frames = 0;
        let now = now_nanos();
        while sub.written < sub.queue.len() && buf.len() < max {
            let item = &mut sub.queue[sub.written];
            sub.written += 1;
            let session = match item {
                Item::Data {
                    session,
                    gone: false,
                    ..
                }
                | Item::Gap { session, .. } => *session,
                Item::Data { gone: true, .. } | Item::Done => continue,
            };
            if sub.announced.insert(session)
                && let Some(p) = st.producers.get(&session)
            {
                Control::Producer {
                    session,
                    service: p.service.clone(),
                    sink: p.sink.clone(),
                }
                .append(buf, now);
            }
            match std::mem::replace(item, Item::Done) {
                Item::Data {
                    session,
                    seq,
                    frame,
                    gone,
                } => {
                    buf.extend_from_slice(&frame);
                    frames += 1;
                    *item = Item::Data {
                        session,
                        seq,
                        frame,
                        gone,
                    };
                }
                Item::Gap {
                    session,
                    first,
                    count,
                } => {
                    Control::Gap {
                        session,
                        first,
                        count,
                    }
                    .append(buf, now);
                }
                Item::Done => {}
            }
        }
        sub.compact();
        Some(frames)
    }

    /// Whether every connected subscriber acknowledged its whole backlog.
    pub(crate) fn delivered(&self) -> bool {
        self.lock().subs.iter().all(|s| s.conn == 0 || s.live == 0)
    }

    /// What each subscriber still holds.
    pub(crate) fn left(&self) -> Vec<Left> {
        self.lock()
            .subs
            .iter()
            .zip(&self.stats.subscribers)
            .map(|(s, stats)| Left {
                subscriber: stats.name.clone(),
                frames: s.live,
                connected: s.conn != 0,
            })
            .collect()
    }
}

impl State {
    fn wake_producers(&self, session: Option<u64>) {
        match session {
            Some(s) => {
                if let Some(p) = self.producers.get(&s) {
                    p.wake.notify_one();
                }
            }
            None => self.producers.values().for_each(|p| p.wake.notify_one()),
        }
    }
}

impl Sub {
    /// Adds a frame; past `bound` frames drops the oldest. Returns the frames dropped
    /// (reported to the subscriber by a gap notice in their place).
    fn push(&mut self, session: u64, seq: u64, frame: Bytes, bound: usize) -> u64 {
        let view = match self.views.entry(session) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(View::default()),
        };
        if view.live == 0 {
            view.floor = view.floor.max(seq - 1);
        }
        view.live += 1;
        self.live += 1;
        self.queue.push_back(Item::Data {
            session,
            seq,
            frame,
            gone: false,
        });
        let mut dropped = 0;
        while self.live > bound {
            dropped += u64::from(self.evict_oldest());
        }
        dropped
    }

    /// Drops the oldest frame of the backlog. One not yet written becomes a gap
    /// notice; one in flight (written, not acknowledged) is let go without one: the
    /// subscriber has it or, if the connection breaks, sees the hole in the sequence.
    /// Returns whether the frame counts as dropped.
    fn evict_oldest(&mut self) -> bool {
        let Some(i) = self.queue.iter().position(Item::is_live) else {
            return false;
        };
        let Item::Data { session, seq, .. } = self.queue[i] else {
            unreachable!("a live item is data");
        };
        self.live -= 1;
        let view = self
            .views
            .get_mut(&session)
            .expect("a view per session in the backlog");
        view.live -= 1;
        view.floor = view.floor.max(seq);
        if i < self.written {
            if let Item::Data { gone, .. } = &mut self.queue[i] {
                *gone = true;
            }
            self.compact();
            return false;
        }
        // Items between the written ones and `i` are notices and spent frames: join a
        // notice of the same session that ends right before this frame.
        let merged = (self.written..i).rev().any(|j| match &mut self.queue[j] {
            Item::Gap {
                session: s,
                first,
                count,
            } if *s == session && *first + *count == seq => {
                *count += 1;
                true
            }
            _ => false,
        });
        if merged {
            self.queue.remove(i);
        } else {
            self.queue[i] = Item::Gap {
                session,
                first: seq,
                count: 1,
            };
        }
        true
    }

    /// The highest sequence of each session among the items written on the current
    /// connection.
    fn written_upto(&self) -> HashMap<u64, u64> {
        let mut upto = HashMap::new();
        for item in self.queue.iter().take(self.written) {
            if let Item::Data { session, seq, .. } = item {
                let at = upto.entry(*session).or_insert(0);
                *at = (*at).max(*seq);
            }
        }
        upto
    }

    /// Forgets spent items at the front.
    fn compact(&mut self) {
        while let Some(front) = self.queue.front() {
            let spent = match front {
                Item::Data { gone, .. } => *gone,
                Item::Done => true,
                Item::Gap { .. } => false,
            };
            if !spent {
                break;
            }
            self.queue.pop_front();
            self.written = self.written.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests;
