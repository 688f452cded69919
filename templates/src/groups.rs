//! Sinks grouped by what rustc sees of them: one group per kind (relay, direct,
//! composite), message type and codec.
//!
//! Generated code keeps one table per group (the specs, the process-wide cells, an
//! instance's sinks) and one private getter per group, so the code per sink is a row
//! of a table and a one-line accessor: rustc's work per sink stays small and flat,
//! and generic runtime code is instantiated once per group, not once per sink.

use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote};

use crate::{Plan, SinkKind, constructor_args, rt, sink_codec, sink_type};

/// The kind of sink a group holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Relay,
    Direct,
    Composite,
}

/// Sinks of one kind, message type and codec.
pub(crate) struct Group {
    pub kind: Kind,
    /// `M` and codec, as the message type's tokens and the codec's name: the groups of
    /// one message type share it.
    key: String,
    /// `RelaySink<M, C>` and so on.
    pub ty: TokenStream,
    /// `M, C` for a runtime constructor's turbofish.
    pub args: TokenStream,
    /// Indices in [`Plan::sinks`], in table order (a composite after the composites
    /// it names).
    pub sinks: Vec<usize>,
    /// The group's number among all groups (names its getter, specs and field).
    number: usize,
}

impl Group {
    /// `__sinkgen_sinks_<n>`: `fn(usize) -> &'static <Sink>`, the process-wide sink of
    /// the group at an index, built on first call.
    pub fn getter(&self) -> Ident {
        format_ident!("__sinkgen_sinks_{}", self.number)
    }

    /// `__sinkgen_specs_<n>`: `fn() -> &'static [<Spec>; N]`, the group's specs.
    pub fn specs(&self) -> Ident {
        format_ident!("__sinkgen_specs_{}", self.number)
    }

    /// `g<n>`: the instance's field (and `with_endpoints`' local) holding the group's
    /// sinks (no `_`: clippy's `struct_field_names` flags fields with a common prefix).
    pub fn field(&self) -> Ident {
        format_ident!("g{}", self.number)
    }

    /// The number of sinks, as a literal.
    pub fn len(&self) -> Literal {
        Literal::usize_unsuffixed(self.sinks.len())
    }
}

/// Every sink of a plan in its group.
pub(crate) struct Groups {
    pub groups: Vec<Group>,
    /// Per sink of the plan: its group and its index in that group.
    pub slot: Vec<(usize, usize)>,
}

impl Groups {
    pub fn of(plan: &Plan) -> Groups {
        let mut groups: Vec<Group> = Vec::new();
        let mut slot = vec![(0, 0); plan.sinks.len()];
        // Leaves in file order, composites in build order (members first).
        let leaves = (0..plan.sinks.len()).filter(|&i| plan.sinks[i].kind.leaf().is_some());
        let composites = plan
            .build_order()
            .into_iter()
            .filter(|&i| plan.sinks[i].kind.leaf().is_none());
        for i in leaves.chain(composites) {
            let sink = &plan.sinks[i];
            let kind = match sink.kind {
                SinkKind::Relay { .. } => Kind::Relay,
                SinkKind::Service { .. } | SinkKind::Endpoint { .. } => Kind::Direct,
                SinkKind::Composite { .. } => Kind::Composite,
            };
            let args = constructor_args(&sink.message, sink_codec(plan, sink));
            let key = args.to_string();
            let at = match groups.iter().position(|g| g.kind == kind && g.key == key) {
                Some(at) => at,
                None => {
                    groups.push(Group {
                        kind,
                        key,
                        ty: sink_type(plan, sink),
                        args,
                        sinks: Vec::new(),
                        number: groups.len(),
                    });
                    groups.len() - 1
                }
            };
            slot[i] = (at, groups[at].sinks.len());
            groups[at].sinks.push(i);
        }
        Groups { groups, slot }
    }

    /// The group of sink `i` and its index there, as a literal.
    pub fn of_sink(&self, i: usize) -> (&Group, Literal) {
        let (g, at) = self.slot[i];
        (&self.groups[g], Literal::usize_unsuffixed(at))
    }

    /// The group of `kind` with the same message type and codec as `group`.
    pub fn sibling(&self, group: &Group, kind: Kind) -> Option<&Group> {
        self.groups
            .iter()
            .find(|g| g.kind == kind && g.key == group.key)
    }

    /// `CompositeSpec { .. }` rows of a composite group.
    pub fn composite_specs(&self, plan: &Plan, group: &Group) -> Vec<TokenStream> {
        let spec = rt("CompositeSpec");
        let mode = rt("Mode");
        let member = rt("MemberRef");
        group
            .sinks
            .iter()
            .map(|&i| {
                let sink = &plan.sinks[i];
                let SinkKind::Composite { op, members } = &sink.kind else {
                    return TokenStream::new();
                };
                let op = match op {
                    crate::CompositeOp::Broadcast => quote!(Broadcast),
                    crate::CompositeOp::RoundRobin => quote!(RoundRobin),
                    crate::CompositeOp::Failover => quote!(Failover),
                };
                let members = members.iter().map(|&m| {
                    let (g, at) = self.of_sink(m);
                    match g.kind {
                        Kind::Relay => quote!(#member::Relay(#at)),
                        Kind::Direct => quote!(#member::Direct(#at)),
                        Kind::Composite => quote!(#member::Composite(#at)),
                    }
                });
                let name = &sink.name;
                quote!(#spec { name: #name, mode: #mode::#op, members: &[#(#members),*] })
            })
            .collect()
    }
}
