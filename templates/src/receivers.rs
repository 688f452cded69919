//! The receivers type beside the sinks: one subscription per relay in the service's
//! `subscribes`, and its inbox when it has `listen`.
//!
//! ```text
//! pub struct Subscriptions;
//! impl Subscriptions {
//!     const SPEC_MARKET_DATA: &'static SubscriptionSpec = &SubscriptionSpec { .. };
//!     pub fn market_data() -> Subscription<M> { /* a new handle per call */ }
//!     pub fn inbox() -> Inbox<M> { .. }
//!     pub fn with_endpoints(endpoints: SubscriptionsEndpoints) -> SubscriptionsInstance { .. }
//! }
//! pub struct SubscriptionsEndpoints { pub market_data: String, pub inbox: String }
//! pub struct SubscriptionsInstance { .. }   // the same accessors, at those endpoints
//! ```
//!
//! The accessors return owned handles, not `&'static` ones: receiving needs `&mut`
//! (`recv`, `Stream`), a handle's de-duplication state and queue are its own, and
//! dropping it is how a receiver is cancelled (it closes its connection or listener).

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use crate::{Codec, InboxPlan, Message, Plan, Receivers, SubscriptionPlan, docs, rt};

/// The receivers type, its checks, accessors, endpoints struct and instance.
#[must_use]
pub fn emit(plan: &Plan, receivers: &Receivers) -> TokenStream {
    let vis = &plan.vis;
    let ty = &receivers.type_ident;
    let doc = crate::doc_attrs(&docs_of_type(plan, receivers));
    let checks = checks(plan, receivers);
    let specs = receivers.subscriptions.iter().map(|s| {
        let ident = &s.spec_ident;
        let spec_ty = rt("SubscriptionSpec");
        let spec = subscription_spec(plan, s);
        quote!(const #ident: &'static #spec_ty = &#spec;)
    });
    let inbox_spec = receivers.inbox.as_ref().map(|inbox| {
        let spec_ty = rt("InboxSpec");
        let spec = inbox_spec(plan, inbox);
        quote!(const SPEC_INBOX: &'static #spec_ty = &#spec;)
    });
    let accessors = receivers.subscriptions.iter().map(|s| {
        let doc = crate::doc_attrs(&subscription_doc(plan, s, true));
        let (ident, spec) = (&s.ident, &s.spec_ident);
        let (ret, build) = subscription_parts(s);
        quote! {
            #doc
            #[must_use]
            #vis fn #ident() -> #ret {
                #build(Self::#spec, ::core::option::Option::None)
            }
        }
    });
    let inbox = receivers.inbox.as_ref().map(|inbox| {
        let doc = crate::doc_attrs(&inbox_doc(plan, inbox, true));
        let (ret, build) = inbox_parts(inbox);
        quote! {
            #doc
            #[must_use]
            #vis fn inbox() -> #ret {
                #build(Self::SPEC_INBOX, ::core::option::Option::None)
            }
        }
    });
    let endpoints = receivers.endpoints_ident();
    let instance = receivers.instance_ident();
    let with_doc = crate::doc_attrs(&format!(
        "The receivers of service {} ({}) at explicit endpoints.\n\
         \n\
         No environment variable is read; nothing connects or binds before the first \
         receive. An invalid endpoint gives a receiver whose `recv` returns `None` with \
         the error in its status.",
        docs::code(&plan.service),
        docs::origin(plan, plan.service_line),
    ));
    let lints = lints(receivers);
    let endpoints_struct = endpoints_struct(plan, receivers);
    let instance_type = instance_type(plan, receivers);
    quote! {
        #doc
        #[derive(::core::fmt::Debug, ::core::clone::Clone, ::core::marker::Copy)]
        #vis struct #ty;
        #checks
        #[allow(dead_code)]
        #lints
        impl #ty {
            #(#specs)*
            #inbox_spec
            #(#accessors)*
            #inbox
            #with_doc
            #[must_use]
            #vis fn with_endpoints(endpoints: #endpoints) -> #instance {
                #instance { endpoints }
            }
        }
        #endpoints_struct
        #instance_type
    }
}

/// `non_snake_case` and the clippy allows for relay names like `next`.
fn lints(receivers: &Receivers) -> TokenStream {
    crate::lint_allows_for(receivers.subscriptions.iter().map(|s| s.relay.as_str()))
}

/// The return type and the runtime constructor of a subscription accessor.
fn subscription_parts(s: &SubscriptionPlan) -> (TokenStream, TokenStream) {
    let (wrapper, build) = (rt("Subscription"), rt("subscription"));
    let args = crate::type_args(&s.message, s.codec);
    let constructor = crate::constructor_args(&s.message, s.codec);
    (quote!(#wrapper<#args>), quote!(#build::<#constructor>))
}

/// The return type and the runtime constructor of the inbox accessor.
fn inbox_parts(inbox: &InboxPlan) -> (TokenStream, TokenStream) {
    let (wrapper, build) = (rt("Inbox"), rt("inbox"));
    let args = crate::type_args(&inbox.message, inbox.codec);
    let constructor = crate::constructor_args(&inbox.message, inbox.codec);
    (quote!(#wrapper<#args>), quote!(#build::<#constructor>))
}

/// `require_nats!` and `require_<codec>!` for each receiver that needs a runtime feature.
fn checks(plan: &Plan, receivers: &Receivers) -> TokenStream {
    let mut out = TokenStream::new();
    for s in &receivers.subscriptions {
        let who = format!("subscription `{}` of service `{}`", s.relay, plan.service);
        if s.nats {
            let check = rt("require_nats");
            let endpoint = &s.endpoint;
            out.extend(quote!(#check!(receive #who, #endpoint);));
        }
        if s.tls.is_some() {
            let check = rt("require_tls");
            let endpoint = &s.endpoint;
            out.extend(quote!(#check!(receive #who, #endpoint);));
        }
        out.extend(codec_check(&who, s.codec, &s.message));
    }
    if let Some(inbox) = &receivers.inbox {
        let who = format!("the inbox of service `{}`", plan.service);
        if inbox.tls.is_some() {
            let check = rt("require_tls");
            let endpoint = &inbox.endpoint;
            out.extend(quote!(#check!(receive #who, #endpoint);));
        }
        out.extend(codec_check(&who, inbox.codec, &inbox.message));
    }
    out
}

fn codec_check(who: &str, codec: Codec, message: &Message) -> TokenStream {
    let Some(feature) = codec.feature() else {
        return TokenStream::new();
    };
    let check = rt(&format!("require_{feature}"));
    let message = match message {
        Message::Path { text, .. } => text.as_str(),
        Message::Bytes => "bytes",
    };
    quote!(#check!(receive #who, #message);)
}

fn subscription_spec(plan: &Plan, s: &SubscriptionPlan) -> TokenStream {
    let spec = rt("SubscriptionSpec");
    let (service, relay, endpoint, env) = (&plan.service, &s.relay, &s.endpoint, &s.env);
    let connect_timeout = crate::duration(s.policy.connect_timeout);
    let backoff_initial = crate::duration(s.policy.backoff_initial);
    let backoff_max = crate::duration(s.policy.backoff_max);
    let durable = crate::durable(s.durable);
    let credentials = crate::credentials(s.credentials.as_ref(), &plan.file);
    let tls = crate::tls(s.tls.as_ref(), &plan.file);
    quote! {
        #spec {
            service: #service,
            relay: #relay,
            endpoint: #endpoint,
            env: #env,
            connect_timeout: #connect_timeout,
            backoff_initial: #backoff_initial,
            backoff_max: #backoff_max,
            durable: #durable,
            credentials: #credentials,
            tls: #tls,
        }
    }
}

fn inbox_spec(plan: &Plan, inbox: &InboxPlan) -> TokenStream {
    let spec = rt("InboxSpec");
    let (service, endpoint, env) = (&plan.service, &inbox.endpoint, &inbox.env);
    let senders = &inbox.senders;
    let queue = proc_macro2::Literal::usize_unsuffixed(inbox.queue);
    let tls = crate::tls(inbox.tls.as_ref(), &plan.file);
    quote! {
        #spec {
            service: #service,
            endpoint: #endpoint,
            env: #env,
            senders: &[#(#senders),*],
            queue: #queue,
            tls: #tls,
        }
    }
}

fn docs_of_type(plan: &Plan, receivers: &Receivers) -> String {
    let ty = &receivers.type_ident;
    let endpoints = receivers.endpoints_ident();
    let mut what = Vec::new();
    if !receivers.subscriptions.is_empty() {
        what.push(format!(
            "`{ty}::<relay>()` makes a new subscription to a relay the service subscribes to"
        ));
    }
    if receivers.inbox.is_some() {
        what.push(format!(
            "`{ty}::inbox()` makes the inbox of its `listen` endpoint, which accepts the \
             services that send to it directly"
        ));
    }
    format!(
        "The receivers of service {service}, generated by sinkgen from {origin}.\n\
         \n\
         {what}. Each call returns a new, owned handle: receiving needs `&mut` \
         (`recv().await`, or it is a `Stream`), each handle keeps its own de-duplication \
         state and queue, and dropping it cancels it (its connection or listener closes). \
         Nothing connects or binds before the first receive. Keep one handle per receiver: \
         two inboxes cannot listen on one endpoint.\n\
         \n\
         [`{ty}::with_endpoints`] makes the same receivers at explicit endpoints \
         ([`{endpoints}`]), reading no environment variable: for tests and tools.",
        service = docs::code(&plan.service),
        origin = docs::origin(plan, plan.service_line),
        what = what.join("; "),
    )
}

/// The message sentence of a receiver: "Yields `a::B`" with its codec, or raw bytes.
fn yields(message: &Message, codec: Codec) -> String {
    match message {
        Message::Bytes => "raw bytes, `bytes::Bytes`".to_owned(),
        Message::Path { text, .. } => match codec.feature() {
            Some(codec) => format!("{}, decoded by the {codec} codec", docs::code(text)),
            None => docs::code(text),
        },
    }
}

fn subscription_doc(plan: &Plan, s: &SubscriptionPlan, process: bool) -> String {
    let mut doc = format!(
        "Subscription of service {} to relay {} at {} ({}; subscribed at {}).\n\
         \n\
         Yields {}, each as a `Received` item naming its producer; losses and payloads \
         that do not decode are items too. A new handle per call; it connects on the \
         first receive.",
        docs::code(&plan.service),
        docs::code(&s.relay),
        docs::code(&s.endpoint),
        docs::origin(plan, s.relay_line),
        docs::origin(plan, plan.service_line),
        yields(&s.message, s.codec),
    );
    if process {
        doc.push_str(&format!(
            "\n\nThe environment variable {}, read on each call, replaces the endpoint when \
             set; it is checked like the file, and an invalid value gives a subscription \
             whose `recv` returns `None` with the error in its status.",
            docs::code(&s.env)
        ));
    }
    doc
}

fn inbox_doc(plan: &Plan, inbox: &InboxPlan, process: bool) -> String {
    let senders = if inbox.senders.is_empty() {
        "no service (the file declares no direct sink to it)".to_owned()
    } else {
        inbox
            .senders
            .iter()
            .map(|s| docs::code(s))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut doc = format!(
        "Inbox of service {} at {} ({}).\n\
         \n\
         Yields {}, each as a `Received` item naming the sending service. Accepts the \
         services with a direct sink to it: {senders}; any other is refused with a reason. \
         A new handle per call; it binds on the first receive.",
        docs::code(&plan.service),
        docs::code(&inbox.endpoint),
        docs::origin(plan, plan.service_line),
        yields(&inbox.message, inbox.codec),
    );
    if process {
        doc.push_str(&format!(
            "\n\nThe environment variable {}, read on each call, replaces the endpoint when \
             set; it is checked like the file, and an invalid value gives an inbox whose \
             `recv` returns `None` with the error in its status.",
            docs::code(&inbox.env)
        ));
    }
    doc
}

/// `<Type>Endpoints`: one `String` per receiver, `Default` = the file's endpoints.
fn endpoints_struct(plan: &Plan, receivers: &Receivers) -> TokenStream {
    let vis = &plan.vis;
    let ty = &receivers.type_ident;
    let ident = receivers.endpoints_ident();
    let string = rt("String");
    let doc = crate::doc_attrs(&format!(
        "Endpoints for the receivers of service {} (see [`{ty}::with_endpoints`]).\n\
         \n\
         `Default` gives the endpoints written in {}; no environment variable is read.",
        docs::code(&plan.service),
        docs::origin(plan, plan.service_line),
    ));
    let mut fields = Vec::new();
    let mut defaults = Vec::new();
    for s in &receivers.subscriptions {
        let ident = &s.ident;
        let doc = crate::doc_attrs(&format!(
            "Endpoint of the subscription to relay {}. Default {}, from {}.",
            docs::code(&s.relay),
            docs::code(&s.endpoint),
            docs::origin(plan, s.relay_line),
        ));
        let endpoint = &s.endpoint;
        fields.push(quote!(#doc #vis #ident: #string,));
        defaults.push(quote!(#ident: #string::from(#endpoint),));
    }
    if let Some(inbox) = &receivers.inbox {
        let doc = crate::doc_attrs(&format!(
            "Endpoint the inbox listens on. Default {}, from {}.",
            docs::code(&inbox.endpoint),
            docs::origin(plan, plan.service_line),
        ));
        let endpoint = &inbox.endpoint;
        fields.push(quote!(#doc #vis inbox: #string,));
        defaults.push(quote!(inbox: #string::from(#endpoint),));
    }
    let lints = lints(receivers);
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

/// `<Type>Instance`: the accessors of the receivers type at explicit endpoints.
fn instance_type(plan: &Plan, receivers: &Receivers) -> TokenStream {
    let vis = &plan.vis;
    let ty = &receivers.type_ident;
    let ident = receivers.instance_ident();
    let endpoints = receivers.endpoints_ident();
    let doc = crate::doc_attrs(&format!(
        "The receivers of service {} at explicit endpoints, made by \
         [`{ty}::with_endpoints`] ({}). The accessors mirror those of [`{ty}`]: each call \
         returns a new handle.",
        docs::code(&plan.service),
        docs::origin(plan, plan.service_line),
    ));
    let accessors = receivers.subscriptions.iter().map(|s| {
        let doc = crate::doc_attrs(&subscription_doc(plan, s, false));
        let (ident, spec) = (&s.ident, &s.spec_ident);
        let (ret, build) = subscription_parts(s);
        instance_accessor(
            vis,
            &doc,
            ident,
            &ret,
            &quote!(#build(#ty::#spec, ::core::option::Option::Some(&self.endpoints.#ident))),
        )
    });
    let inbox = receivers.inbox.as_ref().map(|inbox| {
        let doc = crate::doc_attrs(&inbox_doc(plan, inbox, false));
        let (ret, build) = inbox_parts(inbox);
        let ident = format_ident!("inbox");
        instance_accessor(
            vis,
            &doc,
            &ident,
            &ret,
            &quote!(#build(#ty::SPEC_INBOX, ::core::option::Option::Some(&self.endpoints.inbox))),
        )
    });
    let name = ident.to_string();
    let lints = lints(receivers);
    quote! {
        #doc
        #vis struct #ident {
            endpoints: #endpoints,
        }

        #[allow(dead_code)]
        #lints
        impl #ident {
            #(#accessors)*
            #inbox
        }

        impl ::core::fmt::Debug for #ident {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_struct(#name).field("endpoints", &self.endpoints).finish()
            }
        }
    }
}

fn instance_accessor(
    vis: &syn::Visibility,
    doc: &TokenStream,
    ident: &Ident,
    ret: &TokenStream,
    body: &TokenStream,
) -> TokenStream {
    quote! {
        #doc
        #[must_use]
        #vis fn #ident(&self) -> #ret {
            #body
        }
    }
}
