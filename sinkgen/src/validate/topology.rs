//! Assembling the [`Topology`] once every check passed: the names move out of the
//! raw config instead of being copied.

use std::ops::Range;

use super::{RelayInfo, Resolved, ServiceInfo};
use crate::model::{Policy, Relay, Secret, Service, Sink, SinkTarget, Tls, Topology};
use crate::parse::{CompositeKind, RawConfig, RawTarget};
use crate::source::Source;

/// The topology, moving the names out of the raw config instead of copying them.
pub(super) fn build(
    raw: RawConfig,
    relays: Vec<RelayInfo>,
    services: Vec<ServiceInfo>,
    defaults: Policy,
    source: &Source,
) -> Topology {
    let line = |span: &Range<usize>| u32::try_from(source.line(span.start)).unwrap_or(u32::MAX);
    let model_relays: Vec<Relay> = raw
        .relays
        .into_iter()
        .zip(relays)
        .filter(|(_, info)| info.name_ok)
        .filter_map(|(r, info)| {
            let credentials = r
                .credentials
                .map(|c| credentials(c.kind, &r.name.value, &line));
            let tls_key = format!("relays.{}.tls", r.name.value);
            Some(Relay {
                line: line(&r.name.span),
                name: r.name.value,
                endpoint: info.endpoint?,
                framing: info.framing?,
                message: info.message,
                codec: info.codec,
                backlog: info.backlog,
                socket_mode: info.socket_mode,
                durable: info.durable,
                credentials,
                tls: r
                    .tls
                    .filter(|_| info.tls_ok)
                    .map(|t| tls(t, &tls_key, &line)),
            })
        })
        .collect();
    let model_services = raw
        .services
        .into_iter()
        .zip(services)
        .filter(|(_, info)| info.name_ok)
        .filter_map(|(s, info)| {
            let sinks = s
                .sinks
                .into_iter()
                .zip(info.sinks)
                .filter(|(_, k)| k.name_ok)
                .filter_map(|(k, sink)| {
                    let written = k.targets.into_iter().next().map(|(_, t)| t);
                    let target = match (sink.target, written) {
                        (Resolved::Relay(_), Some(RawTarget::Relay(n) | RawTarget::Named(n))) => {
                            SinkTarget::Relay(n.value)
                        }
                        (
                            Resolved::Service(_),
                            Some(RawTarget::Service(n) | RawTarget::Named(n)),
                        ) => SinkTarget::Service(n.value),
                        (Resolved::Endpoint(e), _) => SinkTarget::Endpoint(e),
                        (
                            Resolved::Composite(kind, _),
                            Some(RawTarget::Composite { members, .. }),
                        ) => {
                            let m = members.into_iter().map(|m| m.value).collect();
                            match kind {
                                CompositeKind::Broadcast => SinkTarget::Broadcast(m),
                                CompositeKind::RoundRobin => SinkTarget::RoundRobin(m),
                                CompositeKind::Failover => SinkTarget::Failover(m),
                            }
                        }
                        _ => return None,
                    };
                    Some(Sink {
                        line: line(&k.name.span),
                        name: k.name.value,
                        target,
                        policy: sink.policy,
                    })
                })
                .collect();
            let tls_key = format!("services.{}.tls", s.name.value);
            Some(Service {
                tls: s
                    .tls
                    .filter(|_| info.tls_ok)
                    .map(|t| tls(t, &tls_key, &line)),
                line: line(&s.name.span),
                name: s.name.value,
                source: info.source,
                listen: info.listen,
                message: info.message,
                codec: info.codec,
                framing: info.framing?,
                subscribes: s.subscribes.into_iter().map(|x| x.value).collect(),
                sinks,
            })
        })
        .collect();
    Topology {
        path: source.path().to_path_buf(),
        defaults,
        relays: model_relays,
        services: model_services,
    }
}

/// A relay's `credentials` as the model keeps them: each secret with its dotted key
/// and line.
fn credentials(
    kind: crate::parse::RawCredentialsKind,
    relay: &str,
    line: &impl Fn(&Range<usize>) -> u32,
) -> crate::model::Credentials {
    use crate::model::{Credentials, Secret};
    use crate::parse::RawCredentialsKind as Raw;
    let secret = |key: &str, s: crate::parse::RawSecret| Secret {
        line: line(&s.span),
        source: s.value,
        key: format!("relays.{relay}.credentials.{key}"),
    };
    match kind {
        Raw::Token(s) => Credentials::Token(secret("token", s)),
        Raw::UserPassword { user, password } => Credentials::UserPassword {
            user,
            password: secret("password", password),
        },
        Raw::Nkey(s) => Credentials::Nkey(secret("nkey", s)),
        Raw::Creds(s) => Credentials::Creds(secret("creds", s)),
    }
}

/// A `tls` table for the model: each secret with its dotted key and line.
fn tls(t: crate::parse::RawTls, key: &str, line: &dyn Fn(&Range<usize>) -> u32) -> Tls {
    let secret = |s: Option<crate::parse::Sp<sinkgen_config::secret::SecretSource>>, name: &str| {
        s.map(|s| Secret {
            line: line(&s.span),
            source: s.value,
            key: format!("{key}.{name}"),
        })
    };
    Tls {
        ca: secret(t.ca, "ca"),
        server_name: t.server_name.map(|n| n.value),
        cert: secret(t.cert, "cert"),
        key: secret(t.key, "key"),
        client_cert: secret(t.client_cert, "client_cert"),
        client_key: secret(t.client_key, "client_key"),
    }
}
