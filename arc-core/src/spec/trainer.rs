//! The typed `trainer` section.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::Config;
use crate::Result;

/// The spec's `trainer` section.
///
/// ```
/// use arc_core::spec::{Config, TrainerSpec};
///
/// let yaml = "optimizer: {type: Adam}\nloss: {type: CrossEntropyLoss, inputs: {pred: model.logits, target: tensors.y}}\nconfig: {epochs: 5}";
/// let t = TrainerSpec::from_config(&Config::from_yaml(yaml)?)?;
/// assert_eq!((t.config.epochs, t.config.batch_size, t.config.seed), (5, 32, 42));
/// # Ok::<(), arc_core::Error>(())
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainerSpec {
    /// The optimizer (`{type: Adam, config: {lr: 0.01}}`).
    pub optimizer: ComponentSpec,
    /// The loss and the values it compares.
    pub loss: LossSpec,
    /// Loop settings. Default [`TrainConfig::default`].
    #[serde(default)]
    pub config: TrainConfig,
}

/// A component: its registered type and its config.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentSpec {
    /// The registered name (`Adam`, `core.Adam`, `torch.optim.Adam`).
    #[serde(rename = "type")]
    pub component_type: String,
    /// The component's params. Default none.
    #[serde(default, alias = "params")]
    pub config: Option<Config>,
}

/// The loss: a component plus its inputs.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LossSpec {
    /// The registered name (`CrossEntropyLoss`).
    #[serde(rename = "type")]
    pub component_type: String,
    /// The loss's params. Default none.
    #[serde(default, alias = "params")]
    pub config: Option<Config>,
    /// Port → value: `pred: model.<output>`, `target: target_columns.<column>`
    /// or `tensors.<name>`. `pred` feeds the loss's `input` port.
    pub inputs: BTreeMap<String, String>,
}

/// The training loop's settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Passes over the training split. Default 10.
    #[serde(default = "defaults::epochs")]
    pub epochs: usize,
    /// Rows per mini-batch. Default 32.
    #[serde(default = "defaults::batch_size")]
    pub batch_size: usize,
    /// The optimizer's `lr`, when its config gives none. Default none.
    #[serde(default)]
    pub learning_rate: Option<f64>,
    /// The fraction of rows held out for validation, in `[0, 1)`. Default 0.2.
    #[serde(default = "defaults::validation_split")]
    pub validation_split: f64,
    /// Seeds initialisation, the split, shuffling and dropout. Default 42.
    #[serde(default = "defaults::seed")]
    pub seed: u64,
    /// Whether batches are reshuffled every epoch. Default true.
    #[serde(default = "defaults::shuffle")]
    pub shuffle: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: defaults::epochs(),
            batch_size: defaults::batch_size(),
            learning_rate: None,
            validation_split: defaults::validation_split(),
            seed: defaults::seed(),
            shuffle: defaults::shuffle(),
        }
    }
}

mod defaults {
    pub fn epochs() -> usize {
        10
    }
    pub fn batch_size() -> usize {
        32
    }
    pub fn validation_split() -> f64 {
        0.2
    }
    pub fn seed() -> u64 {
        42
    }
    pub fn shuffle() -> bool {
        true
    }
}

impl TrainerSpec {
    /// Parses the `trainer` section.
    pub fn from_config(config: &Config) -> Result<Self> {
        config.parse("trainer")
    }
}
