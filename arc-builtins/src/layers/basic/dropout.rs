//! `Dropout`: PyTorch's `torch.nn.Dropout`, with a seeded random stream per layer.

use std::sync::{Arc, Mutex};

use arc_core::lower::{OnnxLowering, RowOp};
use arc_core::nn::{Layer, ShapeSpec, init};
use arc_core::tensor::Rng;
use arc_core::{Result, Tensor};
use serde::Deserialize;

use super::{IdentityOnnx, LayerConfig, invalid, single};

/// Params of `core.Dropout` (`torch.nn.Dropout`).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DropoutConfig {
    /// Probability of zeroing an element, in `[0, 1]`. Default `0.5`.
    #[serde(default = "half")]
    pub p: f32,
    /// Accepted for PyTorch compatibility; Arc never overwrites the input,
    /// so the result is the same either way. Default `false`.
    #[serde(default)]
    #[allow(dead_code, reason = "accepted for PyTorch compatibility, never needed")]
    pub inplace: bool,
}

fn half() -> f32 {
    0.5
}

/// Checks a dropout probability (`Dropout.p`, `PositionalEncoding.dropout`).
pub(super) fn check_probability(component: &str, name: &str, p: f32) -> Result<()> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(invalid(component, format!("`{name}` must be a probability in [0, 1], got {p}")))
    }
}

impl LayerConfig for DropoutConfig {
    const NAME: &'static str = "core.Dropout";

    fn check(&self) -> Result<()> {
        check_probability(Self::NAME, "p", self.p)
    }

    fn build(self) -> Result<Box<dyn Layer>> {
        Ok(Box::new(Dropout::new(self.p)))
    }
}

/// Inverted dropout.
///
/// In training mode (the default, as for a new PyTorch module) each element
/// is zeroed with probability `p` and the others are scaled by `1 / (1 - p)`,
/// so the expected output equals the input; the gradient goes through the
/// same mask. In evaluation mode it is the identity.
///
/// The mask comes from the layer's own stream, seeded from
/// [`nn::init`](arc_core::nn::init)'s stream when the layer is built: a model
/// built after `init::manual_seed(s)` drops the same elements every run (but
/// not the elements PyTorch drops: the generators differ).
///
/// # Shapes
/// any input; the output has its shape.
///
/// ```
/// # use arc_builtins::BuiltinLayerPlugin;
/// # use arc_core::{nn, plugin::PluginManager, spec::Config, Tensor};
/// # let pm = PluginManager::new();
/// # pm.register_plugin(BuiltinLayerPlugin, "builtin_layers")?;
/// # pm.refresh_registries()?;
/// # let create = |name: &str, yaml: &str| pm.get_layer(name)?.create(&Config::from_yaml(yaml)?);
/// let mut dropout = create("Dropout", "p: 0.5")?;
/// let x = Tensor::ones(&[1000]);
/// let y = dropout.forward_single(&x)?.to_vec()?;
/// assert!(y.iter().all(|&v| v == 0.0 || v == 2.0) && y.contains(&0.0));
/// dropout.set_training(false);
/// assert_eq!(dropout.forward_single(&x)?.to_vec()?, x.to_vec()?);
/// # Ok::<(), arc_core::Error>(())
/// ```
#[derive(Debug)]
pub struct Dropout {
    p: f32,
    training: bool,
    rng: Mutex<Rng>,
}

impl Dropout {
    /// A dropout layer in training mode, its stream seeded from `nn::init`'s.
    pub fn new(p: f32) -> Self {
        Self { p, training: true, rng: Mutex::new(seeded_rng()) }
    }
}

/// A stream for a layer's random draws, seeded from `nn::init`'s stream.
pub(super) fn seeded_rng() -> Rng {
    init::with_rng(|rng| Rng::new(rng.next_u64()))
}

/// Applies inverted dropout with the stream behind `rng` (`p == 0`: the input itself).
pub(super) fn apply_dropout(input: &Tensor, p: f32, rng: &Mutex<Rng>) -> Result<Tensor> {
    if p == 0.0 {
        return Ok(input.clone());
    }
    // A poisoned lock only means another thread panicked mid-draw; the stream is still valid.
    let mut rng = rng.lock().unwrap_or_else(|e| e.into_inner());
    device_dropout(input, p, &mut rng)
}

/// `input.dropout(p, rng)` on the input's device: the mask is drawn on the host from the
/// same stream (so a GPU run drops the same elements as a CPU run) and copied over.
pub(crate) fn device_dropout(input: &Tensor, p: f32, rng: &mut Rng) -> Result<Tensor> {
    if input.device().is_cpu() || p == 0.0 {
        return input.dropout(p, rng);
    }
    let mask = Tensor::dropout_mask(input.shape(), p, rng)?.to_device(input.device())?;
    input.mul(&mask)
}

impl Layer for Dropout {
    fn forward_single(&self, input: &Tensor) -> Result<Tensor> {
        if self.training { apply_dropout(input, self.p, &self.rng) } else { Ok(input.clone()) }
    }

    fn set_training(&mut self, training: bool) {
        self.training = training;
    }

    /// The identity at inference.
    fn row_op(&self, input_widths: &[usize]) -> Option<RowOp> {
        (input_widths.len() == 1 && !self.training).then_some(RowOp::Identity)
    }

    /// `Identity`: an exported model is in evaluation mode.
    fn onnx(&self) -> Option<Arc<dyn OnnxLowering>> {
        Some(Arc::new(IdentityOnnx))
    }

    fn output_shape(&self, inputs: &[ShapeSpec]) -> Result<ShapeSpec> {
        single(DropoutConfig::NAME, inputs).cloned()
    }
}
