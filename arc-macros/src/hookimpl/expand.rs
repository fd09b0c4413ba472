//! Code generation for a checked `#[hookimpl]` block.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};

use super::parse::{Block, Method};

pub fn expand(block: Block) -> TokenStream {
    let Block { krate, item, spec, plugin, methods } = block;
    let p = quote!(#krate::__private);
    let records = methods.iter().map(|m| {
        let Method { ident, tryfirst, trylast, wrapper, before, after } = m;
        let (name, wrapper) = (ident.to_string(), wrapper.is_some());
        quote!(#p::HookImplMethod {
            hook: #name,
            opts: #p::HookImplOpts { tryfirst: #tryfirst, trylast: #trylast, wrapper: #wrapper, before: &[#(#before),*], after: &[#(#after),*] },
        })
    });
    // Names the hook's declaration at the implementing method, so a
    // `#[deprecated]` hook warns here (pluggy's `warn_on_impl`).
    let uses = methods.iter().map(|m| {
        let decl = format_ident!("__ARC_HOOK_{}", m.ident, span = m.ident.span());
        quote_spanned!(m.ident.span()=> let _ = <dyn #spec>::#decl;)
    });
    // A historic hook's calls are replayed to later plugins with nothing to
    // wrap, so a wrapper on one is refused at compile time.
    let checks = methods.iter().filter_map(|m| {
        let w = m.wrapper.as_ref()?;
        let decl = format_ident!("__ARC_HOOK_{}", m.ident, span = m.ident.span());
        let message = format!("hook `{}` is historic: it cannot take a wrapper (its calls are replayed to plugins registered later, with no call to wrap)", m.ident);
        Some(quote_spanned! {w.span()=>
            const _: () = if <dyn #spec>::#decl.historic { ::core::panic!(#message) };
        })
    });
    quote! {
        #item

        const _: () = {
            #(#checks)*
            #(#uses)*

            #[#p::linkme::distributed_slice(#p::HOOK_IMPLS)]
            #[linkme(crate = #p::linkme)]
            static __ARC_HOOK_IMPL: #p::LinkedHookImpl = #p::LinkedHookImpl {
                spec: ::core::any::TypeId::of::<dyn #spec>,
                spec_name: <dyn #spec as #p::HookSpec>::NAME,
                spec_hooks: <dyn #spec as #p::HookSpec>::HOOKS,
                plugin: ::core::any::TypeId::of::<#plugin>,
                cast: |plugin| {
                    plugin.downcast::<#plugin>().ok().map(|plugin| {
                        ::std::boxed::Box::new(plugin as #p::Arc<dyn #spec>) as ::std::boxed::Box<dyn ::core::any::Any>
                    })
                },
                methods: &[#(#records),*],
            };
        };
    }
}
