//! The independent instance: `with_endpoints` and, unless the derived struct has named
//! fields, the `<Type>Instance` type with one accessor per sink.

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::{Layout, Plan, SinkKind, docs, rt, sink_type};

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
    let fields = plan.sinks.iter().map(|sink| {
        let ident = &sink.ident;
        let ty = sink_type(plan, sink);
        quote!(#ident: #ty,)
    });
    let accessors = plan.sinks.iter().map(|sink| {
        let ident = &sink.ident;
        let ty = sink_type(plan, sink);
        let doc = crate::doc_attrs(&docs::instance_accessor(plan, sink));
        quote! {
            #doc
            #[must_use]
            #vis const fn #ident(&self) -> &#ty {
                &self.#ident
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
    let (ret, needed, construct) = match &plan.layout {
        Layout::Generated | Layout::UnitStruct => {
            let instance = plan.instance_ident();
            let fields = plan.sinks.iter().map(|s| &s.ident);
            let needed = vec![true; plan.sinks.len()];
            (
                quote!(#instance),
                needed,
                quote!(#instance { #(#fields),* }),
            )
        }
        Layout::NamedFields { fields, .. } => {
            let needed = plan.closure(fields.iter().map(|f| f.sink));
            // The user's field type meets the file's sink type here: a mismatch is reported
            // at the field's type.
            let inits = fields.iter().map(|f| {
                let field = &f.ident;
                let local = Ident::new(&plan.sinks[f.sink].name, f.ty.span());
                quote_spanned!(f.ty.span()=> #field: #local)
            });
            (quote!(Self), needed, quote!(Self { #(#inits),* }))
        }
    };
    // One local per sink, all declared by one `let` and assigned in build order:
    // a `let` per sink would nest one scope per sink, which rustc's debug info walks
    // recursively (thousands of sinks overflowed its stack).
    let order: Vec<usize> = plan
        .build_order()
        .into_iter()
        .filter(|&i| needed[i])
        .collect();
    let locals = order.iter().map(|&i| &plan.sinks[i].ident);
    let assignments = order.iter().map(|&i| {
        let sink = &plan.sinks[i];
        let ident = &sink.ident;
        let message = crate::constructor_args(&sink.message, crate::sink_codec(plan, sink));
        let spec = &sink.spec_ident;
        let value = match &sink.kind {
            SinkKind::Relay { .. } => {
                let f = rt("relay_at");
                quote!(#f::<#message>(Self::#spec, &endpoints.#ident))
            }
            SinkKind::Service { .. } | SinkKind::Endpoint { .. } => {
                let f = rt("direct_at");
                quote!(#f::<#message>(Self::#spec, &endpoints.#ident))
            }
            SinkKind::Composite { op, members } => {
                let members = members.iter().map(|&m| {
                    let member = &plan.sinks[m].ident;
                    quote!(#member.clone())
                });
                crate::composite(&sink.name, *op, members)
            }
        };
        quote!(#ident = #value;)
    });
    let declare = if order.is_empty() {
        TokenStream::new()
    } else {
        quote!(let (#(#locals,)*);)
    };
    let param = if order.iter().any(|&i| plan.sinks[i].kind.leaf().is_some()) {
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
            #declare
            #(#assignments)*
            #construct
        }
    }
}
