//! The Arc-Graph spec: YAML documents and component configs.
//!
//! All YAML parsing lives in this module (see [`ArcSpec::from_yaml`] and
//! [`Config`]), so the YAML crate can be swapped without touching the rest
//! of Arc. Every error about a spec's text names the file, line and column
//! ([`Location`], through the [`SourceMap`] index).

mod config;
mod cycle;
mod document;
mod features;
mod located;
mod model;
mod source;
mod step;
mod trainer;
mod validator;
mod wiring;

pub use config::Config;
pub use cycle::find_cycle;
pub use document::ArcSpec;
pub use features::{FeaturesSpec, PredictorSpec};
pub use model::{InputDType, InputSpec, ModelSpec, NodeInputs, NodeSpec, OutputsSpec, ShapeEntry};
pub use source::{Location, SourceMap};
pub use step::{Literal, Namespace, ProcessorStep, Ref, StepInput};
pub use trainer::{ComponentSpec, LossSpec, TrainConfig, TrainerSpec};
pub use trainer::{DeviceChoice, EarlyStopping, GradientClip, Mode, monitor_names};
pub use validator::Validator;
pub use wiring::{Source, Wire, WiredInput, WiredNode, Wiring, WiringProblem, output_names, resolve_shape};
