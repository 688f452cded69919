//! Running the relays: accepting connections, the drain, the final report.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sinkgen_runtime::protocol;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::Phase;
use crate::config::{Config, Protocol};
use crate::foreign::Fanout;
use crate::hub::Hub;
use crate::listen::{self, BindError, Listener};
use crate::sinkgen::Served;
use crate::stats::RelayStats;

/// Every relay of a [`Config`], bound and ready to serve.
pub struct Relay {
    relays: Vec<(Kind, Listener)>,
}

enum Kind {
    Sinkgen(Arc<Served>),
    Foreign(Arc<Fanout>),
}

impl Kind {
    fn stats(&self) -> &Arc<RelayStats> {
        match self {
            Kind::Sinkgen(s) => &s.hub.stats,
            Kind::Foreign(f) => &f.stats,
        }
    }
}

/// Frames a subscriber (or a foreign relay's connections) had not received when the
/// relay stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undelivered {
    /// The relay.
    pub relay: String,
    /// The subscribing service; `None` for a foreign relay's connections.
    pub subscriber: Option<String>,
    /// Frames held and not acknowledged (or queued and not written).
    pub frames: usize,
    /// Whether the subscriber was connected at the end.
    pub connected: bool,
}

/// What [`Relay::serve`] leaves: the counters at the end and what was not delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Each relay's counters at the end.
    pub relays: Vec<crate::Snapshot>,
    /// Non-empty backlogs at the end.
    pub undelivered: Vec<Undelivered>,
}

impl Relay {
    /// Binds every relay of `config`. Must run inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// An endpoint that cannot be served: in use by a live process, a path that is no
    /// socket, a bind or permission failure. The message names the endpoint and the
    /// relay's line in the file.
    pub fn bind(config: Config) -> Result<Relay, BindError> {
        let mut relays = Vec::new();
        for spec in &config.relays {
            let place = config.place(spec);
            let listener = listen::bind(spec, &place)?;
            let spec = Arc::new(spec.clone());
            let kind = match spec.protocol {
                Protocol::Sinkgen => {
                    let hub = Arc::new(Hub::new(&spec.name, &spec.subscribers, spec.backlog));
                    let (grace, after) = (spec.grace, Arc::clone(&hub));
                    tokio::spawn(async move {
                        tokio::time::sleep(grace).await;
                        after.grace_over();
                    });
                    Kind::Sinkgen(Arc::new(Served {
                        hub,
                        spec,
                        place,
                        session: protocol::new_session(),
                    }))
                }
                Protocol::Torq { .. } | Protocol::LengthPrefixed => {
                    Kind::Foreign(Arc::new(Fanout::new(spec)))
                }
            };
            relays.push((kind, listener));
        }
        Ok(Relay { relays })
    }

    /// Each relay's name and the address it listens on (a TCP port 0 resolved).
    #[must_use]
    pub fn endpoints(&self) -> Vec<(String, String)> {
        self.relays
            .iter()
            .map(|(k, l)| (k.stats().name.clone(), l.local()))
            .collect()
    }

    /// Each relay's live counters (for a status line).
    #[must_use]
    pub fn stats(&self) -> Vec<Arc<RelayStats>> {
        self.relays.iter().map(|(k, _)| k.stats().clone()).collect()
    }

    /// Serves until `shutdown` completes, then drains: producers are sent REFUSE
    /// (shutting down) and closed, and what is queued for connected subscribers is
    /// still written until they acknowledged it or `drain` passed.
    pub async fn serve(self, shutdown: impl Future<Output = ()>, drain: Duration) -> Report {
        let (phase_tx, phase) = watch::channel(Phase::Running);
        let mut accepts = JoinSet::new();
        let mut kinds = Vec::new();
        for (kind, listener) in self.relays {
            let kind = Arc::new(kind);
            kinds.push(kind.clone());
            let phase = phase.clone();
            accepts.spawn(async move {
                loop {
                    match listener.accept().await {
                        Ok(incoming) => {
                            let phase = phase.clone();
                            let kind = kind.clone();
                            tokio::spawn(async move {
                                let Some(stream) = incoming.stream().await else {
                                    return;
                                };
                                match &*kind {
                                    Kind::Sinkgen(s) => s.clone().connection(stream, phase).await,
                                    Kind::Foreign(f) => f.clone().connection(stream, phase).await,
                                }
                            });
                        }
                        Err(e) => {
                            tracing::warn!(endpoint = %listener.local(), error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
            });
        }
        shutdown.await;
        // Stop accepting (a Unix socket file is removed with its listener).
        accepts.shutdown().await;
        let _ = phase_tx.send(Phase::Draining);
        let deadline = tokio::time::Instant::now() + drain;
        while !kinds.iter().all(|k| k.delivered()) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let report = Report {
            relays: kinds.iter().map(|k| k.stats().snapshot()).collect(),
            undelivered: kinds.iter().flat_map(|k| k.undelivered()).collect(),
        };
        let _ = phase_tx.send(Phase::Stop);
        // Connections close at their next step; give them a moment to say goodbye.
        let closed = Instant::now() + Duration::from_secs(1);
        while kinds.iter().any(|k| k.stats().snapshot().connections > 0) && Instant::now() < closed
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        report
    }
}

impl Kind {
    fn delivered(&self) -> bool {
        match self {
            Kind::Sinkgen(s) => s.hub.delivered(),
            Kind::Foreign(f) => f.pending() == 0,
        }
    }

    fn undelivered(&self) -> Vec<Undelivered> {
        match self {
            Kind::Sinkgen(s) => s
                .hub
                .left()
                .into_iter()
                .filter(|l| l.frames > 0)
                .map(|l| Undelivered {
                    relay: s.spec.name.clone(),
                    subscriber: Some(l.subscriber),
                    frames: l.frames,
                    connected: l.connected,
                })
                .collect(),
            Kind::Foreign(f) => match f.pending() {
                0 => Vec::new(),
                frames => vec![Undelivered {
                    relay: f.spec.name.clone(),
                    subscriber: None,
                    frames,
                    connected: true,
                }],
            },
        }
    }
}

impl fmt::Display for Report {
    /// One line per relay with its counters, then one per backlog left undelivered.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.relays {
            writeln!(f, "{r}")?;
        }
        if self.undelivered.is_empty() {
            return writeln!(f, "every frame received was delivered");
        }
        for u in &self.undelivered {
            let whom = match &u.subscriber {
                Some(s) if u.connected => format!("subscriber `{s}`"),
                Some(s) => format!("subscriber `{s}` (not connected)"),
                None => "its connections".to_owned(),
            };
            writeln!(
                f,
                "not delivered: relay `{}`, {whom}: {} frames",
                u.relay, u.frames
            )?;
        }
        Ok(())
    }
}
