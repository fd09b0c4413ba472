//! The typed form of a `#[hookimpl] impl Spec for Plugin` block, checked.

use proc_macro2::TokenStream;
use syn::{Ident, ImplItem, ItemImpl, Path, Type};

use crate::attr::{Errors, flag, parse_crate_only, take_flags};

pub struct Block {
    pub krate: Path,
    /// The impl, helper attributes removed.
    pub item: ItemImpl,
    pub spec: Path,
    pub plugin: Type,
    pub methods: Vec<Method>,
}

pub struct Method {
    pub ident: Ident,
    pub tryfirst: bool,
    pub trylast: bool,
    /// The `wrapper` flag, for spans.
    pub wrapper: Option<Ident>,
}

pub fn parse(args: TokenStream, item: &ItemImpl) -> Result<Block, syn::Error> {
    let mut errors = Errors::default();
    let krate = parse_crate_only(args, "hookimpl", &mut errors);
    let mut item = item.clone();
    let spec = match &item.trait_ {
        Some((path, _)) => path.clone(),
        None => {
            errors.push_spanned(
                &item.self_ty,
                "#[hookimpl] goes on `impl SomeHookSpec for Plugin`, not on an inherent impl: name the hook spec trait this block implements",
            );
            syn::parse_quote!(Unknown)
        }
    };
    if !item.generics.params.is_empty() {
        errors.push_spanned(
            &item.generics,
            "#[hookimpl] cannot go on a generic impl: the manager must know the plugin's concrete type",
        );
    }
    if spec.segments.iter().any(|s| !s.arguments.is_empty()) {
        errors.push_spanned(&spec, "a hook spec trait has no generic arguments");
    }
    let mut methods = Vec::new();
    for it in &mut item.items {
        let ImplItem::Fn(f) = it else { continue };
        let flags = take_flags(&mut f.attrs, "hookimpl", &["tryfirst", "trylast", "wrapper"], &mut errors);
        let (tryfirst, trylast) = (flag(&flags, "tryfirst"), flag(&flags, "trylast"));
        if let (Some(_), Some(last)) = (tryfirst, trylast) {
            errors.push_spanned(last, "a hook implementation cannot be both `tryfirst` and `trylast`");
        }
        if f.sig.ident.to_string().starts_with("__arc") {
            errors.push_spanned(&f.sig.ident, "names starting with `__arc` are reserved for generated code");
        }
        let wrapper = flag(&flags, "wrapper").cloned();
        if wrapper.is_some() {
            // The spec's hidden wrapper entry point is what a wrapper overrides.
            f.sig.ident = Ident::new(&format!("__arc_wrap_{}", f.sig.ident), f.sig.ident.span());
        }
        let ident = Ident::new(f.sig.ident.to_string().trim_start_matches("__arc_wrap_"), f.sig.ident.span());
        methods.push(Method { ident, tryfirst: tryfirst.is_some(), trylast: trylast.is_some(), wrapper });
    }
    let plugin = (*item.self_ty).clone();
    errors.finish(Block { krate, item, spec, plugin, methods })
}
