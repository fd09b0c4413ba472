//! A layer that hands work to rayon's pool records gradients by the caller's mode, not
//! by whatever mode the pool thread was left in. Every thread of this binary's global pool
//! starts with recording off (as a pool thread is while it runs another caller's no-grad
//! job and steals work), so a layer that read the pool thread's own flag records nothing.
//! Its own binary: it configures the global pool.

use arc_builtins::BuiltinLayerPlugin;
use arc_core::spec::Config;
use arc_core::tensor::{Rng, is_grad_enabled, no_grad};
use arc_core::{PluginManager, Result, Tensor};

#[test]
fn bidirectional_recurrent_layers_record_on_pool_threads_with_recording_off() -> Result<()> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .start_handler(|_| std::mem::forget(no_grad()))
        .build_global()
        .expect("the global pool is configured once, before any use");
    assert!(!rayon::join(is_grad_enabled, is_grad_enabled).0, "pool threads start with recording off");
    assert!(is_grad_enabled(), "the test thread records");

    let pm = PluginManager::new();
    pm.register_plugin(BuiltinLayerPlugin, "builtin_layers")?;
    pm.refresh_registries()?;
    for (name, config) in [
        ("LSTM", "{input_size: 3, hidden_size: 2, num_layers: 2, bidirectional: true}"),
        ("GRU", "{input_size: 3, hidden_size: 2, bidirectional: true, batch_first: true}"),
    ] {
        let mut layer = pm.get_layer(name)?.create(&Config::from_yaml(config)?)?;
        layer.set_training(false);
        let x = Tensor::randn(&[4, 2, 3], &mut Rng::new(7)).requires_grad_()?;
        let y = layer.forward_single(&x)?;
        assert!(y.requires_grad(), "{name}: the output is recorded");
        y.square()?.sum_all()?.backward()?;
        assert!(x.grad().is_some(), "{name}: the input has a gradient");
        layer.visit_params("", &mut |param, p| assert!(p.grad().is_some(), "{name}: gradient of {param}"));

        // And the other way: with recording off on the calling thread, nothing is recorded
        // even where a pool thread would record.
        let _off = no_grad();
        assert!(!layer.forward_single(&x)?.requires_grad(), "{name}: no_grad reaches both directions");
    }
    Ok(())
}
