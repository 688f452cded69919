//! The stand-in a derive emits beside its errors, so that one mistake in `services.toml`
//! does not cascade into an error at every use of the sinks type.

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use crate::{Tracking, tracking};

/// What is known of the derived type when its plan could not be built.
#[derive(Debug, Clone)]
pub struct Stub {
    /// The derived type.
    pub type_ident: Ident,
    /// Its visibility.
    pub vis: syn::Visibility,
    /// Its named fields and their types, if it has named fields.
    pub fields: Option<Vec<(Ident, syn::Type)>>,
    /// Inputs to track, when the file was found.
    pub tracking: Option<Tracking>,
}

/// Accessors that panic, `with_endpoints` and an empty endpoints struct; nothing that can
/// itself fail to compile.
#[must_use]
pub fn emit(stub: &Stub) -> TokenStream {
    let ty = &stub.type_ident;
    let vis = &stub.vis;
    let endpoints = format_ident!("{}Endpoints", ty);
    let message = "sinkgen: the sinks configuration has errors (see the compile errors)";
    let (accessors, ret) = match &stub.fields {
        Some(fields) => {
            let accessors = fields.iter().map(|(ident, ty)| {
                quote! {
                    #[doc = " Unavailable: the sinks configuration has errors."]
                    #vis fn #ident() -> &'static #ty {
                        ::core::panic!(#message)
                    }
                }
            });
            (quote!(#(#accessors)*), quote!(Self))
        }
        None => (TokenStream::new(), quote!(#endpoints)),
    };
    let tracking = stub.tracking.as_ref().map(tracking::emit);
    quote! {
        #[doc = " Unavailable: the sinks configuration has errors."]
        #[derive(::core::fmt::Debug, ::core::default::Default)]
        #vis struct #endpoints {}

        #[allow(dead_code)]
        impl #ty {
            #accessors
            #[doc = " Unavailable: the sinks configuration has errors."]
            #vis fn with_endpoints(_endpoints: #endpoints) -> #ret {
                ::core::panic!(#message)
            }
        }
        #tracking
    }
}
