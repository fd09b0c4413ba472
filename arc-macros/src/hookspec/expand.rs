//! Code generation for a checked hook spec.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::parse::{Hook, Output, Spec};

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
            fn #wrap(&self, #(#args,)* __inner: #p::Inner<'_, #out>) -> #p::Result<#out> {
                #(#unused)*
                __inner.call()
            }
        });
    }

    let decls = hooks.iter().map(|h| {
        let (n, fr, hi) = (h.ident.to_string(), h.firstresult, h.historic);
        quote!(#p::HookDecl { name: #n, firstresult: #fr, historic: #hi })
    });
    let decl_consts = hooks.iter().enumerate().map(|(i, h)| {
        let c = format_ident!("__ARC_HOOK_{}", h.ident);
        quote!(#[doc(hidden)] #[allow(non_upper_case_globals)] pub const #c: #p::HookDecl = <dyn #trait_ident as #p::HookSpec>::HOOKS[#i];)
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
    let methods = hooks.iter().map(|h| relay_methods(h, &p));
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

/// What the whole call returns (and what a wrapper sees).
fn whole_output(h: &Hook, p: &TokenStream) -> TokenStream {
    match &h.output {
        Output::Collect(r) | Output::CollectSome(r) => quote!(#p::HookResults<#r>),
        Output::First(ret) => quote!(#ret),
        Output::Historic(_) => quote!(()),
    }
}

fn relay_methods(h: &Hook, p: &TokenStream) -> TokenStream {
    let Hook { ident, docs, args, output, .. } = h;
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
    let wrap = format_ident!("__arc_wrap_{}", ident);
    let call = quote!(|__p| __p.#ident(#(#clones),*));
    let wrapper = quote!(|__p, __inner| __p.#wrap(#(#clones,)* __inner));
    let visit = format_ident!("visit_{}", ident);
    match output {
        Output::Collect(r) => quote! {
            #(#docs)*
            ///
            /// Returns every implementation's result, in call order.
            pub fn #ident(&self, #(#params),*) -> #p::Result<#p::HookResults<#r>> {
                #(#checks)*
                self.#ident.call_collect(#call, #wrapper)
            }

            #[doc = concat!("Allocation-free form of [`", stringify!(#ident), "`](Self::", stringify!(#ident), "): each result goes to `visit` with its plugin; return `ControlFlow::Break` to stop.")]
            pub fn #visit(
                &self,
                #(#params,)*
                visit: impl ::core::ops::FnMut(&#p::Arc<#p::PluginInfo>, #r) -> ::core::ops::ControlFlow<()>,
            ) -> #p::Result<()> {
                self.#ident.visit(#call, visit, #wrapper)
            }
        },
        Output::CollectSome(r) => quote! {
            #(#docs)*
            ///
            /// Returns the implementations' `Some` answers, in call order.
            pub fn #ident(&self, #(#params),*) -> #p::Result<#p::HookResults<#r>> {
                #(#checks)*
                self.#ident.call_collect_some(#call, #wrapper)
            }

            #[doc = concat!("Allocation-free form of [`", stringify!(#ident), "`](Self::", stringify!(#ident), "): each `Some` answer goes to `visit` with its plugin; return `ControlFlow::Break` to stop.")]
            pub fn #visit(
                &self,
                #(#params,)*
                visit: impl ::core::ops::FnMut(&#p::Arc<#p::PluginInfo>, #r) -> ::core::ops::ControlFlow<()>,
            ) -> #p::Result<()> {
                self.#ident.visit_some(#call, visit, #wrapper)
            }
        },
        Output::First(ret) => quote! {
            #(#docs)*
            ///
            /// `firstresult`: returns the first `Some` answer; later
            /// implementations are not called.
            pub fn #ident(&self, #(#params),*) -> #p::Result<#ret> {
                #(#checks)*
                self.#ident.call_first(#call, #wrapper)
            }
        },
        Output::Historic(r) => {
            let with = format_ident!("{}_with_results", ident);
            let moved = quote!(move |__p| __p.#ident(#(#clones),*));
            quote! {
                #(#docs)*
                ///
                /// Historic: called now on every implementation and remembered,
                /// so plugins registered later are called with the same
                /// arguments when they register. Results are dropped; see the
                /// `_with_results` form.
                pub fn #ident(&self, #(#params),*) -> #p::Result<()> {
                    #(#checks)*
                    self.#ident.call_historic(#moved, ::core::option::Option::None)
                }

                #[doc = concat!("[`", stringify!(#ident), "`](Self::", stringify!(#ident), ") with every result, now and at each replay, handed to `on_result`.")]
                pub fn #with(
                    &self,
                    #(#params,)*
                    on_result: impl ::core::ops::Fn(&#p::PluginInfo, #r) + ::core::marker::Send + ::core::marker::Sync + 'static,
                ) -> #p::Result<()> {
                    #(#checks)*
                    self.#ident.call_historic(#moved, ::core::option::Option::Some(#p::Arc::new(on_result)))
                }
            }
        }
    }
}
