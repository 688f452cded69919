//! What makes rustc rebuild a derive when its inputs change.
//!
//! A proc macro on stable cannot declare a file dependency, but an `include_bytes!` of
//! the file in its expansion makes rustc track the file; `option_env!` does the same for
//! an environment variable.

use proc_macro2::TokenStream;
use quote::quote;

use crate::Tracking;

/// `const _: &[u8] = include_bytes!("<file>");` and one `option_env!` per variable.
#[must_use]
pub fn emit(tracking: &Tracking) -> TokenStream {
    let file = tracking.file.iter();
    let env = tracking.env.iter();
    quote! {
        #(const _: &[u8] = ::core::include_bytes!(#file);)*
        #(const _: ::core::option::Option<&str> = ::core::option_env!(#env);)*
    }
}
