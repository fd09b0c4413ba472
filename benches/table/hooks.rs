//! The cases of `../shared/anchors/pluggy_overhead.py`, same names and units.

use std::hint::black_box;
use std::ops::ControlFlow;
use std::sync::Arc;

use arc::plugin::PluginManager;

use super::fixtures::*;
use super::timing::ns_per_call;

pub fn run(out: &mut dyn FnMut(&str, f64, &str)) {
    let direct = direct();
    out("rust_dyn_call", ns_per_call(|| direct.compute(black_box(1))), "ns/call");

    let pm1 = manager(vec![boxed(Answer)]);
    let h1 = pm1.hook::<dyn BenchSpec>();
    let visit_1 = || {
        let mut sum = 0;
        h1.visit_compute(black_box(1), |_, r| {
            sum += r;
            ControlFlow::Continue(())
        })
        .map(|_| sum)
    };
    out("hook_1impl", ns_per_call(visit_1), "ns/call");
    out("hook_1impl_collect", ns_per_call(|| h1.compute(black_box(1))), "ns/call");

    let pm10 = manager((0..10).map(|_| boxed(Answer)).collect());
    let h10 = pm10.hook::<dyn BenchSpec>();
    out("hook_10impl_collect", ns_per_call(|| h10.compute(black_box(1))), "ns/call");

    let mut first: Vec<_> = (0..9).map(|_| boxed(Silent)).collect();
    first.push(boxed(FirstAnswer));
    let pm_first = manager(first);
    let h_first = pm_first.hook::<dyn BenchSpec>();
    out("hook_firstresult_10impl_first_answers", ns_per_call(|| h_first.first(black_box(1))), "ns/call");

    let pm_wrap = manager(vec![boxed(Answer), boxed(NewWrapper)]);
    let h_wrap = pm_wrap.hook::<dyn BenchSpec>();
    out("hook_newstyle_wrapper_1impl", ns_per_call(|| h_wrap.compute(black_box(1))), "ns/call");
    let (wrapper, plugin) = floor_pair();
    out("rust_wrapper_floor", ns_per_call(|| floor_call(&*wrapper, &*plugin, black_box(1))), "ns/call");

    let packs: Vec<_> = (0..100).map(|i| Arc::new(LayerPack::new(i))).collect();
    let register_all = || {
        let pm = PluginManager::new();
        for (i, p) in packs.iter().enumerate() {
            pm.register_shared(p.clone(), &format!("pack{i}")).expect("distinct names");
        }
        pm
    };
    let pm = register_all();
    pm.refresh_registries().expect("no plugin panics");
    assert_eq!(pm.get_layers().len(), 1000);
    out("registry_refresh_100plugins_x10layers", ns_per_call(|| pm.refresh_registries()) / 1000.0, "us/call");
    let registries = pm.registries();
    out(
        "registry_get_layer_cached",
        ns_per_call(|| registries.layers.get(black_box("p42_layer7")).is_some()),
        "ns/call",
    );
    out("manager_get_layer", ns_per_call(|| pm.get_layer(black_box("p42_layer7")).is_ok()), "ns/call");
    out("register_100_plugins", ns_per_call(register_all) / 1000.0, "us/call");
    let register_and_build = || {
        let pm = register_all();
        pm.hook::<dyn arc::plugin::LayerHookSpec>();
        pm
    };
    out("register_100_plugins_and_build_relay", ns_per_call(register_and_build) / 1000.0, "us/call");
    out(
        "plugin_enumeration_linked",
        ns_per_call(|| {
            let pm = PluginManager::new();
            pm.discover_plugins().map(|n| (n, pm))
        }) / 1000.0,
        "us/call",
    );
}
