//! The typed `trainer` section.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::Config;
use crate::nn::Task;
use crate::tensor::cuda_device_count;
use crate::{Device, DidYouMean, Error, Result};

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
    /// Stops training when a monitored value stops improving. Default none
    /// (every epoch runs).
    #[serde(default)]
    pub early_stopping: Option<EarlyStopping>,
    /// Clips the gradients after each backward pass, before the optimizer
    /// step. Default none.
    #[serde(default)]
    pub gradient_clip: Option<GradientClip>,
    /// Hands a checkpoint to the trainer's observer every this many epochs
    /// (`arc train` writes `<out>/checkpoints/epoch-NNNN/`). At least 1.
    /// Default none.
    #[serde(default)]
    pub checkpoint_every: Option<usize>,
    /// Where to train: `cpu`, `cuda` or `auto`. Default `cpu`.
    #[serde(default)]
    pub device: DeviceChoice,
    /// The memory the run may take, in MiB: the estimate of the parameters,
    /// their gradients, the optimizer's state and one batch's activations is
    /// held against it before anything is allocated. Default: 80% of the
    /// memory the machine has available (`MemAvailable`); none where that is
    /// unknown. `arc train --memory-budget-mb` overrides it.
    #[serde(default)]
    pub memory_budget_mb: Option<f64>,
}

/// `trainer.config.early_stopping`: stop when `monitor` has not improved by
/// more than `min_delta` for `patience` epochs in a row (Keras's
/// `EarlyStopping` rule).
///
/// ```
/// use arc_core::spec::{Config, EarlyStopping};
///
/// let es: EarlyStopping = Config::from_yaml("{monitor: accuracy}")?.parse("early_stopping")?;
/// assert_eq!((es.patience, es.min_delta, es.restore_best), (5, 0.0, true));
/// assert_eq!(es.monitor, "accuracy");
/// # Ok::<(), arc_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarlyStopping {
    /// Epochs without improvement after which training stops. Default 5.
    #[serde(default = "defaults::patience")]
    pub patience: usize,
    /// The smallest change that counts as an improvement (absolute, in the
    /// monitored value's unit). Default 0.0.
    #[serde(default)]
    pub min_delta: f64,
    /// What to watch: `val_loss`, `train_loss` or a metric (`accuracy`,
    /// `macro_f1` for classification; `mse`, `mae`, `r2` for regression).
    /// Losses, `mse` and `mae` should go down, the others up. Default
    /// `val_loss`.
    #[serde(default = "defaults::monitor")]
    pub monitor: String,
    /// Whether the weights of the best epoch are restored when training
    /// ends, so the model written is the one the best record describes.
    /// Default true (unlike Keras's `restore_best_weights`, whose false
    /// default keeps weights that were already getting worse).
    #[serde(default = "defaults::restore_best")]
    pub restore_best: bool,
}

/// Whether a smaller or a larger monitored value is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Losses, `mse`, `mae`.
    Min,
    /// `accuracy`, `macro_f1`, `f1`, `roc_auc`, `r2`, ...
    Max,
}

/// The names `monitor` may take for a task, each with its mode.
pub fn monitor_names(task: Task) -> &'static [(&'static str, Mode)] {
    match task {
        Task::Multiclass | Task::MulticlassPerPosition => {
            &[("val_loss", Mode::Min), ("train_loss", Mode::Min), ("accuracy", Mode::Max), ("macro_f1", Mode::Max)]
        }
        Task::Binary => &[
            ("val_loss", Mode::Min),
            ("train_loss", Mode::Min),
            ("accuracy", Mode::Max),
            ("precision", Mode::Max),
            ("recall", Mode::Max),
            ("f1", Mode::Max),
            ("roc_auc", Mode::Max),
        ],
        Task::Regression => &[
            ("val_loss", Mode::Min),
            ("train_loss", Mode::Min),
            ("mse", Mode::Min),
            ("mae", Mode::Min),
            ("r2", Mode::Max),
        ],
    }
}

impl EarlyStopping {
    /// Checks the settings for a model of `task` (its loss's) and returns
    /// the monitor's mode: `monitor` is one of the task's names
    /// ([`Error::UnknownMonitor`] with did-you-mean), `val_loss` needs a
    /// validation split, `min_delta` is `>= 0`.
    pub fn check(&self, task: Task, has_validation: bool) -> Result<Mode> {
        let names = monitor_names(task);
        let Some(&(_, mode)) = names.iter().find(|(n, _)| *n == self.monitor) else {
            return Err(Error::UnknownMonitor {
                monitor: self.monitor.clone(),
                expected: names.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "),
                hint: DidYouMean::among(&self.monitor, names.iter().map(|(n, _)| *n)),
            });
        };
        if self.monitor == "val_loss" && !has_validation {
            return Err(Error::Spec {
                message: "trainer.config.early_stopping.monitor is `val_loss`, but validation_split is 0: \
                          hold out a split or monitor `train_loss`"
                    .into(),
            });
        }
        if self.min_delta.is_nan() || self.min_delta < 0.0 {
            return Err(Error::Spec {
                message: format!("trainer.config.early_stopping.min_delta must be >= 0, got {}", self.min_delta),
            });
        }
        Ok(mode)
    }
}

impl Default for EarlyStopping {
    fn default() -> Self {
        Self {
            patience: defaults::patience(),
            min_delta: 0.0,
            monitor: defaults::monitor(),
            restore_best: defaults::restore_best(),
        }
    }
}

/// `trainer.config.gradient_clip`: exactly one of `{max_norm, norm_type}`
/// (PyTorch's `clip_grad_norm_`) or `{value}` (`clip_grad_value_`).
///
/// ```
/// use arc_core::spec::{Config, GradientClip};
///
/// let clip: GradientClip = Config::from_yaml("{max_norm: 1.0}")?.parse("gradient_clip")?;
/// assert_eq!(clip, GradientClip::Norm { max_norm: 1.0, norm_type: 2.0 });
/// let clip: GradientClip = Config::from_yaml("{value: 0.5}")?.parse("gradient_clip")?;
/// assert_eq!(clip, GradientClip::Value { value: 0.5 });
/// assert!(Config::from_yaml("{max_norm: 1.0, value: 0.5}")?.parse::<GradientClip>("gradient_clip").is_err());
/// # Ok::<(), arc_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(try_from = "RawGradientClip")]
pub enum GradientClip {
    /// Scales all gradients by `max_norm / (total_norm + 1e-6)` when their
    /// joint `norm_type`-norm exceeds `max_norm`.
    Norm {
        /// The largest total norm allowed (> 0).
        max_norm: f64,
        /// The p of the p-norm (> 0; `.inf` for the max-norm). Default 2.0.
        norm_type: f64,
    },
    /// Clamps every gradient element into `[-value, value]`.
    Value {
        /// The bound (> 0).
        value: f64,
    },
}

/// `gradient_clip` as written, before the one-of check.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGradientClip {
    max_norm: Option<f64>,
    norm_type: Option<f64>,
    value: Option<f64>,
}

impl TryFrom<RawGradientClip> for GradientClip {
    type Error = String;

    fn try_from(raw: RawGradientClip) -> std::result::Result<Self, String> {
        let positive = |name: &str, v: f64| {
            if v > 0.0 && !v.is_nan() { Ok(v) } else { Err(format!("gradient_clip.{name} must be > 0, got {v}")) }
        };
        match raw {
            RawGradientClip { max_norm: Some(max_norm), norm_type, value: None } => Ok(GradientClip::Norm {
                max_norm: positive("max_norm", max_norm)?,
                norm_type: positive("norm_type", norm_type.unwrap_or(2.0))?,
            }),
            RawGradientClip { max_norm: None, norm_type: None, value: Some(value) } => {
                Ok(GradientClip::Value { value: positive("value", value)? })
            }
            RawGradientClip { max_norm: None, norm_type: Some(_), value: None } => {
                Err("gradient_clip.norm_type needs `max_norm`".into())
            }
            RawGradientClip { max_norm: None, value: None, .. } => {
                Err("gradient_clip needs `max_norm` (clip by norm) or `value` (clip by value)".into())
            }
            _ => Err("gradient_clip takes either `max_norm` (with `norm_type`) or `value`, not both".into()),
        }
    }
}

/// `trainer.config.device`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// The CPU (default).
    #[default]
    Cpu,
    /// The first CUDA GPU; an error when the build or the machine has none.
    Cuda,
    /// CUDA when this build and the machine have it, the CPU otherwise.
    Auto,
}

impl std::fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DeviceChoice::Cpu => "cpu",
            DeviceChoice::Cuda => "cuda",
            DeviceChoice::Auto => "auto",
        })
    }
}

impl DeviceChoice {
    /// The device this choice trains on, with a note when `auto` chose it.
    /// `cuda` is the first GPU ([`Device::cuda`]`(0)`): an
    /// [`Error::DeviceUnavailable`] carrying the driver probe's reason when
    /// this build or machine has none. `auto` picks the GPU when one can be
    /// used and otherwise the CPU, with a note saying why.
    pub fn resolve(self) -> Result<(Device, Option<String>)> {
        match self {
            DeviceChoice::Cpu => Ok((Device::Cpu, None)),
            DeviceChoice::Auto => Ok(match cuda_device_count() {
                Ok(_) => (Device::Cuda(0), Some("device auto: training on cuda:0".to_owned())),
                Err(reason) => (Device::Cpu, Some(format!("device auto: {reason}; training on the cpu"))),
            }),
            DeviceChoice::Cuda => Device::cuda(0).map(|d| (d, None)).map_err(|e| {
                let reason = match e {
                    Error::CudaUnavailable { reason, .. } => reason,
                    other => other.to_string(),
                };
                Error::DeviceUnavailable {
                    requested: "cuda".into(),
                    reason: format!("{reason}; use `device: cpu` or `auto`"),
                }
            }),
        }
    }
}

impl std::str::FromStr for DeviceChoice {
    type Err = String;

    /// Parses `cpu`, `cuda` or `auto` (the `--device` flag).
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" => Ok(DeviceChoice::Cuda),
            "auto" => Ok(DeviceChoice::Auto),
            other => Err(format!("unknown device `{other}`: expected cpu, cuda or auto")),
        }
    }
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
            early_stopping: None,
            gradient_clip: None,
            checkpoint_every: None,
            device: DeviceChoice::Cpu,
            memory_budget_mb: None,
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
    pub fn patience() -> usize {
        5
    }
    pub fn monitor() -> String {
        "val_loss".into()
    }
    pub fn restore_best() -> bool {
        true
    }
}

impl TrainerSpec {
    /// Parses the `trainer` section.
    pub fn from_config(config: &Config) -> Result<Self> {
        config.parse("trainer")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str) -> Result<TrainConfig> {
        Config::from_yaml(yaml)?.parse("trainer.config")
    }

    #[test]
    fn every_feature_parses_with_its_defaults() -> Result<()> {
        let c = config("{early_stopping: {}, gradient_clip: {max_norm: 0.5}, checkpoint_every: 5, device: auto}")?;
        assert_eq!(c.early_stopping, Some(EarlyStopping::default()));
        assert_eq!(c.gradient_clip, Some(GradientClip::Norm { max_norm: 0.5, norm_type: 2.0 }));
        assert_eq!((c.checkpoint_every, c.device), (Some(5), DeviceChoice::Auto));
        let d = config("{}")?;
        assert_eq!((d.early_stopping, d.gradient_clip, d.checkpoint_every), (None, None, None));
        assert_eq!(d.device, DeviceChoice::Cpu);
        let inf = config("{gradient_clip: {max_norm: 1, norm_type: .inf}}")?;
        assert_eq!(inf.gradient_clip, Some(GradientClip::Norm { max_norm: 1.0, norm_type: f64::INFINITY }));
        Ok(())
    }

    #[test]
    fn gradient_clip_takes_exactly_one_of_max_norm_and_value() {
        let err = |yaml: &str| config(yaml).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            err("{gradient_clip: {max_norm: 1, value: 2}}").contains("either `max_norm` (with `norm_type`) or `value`")
        );
        assert!(err("{gradient_clip: {}}").contains("needs `max_norm` (clip by norm) or `value`"));
        assert!(err("{gradient_clip: {norm_type: 1}}").contains("gradient_clip.norm_type needs `max_norm`"));
        assert!(err("{gradient_clip: {value: -1}}").contains("gradient_clip.value must be > 0, got -1"));
        assert!(err("{gradient_clip: {max_norm: 1, norm_type: 0}}").contains("norm_type must be > 0, got 0"));
    }

    #[test]
    fn unknown_keys_and_devices_stay_rejected() {
        let err = |yaml: &str| config(yaml).err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(
            err("{early_stoping: {}}"),
            "trainer.config: unknown parameter `early_stoping` (did you mean `early_stopping`?)"
        );
        // Nested keys get did-you-mean too (serde reports them without the path).
        assert_eq!(
            err("{early_stopping: {patiense: 3}}"),
            "trainer.config: unknown parameter `patiense` (did you mean `patience`?)"
        );
        assert_eq!(
            err("{gradient_clip: {max_nrm: 1}}"),
            "trainer.config: unknown parameter `max_nrm` (did you mean `max_norm`?)"
        );
        assert!(err("{device: tpu}").contains("unknown variant `tpu`, expected one of `cpu`, `cuda`, `auto`"));
        assert_eq!("cuda".parse::<DeviceChoice>(), Ok(DeviceChoice::Cuda));
        assert!("gpu".parse::<DeviceChoice>().is_err());
    }
}
