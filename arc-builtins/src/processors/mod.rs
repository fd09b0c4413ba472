//! Arc's standard feature processors (the spec's `features.processors`
//! ops), as [`arc_core::process::Processor`] components.
//!
//! The Python tool's ops keep their dotted names: `transform.assemble_vector`,
//! `inspect.feature_stats`, `fit.standard_scaler`, `transform.standard_scaler`,
//! `transform.sequence_shift`, `inspect.sequence_stats`, `transform.hash_bucket`,
//! `transform.hash_and_pad`. The named processors fit at training and
//! transform at both, their state saved: `core.StandardNormalization`
//! (alias `ZScoreNormalization`), `core.MinMaxNormalization`,
//! `core.RobustNormalization`, `core.CategoricalEncoding` (alias
//! `OneHotEncoding`) and `core.LabelEncoding`. Families: `assemble`,
//! `scalers`, `sequence`, `hashing`, `encoding`; numerics follow
//! scikit-learn and NumPy (checked against fixtures in
//! `tests/processors.rs`).

use arc_core::plugin::{ProcessorFactory, ProcessorHookSpec, ProcessorRegistrations, Registrations, schema_of};
use arc_core::spec::Config;
use arc_core::{arc_plugin, hookimpl};

mod assemble;
mod common;
mod encoding;
mod hashing;
mod row;
mod scalers;
mod sequence;

/// Every processor: (full name, factory, aliases, params schema).
type Entry = (
    &'static str,
    fn(&Config) -> arc_core::Result<Box<dyn arc_core::process::Processor>>,
    &'static [&'static str],
    arc_core::plugin::ParamsSchema,
);

const PROCESSORS: &[Entry] = &[
    (assemble::ASSEMBLE_VECTOR, assemble::AssembleVector::from_config, &[], schema_of::<assemble::AssembleConfig>),
    (assemble::FEATURE_STATS, assemble::FeatureStats::from_config, &[], schema_of::<assemble::NoParams>),
    (scalers::FIT_STANDARD, scalers::Scaler::fit_standard, &[], schema_of::<scalers::NoParams>),
    (scalers::TRANSFORM_STANDARD, scalers::Scaler::transform_standard, &[], schema_of::<scalers::NoParams>),
    (sequence::SEQUENCE_SHIFT, sequence::SequenceShift::from_config, &[], schema_of::<sequence::ShiftConfig>),
    (sequence::SEQUENCE_STATS, sequence::SequenceStats::from_config, &[], schema_of::<sequence::StatsConfig>),
    (hashing::HASH_BUCKET, hashing::HashBucket::from_config, &[], schema_of::<hashing::HashBucketConfig>),
    (hashing::HASH_AND_PAD, hashing::HashAndPad::from_config, &[], schema_of::<hashing::HashAndPadConfig>),
    (scalers::STANDARD, scalers::Scaler::standard, &["ZScoreNormalization"], schema_of::<scalers::NoParams>),
    (scalers::MIN_MAX, scalers::Scaler::min_max, &[], schema_of::<scalers::MinMaxConfig>),
    (scalers::ROBUST, scalers::Scaler::robust, &[], schema_of::<scalers::RobustConfig>),
    (
        encoding::ONE_HOT,
        encoding::CategoricalEncoding::from_config,
        &["OneHotEncoding"],
        schema_of::<encoding::OneHotConfig>,
    ),
    (encoding::LABEL, encoding::LabelEncoding::from_config, &[], schema_of::<encoding::LabelConfig>),
];

/// Registers Arc's standard feature processors.
///
/// ```
/// use arc_builtins::BuiltinProcessorPlugin;
/// use arc_core::data::{Column, Table};
/// use arc_core::plugin::PluginManager;
/// use arc_core::pipeline::Pipeline;
/// use arc_core::spec::ProcessorStep;
/// use arc_core::spec::Config;
///
/// let manager = PluginManager::new();
/// manager.register_plugin(BuiltinProcessorPlugin, "builtin_processors")?;
/// manager.refresh_registries()?;
/// let steps: Vec<ProcessorStep> = Config::from_yaml(
///     "- {name: assemble, op: transform.assemble_vector, inputs: {columns: [a]}, outputs: {tensors.raw: output}}\n\
///      - {name: stats, op: inspect.feature_stats, inputs: {tensor: tensors.raw}, outputs: {vars.n_features: n_features}}\n\
///      - {name: scale, op: ZScoreNormalization, inputs: {x: tensors.raw}, outputs: {tensors.x: output}}",
/// )?
/// .parse("features.processors")?;
/// let pipeline = Pipeline::new(steps, &manager)?;
/// let table = Table::new(vec![Column::numeric("a", vec![1.0, 3.0])])?;
/// let fitted = pipeline.fit(&table)?;
/// // mean 2, population std 1
/// assert_eq!(fitted.tensor("x").unwrap().to_vec()?, [-1.0, 1.0]);
/// assert_eq!(fitted.vars["n_features"], 1.0);
/// // At prediction: the saved mean and std, on new rows.
/// let new_rows = Table::new(vec![Column::numeric("a", vec![4.0])])?;
/// let predicted = pipeline.transform(&new_rows, &fitted.fitted())?;
/// assert_eq!(predicted.tensor("x").unwrap().to_vec()?, [2.0]);
/// # Ok::<(), arc_core::Error>(())
/// ```
#[arc_plugin(name = "builtin_processors", description = "Registers Arc's standard feature processors.")]
#[derive(Debug, Default)]
pub struct BuiltinProcessorPlugin;

#[hookimpl]
impl ProcessorHookSpec for BuiltinProcessorPlugin {
    fn register_processors(&self) -> ProcessorRegistrations {
        let mut registrations = Registrations::new();
        for &(name, factory, aliases, schema) in PROCESSORS {
            // `core.X` is registered as `X`, so that the short name resolves too.
            let name = name.strip_prefix("core.").unwrap_or(name);
            registrations = registrations.add_factory(name, ProcessorFactory::Fn(factory)).params_schema(schema);
            for &alias in aliases {
                registrations = registrations.alias(alias);
            }
        }
        registrations
    }

    fn validate_processor_config(&self, processor_type: &str, config: &Config) -> Option<bool> {
        let (_, factory, ..) = PROCESSORS.iter().find(|(name, ..)| *name == processor_type)?;
        Some(factory(config).is_ok())
    }
}
