//! Receivers (`Subscription`, `Inbox`) against small protocol peers over real sockets.

mod common;

#[path = "receive/support.rs"]
mod support;

#[path = "receive/subscription.rs"]
mod subscription;

#[path = "receive/inbox.rs"]
mod inbox;
