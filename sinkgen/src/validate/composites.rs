//! Composite sinks (`all` / `any`): members, cycles among them, and one message type
//! per composite.

use std::collections::HashMap;
use std::ops::Range;

use super::{RelayInfo, Resolved, ServiceInfo, SinkInfo, Validator};
use crate::diagnostic::Diagnostic;
use crate::model::Codec;
use crate::parse::{CompositeKind, RawService, RawSink, RawTarget, Sp};

/// The message type a sink carries and how it is encoded; `None` is bytes.
type Carried = Option<(String, Codec)>;
use crate::text::printable;

impl Validator<'_, '_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn composite(
        &mut self,
        s: &RawService,
        ki: usize,
        k: &RawSink,
        kind: CompositeKind,
        list: &Range<usize>,
        members: &[Sp<String>],
        sink_index: &HashMap<&str, usize>,
    ) -> Resolved {
        let sink = printable(&k.name.value);
        let key = kind.key();
        if members.is_empty() {
            self.empty_composite(&sink, key, list);
            return Resolved::Broken;
        }
        let mut ok = true;
        let mut seen: HashMap<&str, &Sp<String>> = HashMap::new();
        let mut out = Vec::with_capacity(members.len());
        for m in members {
            if let Some(first) = seen.get(m.value.as_str()) {
                self.duplicate_member(&sink, key, m, first);
                ok = false;
                continue;
            }
            seen.insert(&m.value, m);
            match sink_index.get(m.value.as_str()) {
                Some(&i) if i == ki => {
                    self.composite_contains_itself(&sink, key, m);
                    ok = false;
                }
                Some(&i) => out.push(i),
                None => {
                    self.unknown_member(s, &sink, key, m);
                    ok = false;
                }
            }
        }
        if ok {
            Resolved::Composite(kind, out)
        } else {
            Resolved::Broken
        }
    }

    /// An empty composite can deliver nothing (the old system panicked on it).
    pub(super) fn empty_composite(&mut self, sink: &str, key: &str, list: &Range<usize>) {
        self.ctx.push(
            Diagnostic::error(format!("`{key}` of sink `{sink}` has no members"))
                .with_span(list.clone())
                .with_label("empty list")
                .with_help(format!(
                    "list the sibling sinks it sends to, e.g. `{key} = [\"primary\", \"backup\"]`"
                )),
        );
    }

    /// Listing a member twice would send the frame to it twice, or skew the rotation.
    pub(super) fn duplicate_member(
        &mut self,
        sink: &str,
        key: &str,
        m: &Sp<String>,
        first: &Sp<String>,
    ) {
        self.ctx.push(
            Diagnostic::error(format!(
                "`{key}` of sink `{sink}` lists `{}` twice",
                printable(&m.value)
            ))
            .with_span(m.span.clone())
            .with_label("listed again")
            .with_related(first.span.clone(), "first listed here")
            .with_help("remove the second entry"),
        );
    }

    /// A composite that contains itself recurses forever on the first send.
    pub(super) fn composite_contains_itself(&mut self, sink: &str, key: &str, m: &Sp<String>) {
        self.ctx.push(
            Diagnostic::error(format!("composite sink `{sink}` contains itself"))
                .with_span(m.span.clone())
                .with_label(format!("`{sink}` is this sink"))
                .with_help(format!(
                    "remove `{sink}` from `{key}`; members are other sinks of the same service"
                )),
        );
    }

    /// Composite members are sibling sinks of the same service.
    pub(super) fn unknown_member(&mut self, s: &RawService, sink: &str, key: &str, m: &Sp<String>) {
        let siblings = s
            .sinks
            .iter()
            .map(|k| k.name.value.as_str())
            .filter(|n| *n != sink);
        let help = match self.suggest(&m.value, siblings.clone()) {
            Some(c) => format!("did you mean `{c}`?"),
            None => {
                let sibs: Vec<&str> = siblings.take(11).collect();
                if sibs.is_empty() {
                    "members are other sinks of the same service; declare the sink first".to_owned()
                } else {
                    format!(
                        "members are other sinks of service `{}`: {}",
                        printable(&s.name.value),
                        self.known("sinks", sibs.into_iter())
                            .trim_start_matches("the sinks are ")
                    )
                }
            }
        };
        self.ctx.push(
            Diagnostic::error(format!(
                "`{key}` of sink `{sink}` names unknown sink `{}`",
                printable(&m.value)
            ))
            .with_span(m.span.clone())
            .with_label(format!(
                "no sink of this name in service `{}`",
                printable(&s.name.value)
            ))
            .with_help(help),
        );
    }

    /// Policy keys on a composite would be silently ignored: members have their own.
    pub(super) fn policy_on_composite(&mut self, s: &RawService, k: &RawSink) {
        let Some(span) = k.policy.first_span() else {
            return;
        };
        self.ctx.push(
            Diagnostic::error(format!(
                "composite sink `{}` of service `{}` cannot have its own connection policy",
                printable(&k.name.value),
                printable(&s.name.value)
            ))
            .with_span(span)
            .with_label("ignored on a composite")
            .with_help(
                "set `connect_timeout`, `send_timeout`, `queue`, `backoff`, `when_down` and `max_frame` on the member sinks",
            ),
        );
    }

    /// A composite member cycle recurses forever on the first send (the old system
    /// overflowed its stack). Returns the sinks in an order where members come first.
    pub(super) fn composite_cycles(&mut self, s: &RawService, sinks: &[SinkInfo]) -> Vec<usize> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Open,
            Done,
        }
        let members = |i: usize| -> &[usize] {
            match &sinks[i].target {
                Resolved::Composite(_, m) => m,
                _ => &[],
            }
        };
        let mut mark = vec![Mark::New; sinks.len()];
        // Where each open sink sits on the stack, to cut a cycle out of it at once.
        let mut depth = vec![0usize; sinks.len()];
        let mut order = Vec::with_capacity(sinks.len());
        for root in 0..sinks.len() {
            if mark[root] != Mark::New {
                continue;
            }
            // Iterative depth-first search: hostile files may nest composites deeply.
            let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
            mark[root] = Mark::Open;
            while let Some(&mut (node, ref mut next)) = stack.last_mut() {
                if let Some(&child) = members(node).get(*next) {
                    *next += 1;
                    match mark[child] {
                        Mark::New => {
                            mark[child] = Mark::Open;
                            depth[child] = stack.len();
                            stack.push((child, 0));
                        }
                        Mark::Open => self.report_cycle(s, &stack[depth[child]..]),
                        Mark::Done => {}
                    }
                } else {
                    mark[node] = Mark::Done;
                    order.push(node);
                    stack.pop();
                }
            }
        }
        order
    }

    /// `cycle` is the part of the search stack from the composite that reaches itself.
    /// A long cycle is shown by its first few sinks and its last, so that the error
    /// stays readable and cheap to render however long the cycle is.
    pub(super) fn report_cycle(&mut self, s: &RawService, cycle: &[(usize, usize)]) {
        const SHOWN: usize = 8;
        let shown: Vec<usize> = if cycle.len() <= SHOWN {
            cycle.iter().map(|&(i, _)| i).collect()
        } else {
            let head = cycle[..SHOWN - 1].iter().map(|&(i, _)| i);
            head.chain(cycle.last().map(|&(i, _)| i)).collect()
        };
        let name = |i: usize| format!("`{}`", printable(&s.sinks[i].name.value));
        let mut path: Vec<String> = shown.iter().map(|&i| name(i)).collect();
        if cycle.len() > SHOWN {
            path.insert(SHOWN - 1, "...".to_owned());
        }
        path.push(name(shown[0]));
        let length = if cycle.len() > SHOWN {
            format!(" of {} sinks", cycle.len())
        } else {
            String::new()
        };
        let first = &s.sinks[shown[0]];
        let mut d = Diagnostic::error(format!(
            "composite sinks of service `{}` form a cycle{length}: {}",
            printable(&s.name.value),
            path.join(" -> ")
        ))
        .with_span(first.name.span.clone())
        .with_label("this composite reaches itself through its members")
        .with_help("remove one of the members so that no composite contains itself, directly or through others");
        for &i in &shown[1..] {
            d = d.with_related(s.sinks[i].name.span.clone(), "part of the cycle");
        }
        self.ctx.push(d);
    }

    /// A composite sends one message type; members that take different types cannot share a frame.
    pub(super) fn composite_message_types(
        &mut self,
        s: &RawService,
        si: usize,
        services: &[ServiceInfo],
        relays: &[RelayInfo],
        order: &[usize],
    ) {
        let sinks = &services[si].sinks;
        // `Some(None)` is bytes; `None` is unknown (broken, cyclic or mixed, already reported).
        let mut types: Vec<Option<Carried>> = vec![None; sinks.len()];
        for &i in order {
            types[i] = match &sinks[i].target {
                Resolved::Relay(r) => {
                    let r = &relays[*r];
                    Some(r.message.clone().map(|m| (m, r.codec)))
                }
                Resolved::Service(t) => {
                    let t = &services[*t];
                    Some(t.message.clone().map(|m| (m, t.codec)))
                }
                Resolved::Endpoint(_) => Some(None),
                Resolved::Broken => None,
                Resolved::Composite(kind, members) => {
                    let mut common: Option<(usize, &Carried)> = None;
                    let mut result = Some(());
                    for &m in members {
                        let Some(t) = &types[m] else {
                            result = None;
                            continue;
                        };
                        match common {
                            None => common = Some((m, t)),
                            Some((first, ft)) if ft != t => {
                                self.mixed_message_types(s, i, *kind, first, ft, m, t);
                                result = None;
                                break;
                            }
                            Some(_) => {}
                        }
                    }
                    result.and(common.map(|(_, t)| t.clone()))
                }
            };
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn mixed_message_types(
        &mut self,
        s: &RawService,
        composite: usize,
        kind: CompositeKind,
        first: usize,
        first_type: &Carried,
        other: usize,
        other_type: &Carried,
    ) {
        let show = |t: &Carried| match t {
            Some((t, Codec::Raw)) => format!("`{t}`"),
            Some((t, codec)) => format!("`{t}` ({} codec)", codec.name()),
            None => "bytes".to_owned(),
        };
        let k = &s.sinks[composite];
        let member_span = |name: &str| match k.targets.first() {
            Some((_, RawTarget::Composite { members, .. })) => members
                .iter()
                .find(|m| m.value == name)
                .map_or(k.name.span.clone(), |m| m.span.clone()),
            _ => k.name.span.clone(),
        };
        let (a, b) = (&s.sinks[first].name.value, &s.sinks[other].name.value);
        self.ctx.push(
            Diagnostic::error(format!(
                "members of composite sink `{}` carry different message types: `{}` takes {}, `{}` takes {}",
                printable(&k.name.value),
                printable(a),
                show(first_type),
                printable(b),
                show(other_type)
            ))
            .with_span(member_span(b))
            .with_label(format!("takes {}", show(other_type)))
            .with_related(member_span(a), format!("takes {}", show(first_type)))
            .with_help(format!(
                "a `{}` sends one message type to all its members; use members with the same `message` and `codec`, or make two composites",
                kind.key()
            )),
        );
    }
}
