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

mod binary;
mod classification;
mod common;
mod margin;
mod regression;

/// Registers PyTorch's standard loss functions.
#[arc_plugin(name = "builtin_losses", description = "Registers PyTorch's standard loss functions.")]
#[derive(Debug, Default)]
pub struct BuiltinLossPlugin;

#[hookimpl]
impl LossHookSpec for BuiltinLossPlugin {
    fn register_losses(&self) -> LossRegistrations {
        let registrations = regression::register(Registrations::new());
        margin::register(binary::register(classification::register(registrations)))
    }

    fn validate_loss_config(&self, loss_type: &str, config: &Config) -> Option<bool> {
        regression::validate(loss_type, config)
            .or_else(|| classification::validate(loss_type, config))
            .or_else(|| binary::validate(loss_type, config))
            .or_else(|| margin::validate(loss_type, config))
    }
}
