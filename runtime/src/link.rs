//! What every builder of a connection shares ([`SinkBuilder`](crate::SinkBuilder),
//! [`SubscriptionBuilder`](crate::receive::SubscriptionBuilder) and
//! [`InboxBuilder`](crate::receive::InboxBuilder)): the endpoint, how long a connect
//! attempt may take, the backoff between attempts, the largest frame, NATS
//! credentials and TLS. Their fields, defaults (`sinkgen_config::policy`) and checks
//! are written once, here; each builder keeps its own setters, whose documentation
//! says what the setting means for it.

use std::sync::Arc;
use std::time::Duration;

use sinkgen_config::policy;

use crate::error::BuildError;
use crate::transport::Endpoint;

/// The connection settings of a builder.
#[derive(Clone, Debug)]
pub(crate) struct Link {
    /// The endpoint as given.
    pub(crate) endpoint: String,
    pub(crate) connect_timeout: Duration,
    pub(crate) backoff_initial: Duration,
    pub(crate) backoff_max: Duration,
    /// The largest frame body, in bytes.
    pub(crate) max_frame: usize,
    /// What to present to a NATS server.
    pub(crate) credentials: Option<crate::NatsCredentials>,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<crate::tls::Tls>,
}

impl Link {
    /// The defaults of `services.toml` for `endpoint`.
    pub(crate) fn new(endpoint: String) -> Link {
        Link {
            endpoint,
            connect_timeout: policy::CONNECT_TIMEOUT,
            backoff_initial: policy::BACKOFF_INITIAL,
            backoff_max: policy::BACKOFF_MAX,
            max_frame: usize::try_from(policy::MAX_FRAME).unwrap_or(usize::MAX),
            credentials: None,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// A receiver's name: the one given, else its `owner` (the relay subscribed to,
    /// the service listening), else the endpoint.
    pub(crate) fn name(&self, given: Option<Arc<str>>, owner: &Arc<str>) -> Arc<str> {
        given.unwrap_or_else(|| {
            if owner.is_empty() {
                Arc::from(self.endpoint.as_str())
            } else {
                Arc::clone(owner)
            }
        })
    }

    /// The checks every builder makes, then the endpoint parsed and, with a `tls`
    /// setting, secured (credentials are applied by the builder: see
    /// [`Endpoint::with_credentials`]).
    pub(crate) fn endpoint(&self) -> Result<Endpoint, BuildError> {
        if self.max_frame == 0 {
            return Err(BuildError::new("max_frame must be at least 1 byte"));
        }
        if self.connect_timeout.is_zero() {
            return Err(BuildError::new("connect_timeout must be greater than zero"));
        }
        if self.backoff_initial.is_zero() {
            return Err(BuildError::new(
                "backoff initial delay must be greater than zero",
            ));
        }
        if self.backoff_initial > self.backoff_max {
            return Err(BuildError::new("backoff initial delay is above its max"));
        }
        let endpoint = Endpoint::parse(&self.endpoint).map_err(BuildError::new)?;
        #[cfg(feature = "tls")]
        let endpoint = match &self.tls {
            None => endpoint,
            Some(tls) => endpoint.secured(tls).map_err(BuildError::new)?,
        };
        Ok(endpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_setting_out_of_range_is_named() {
        let ok = Link::new("tcp://127.0.0.1:9".into());
        assert!(ok.endpoint().is_ok());
        type Break = fn(&mut Link);
        let cases: [(Break, &str); 4] = [
            (|l| l.max_frame = 0, "max_frame"),
            (|l| l.connect_timeout = Duration::ZERO, "connect_timeout"),
            (|l| l.backoff_initial = Duration::ZERO, "greater than zero"),
            (
                |l| l.backoff_max = Duration::from_millis(1),
                "above its max",
            ),
        ];
        for (break_it, named) in cases {
            let mut link = ok.clone();
            break_it(&mut link);
            let err = link.endpoint().unwrap_err().to_string();
            assert!(err.contains(named), "{err}");
        }
        let mut bad = ok;
        bad.endpoint = "tcp://exa mple:80".into();
        assert!(bad.endpoint().is_err());
    }
}
