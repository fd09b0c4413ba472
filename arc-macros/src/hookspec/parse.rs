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

/// How a hook's results come back.
pub enum Output {
    /// `Vec<R>` of every result (`R` is the method's return type).
    Collect(Type),
    /// `Vec<R>` of the `Some` answers of a method returning `Option<R>`.
    CollectSome(Type),
    /// `firstresult`: `Option<R>` of a method returning `Option<R>`.
    First(Type),
    /// `historic`: results go to a callback; `R` is the return type.
    Historic(Type),
}

pub struct Hook {
    pub ident: Ident,
    pub docs: Vec<syn::Attribute>,
    pub args: Vec<(Ident, Type)>,
    pub output: Output,
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
        let flags = take_flags(&mut f.attrs, "hookspec", &["firstresult", "historic"], &mut errors);
        let firstresult = flag(&flags, "firstresult");
        let historic = flag(&flags, "historic");
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
        let output = if let Some(fr) = firstresult {
            match option_inner(&ret) {
                Some(_) => Output::First(ret),
                None => {
                    match &sig.output {
                        ReturnType::Type(_, ty) => errors.push_spanned(
                            ty,
                            format!("`firstresult` hook `{}` must return `Option<_>`: `None` means \"no answer, ask the next plugin\"", sig.ident),
                        ),
                        ReturnType::Default => errors.push_spanned(fr, format!("`firstresult` hook `{}` must return `Option<_>`", sig.ident)),
                    }
                    Output::First(ret)
                }
            }
        } else if historic.is_some() {
            Output::Historic(ret)
        } else if let Some(inner) = option_inner(&ret) {
            Output::CollectSome(inner)
        } else {
            Output::Collect(ret)
        };
        let docs = f.attrs.iter().filter(|a| a.path().is_ident("doc")).cloned().collect();
        hooks.push(Hook {
            ident: sig.ident.clone(),
            docs,
            args,
            output,
            firstresult: firstresult.is_some(),
            historic: historic.is_some(),
        });
    }
    errors.finish(Spec { krate, item, hooks })
}

/// `R` of a type spelled `Option<R>`.
fn option_inner(ty: &Type) -> Option<Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Option" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        GenericArgument::Type(t) if args.args.len() == 1 => Some(t.clone()),
        _ => None,
    }
}
