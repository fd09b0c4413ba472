//! `#[arc_plugin(name, version, description, namespace)]` on a struct.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::parse::Parser;
use syn::{ItemStruct, LitStr, Path};

use crate::attr::{Errors, call_site, default_crate, parse_crate, parse_str};

pub struct Plugin {
    krate: Path,
    name: LitStr,
    version: Option<LitStr>,
    description: Option<LitStr>,
    namespace: Option<LitStr>,
}

pub fn parse(args: TokenStream, item: &ItemStruct) -> Result<Plugin, syn::Error> {
    let mut errors = Errors::default();
    let (mut krate, mut name, mut version, mut description, mut namespace) = (None, None, None, None, None);
    let parser = syn::meta::parser(|meta| {
        if parse_crate(&meta, &mut krate)? {
            return Ok(());
        }
        let key = meta.path.get_ident().map(|i| i.to_string()).unwrap_or_default();
        match key.as_str() {
            "name" => parse_str(&meta, &mut name, "name"),
            "version" => parse_str(&meta, &mut version, "version"),
            "description" => parse_str(&meta, &mut description, "description"),
            "namespace" => parse_str(&meta, &mut namespace, "namespace"),
            _ => Err(meta
                .error("unknown arc_plugin option; expected `name`, `version`, `description`, `namespace` or `crate`")),
        }
    });
    if let Err(e) = parser.parse2(args) {
        errors.push(e);
    }
    if !item.generics.params.is_empty() {
        errors.push_spanned(
            &item.generics,
            "a plugin struct cannot be generic: the manager makes one instance of a concrete type",
        );
    }
    for lit in [&name, &namespace].into_iter().flatten() {
        let v = lit.value();
        if v.is_empty() || v.contains('.') || v.chars().any(char::is_whitespace) {
            errors.push_spanned(lit, "names and namespaces are non-empty, with no dots or spaces");
        }
    }
    if name.is_none() {
        errors.push(syn::Error::new(call_site(), "#[arc_plugin] needs a name: #[arc_plugin(name = \"my_plugin\")]"));
    }
    let name = name.unwrap_or_else(|| LitStr::new("", call_site()));
    errors.finish(Plugin { krate: krate.unwrap_or_else(default_crate), name, version, description, namespace })
}

pub fn expand(plugin: Plugin, item: &ItemStruct) -> TokenStream {
    let Plugin { krate, name, version, description, namespace } = plugin;
    let p = quote!(#krate::__private);
    let ident = &item.ident;
    let version = version.map_or_else(|| quote!(::core::env!("CARGO_PKG_VERSION")), |v| quote!(#v));
    let description = description.map_or_else(|| quote!(""), |v| quote!(#v));
    let namespace = namespace.map_or_else(|| quote!("core"), |v| quote!(#v));
    // Spanned on the struct's name: a struct without `Default` is reported there.
    let construct = quote_spanned!(ident.span()=> #p::construct_plugin::<#ident>);
    let metadata = quote! {
        #p::PluginMetadata {
            name: #p::Cow::Borrowed(#name),
            version: #p::Cow::Borrowed(#version),
            description: #p::Cow::Borrowed(#description),
            namespace: #p::Cow::Borrowed(#namespace),
        }
    };
    quote! {
        #item

        impl #p::Plugin for #ident {
            fn metadata(&self) -> #p::PluginMetadata {
                #metadata
            }
        }

        const _: () = {
            #[#p::linkme::distributed_slice(#p::PLUGINS)]
            #[linkme(crate = #p::linkme)]
            static __ARC_PLUGIN: #p::LinkedPlugin = #p::LinkedPlugin {
                metadata: #metadata,
                type_id: ::core::any::TypeId::of::<#ident>,
                construct: #construct,
            };
        };
    }
}
