//! Code generation for a checked hook spec.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::parse::{Hook, Kind, Spec};

pub fn expand(spec: Spec) -> TokenStream {
    let Spec { krate, mut item, hooks } = spec;
    let p = quote!(#krate::__private);
    let trait_ident = item.ident.clone();
    let vis = item.vis.clone();
    let relay = format_ident!("{}Relay", trait_ident);
    let name = trait_ident.to_string();

    // Plugins are shared between threads and live as long as the manager.
    for bound in [quote!(::core::marker::Send), quote!(::core::marker::Sync), quote!('static)] {
        item.supertraits.push(syn::parse_quote!(#bound));
    }
    if item.colon_token.is_none() {
        item.colon_token = Some(Default::default());
    }
    // One hidden wrapper entry point per hook: a wrapper impl overrides it
    // (`#[hookimpl(wrapper)]` renames the user's method to it). A historic
    // hook's is never called: `#[hookimpl]` refuses wrappers on it with a
    // message of its own.
    for h in &hooks {
        let wrap = format_ident!("__arc_wrap_{}", h.ident);
        let out = whole_output(h, &p);
        let args = h.args.iter().map(|(n, t)| quote!(#n: #t));
        let unused = h.args.iter().map(|(n, _)| quote!(let _ = #n;));
        item.items.push(syn::parse_quote! {
            #[doc(hidden)]
            fn #wrap(&self, #(#args,)* __inner: &mut #p::Inner<'_, #out>) {
                #(#unused)*
                __inner.call();
            }
        });
    }

    let decls = hooks.iter().map(|h| {
        let (n, fr, hi) = (h.ident.to_string(), h.firstresult, h.historic);
        quote!(#p::HookDecl { name: #n, firstresult: #fr, historic: #hi })
    });
    // One hidden constant per hook: `#[hookimpl]` names it at each
    // implementing method, so a `#[deprecated]` hook warns there.
    let decl_consts = hooks.iter().enumerate().map(|(i, h)| {
        let c = format_ident!("__ARC_HOOK_{}", h.ident);
        let deprecated = h.deprecated.iter().map(|a| deprecated_for_impl(a, &h.ident));
        quote!(#[doc(hidden)] #[allow(non_upper_case_globals)] #(#deprecated)* pub const #c: #p::HookDecl = <dyn #trait_ident as #p::HookSpec>::HOOKS[#i];)
    });
    let fields = hooks.iter().map(|h| {
        let f = &h.ident;
        quote!(#f: #p::HookCaller<dyn #trait_ident>)
    });
    let builds = hooks.iter().enumerate().map(|(i, h)| {
        let f = &h.ident;
        quote!(#f: #p::HookCaller::build(&<dyn #trait_ident as #p::HookSpec>::HOOKS[#i], impls, monitors, prev.map(|p| &p.#f)))
    });
    let lookups = hooks.iter().map(|h| {
        let (f, n) = (&h.ident, h.ident.to_string());
        quote!(#n => ::core::option::Option::Some(&self.#f))
    });
    let methods = hooks.iter().map(|h| relay_methods(h, &trait_ident, &p));
    let doc = format!("Calls the hooks of [`{name}`] on every plugin that implements them, in pluggy's order.");

    quote! {
        #item

        impl #p::HookSpec for dyn #trait_ident {
            const NAME: &'static str = #name;
            const HOOKS: &'static [#p::HookDecl] = &[#(#decls),*];
            type Relay = #relay;
        }

        impl dyn #trait_ident {
            #(#decl_consts)*
        }

        #[doc = #doc]
        #vis struct #relay {
            #(#fields,)*
        }

        impl #p::SpecRelay<dyn #trait_ident> for #relay {
            fn build(
                impls: &[#p::PluginImpl<dyn #trait_ident>],
                monitors: &#p::Arc<#p::HookMonitors>,
                prev: ::core::option::Option<&Self>,
            ) -> Self {
                Self { #(#builds,)* }
            }

            fn caller(&self, hook: &str) -> ::core::option::Option<&#p::HookCaller<dyn #trait_ident>> {
                match hook {
                    #(#lookups,)*
                    _ => ::core::option::Option::None,
                }
            }
        }

        impl #relay {
            #(#methods)*
        }
    }
}

/// A hook's `#[deprecated]`, reworded for the place it warns: the
/// implementing method.
fn deprecated_for_impl(attr: &syn::Attribute, hook: &syn::Ident) -> TokenStream {
    let mut since = None;
    let mut note = None;
    match &attr.meta {
        syn::Meta::NameValue(nv) => {
            if let syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) = &nv.value {
                note = Some(s.value());
            }
        }
        syn::Meta::List(_) => {
            let _ = attr.parse_nested_meta(|meta| {
                let value: syn::LitStr = meta.value()?.parse()?;
                if meta.path.is_ident("note") {
                    note = Some(value.value());
                } else if meta.path.is_ident("since") {
                    since = Some(value);
                }
                Ok(())
            });
        }
        syn::Meta::Path(_) => {}
    }
    let note = match note {
        Some(n) => format!("this implements the deprecated hook `{hook}`: {n}"),
        None => format!("this implements the deprecated hook `{hook}`"),
    };
    let since = since.map(|s| quote!(since = #s,));
    quote_spanned!(attr.pound_token.span=> #[deprecated(#since note = #note)])
}

/// What a wrapper sees and returns.
fn whole_output(h: &Hook, p: &TokenStream) -> TokenStream {
    let r = &h.answer;
    match h.kind {
        Kind::Collect => quote!(#p::Answers<#r>),
        Kind::First => quote!(::core::option::Option<#r>),
        Kind::Historic => quote!(()),
    }
}

fn relay_methods(h: &Hook, trait_ident: &syn::Ident, p: &TokenStream) -> TokenStream {
    let Hook { ident, docs, args, answer: r, .. } = h;
    let params: Vec<_> = args.iter().map(|(n, t)| quote!(#n: #t)).collect();
    let clones: Vec<_> = args.iter().map(|(n, _)| quote!(::core::clone::Clone::clone(&#n))).collect();
    let checks: Vec<_> = args
        .iter()
        .map(|(_, t)| {
            if h.historic {
                quote_spanned!(t.span()=> #p::assert_historic_arg::<#t>();)
            } else {
                quote_spanned!(t.span()=> #p::assert_hook_arg::<#t>();)
            }
        })
        .collect();
    // The arguments monitors see, one `&dyn Debug` each, checked (and on
    // error reported) at the argument's type; a historic call keeps its
    // arguments, so they are cloned first.
    let monitor = if h.monitor_args {
        let owned: Vec<_> = args
            .iter()
            .enumerate()
            .map(|(i, (n, _))| {
                let o = format_ident!("__arg{}", i);
                if h.historic { quote!(let #o = ::core::clone::Clone::clone(&#n);) } else { quote!(let #o = &#n;) }
            })
            .collect();
        let shown = args.iter().enumerate().map(|(i, (_, t))| {
            let o = format_ident!("__arg{}", i);
            quote_spanned!(t.span()=> #p::shown::<#t>(&#o))
        });
        quote!(#(#owned)* let __args: &[&dyn ::core::fmt::Debug] = &[#(#shown),*]; let __args: #p::MonitorArgs<'_> = ::core::option::Option::Some(&__args);)
    } else {
        quote!(let __args: #p::MonitorArgs<'_> = ::core::option::Option::None;)
    };
    // Every implementation's return normalised to `Result<Option<R>, E>`.
    let invoke = quote!(__p.#ident(#(#clones),*));
    let normalised = match (h.fallible, h.optional) {
        (false, false) => {
            quote!(::core::result::Result::<_, ::core::convert::Infallible>::Ok(::core::option::Option::Some(#invoke)))
        }
        (false, true) => quote!(::core::result::Result::<_, ::core::convert::Infallible>::Ok(#invoke)),
        (true, false) => quote!(#invoke.map(::core::option::Option::Some)),
        (true, true) => quote!(#invoke),
    };
    let call = quote!(|__p: &dyn #trait_ident| #normalised);
    let wrap = format_ident!("__arc_wrap_{}", ident);
    let wrapper = quote!(|__p: &dyn #trait_ident, __inner: &mut #p::Inner<'_, _>| __p.#wrap(#(#clones,)* __inner));
    let impls = format_ident!("{}_impls", ident);
    let impls_doc = format!(
        "The implementations of [`{ident}`](Self::{ident}) in call order, each with its plugin and options (pluggy's `get_hookimpls`)."
    );
    let listing = quote! {
        #[doc = #impls_doc]
        pub fn #impls(&self) -> &[#p::HookImpl<dyn #trait_ident>] {
            self.#ident.impls()
        }
    };
    let fallible_doc = if h.fallible {
        quote!(#[doc = ""] #[doc = "An implementation's `Err` stops the call: it comes back as `Error::HookFailed` naming the plugin, with the original as its `source()`."])
    } else {
        quote!()
    };
    let body = match h.kind {
        Kind::Collect => {
            let visit = format_ident!("visit_{}", ident);
            let visit_doc = format!(
                "Allocation-free form of [`{ident}`](Self::{ident}): each answer goes to `visit` with the plugin that gave it (through wrappers too); return `ControlFlow::Break` to stop."
            );
            quote! {
                #(#docs)*
                ///
                /// Returns the implementations' answers, in call order.
                #fallible_doc
                #[allow(deprecated)]
                pub fn #ident(&self, #(#params),*) -> #p::Result<#p::HookResults<#r>> {
                    #(#checks)*
                    #monitor
                    self.#ident.call_collect(__args, #call, #wrapper)
                }

                #[doc = #visit_doc]
                #[allow(deprecated)]
                pub fn #visit(
                    &self,
                    #(#params,)*
                    visit: impl ::core::ops::FnMut(&#p::Arc<#p::PluginInfo>, #r) -> ::core::ops::ControlFlow<()>,
                ) -> #p::Result<()> {
                    #monitor
                    self.#ident.visit(__args, #call, visit, #wrapper)
                }
            }
        }
        Kind::First => quote! {
            #(#docs)*
            ///
            /// `firstresult`: returns the first `Some` answer; later
            /// implementations are not called.
            #fallible_doc
            #[allow(deprecated)]
            pub fn #ident(&self, #(#params),*) -> #p::Result<::core::option::Option<#r>> {
                #(#checks)*
                #monitor
                self.#ident.call_first(__args, #call, #wrapper)
            }
        },
        Kind::Historic => {
            let with = format_ident!("{}_with_results", ident);
            let moved = quote!(move #call);
            quote! {
                #(#docs)*
                ///
                /// Historic: called now on every implementation and remembered,
                /// so plugins registered later are called with the same
                /// arguments when they register. Answers are dropped; see the
                /// `_with_results` form.
                #fallible_doc
                #[allow(deprecated)]
                pub fn #ident(&self, #(#params),*) -> #p::Result<()> {
                    #(#checks)*
                    #monitor
                    self.#ident.call_historic(__args, #moved, ::core::option::Option::None)
                }

                #[doc = concat!("[`", stringify!(#ident), "`](Self::", stringify!(#ident), ") with every answer handed to `on_result`: this call's after it returns, in call order; a later plugin's when it registers.")]
                #[allow(deprecated)]
                pub fn #with(
                    &self,
                    #(#params,)*
                    on_result: impl ::core::ops::Fn(&#p::PluginInfo, #r) + ::core::marker::Send + ::core::marker::Sync + 'static,
                ) -> #p::Result<()> {
                    #(#checks)*
                    #monitor
                    self.#ident.call_historic(__args, #moved, ::core::option::Option::Some(#p::Arc::new(on_result)))
                }
            }
        }
    };
    quote!(#body #listing)
}
