//! Frames of a durable relay's stream held back until the frames before them come.
//!
//! A stream stores a producer's frames in the order the stream's leader stored them,
//! which is the sequence's order except around a leader change: a publish sent to a
//! leader that died is lost and published again by the sink once it knows, by which
//! time frames it published after it may be stored already (the sink ends its
//! connection at the first failed acknowledgement, which keeps such a stretch short).
//! A subscription that handed those later frames out first would have to call the
//! earlier one a gap and then drop it as old: a loss reported for a frame that was
//! stored.
//!
//! So a subscription to a durable relay holds a producer's frames that come after a
//! hole in its sequence, and hands them out, in order, once the hole is filled. A hole
//! that stays open for the relay's [`reorder_wait`](crate::durable::Durable::reorder_wait)
//! (the producer died before it could publish again, or the stream lost the frames)
//! is given up: the held frames are handed out and the hole becomes a gap item, as on
//! any other relay. At most [`HOLD_MAX`] frames are held; past it, the producer whose
//! hole is oldest is given up early.
//!
//! Held frames are not acknowledged to the server until they are handed out (each one
//! carries its acknowledgement, a `T`), so a subscription that ends while it holds
//! some gets them again, from the stream, on its next start.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;

/// Frames held at most, over all producers.
pub(crate) const HOLD_MAX: usize = 8192;

/// One producer's held frames.
struct Held<T> {
    frames: BTreeMap<u64, (Bytes, T)>,
    /// When the hole is given up.
    until: Instant,
    /// Given up: hand every held frame out, lowest first.
    giving_up: bool,
}

/// A frame leaving the hold.
pub(crate) struct Released<T> {
    pub(crate) session: u64,
    pub(crate) sequence: u64,
    pub(crate) body: Bytes,
    pub(crate) ticket: T,
}

/// The held frames of every producer (see the module docs).
pub(crate) struct Hold<T> {
    sessions: HashMap<u64, Held<T>>,
    count: usize,
    wait: Duration,
}

impl<T> Hold<T> {
    /// A hold that gives a hole up after `wait`.
    pub(crate) fn new(wait: Duration) -> Hold<T> {
        Hold {
            sessions: HashMap::new(),
            count: 0,
            wait,
        }
    }

    /// Frames held now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// Whether no frame is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// A frame read from the stream: returned to be handed out now, or held (`None`)
    /// when its session is under way (`expects`: the sequence it waits for) and it
    /// comes after a hole. A frame already held is dropped (the server sent it again;
    /// the held copy's ticket stands for both). `now` is asked only to hold a frame.
    pub(crate) fn offer(
        &mut self,
        session: u64,
        sequence: u64,
        expects: Option<u64>,
        body: Bytes,
        ticket: T,
        now: impl FnOnce() -> Instant,
    ) -> Option<(Bytes, T)> {
        // The next one, an old one (a duplicate to drop), or a session's first.
        if !matches!(expects, Some(next) if sequence > next) {
            return Some((body, ticket));
        }
        let now = now();
        let wait = self.wait;
        let held = self.sessions.entry(session).or_insert_with(|| Held {
            frames: BTreeMap::new(),
            until: now + wait,
            giving_up: false,
        });
        if held.frames.is_empty() {
            held.until = now + wait;
        }
        if held.frames.contains_key(&sequence) {
            return None;
        }
        held.frames.insert(sequence, (body, ticket));
        self.count += 1;
        if self.count > HOLD_MAX {
            // Give up the oldest hole (not yet given up) to make room.
            if let Some(h) = self
                .sessions
                .values_mut()
                .filter(|h| !h.giving_up)
                .min_by_key(|h| h.until)
            {
                h.giving_up = true;
            }
        }
        None
    }

    /// The next held frame to hand out, if any: one whose hole was filled (or an old
    /// one, now a duplicate), or the lowest of a producer whose hole was given up (its
    /// wait ran out by `now`).
    pub(crate) fn release(
        &mut self,
        expects: impl Fn(u64) -> Option<u64>,
        now: Instant,
    ) -> Option<Released<T>> {
        if self.count == 0 {
            return None;
        }
        let (&session, held) = self.sessions.iter_mut().find(|(session, held)| {
            let Some((&lowest, _)) = held.frames.first_key_value() else {
                return false;
            };
            held.giving_up
                || now >= held.until
                || expects(**session).is_none_or(|next| lowest <= next)
        })?;
        if now >= held.until {
            held.giving_up = true;
        }
        let (sequence, (body, ticket)) = held.frames.pop_first().expect("not empty");
        if held.frames.is_empty() {
            self.sessions.remove(&session);
        }
        self.count -= 1;
        Some(Released {
            session,
            sequence,
            body,
            ticket,
        })
    }

    /// When the oldest open hole is given up, if any is open.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.sessions.values().map(|h| h.until).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The frames `hold` releases now, as (session, sequence), advancing `have` (the
    /// receiver's next expected sequence per session) as a receiver would.
    fn drain(hold: &mut Hold<u64>, have: &mut HashMap<u64, u64>, now: Instant) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        while let Some(r) = hold.release(|s| have.get(&s).copied(), now) {
            assert_eq!(r.ticket, r.sequence, "a frame keeps its own ticket");
            let next = have.entry(r.session).or_insert(r.sequence);
            *next = (*next).max(r.sequence + 1);
            out.push((r.session, r.sequence));
        }
        out
    }

    /// Offers (session, sequence) frames in turn; returns what is handed out, in order.
    fn run(hold: &mut Hold<u64>, frames: &[(u64, u64)], now: Instant) -> Vec<(u64, u64)> {
        let mut have = HashMap::new();
        let mut out = Vec::new();
        for &(session, sequence) in frames {
            out.extend(drain(hold, &mut have, now));
            let expects = have.get(&session).copied();
            if hold
                .offer(session, sequence, expects, Bytes::new(), sequence, || now)
                .is_some()
            {
                let next = have.entry(session).or_insert(sequence);
                *next = (*next).max(sequence + 1);
                out.push((session, sequence));
            }
        }
        out.extend(drain(hold, &mut have, now));
        out
    }

    #[test]
    fn frames_after_a_hole_wait_for_it_and_other_producers_do_not() {
        let mut hold = Hold::new(Duration::from_secs(10));
        let now = Instant::now();
        let out = run(
            &mut hold,
            &[
                (1, 1),
                (1, 2),
                (1, 5),
                (2, 1),
                (1, 6),
                (2, 2),
                (1, 3),
                (1, 4),
                (1, 7),
            ],
            now,
        );
        assert_eq!(
            out,
            [
                (1, 1),
                (1, 2),
                (2, 1),
                (2, 2),
                (1, 3),
                (1, 4),
                (1, 5),
                (1, 6),
                (1, 7)
            ]
        );
        assert_eq!(hold.len(), 0);
        assert_eq!(hold.deadline(), None);
    }

    #[test]
    fn a_frame_sent_again_while_held_is_held_once() {
        let mut hold = Hold::new(Duration::from_secs(10));
        let now = Instant::now();
        let out = run(&mut hold, &[(1, 1), (1, 3), (1, 3), (1, 1), (1, 2)], now);
        // The old 1 is handed on (the receiver drops it as a duplicate); 3 once.
        assert_eq!(out, [(1, 1), (1, 1), (1, 2), (1, 3)]);
    }

    #[test]
    fn a_hole_that_stays_open_is_given_up_after_the_wait() {
        let wait = Duration::from_millis(300);
        let mut hold = Hold::new(wait);
        let start = Instant::now();
        let out = run(&mut hold, &[(1, 1), (1, 3), (1, 4), (1, 6)], start);
        assert_eq!(out, [(1, 1)]);
        assert_eq!(hold.deadline(), Some(start + wait));
        let mut have = HashMap::from([(1, 2)]);
        assert_eq!(drain(&mut hold, &mut have, start + wait / 2), []);
        // Given up: everything held comes out in order (the receiver reports the
        // holes before 3 and 6 as gaps).
        assert_eq!(
            drain(&mut hold, &mut have, start + wait),
            [(1, 3), (1, 4), (1, 6)]
        );
        assert_eq!(hold.len(), 0);
    }

    #[test]
    fn past_the_bound_the_oldest_hole_is_given_up() {
        let mut hold = Hold::new(Duration::from_secs(10));
        let now = Instant::now();
        let mut have = HashMap::from([(1, 2), (2, 2)]);
        // Producer 1's hole opens first, producer 2's a moment later.
        assert!(hold.offer(1, 3, Some(2), Bytes::new(), 3, || now).is_none());
        let later = now + Duration::from_millis(1);
        for s in 3..3 + HOLD_MAX as u64 {
            assert!(
                hold.offer(2, s, Some(2), Bytes::new(), s, || later)
                    .is_none()
            );
        }
        assert_eq!(hold.len(), HOLD_MAX + 1);
        // Producer 1 is given up; producer 2 still waits for its frame 2.
        assert_eq!(drain(&mut hold, &mut have, later), [(1, 3)]);
        assert_eq!(hold.len(), HOLD_MAX);
    }
}
