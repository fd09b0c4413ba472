//! Option lists shared by the three macros: `#[x(flag, key = value)]`.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::{Attribute, Error, Ident, LitStr, Path, meta::ParseNestedMeta};

/// Collects errors so that every problem is reported at once.
#[derive(Default)]
pub struct Errors(Option<Error>);

impl Errors {
    pub fn push(&mut self, error: Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub fn push_spanned(&mut self, tokens: impl quote::ToTokens, message: impl std::fmt::Display) {
        self.push(Error::new_spanned(tokens, message));
    }

    /// `Ok(value)` if no error was pushed.
    pub fn finish<T>(self, value: T) -> Result<T, Error> {
        match self.0 {
            Some(e) => Err(e),
            None => Ok(value),
        }
    }
}

/// The runtime crate's path: `::arc_core` unless `crate = path` is given.
pub fn default_crate() -> Path {
    syn::parse_quote!(::arc_core)
}

/// Parses `crate = path` from a nested-meta item; `true` if it was one.
pub fn parse_crate(meta: &ParseNestedMeta, krate: &mut Option<Path>) -> syn::Result<bool> {
    if !meta.path.is_ident("crate") {
        return Ok(false);
    }
    if krate.is_some() {
        return Err(meta.error("duplicate `crate` option"));
    }
    *krate = Some(meta.value()?.parse()?);
    Ok(true)
}

/// Parses a string value `key = "..."`.
pub fn parse_str(meta: &ParseNestedMeta, slot: &mut Option<LitStr>, key: &str) -> syn::Result<()> {
    if slot.is_some() {
        return Err(meta.error(format!("duplicate `{key}` option")));
    }
    *slot = Some(meta.value()?.parse()?);
    Ok(())
}

/// The macro's own arguments (`#[hookspec(..)]` on the item): only
/// `crate = path` is accepted.
pub fn parse_crate_only(args: TokenStream, macro_name: &str, errors: &mut Errors) -> Path {
    let mut krate = None;
    let parser = syn::meta::parser(|meta| {
        if parse_crate(&meta, &mut krate)? {
            Ok(())
        } else {
            Err(meta.error(format!("unknown {macro_name} option: only `crate = path` goes on the item itself")))
        }
    });
    if let Err(e) = parser.parse2(args) {
        errors.push(e);
    }
    krate.unwrap_or_else(default_crate)
}

/// Takes the helper attributes named `name` off `attrs` and parses their
/// flags, each checked against `allowed`. Returns (flag, span) pairs.
pub fn take_flags(attrs: &mut Vec<Attribute>, name: &str, allowed: &[&str], errors: &mut Errors) -> Vec<Ident> {
    let mut flags: Vec<Ident> = Vec::new();
    attrs.retain(|attr| {
        if !attr.path().is_ident(name) {
            return true;
        }
        if matches!(attr.meta, syn::Meta::Path(_)) {
            return false;
        }
        let parsed = attr.parse_nested_meta(|meta| {
            let Some(ident) = meta.path.get_ident() else {
                return Err(meta.error(format!("unknown {name} option; expected one of: {}", allowed.join(", "))));
            };
            if !allowed.iter().any(|a| ident == a) {
                return Err(
                    meta.error(format!("unknown {name} option `{ident}`; expected one of: {}", allowed.join(", ")))
                );
            }
            if flags.iter().any(|f| f == ident) {
                return Err(meta.error(format!("duplicate {name} option `{ident}`")));
            }
            flags.push(ident.clone());
            Ok(())
        });
        if let Err(e) = parsed {
            errors.push(e);
        }
        false
    });
    flags
}

/// Finds a flag by name.
pub fn flag<'a>(flags: &'a [Ident], name: &str) -> Option<&'a Ident> {
    flags.iter().find(|f| *f == name)
}

/// Removes the helper attributes named `name` (for the fallback output).
pub fn strip(attrs: &mut Vec<Attribute>, name: &str) {
    attrs.retain(|a| !a.path().is_ident(name));
}

/// A span for errors about the whole attribute.
pub fn call_site() -> Span {
    Span::call_site()
}
