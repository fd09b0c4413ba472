//! The eight hook specs of Arc (the seed document's groups).
//!
//! Every hook has a default body, so a plugin writes only the hooks it
//! wants under `#[hookimpl]`; the manager calls only the hooks written.
//! `validate_*_config` hooks answer `None` for a component they do not own,
//! `Some(false)` to reject a config; one `Some(false)` makes
//! [`validate_component_config`](super::PluginManager::validate_component_config)
//! return `false`.

use arc_macros::hookspec;

use super::component::{Factory, Registrations};
use crate::data::DataSource;
use crate::export::Exporter;
use crate::nn::{Layer, Loss, ModelView, Optimizer};
use crate::process::Processor;
use crate::spec::{ArcSpec, Config, Validator};
use crate::types::ValidationIssue;

/// Layers a plugin registers.
pub type LayerRegistrations = Registrations<dyn Layer>;
/// Processors a plugin registers.
pub type ProcessorRegistrations = Registrations<dyn Processor>;
/// Optimizers a plugin registers.
pub type OptimizerRegistrations = Registrations<dyn Optimizer>;
/// Losses a plugin registers.
pub type LossRegistrations = Registrations<dyn Loss>;
/// Validators a plugin registers.
pub type ValidatorRegistrations = Registrations<dyn Validator>;
/// Data sources a plugin registers.
pub type DataSourceRegistrations = Registrations<dyn DataSource>;
/// Exporters a plugin registers.
pub type ExporterRegistrations = Registrations<dyn Exporter>;

/// Builds a layer from its config.
pub type LayerFactory = Factory<dyn Layer>;
/// Builds a processor from its config.
pub type ProcessorFactory = Factory<dyn Processor>;
/// Builds an optimizer from its config.
pub type OptimizerFactory = Factory<dyn Optimizer>;
/// Builds a loss from its config.
pub type LossFactory = Factory<dyn Loss>;
/// Builds a validator from its config.
pub type ValidatorFactory = Factory<dyn Validator>;
/// Builds a data source from its config.
pub type DataSourceFactory = Factory<dyn DataSource>;
/// Builds an exporter from its config.
pub type ExporterFactory = Factory<dyn Exporter>;

/// Layer plugins.
#[hookspec(crate = crate)]
pub trait LayerHookSpec {
    /// The layers this plugin provides, by name and alias.
    fn register_layers(&self) -> LayerRegistrations {
        Registrations::new()
    }

    /// Checks a layer's config; `None` if `layer_type` is not this plugin's.
    fn validate_layer_config(&self, layer_type: &str, config: &Config) -> Option<bool> {
        let _ = (layer_type, config);
        None
    }
}

/// Feature-processor plugins.
#[hookspec(crate = crate)]
pub trait ProcessorHookSpec {
    /// The processors (feature ops) this plugin provides.
    fn register_processors(&self) -> ProcessorRegistrations {
        Registrations::new()
    }

    /// Checks a processor's config; `None` if it is not this plugin's.
    fn validate_processor_config(&self, processor_type: &str, config: &Config) -> Option<bool> {
        let _ = (processor_type, config);
        None
    }
}

/// Optimizer plugins.
#[hookspec(crate = crate)]
pub trait OptimizerHookSpec {
    /// The optimizers this plugin provides.
    fn register_optimizers(&self) -> OptimizerRegistrations {
        Registrations::new()
    }

    /// Checks an optimizer's config; `None` if it is not this plugin's.
    fn validate_optimizer_config(&self, optimizer_type: &str, config: &Config) -> Option<bool> {
        let _ = (optimizer_type, config);
        None
    }
}

/// Loss plugins.
#[hookspec(crate = crate)]
pub trait LossHookSpec {
    /// The losses this plugin provides.
    fn register_losses(&self) -> LossRegistrations {
        Registrations::new()
    }

    /// Checks a loss's config; `None` if it is not this plugin's.
    fn validate_loss_config(&self, loss_type: &str, config: &Config) -> Option<bool> {
        let _ = (loss_type, config);
        None
    }
}

/// Model-validator plugins.
#[hookspec(crate = crate)]
pub trait ValidatorHookSpec {
    /// The validators this plugin provides.
    fn register_validators(&self) -> ValidatorRegistrations {
        Registrations::new()
    }

    /// Checks a whole spec; each problem found is one issue.
    fn validate_model(&self, spec: &ArcSpec) -> Vec<ValidationIssue> {
        let _ = spec;
        Vec::new()
    }
}

/// Data-source plugins.
#[hookspec(crate = crate)]
pub trait DataSourceHookSpec {
    /// The data sources this plugin provides.
    fn register_data_sources(&self) -> DataSourceRegistrations {
        Registrations::new()
    }

    /// Checks a data source's config; `None` if it is not this plugin's.
    fn validate_data_source_config(&self, source_type: &str, config: &Config) -> Option<bool> {
        let _ = (source_type, config);
        None
    }
}

/// Exporter plugins.
#[hookspec(crate = crate)]
pub trait ExportHookSpec {
    /// The export formats this plugin provides.
    fn register_exporters(&self) -> ExporterRegistrations {
        Registrations::new()
    }

    /// Checks an exporter's config; `None` if it is not this plugin's.
    fn validate_export_config(&self, format: &str, config: &Config) -> Option<bool> {
        let _ = (format, config);
        None
    }
}

/// Lifecycle observers, called by the validator
/// ([`validate`](crate::validate::validate): `pre_validation`, then
/// `post_validation` with the issues) and the model builder
/// (`GraphModel::build_spec`: `pre_model_build`, then `post_model_build`
/// with the built model). Training calls all four in that order.
#[hookspec(crate = crate)]
pub trait LifecycleHookSpec {
    /// Before a model is built from `spec`.
    fn pre_model_build(&self, spec: &ArcSpec) {
        let _ = spec;
    }

    /// After `model` was built from `spec` (its nodes in execution order:
    /// [`ModelView::node_names`]).
    fn post_model_build(&self, spec: &ArcSpec, model: &dyn ModelView) {
        let _ = (spec, model);
    }

    /// Before `spec` is validated.
    fn pre_validation(&self, spec: &ArcSpec) {
        let _ = spec;
    }

    /// After `spec` was validated, with the issues found.
    fn post_validation(&self, spec: &ArcSpec, issues: &[ValidationIssue]) {
        let _ = (spec, issues);
    }
}
