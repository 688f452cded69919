//! The connection task: the one writer that connects, backs off, takes batches from
//! the queue and writes them, and settles what a failed connection leaves behind.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::error::{ErrorClass, TransportError};
use crate::status::State;
use crate::transport::{Connection, Endpoint, WriteStop};

use super::counters::{LostReason, Metrics};
use super::kept::Kept;
use super::ledger::Ledger;
use super::proof::{Proof, RESAMPLE};
use super::{
    CLOSING, IDLE_SHRINK_AFTER, RUNNING, SHRINK_FLOOR, STABLE_AFTER, Shared, deadline_after, lock,
};

pub(super) enum Exit {
    Stopped(LostReason),
    Fatal(TransportError),
}

enum Check {
    Run,
    Drain(Instant),
    Exit(Exit),
}

pub(super) struct Driver {
    pub(super) shared: Arc<Shared>,
    /// The batch being written: whole frames taken from `Pending::buf`.
    pub(super) batch: Vec<u8>,
    pub(super) batch_frames: usize,
    /// The length of each frame in `batch`, when they all have the same (see
    /// `Kept`); what drains a prefix of `batch` keeps it true.
    pub(super) batch_stride: Option<usize>,
    /// Bytes of `batch` the transport took on the current connection.
    pub(super) written: usize,
    /// Frames (and bytes) of `batch[..written]` the transport skipped as over its
    /// payload limit: counted lost (`too_large`), not taken.
    batch_dropped: (usize, usize),
    /// Whether the current connection confirms frames later (NATS): frames it takes go
    /// to `ledger` instead of counting as sent.
    pub(super) confirming: bool,
    pub(super) ledger: Ledger,
    /// Whether frames are kept until acknowledged (sinkgen framing on a socket, or
    /// a durable NATS relay).
    pub(super) keeps: bool,
    /// Whether connections open with the sinkgen handshake (sinkgen framing on a
    /// socket).
    pub(super) greets: bool,
    /// Written frames not yet acknowledged (with `keeps`).
    pub(super) kept: Kept,
    /// The highest sequence of the sink's session acknowledged so far.
    pub(super) acked: u64,
    /// The highest sequence the task took from the queue (what an ACK may cover).
    pub(super) taken_upto: u64,
    /// Whether a connection got past the handshake (it may have written frames of the
    /// session): only the first carries early data.
    pub(super) opened: bool,
    /// Foreign framings: what the peer is proven to have read on this connection.
    pub(super) proof: Proof,
    /// Consecutive failures since the last stable connection (0: connect at once).
    failures: u32,
    drop_deadline: Option<Instant>,
    rng: fastrand::Rng,
    pub(super) finished: bool,
    /// The largest batch (bytes) since the give-back timer was armed (0: idle).
    peak: usize,
    /// Capacity of `Pending::buf` when the task last found the queue empty.
    queue_capacity: usize,
}

pub(super) async fn run(shared: Arc<Shared>) {
    shared.metrics.get_or_init(|| {
        let name = shared.opts.name.to_string();
        Metrics {
            frames: metrics::counter!("sinkgen_frames_sent_total", "sink" => name.clone()),
            bytes: metrics::counter!("sinkgen_bytes_sent_total", "sink" => name.clone()),
            attempts: metrics::counter!("sinkgen_connect_attempts_total", "sink" => name),
        }
    });
    let keeps = shared.opts.framing == crate::framing::Framing::Sinkgen
        && matches!(
            shared.opts.endpoint,
            Ok(Endpoint::Unix(_) | Endpoint::Tcp(_))
        );
    #[cfg(feature = "tls")]
    let keeps = keeps
        || (shared.opts.framing == crate::framing::Framing::Sinkgen
            && matches!(shared.opts.endpoint, Ok(Endpoint::TcpTls(..))));
    // Sockets speak the handshake (and may send early data); JetStream does not.
    let greets = keeps;
    // A durable NATS relay acknowledges through JetStream (see `crate::durable`).
    #[cfg(feature = "nats")]
    let keeps = keeps || matches!(shared.opts.endpoint, Ok(Endpoint::Jet(..)));
    let mut driver = Driver {
        shared,
        keeps,
        greets,
        kept: Kept::default(),
        acked: 0,
        taken_upto: 0,
        opened: false,
        proof: Proof::default(),
        batch: Vec::new(),
        batch_frames: 0,
        batch_stride: None,
        written: 0,
        batch_dropped: (0, 0),
        confirming: false,
        ledger: Ledger::default(),
        failures: 0,
        drop_deadline: None,
        rng: fastrand::Rng::new(),
        finished: false,
        peak: 0,
        queue_capacity: 0,
    };
    let exit = driver.connect_loop().await;
    driver.finish(exit);
}

/// Resolves when the task must look at its stop state again: at the drain deadline
/// while draining, else when a stop is requested.
pub(super) async fn interrupt(stop: &Notify, drain: Option<Instant>) {
    match drain {
        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
        None => stop.notified().await,
    }
}

/// [`interrupt`], or the deadline for the peer's answer to HELLO on a connection
/// with early data, whichever comes first.
async fn interrupt_until(stop: &Notify, drain: Option<Instant>, welcome_by: Option<Instant>) {
    let Some(at) = welcome_by else {
        return interrupt(stop, drain).await;
    };
    tokio::select! {
        () = interrupt(stop, drain) => {}
        () = tokio::time::sleep_until(at.into()) => {}
    }
}

impl Driver {
    /// One scheduling round before the next batch is taken, so that a fast sender
    /// adds to it; skipped on a socket whose peer acknowledges while a sender waits
    /// for room in the queue.
    ///
    /// Such a sender is held by the `queue` bound, which counts unacknowledged
    /// frames: nothing is added to the batch until an ACK frees room, so the round
    /// cannot make it larger. It only costs: on the multi-thread runtime, a yield
    /// puts the task back in the run queue, where the sender an ACK wakes joins it,
    /// and tokio wakes an idle worker to share the work, which mostly finds none
    /// left. A streaming sender meets this about once per ACK. The `acked` benchmark
    /// (64 B, queue 4096, two workers, the acknowledged sink alone) counted
    /// 7,700-8,500 context switches per run with the round and 3,300-4,300 without,
    /// and about 8% less CPU time per frame without (BENCHMARKS.md, "ninth look"). A
    /// sender that is not held keeps the round: there it is what lets a batch grow.
    async fn round_for_batch(&self) {
        if self.keeps && !self.confirming && lock(&self.shared.pending).space_waiters > 0 {
            return;
        }
        tokio::task::yield_now().await;
    }

    /// Whether senders queued frames the task has not taken.
    fn queued(&self) -> bool {
        lock(&self.shared.pending).frames > 0
    }

    /// Nothing queued, nothing being written, nothing waiting for confirmation.
    fn nothing_queued(&self) -> bool {
        if !self.batch.is_empty() || self.ledger.unconfirmed() > 0 || self.kept.frames > 0 {
            return false;
        }
        let p = lock(&self.shared.pending);
        p.frames == 0 && p.handed_frames == 0 && p.direct_kept_frames == 0 && !p.turn
    }

    fn check(&mut self, connected: bool) -> Check {
        let deadline = match self.shared.stop_mode.load(Ordering::SeqCst) {
            RUNNING => return Check::Run,
            CLOSING => lock(&self.shared.info)
                .close_deadline
                .unwrap_or_else(Instant::now),
            _ => {
                if !connected {
                    return Check::Exit(Exit::Stopped(LostReason::Dropped));
                }
                *self.drop_deadline.get_or_insert_with(|| {
                    deadline_after(Instant::now(), self.shared.opts.send_timeout)
                })
            }
        };
        let reason = if self.shared.stop_mode.load(Ordering::SeqCst) == CLOSING {
            LostReason::Closed
        } else {
            LostReason::Dropped
        };
        if self.nothing_queued() || Instant::now() >= deadline {
            return Check::Exit(Exit::Stopped(reason));
        }
        Check::Drain(deadline)
    }

    fn backoff_delay(&mut self) -> Duration {
        let opts = &self.shared.opts;
        super::backoff::delay(
            opts.backoff_initial,
            opts.backoff_max,
            self.failures,
            &mut self.rng,
        )
    }

    async fn connect_loop(&mut self) -> Exit {
        let shared = Arc::clone(&self.shared);
        let endpoint = match &shared.opts.endpoint {
            Ok(e) => e.clone(),
            Err(e) => return Exit::Fatal(e.clone()),
        };
        loop {
            let mut drain = match self.check(false) {
                Check::Run => None,
                Check::Drain(d) => Some(d),
                Check::Exit(e) => return e,
            };
            if self.failures > 0
                && let Err(exit) = self.back_off(&mut drain).await
            {
                return exit;
            }
            // The first connection writes the first frames with its HELLO (early
            // data, see `Driver::greeting`): they are taken before it opens.
            if self.greets && !self.opened && self.batch.is_empty() && self.queued() {
                self.take_pending();
            }
            let mut conn = match self.attempt(&endpoint, &mut drain).await {
                Ok(Some(conn)) => conn,
                Ok(None) => continue,
                Err(exit) => return exit,
            };
            self.opened = true;
            self.written += conn.take_early_written();
            self.confirming = conn.confirms();
            self.ledger = Ledger::default();
            if self.keeps {
                self.welcomed(conn.welcome_have());
            }
            self.proof = Proof::new(!self.keeps && conn.can_prove_reads());
            if self.proof.on {
                conn.track_reads();
            }
            if let Some(limit) = conn.max_payload() {
                shared.payload_limit.store(limit, Ordering::Relaxed);
            }
            {
                let mut p = lock(&shared.pending);
                // Senders write sparse frames directly; with acknowledged delivery
                // they leave them for the task to keep (`Pending::direct_kept`).
                p.inline = conn.inline();
                p.keeping = self.keeps;
                p.connected = true;
                p.generation += 1;
                p.direct_sent = (0, 0);
            }
            shared.down.store(false, Ordering::Release);
            shared.set_state(State::Connected, None);
            let up = Instant::now();
            let served = self.serve(&mut conn).await;
            self.detach_inline();
            // A confirmation or acknowledgements that arrived meanwhile still count.
            if self.confirming && conn.poll_confirmed() {
                self.confirmed();
            }
            // Also acknowledgements the peer sent before it went that the reactor
            // had not yet reported when the connection failed.
            conn.read_rest_acks();
            if let Some(upto) = conn.acked() {
                self.acknowledge(upto);
            }
            match served {
                Ok(exit) => {
                    if self.written == 0 && !self.confirming {
                        conn.shutdown().await;
                    }
                    return exit;
                }
                Err(e) => {
                    self.connection_failed();
                    self.requeue_kept();
                    self.unproven_lost(&conn, &e);
                    let stable = STABLE_AFTER.max(shared.opts.backoff_max);
                    if up.elapsed() >= stable {
                        self.failures = 0;
                    } else {
                        self.failures += 1;
                    }
                    shared.record_error(&e, true);
                    if e.class() == ErrorClass::Fatal {
                        return Exit::Fatal(e);
                    }
                }
            }
        }
    }

    /// Waits out the backoff delay before the next attempt (state `Backoff`), noticing
    /// a stop meanwhile; `Err` when the task must exit.
    async fn back_off(&mut self, drain: &mut Option<Instant>) -> Result<(), Exit> {
        let shared = Arc::clone(&self.shared);
        let at = deadline_after(Instant::now(), self.backoff_delay());
        shared.down.store(true, Ordering::Release);
        shared.set_state(State::Backoff, Some(at));
        let sleep = tokio::time::sleep_until(at.into());
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => break,
                () = interrupt(&shared.stop, *drain) => match self.check(false) {
                    Check::Run => {}
                    Check::Drain(d) => *drain = Some(d),
                    Check::Exit(e) => return Err(e),
                },
            }
        }
        Ok(())
    }

    /// One connect attempt, bounded by `connect_timeout` (state `Connecting`):
    /// `Ok(None)` after a retryable failure (counted), `Err` when the task must exit.
    async fn attempt(
        &mut self,
        endpoint: &Endpoint,
        drain: &mut Option<Instant>,
    ) -> Result<Option<Connection>, Exit> {
        let shared = Arc::clone(&self.shared);
        shared.set_state(State::Connecting, None);
        shared.attempts.fetch_add(1, Ordering::Relaxed);
        if let Some(m) = shared.metrics.get() {
            m.attempts.increment(1);
        }
        let greeting = self.keeps.then(|| self.greeting());
        let attempt = tokio::time::timeout(
            shared.opts.connect_timeout,
            Connection::connect(
                endpoint,
                shared.opts.framing,
                &shared.opts.name,
                greeting.as_ref(),
            ),
        );
        tokio::pin!(attempt);
        // A stop request does not abandon an attempt that may be about to succeed
        // (close wants the queue delivered); only a stop that says "exit now" does.
        let result = loop {
            tokio::select! {
                r = &mut attempt => break r,
                () = interrupt(&shared.stop, *drain) => match self.check(false) {
                    Check::Run => {}
                    Check::Drain(d) => *drain = Some(d),
                    Check::Exit(e) => return Err(e),
                },
            }
        };
        match result {
            Ok(Ok(conn)) => Ok(Some(conn)),
            Ok(Err(e)) if e.class() == ErrorClass::Fatal => Err(Exit::Fatal(e)),
            Ok(Err(e)) => {
                self.failures += 1;
                shared.record_error(&e, self.failures == 1);
                Ok(None)
            }
            Err(_) => {
                let e = TransportError::new(
                    ErrorClass::Retryable,
                    std::io::ErrorKind::TimedOut,
                    format!("connect to {} timed out", shared.opts.endpoint_text),
                );
                self.failures += 1;
                shared.record_error(&e, self.failures == 1);
                Ok(None)
            }
        }
    }

    /// Writes frames while connected. `Ok` means stop; `Err` means the connection failed.
    async fn serve(&mut self, conn: &mut Connection) -> Result<Exit, TransportError> {
        let shared = Arc::clone(&self.shared);
        // Armed while idle with spare buffer capacity (see `give_back`), once per
        // period: it is polled once when armed (so it wakes the task when it fires),
        // and an idle wait only looks whether it has fired, so a busy sink pays one
        // load per idle wait for it.
        let give_back = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(give_back);
        let mut give_back_armed = false;
        // Early data: the frames go out behind HELLO, and the peer's answer is due
        // within the connect timeout, as it is without (a peer that does not speak
        // the protocol fails the connection either way).
        let mut welcome_by = conn
            .awaiting_welcome()
            .then(|| deadline_after(Instant::now(), shared.opts.connect_timeout));
        loop {
            if let Some(at) = welcome_by {
                if !conn.awaiting_welcome() {
                    welcome_by = None;
                } else if Instant::now() >= at {
                    return Err(TransportError::new(
                        ErrorClass::Retryable,
                        std::io::ErrorKind::TimedOut,
                        format!(
                            "{} did not answer HELLO within the connect timeout",
                            shared.opts.endpoint_text
                        ),
                    ));
                }
            }
            let drain = match self.check(true) {
                Check::Run => None,
                Check::Drain(d) => Some(d),
                Check::Exit(e) => return Ok(e),
            };
            if self.batch.is_empty() {
                self.take_pending();
            }
            if self.batch.is_empty() {
                self.sample(conn);
                if self.ask_confirmation(conn, drain).await? {
                    // Interrupted: look at the stop state before waiting.
                    continue;
                }
                if !give_back_armed && self.holds_spare() {
                    give_back_armed = true;
                    self.peak = 0;
                    let at = tokio::time::Instant::now() + IDLE_SHRINK_AFTER;
                    give_back.as_mut().reset(at);
                    std::future::poll_fn(|cx| {
                        let _ = give_back.as_mut().poll(cx);
                        std::task::Poll::Ready(())
                    })
                    .await;
                }
                tokio::select! {
                    biased;
                    () = interrupt_until(&shared.stop, drain, welcome_by) => {}
                    () = shared.wake_writer.notified() => {
                        // Woken by a burst (sparse frames are written by their senders)
                        // or by a sender's first hand-over to a confirming transport:
                        // let it grow for one scheduling round, so one write carries
                        // many frames.
                        self.round_for_batch().await;
                    }
                    r = conn.watch() => {
                        r?;
                        self.confirmed();
                        if let Some(upto) = conn.acked() {
                            self.acknowledge(upto);
                        }
                    }
                    () = tokio::time::sleep(RESAMPLE), if self.proof.pending() => {}
                    () = std::future::poll_fn(|_| {
                        if give_back_armed && give_back.is_elapsed() {
                            std::task::Poll::Ready(())
                        } else {
                            std::task::Poll::Pending
                        }
                    }) => {
                        give_back_armed = false;
                        self.give_back();
                    }
                }
                continue;
            }
            self.write_batch(conn, drain, welcome_by).await?;
        }
    }

    /// Writes the current batch (until done, a failure, a stop, or the deadline for
    /// the peer's answer to HELLO), then counts what the transport took; on a
    /// confirming transport, asks for a confirmation.
    async fn write_batch(
        &mut self,
        conn: &mut Connection,
        drain: Option<Instant>,
        welcome_by: Option<Instant>,
    ) -> Result<(), TransportError> {
        let wrote = conn
            .write_batch(
                &self.batch,
                &mut self.written,
                interrupt_until(&self.shared.stop, drain, welcome_by),
            )
            .await;
        let (frames, bytes) = conn.take_dropped();
        self.batch_dropped.0 += frames;
        self.batch_dropped.1 += bytes;
        if let Some(upto) = conn.acked() {
            self.acknowledge(upto);
        }
        self.take_probe(conn);
        match wrote {
            Ok(()) => {
                self.batch_written();
                self.sample(conn);
                // Acknowledgements already there free room before the next batch
                // is taken, without a trip through the idle wait.
                conn.read_acks()?;
                if let Some(upto) = conn.acked() {
                    self.acknowledge(upto);
                }
                if self.confirming {
                    if conn.poll_confirmed() {
                        self.confirmed();
                    }
                    // Interrupted or not, the loop looks at the stop state next.
                    self.ask_confirmation(conn, drain).await?;
                }
                // One scheduling round between writes lets the next batch grow
                // while a fast sender is still running.
                self.round_for_batch().await;
            }
            // Acknowledgements were taken above; the batch goes on next round.
            Err(WriteStop::Interrupted | WriteStop::Acked) => {}
            Err(WriteStop::Failed(e)) => return Err(e),
        }
        Ok(())
    }

    fn take_pending(&mut self) {
        debug_assert!(self.batch.is_empty());
        let shared = Arc::clone(&self.shared);
        let sealed;
        let (frames, wake) = {
            let mut p = lock(&shared.pending);
            // While a confirmation is on its way, hand-overs wait uncollected: the
            // sender's wake-up comes on the first hand-over after a collection, so
            // the task wakes about once per confirmation, not once per frame.
            if self.ledger.requested.is_none() || p.frames > 0 {
                self.collect(&mut p);
            }
            self.collect_direct(&mut p);
            self.collect_kept(&mut p);
            if p.frames == 0 {
                p.writer_idle = true;
                p.last_write = Instant::now();
                self.queue_capacity = p.buf.capacity();
                drop(p);
                self.show_in_flight();
                return;
            }
            p.writer_idle = false;
            if let Some(inline) = p.inline.as_mut() {
                inline.reset_credit();
            }
            std::mem::swap(&mut p.buf, &mut self.batch);
            sealed = std::mem::take(&mut p.sealed);
            // The buffer senders fill next gets the capacity of the one just taken,
            // in one allocation (the first time, or after a give-back), instead of a
            // series of doublings while senders append to it under the lock.
            if p.buf.capacity() < self.batch.capacity() {
                p.buf.reserve_exact(self.batch.capacity());
            }
            self.written = std::mem::take(&mut p.head_written);
            let frames = std::mem::take(&mut p.frames);
            self.took(&p);
            (frames, p.space_waiters > 0)
        };
        // Outside the lock: senders queue the next batch meanwhile.
        let stride = shared.opts.framing.seal_all(&mut self.batch[sealed..]);
        // Frames senders sealed themselves were not measured: unknown lengths.
        self.batch_stride = stride.filter(|_| sealed == 0);
        self.batch_frames = frames;
        self.peak = self.peak.max(self.batch.len());
        self.show_in_flight();
        if wake {
            self.shared.space.notify_waiters();
        }
    }

    /// Whether the buffers hold far more capacity than an idle sink keeps.
    fn holds_spare(&self) -> bool {
        self.batch.capacity().max(self.queue_capacity) > 4 * SHRINK_FLOOR
    }

    /// The give-back timer fired: if the task took no batch since it was armed (the
    /// sink was idle the whole period), both buffers shrink to [`SHRINK_FLOOR`], so
    /// a burst's memory is not kept by an idle sink. A sink that streams keeps its
    /// buffers (no reallocation while frames flow), also when its senders write the
    /// frames directly and the task takes no batch.
    fn give_back(&mut self) {
        if self.peak > 0 {
            return;
        }
        let mut p = lock(&self.shared.pending);
        // Senders writing directly keep the task idle while the sink streams.
        if p.last_write.elapsed() < IDLE_SHRINK_AFTER {
            return;
        }
        self.kept.shrink();
        p.direct_kept.shrink_to(SHRINK_FLOOR);
        if self.batch.capacity() > 4 * SHRINK_FLOOR.max(self.batch.len()) {
            self.batch.shrink_to(SHRINK_FLOOR);
        }
        if p.buf.capacity() > 4 * SHRINK_FLOOR.max(p.buf.len()) {
            p.buf.shrink_to(SHRINK_FLOOR);
        }
        self.queue_capacity = p.buf.capacity();
    }

    /// Takes the connection away from senders before the task leaves it, and collects
    /// their last hand-overs.
    pub(super) fn detach_inline(&mut self) {
        let shared = Arc::clone(&self.shared);
        let mut p = lock(&shared.pending);
        p.inline = None;
        p.connected = false;
        p.writer_idle = false;
        p.head_written = 0;
        self.collect(&mut p);
        self.collect_direct(&mut p);
        self.collect_kept(&mut p);
    }

    /// Frames held by the task: the batch, and frames taken but not yet confirmed.
    pub(super) fn show_in_flight(&self) {
        let held = self.batch_frames + count(self.ledger.unconfirmed()) + self.kept.frames;
        self.shared.in_flight.store(held, Ordering::Relaxed);
        self.shared
            .unacked
            .store(self.kept.frames, Ordering::Relaxed);
    }

    pub(super) fn count_sent(&self, frames: usize, bytes: usize) {
        self.shared.count_sent(frames, bytes);
    }

    /// Frames the transport took: sent for sockets, awaiting confirmation otherwise.
    pub(super) fn taken(&mut self, frames: usize, bytes: usize) {
        if self.confirming {
            self.ledger.taken.0 += frames as u64;
            self.ledger.taken.1 += bytes as u64;
            lock(&self.shared.pending).in_doubt += frames;
        } else {
            self.proof.wrote(frames as u64, bytes as u64);
            self.count_sent(frames, bytes);
        }
    }

    fn batch_written(&mut self) {
        let (frames, bytes) = (self.batch_frames, self.batch.len());
        if self.keeps {
            self.written = 0;
            self.keep_written(frames, bytes);
            self.show_in_flight();
            return;
        }
        self.batch.clear();
        self.batch_frames = 0;
        self.written = 0;
        let dropped = self.settle_dropped();
        self.taken(frames - dropped.0, bytes - dropped.1);
        self.show_in_flight();
    }

    /// Counts the frames the transport skipped as too large (lost, `too_large`) and
    /// returns them, to be left out of what it took.
    pub(super) fn settle_dropped(&mut self) -> (usize, usize) {
        let dropped = std::mem::take(&mut self.batch_dropped);
        self.shared.count_lost(LostReason::TooLarge, dropped.0);
        dropped
    }
}

/// A frame or byte count as `usize` (counts of frames held in memory always fit).
pub(super) fn count(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}
