//! The typed form of a `#[hookimpl] impl Spec for Plugin` block, checked.

use proc_macro2::TokenStream;
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::{Ident, ImplItem, ItemImpl, LitStr, Path, Type};

use crate::attr::{Errors, default_crate, parse_crate};

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
    /// Plugins this implementation runs before (block's and method's).
    pub before: Vec<LitStr>,
    /// Plugins this implementation runs after (block's and method's).
    pub after: Vec<LitStr>,
}

/// `before = ".."` / `after = [..]` options, as written.
#[derive(Default)]
struct Order {
    before: Vec<LitStr>,
    after: Vec<LitStr>,
}

const METHOD_OPTIONS: &str = "tryfirst, trylast, wrapper, before = \"plugin\", after = \"plugin\"";

pub fn parse(args: TokenStream, item: &ItemImpl) -> Result<Block, syn::Error> {
    let mut errors = Errors::default();
    let (krate, block_order) = parse_block_args(args, &mut errors);
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
        let mut method = parse_method_attrs(&mut f.attrs, &mut errors);
        if let (Some(_), Some(last)) = (&method.tryfirst, &method.trylast) {
            errors.push_spanned(last, "a hook implementation cannot be both `tryfirst` and `trylast`");
        }
        if f.sig.ident.to_string().starts_with("__arc") {
            errors.push_spanned(&f.sig.ident, "names starting with `__arc` are reserved for generated code");
        }
        if method.wrapper.is_some() {
            // The spec's hidden wrapper entry point is what a wrapper overrides.
            f.sig.ident = Ident::new(&format!("__arc_wrap_{}", f.sig.ident), f.sig.ident.span());
        }
        let ident = Ident::new(f.sig.ident.to_string().trim_start_matches("__arc_wrap_"), f.sig.ident.span());
        method.order.before.extend(block_order.before.iter().cloned());
        method.order.after.extend(block_order.after.iter().cloned());
        check_order(&method.order, &mut errors);
        methods.push(Method {
            ident,
            tryfirst: method.tryfirst.is_some(),
            trylast: method.trylast.is_some(),
            wrapper: method.wrapper,
            before: method.order.before,
            after: method.order.after,
        });
    }
    let plugin = (*item.self_ty).clone();
    errors.finish(Block { krate, item, spec, plugin, methods })
}

/// `#[hookimpl(..)]` on the block: `crate = path`, and `before` / `after`
/// for every method of the block.
fn parse_block_args(args: TokenStream, errors: &mut Errors) -> (Path, Order) {
    let (mut krate, mut order) = (None, Order::default());
    let parser = syn::meta::parser(|meta| {
        if parse_crate(&meta, &mut krate)? || parse_order(&meta, &mut order)? {
            return Ok(());
        }
        if ["tryfirst", "trylast", "wrapper"].iter().any(|f| meta.path.is_ident(f)) {
            return Err(meta.error("`tryfirst`, `trylast` and `wrapper` go on a method: `#[hookimpl(tryfirst)] fn ..`"));
        }
        Err(meta.error("unknown hookimpl option on the block; expected `crate = path`, `before = \"plugin\"` or `after = \"plugin\"`"))
    });
    if let Err(e) = parser.parse2(args) {
        errors.push(e);
    }
    (krate.unwrap_or_else(default_crate), order)
}

struct MethodAttrs {
    tryfirst: Option<Ident>,
    trylast: Option<Ident>,
    wrapper: Option<Ident>,
    order: Order,
}

/// Takes the `#[hookimpl(..)]` attributes off a method and parses them.
fn parse_method_attrs(attrs: &mut Vec<syn::Attribute>, errors: &mut Errors) -> MethodAttrs {
    let mut out = MethodAttrs { tryfirst: None, trylast: None, wrapper: None, order: Order::default() };
    attrs.retain(|attr| {
        if !attr.path().is_ident("hookimpl") {
            return true;
        }
        if matches!(attr.meta, syn::Meta::Path(_)) {
            return false;
        }
        let parsed = attr.parse_nested_meta(|meta| {
            if parse_order(&meta, &mut out.order)? {
                return Ok(());
            }
            let flag = match meta.path.get_ident().map(|i| i.to_string()).as_deref() {
                Some("tryfirst") => &mut out.tryfirst,
                Some("trylast") => &mut out.trylast,
                Some("wrapper") => &mut out.wrapper,
                Some(other) => {
                    return Err(
                        meta.error(format!("unknown hookimpl option `{other}`; expected one of: {METHOD_OPTIONS}"))
                    );
                }
                None => return Err(meta.error(format!("unknown hookimpl option; expected one of: {METHOD_OPTIONS}"))),
            };
            let ident = meta.path.get_ident().expect("matched an ident").clone();
            if flag.is_some() {
                return Err(meta.error(format!("duplicate hookimpl option `{ident}`")));
            }
            *flag = Some(ident);
            Ok(())
        });
        if let Err(e) = parsed {
            errors.push(e);
        }
        false
    });
    out
}

/// Parses `before = "a"` or `after = ["a", "b"]`; `false` if `meta` is
/// neither.
fn parse_order(meta: &ParseNestedMeta, order: &mut Order) -> syn::Result<bool> {
    let list = if meta.path.is_ident("before") {
        &mut order.before
    } else if meta.path.is_ident("after") {
        &mut order.after
    } else {
        return Ok(false);
    };
    let key = if meta.path.is_ident("before") { "before" } else { "after" };
    let expected = || {
        format!("`{key}` takes a plugin name or a list of them: `{key} = \"other_plugin\"` or `{key} = [\"a\", \"b\"]`")
    };
    let value = meta.value().map_err(|_| meta.error(expected()))?;
    if value.peek(syn::token::Bracket) {
        let content;
        syn::bracketed!(content in value);
        let names = content
            .parse_terminated(|s| s.parse::<LitStr>(), syn::Token![,])
            .map_err(|e| syn::Error::new(e.span(), expected()))?;
        if names.is_empty() {
            return Err(meta.error(format!("`{key} = []` names no plugin")));
        }
        list.extend(names);
    } else {
        let lit: LitStr = value.parse().map_err(|e| syn::Error::new(e.span(), expected()))?;
        list.push(lit);
    }
    Ok(true)
}

/// Plugin names are non-empty, without whitespace, each named once, and
/// never both before and after.
fn check_order(order: &Order, errors: &mut Errors) {
    for (i, lit) in order.before.iter().chain(&order.after).enumerate() {
        let name = lit.value();
        if name.is_empty() || name.chars().any(char::is_whitespace) {
            errors.push_spanned(lit, "a plugin name is non-empty, with no spaces");
        }
        let earlier = order.before.iter().chain(&order.after).take(i).any(|l| l.value() == name);
        if earlier {
            let both = order.before.iter().any(|l| l.value() == name) && order.after.iter().any(|l| l.value() == name);
            let message = if both {
                format!(
                    "plugin `{name}` is named in both `before` and `after`: an implementation cannot run both before and after it"
                )
            } else {
                format!("plugin `{name}` is named twice")
            };
            errors.push_spanned(lit, message);
        }
    }
}
