//! The hand-written designs sinkgen is measured against.
//!
//! - [`CoalescingWriter`] (baseline b): the best simple hand-written tokio design.
//!   Producers append frames to a shared buffer under a mutex; one writer task swaps
//!   the buffer for an empty one and `write_all`s the whole batch, so everything that
//!   queued during a write goes out in the next one. The buffer is bounded: a
//!   producer that finds it full waits until the writer takes it.
//! - [`write_per_frame`] (baseline c): one `write_all` per frame, the naive loop.

use std::io;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::{PREFIX, encode_frame};

/// Default bound of the coalescing buffer, in bytes.
pub const DEFAULT_CAP: usize = 64 * 1024;

struct Shared {
    buf: Mutex<Vec<u8>>,
    cap: usize,
    /// Woken when a producer puts the first frame into an empty buffer, or on close.
    data: Notify,
    /// Woken when the writer takes the buffer (room for full producers).
    space: Notify,
    closed: AtomicBool,
}

/// Baseline b: a mutex-protected buffer drained by one writer task.
pub struct CoalescingWriter {
    shared: Arc<Shared>,
    task: JoinHandle<io::Result<u64>>,
}

impl CoalescingWriter {
    /// Spawns the writer task that owns `stream`; `cap` bounds the buffer in bytes.
    pub fn spawn<W>(stream: W, cap: usize) -> CoalescingWriter
    where
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let shared = Arc::new(Shared {
            buf: Mutex::new(Vec::with_capacity(cap)),
            cap,
            data: Notify::new(),
            space: Notify::new(),
            closed: AtomicBool::new(false),
        });
        let task = tokio::spawn(writer(Arc::clone(&shared), stream));
        CoalescingWriter { shared, task }
    }

    fn try_push(&self, payload: &[u8]) -> bool {
        let mut buf = self.shared.buf.lock().expect("buffer lock");
        if !buf.is_empty() && buf.len() + PREFIX + payload.len() > self.shared.cap {
            return false;
        }
        let was_empty = buf.is_empty();
        encode_frame(&mut buf, payload);
        drop(buf);
        if was_empty {
            self.shared.data.notify_one();
        }
        true
    }

    /// Queues one frame, waiting while the buffer is full.
    pub async fn send(&self, payload: &[u8]) {
        loop {
            if self.try_push(payload) {
                return;
            }
            let mut room = pin!(self.shared.space.notified());
            room.as_mut().enable();
            if self.try_push(payload) {
                return;
            }
            room.await;
        }
    }

    /// Writes what is buffered, then stops the writer; returns the bytes it wrote.
    ///
    /// # Errors
    ///
    /// The writer's I/O error, if any.
    pub async fn close(self) -> io::Result<u64> {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.data.notify_one();
        self.task.await.map_err(io::Error::other)?
    }
}

async fn writer<W>(shared: Arc<Shared>, mut stream: W) -> io::Result<u64>
where
    W: AsyncWrite + Unpin,
{
    let mut batch = Vec::with_capacity(shared.cap);
    let mut written = 0u64;
    loop {
        std::mem::swap(&mut *shared.buf.lock().expect("buffer lock"), &mut batch);
        if batch.is_empty() {
            if shared.closed.load(Ordering::Acquire) {
                if shared.buf.lock().expect("buffer lock").is_empty() {
                    break;
                }
                continue;
            }
            shared.data.notified().await;
            continue;
        }
        shared.space.notify_waiters();
        stream.write_all(&batch).await?;
        written += batch.len() as u64;
        batch.clear();
    }
    stream.flush().await?;
    Ok(written)
}

/// Baseline c: `frames` frames, one `write_all` each.
///
/// # Errors
///
/// Any write error.
pub async fn write_per_frame<W>(stream: &mut W, payload: &[u8], frames: u64) -> io::Result<()>
where
    W: AsyncWrite + Unpin,
{
    let mut frame = Vec::with_capacity(PREFIX + payload.len());
    encode_frame(&mut frame, payload);
    for _ in 0..frames {
        stream.write_all(&frame).await?;
    }
    Ok(())
}
