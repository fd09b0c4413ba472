//! The example plugin, end to end: linked by the `example-plugin` feature,
//! found with no registration code, listed, built from a YAML config, run
//! forward and backward.
//!
//! `cargo run --example custom_plugin_example --features example-plugin`

use arc::nn::{Layer, Param};
use arc::plugin::ComponentKind;
use arc::spec::Config;
use arc::tensor::Rng;
use arc::{Result, Tensor};

fn main() -> Result<()> {
    let pm = arc::get_plugin_manager();
    let example = pm.get_plugin_metadata("example")?;
    println!("plugin `{}` {}: {}", example.name, example.version, example.description);
    for (name, plugin) in pm.get_layers().iter().filter(|(_, p)| p == "example") {
        println!("  layer {name} (from {plugin})");
    }

    // A small block, as a spec would build it: RMSNorm -> RoPE -> SwiGLU -> GELU (tanh).
    let specs = [("RMSNorm", "normalized_shape: 8"), ("RoPE", "dim: 8"), ("SwiGLU", "{}"), ("GELUTanh", "{}")];
    let mut layers: Vec<Box<dyn Layer>> = Vec::new();
    for (name, yaml) in specs {
        let config = Config::from_yaml(yaml)?;
        assert!(pm.validate_component_config(ComponentKind::Layer, name, &config)?);
        let component = pm.get_layer(name)?;
        println!("built {} from `{}`", component.name(), yaml);
        layers.push(component.create(&config)?);
    }

    let x = Tensor::randn(&[2, 4, 8], &mut Rng::new(0)).requires_grad_()?;
    let mut h = x.clone();
    for layer in &layers {
        h = layer.forward_single(&h)?;
    }
    println!("forward: {:?} -> {:?}", x.shape(), h.shape());
    let loss = h.sum_all()?;
    loss.backward()?;
    println!("loss {:.6}; d loss / d x has {} entries", loss.item()?, x.grad().map_or(0, |g| g.numel()));
    layers[0].visit_params("block.norm", &mut |name: &str, p: &Param| {
        println!("  {name}: grad {:?}", p.grad().map(|g| g.shape().to_vec()));
    });
    Ok(())
}
