//! [`ModelBundle`]: a trained model loaded once from its model directory.

use std::path::Path;

use super::{pipeline, target_info};
use crate::export::ExportModel;
use crate::graph::GraphModel;
use crate::model_dir::{self, Loaded, SPEC_FILE, WEIGHTS_FILE};
use crate::nn::TargetInfo;
use crate::pipeline::Pipeline;
use crate::plugin::PluginManager;
use crate::process::FittedState;
use crate::spec::ArcSpec;
use crate::{Error, Result, Tensor};

/// A trained model, loaded once from its model directory: the spec, the
/// fitted pipeline and its saved vars and states, the model built with the
/// saved weights (in evaluation mode), and how its loss reads the target.
/// `arc predict` ([`predict_with`](Self::predict_with)), `arc evaluate`
/// ([`evaluate`](Self::evaluate)), the Predictor and the exporters
/// ([`export_model`](Self::export_model), from this built model: no layer
/// is built twice) all start from one.
///
/// Errors name the file at fault: the spec's text is located in
/// `spec.yaml`; a model the spec cannot build is an [`Error::ModelDir`]
/// naming `spec.yaml`, weights that do not fit it one naming
/// `model.safetensors` (each under the directory, when loaded from one).
///
/// ```no_run
/// use arc_core::train::ModelBundle;
///
/// let bundle = ModelBundle::load("target/iris-model".as_ref(), arc_core::get_plugin_manager())?;
/// assert_eq!(bundle.spec.model_name, "iris");
/// let export = bundle.export_model()?; // what `arc export` hands an exporter
/// assert_eq!(export.nodes.len(), 3);
/// # Ok::<(), arc_core::Error>(())
/// ```
pub struct ModelBundle {
    /// The spec.
    pub spec: ArcSpec,
    /// The spec's text, as saved.
    pub spec_text: String,
    /// The saved vars, states and target reading.
    pub fitted: FittedState,
    /// The pipeline of the spec's `features`, to transform new rows with `fitted`.
    pub pipeline: Pipeline,
    /// The model, built with the saved vars and weights, in evaluation mode.
    pub model: GraphModel,
    /// The weights file's tensors, by name, in file order.
    pub weights: Vec<(String, Tensor)>,
    /// How the trained loss reads its target (saved, or worked out for a
    /// directory written before it was); none for a spec without a loss.
    pub target: Option<TargetInfo>,
}

impl ModelBundle {
    /// Loads and builds the model directory `dir`
    /// ([`model_dir::load`], then [`from_loaded`](Self::from_loaded));
    /// errors name the files under `dir`.
    pub fn load(dir: &Path, manager: &PluginManager) -> Result<Self> {
        Self::build(&model_dir::load(dir)?, Some(dir), manager)
    }

    /// Builds a model directory read by [`model_dir::load`]; errors name
    /// the files by their names alone.
    pub fn from_loaded(loaded: &Loaded, manager: &PluginManager) -> Result<Self> {
        Self::build(loaded, None, manager)
    }

    fn build(loaded: &Loaded, dir: Option<&Path>, manager: &PluginManager) -> Result<Self> {
        let at = |file: &str| dir.map_or_else(|| file.to_owned(), |d| d.join(file).display().to_string());
        let in_file = |file: &str| {
            let path = at(file);
            move |e: Error| match e {
                Error::ModelDir { message, .. } => Error::ModelDir { path: path.clone(), message },
                other => Error::ModelDir { path: path.clone(), message: other.to_string() },
            }
        };
        let spec = ArcSpec::from_yaml(&loaded.spec_text, &at(SPEC_FILE))?;
        let mut model = GraphModel::build(&spec.model, &loaded.fitted.vars, manager).map_err(in_file(SPEC_FILE))?;
        model.set_training(false);
        model.load_state(&loaded.weights).map_err(in_file(WEIGHTS_FILE))?;
        let pipeline = pipeline(&spec.features, manager, false).map_err(in_file(SPEC_FILE))?;
        let target = target_info(&spec, &loaded.fitted, &pipeline, manager, &model).map_err(in_file(SPEC_FILE))?;
        Ok(Self {
            spec,
            spec_text: loaded.spec_text.clone(),
            fitted: loaded.fitted.clone(),
            pipeline,
            model,
            weights: loaded.weights.clone(),
            target,
        })
    }

    /// What an exporter receives: this built model's nodes, inputs,
    /// outputs and weights ([`GraphModel::export_model`]).
    pub fn export_model(&self) -> Result<ExportModel> {
        let mut model = self.model.export_model(self.spec.clone(), &self.weights, &self.fitted)?;
        model.processors = self.pipeline.export_steps(&self.fitted)?;
        Ok(model)
    }
}
