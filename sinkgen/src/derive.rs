//! The derive front end: `#[derive(Sinks)]` with
//! `#[sinks(config = "..", service = "..", receivers = "..", crate = "..")]` (`receivers`
//! names the generated receivers type and asks for it; without it only the sinks are
//! generated; `crate` is the path generated code names the runtime by, `::sinkgen_runtime`
//! by default).
//!
//! The proc-macro crate only forwards tokens to [`expand_derive`]; everything else lives
//! here so that it can be tested and benchmarked as a plain function.
//!
//! Errors are reported where they belong: attribute mistakes at the attribute, problems
//! of the configuration file at the `config` literal (or the derive) with
//! `file:LINE:COLUMN` and the rendered snippet in the message (a proc macro cannot point
//! into a `.toml` file), a field that names no sink or has the wrong type at the field.
//! Beside the errors a plausible stub is emitted, so that one mistake does not cascade.

use std::path::{Path, PathBuf};

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, LitStr};

use sinkgen_templates::stub::Stub;
use sinkgen_templates::{FieldPlan, Layout, Plan, SinkKind, Tracking};

use crate::build::{CONFIG_ENV, default_service, load_shown, relative_paths};
use crate::diagnostic::Diagnostics;

/// Expands `#[derive(Sinks)]`: the input is the item the derive is on, the output the
/// generated items (or `compile_error!`s beside a stub).
#[must_use]
pub fn expand_derive(input: TokenStream) -> TokenStream {
    let input: DeriveInput = match syn::parse2(input) {
        Ok(input) => input,
        Err(e) => return e.to_compile_error(),
    };
    let mut errors = Errors::default();
    let attrs = parse_attrs(&input, &mut errors);
    let fields = shape(&input, &mut errors);
    let mut stub = Stub {
        type_ident: input.ident.clone(),
        vis: input.vis.clone(),
        fields: match &fields {
            Some(Some(named)) => Some(
                named
                    .iter()
                    .filter_map(|f| Some((f.ident.clone()?, f.ty.clone())))
                    .collect(),
            ),
            _ => None,
        },
        tracking: None,
    };
    let (Some(attrs), Some(fields)) = (attrs, fields) else {
        // A stub impl of a generic type would only add errors about its parameters.
        if !input.generics.params.is_empty() {
            return errors.with(TokenStream::new());
        }
        return errors.with(sinkgen_templates::stub::emit(&stub));
    };

    // Where a problem of the file is reported.
    let file_span = attrs
        .config
        .as_ref()
        .map_or_else(Span::call_site, LitStr::span);
    let tracking = |file: Option<&Path>| Tracking {
        file: file.map(|f| f.to_string_lossy().into_owned()),
        env: vec![CONFIG_ENV.to_owned()],
    };

    let Some(manifest_dir) = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from) else {
        errors.push(
            file_span,
            "`CARGO_MANIFEST_DIR` is not set: run the build through cargo",
        );
        return errors.with(sinkgen_templates::stub::emit(&stub));
    };
    let explicit = attrs.config.as_ref().map(|c| PathBuf::from(c.value()));
    let found = crate::find_config(
        explicit.as_deref(),
        &manifest_dir,
        std::env::var_os(CONFIG_ENV),
    );
    let config = match found {
        Ok(path) if path.is_absolute() => path,
        Ok(path) => manifest_dir.join(path),
        Err(diagnostics) => {
            errors.diagnostics(file_span, &diagnostics);
            // Still track the variable: setting it may fix the build.
            stub.tracking = Some(tracking(None));
            return errors.with(sinkgen_templates::stub::emit(&stub));
        }
    };
    stub.tracking = Some(tracking(Some(&config)));

    let loaded = match load_shown(&config) {
        Ok(loaded) => loaded,
        Err(diagnostics) => {
            errors.diagnostics(file_span, &diagnostics);
            return errors.with(sinkgen_templates::stub::emit(&stub));
        }
    };
    let (service, service_span) = match &attrs.service {
        Some(lit) => (lit.value(), lit.span()),
        None => match default_service(std::env::var_os("CARGO_PKG_NAME")) {
            Some(name) => (name, file_span),
            None => {
                errors.push(
                    file_span,
                    "`CARGO_PKG_NAME` is not set: add `service = \"..\"`",
                );
                return errors.with(sinkgen_templates::stub::emit(&stub));
            }
        },
    };
    if let Err(diagnostics) = loaded.service(&service) {
        errors.diagnostics(service_span, &diagnostics);
        return errors.with(sinkgen_templates::stub::emit(&stub));
    }
    let mut plan = match crate::lower::lower(&loaded.topology, &service, input.ident.clone()) {
        Ok(plan) => plan,
        Err(d) => {
            errors.diagnostics(service_span, &d);
            return errors.with(sinkgen_templates::stub::emit(&stub));
        }
    };
    plan.vis = input.vis.clone();
    if let Some(lit) = &attrs.runtime {
        match lit.parse::<syn::Path>() {
            Ok(path) => plan.runtime = path,
            Err(_) => {
                errors.push(
                    lit.span(),
                    format!(
                        "`crate` names the runtime crate by a path, e.g. `crate = \"{}\"`: `{}` is not a path",
                        example("crate"),
                        lit.value()
                    ),
                );
                return errors.with(sinkgen_templates::stub::emit(&stub));
            }
        }
    }
    plan.tracking = stub.tracking.clone();
    plan.layout = match fields {
        None => Layout::UnitStruct,
        Some(named) => {
            let fields = cross_check(&plan, &named, &mut errors);
            Layout::NamedFields {
                fields,
                partial: !errors.is_empty(),
            }
        }
    };
    plan.receivers = receivers(
        &attrs,
        plan.receivers.take(),
        &input.ident,
        &service,
        &mut errors,
    );
    // With bad fields, the real accessors still come out: only `with_endpoints` is a stub.
    errors.with(sinkgen_templates::render(&plan))
}

/// The receivers the derive emits: only when `receivers = "Type"` asks for them, under
/// that name. Opt-in, so that a derive written for sinks keeps compiling when its
/// service subscribes to relays whose types it does not have (or that do not implement
/// `Decode`), and the derive never invents a type name in the user's module.
fn receivers(
    attrs: &Attrs,
    planned: Option<sinkgen_templates::Receivers>,
    sinks: &syn::Ident,
    service: &str,
    errors: &mut Errors,
) -> Option<sinkgen_templates::Receivers> {
    let lit = attrs.receivers.as_ref()?;
    let ident = match lit.parse::<syn::Ident>() {
        Ok(ident) => ident,
        Err(_) => {
            errors.push(
                lit.span(),
                format!(
                    "`receivers` names the generated receivers type, a Rust identifier: \
                     `{:?}` is not one; e.g. `receivers = \"Subscriptions\"`",
                    lit.value()
                ),
            );
            return None;
        }
    };
    if ident == *sinks {
        errors.push(
            lit.span(),
            format!(
                "`receivers` names a second type beside `{sinks}`: it cannot be `{sinks}` itself; \
                 e.g. `receivers = \"{}\"`",
                sinkgen_templates::Receivers::type_beside(sinks)
            ),
        );
        return None;
    }
    let Some(mut planned) = planned else {
        errors.push(
            lit.span(),
            format!(
                "service `{service}` neither subscribes to a relay nor has `listen`: it has no \
                 receivers; remove `receivers = {:?}` or add `subscribes`/`listen` to the service",
                lit.value()
            ),
        );
        return None;
    };
    planned.type_ident = ident;
    Some(planned)
}

/// The keys of `#[sinks(..)]`.
#[derive(Default)]
struct Attrs {
    config: Option<LitStr>,
    service: Option<LitStr>,
    receivers: Option<LitStr>,
    /// `crate = ".."`: the path generated code names the runtime by.
    runtime: Option<LitStr>,
}

const KEYS: &[&str] = &["config", "service", "receivers", "crate"];

/// Reads every `#[sinks(..)]` attribute; `None` when one of them is wrong.
fn parse_attrs(input: &DeriveInput, errors: &mut Errors) -> Option<Attrs> {
    let mut attrs = Attrs::default();
    let before = errors.len();
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("sinks")) {
        let result = attr.parse_nested_meta(|meta| {
            let key = meta.path.get_ident().map(|i| i.unraw().to_string());
            let slot = match key.as_deref() {
                Some("config") => &mut attrs.config,
                Some("service") => &mut attrs.service,
                Some("receivers") => &mut attrs.receivers,
                Some("crate") => &mut attrs.runtime,
                _ => {
                    let written = meta.path.to_token_stream().to_string().replace(' ', "");
                    let hint = match crate::text::did_you_mean(&written, KEYS.iter().copied()) {
                        Some(best) => format!("did you mean `{best}`?"),
                        None => "expected `config`, `service`, `receivers` or `crate`".to_owned(),
                    };
                    return Err(
                        meta.error(format!("unknown key `{written}` in `#[sinks(..)]`; {hint}"))
                    );
                }
            };
            let key = key.unwrap_or_default();
            let value = meta.value()?;
            let expr: syn::Expr = value.parse()?;
            let lit = match expr {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(lit),
                    ..
                }) => lit,
                other => {
                    return Err(syn::Error::new_spanned(
                        other,
                        format!(
                            "`{key}` takes a string literal, e.g. `{key} = \"{}\"`",
                            example(&key)
                        ),
                    ));
                }
            };
            if slot.is_some() {
                return Err(syn::Error::new(
                    meta.path.span(),
                    format!("duplicate key `{key}` in `#[sinks(..)]`; give it once"),
                ));
            }
            *slot = Some(lit);
            Ok(())
        });
        if let Err(e) = result {
            errors.syn(e);
        }
    }
    (errors.len() == before).then_some(attrs)
}

fn example(key: &str) -> &'static str {
    match key {
        "config" => "../services.toml",
        "receivers" => "Subscriptions",
        "crate" => "::my_platform::sinkgen_runtime",
        _ => "flash_arbitrage",
    }
}

/// The struct's named fields (`Some(Some(..))`), a unit struct (`Some(None)`), or `None`
/// after reporting an unsupported shape.
fn shape(input: &DeriveInput, errors: &mut Errors) -> Option<Option<Vec<syn::Field>>> {
    let before = errors.len();
    if !input.generics.params.is_empty() || input.generics.where_clause.is_some() {
        errors.push(
            input.generics.span(),
            "`#[derive(Sinks)]` does not take generic parameters; remove them",
        );
    }
    const SHAPE: &str = "`#[derive(Sinks)]` needs a unit struct (`struct Sinks;`) or a struct \
                         with named fields, one per sink";
    let fields = match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Unit => None,
            Fields::Named(named) => Some(named.named.iter().cloned().collect()),
            Fields::Unnamed(unnamed) => {
                errors.push(unnamed.span(), SHAPE);
                None
            }
        },
        Data::Enum(e) => {
            errors.push(e.enum_token.span, SHAPE);
            None
        }
        Data::Union(u) => {
            errors.push(u.union_token.span, SHAPE);
            None
        }
    };
    (errors.len() == before).then_some(fields)
}

/// Each field must name a sink of the service and have that sink's type.
///
/// The kind of sink (`RelaySink`, `DirectSink`, `CompositeSink`) is checked here, by
/// name; the message type is checked by rustc, at the field's type, in `with_endpoints`.
fn cross_check(plan: &Plan, fields: &[syn::Field], errors: &mut Errors) -> Vec<FieldPlan> {
    let names: Vec<&str> = plan.sinks.iter().map(|s| s.name.as_str()).collect();
    let by_name: std::collections::HashMap<&str, usize> =
        names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let mut out = Vec::with_capacity(fields.len());
    for field in fields {
        let Some(ident) = &field.ident else { continue };
        let name = ident.unraw().to_string();
        let Some(&index) = by_name.get(name.as_str()) else {
            let hint = match crate::text::did_you_mean(&name, names.iter().copied()) {
                Some(best) => format!("; did you mean `{best}`?"),
                None if names.is_empty() => "; the service has no sinks".to_owned(),
                None => format!(
                    "; its sinks are {}",
                    names
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            errors.push(
                ident.span(),
                format!("no sink `{name}` in service `{}`{hint}", plan.service),
            );
            continue;
        };
        let sink = &plan.sinks[index];
        let (wrapper, what) = match sink.kind {
            SinkKind::Relay { .. } => ("RelaySink", "a relay sink"),
            SinkKind::Service { .. } | SinkKind::Endpoint { .. } => ("DirectSink", "a direct sink"),
            SinkKind::Composite { .. } => ("CompositeSink", "a composite sink"),
        };
        let written = match &field.ty {
            syn::Type::Path(p) if p.qself.is_none() => {
                p.path.segments.last().map(|s| s.ident.to_string())
            }
            _ => None,
        };
        if written.as_deref() != Some(wrapper) {
            let message = match &sink.message {
                sinkgen_templates::Message::Bytes => "Bytes".to_owned(),
                sinkgen_templates::Message::Path { text, .. } => text.clone(),
            };
            errors.push(
                field.ty.span(),
                format!(
                    "field `{name}` must have type `{wrapper}<{message}>`: sink `{name}` is {what} \
                     (`{}` line {})",
                    plan.file, sink.line
                ),
            );
            continue;
        }
        out.push(FieldPlan {
            ident: ident.clone(),
            ty: field.ty.clone(),
            sink: index,
        });
    }
    out
}

/// Errors accumulated over the whole expansion, reported together.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn syn(&mut self, e: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }

    fn push(&mut self, span: Span, message: impl std::fmt::Display) {
        self.syn(syn::Error::new(span, message));
    }

    /// Each error of the file as its own `compile_error!`, rendered with its snippet and
    /// `file:LINE:COLUMN` (the `error: ` prefix is rustc's to print).
    fn diagnostics(&mut self, span: Span, diagnostics: &Diagnostics) {
        for d in diagnostics.iter().filter(|d| d.is_error()) {
            let rendered = relative_paths(&diagnostics.render_one(d));
            let rendered = rendered.strip_prefix("error: ").unwrap_or(&rendered);
            self.push(span, rendered.trim_end());
        }
    }

    fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |e| e.into_iter().count())
    }

    fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    fn with(self, tokens: TokenStream) -> TokenStream {
        let errors = self.0.map(|e| e.to_compile_error());
        quote!(#errors #tokens)
    }
}
