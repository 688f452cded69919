//! `<Type>Endpoints`: one `String` per leaf sink, `Default` = the file's endpoints.

use proc_macro2::TokenStream;
use quote::quote;

use crate::{Plan, docs, rt};

/// The endpoints struct and its `Default` impl.
#[must_use]
pub fn emit(plan: &Plan) -> TokenStream {
    let vis = &plan.vis;
    let ty = &plan.type_ident;
    let ident = plan.endpoints_ident();
    let string = rt("String");
    let doc = crate::doc_attrs(&format!(
        "Endpoints for an independent set of the sinks of service {} (see \
         [`{ty}::with_endpoints`]): one per sink that connects.\n\
         \n\
         `Default` gives the endpoints written in {}; no environment variable is read.",
        docs::code(&plan.service),
        docs::origin(plan, plan.service_line),
    ));
    let leaves: Vec<_> = plan
        .sinks
        .iter()
        .filter_map(|s| s.kind.leaf().map(|leaf| (s, leaf)))
        .collect();
    let fields = leaves.iter().map(|(sink, leaf)| {
        let ident = &sink.ident;
        let doc = crate::doc_attrs(&format!(
            "Endpoint of sink {}: {}. Default {}, from {}.",
            docs::code(&sink.name),
            docs::target(plan, sink),
            docs::code(&leaf.endpoint),
            docs::origin(plan, sink.line),
        ));
        quote! {
            #doc
            #vis #ident: #string,
        }
    });
    let defaults = leaves.iter().map(|(sink, leaf)| {
        let ident = &sink.ident;
        let endpoint = &leaf.endpoint;
        quote!(#ident: #string::from(#endpoint),)
    });
    let lints = crate::lint_allows(plan);
    if leaves.is_empty() {
        // Nothing connects: clippy would ask for the derive.
        return quote! {
            #doc
            #[derive(
                ::core::fmt::Debug,
                ::core::clone::Clone,
                ::core::default::Default,
                ::core::cmp::PartialEq,
                ::core::cmp::Eq,
            )]
            #vis struct #ident {}
        };
    }
    quote! {
        #doc
        #[derive(::core::fmt::Debug, ::core::clone::Clone, ::core::cmp::PartialEq, ::core::cmp::Eq)]
        #lints
        #vis struct #ident {
            #(#fields)*
        }

        impl ::core::default::Default for #ident {
            fn default() -> Self {
                Self {
                    #(#defaults)*
                }
            }
        }
    }
}
