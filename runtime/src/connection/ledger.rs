//! What a confirming transport (NATS) took and confirmed (see `handover`).

/// Frames a confirming transport (NATS) took on the current connection, as
/// cumulative (frames, bytes) pairs. They count as sent when the transport confirms
/// them, and as lost (`unconfirmed`) if the connection ends first: their fate is
/// unknown, and they are never handed on again.
#[derive(Default)]
pub(super) struct Ledger {
    /// Taken by the transport: from the task's batches, and from senders' direct
    /// hand-overs once collected (`Pending::handed_frames`).
    pub(super) taken: (u64, u64),
    /// Confirmed, so counted sent.
    pub(super) confirmed: (u64, u64),
    /// What the confirmation requested and not yet answered will confirm (one at a
    /// time).
    pub(super) requested: Option<(u64, u64)>,
}

impl Ledger {
    pub(super) fn unconfirmed(&self) -> u64 {
        self.taken.0 - self.confirmed.0
    }
}
