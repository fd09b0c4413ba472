//! An example third-party Arc plugin crate. It depends on `arc-core` alone,
//! and shows the two ways to extend Arc:
//!
//! - [`MyPlugin`]: the seed document's "Creating a Custom Plugin", in Rust
//!   (`custom.MyLayer`, alias `MyLayer`).
//! - [`ExamplePlugin`]: the layers the seed's example file promises, in the
//!   `example` namespace: `example.GELU` (tanh form), `example.SwiGLU` (a
//!   fused custom op with its own backward), `example.RMSNorm` and
//!   `example.RotaryEmbedding` (RoPE), each with an alias.
//!
//! The example layers also show the optional capabilities (`lowering`):
//! `example.GELU`, `example.SwiGLU` and `example.RMSNorm` give the
//! Predictor a row kernel and the ONNX exporter a lowering.
//!
//! A binary links the crate with `arc::link_plugins!(arc_example_plugin);`
//! (the `arc` facade does so with its `example-plugin` feature); its plugins
//! are then found by `discover_plugins()` with no registration code.

mod example;
mod lowering;
mod my_plugin;
mod rope;
mod swiglu;

pub use example::{ExamplePlugin, GeluTanh, RmsNorm};
pub use my_plugin::{MyCustomLayer, MyPlugin};
pub use rope::RotaryEmbedding;
pub use swiglu::{SWIGLU_CUDA, SwiGlu, SwiGluOp};
