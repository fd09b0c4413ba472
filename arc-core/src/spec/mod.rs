//! The Arc-Graph spec: YAML documents and component configs.
//!
//! All YAML parsing lives in this module (see [`ArcSpec::from_yaml`] and
//! [`Config`]), so the YAML crate can be swapped without touching the rest
//! of Arc. Every error about a spec's text names the file, line and column
//! ([`Location`], through the [`SourceMap`] index).

mod config;
mod document;
mod features;
mod located;
mod model;
mod source;
mod trainer;

pub use config::Config;
pub use document::ArcSpec;
pub use features::{FeaturesSpec, PredictorSpec};
pub use model::{InputDType, InputSpec, ModelSpec, NodeInputs, NodeSpec, OutputsSpec};
pub use source::{Location, SourceMap};
pub use trainer::{ComponentSpec, LossSpec, TrainConfig, TrainerSpec};
pub use trainer::{DeviceChoice, EarlyStopping, GradientClip};
