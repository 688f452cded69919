//! The derive with `receivers = ".."`: the receivers of `execution` (a subscription to
//! `signals`, bytes, and the inbox of its `listen`) beside its (empty) sinks.

use sinkgen_runtime::{Bytes, Inbox, Subscription};

#[derive(sinkgen_runtime::Sinks)]
#[sinks(config = "ui/services.toml", service = "execution", receivers = "Receivers")]
pub struct Execution;

fn main() {
    let _signals: Subscription<Bytes> = Receivers::signals();
    let _inbox: Inbox<Bytes> = Receivers::inbox();
    let endpoints = ReceiversEndpoints {
        inbox: "unix:///tmp/sinkgen-ui/elsewhere.sock".into(),
        ..ReceiversEndpoints::default()
    };
    let instance = Receivers::with_endpoints(endpoints);
    let _signals: Subscription<Bytes> = instance.signals();
    let _ = Execution::with_endpoints;
}
