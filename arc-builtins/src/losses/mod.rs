//! PyTorch's seventeen standard losses, registered in the `core` namespace
//! under PyTorch's names (`core.MSELoss`, `core.CrossEntropyLoss`, ...).
//!
//! The losses are grouped by family: `regression` (MSELoss, L1Loss,
//! SmoothL1Loss, HuberLoss, PoissonNLLLoss, KLDivLoss), `classification`
//! (CrossEntropyLoss, NLLLoss), `binary` (BCELoss, BCEWithLogitsLoss,
//! MultiLabelSoftMarginLoss) and `margin` (MarginRankingLoss,
//! HingeEmbeddingLoss, MultiLabelMarginLoss, MultiMarginLoss,
//! TripletMarginLoss, CosineEmbeddingLoss). Options and defaults are
//! PyTorch's; every loss takes `reduction` (`mean`, `sum`, `none`, and
//! `batchmean` for KLDivLoss). Each family registers its losses and checks
//! their configs: a config is valid when the loss can be built from it.

use arc_core::plugin::{LossHookSpec, LossRegistrations, Registrations};
use arc_core::spec::Config;
use arc_core::{arc_plugin, hookimpl};

/// A loss constructor from its config.
type LossFactory = fn(&Config) -> arc_core::Result<Box<dyn arc_core::nn::Loss>>;

/// Every family's losses, in registration order.
fn families() -> impl Iterator<Item = &'static (&'static str, LossFactory, arc_core::plugin::ParamsSchema)> {
    regression::LOSSES.iter().chain(classification::LOSSES).chain(binary::LOSSES).chain(margin::LOSSES)
}

mod binary;
pub(crate) use binary::BCE_CUDA_SOURCE;
mod classification;
mod common;
mod margin;
mod regression;

/// Registers PyTorch's standard loss functions.
///
/// ```
/// use arc_builtins::BuiltinLossPlugin;
/// use arc_core::Tensor;
/// use arc_core::plugin::PluginManager;
/// use arc_core::spec::Config;
///
/// let manager = PluginManager::new();
/// manager.register_plugin(BuiltinLossPlugin, "builtin_losses")?;
/// manager.refresh_registries()?;
/// let mse = manager.get_loss("MSELoss")?.create(&Config::from_yaml("reduction: sum")?)?;
/// assert_eq!(mse.input_names(), ["pred", "target"]);
/// let pred = Tensor::from_vec(vec![1.0, 2.0], &[2])?;
/// let target = Tensor::from_vec(vec![0.0, 4.0], &[2])?;
/// assert_eq!(mse.forward(&[&pred, &target])?.item()?, 5.0); // 1^2 + (-2)^2
///
/// // Uniform logits over 4 classes: the cross-entropy is ln 4 whatever the class.
/// let ce = manager.get_loss("CrossEntropyLoss")?.create(&Config::new())?;
/// let logits = Tensor::zeros(&[2, 4]);
/// let classes = Tensor::from_vec_i64(vec![3, 0], &[2])?;
/// assert!((ce.forward(&[&logits, &classes])?.item()? - 4f32.ln()).abs() < 1e-6);
///
/// let err = manager.get_loss("MSELoss")?.create(&Config::from_yaml("reduction: avg")?).err().unwrap();
/// assert_eq!(err.to_string(), "core.MSELoss: invalid config: reduction: expected 'mean', 'sum' or 'none', got 'avg'");
/// # Ok::<(), arc_core::Error>(())
/// ```
#[arc_plugin(name = "builtin_losses", description = "Registers PyTorch's standard loss functions.")]
#[derive(Debug, Default)]
pub struct BuiltinLossPlugin;

#[hookimpl]
impl LossHookSpec for BuiltinLossPlugin {
    fn register_losses(&self) -> LossRegistrations {
        families().fold(Registrations::new(), |r, &(name, build, schema)| r.add(name, build).params_schema(schema))
    }

    fn validate_loss_config(&self, loss_type: &str, config: &Config) -> Option<bool> {
        let short = loss_type.strip_prefix("core.")?;
        families().find(|(name, ..)| *name == short).map(|(_, build, _)| build(config).is_ok())
    }
}
