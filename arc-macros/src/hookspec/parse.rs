//! The typed form of a hook-spec trait, checked.

use proc_macro2::TokenStream;
use syn::{FnArg, GenericArgument, Ident, ItemTrait, Pat, PathArguments, ReturnType, TraitItem, Type};

use crate::attr::{Errors, flag, parse_crate_only, take_flags};

/// A checked hook-spec trait.
pub struct Spec {
    pub krate: syn::Path,
    /// The trait, helper attributes removed.
    pub item: ItemTrait,
    pub hooks: Vec<Hook>,
}

/// How a hook's answers come back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Every implementation's answer, in a list.
    Collect,
    /// `firstresult`: the first `Some` answer.
    First,
    /// `historic`: answers go to a callback, now and at each replay.
    Historic,
}

pub struct Hook {
    pub ident: Ident,
    pub docs: Vec<syn::Attribute>,
    /// `#[deprecated]` attributes: put on the hook's declaration constant,
    /// so that implementing the hook warns.
    pub deprecated: Vec<syn::Attribute>,
    pub args: Vec<(Ident, Type)>,
    pub kind: Kind,
    /// One implementation's answer: the return type with `Result<_, E>`
    /// and then `Option<_>` taken off.
    pub answer: Type,
    /// The method returns `Option<_>` (inside a `Result`, if fallible):
    /// `None` is "no answer".
    pub optional: bool,
    /// The method returns `Result<_, E>`: an `Err` stops the call.
    pub fallible: bool,
    /// Monitors see the arguments (`#[hookspec(monitor_args)]`).
    pub monitor_args: bool,
    pub firstresult: bool,
    pub historic: bool,
}

pub fn parse(args: TokenStream, item: &ItemTrait) -> Result<Spec, syn::Error> {
    let mut errors = Errors::default();
    let krate = parse_crate_only(args, "hookspec", &mut errors);
    let mut item = item.clone();
    if !item.generics.params.is_empty() || item.generics.where_clause.is_some() {
        errors.push_spanned(
            &item.generics,
            "a hook spec cannot be generic: plugins are called through `dyn` trait objects",
        );
    }
    let mut hooks = Vec::new();
    for it in &mut item.items {
        let TraitItem::Fn(f) = it else {
            errors.push_spanned(&*it, "a hook spec holds only hook methods");
            continue;
        };
        let flags = take_flags(&mut f.attrs, "hookspec", &["firstresult", "historic", "monitor_args"], &mut errors);
        let firstresult = flag(&flags, "firstresult");
        let historic = flag(&flags, "historic");
        let monitor_args = flag(&flags, "monitor_args").is_some();
        if let (Some(_), Some(h)) = (firstresult, historic) {
            errors.push_spanned(h, "a hook cannot be both `firstresult` and `historic`");
        }
        let sig = &f.sig;
        if sig.ident.to_string().starts_with("__arc") {
            errors.push_spanned(&sig.ident, "names starting with `__arc` are reserved for generated code");
        }
        if !sig.generics.params.is_empty() {
            errors.push_spanned(
                &sig.generics,
                "a hook method cannot be generic: plugins are called through `dyn` trait objects",
            );
        }
        if sig.asyncness.is_some() || sig.constness.is_some() {
            errors.push_spanned(&sig.ident, "a hook method must be a plain `fn`");
        }
        if f.default.is_none() {
            errors.push_spanned(
                &sig.ident,
                format!(
                    "hook `{}` needs a default body, so that plugins implement only the hooks they want",
                    sig.ident
                ),
            );
        }
        let mut args = Vec::new();
        let mut receiver_ok = false;
        for (i, arg) in sig.inputs.iter().enumerate() {
            match arg {
                FnArg::Receiver(r) if i == 0 => {
                    receiver_ok =
                        r.mutability.is_none() && matches!(r.kind, syn::ReceiverKind::Reference(_, None, None));
                }
                FnArg::Receiver(r) => errors.push_spanned(r, "unexpected receiver"),
                FnArg::Typed(pt) => match &*pt.pat {
                    Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => {
                        args.push((p.ident.clone(), (*pt.ty).clone()))
                    }
                    other => errors.push_spanned(other, "hook arguments must be plain names (`name: Type`)"),
                },
            }
        }
        if !receiver_ok {
            errors.push_spanned(&sig.ident, format!("hook `{}` must take `&self`", sig.ident));
        }
        let ret: Type = match &sig.output {
            ReturnType::Default => syn::parse_quote!(()),
            ReturnType::Type(_, ty) => (**ty).clone(),
        };
        let (ok, fallible) = match generic_arg(&ret, "Result") {
            Some(ok) => (ok, true),
            None => (ret.clone(), false),
        };
        let (answer, optional) = match generic_arg(&ok, "Option") {
            Some(inner) => (inner, true),
            None => (ok, false),
        };
        if let (Some(fr), false) = (firstresult, optional) {
            match &sig.output {
                ReturnType::Type(_, ty) => errors.push_spanned(
                    ty,
                    format!("`firstresult` hook `{}` must return `Option<_>` (or `Result<Option<_>, E>`): `None` means \"no answer, ask the next plugin\"", sig.ident),
                ),
                ReturnType::Default => errors.push_spanned(fr, format!("`firstresult` hook `{}` must return `Option<_>`", sig.ident)),
            }
        }
        let kind = if firstresult.is_some() {
            Kind::First
        } else if historic.is_some() {
            Kind::Historic
        } else {
            Kind::Collect
        };
        let docs = f.attrs.iter().filter(|a| a.path().is_ident("doc")).cloned().collect();
        let deprecated = f.attrs.iter().filter(|a| a.path().is_ident("deprecated")).cloned().collect();
        hooks.push(Hook {
            ident: sig.ident.clone(),
            docs,
            deprecated,
            args,
            kind,
            answer,
            optional,
            fallible,
            monitor_args,
            firstresult: firstresult.is_some(),
            historic: historic.is_some(),
        });
    }
    if hooks.is_empty() {
        errors.push_spanned(
            &item.ident,
            format!(
                "hook spec `{}` has no hooks: add at least one hook method (pluggy refuses a spec with none)",
                item.ident
            ),
        );
    }
    check_generated_names(&hooks, &mut errors);
    errors.finish(Spec { krate, item, hooks })
}

/// The relay's generated method names must not collide with a hook's.
fn check_generated_names(hooks: &[Hook], errors: &mut Errors) {
    for h in hooks {
        let mut generated = vec![format!("{}_impls", h.ident)];
        match h.kind {
            Kind::Collect => generated.push(format!("visit_{}", h.ident)),
            Kind::Historic => generated.push(format!("{}_with_results", h.ident)),
            Kind::First => {}
        }
        for other in hooks.iter().filter(|o| generated.iter().any(|g| o.ident == g)) {
            errors.push_spanned(
                &other.ident,
                format!(
                    "hook `{}` has the name of the relay method generated for hook `{}`: rename one",
                    other.ident, h.ident
                ),
            );
        }
    }
}

/// `T` of a type spelled `Option<T>` (`wrapper = "Option"`) or
/// `Result<T, ..>` (`wrapper = "Result"`, any path ending in `Result` with
/// type arguments, so `io::Result<T>` and `arc_core::Result<T>` count).
fn generic_arg(ty: &Type, wrapper: &str) -> Option<Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != wrapper {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    let max = if wrapper == "Option" { 1 } else { 2 };
    match args.args.first()? {
        GenericArgument::Type(t) if args.args.len() <= max => Some(t.clone()),
        _ => None,
    }
}
