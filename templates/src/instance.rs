//! The independent instance: `with_endpoints` and, unless the derived struct has named
//! fields, the `<Type>Instance` type with one accessor per sink.

use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::groups::{Group, Groups, Kind};
use crate::{Layout, Plan, docs, rt};

/// `with_endpoints`, and the instance type it returns (unless the struct's own fields
/// hold the sinks).
#[must_use]
pub fn emit(plan: &Plan) -> TokenStream {
    let ty = &plan.type_ident;
    let with_endpoints = with_endpoints(plan);
    let lints = crate::lint_allows(plan);
    let instance = instance(plan);
    quote! {
        #[allow(dead_code)]
        #lints
        impl #ty {
            #with_endpoints
        }
        #instance
    }
}

/// The instance type, unless the struct's own fields hold the sinks.
fn instance(plan: &Plan) -> TokenStream {
    if let Layout::NamedFields { .. } = plan.layout {
        return TokenStream::new();
    }
    let vis = &plan.vis;
    let ty = &plan.type_ident;
    let ident = plan.instance_ident();
    let name = ident.to_string();
    let doc = crate::doc_attrs(&format!(
        "An independent set of the sinks of service {}, built by \
         [`{ty}::with_endpoints`] ({}).\n\
         \n\
         Its sinks have their own connections: the process-wide sinks of [`{ty}`] are not \
         touched. The accessors mirror those of [`{ty}`].",
        docs::code(&plan.service),
        docs::origin(plan, plan.service_line),
    ));
    let groups = Groups::of(plan);
    let fields = groups.groups.iter().map(|g| {
        let (field, ty, n) = (g.field(), &g.ty, g.len());
        quote!(#field: [#ty; #n],)
    });
    let accessors = plan.sinks.iter().enumerate().map(|(i, sink)| {
        let ident = &sink.ident;
        let (group, at) = groups.of_sink(i);
        let (field, ty) = (group.field(), &group.ty);
        let doc = crate::doc_attrs(&docs::instance_accessor(plan, sink));
        quote! {
            #doc
            #[must_use]
            #[inline]
            #vis const fn #ident(&self) -> &#ty {
                &self.#field[#at]
            }
        }
    });
    let lints = crate::lint_allows(plan);
    quote! {
        #doc
        #lints
        #vis struct #ident {
            #(#fields)*
        }

        // A binary that uses only the process-wide accessors leaves these unused.
        #[allow(dead_code)]
        #lints
        impl #ident {
            #(#accessors)*
        }

        impl ::core::fmt::Debug for #ident {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_struct(#name).finish_non_exhaustive()
            }
        }
    }
}

/// `with_endpoints`, an associated function of the sinks type.
fn with_endpoints(plan: &Plan) -> TokenStream {
    let vis = &plan.vis;
    let endpoints = plan.endpoints_ident();
    if let Layout::NamedFields { partial: true, .. } = plan.layout {
        let message = "sinkgen: fields of this struct have errors (see the compile errors)";
        return quote! {
            #[doc = " Unavailable: fields of this struct have errors."]
            #vis fn with_endpoints(_endpoints: #endpoints) -> Self {
                ::core::panic!(#message)
            }
        };
    }
    // One runtime call per group builds all of its sinks from its table of specs;
    // composites are built from the leaves' arrays (and earlier composites).
    let groups = Groups::of(plan);
    // The index of each leaf's endpoint in the endpoints struct taken apart (its
    // fields are the leaves in file order).
    let mut endpoint = vec![0; plan.sinks.len()];
    let mut leaves = 0;
    for (i, sink) in plan.sinks.iter().enumerate() {
        if sink.kind.leaf().is_some() {
            endpoint[i] = leaves;
            leaves += 1;
        }
    }
    let take_apart = if leaves > 0 {
        quote!(let endpoints = endpoints.__sinkgen_into();)
    } else {
        TokenStream::new()
    };
    let builds = groups.groups.iter().map(|g| {
        let (local, args, n, specs) = (g.field(), &g.args, g.len(), g.specs());
        let value = match g.kind {
            Kind::Relay | Kind::Direct => {
                let f = rt(if g.kind == Kind::Relay {
                    "relays_at"
                } else {
                    "directs_at"
                });
                let at = g
                    .sinks
                    .iter()
                    .map(|&i| Literal::usize_unsuffixed(endpoint[i]));
                quote!(#f::<#args, #n>(Self::#specs(), &endpoints, &[#(#at),*]))
            }
            Kind::Composite => {
                let leaves = |kind: Kind| match groups.sibling(g, kind) {
                    Some(leaves) => {
                        let field = leaves.field();
                        quote!(&#field)
                    }
                    None => quote!(&[]),
                };
                let (relays, directs) = (leaves(Kind::Relay), leaves(Kind::Direct));
                let f = rt("composites_at");
                quote!(#f::<#args, #n>(Self::#specs(), #relays, #directs))
            }
        };
        quote!(let #local = #value;)
    });
    let (ret, construct) = match &plan.layout {
        Layout::Generated | Layout::UnitStruct => {
            let instance = plan.instance_ident();
            let fields = groups.groups.iter().map(Group::field);
            (quote!(#instance), quote!(#instance { #(#fields),* }))
        }
        Layout::NamedFields { fields, .. } => {
            // Each group's array is taken apart into the sinks the fields hold (`_`
            // for the others); the user's field type meets the file's sink type at
            // the field, where a mismatch is reported.
            let mut held: Vec<Option<&Ident>> = vec![None; plan.sinks.len()];
            for f in fields {
                held[f.sink] = Some(&plan.sinks[f.sink].ident);
            }
            let parts = groups.groups.iter().map(|g| {
                let local = g.field();
                let names = g.sinks.iter().map(|&i| match held[i] {
                    Some(name) => quote!(#name),
                    None => quote!(_),
                });
                quote!(let [#(#names),*] = #local;)
            });
            let inits = fields.iter().map(|f| {
                let field = &f.ident;
                let local = Ident::new(&plan.sinks[f.sink].name, f.ty.span());
                quote_spanned!(f.ty.span()=> #field: #local)
            });
            (quote!(Self), quote!(#(#parts)* Self { #(#inits),* }))
        }
    };
    let param = if plan.sinks.iter().any(|s| s.kind.leaf().is_some()) {
        format_ident!("endpoints")
    } else {
        format_ident!("_endpoints")
    };
    let doc = crate::doc_attrs(&format!(
        "Builds an independent set of the sinks of service {} ({}) from explicit \
         endpoints.\n\
         \n\
         No environment variable is read and the process-wide sinks are not touched; \
         nothing connects before the first send. An invalid endpoint gives a sink whose \
         sends fail with a bad-address error.",
        docs::code(&plan.service),
        docs::origin(plan, plan.service_line),
    ));
    quote! {
        #doc
        #[must_use]
        #vis fn with_endpoints(#param: #endpoints) -> #ret {
            #take_apart
            #(#builds)*
            #construct
        }
    }
}
