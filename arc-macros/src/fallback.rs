//! On invalid input: the errors, plus the user's item unchanged (helper
//! attributes removed), so one mistake does not cascade into unrelated
//! errors elsewhere in their crate.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Error, ImplItem, ItemImpl, ItemStruct, ItemTrait, TraitItem};

use crate::attr::strip;

pub fn hookspec(errors: Error, mut item: ItemTrait) -> TokenStream {
    for it in &mut item.items {
        if let TraitItem::Fn(f) = it {
            strip(&mut f.attrs, "hookspec");
        }
    }
    let errors = errors.to_compile_error();
    quote!(#errors #item)
}

pub fn hookimpl(errors: Error, mut item: ItemImpl) -> TokenStream {
    for it in &mut item.items {
        if let ImplItem::Fn(f) = it {
            strip(&mut f.attrs, "hookimpl");
        }
    }
    let errors = errors.to_compile_error();
    quote!(#errors #item)
}

pub fn plugin(errors: Error, item: &ItemStruct) -> TokenStream {
    let errors = errors.to_compile_error();
    quote!(#errors #item)
}
