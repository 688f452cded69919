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
    let idents: Vec<_> = leaves.iter().map(|(sink, _)| &sink.ident).collect();
    let names = leaves.iter().map(|(sink, _)| &sink.name);
    let defaults = leaves.iter().map(|(_, leaf)| &leaf.endpoint);
    let n = proc_macro2::Literal::usize_unsuffixed(leaves.len());
    let name = ident.to_string();
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
    // `Default`, `Clone`, `PartialEq` and `Debug` go through one array of the fields,
    // not one expression per field as derives write them: their code stays a few
    // lines however many sinks there are.
    quote! {
        #doc
        #lints
        #vis struct #ident {
            #(#fields)*
        }

        // `with_endpoints` of a derive with errors leaves `__sinkgen_into` unused.
        #[allow(dead_code)]
        #lints
        impl #ident {
            const fn __sinkgen_fields(&self) -> [&#string; #n] {
                [#(&self.#idents),*]
            }

            fn __sinkgen_from([#(#idents),*]: [#string; #n]) -> Self {
                Self { #(#idents),* }
            }

            fn __sinkgen_into(self) -> [#string; #n] {
                let Self { #(#idents),* } = self;
                [#(#idents),*]
            }
        }

        impl ::core::default::Default for #ident {
            fn default() -> Self {
                Self::__sinkgen_from([#(#defaults),*].map(#string::from))
            }
        }

        impl ::core::clone::Clone for #ident {
            fn clone(&self) -> Self {
                Self::__sinkgen_from(self.__sinkgen_fields().map(#string::clone))
            }
        }

        impl ::core::cmp::PartialEq for #ident {
            fn eq(&self, other: &Self) -> bool {
                self.__sinkgen_fields() == other.__sinkgen_fields()
            }
        }

        impl ::core::cmp::Eq for #ident {}

        impl ::core::fmt::Debug for #ident {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                let mut out = f.debug_struct(#name);
                for (name, value) in [#(#names),*].into_iter().zip(self.__sinkgen_fields()) {
                    out.field(name, value);
                }
                out.finish()
            }
        }
    }
}
