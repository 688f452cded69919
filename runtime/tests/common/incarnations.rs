//! The checks of a kill test across the incarnations of a killed receiver, from
//! what each printed: the data frames it handed on, `(session, sequence, id)` in
//! arrival order, and per session the highest sequence its ACKs had delivered.
//! Shared by the runtime's kill test and `sinkgen relay`'s subscriber kill test
//! (which includes this file by path).

use std::collections::{BTreeSet, HashMap};

/// What one incarnation printed before it was killed.
pub type Printed<'a> = (&'a [(u64, u64, u64)], &'a HashMap<u64, u64>);

/// Asserts that each incarnation (a `who`) received each producer's frames in
/// order without duplicates, and that no frame an incarnation acknowledged reached
/// a later one. Returns the ids received and how many were received again (frames
/// of a killed incarnation's last, unacknowledged read).
pub fn check(who: &str, printed: &[Printed<'_>]) -> (BTreeSet<u64>, u64) {
    for (i, (frames, _)) in printed.iter().enumerate() {
        let mut last: HashMap<u64, u64> = HashMap::new();
        for &(s, q, _) in *frames {
            let l = last.entry(s).or_insert(0);
            assert!(q > *l, "{who} {i}: sequence {q} after {l}");
            *l = q;
        }
    }
    let mut acked_by: HashMap<(u64, u64), usize> = HashMap::new();
    let mut received = BTreeSet::new();
    let mut again = 0;
    for (i, (frames, acked)) in printed.iter().enumerate() {
        for &(s, q, id) in *frames {
            if let Some(j) = acked_by.get(&(s, q)) {
                panic!("({s}, {q}) acknowledged by {who} {j} and received again by {i}");
            }
            if !received.insert(id) {
                again += 1;
            }
        }
        for &(s, q, _) in *frames {
            if acked.get(&s).is_some_and(|&a| q <= a) {
                acked_by.insert((s, q), i);
            }
        }
    }
    (received, again)
}
