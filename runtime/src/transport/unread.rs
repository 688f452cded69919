//! How many bytes written to a socket its peer has not consumed yet: Linux's
//! `SIOCOUTQ` (the same request number as `TIOCOUTQ`).
//!
//! On a Unix stream socket this is the bytes sitting in the peer's receive queue,
//! not yet read by the peer process: it reads 0 only once the peer has read
//! everything. When the peer closes, its queue is purged and the count drops to 0
//! as well, so a reading is only trusted while the peer has not shut the connection
//! down (see `Connection::unread`).
//!
//! On TCP it is the bytes the peer's TCP has not acknowledged: bytes that surely did
//! not reach the peer. Bytes it acknowledged sit in the peer's kernel, and whether
//! the peer process read them cannot be known from this side.

#[cfg(target_os = "linux")]
#[allow(
    unsafe_code,
    reason = "one ioctl; the crate has no safe wrapper for it"
)]
pub(super) fn unread<S: std::os::fd::AsRawFd>(s: &S) -> Option<u64> {
    let mut n: libc::c_int = 0;
    // SAFETY: SIOCOUTQ writes one `c_int` through the pointer, which points to a
    // live local `c_int`; the descriptor stays open while `s` is borrowed.
    let r = unsafe { libc::ioctl(s.as_raw_fd(), libc::TIOCOUTQ, &raw mut n) };
    if r == 0 { u64::try_from(n).ok() } else { None }
}

/// Not known on other systems.
#[cfg(not(target_os = "linux"))]
pub(super) fn unread<S>(_: &S) -> Option<u64> {
    None
}
