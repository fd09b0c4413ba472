//! Criterion benches of hook calls and registries, named after the cases of
//! `../shared/anchors/pluggy_overhead.py`. `cargo bench --bench table`
//! prints the same cases as a table.

use std::hint::black_box;
use std::ops::ControlFlow;

use criterion::{Criterion, criterion_group, criterion_main};

#[path = "fixtures/hooks.rs"]
mod fixtures;

use arc::plugin::PluginManager;
use fixtures::*;

fn hook_calls(c: &mut Criterion) {
    let direct = direct();
    c.bench_function("rust_dyn_call", |b| b.iter(|| direct.compute(black_box(1))));

    let pm1 = manager(vec![boxed(Answer)]);
    let h1 = pm1.hook::<dyn BenchSpec>();
    c.bench_function("hook_1impl", |b| {
        b.iter(|| {
            let mut sum = 0;
            h1.visit_compute(black_box(1), |_, r| {
                sum += r;
                ControlFlow::Continue(())
            })
            .unwrap();
            sum
        })
    });
    c.bench_function("hook_1impl_collect", |b| b.iter(|| h1.compute(black_box(1)).unwrap()));

    let pm10 = manager((0..10).map(|_| boxed(Answer)).collect());
    let h10 = pm10.hook::<dyn BenchSpec>();
    c.bench_function("hook_10impl_collect", |b| b.iter(|| h10.compute(black_box(1)).unwrap()));

    let mut first: Vec<_> = (0..9).map(|_| boxed(Silent)).collect();
    first.push(boxed(FirstAnswer));
    let pm_first = manager(first);
    let h_first = pm_first.hook::<dyn BenchSpec>();
    c.bench_function("hook_firstresult_10impl_first_answers", |b| b.iter(|| h_first.first(black_box(1)).unwrap()));

    let pm_wrap = manager(vec![boxed(Answer), boxed(NewWrapper)]);
    let h_wrap = pm_wrap.hook::<dyn BenchSpec>();
    c.bench_function("hook_newstyle_wrapper_1impl", |b| b.iter(|| h_wrap.compute(black_box(1)).unwrap()));
    let (wrapper, plugin) = floor_pair();
    c.bench_function("rust_wrapper_floor", |b| b.iter(|| floor_call(&*wrapper, &*plugin, black_box(1)).unwrap()));
}

fn registries(c: &mut Criterion) {
    let packs: Vec<_> = (0..100).map(|i| std::sync::Arc::new(LayerPack::new(i))).collect();
    let pm = PluginManager::new();
    for (i, p) in packs.iter().enumerate() {
        pm.register_shared(p.clone(), &format!("pack{i}")).unwrap();
    }
    pm.refresh_registries().unwrap();
    assert_eq!(pm.get_layers().len(), 1000);
    c.bench_function("registry_refresh_100plugins_x10layers", |b| b.iter(|| pm.refresh_registries().unwrap()));
    let registries = pm.registries();
    c.bench_function("registry_get_layer_cached", |b| {
        b.iter(|| registries.layers.get(black_box("p42_layer7")).is_some())
    });
    c.bench_function("manager_get_layer", |b| b.iter(|| pm.get_layer(black_box("p42_layer7")).is_ok()));
    c.bench_function("register_100_plugins", |b| {
        b.iter(|| {
            let pm = PluginManager::new();
            for (i, p) in packs.iter().enumerate() {
                pm.register_shared(p.clone(), &format!("pack{i}")).unwrap();
            }
            pm
        })
    });
}

criterion_group!(benches, hook_calls, registries);
criterion_main!(benches);
