//! The Arc-Graph spec: YAML documents and component configs.
//!
//! All YAML parsing lives in this module (see [`Config`]), so the YAML
//! crate can be swapped without touching the rest of Arc.

mod config;
mod document;
mod trainer;

pub use config::Config;
pub use document::ArcSpec;
pub use trainer::{ComponentSpec, LossSpec, TrainConfig, TrainerSpec};
pub use trainer::{DeviceChoice, EarlyStopping, GradientClip};
