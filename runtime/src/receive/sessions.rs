//! De-duplication per producer session, gap detection and pending acknowledgements.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::Producer;
use crate::protocol::Control;

/// Producer sessions a receiver remembers at most; past it, the one unheard of longest
/// is forgotten (a producer that restarts often makes a new session each time; memory
/// stays bounded). A forgotten session that speaks again starts afresh, without a gap.
pub(crate) const MAX_SESSIONS: usize = 4096;

struct Session {
    id: u64,
    /// Highest sequence received in order (handed on, or known missing).
    have: u64,
    /// The first sequence this receiver saw of the session (what came before it was
    /// received by an earlier run, or is older than the receiver's start).
    first: u64,
    producer: Producer,
    /// A data frame or gap of this session came (`have` means something).
    started: bool,
    /// `have` advanced (or a duplicate came) since the last acknowledgement.
    unacked: bool,
    last_heard: u64,
}

/// What to do with a data frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Already received: drop it (but acknowledge).
    Duplicate,
    /// Older than the first frame this receiver saw of the session, and behind it: a
    /// frame a durable relay's stream stored late (see `receive::hold`) that comes
    /// after a restart. Handing it out would break the order: it is reported as a
    /// gap of one instead.
    Late,
    /// The next one: hand it on.
    Next,
    /// Hand it on after a gap of this many frames.
    After(u64),
}

/// Session ids are random: they hash as themselves.
#[derive(Default, Clone, Copy)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[derive(Default)]
pub(crate) struct Sessions {
    all: Vec<Session>,
    index: HashMap<u64, usize, BuildHasherDefault<IdHasher>>,
    /// Where the last session looked up is (most frames follow one of the same).
    last: usize,
    clock: u64,
    unacked: usize,
}

impl Sessions {
    #[inline]
    fn entry(&mut self, session: u64) -> &mut Session {
        self.clock += 1;
        let at = match self.all.get(self.last) {
            Some(s) if s.id == session => self.last,
            _ => match self.index.get(&session) {
                Some(&at) => at,
                None => self.insert(session),
            },
        };
        self.last = at;
        let s = &mut self.all[at];
        s.last_heard = self.clock;
        s
    }

    fn insert(&mut self, session: u64) -> usize {
        if self.all.len() >= MAX_SESSIONS {
            let (oldest, _) = self
                .all
                .iter()
                .enumerate()
                .min_by_key(|(_, s)| s.last_heard)
                .expect("not empty");
            let gone = self.all.swap_remove(oldest);
            self.index.remove(&gone.id);
            if gone.unacked {
                self.unacked -= 1;
            }
            if let Some(moved) = self.all.get(oldest) {
                self.index.insert(moved.id, oldest);
            }
        }
        self.all.push(Session {
            id: session,
            have: 0,
            first: 0,
            started: false,
            producer: Producer::new("", "", session),
            unacked: false,
            last_heard: 0,
        });
        let at = self.all.len() - 1;
        self.index.insert(session, at);
        at
    }

    fn mark(unacked: &mut usize, s: &mut Session) {
        if !s.unacked {
            s.unacked = true;
            *unacked += 1;
        }
    }

    /// Names the producer of `session` (a relay's PRODUCER, a direct sender's HELLO).
    pub(crate) fn name(&mut self, session: u64, service: &str, sink: &str) {
        let s = self.entry(session);
        if s.producer.service() != service || s.producer.sink() != sink {
            s.producer = Producer::new(service, sink, session);
        }
    }

    /// The highest sequence of `session` received in order (0: none).
    pub(crate) fn have(&self, session: u64) -> u64 {
        self.index.get(&session).map_or(0, |&at| self.all[at].have)
    }

    /// The sequence `session` waits for next, once a frame or gap of it came.
    #[cfg(feature = "nats")]
    pub(crate) fn expects(&self, session: u64) -> Option<u64> {
        let s = &self.all[*self.index.get(&session)?];
        s.started.then(|| s.have.saturating_add(1))
    }

    /// Judges a data frame of `session` at `sequence`. The first frame of a session
    /// never seen starts it (no gap before it).
    #[inline]
    pub(crate) fn data(&mut self, session: u64, sequence: u64) -> (Verdict, Producer) {
        let mut unacked = self.unacked;
        let s = self.entry(session);
        if !s.started {
            s.started = true;
            s.have = sequence.saturating_sub(1);
            s.first = sequence;
        }
        let verdict = if sequence < s.first {
            Verdict::Late
        } else if sequence <= s.have {
            Verdict::Duplicate
        } else if sequence == s.have + 1 {
            Verdict::Next
        } else {
            Verdict::After(sequence - s.have - 1)
        };
        s.have = s.have.max(sequence);
        Self::mark(&mut unacked, s);
        let producer = s.producer.clone();
        self.unacked = unacked;
        (verdict, producer)
    }

    /// A relay's GAP: `count` frames from `first` will never come. Returns the producer
    /// and how many of them were not already received.
    pub(crate) fn gap(&mut self, session: u64, first: u64, count: u64) -> (Producer, u64) {
        let mut unacked = self.unacked;
        let last = first.saturating_add(count).saturating_sub(1);
        let s = self.entry(session);
        if !s.started {
            s.started = true;
            s.have = first.saturating_sub(1);
            s.first = first;
        }
        let missed = last.saturating_sub(s.have.max(first.saturating_sub(1)));
        s.have = s.have.max(last);
        Self::mark(&mut unacked, s);
        let producer = s.producer.clone();
        self.unacked = unacked;
        (producer, missed)
    }

    /// Whether some session waits for an acknowledgement.
    pub(crate) fn unacked(&self) -> bool {
        self.unacked > 0
    }

    /// Appends one ACK per session that advanced since the last call.
    pub(crate) fn take_acks(&mut self, out: &mut Vec<u8>, now: u64) {
        if self.unacked == 0 {
            return;
        }
        for s in &mut self.all {
            if s.unacked {
                s.unacked = false;
                Control::Ack {
                    session: s.id,
                    sequence: s.have,
                }
                .append(out, now);
            }
        }
        self.unacked = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_gaps_and_acks() {
        let mut s = Sessions::default();
        s.name(7, "strategy", "quotes");
        assert_eq!(s.data(7, 1).0, Verdict::Next);
        assert_eq!(s.data(7, 2).0, Verdict::Next);
        assert_eq!(s.data(7, 2).0, Verdict::Duplicate);
        let (v, p) = s.data(7, 5);
        assert_eq!(
            (v, p.service(), p.sink()),
            (Verdict::After(2), "strategy", "quotes")
        );
        assert_eq!(s.gap(7, 6, 10).1, 10);
        assert_eq!(s.data(7, 16).0, Verdict::Next);
        assert_eq!(s.gap(7, 10, 3).1, 0, "already past");
        let mut out = Vec::new();
        s.take_acks(&mut out, 0);
        let (f, _) = crate::protocol::decode(&out, 1024).unwrap().unwrap();
        assert_eq!(
            Control::parse(&f).unwrap(),
            Control::Ack {
                session: 7,
                sequence: 16
            }
        );
        assert!(!s.unacked());
    }

    #[test]
    fn a_frame_older_than_the_first_one_seen_is_late() {
        let mut s = Sessions::default();
        assert_eq!(s.data(3, 5).0, Verdict::Next);
        assert_eq!(s.data(3, 6).0, Verdict::Next);
        assert_eq!(s.data(3, 4).0, Verdict::Late);
        assert_eq!(s.data(3, 6).0, Verdict::Duplicate);
        assert_eq!(s.data(3, 7).0, Verdict::Next);
    }

    #[test]
    fn a_session_first_seen_mid_stream_starts_there() {
        let mut s = Sessions::default();
        s.name(9, "strategy", "quotes");
        assert_eq!(s.data(9, 500).0, Verdict::Next);
        assert_eq!(s.data(9, 501).0, Verdict::Next);
    }

    #[test]
    fn sessions_are_bounded() {
        let mut s = Sessions::default();
        for session in 1..=(MAX_SESSIONS as u64 + 10) {
            s.data(session, 1);
        }
        assert_eq!((s.all.len(), s.index.len()), (MAX_SESSIONS, MAX_SESSIONS));
        for (at, session) in s.all.iter().enumerate() {
            assert_eq!(s.index[&session.id], at);
        }
        assert_eq!(s.have(1), 0, "the oldest was forgotten");
    }
}
