//! Registers PyTorch's standard optimizers under their PyTorch names in namespace `core`:
//! SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, ASGD and LBFGS.
//!
//! The families live in their own files (`sgd`, `adam`, `adaptive`, `asgd`, `lbfgs` with
//! its `line_search`); `common` holds the config checks, the per-parameter state and the
//! update loop they share. Every optimizer takes PyTorch's config keys and defaults, plus
//! `learning_rate` as an alias of `lr` (Arc's YAML key), and keeps its state by parameter
//! name under PyTorch's state names (`fc1.weight.exp_avg`).
//!
//! ```
//! use arc_core::plugin::{ComponentKind, PluginManager};
//! use arc_core::spec::Config;
//! use arc_builtins::BuiltinOptimizerPlugin;
//!
//! let pm = PluginManager::new();
//! pm.register_plugin(BuiltinOptimizerPlugin, "builtin_optimizers")?;
//! pm.refresh_registries()?;
//! let config = Config::from_yaml("learning_rate: 0.01\nbetas: [0.9, 0.99]")?;
//! assert!(pm.validate_component_config(ComponentKind::Optimizer, "Adam", &config)?);
//! let bad = Config::from_yaml("lr: 0.01\nbetas: [1.5, 0.99]")?;
//! assert!(!pm.validate_component_config(ComponentKind::Optimizer, "Adam", &bad)?);
//! let adam = pm.get_optimizer("Adam")?.create(&config)?;
//! assert_eq!(adam.learning_rate(), 0.01);
//! # Ok::<(), arc_core::Error>(())
//! ```

use arc_core::Result;
use arc_core::nn::Optimizer;
use arc_core::plugin::{OptimizerHookSpec, OptimizerRegistrations, ParamsSchema, Registrations, schema_of};
use arc_core::spec::Config;
use arc_core::{arc_plugin, hookimpl};

/// The `Optimizer` methods shared by the optimizers that keep `lr: f64` and
/// per-parameter state in `state` (a `common::StateTable`).
macro_rules! per_parameter_state_accessors {
    () => {
        fn learning_rate(&self) -> f64 {
            self.lr
        }

        fn set_learning_rate(&mut self, lr: f64) {
            self.lr = lr;
        }

        fn use_trainer_learning_rate(&mut self, lr: f64) {
            if !self.lr_from_config {
                self.lr = lr;
            }
        }

        fn state(&self) -> OptimizerState {
            self.state.to_state()
        }

        fn load_state(&mut self, state: OptimizerState) -> Result<()> {
            self.state.load(&state)
        }
    };
}

mod adam;
mod adaptive;
mod asgd;
mod common;
mod lbfgs;
mod line_search;
mod sgd;

pub use adam::Adam;
pub use adaptive::Adaptive;
pub use asgd::Asgd;
pub use lbfgs::Lbfgs;
pub use sgd::Sgd;

/// Builds an optimizer from its config.
pub(crate) type Constructor = fn(&Config) -> Result<Box<dyn Optimizer>>;

/// Each optimizer's name (namespace `core` added by the registry) and constructor.
const OPTIMIZERS: [(&str, Constructor, ParamsSchema); 9] = [
    ("SGD", Sgd::from_config, schema_of::<sgd::SgdConfig>),
    ("Adam", Adam::adam_from_config, schema_of::<adam::AdamFamilyConfig>),
    ("AdamW", Adam::adamw_from_config, schema_of::<adam::AdamFamilyConfig>),
    ("RMSprop", Adaptive::rmsprop_from_config, schema_of::<adaptive::RmspropConfig>),
    ("Adagrad", Adaptive::adagrad_from_config, schema_of::<adaptive::AdagradConfig>),
    ("Adadelta", Adaptive::adadelta_from_config, schema_of::<adaptive::AdadeltaConfig>),
    ("Adamax", Adam::adamax_from_config, schema_of::<adam::AdamFamilyConfig>),
    ("ASGD", Asgd::from_config, schema_of::<asgd::AsgdConfig>),
    ("LBFGS", Lbfgs::from_config, schema_of::<lbfgs::LbfgsConfig>),
];

/// Registers PyTorch's standard optimizers.
#[arc_plugin(name = "builtin_optimizers", description = "Registers PyTorch's standard optimizers.")]
#[derive(Debug, Default)]
pub struct BuiltinOptimizerPlugin;

#[hookimpl]
impl OptimizerHookSpec for BuiltinOptimizerPlugin {
    fn register_optimizers(&self) -> OptimizerRegistrations {
        OPTIMIZERS.iter().fold(Registrations::new(), |registrations, &(name, factory, schema)| {
            registrations.add(name, factory).params_schema(schema)
        })
    }

    /// Answers for `core.<name>` only: `Some(false)` when the factory rejects the config
    /// (an unknown key, a negative `lr`, betas outside `[0, 1)`, ...).
    fn validate_optimizer_config(&self, optimizer_type: &str, config: &Config) -> Option<bool> {
        let name = optimizer_type.strip_prefix("core.")?;
        let (_, factory, _) = OPTIMIZERS.iter().find(|(n, ..)| *n == name)?;
        Some(factory(config).is_ok())
    }
}
